"""The Lennard-Jones pair potential, truncated at a cutoff and shifted."""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, ArrayLike, Float, Int, Scalar
from ._neighbors import NeighborList
from ._potential import AbstractPotential, dense_neighbors, is_sparse, pair_list, safe_norm
from ._structures import Box

__all__ = ["LennardJones"]

_SHIFTS = ("energy", "force", "none")


def _species_matrix(value: ArrayLike, name: str, n_species: int | None) -> Array:
    array = jnp.asarray(value)
    if array.ndim == 0:
        size = 1 if n_species is None else n_species
        array = jnp.full((size, size), array)
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise ValueError(f"{name} must be a scalar or a square (n_species, n_species) matrix, "
                         f"got shape {array.shape}")  # fmt: skip
    if not jnp.issubdtype(array.dtype, jnp.floating):
        array = array.astype(jnp.result_type(float))
    concrete = np.asarray(array)
    if not np.all(concrete > 0) or not np.allclose(concrete, concrete.T):
        raise ValueError(f"{name} must be positive and symmetric, got {concrete.tolist()}")
    return array


class LennardJones(AbstractPotential):
    r"""The Lennard-Jones potential, truncated at ``cutoff`` and shifted.

    $$\phi(r) = 4\varepsilon\left[(\sigma/r)^{12} - (\sigma/r)^6\right],$$

    summed over pairs closer than ``cutoff`` ``r_c``, with

    - ``shift="energy"`` (default): ``φ(r) - φ(r_c)``, continuous energy (the usual
      "truncated and shifted" LJ of reduced-unit simulations);
    - ``shift="force"``: ``φ(r) - φ(r_c) - (r - r_c) φ'(r_c)``, continuous force too;
    - ``shift="none"``: plain truncation.

    Several species take symmetric ``(n_species, n_species)`` matrices of ``σ`` and ``ε``.
    In reduced units (``σ = ε = m = 1``) the fcc crystal at 0 K has nearest-neighbour
    distance ``(2 A₁₂/A₆)^{1/6} σ`` and energy ``-ε A₆²/(2 A₁₂)`` per atom with the lattice
    sums ``A₆``, ``A₁₂`` over the shells inside the cutoff (Kittel ch. 3).

    Attributes:
        sigma: ``σ`` per species pair, shape ``(n_species, n_species)`` (length units).
        epsilon: ``ε`` per species pair, shape ``(n_species, n_species)`` (energy units).
        cutoff: static, ``r_c`` (length units).
        shift: static, ``"energy"``, ``"force"`` or ``"none"``.
        symbols: static, the species' names (default ``("X",)``).

    Args:
        sigma: a scalar or a matrix.
        epsilon: a scalar or a matrix.
        cutoff: ``r_c`` in length units (2.5 in reduced units by default).
        shift: see above.
        symbols: the species' names; default ``"X"``, ``"X1"``, ... .

    Raises:
        ValueError: for non-positive or asymmetric ``sigma``/``epsilon``, a non-positive
            ``cutoff`` or an unknown ``shift``.

    References:
        Lennard-Jones (1924), Proc. R. Soc. Lond. A 106, 463. Allen and Tildesley (2017),
        "Computer Simulation of Liquids", 2nd ed., §1.4.3 and §2.1.
    """

    sigma: Float[Array, "s s"]
    epsilon: Float[Array, "s s"]
    cutoff: float = eqx.field(static=True)
    shift: str = eqx.field(static=True)
    symbols: tuple[str, ...] = eqx.field(static=True)

    def __init__(
        self,
        sigma: ArrayLike = 1.0,
        epsilon: ArrayLike = 1.0,
        *,
        cutoff: float = 2.5,
        shift: Literal["energy", "force", "none"] = "energy",
        symbols: tuple[str, ...] | None = None,
    ):
        n_species = None
        for value in (sigma, epsilon):
            if np.ndim(value) == 2:
                n_species = np.shape(value)[0]
        self.sigma = _species_matrix(sigma, "sigma", n_species)
        self.epsilon = _species_matrix(epsilon, "epsilon", n_species)
        if self.sigma.shape != self.epsilon.shape:
            raise ValueError(f"sigma {self.sigma.shape} and epsilon {self.epsilon.shape} differ")
        if not float(cutoff) > 0:
            raise ValueError(f"cutoff must be positive, got {cutoff!r}")
        if shift not in _SHIFTS:
            raise ValueError(f"shift must be one of {_SHIFTS}, got {shift!r}")
        self.cutoff = float(cutoff)
        self.shift = shift
        n = self.sigma.shape[0]
        if symbols is None:
            symbols = ("X",) if n == 1 else tuple(f"X{k}" for k in range(n))
        if len(symbols) != n:
            raise ValueError(f"symbols names {len(symbols)} species, sigma has {n}")
        self.symbols = tuple(symbols)

    @property
    def min_distance(self) -> float:
        """Half the smallest ``σ``: closer atoms are reported as overlapping."""
        return 0.5 * float(np.min(np.asarray(self.sigma)))

    def pair_energy(self, r: Array, sigma: Array, epsilon: Array) -> Array:
        """The truncated and shifted ``φ(r)`` for ``r < cutoff`` (any broadcastable shapes)."""
        rc = jnp.asarray(self.cutoff, r.dtype)

        def lj(x):
            s6 = (sigma / x) ** 6
            return 4 * epsilon * (s6 * s6 - s6)

        value = lj(r)
        if self.shift in ("energy", "force"):
            value = value - lj(rc)
        if self.shift == "force":
            s6c = (sigma / rc) ** 6
            slope = 4 * epsilon * (-12 * s6c * s6c + 6 * s6c) / rc
            value = value - (r - rc) * slope
        return value

    def _pairs(self, r, mask, si, sj):
        dtype = r.dtype
        if self.sigma.shape[0] == 1:  # one species: no gathers
            sigma = self.sigma.astype(dtype)[0, 0]
            epsilon = self.epsilon.astype(dtype)[0, 0]
        else:
            sigma = self.sigma.astype(dtype)[si, sj]
            epsilon = self.epsilon.astype(dtype)[si, sj]
        inside = mask & (r < self.cutoff)
        r_safe = jnp.where(inside, r, jnp.asarray(self.cutoff, dtype))
        return jnp.where(inside, self.pair_energy(r_safe, sigma, epsilon), 0)

    def atomic_energies(
        self,
        positions: Float[Array, "n 3"],
        box: Box,
        species: Int[Array, " n"],
        neighbors: NeighborList | None = None,
    ) -> Float[Array, " n"]:
        """Half the pair energies of each atom, shape ``(n_atoms,)``."""
        if is_sparse(neighbors):
            i, j, mask, vectors = pair_list(positions, box, neighbors)
            r = safe_norm(vectors, mask, self.cutoff)
            half = 0.5 * self._pairs(r, mask, species[i], species[j])
            n = positions.shape[0]
            zeros = jnp.zeros((n,), positions.dtype)
            return zeros.at[i].add(half).at[j].add(half)
        index, mask, vectors = dense_neighbors(positions, box, neighbors)
        r = safe_norm(vectors, mask, self.cutoff)
        pair = self._pairs(r, mask, species[:, None], species[index])
        return 0.5 * jnp.sum(pair, axis=1)

    def __call__(
        self,
        positions: Float[Array, "n 3"],
        box: Box,
        species: Int[Array, " n"],
        neighbors: NeighborList | None = None,
    ) -> Scalar:
        """The potential energy (energy units)."""
        if is_sparse(neighbors):
            i, j, mask, vectors = pair_list(positions, box, neighbors)
            r = safe_norm(vectors, mask, self.cutoff)
            return jnp.sum(self._pairs(r, mask, species[i], species[j]))
        return jnp.sum(self.atomic_energies(positions, box, species, neighbors))
