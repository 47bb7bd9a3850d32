"""Benchmark of the MD driver: Lennard-Jones NVE with neighbour lists, against jax-md used
directly and against ASE.

``dmech bench md-lj``: the LAMMPS "lj" benchmark set-up (fcc at reduced density 0.8442,
initial ``k_B T = 1.44``, truncated and shifted LJ with ``r_c = 2.5σ``, skin ``0.3σ``,
``dt = 0.005``) with ``atoms`` atoms (``4 n³``; 4000 and 32000 are ``n = 10, 20``), ``steps``
velocity-Verlet steps in float32 by `run_md` (NVE, observables every ``observe_every`` steps,
dense neighbour list). Each timed call is a whole run: neighbour-list allocation, the initial
forces and the steps.

The peer, in the same process, is jax-md used directly, the idiom of its documentation:
``space.periodic``, ``partition.neighbor_list`` (same skin, format and capacity multiplier),
``smap.pair_neighbor_list`` of the same truncated and shifted LJ, ``simulate.nve`` and a
jitted ``lax.fori_loop`` that updates the list and steps, from the same initial momenta
(the same key); ``speedup_vs_peer`` is its time over dmech's (above 1: dmech faster), and
``peer_rel_diff`` compares the final total energies per atom (NVE conserves them, so they
agree to the integration error though the chaotic trajectories separate).

ASE (``ase.calculators.lj.LennardJones`` with ``rc = 2.5``, energy-shifted, and
``ase.md.verlet.VelocityVerlet``) runs ``ase_steps`` steps of the same system (masses 1 amu,
σ = 1 Å, ε = 1 eV: ASE's time unit is then the reduced one) for the figures
``ase_md_steps_per_second``, ``ase_atom_steps_per_second`` and ``speedup_vs_ase``.
"""

from __future__ import annotations

import importlib.metadata
import math
import time
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..bench import Benchmark, Case, Peer
from ._lennard_jones import LennardJones
from ._md import NVE, run_md
from ._neighbors import jax_md_context
from ._structures import fcc

_DENSITY = 0.8442
_KT = 1.44
_CUTOFF = 2.5


def _crystal(atoms: int):
    cells = round((atoms / 4) ** (1 / 3))
    if 4 * cells**3 != atoms:
        raise ValueError(f"atoms must be 4 n³ (fcc cells), e.g. 4000 or 32000; got {atoms}")
    return fcc((4 / _DENSITY) ** (1 / 3), cells, dtype=jnp.float32)


def _jax_md_peer(structure, steps: int, dt: float, skin: float, key, neighbor_format: str):
    from ._jax_md import energy, partition, simulate, smap, space

    side = float(structure.box[0, 0])
    displacement, shift = space.periodic(side)
    shift_energy = 4 * (_CUTOFF**-12 - _CUTOFF**-6)

    def pair(dr, **unused):
        inside = dr < _CUTOFF
        safe = jnp.where(inside, dr, _CUTOFF)
        return jnp.where(inside, energy.lennard_jones(safe) - shift_energy, 0.0)

    fmt = partition.Dense if neighbor_format == "dense" else partition.OrderedSparse
    with jax_md_context():
        neighbor_fn = partition.neighbor_list(
            displacement, side, _CUTOFF, dr_threshold=skin, capacity_multiplier=1.25, format=fmt
        )
    energy_fn = smap.pair_neighbor_list(pair, space.metric(displacement))
    init_fn, apply_fn = simulate.nve(energy_fn, shift, dt)

    @partial(jax.jit, static_argnums=2)
    def advance(state, neighbors, count):
        def body(i, carry):
            state, neighbors = carry
            neighbors = neighbors.update(state.position)
            return apply_fn(state, neighbor=neighbors), neighbors

        return jax.lax.fori_loop(0, count, body, (state, neighbors))

    positions = structure.positions
    total = jax.jit(
        lambda s, nbrs: energy_fn(s.position, neighbor=nbrs) + simulate.kinetic_energy(s)
    )

    def run():
        # jax-md runs under standard dtype promotion (its code mixes dtypes), as its users do
        with jax_md_context():
            neighbors = neighbor_fn.allocate(positions)
            state = init_fn(key, positions, _KT, neighbor=neighbors)
            state, neighbors = advance(state, neighbors, steps)
            if bool(neighbors.did_buffer_overflow):  # the idiom: reallocate and redo
                neighbors = neighbor_fn.allocate(positions, extra_capacity=8)
                state = init_fn(key, positions, _KT, neighbor=neighbors)
                state, neighbors = advance(state, neighbors, steps)
            jax.block_until_ready(state)
            return float(total(state, neighbors)) / positions.shape[0]

    return run


def _ase_rate(structure, steps: int, dt: float) -> dict[str, Any]:
    try:
        import ase
        from ase.calculators.lj import LennardJones as AseLJ
        from ase.md.verlet import VelocityVerlet
    except ImportError as exc:
        return {"ase_missing": f"ASE is not installed ({exc}); pip install ase"}
    atoms = ase.Atoms(
        "Ar" * structure.n_atoms,
        positions=np.asarray(structure.positions, np.float64),
        cell=np.asarray(structure.box, np.float64).T,
        pbc=True,
        masses=np.ones(structure.n_atoms),
    )
    atoms.calc = AseLJ(sigma=1.0, epsilon=1.0, rc=_CUTOFF, smooth=False)
    # Maxwell-Boltzmann momenta at k_B T (masses 1), without the centre-of-mass drift
    momenta = np.sqrt(_KT) * np.random.default_rng(0).standard_normal((structure.n_atoms, 3))
    atoms.set_momenta(momenta - momenta.mean(axis=0))
    dynamics = VelocityVerlet(atoms, timestep=dt)
    dynamics.run(1)  # neighbour list and first forces
    start = time.perf_counter()
    dynamics.run(steps)
    seconds = (time.perf_counter() - start) / steps
    return {
        "ase_version": importlib.metadata.version("ase"),
        "ase_steps": steps,
        "ase_seconds_per_step": seconds,
        "ase_md_steps_per_second": 1.0 / seconds,
        "ase_atom_steps_per_second": structure.n_atoms / seconds,
    }


def _setup_md_lj(
    atoms: int, steps: int, dt: float, skin: float, observe_every: int, neighbor_format: str,
    ase_steps: int, seed: int,
) -> Case:  # fmt: skip
    if steps % observe_every:
        raise ValueError(f"steps ({steps}) must be a multiple of observe_every ({observe_every})")
    structure = _crystal(atoms)
    potential = LennardJones(cutoff=_CUTOFF)
    key = jax.random.key(seed)
    ensemble = NVE(dt)
    timings: dict[str, list[float]] = {"dmech": [], "peer": []}

    def run():
        start = time.perf_counter()
        result = run_md(
            potential, structure, ensemble, steps, key=key, kT_initial=_KT, skin=skin,
            observe_every=observe_every, chunk_steps=steps, neighbor_format=neighbor_format,
        )  # fmt: skip
        timings["dmech"].append(time.perf_counter() - start)
        return result

    def energy_per_atom(result):
        return np.array([result.observables.total_energy[-1] / atoms])

    def error(result):
        total = result.observables.total_energy
        if len(total) < 2:  # one observation: no drift to measure (steps = observe_every)
            return {}
        return {"energy_drift_per_atom": float(abs(total[-1] - total[0]) / atoms)}

    peer = peer_missing = None
    try:
        peer_run = _jax_md_peer(structure, steps, dt, skin, key, neighbor_format)
        version = importlib.metadata.version("jax-md")
    except Exception as exc:  # reported, never hidden
        peer_missing = f"jax-md peer failed to set up: {type(exc).__name__}: {exc}"
    else:

        def timed_peer():
            start = time.perf_counter()
            value = peer_run()
            timings["peer"].append(time.perf_counter() - start)
            return value

        peer = Peer(
            name="jax-md",
            version=version,
            run=timed_peer,
            error=lambda value: {},
            answer=lambda value: np.array([value]),
        )

    def figures(result) -> dict[str, Any]:
        seconds = _median(timings["dmech"])
        report: dict[str, Any] = {
            "atoms": atoms,
            "steps": steps,
            "md_steps_per_second": steps / seconds,
            "atom_steps_per_second": atoms * steps / seconds,
            "neighbor_reallocations": result.neighbor_reallocations,
            "system": f"LJ fcc at density {_DENSITY} (a = {(4 / _DENSITY) ** (1 / 3):.5f}), "
            f"k_B T0 = {_KT}, r_c = {_CUTOFF} (shifted), skin {skin}, dt {dt}, float32, "
            f"{neighbor_format} neighbour list",
            "temperature_final": float(result.observables.temperature[-1]),
        }
        if timings["peer"]:
            peer_seconds = _median(timings["peer"])
            report["peer_md_steps_per_second"] = steps / peer_seconds
            report["peer_atom_steps_per_second"] = atoms * steps / peer_seconds
        if ase_steps > 0:
            report.update(_ase_rate(structure, ase_steps, dt))
            if "ase_seconds_per_step" in report:
                report["speedup_vs_ase"] = report["ase_seconds_per_step"] / (seconds / steps)
        return report

    return Case(
        run=run,
        error=error,
        reference="energy_drift_per_atom: |E(end) - E(first observation)| / N of the NVE run; "
        "peer_rel_diff: final total energy per atom, dmech against jax-md",
        answer=energy_per_atom,
        figures=figures,
        peer=peer,
        peer_missing=peer_missing,
    )


def _median(times: list[float]) -> float:
    """The median of the timed calls (the harness's first call is a warm-up)."""
    timed = times[1:] or times
    return float(np.median(timed)) if timed else math.nan


md_lj = Benchmark(
    name="md-lj",
    description="Lennard-Jones NVE (LAMMPS lj set-up, r_c 2.5, neighbour lists) with "
    "run_md: MD steps and atom-steps per second against jax-md used directly and ASE",
    params={
        "atoms": 4000,
        "steps": 200,
        "dt": 0.005,
        "skin": 0.3,
        "observe_every": 100,
        "neighbor_format": "dense",
        "ase_steps": 10,
        "seed": 0,
    },
    setup=_setup_md_lj,
)
