"""The Behler-Parrinello neural-network potential: atom-centred symmetry functions and one
network per species (equinox, dmech.nn.MLP)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, Bool, Float, Int, Key
from ..nn import MLP
from ._mlip_data import (
    AbstractLearnedPotential,
    AtomisticDataset,
    check_compatible,
    repulsive_core_energies,
    table_vectors,
)
from ._potential import safe_norm

__all__ = [
    "BehlerParrinelloPotential",
    "SymmetryFunctions",
    "behler_parrinello_potential",
]


def _floats(values: Sequence[float], name: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} must be finite, got {values!r}")
    return out


class SymmetryFunctions(eqx.Module):
    r"""Behler's atom-centred symmetry functions (static configuration).

    With the cosine cutoff ``f_c(r) = ½ [1 + cos(π r / r_c)]`` (zero beyond ``r_c``), for
    atom ``i``, neighbour species ``a`` (radial) and unordered species pairs ``(a, b)``
    (angular):

    $$G^2_{a}(\eta, r_s) = \sum_{j \in a} e^{-\eta (r_{ij} - r_s)^2} f_c(r_{ij}),$$
    $$G^4_{ab}(\eta, \zeta, \lambda) = 2^{1-\zeta} \sum_{j \ne k,\ \{s_j, s_k\} = \{a, b\}}
      (1 + \lambda \cos\theta_{jik})^\zeta e^{-\eta (r_{ij}^2 + r_{ik}^2 + r_{jk}^2)}
      f_c(r_{ij}) f_c(r_{ik}) f_c(r_{jk}),$$

    and ``G⁵`` the same without the ``r_jk`` terms (``kind="g5"``). The angular sums run
    over ordered neighbour pairs, as in jax-md's ``behler_parrinello``.

    Attributes (static):
        n_species: the number of species.
        cutoff: ``r_c`` (Å).
        radial_etas, radial_shifts: the ``(η, r_s)`` of each radial function (Å⁻², Å).
        angular_etas, zetas, lambdas: the ``(η, ζ, λ)`` of each angular function
            (``ζ ≥ 1``, ``λ = ±1``).
        kind: ``"g4"`` or ``"g5"``.

    References:
        Behler and Parrinello (2007), "Generalized neural-network representation of
        high-dimensional potential-energy surfaces", Phys. Rev. Lett. 98, 146401. Behler
        (2011), "Atom-centered symmetry functions for constructing high-dimensional neural
        network potentials", J. Chem. Phys. 134, 074106.
    """

    n_species: int = eqx.field(static=True)
    cutoff: float = eqx.field(static=True)
    radial_etas: tuple[float, ...] = eqx.field(static=True)
    radial_shifts: tuple[float, ...] = eqx.field(static=True)
    angular_etas: tuple[float, ...] = eqx.field(static=True)
    zetas: tuple[float, ...] = eqx.field(static=True)
    lambdas: tuple[float, ...] = eqx.field(static=True)
    kind: str = eqx.field(static=True)

    def __init__(
        self,
        n_species: int,
        cutoff: float,
        *,
        radial_etas: Sequence[float] | None = None,
        radial_shifts: Sequence[float] | None = None,
        angular_etas: Sequence[float] | None = None,
        zetas: Sequence[float] | None = None,
        lambdas: Sequence[float] | None = None,
        kind: str = "g4",
    ):
        """Configure the functions; the defaults are a common set for ``r_c`` of 4-6 Å:
        eight radial Gaussians centred from 1.5 Å to ``r_c`` and angular functions with
        ``η = 0.005 Å⁻²``, ``ζ ∈ {1, 2, 4, 8}``, ``λ = ±1``. ``zetas=()`` keeps the radial
        functions only (enough for pair and embedded-atom energies, and far cheaper: the
        angular sums run over every pair of neighbours).

        Raises:
            ValueError: naming the argument, for a non-positive ``n_species`` or
                ``cutoff``, mismatched lengths, ``ζ < 1``, ``λ`` not ``±1``, negative
                ``η`` or an unknown ``kind``.
        """
        if isinstance(n_species, bool) or int(n_species) != n_species or n_species < 1:
            raise ValueError(f"n_species must be a positive integer, got {n_species!r}")
        if not float(cutoff) > 0:
            raise ValueError(f"cutoff must be positive, got {cutoff!r}")
        if kind not in ("g4", "g5"):
            raise ValueError(f"kind must be 'g4' or 'g5', got {kind!r}")
        rc = float(cutoff)
        if radial_shifts is None:
            radial_shifts = tuple(np.linspace(1.5, rc, 8))
        if radial_etas is None:
            spacing = (rc - 1.5) / 7
            radial_etas = (1.0 / (2 * spacing**2),) * len(radial_shifts)
        if zetas is None:
            zetas = (1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 8.0, 8.0)
        if lambdas is None:
            lambdas = (1.0, -1.0) * (len(zetas) // 2) + (1.0,) * (len(zetas) % 2)
        if angular_etas is None:
            angular_etas = (0.005,) * len(zetas)
        self.radial_etas = _floats(radial_etas, "radial_etas")
        self.radial_shifts = _floats(radial_shifts, "radial_shifts")
        self.angular_etas = _floats(angular_etas, "angular_etas")
        self.zetas = _floats(zetas, "zetas")
        self.lambdas = _floats(lambdas, "lambdas")
        if len(self.radial_etas) != len(self.radial_shifts):
            raise ValueError("radial_etas and radial_shifts must have the same length")
        if not len(self.angular_etas) == len(self.zetas) == len(self.lambdas):
            raise ValueError("angular_etas, zetas and lambdas must have the same length")
        if min(self.radial_etas + self.angular_etas, default=0.0) < 0:
            raise ValueError("radial_etas and angular_etas must be non-negative")
        if any(z < 1 for z in self.zetas):
            raise ValueError(f"zetas must be at least 1, got {self.zetas}")
        if any(abs(lam) != 1 for lam in self.lambdas):
            raise ValueError(f"lambdas must be +1 or -1, got {self.lambdas}")
        self.n_species = int(n_species)
        self.cutoff = rc
        self.kind = kind

    @property
    def n_features(self) -> int:
        """Radial functions per species plus angular functions per unordered species pair."""
        s = self.n_species
        return s * len(self.radial_etas) + s * (s + 1) // 2 * len(self.zetas)

    def _cutoff_function(self, r: Array, inside: Array) -> Array:
        r_in = jnp.where(inside, r, 0.5 * self.cutoff)
        return jnp.where(inside, 0.5 * (1 + jnp.cos(jnp.pi * r_in / self.cutoff)), 0.0)

    def __call__(
        self,
        species: Int[Array, " n"],
        index: Int[Array, "n k"],
        mask: Bool[Array, "n k"],
        vectors: Float[Array, "n k 3"],
    ) -> Float[Array, "n f"]:
        """The symmetry functions of every atom, shape ``(n_atoms, n_features)``."""
        dtype = vectors.dtype
        n, k = index.shape
        s = self.n_species
        r = safe_norm(vectors, mask, 2 * self.cutoff)
        inside = mask & (r < self.cutoff)
        fc = self._cutoff_function(r, inside)
        channel = jax.nn.one_hot(species[index], s, dtype=dtype) * inside[..., None].astype(dtype)
        etas = jnp.asarray(self.radial_etas, dtype).reshape(1, 1, -1)
        shifts = jnp.asarray(self.radial_shifts, dtype).reshape(1, 1, -1)
        gaussians = jnp.exp(-etas * (r[..., None] - shifts) ** 2) * fc[..., None]  # (n, k, g)
        radial = jnp.einsum("ijs,ijg->isg", channel, gaussians).reshape(n, -1)
        if not self.zetas:  # radial functions only: no (n, k, k) triplet arrays
            return radial
        # angular: ordered pairs of distinct neighbours (j, k)
        unit = vectors / jnp.where(inside, r, 1.0)[..., None]
        cosine = jnp.einsum("ijx,ikx->ijk", unit, unit)
        distinct = ~jnp.eye(k, dtype=bool)[None]
        pair = inside[:, :, None] & inside[:, None, :] & distinct
        r_sq = jnp.where(inside, r * r, 0.0)
        weight = fc[:, :, None] * fc[:, None, :]
        exponent = r_sq[:, :, None] + r_sq[:, None, :]
        if self.kind == "g4":
            d_jk = vectors[:, :, None, :] - vectors[:, None, :, :]
            r_jk = safe_norm(d_jk, pair, 2 * self.cutoff)
            inside_jk = pair & (r_jk < self.cutoff)
            weight = weight * self._cutoff_function(r_jk, inside_jk)
            exponent = exponent + jnp.where(pair, r_jk * r_jk, 0.0)
        weight = jnp.where(pair, weight, 0.0)
        columns = []
        upper = np.triu_indices(s)
        for eta, zeta, lam in zip(self.angular_etas, self.zetas, self.lambdas, strict=True):
            base = jnp.clip(1 + lam * cosine, 0.0, None)
            term = 2 ** (1 - zeta) * _power(base, zeta) * jnp.exp(-eta * exponent) * weight
            by_species = jnp.einsum("ijk,ija,ikb->iab", term, channel, channel)
            # unordered pairs {a, b}: the (a, b) and (b, a) ordered sums together
            off_diagonal = (1 - jnp.eye(s, dtype=dtype)).reshape(1, s, s)
            symmetric = by_species + jnp.swapaxes(by_species, 1, 2) * off_diagonal
            columns.append(symmetric[:, upper[0], upper[1]])
        angular = jnp.stack(columns, axis=-1).reshape(n, -1)
        return jnp.concatenate([radial, angular], axis=1)


def _power(base: Array, exponent: float) -> Array:
    """``base ** exponent`` for ``base >= 0`` and ``exponent >= 1`` with finite derivatives of
    every order at ``base = 0``, which is reached by opposite neighbours (``λ cos θ = -1``, in
    every centrosymmetric crystal) and by the masked diagonal ``j = k``: a float power's second
    derivative there is ``0 · ∞`` (NaN elastic constants)."""
    if float(exponent).is_integer():
        return base ** int(exponent)  # an integer power: polynomial derivatives
    positive = base > 0
    return jnp.where(positive, jnp.where(positive, base, 1.0) ** exponent, 0.0)


_FUNCTION_FIELDS = ("n_species", "cutoff", "radial_etas", "radial_shifts", "angular_etas",
                    "zetas", "lambdas", "kind")  # fmt: skip


def _stacked_mlps(n_species, n_features, width, depth, activation, dtype, key) -> MLP:
    keys = jax.random.split(key, n_species)

    @eqx.filter_vmap
    def make(k):
        return MLP(n_features, "scalar", width, depth, activation=activation, dtype=dtype, key=k)

    return make(keys)


class BehlerParrinelloPotential(AbstractLearnedPotential):
    r"""A Behler-Parrinello network potential: ``E = Σ_i [e_{s_i} + α N_{s_i}(Ĝ_i)] + E_core``.

    ``Ĝ_i = (G_i - μ_{s_i}) / σ_{s_i}`` are the standardised symmetry functions of atom
    ``i`` (`SymmetryFunctions`), ``N_s`` a per-species `dmech.nn.MLP` (a scalar output),
    ``e_s`` a per-species energy offset and ``α`` an energy scale. The statistics
    ``μ, σ, e, α`` are fixed by `behler_parrinello_potential` from the training data and
    held constant in training (``stop_gradient``); the networks' weights are the trained
    parameters. ``E_core`` is an optional fixed repulsive core below ``core_radius``
    (`repulsive_core_energies`; none when ``core_strength`` is 0): the symmetry functions of
    a pair closer than any in the data lie outside the training set, where the networks may
    fall without bound and fuse atoms in a hot liquid. Placed below the closest approach in
    the data, the core is zero there and the networks are trained as without it.

    Attributes:
        networks: the per-species MLPs, their arrays stacked along a leading species axis.
        feature_mean, feature_std: ``μ_s, σ_s``, shape ``(n_species, n_features)``.
        species_energy: ``e_s``, shape ``(n_species,)`` (eV).
        energy_scale: ``α``, a scalar (eV).
        symmetry_functions: static `SymmetryFunctions`.
        width, depth, activation: static network shape.
        symbols, cutoff: static.
        core_strength, core_radius: static, ``A`` (eV) and ``r_0`` (Å) of the core.

    References:
        Behler and Parrinello (2007), Phys. Rev. Lett. 98, 146401.
    """

    networks: MLP
    feature_mean: Float[Array, "s f"]
    feature_std: Float[Array, "s f"]
    species_energy: Float[Array, " s"]
    energy_scale: Float[Array, ""]
    symmetry_functions: SymmetryFunctions
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    activation: str = eqx.field(static=True)
    symbols: tuple[str, ...] = eqx.field(static=True)
    cutoff: float = eqx.field(static=True)
    core_strength: float = eqx.field(static=True)
    core_radius: float = eqx.field(static=True)

    def __init__(
        self,
        symmetry_functions: SymmetryFunctions,
        symbols: Sequence[str],
        *,
        width: int = 32,
        depth: int = 2,
        activation: str = "tanh",
        feature_mean: Any = None,
        feature_std: Any = None,
        species_energy: Any = None,
        energy_scale: Any = 1.0,
        core_strength: float = 0.0,
        core_radius: float = 0.0,
        dtype: Any = None,
        key: Key,
    ):
        """Build the potential (untrained networks; statistics default to 0 and 1).

        Raises:
            ValueError: if ``symbols`` does not name ``symmetry_functions.n_species``
                species (species count mismatch), a statistic has the wrong shape, or
                ``core_strength`` or ``core_radius`` is negative, ``core_radius`` is not
                below the cutoff, or zero with a positive ``core_strength``.
        """
        symbols = (symbols,) if isinstance(symbols, str) else tuple(symbols)
        s, f = symmetry_functions.n_species, symmetry_functions.n_features
        if len(symbols) != s:
            raise ValueError(f"symbols names {len(symbols)} species but symmetry_functions "
                             f"has n_species = {s} (species count mismatch)")  # fmt: skip
        dtype = jnp.result_type(float) if dtype is None else dtype
        self.networks = _stacked_mlps(s, f, width, depth, activation, dtype, key)
        mean = (
            jnp.zeros((s, f), dtype) if feature_mean is None else jnp.asarray(feature_mean, dtype)
        )
        std = jnp.ones((s, f), dtype) if feature_std is None else jnp.asarray(feature_std, dtype)
        energy = (
            jnp.zeros(s, dtype) if species_energy is None else jnp.asarray(species_energy, dtype)
        )
        for name, value, shape in (("feature_mean", mean, (s, f)), ("feature_std", std, (s, f)),
                                   ("species_energy", energy, (s,))):  # fmt: skip
            if value.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {value.shape}")
        self.feature_mean, self.feature_std, self.species_energy = mean, std, energy
        self.energy_scale = jnp.asarray(energy_scale, dtype).reshape(())
        self.symmetry_functions = symmetry_functions
        self.width, self.depth, self.activation = int(width), int(depth), str(activation)
        self.symbols = symbols
        self.cutoff = symmetry_functions.cutoff
        if not float(core_strength) >= 0:
            raise ValueError(f"core_strength must be non-negative, got {core_strength!r}")
        if not 0 <= float(core_radius) < self.cutoff:
            raise ValueError(f"core_radius must lie in [0, cutoff = {self.cutoff}), "
                             f"got {core_radius!r}")  # fmt: skip
        if float(core_strength) > 0 and float(core_radius) == 0:
            raise ValueError("core_radius must be positive where core_strength is (the core "
                             "acts below core_radius)")  # fmt: skip
        self.core_strength, self.core_radius = float(core_strength), float(core_radius)

    def hyperparameters(self) -> dict:
        """Everything but the arrays, as JSON (see `save_potential`)."""
        sf = self.symmetry_functions
        return {
            "symbols": list(self.symbols),
            "width": self.width,
            "depth": self.depth,
            "activation": self.activation,
            "core_strength": self.core_strength,
            "core_radius": self.core_radius,
            "symmetry_functions": {name: getattr(sf, name) for name in _FUNCTION_FIELDS},
        }

    @classmethod
    def from_hyperparameters(cls, hyperparameters: dict, *, dtype: Any = None):
        """A potential of this structure (for `load_potential`)."""
        config = dict(hyperparameters["symmetry_functions"])
        sf = SymmetryFunctions(config.pop("n_species"), config.pop("cutoff"), **config)
        return cls(
            sf, hyperparameters["symbols"], width=hyperparameters["width"],
            depth=hyperparameters["depth"], activation=hyperparameters["activation"],
            core_strength=hyperparameters.get("core_strength", 0.0),
            core_radius=hyperparameters.get("core_radius", 0.0), dtype=dtype,
            key=jax.random.key(0),
        )  # fmt: skip

    def neighbor_energies(
        self,
        species: Int[Array, " n"],
        index: Int[Array, "n k"],
        mask: Bool[Array, "n k"],
        vectors: Float[Array, "n k 3"],
    ) -> Float[Array, " n"]:
        """``e_{s_i} + α N_{s_i}(Ĝ_i)`` per atom (with its half of the core), shape
        ``(n_atoms,)`` (eV)."""
        dtype = vectors.dtype
        features = self.symmetry_functions(species, index, mask, vectors)
        mean = jax.lax.stop_gradient(self.feature_mean.astype(dtype))
        std = jax.lax.stop_gradient(self.feature_std.astype(dtype))
        scaled = (features[None, :, :] - mean[:, None, :]) / std[:, None, :]  # (s, n, f)
        params, static = eqx.partition(self.networks, eqx.is_array)

        def per_species(p, x):
            network = eqx.combine(p, static)
            return jax.vmap(network)(x.astype(network.layers[0].weight.dtype))

        outputs = jax.vmap(per_species)(params, scaled)  # (s, n)
        own = jnp.take_along_axis(outputs, species[None, :], axis=0)[0].astype(dtype)
        offset = jax.lax.stop_gradient(self.species_energy.astype(dtype))[species]
        energies = offset + jax.lax.stop_gradient(self.energy_scale.astype(dtype)) * own
        if self.core_strength > 0:
            energies = energies + repulsive_core_energies(
                mask, vectors, self.core_strength, self.core_radius
            )
        return energies


@eqx.filter_jit
def _all_features(symmetry_functions, dataset):
    def one(positions, box, species, atom_mask, index, mask):
        vectors = table_vectors(positions, box, index)
        return symmetry_functions(species, index, mask & atom_mask[:, None], vectors)

    return jax.lax.map(
        lambda item: one(*item),
        (dataset.positions, dataset.box, dataset.species, dataset.atom_mask,
         dataset.neighbor_index, dataset.neighbor_mask),
        batch_size=8,
    )  # fmt: skip


def species_energy_offsets(dataset: AtomisticDataset) -> np.ndarray:
    """Per-species energies ``e_s`` from least squares of ``E ≈ Σ_s N_s e_s`` (a small ridge
    keeps them defined when the compositions do not vary), shape ``(n_species,)``."""
    species = np.asarray(dataset.species)
    mask = np.asarray(dataset.atom_mask)
    s = len(dataset.symbols)
    counts = np.stack([((species == a) & mask).sum(axis=1) for a in range(s)], axis=1)
    counts = counts.astype(np.float64)
    energy = np.asarray(dataset.energy, np.float64)
    ridge = 1e-8 * np.trace(counts.T @ counts) * np.eye(s)
    mean_per_atom = energy.sum() / counts.sum()
    # regularised towards the mean energy per atom
    rhs = counts.T @ energy + ridge @ np.full(s, mean_per_atom)
    return np.linalg.solve(counts.T @ counts + ridge, rhs)


def behler_parrinello_potential(
    dataset: AtomisticDataset,
    *,
    symmetry_functions: SymmetryFunctions | None = None,
    width: int = 32,
    depth: int = 2,
    activation: str = "tanh",
    core_strength: float = 0.0,
    core_radius: float = 0.0,
    key: Key,
) -> BehlerParrinelloPotential:
    """A `BehlerParrinelloPotential` with its statistics fixed from a training set.

    ``μ_s, σ_s`` are the mean and standard deviation of each symmetry function over the
    atoms of species ``s`` (``σ`` floored at ``1e-3`` of its largest value); ``e_s`` the
    per-species energies of a least-squares fit of the energies to the compositions; ``α``
    the standard deviation of the remaining energy per atom (at least 10 meV).

    Args:
        dataset: the training structures (its cutoff at least the functions').
        symmetry_functions: default `SymmetryFunctions` for the dataset's species and cutoff.
        width, depth, activation: the per-species networks.
        core_strength, core_radius: the fixed repulsive core (see
            `BehlerParrinelloPotential`); put ``core_radius`` below the closest approach in
            the data.
        key: PRNG key of the network weights.

    Returns:
        An untrained `BehlerParrinelloPotential` (train it with `train_potential`).
    """
    if symmetry_functions is None:
        symmetry_functions = SymmetryFunctions(len(dataset.symbols), dataset.cutoff)
    dtype = dataset.positions.dtype
    skeleton = BehlerParrinelloPotential(
        symmetry_functions, dataset.symbols, width=width, depth=depth, activation=activation,
        dtype=dtype, key=key,
    )  # fmt: skip
    check_compatible(skeleton, dataset)
    features = np.asarray(_all_features(symmetry_functions, dataset), np.float64)
    species = np.asarray(dataset.species)
    mask = np.asarray(dataset.atom_mask)
    s, f = symmetry_functions.n_species, symmetry_functions.n_features
    mean, std = np.zeros((s, f)), np.ones((s, f))
    for a in range(s):
        rows = features[(species == a) & mask]
        if len(rows):
            mean[a] = rows.mean(axis=0)
            spread = rows.std(axis=0)
            std[a] = np.maximum(spread, 1e-3 * max(spread.max(), 1e-12))
    offsets = species_energy_offsets(dataset)
    counts = mask.sum(axis=1)
    per_atom = np.asarray(dataset.energy, np.float64) - np.array(
        [offsets[species[k][mask[k]]].sum() for k in range(len(counts))]
    )
    scale = max(float(np.std(per_atom / counts)), 0.01)
    return BehlerParrinelloPotential(
        symmetry_functions, dataset.symbols, width=width, depth=depth, activation=activation,
        feature_mean=mean, feature_std=std, species_energy=offsets, energy_scale=scale,
        core_strength=core_strength, core_radius=core_radius, dtype=dtype, key=key,
    )  # fmt: skip
