"""Molecular dynamics with any potential: jax-md's integrators run in jitted chunks, with
observables, neighbour-list overflow repair and blow-up detection.

An ensemble (`NVE`, `NVTLangevin`, `NVTNoseHoover`, `NPTNoseHoover`) is a small static
configuration; `run_md` builds jax-md's ``(init_fn, apply_fn)`` pair for it around the
potential (an argument of the jitted chunk, never closed over, so new parameters do not
recompile), advances ``chunk_steps`` steps per compiled call (``lax.scan`` over blocks of
``observe_every`` steps, each a ``fori_loop``), and between chunks

- checks the neighbour list: on overflow it reallocates a larger list and redoes the chunk
  from its start (nothing is silently dropped);
- checks for a blow-up (non-finite positions, checked every step, or a temperature above
  ``max_kT``, checked at each observation) and reports the step (raising by default).
"""

from __future__ import annotations

import abc
import os
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_int, check_positive_float
from .._custom_types import Array, Key
from ._extxyz import write_extxyz
from ._jax_md import simulate
from ._neighbors import (
    NeighborListBuilder,
    jax_md_context,
    neighbor_list_overflowed,
)
from ._potential import (
    AbstractPotential,
    box_matrix,
    check_inputs,
    check_symbols,
    dense_neighbors,
    safe_norm,
)
from ._structures import Structure, perpendicular_widths
from ._units import atomic_mass

__all__ = [
    "NVE",
    "AbstractEnsemble",
    "MDBlowUpError",
    "MDResult",
    "NPTNoseHoover",
    "NVTLangevin",
    "NVTNoseHoover",
    "Observables",
    "run_md",
    "write_trajectory",
]


class MDBlowUpError(RuntimeError):
    """An MD run diverged; ``step`` is the first step at which it was detected."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


# ---------------------------------------------------------------------------------------------
# Ensembles
# ---------------------------------------------------------------------------------------------


class AbstractEnsemble(eqx.Module):
    """A thermodynamic ensemble and its integrator (static configuration).

    Attributes:
        dt: the time step (time units: ``σ√(m/ε)`` reduced, ``Å√(amu/eV) = 10.18 fs``
            metal; see `FEMTOSECOND`).
    """

    dt: eqx.AbstractVar[float]

    @property
    def kT(self) -> float | None:
        """The target temperature ``k_B T`` (energy units), or ``None`` (NVE)."""
        return None

    @property
    def degrees_of_freedom_removed(self) -> int:
        """Constraints on the momenta: 3 where the total momentum is conserved."""
        return 3

    @abc.abstractmethod
    def simulator(self, energy_fn, shift_fn) -> tuple[Any, Any]:
        """jax-md's ``(init_fn, apply_fn)`` for this ensemble."""

    def init(self, init_fn, key, positions, box, masses, kT, neighbors):
        return init_fn(key, positions, kT=kT, mass=masses, neighbor=neighbors)

    def box(self, state, box0):
        return box0

    def conserved(self, energy_fn, state, potential_energy, kinetic_energy, **kwargs):
        return potential_energy + kinetic_energy


class NVE(AbstractEnsemble):
    """Constant energy: velocity Verlet (jax-md's ``simulate.nve``).

    Args:
        dt: the time step (time units).

    References:
        Swope, Andersen, Berens and Wilson (1982), J. Chem. Phys. 76, 637.
    """

    dt: float = eqx.field(static=True)

    def __init__(self, dt: float):
        self.dt = check_positive_float(dt, "dt")

    def simulator(self, energy_fn, shift_fn):
        return simulate.nve(energy_fn, shift_fn, self.dt)


class NVTLangevin(AbstractEnsemble):
    """Constant temperature by Langevin dynamics (BAOAB; jax-md's ``simulate.nvt_langevin``).

    Args:
        dt: the time step.
        kT: the target ``k_B T`` (energy units).
        friction: the friction coefficient ``γ`` (1 / time units).

    References:
        Leimkuhler and Matthews (2013), Appl. Math. Res. Express 2013, 34 (BAOAB).
    """

    dt: float = eqx.field(static=True)
    target_kT: Array
    friction: float = eqx.field(static=True)

    def __init__(self, dt: float, kT: float, *, friction: float = 1.0):
        self.dt = check_positive_float(dt, "dt")
        self.target_kT = jnp.asarray(check_positive_float(kT, "kT"))
        self.friction = check_positive_float(friction, "friction")

    @property
    def kT(self) -> float:
        return float(self.target_kT)

    @property
    def degrees_of_freedom_removed(self) -> int:
        return 0  # the bath does not conserve momentum

    def simulator(self, energy_fn, shift_fn):
        return simulate.nvt_langevin(
            energy_fn, shift_fn, self.dt, self.target_kT, gamma=self.friction
        )


class NVTNoseHoover(AbstractEnsemble):
    """Constant temperature by a Nosé-Hoover chain (jax-md's ``simulate.nvt_nose_hoover``).

    Args:
        dt: the time step.
        kT: the target ``k_B T`` (energy units).
        tau: the thermostat period (time units; default ``100 dt``).
        chain_length: thermostats in the chain.

    References:
        Martyna, Klein and Tuckerman (1992), J. Chem. Phys. 97, 2635.
    """

    dt: float = eqx.field(static=True)
    target_kT: Array
    tau: float = eqx.field(static=True)
    chain_length: int = eqx.field(static=True)

    def __init__(self, dt: float, kT: float, *, tau: float | None = None, chain_length: int = 5):
        self.dt = check_positive_float(dt, "dt")
        self.target_kT = jnp.asarray(check_positive_float(kT, "kT"))
        self.tau = 100 * self.dt if tau is None else check_positive_float(tau, "tau")
        self.chain_length = check_int(chain_length, "chain_length")

    @property
    def kT(self) -> float:
        return float(self.target_kT)

    def simulator(self, energy_fn, shift_fn):
        return simulate.nvt_nose_hoover(
            energy_fn, shift_fn, self.dt, self.target_kT, chain_length=self.chain_length,
            tau=self.tau,
        )  # fmt: skip

    def init(self, init_fn, key, positions, box, masses, kT, neighbors):
        return init_fn(key, positions, mass=masses, kT=kT, neighbor=neighbors)

    def conserved(self, energy_fn, state, potential_energy, kinetic_energy, **kwargs):
        return simulate.nvt_nose_hoover_invariant(energy_fn, state, self.target_kT, **kwargs)


class NPTNoseHoover(AbstractEnsemble):
    """Constant pressure and temperature: Nosé-Hoover chains on the particles and on an
    isotropically scaled box (jax-md's ``simulate.npt_nose_hoover``, MTK equations).

    Args:
        dt: the time step.
        kT: the target ``k_B T`` (energy units).
        pressure: the target pressure (energy / length³).
        tau_thermostat: the thermostat period (default ``100 dt``).
        tau_barostat: the barostat period (default ``1000 dt``).

    References:
        Martyna, Tobias and Klein (1994), J. Chem. Phys. 101, 4177. Tuckerman, Alejandre,
        López-Rendón, Jochim and Martyna (2006), J. Phys. A 39, 5629.
    """

    dt: float = eqx.field(static=True)
    target_kT: Array
    pressure: Array
    tau_thermostat: float = eqx.field(static=True)
    tau_barostat: float = eqx.field(static=True)

    def __init__(
        self,
        dt: float,
        kT: float,
        pressure: float = 0.0,
        *,
        tau_thermostat: float | None = None,
        tau_barostat: float | None = None,
    ):
        self.dt = check_positive_float(dt, "dt")
        self.target_kT = jnp.asarray(check_positive_float(kT, "kT"))
        if not np.isfinite(float(pressure)):
            raise ValueError(f"pressure must be finite, got {pressure!r}")
        self.pressure = jnp.asarray(float(pressure))
        self.tau_thermostat = (
            100 * self.dt
            if tau_thermostat is None
            else check_positive_float(tau_thermostat, "tau_thermostat")
        )
        self.tau_barostat = (
            1000 * self.dt
            if tau_barostat is None
            else check_positive_float(tau_barostat, "tau_barostat")
        )

    @property
    def kT(self) -> float:
        return float(self.target_kT)

    def simulator(self, energy_fn, shift_fn):
        return simulate.npt_nose_hoover(
            energy_fn, shift_fn, self.dt, self.pressure, self.target_kT,
            barostat_kwargs={"tau": self.tau_barostat},
            thermostat_kwargs={"tau": self.tau_thermostat},
        )  # fmt: skip

    def init(self, init_fn, key, positions, box, masses, kT, neighbors):
        return init_fn(key, positions, box, mass=masses, kT=kT, neighbor=neighbors)

    def box(self, state, box0):
        return simulate.npt_box(state)

    def conserved(self, energy_fn, state, potential_energy, kinetic_energy, **kwargs):
        return simulate.npt_nose_hoover_invariant(
            energy_fn, state, self.pressure, self.target_kT, **kwargs
        )


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


class Observables(eqx.Module):
    """Time series recorded every ``observe_every`` steps (NumPy arrays, one entry each).

    Attributes:
        step: the step after which each entry was recorded.
        time: ``step · dt`` (time units).
        potential_energy, kinetic_energy: energies (energy units).
        total_energy: their sum.
        conserved: the integrator's conserved quantity (total energy for NVE, the extended
            Hamiltonian for Nosé-Hoover and NPT; total energy for Langevin, not conserved).
        temperature: ``2 K / N_dof`` (``k_B T``, energy units).
        pressure: ``2K/(3V) - tr(σ_pot)/3`` (energy / length³).
        volume: the cell volume (length³).
        msd: mean squared displacement from the run's start, ``⟨|x(t) - x(0)|²⟩``
            (length²; positions are kept unwrapped).
    """

    step: np.ndarray
    time: np.ndarray
    potential_energy: np.ndarray
    kinetic_energy: np.ndarray
    total_energy: np.ndarray
    conserved: np.ndarray
    temperature: np.ndarray
    pressure: np.ndarray
    volume: np.ndarray
    msd: np.ndarray


class MDResult(eqx.Module):
    """The outcome of `run_md`.

    Attributes:
        state: jax-md's final integrator state (pass it back to `run_md` to continue).
        structure: the final configuration as a `Structure` (unwrapped positions).
        observables: `Observables`.
        rdf_r: bin centres of the radial distribution function (length units), or ``None``.
        rdf: ``g(r)`` averaged over the observations, or ``None``.
        trajectory: positions at each observation, ``(n_frames, n_atoms, 3)``, or ``None``.
        trajectory_boxes: the boxes of those frames, ``(n_frames, 3, 3)``, or ``None``.
        blowup_step: the first step at which the run diverged, or ``None``.
        neighbor_reallocations: how many times an overflowing list was reallocated (and
            its chunk redone).
        seconds: wall time of all chunks (the first includes compilation when it compiled).
        first_chunk_seconds: wall time of the first chunk.
    """

    state: Any
    structure: Structure
    observables: Observables
    rdf_r: np.ndarray | None
    rdf: np.ndarray | None
    trajectory: np.ndarray | None
    trajectory_boxes: np.ndarray | None
    blowup_step: int | None
    neighbor_reallocations: int
    seconds: float
    first_chunk_seconds: float


# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------


def _energy_function(potential, species, box0):
    def energy_fn(positions, neighbor=None, box=None, perturbation=None, **unused):
        cell = box0 if box is None else box
        if perturbation is not None:
            deformation = jnp.asarray(perturbation, positions.dtype)
            if deformation.ndim == 0:  # isotropic (jax-md's NPT)
                positions = positions * deformation
                cell = cell * deformation
            else:
                positions = positions @ deformation.T
                cell = deformation @ box_matrix(cell)
        return potential(positions, cell, species, neighbor)

    return energy_fn


def _shift(positions, displacement, **unused):
    return positions + displacement  # unwrapped: the potentials apply the minimum image


def _kinetic(state) -> Array:
    return 0.5 * jnp.sum(state.momentum**2 / state.mass)


def _rdf_histogram(positions, box, neighbors, bins: int, r_max: float):
    _, mask, vectors = dense_neighbors(positions, box, neighbors)
    r = safe_norm(vectors, mask, 2 * r_max)
    inside = mask & (r < r_max)
    index = jnp.clip((r / r_max * bins).astype(jnp.int32), 0, bins - 1)
    weights = inside.astype(positions.dtype)
    return jnp.zeros(bins, positions.dtype).at[index.reshape(-1)].add(weights.reshape(-1))


class _Config(eqx.Module):
    ensemble: AbstractEnsemble
    builder: Any = eqx.field(static=True)
    observe_every: int = eqx.field(static=True)
    blocks: int = eqx.field(static=True)
    rdf_bins: int = eqx.field(static=True)
    rdf_max: float = eqx.field(static=True)
    dof: int = eqx.field(static=True)
    keep_trajectory: bool = eqx.field(static=True)


def _chunk(config: _Config, potential, species, box0, state, neighbors, origin, step0):
    """``config.blocks`` blocks of ``observe_every`` steps; returns the new carry and the
    per-block observables."""
    ensemble = config.ensemble
    with jax_md_context():
        energy_fn = _energy_function(potential, species, box0)
        _, apply_fn = ensemble.simulator(energy_fn, _shift)

        def one_step(i, carry):
            state, neighbors, first_bad = carry
            if neighbors is not None:
                neighbors = config.builder.update(
                    neighbors, state.position, ensemble.box(state, box0)
                )
            state = apply_fn(state, neighbor=neighbors)
            finite = jnp.all(jnp.isfinite(state.position))
            step = (step0 + i + 1).astype(first_bad.dtype)
            first_bad = jnp.where((first_bad < 0) & ~finite, step, first_bad)
            return state, neighbors, first_bad

        def block(carry, block_index):
            state, neighbors, first_bad = carry
            start = step0 + block_index * config.observe_every
            state, neighbors, first_bad = jax.lax.fori_loop(
                0, config.observe_every,
                lambda i, c: one_step(start - step0 + i, c),
                (state, neighbors, first_bad),
            )  # fmt: skip
            box = ensemble.box(state, box0)
            matrix = box_matrix(box)
            volume = jnp.abs(jnp.linalg.det(matrix))
            strain = jnp.zeros((3, 3), state.position.dtype)

            def strained(strain):
                deformation = jnp.eye(3, dtype=strain.dtype) + 0.5 * (strain + strain.T)
                return potential(
                    state.position @ deformation.T, deformation @ matrix, species, neighbors
                )

            potential_energy, virial = jax.value_and_grad(strained)(strain)
            kinetic = _kinetic(state)
            temperature = 2 * kinetic / config.dof
            pressure = 2 * kinetic / (3 * volume) - jnp.trace(virial) / (3 * volume)
            conserved = ensemble.conserved(
                energy_fn, state, potential_energy, kinetic, neighbor=neighbors
            )
            msd = jnp.mean(jnp.sum((state.position - origin) ** 2, axis=-1))
            record = {
                "potential_energy": potential_energy,
                "kinetic_energy": kinetic,
                "conserved": conserved,
                "temperature": temperature,
                "pressure": pressure,
                "volume": volume,
                "msd": msd,
            }
            if config.rdf_bins:
                record["rdf"] = _rdf_histogram(
                    state.position, box, neighbors, config.rdf_bins, config.rdf_max
                )
            if config.keep_trajectory:
                record["positions"] = state.position
                record["box"] = matrix
            return (state, neighbors, first_bad), record

        first_bad = jnp.asarray(-1, jnp.int32)
        (state, neighbors, first_bad), records = jax.lax.scan(
            block, (state, neighbors, first_bad), jnp.arange(config.blocks)
        )
    return state, neighbors, first_bad, records


_chunk_jit = eqx.filter_jit(_chunk)


@eqx.filter_jit
def _init_jit(ensemble, potential, species, box0, key, positions, masses, kT, neighbors):
    with jax_md_context():
        energy_fn = _energy_function(potential, species, box0)
        init_fn, _ = ensemble.simulator(energy_fn, _shift)
        return ensemble.init(init_fn, key, positions, box0, masses, kT, neighbors)


def _masses(structure: Structure, masses: Any) -> Array:
    dtype = structure.positions.dtype
    if masses is None:
        per_species = np.array([atomic_mass(s) for s in structure.symbols])
        return jnp.asarray(per_species[np.asarray(structure.species)], dtype)
    values = np.asarray(masses, dtype=np.float64)
    if values.ndim == 0:
        values = np.full(structure.n_atoms, float(values))
    elif values.shape == (len(structure.symbols),) and values.shape != (structure.n_atoms,):
        values = values[np.asarray(structure.species)]
    if values.shape != (structure.n_atoms,) or not np.all(values > 0):
        raise ValueError(
            f"masses must be positive: a scalar, one per species ({len(structure.symbols)}) or "
            f"one per atom ({structure.n_atoms}); got shape {values.shape}"
        )
    return jnp.asarray(values, dtype)


def run_md(
    potential: AbstractPotential,
    structure: Structure,
    ensemble: AbstractEnsemble,
    steps: int,
    *,
    key: Key,
    kT_initial: float | None = None,
    state: Any = None,
    masses: Any = None,
    observe_every: int = 100,
    chunk_steps: int = 1000,
    skin: float | None = None,
    neighbor_format: str = "dense",
    capacity_multiplier: float = 1.25,
    rdf_bins: int = 0,
    rdf_max: float | None = None,
    keep_trajectory: bool = False,
    max_kT: float | None = None,
    throw: bool = True,
) -> MDResult:
    r"""Run molecular dynamics of ``structure`` under ``potential`` in ``ensemble``.

    Args:
        potential: any `AbstractPotential`.
        structure: the initial configuration (its box is the fixed box of NVE/NVT, the
            reference box of NPT).
        ensemble: `NVE`, `NVTLangevin`, `NVTNoseHoover` or `NPTNoseHoover`.
        steps: the number of steps, a multiple of ``observe_every``.
        key: PRNG key for the initial Maxwell-Boltzmann momenta (and Langevin noise).
        kT_initial: ``k_B T`` of the initial momenta (default: the ensemble's target; for
            NVE required unless ``state`` is given).
        state: a jax-md state from a previous `MDResult` to continue from (then the
            structure gives the species and box only).
        masses: a scalar, one per species or one per atom (default: the atomic masses of
            the structure's symbols, amu; ``"X"`` has mass 1).
        observe_every: steps between observations (energies, temperature, pressure, MSD,
            RDF, trajectory frames).
        chunk_steps: steps per compiled call (rounded down to a multiple of
            ``observe_every``); overflow and blow-up are checked between chunks.
        skin: the neighbour-list skin (length units; default ``0.1 · cutoff``); ``0``
            disables the list (all pairs, for small cells). A list is used only if the cell
            is at least ``2 (cutoff + skin)`` wide.
        neighbor_format: ``"dense"`` or ``"sparse"`` (pair potentials only).
        capacity_multiplier: the neighbour list's spare capacity (see
            `NeighborListBuilder`); an overflow is repaired by reallocating.
        rdf_bins: bins of the radial distribution function (0: none). It is accumulated
            over the observations up to ``rdf_max`` (default and at most: the cutoff with a
            neighbour list, half the smallest cell width without).
        keep_trajectory: record the positions (and box) at each observation.
        max_kT: a temperature above this (energy units) counts as a blow-up (default
            ``50 ×`` the larger of the initial and target ``k_B T``).
        throw: raise `MDBlowUpError` on a blow-up (else return, with ``blowup_step`` set
            and the observables up to the failing chunk).

    Returns:
        `MDResult`.

    Raises:
        ValueError: for bad input (shapes, box too small for the cutoff, species mismatch,
            overlapping atoms, ``steps`` not a multiple of ``observe_every``...).
        MDBlowUpError: when the run diverges and ``throw`` is true, naming the step.

    Example:
        >>> crystal = fcc(1.5496, 6)  # doctest: +SKIP
        >>> result = run_md(LennardJones(), crystal, NVE(0.005), 10_000, key=jax.random.key(0),
        ...                 kT_initial=0.1)
        >>> result.observables.total_energy  # conserved to ~1e-5 per atom
    """
    check_symbols(potential, structure)
    positions0 = structure.positions if state is None else state.position
    check_inputs(potential, positions0, structure.box, structure.species)
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if isinstance(observe_every, bool) or int(observe_every) != observe_every or observe_every < 1:
        raise ValueError(f"observe_every must be a positive integer, got {observe_every!r}")
    steps, observe_every = int(steps), int(observe_every)
    if steps % observe_every:
        raise ValueError(f"steps ({steps}) must be a multiple of observe_every ({observe_every})")
    blocks_per_chunk = max(1, int(chunk_steps) // observe_every)
    if state is None and kT_initial is None:
        kT_initial = ensemble.kT
        if kT_initial is None:
            raise ValueError("kT_initial is required for NVE (the initial temperature)")
    if kT_initial is not None and not float(kT_initial) >= 0:
        raise ValueError(f"kT_initial must be non-negative, got {kT_initial!r}")
    if rdf_bins < 0:
        raise ValueError(f"rdf_bins must be non-negative, got {rdf_bins!r}")
    dtype = structure.positions.dtype
    cell = np.asarray(structure.box)
    # an orthorhombic cell runs as its three sides: the cheaper minimum image
    box0 = jnp.diag(structure.box) if np.all(cell == np.diag(np.diag(cell))) else structure.box
    widths = perpendicular_widths(cell)
    skin = 0.1 * potential.cutoff if skin is None else float(skin)
    if skin < 0:
        raise ValueError(f"skin must be non-negative, got {skin!r}")
    use_list = skin > 0 and widths.min() >= 2 * (potential.cutoff + skin)
    builder = (
        NeighborListBuilder(
            potential.cutoff,
            skin=skin,
            format=neighbor_format,  # type: ignore[arg-type]
            box_changes=isinstance(ensemble, NPTNoseHoover),
        )
        if use_list
        else None
    )
    limit = potential.cutoff if use_list else 0.5 * float(widths.min())
    rdf_range = limit if rdf_max is None else float(rdf_max)
    if rdf_bins and not 0 < rdf_range <= limit:
        raise ValueError(f"rdf_max must lie in (0, {limit:g}] here, got {rdf_max!r}")
    if rdf_bins and use_list and neighbor_format != "dense":
        raise ValueError("rdf_bins needs neighbor_format='dense'")
    dof = 3 * structure.n_atoms - ensemble.degrees_of_freedom_removed
    reference_kT = max(float(kT_initial or 0.0), float(ensemble.kT or 0.0))
    if max_kT is None:
        max_kT = 50 * reference_kT if reference_kT > 0 else np.inf
    mass = _masses(structure, masses)

    neighbors = builder.allocate(positions0, box0) if builder is not None else None
    if state is None:
        state = _init_jit(
            ensemble, potential, structure.species, box0, key, structure.positions, mass,
            jnp.asarray(kT_initial, dtype), neighbors,
        )  # fmt: skip
    origin = state.position
    records: list[dict[str, np.ndarray]] = []
    done = 0
    reallocations = retries = 0
    blowup_step = None
    seconds = first_chunk_seconds = 0.0
    while done < steps:
        blocks = min(blocks_per_chunk, (steps - done) // observe_every)
        config = _Config(
            ensemble=ensemble, builder=builder, observe_every=observe_every, blocks=blocks,
            rdf_bins=int(rdf_bins), rdf_max=float(rdf_range), dof=dof,
            keep_trajectory=bool(keep_trajectory),
        )  # fmt: skip
        args = (config, potential, structure.species, box0, state, neighbors, origin,
                jnp.asarray(done, jnp.int32))  # fmt: skip
        start = time.perf_counter()
        new_state, new_neighbors, first_bad, chunk_records = _chunk_jit(*args)
        jax.block_until_ready(new_state)
        elapsed = time.perf_counter() - start
        if done == 0 and not first_chunk_seconds:
            first_chunk_seconds = elapsed
        seconds += elapsed
        overflowed = new_neighbors is not None and bool(neighbor_list_overflowed(new_neighbors))
        # a chunk that diverged overflows its list too (NaN positions): once its redo with a
        # reallocated list diverges again, it is a blow-up, not a capacity problem
        if overflowed and not (int(first_bad) >= 0 and retries >= 1):
            # the chunk ran with an incomplete list: reallocate bigger and redo it
            retries += 1
            if retries > 8:
                raise RuntimeError(
                    f"the neighbour list kept overflowing at step {done} after {retries - 1} "
                    "reallocations (atoms crowding without bound?)"
                )
            reallocations += 1
            assert neighbors is not None and builder is not None
            width = neighbors.idx.shape[-1]
            per_atom = width if builder.format == "dense" else max(1, width // structure.n_atoms)
            extra = max(4, per_atom // 4) * reallocations
            neighbors = builder.allocate(  # type: ignore[union-attr]
                state.position, ensemble.box(state, box0), extra_capacity=extra
            )
            continue
        host = {k: np.asarray(v) for k, v in chunk_records.items()}
        bad = int(first_bad)
        hot = np.nonzero(~np.isfinite(host["temperature"]) | (host["temperature"] > max_kT))[0]
        if bad >= 0 or len(hot):
            blowup_step = bad if bad >= 0 else done + (int(hot[0]) + 1) * observe_every
            keep = int(hot[0]) if len(hot) else (bad - done - 1) // observe_every
            records.append({k: v[:keep] for k, v in host.items()})
            done += keep * observe_every
            if throw:
                raise MDBlowUpError(
                    f"MD blew up at step {blowup_step} (non-finite positions or "
                    f"k_B T above max_kT = {max_kT:g}); last good observation at step {done}",
                    blowup_step,
                )
            break
        records.append(host)
        state, neighbors = new_state, new_neighbors
        done += blocks * observe_every
        retries = 0
    return _result(
        records, ensemble, state, structure, box0, observe_every, rdf_bins, rdf_range,
        blowup_step, reallocations, seconds, first_chunk_seconds,
    )  # fmt: skip


def _result(
    records, ensemble, state, structure, box0, observe_every, rdf_bins, rdf_range, blowup_step,
    reallocations, seconds, first_chunk_seconds,
) -> MDResult:  # fmt: skip
    def series(name):
        parts = [r[name] for r in records if name in r]
        return np.concatenate(parts) if parts else np.zeros((0,))

    potential_energy = series("potential_energy")
    count = len(potential_energy)
    step = observe_every * np.arange(1, count + 1)
    kinetic = series("kinetic_energy")
    observables = Observables(
        step=step,
        time=step * ensemble.dt,
        potential_energy=potential_energy,
        kinetic_energy=kinetic,
        total_energy=potential_energy + kinetic,
        conserved=series("conserved"),
        temperature=series("temperature"),
        pressure=series("pressure"),
        volume=series("volume"),
        msd=series("msd"),
    )
    rdf_r = rdf = None
    if rdf_bins and count:
        counts = np.sum(np.concatenate([r["rdf"] for r in records]), axis=0)
        edges = np.linspace(0.0, rdf_range, rdf_bins + 1)
        shells = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
        n = structure.n_atoms
        density = n / np.mean(observables.volume)
        rdf = counts / (count * n * density * shells)
        rdf_r = 0.5 * (edges[1:] + edges[:-1])
    trajectory = boxes = None
    if records and "positions" in records[0]:
        trajectory = np.concatenate([r["positions"] for r in records])
        boxes = np.concatenate([r["box"] for r in records])
    final = eqx.tree_at(
        lambda s: (s.positions, s.box),
        structure,
        (state.position, box_matrix(ensemble.box(state, box0)).astype(structure.box.dtype)),
    )
    return MDResult(
        state=state,
        structure=final,
        observables=observables,
        rdf_r=rdf_r,
        rdf=rdf,
        trajectory=trajectory,
        trajectory_boxes=boxes,
        blowup_step=blowup_step,
        neighbor_reallocations=reallocations,
        seconds=seconds,
        first_chunk_seconds=first_chunk_seconds,
    )


def write_trajectory(
    path: str | os.PathLike[str], result: MDResult, *, append: bool = False
) -> int:
    """Write the frames of an MD run (``keep_trajectory=True``) to an extended-XYZ file.

    Returns:
        The number of frames written.

    Raises:
        ValueError: if the run kept no trajectory.
    """
    if result.trajectory is None or result.trajectory_boxes is None:
        raise ValueError("result has no trajectory: run_md(..., keep_trajectory=True)")
    frames = [
        eqx.tree_at(
            lambda s: (s.positions, s.box),
            result.structure,
            (jnp.asarray(positions), jnp.asarray(box, result.structure.box.dtype)),
        )
        for positions, box in zip(result.trajectory, result.trajectory_boxes, strict=True)
    ]
    write_extxyz(path, frames, append=append)
    return len(frames)
