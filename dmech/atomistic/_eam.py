"""The analytic embedded-atom potentials of Zhou, Johnson and Wadley (2004) for fcc metals
and their alloys."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, Float, Int
from ._neighbors import NeighborList
from ._potential import AbstractPotential, dense_neighbors, safe_norm
from ._structures import Box

__all__ = ["ZHOU_2004_PARAMETERS", "ZhouEAM"]

_NAMES = (
    "re", "fe", "rhoe", "rhos", "alpha", "beta", "A", "B", "kappa", "lam",
    "Fn0", "Fn1", "Fn2", "Fn3", "F0", "F1", "F2", "F3", "eta", "Fe",
)  # fmt: skip

# Zhou, Johnson and Wadley, Phys. Rev. B 69, 144113 (2004), Table III (the same numbers are
# distributed with LAMMPS in tools/eam_database/EAM_code). Units: r_e in Å, energies in eV,
# densities in the paper's arbitrary density unit; the rest dimensionless. Column order:
# r_e, f_e, ρ_e, ρ_s, α, β, A, B, κ, λ, F_n0..F_n3, F_0..F_3, η, F_e.
_TABLE = {
    "Cu": (2.556162, 1.554485, 21.175871, 21.175395, 8.127620, 4.334731, 0.396620, 0.548085,
           0.308782, 0.756515, -2.170269, -0.263788, 1.088878, -0.817603, -2.19, 0.00,
           0.561830, -2.100595, 0.310490, -2.186568),
    "Ag": (2.891814, 1.106232, 14.604100, 14.604144, 9.132010, 4.870405, 0.277758, 0.419611,
           0.339710, 0.750758, -1.729364, -0.255882, 0.912050, -0.561432, -1.75, 0.00,
           0.744561, -1.150650, 0.783924, -1.748423),
    "Au": (2.885034, 1.529021, 19.991632, 19.991509, 9.516052, 5.075228, 0.229762, 0.356666,
           0.356570, 0.748798, -2.937772, -0.500288, 1.601954, -0.835530, -2.98, 0.00,
           1.706587, -1.134778, 1.021095, -2.978815),
    "Ni": (2.488746, 2.007018, 27.562015, 27.562031, 8.383453, 4.471175, 0.429046, 0.633531,
           0.443599, 0.820658, -2.693513, -0.076445, 0.241442, -2.375626, -2.70, 0.00,
           0.265390, -0.152856, 0.445470, -2.7),
    "Pd": (2.750897, 1.595417, 21.335246, 21.940073, 8.697397, 4.638612, 0.406763, 0.598880,
           0.397263, 0.754799, -2.321006, -0.473983, 1.615343, -0.231681, -2.36, 0.00,
           1.481742, -1.675615, 1.130000, -2.352753),
    "Al": (2.863924, 1.403115, 20.418205, 23.195740, 6.613165, 3.527021, 0.314873, 0.365551,
           0.379846, 0.759692, -2.807602, -0.301435, 1.258562, -1.247604, -2.83, 0.00,
           0.622245, -2.488244, 0.785902, -2.824528),
}  # fmt: skip

ZHOU_2004_PARAMETERS: dict[str, dict[str, float]] = {
    element: dict(zip(_NAMES, values, strict=True)) for element, values in _TABLE.items()
}
"""Per element, the 20 parameters of Zhou, Johnson and Wadley (2004), Table III."""


def _switch(r: Array, onset: float, cutoff: float) -> Array:
    """A C² taper: 1 below ``onset``, 0 beyond ``cutoff``, ``1 - 10x³ + 15x⁴ - 6x⁵`` between."""
    x = jnp.clip((r - onset) / (cutoff - onset), 0.0, 1.0)
    return 1 - x**3 * (10 - 15 * x + 6 * x * x)


class ZhouEAM(AbstractPotential):
    r"""The analytic embedded-atom method of Zhou, Johnson and Wadley (2004).

    $$E = \sum_i F_{s_i}(\bar\rho_i) + \tfrac12 \sum_{i \ne j} \phi_{s_i s_j}(r_{ij}),\qquad
      \bar\rho_i = \sum_{j \ne i} f_{s_j}(r_{ij}),$$

    with, per element (``x = r / r_e``),

    $$f(r) = \frac{f_e e^{-\beta (x - 1)}}{1 + (x - \lambda)^{20}},\qquad
      \phi(r) = \frac{A e^{-\alpha (x - 1)}}{1 + (x - \kappa)^{20}}
              - \frac{B e^{-\beta (x - 1)}}{1 + (x - \lambda)^{20}},$$

    the embedding energy in three pieces (``ρ_n = 0.85 ρ_e``, ``ρ_0 = 1.15 ρ_e``)

    $$F(\rho) = \begin{cases}
        \sum_{i=0}^3 F_{ni} (\rho/\rho_n - 1)^i & \rho < \rho_n \\
        \sum_{i=0}^3 F_i (\rho/\rho_e - 1)^i & \rho_n \le \rho < \rho_0 \\
        F_e \left[1 - \eta \ln(\rho/\rho_s)\right] (\rho/\rho_s)^\eta & \rho_0 \le \rho
      \end{cases}$$

    and the alloy pair potential
    ``φ_ab = ½ [f_b/f_a φ_aa + f_a/f_b φ_bb]`` (Eq. 4 of the paper). The parameters are
    Table III of the paper (`ZHOU_2004_PARAMETERS`: Cu, Ag, Au, Ni, Pd, Al).

    The published functions have no cutoff (they decay through the ``(x - κ)^{20}`` and
    ``(x - λ)^{20}`` factors); here ``φ`` and ``f`` are multiplied by a C² taper from
    ``cutoff_onset`` to ``cutoff`` (defaults 5.5 and 6.0 Å, beyond the fourth fcc shell of
    Cu and Ni, where the functions are below ``1e-5`` eV), so forces are continuous. The
    paper's ``F`` is continuous with a continuous slope at ``ρ_n`` but jumps by about
    ``1e-4`` eV at ``ρ_0`` (strong compression), as published.

    Attributes:
        parameters: the 20 parameters per species, shape ``(n_species, 20)``, columns
            ``r_e, f_e, ρ_e, ρ_s, α, β, A, B, κ, λ, F_n0..F_n3, F_0..F_3, η, F_e``.
        symbols: static, the elements, e.g. ``("Cu", "Ni")``.
        cutoff: static, the taper's end (Å).
        cutoff_onset: static, the taper's start (Å).

    Args:
        symbols: elements present in `ZHOU_2004_PARAMETERS`.
        cutoff: the cutoff (Å).
        cutoff_onset: where the taper starts (Å), below ``cutoff``.

    Raises:
        ValueError: for an element without parameters or ``cutoff_onset >= cutoff``.

    References:
        Zhou, Johnson and Wadley (2004), "Misfit-energy-increasing dislocations in
        vapor-deposited CoFe/NiFe multilayers", Phys. Rev. B 69, 144113, Eqs. (1)-(5) and
        Table III. Daw and Baskes (1984), Phys. Rev. B 29, 6443 (the embedded-atom method).
    """

    parameters: Float[Array, "s 20"]
    symbols: tuple[str, ...] = eqx.field(static=True)
    cutoff: float = eqx.field(static=True)
    cutoff_onset: float = eqx.field(static=True)

    def __init__(
        self,
        symbols: Sequence[str] = ("Cu", "Ni"),
        *,
        cutoff: float = 6.0,
        cutoff_onset: float = 5.5,
    ):
        if isinstance(symbols, str):
            symbols = (symbols,)
        symbols = tuple(symbols)
        unknown = [s for s in symbols if s not in ZHOU_2004_PARAMETERS]
        if unknown or not symbols:
            raise ValueError(
                f"symbols {unknown or symbols!r} have no parameters; known elements: "
                f"{', '.join(ZHOU_2004_PARAMETERS)}"
            )
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"symbols must be distinct, got {symbols!r}")
        if not 0 < float(cutoff_onset) < float(cutoff):
            raise ValueError(
                f"cutoff_onset must lie in (0, cutoff = {cutoff}), got {cutoff_onset!r}"
            )
        table = np.array([[ZHOU_2004_PARAMETERS[s][k] for k in _NAMES] for s in symbols])
        self.parameters = jnp.asarray(table, dtype=jnp.result_type(float))
        self.symbols = symbols
        self.cutoff = float(cutoff)
        self.cutoff_onset = float(cutoff_onset)

    @property
    def min_distance(self) -> float:
        """1 Å: closer atoms are reported as overlapping."""
        return 1.0

    def _columns(self, dtype) -> dict[str, Array]:
        table = self.parameters.astype(dtype)
        return {name: table[:, k] for k, name in enumerate(_NAMES)}

    @staticmethod
    def _density(x: Array, c: dict[str, Array], s: Array) -> Array:
        return c["fe"][s] * jnp.exp(-c["beta"][s] * (x - 1)) / (1 + (x - c["lam"][s]) ** 20)

    @staticmethod
    def _pair(x: Array, c: dict[str, Array], s: Array) -> Array:
        repulsive = c["A"][s] * jnp.exp(-c["alpha"][s] * (x - 1)) / (1 + (x - c["kappa"][s]) ** 20)
        attractive = c["B"][s] * jnp.exp(-c["beta"][s] * (x - 1)) / (1 + (x - c["lam"][s]) ** 20)
        return repulsive - attractive

    @staticmethod
    def embedding(rho: Array, c: dict[str, Array], s: Array) -> Array:
        """``F_s(ρ)`` for densities ``rho`` and species ``s`` of the same shape."""
        rho_e = c["rhoe"][s]
        rho_n, rho_0 = 0.85 * rho_e, 1.15 * rho_e
        low = rho / rho_n - 1
        mid = rho / rho_e - 1
        f_low = c["Fn0"][s] + low * (c["Fn1"][s] + low * (c["Fn2"][s] + low * c["Fn3"][s]))
        f_mid = c["F0"][s] + mid * (c["F1"][s] + mid * (c["F2"][s] + mid * c["F3"][s]))
        ratio = jnp.where(rho >= rho_0, rho, rho_0) / c["rhos"][s]  # positive on the branch
        power = ratio ** c["eta"][s]
        f_high = c["Fe"][s] * (1 - c["eta"][s] * jnp.log(ratio)) * power
        return jnp.where(rho < rho_n, f_low, jnp.where(rho < rho_0, f_mid, f_high))

    def atomic_energies(
        self,
        positions: Float[Array, "n 3"],
        box: Box,
        species: Int[Array, " n"],
        neighbors: NeighborList | None = None,
    ) -> Float[Array, " n"]:
        """Each atom's embedding energy plus half its pair energies, shape ``(n_atoms,)``
        (eV)."""
        c = self._columns(positions.dtype)
        index, mask, vectors = dense_neighbors(positions, box, neighbors)
        r = safe_norm(vectors, mask, 2 * self.cutoff)
        inside = mask & (r < self.cutoff)
        r = jnp.where(inside, r, 0.5 * self.cutoff)
        taper = jnp.where(inside, _switch(r, self.cutoff_onset, self.cutoff), 0.0)
        si = jnp.broadcast_to(species[:, None], index.shape)
        sj = species[index]
        xi = r / c["re"][si]
        xj = r / c["re"][sj]
        f_i = self._density(xi, c, si)  # the density an atom of i's species would give
        f_j = self._density(xj, c, sj)
        phi_ii = self._pair(xi, c, si)
        phi_jj = self._pair(xj, c, sj)
        pair = 0.5 * (f_j / f_i * phi_ii + f_i / f_j * phi_jj)  # φ_ss when s_i = s_j
        rho = jnp.sum(taper * f_j, axis=1)
        return self.embedding(rho, c, species) + 0.5 * jnp.sum(taper * pair, axis=1)
