"""A polynomial machine-learning potential (in the spirit of MTP, ACE and SNAP): per-atom
energies linear in polynomial invariants of radial and angular descriptors, fitted by
ridge-regularised linear least squares on energies, forces and stresses."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_int
from .._custom_types import Array, Bool, Float, Int
from .._voigt import VOIGT_PAIRS
from ._mlip_data import (
    AbstractLearnedPotential,
    AtomisticDataset,
    check_compatible,
    evaluate_dataset,
    repulsive_core_energies,
    table_vectors,
)
from ._potential import safe_norm

__all__ = [
    "LossWeights",
    "PolynomialBasis",
    "PolynomialFit",
    "PolynomialPotential",
    "fit_polynomial_potential",
]


def _legendre_coefficients(l_max: int) -> np.ndarray:
    """``a[l, m]`` with ``P_l(c) = Σ_m a[l, m] c^m`` (Bonnet's recursion)."""
    a = np.zeros((l_max + 1, l_max + 1))
    a[0, 0] = 1.0
    if l_max >= 1:
        a[1, 1] = 1.0
    for k in range(1, l_max):  # (k+1) P_{k+1} = (2k+1) c P_k - k P_{k-1}
        a[k + 1, 1:] += (2 * k + 1) * a[k, :-1] / (k + 1)
        a[k + 1] -= k * a[k - 1] / (k + 1)
    return a


class LossWeights(eqx.Module):
    r"""Weights of the energy, force and stress terms of a training loss.

    $$L = w_E^2 \langle (\Delta E / N)^2 \rangle + w_F^2 \langle |\Delta F_{i\alpha}|^2
        \rangle + w_\sigma^2 \langle \Delta\sigma_I^2 \rangle,$$

    each mean over its rows (structures; force components of real atoms; the six Voigt
    stress components), so a weight is one over the error it treats as acceptable: energies
    in eV/atom, forces in eV/Å, stresses in eV/Å³.

    Attributes:
        energy: ``w_E`` (atom/eV), non-negative.
        forces: ``w_F`` (Å/eV), non-negative.
        stress: ``w_σ`` (Å³/eV), non-negative.
    """

    energy: float = eqx.field(static=True, default=1.0)
    forces: float = eqx.field(static=True, default=0.1)
    stress: float = eqx.field(static=True, default=1.0)

    def __check_init__(self):
        for name in ("energy", "forces", "stress"):
            value = getattr(self, name)
            if not (math.isfinite(float(value)) and float(value) >= 0):
                raise ValueError(f"weights.{name} must be finite and non-negative, got {value!r}")
        if self.energy == self.forces == self.stress == 0:
            raise ValueError("weights must not all be zero")


DEFAULT_WEIGHTS = LossWeights()


class PolynomialBasis(eqx.Module):
    r"""Polynomial invariants of an atom's neighbour environment (static configuration).

    With the scaled distance ``x = 2 (r - r_0)/(r_c - r_0) - 1`` and the cosine cutoff
    ``f_c(r) = ½ [1 + cos(π r / r_c)]`` (zero with its slope at ``r_c``), the radial basis
    is ``g_n(r) = T_n(x) f_c(r)`` with Chebyshev polynomials ``T_n``. For atom ``i`` and
    neighbour species ``a``:

    - two-body (body order 2): ``R_{a n} = Σ_{j ∈ a} g_n(r_ij)``, ``n < n_radial``;
    - three-body (body order 3): the power spectrum
      ``p_{(a n)(b m) l} = Σ_{j ∈ a} Σ_{k ∈ b} g_n(r_ij) g_m(r_ik) P_l(cos θ_jik)`` for
      ``n, m < n_angular``, ``l ≤ l_max`` and ``(a, n) ≤ (b, m)``, evaluated in ``O(k)``
      through Cartesian moment tensors ``M^{(q)}_{a n} = Σ_{j ∈ a} g_n(r_ij) û_j^{⊗q}``
      (``Σ_{jk} g g' (û_j·û_k)^q = ⟨M^{(q)}, M'^{(q)}⟩`` and ``P_l`` is a polynomial in
      ``cos θ``); its ``l = 0`` part is the product ``R_{a n} R_{b m}`` of two-body sums;
    - four-body (body order 4): the products ``R_{a n} p_{(b m)(c m') l}`` of the first
      ``n_product`` radial sums with the power spectrum, ``l ≥ 1`` (at ``l = 0`` they
      would repeat one product ``R R R`` several times).

    The invariants, preceded by a constant 1 (the per-species energy offset), form ``B_i``;
    they are invariant under rotations, translations and permutations of like atoms.

    Below ``r_0`` no data constrains a polynomial, which then grows without bound (a fitted
    silicon potential fell by 176 eV as one pair closed from 2.0 to 1.5 Å, and its liquid
    collapsed), so the radial functions are held at their value at ``r_0`` there and, with
    ``core_strength`` ``A > 0``, a fixed repulsive core
    ``E_core = ½ Σ_{i≠j} A (1 - r_ij/r_0)³`` (zero beyond ``r_0``, smooth at ``r_0``) is added
    to the energy. The core is not fitted: `fit_polynomial_potential` subtracts its
    energies, forces and stresses from the labels (nothing when ``r_0`` lies below the
    closest approach in the data, as it should).

    Attributes (static):
        n_species: the number of species.
        cutoff: ``r_c`` (Å).
        inner_cutoff: ``r_0``, where ``x = -1`` (Å; below the closest approach).
        n_radial: radial functions of the two-body terms.
        n_angular: radial functions entering the power spectrum.
        l_max: the highest Legendre order.
        body_order: 2, 3 or 4.
        n_product: radial sums multiplying the power spectrum (body order 4).
        core_strength: ``A`` of the repulsive core below ``r_0`` (eV; 0: none).

    References:
        Shapeev (2016), "Moment tensor potentials", Multiscale Model. Simul. 14, 1153.
        Drautz (2019), "Atomic cluster expansion for accurate and transferable interatomic
        potentials", Phys. Rev. B 99, 014104. Thompson et al. (2015), "Spectral neighbor
        analysis method (SNAP)", J. Comput. Phys. 285, 316. Bartók, Kondor and Csányi
        (2013), "On representing chemical environments", Phys. Rev. B 87, 184115.
    """

    n_species: int = eqx.field(static=True)
    cutoff: float = eqx.field(static=True)
    inner_cutoff: float = eqx.field(static=True)
    n_radial: int = eqx.field(static=True)
    n_angular: int = eqx.field(static=True)
    l_max: int = eqx.field(static=True)
    body_order: int = eqx.field(static=True)
    n_product: int = eqx.field(static=True)
    core_strength: float = eqx.field(static=True)

    def __init__(
        self,
        n_species: int,
        cutoff: float,
        *,
        inner_cutoff: float = 1.5,
        n_radial: int = 10,
        n_angular: int = 6,
        l_max: int = 4,
        body_order: int = 3,
        n_product: int = 2,
        core_strength: float = 0.0,
    ):
        """Configure the basis.

        Raises:
            ValueError: naming the argument, for non-positive sizes, ``cutoff`` not above
                ``inner_cutoff``, ``l_max`` outside ``0..6``, ``body_order`` not in
                ``{2, 3, 4}``, ``n_angular``/``n_product`` above ``n_radial`` or a negative
                ``core_strength``.
        """
        self.n_species = check_int(n_species, "n_species")
        if not 0 <= float(inner_cutoff) < float(cutoff):
            raise ValueError(f"cutoff ({cutoff!r}) must exceed inner_cutoff ({inner_cutoff!r}) "
                             "and inner_cutoff must be non-negative")  # fmt: skip
        self.cutoff = float(cutoff)
        self.inner_cutoff = float(inner_cutoff)
        self.n_radial = check_int(n_radial, "n_radial")
        self.n_angular = check_int(n_angular, "n_angular")
        self.n_product = check_int(n_product, "n_product", minimum=0)
        self.l_max = check_int(l_max, "l_max", minimum=0)
        if self.l_max > 6:
            raise ValueError(f"l_max must be at most 6, got {l_max!r}")
        if body_order not in (2, 3, 4):
            raise ValueError(f"body_order must be 2, 3 or 4, got {body_order!r}")
        self.body_order = int(body_order)
        if not float(core_strength) >= 0:
            raise ValueError(f"core_strength must be non-negative, got {core_strength!r}")
        self.core_strength = float(core_strength)
        for name in ("n_angular", "n_product"):
            if getattr(self, name) > self.n_radial:
                raise ValueError(f"{name} must not exceed n_radial ({self.n_radial})")

    @property
    def _pairs(self) -> np.ndarray:
        q = self.n_species * self.n_angular
        return np.array(np.triu_indices(q)).T  # (a n) <= (b m), flattened channel indices

    @property
    def n_features(self) -> int:
        """The length of ``B_i`` (constant, two-, three- and four-body invariants)."""
        count = 1 + self.n_species * self.n_radial
        if self.body_order >= 3:
            angular = len(self._pairs) * (self.l_max + 1)
            count += angular
            if self.body_order >= 4:
                count += self.n_species * self.n_product * len(self._pairs) * self.l_max
        return count

    def radial_functions(self, r: Float[Array, "..."]) -> Float[Array, "... b"]:
        """``g_n(r)`` for ``n < n_radial``, shape ``r.shape + (n_radial,)`` (zero beyond
        the cutoff, held at ``g_n(r_0)`` below ``r_0``)."""
        rc, r0 = self.cutoff, self.inner_cutoff
        inside = r < rc
        r_in = jnp.where(inside, jnp.maximum(r, r0), 0.5 * rc)
        x = 2 * (r_in - r0) / (rc - r0) - 1
        envelope = jnp.where(inside, 0.5 * (1 + jnp.cos(jnp.pi * r_in / rc)), 0.0)
        terms = [jnp.ones_like(x), x]
        for _ in range(2, self.n_radial):
            terms.append(2 * x * terms[-1] - terms[-2])
        return jnp.stack(terms[: self.n_radial], axis=-1) * envelope[..., None]

    def __call__(
        self,
        species: Int[Array, " n"],
        index: Int[Array, "n k"],
        mask: Bool[Array, "n k"],
        vectors: Float[Array, "n k 3"],
    ) -> Float[Array, "n f"]:
        """The invariants ``B_i`` of every atom, shape ``(n_atoms, n_features)``."""
        return self._invariants(self._sums(self._neighbor_factors(species, index, mask, vectors)))

    def core_energies(
        self,
        species: Int[Array, " n"],
        index: Int[Array, "n k"],
        mask: Bool[Array, "n k"],
        vectors: Float[Array, "n k 3"],
    ) -> Float[Array, " n"]:
        """Each atom's half of the repulsive core, ``½ Σ_j A (1 - r_ij/r_0)³`` for
        ``r_ij < r_0``, shape ``(n_atoms,)`` (eV)."""
        return repulsive_core_energies(mask, vectors, self.core_strength, self.inner_cutoff)

    # ``B_i`` is computed in three stages, so that `fit_polynomial_potential` can take the
    # derivative with respect to each neighbour vector separately: per-neighbour factors,
    # their sums over the neighbours (each sum is linear in every neighbour's term), and the
    # invariants of the sums.

    def _neighbor_factors(self, species, index, mask, vectors) -> tuple[Array, Array, Array]:
        """Per neighbour: the two-body terms ``g_n(r)`` by species channel ``(n, k, S·
        n_radial)``, the power-spectrum weights ``(n, k, S·n_angular)`` and the unit vector
        ``û`` ``(n, k, 3)``; zero beyond the cutoff and where ``mask`` is false."""
        dtype = vectors.dtype
        n, k = index.shape
        r = safe_norm(vectors, mask, 2 * self.cutoff)
        inside = mask & (r < self.cutoff)
        channel = jax.nn.one_hot(species[index], self.n_species, dtype=dtype)
        channel = channel * inside[..., None].astype(dtype)  # (n, k, S)
        g = self.radial_functions(r)  # (n, k, n_radial)
        radial = jnp.einsum("ijs,ijb->ijsb", channel, g).reshape(n, k, -1)
        weights = jnp.einsum("ijs,ijb->ijsb", channel, g[..., : self.n_angular])
        unit = vectors / jnp.where(inside, r, 1.0)[..., None]
        return radial, weights.reshape(n, k, -1), unit

    def _sums(self, factors) -> tuple[Array, ...]:
        """The neighbour sums: ``R`` ``(n, S·n_radial)`` and, for body order ≥ 3, the moment
        tensors ``M^{(q)} = Σ_j w_j û_j^{⊗q}``, ``(n, S·n_angular, 3^q)`` for ``q ≤ l_max``."""
        radial, weights, unit = factors
        sums = [jnp.sum(radial, axis=1)]
        if self.body_order >= 3:
            power = jnp.ones((*unit.shape[:2], 1), unit.dtype)  # û^{⊗0}, flattened
            for order in range(self.l_max + 1):
                if order:
                    power = (power[..., :, None] * unit[..., None, :]).reshape(
                        (*unit.shape[:2], 3**order)
                    )
                sums.append(jnp.einsum("ijq,ijc->iqc", weights, power))
        return tuple(sums)

    def _invariants(self, sums) -> Array:
        """``B_i`` ``(n, n_features)`` from the neighbour sums."""
        radial, *moments = sums
        n = radial.shape[0]
        parts = [jnp.ones((n, 1), radial.dtype), radial]
        if self.body_order >= 3:
            contractions = [jnp.einsum("iqc,irc->iqr", m, m) for m in moments]
            stacked = jnp.stack(contractions, axis=-1)  # (n, q, q, l_max + 1): Σ g g' c^m
            legendre = jnp.asarray(_legendre_coefficients(self.l_max), radial.dtype)
            spectrum = jnp.einsum("iqrm,lm->iqrl", stacked, legendre)
            rows, cols = self._pairs.T
            angular = spectrum[:, rows, cols, :]  # (n, pairs, l_max + 1)
            parts.append(angular.reshape(n, -1))
            if self.body_order >= 4:  # l = 0 would repeat R R R products: l >= 1 only
                first = radial.reshape(n, self.n_species, -1)[:, :, : self.n_product]
                first = first.reshape(n, -1)
                higher = angular[:, :, 1:].reshape(n, -1)
                parts.append((first[:, :, None] * higher[:, None, :]).reshape(n, -1))
        return jnp.concatenate(parts, axis=1)

    def neighbor_jacobian(
        self,
        species: Int[Array, " n"],
        index: Int[Array, "n k"],
        mask: Bool[Array, "n k"],
        vectors: Float[Array, "n k 3"],
    ) -> tuple[Float[Array, "n f"], Float[Array, "n k 3 f"]]:
        """``B_i`` and its derivatives ``∂B_i/∂v_ij`` with respect to each neighbour vector.

        Atom ``i``'s sums depend on ``v_ij`` through the ``j``-th term alone, so the
        derivative is the linearised invariants applied to that term's derivative: three
        tangents per neighbour instead of one per coordinate of the whole structure.
        """
        n, k = index.shape
        factors = self._neighbor_factors(species, index, mask, vectors)

        def factors_along(direction):
            tangent = jnp.zeros_like(vectors).at[..., direction].set(1.0)
            return jax.jvp(
                lambda v: self._neighbor_factors(species, index, mask, v), (vectors,), (tangent,)
            )[1]

        def pairwise(tree):  # each (atom, neighbour) pair as its own one-neighbour sum
            return jax.tree_util.tree_map(lambda x: x.reshape(n * k, 1, *x.shape[2:]), tree)

        def term_derivative(d_factor):  # the derivative of the pair's own term in each sum
            d_sums = jax.jvp(self._sums, (pairwise(factors),), (pairwise(d_factor),))[1]
            return jax.tree_util.tree_map(lambda x: x.reshape(n, k, *x.shape[1:]), d_sums)

        d_sums = [term_derivative(factors_along(d)) for d in range(3)]  # 3 x (n, k, ...)
        sums = self._sums(factors)
        invariants, linear = jax.linearize(self._invariants, sums)
        # push every (direction, neighbour) tangent through the same linear map, per atom
        d_sums = jax.tree_util.tree_map(lambda *x: jnp.stack(x, axis=2), *d_sums)  # (n,k,3,..)
        per_tangent = jax.vmap(jax.vmap(linear, in_axes=1, out_axes=1), in_axes=2, out_axes=2)
        return invariants, per_tangent(d_sums)


_BASIS_FIELDS = ("n_species", "cutoff", "inner_cutoff", "n_radial", "n_angular", "l_max",
                 "body_order", "n_product", "core_strength")  # fmt: skip


class PolynomialPotential(AbstractLearnedPotential):
    r"""A potential linear in polynomial invariants: ``E = Σ_i c_{s_i} · B_i``.

    ``B_i`` are the invariants of `PolynomialBasis` and ``c_s`` one coefficient vector per
    species (array leaves: differentiable). Fit with `fit_polynomial_potential`.

    Attributes:
        coefficients: shape ``(n_species, n_features)`` (eV per unit invariant).
        basis: the `PolynomialBasis` (static).
        symbols: static, the species' chemical symbols.
        cutoff: static, the basis cutoff (Å).

    Raises:
        ValueError: if ``coefficients`` does not have shape ``(n_species, n_features)`` or
            ``symbols`` does not name ``n_species`` species (species count mismatch).
    """

    coefficients: Float[Array, "s f"]
    basis: PolynomialBasis
    symbols: tuple[str, ...] = eqx.field(static=True)
    cutoff: float = eqx.field(static=True)

    def __init__(
        self, basis: PolynomialBasis, coefficients: Float[Array, "s f"], symbols: Sequence[str]
    ):
        symbols = (symbols,) if isinstance(symbols, str) else tuple(symbols)
        if len(symbols) != basis.n_species:
            raise ValueError(f"symbols names {len(symbols)} species but the basis has "
                             f"n_species = {basis.n_species} (species count mismatch)")  # fmt: skip
        coefficients = jnp.asarray(coefficients)
        if coefficients.shape != (basis.n_species, basis.n_features):
            expected = (basis.n_species, basis.n_features)
            raise ValueError(f"coefficients must have shape (n_species, n_features) = "
                             f"{expected}, got {coefficients.shape}")  # fmt: skip
        self.coefficients = coefficients
        self.basis = basis
        self.symbols = symbols
        self.cutoff = basis.cutoff

    def hyperparameters(self) -> dict:
        """Everything but the coefficients, as JSON (see `save_potential`)."""
        basis = self.basis
        return {
            "symbols": list(self.symbols),
            "basis": {name: getattr(basis, name) for name in _BASIS_FIELDS},
        }

    @classmethod
    def from_hyperparameters(cls, hyperparameters: dict, *, dtype: Any = None):
        """A potential of this structure with zero coefficients (for `load_potential`)."""
        config = dict(hyperparameters["basis"])
        basis = PolynomialBasis(config.pop("n_species"), config.pop("cutoff"), **config)
        zeros = jnp.zeros((basis.n_species, basis.n_features), dtype)
        return cls(basis, zeros, hyperparameters["symbols"])

    def neighbor_energies(
        self,
        species: Int[Array, " n"],
        index: Int[Array, "n k"],
        mask: Bool[Array, "n k"],
        vectors: Float[Array, "n k 3"],
    ) -> Float[Array, " n"]:
        """``c_{s_i} · B_i`` per atom (with its half of the core), shape ``(n_atoms,)``
        (eV)."""
        invariants = self.basis(species, index, mask, vectors)
        energies = jnp.sum(invariants * self.coefficients.astype(vectors.dtype)[species], axis=1)
        if self.basis.core_strength > 0:
            energies = energies + self.basis.core_energies(species, index, mask, vectors)
        return energies


class PolynomialFit(eqx.Module):
    """The outcome of `fit_polynomial_potential`.

    Attributes:
        potential: the fitted `PolynomialPotential`.
        rows: least-squares rows used (energies, force components, stress components).
        rank: the numerical rank of the column-scaled design matrix (without the ridge).
            The pair terms between two species ``a ≠ b`` enter the energy only through
            the sum of the coefficients of ``R_b`` on ``a`` atoms and ``R_a`` on ``b``
            atoms, so the rank is at most ``p - n_radial · S(S-1)/2``; the ridge (or the
            minimum-norm solution) splits such sums evenly.
        condition_number: of the column-scaled, regularised least-squares matrix.
        residual_rms: the weighted residual's root mean square over all rows.
        fit_seconds: wall time of the fit (design matrix and solve).
    """

    potential: PolynomialPotential
    rows: int = eqx.field(static=True)
    rank: int = eqx.field(static=True)
    condition_number: float = eqx.field(static=True)
    residual_rms: float = eqx.field(static=True)
    fit_seconds: float = eqx.field(static=True)


@eqx.filter_jit
def _design_rows(basis, positions, box, species, atom_mask, index, mask):
    """Features ``Φ = Σ_i onehot(s_i) ⊗ B_i`` ``(S·f,)``, their position derivatives
    ``(3n, S·f)`` and their strain derivatives ``(6, S·f)`` of one structure.

    From ``∂B_i/∂v_ij`` (`PolynomialBasis.neighbor_jacobian`) with ``v_ij = x_j - x_i``:
    ``∂Φ/∂x_j`` gathers ``+∂B_i/∂v_ij`` from every atom ``i`` that has ``j`` as a neighbour
    and ``-Σ_j ∂B_j/∂v_jm`` from its own neighbours; a homogeneous strain ``ε`` maps every
    ``v`` to ``(I + ε) v``, so ``∂Φ/∂ε_ab = Σ_ij ∂Φ/∂v_ij,a v_ij,b`` (shears in Voigt
    order, engineering strain: the symmetric part).
    """
    n = positions.shape[0]
    n_species, n_features = basis.n_species, basis.n_features
    vectors = table_vectors(positions, box, index)
    invariants, jacobian = basis.neighbor_jacobian(
        species, index, mask & atom_mask[:, None], vectors
    )  # (n, f), (n, k, 3, f)
    real = atom_mask.astype(positions.dtype)
    jacobian = jacobian * real[:, None, None, None]
    onehot = jax.nn.one_hot(species, n_species, dtype=positions.dtype) * real[:, None]
    value = jnp.einsum("is,if->sf", onehot, invariants).reshape(-1)
    # ∂Φ/∂x: (n, 3, S, f); the centre's own species channel for both ends of each pair
    d_positions = jnp.zeros((n, 3, n_species, n_features), positions.dtype)
    owner = jnp.broadcast_to(species[:, None], index.shape)
    d_positions = d_positions.at[index, :, owner].add(jacobian)
    d_positions = d_positions.at[jnp.arange(n), :, species].add(-jnp.sum(jacobian, axis=1))
    virial = jnp.einsum("ikaf,ikb,is->absf", jacobian, vectors, onehot)
    d_strain = jnp.stack([0.5 * (virial[a, b] + virial[b, a]) for a, b in VOIGT_PAIRS])
    return value, d_positions.reshape(3 * n, -1), d_strain.reshape(6, -1)


def _single_threaded_blas() -> contextlib.AbstractContextManager:
    """One BLAS thread for the host factorisations (small matrices; OpenBLAS threads spin
    and slow them down by orders of magnitude when JAX or other jobs hold the cores)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: the default threading is correct, only slower
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _voigt(stress: np.ndarray) -> np.ndarray:
    return np.array([stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2], stress[0, 2],
                     stress[0, 1]])  # fmt: skip


def fit_polynomial_potential(
    basis: PolynomialBasis,
    dataset: AtomisticDataset,
    *,
    weights: LossWeights = DEFAULT_WEIGHTS,
    ridge: float = 1e-10,
    rows_per_block: int = 4096,
) -> PolynomialFit:
    r"""Fit a `PolynomialPotential` by ridge-regularised linear least squares.

    The energy is linear in the coefficients, ``E = c · Φ`` with
    ``Φ = Σ_i onehot(s_i) ⊗ B_i``, so are its forces ``F = -c · ∂Φ/∂x`` and its stress
    ``σ = c · (1/V) ∂Φ/∂ε``. The rows of the design matrix are, per structure, ``Φ/N``
    (energy per atom), ``-∂Φ/∂x`` (every force component of a real atom) and
    ``(1/V) ∂Φ/∂ε`` (six Voigt components), all by forward-mode autodiff (``jax.jacfwd``);
    each group is weighted as in `LossWeights` (``w / √(rows of the group)``). The columns
    are scaled to unit norm and the problem

    $$\min_y \|A D^{-1} y - b\|^2 + \lambda \|y\|^2,\qquad c = D^{-1} y,$$

    is solved through a QR factorisation accumulated block by block on the host in float64
    (``[A | b]`` never held whole), so the memory is ``O(p²)`` for ``p`` coefficients.

    Args:
        basis: the `PolynomialBasis` (its cutoff at most the dataset's).
        dataset: the training structures (`make_dataset` with the basis cutoff).
        weights: `LossWeights` of energies, forces and stresses.
        ridge: ``λ``, non-negative (relative: the scaled columns have unit norm).
        rows_per_block: rows factorised together.

    Returns:
        `PolynomialFit`; the coefficients take the dataset's dtype.

    Raises:
        ValueError: for a negative ``ridge``, a dataset tabulated for a smaller cutoff or
            with another number of species than the basis.

    References:
        Golub and Van Loan (2013), "Matrix Computations", 4th ed., §5.3 (least squares by
        QR) and §6.1 (ridge regression). Thompson et al. (2015), J. Comput. Phys. 285, 316
        (linear fits of energies, forces and stresses).
    """
    if not isinstance(basis, PolynomialBasis):
        raise TypeError(f"basis must be a PolynomialBasis, got {type(basis).__name__}")
    if not float(ridge) >= 0:
        raise ValueError(f"ridge must be non-negative, got {ridge!r}")
    if len(dataset.symbols) != basis.n_species:
        raise ValueError(f"species mismatch: the dataset has {len(dataset.symbols)} species "
                         f"{dataset.symbols}, the basis n_species = {basis.n_species}")  # fmt: skip
    placeholder = PolynomialPotential(
        basis, jnp.zeros((basis.n_species, basis.n_features)), dataset.symbols
    )
    check_compatible(placeholder, dataset)
    # the labels less the fixed core (zero coefficients: the core's energies alone)
    energy_labels = np.asarray(dataset.energy, np.float64)
    force_labels = np.asarray(dataset.forces, np.float64)
    stress_labels = np.asarray(dataset.stress, np.float64)
    if basis.core_strength > 0:
        core = evaluate_dataset(placeholder, dataset)
        energy_labels = energy_labels - np.asarray(core.energy, np.float64)
        force_labels = force_labels - np.asarray(core.forces, np.float64)
        stress_labels = stress_labels - np.asarray(core.stress, np.float64)
    start = time.perf_counter()
    count = dataset.n_structures
    n_atoms = np.asarray(dataset.n_atoms)
    atom_mask = np.asarray(dataset.atom_mask)
    group_rows = {
        "energy": count,
        "forces": 3 * int(n_atoms.sum()),
        "stress": 6 * count,
    }
    scale = {
        name: float(getattr(weights, name)) / math.sqrt(group_rows[name]) for name in group_rows
    }
    p = basis.n_species * basis.n_features
    triangle: Any = np.zeros((0, p + 1))
    pending: list[np.ndarray] = []
    pending_rows = 0
    total_rows = 0
    for k in range(count):
        value, d_positions, d_strain = _design_rows(
            basis, dataset.positions[k], dataset.box[k], dataset.species[k],
            dataset.atom_mask[k], dataset.neighbor_index[k], dataset.neighbor_mask[k],
        )  # fmt: skip
        value = np.asarray(value, np.float64)
        d_positions = np.asarray(d_positions, np.float64)
        d_strain = np.asarray(d_strain, np.float64)
        volume = abs(float(np.linalg.det(np.asarray(dataset.box[k], np.float64))))
        real = np.repeat(atom_mask[k], 3)
        blocks = []
        if weights.energy > 0:
            target = float(energy_labels[k]) / n_atoms[k]
            blocks.append(scale["energy"] * np.append(value / n_atoms[k], target)[None, :])
        if weights.forces > 0:
            forces = force_labels[k].reshape(-1)[real]
            blocks.append(scale["forces"] * np.hstack([-d_positions[real], forces[:, None]]))
        if weights.stress > 0:
            stress = _voigt(stress_labels[k])
            blocks.append(scale["stress"] * np.hstack([d_strain / volume, stress[:, None]]))
        block = np.vstack(blocks)
        pending.append(block)
        pending_rows += len(block)
        total_rows += len(block)
        if pending_rows >= rows_per_block or k == count - 1:
            with _single_threaded_blas():
                triangle = np.linalg.qr(np.vstack([triangle, *pending]), mode="r")
            pending, pending_rows = [], 0
    r_matrix, rhs = triangle[:p, :p], triangle[:p, p]
    if r_matrix.shape[0] < p:  # fewer rows than coefficients: pad the triangle
        r_matrix = np.vstack([r_matrix, np.zeros((p - r_matrix.shape[0], p))])
        rhs = np.append(rhs, np.zeros(p - len(rhs)))
    norms = np.linalg.norm(r_matrix, axis=0)
    norms = np.where(norms > 0, norms, 1.0)
    scaled = r_matrix / norms[None, :]
    stacked = np.vstack([scaled, math.sqrt(float(ridge)) * np.eye(p)])
    with _single_threaded_blas():
        solution, *_ = np.linalg.lstsq(stacked, np.append(rhs, np.zeros(p)), rcond=None)
        singular = np.linalg.svd(stacked, compute_uv=False)
        design_singular = np.linalg.svd(scaled, compute_uv=False)
    rank = int(np.sum(design_singular > p * np.finfo(np.float64).eps * design_singular[0]))
    coefficients = (solution / norms).reshape(basis.n_species, basis.n_features)
    residual = float(np.linalg.norm(scaled @ solution - rhs) ** 2)
    if triangle.shape[0] > p:
        residual += float(triangle[p, p] ** 2)
    potential = PolynomialPotential(
        basis, jnp.asarray(coefficients, dataset.positions.dtype), dataset.symbols
    )
    return PolynomialFit(
        potential=potential,
        rows=total_rows,
        rank=rank,
        condition_number=float(singular[0] / max(singular[-1], np.finfo(float).tiny)),
        residual_rms=math.sqrt(residual / max(total_rows, 1)),
        fit_seconds=time.perf_counter() - start,
    )
