"""Benchmarks of the pseudo-spectral 2D Navier-Stokes solver.

``dmech bench cfd-kolmogorov``: Kolmogorov flow at Re = 1000, the set-up of Kochkov et al.
(2021): ``[0, 2π)²``, ``ν = 10⁻³`` (``viscosity``), body force ``sin(4y) e_x``
(``forcing_amplitude`` 1, ``forcing_wavenumber`` 4; vorticity forcing ``-4 cos 4y``), drag
``α = 0.1``, at ``resolution²`` = 256² points, ``dtype`` float32, ``steps`` = 2000 time steps
of ``time_stepping`` (Crank-Nicolson/RK4) from a Gaussian random field (``α = 2.5``,
``τ = 7``, key ``seed``), with ``dt = 0.5 Δx / 7`` (jax-cfd's ``stable_time_step`` with
``max_velocity = 7`` and ``cfl_safety_factor = 0.5``) when ``dt`` is 0. The rollout
(:func:`~dmech.cfd.rollout` with its per-step health checks) is compiled ahead of time and
timed apart. The peer is jax-cfd's pseudo-spectral solver
(``jax_cfd.spectral.equations.NavierStokes2D``, stepped by
``time_stepping.crank_nicolson_rk4``, rolled out by ``funcutils.repeated``, also compiled
ahead of time) on the same grid, forcing, viscosity, drag, time step and initial
coefficients, in the same process. With ``peer_filter="dmech"`` (default) jax-cfd's
``filter_`` is set to dmech's symmetric 2/3 mask (its ``brick_wall_filter_2d`` keeps the
mode ``m_x = -n/3`` but not ``+n/3``), so both solve the same Galerkin system and
``peer_rel_diff`` (final vorticities) measures round-off only; ``"jax-cfd"`` keeps its own
filter. ``error`` compares each final vorticity with a float64 run of dmech's solver
(``reference64``, untimed): the yardstick of float32 round-off as the chaotic flow amplifies
it. ``cell_updates_per_second`` is ``resolution² · steps / seconds``.

``dmech bench cfd-gradient``: the gradient of the final kinetic energy with respect to the
initial vorticity through a ``steps`` = 1000-step rollout at ``resolution²`` = 128² (the same
flow, float32), by reverse mode through :func:`~dmech.cfd.rollout` with ``checkpoint`` every
``every`` = 25 steps: the gradient then holds ``steps / every`` chunk states and one
chunk's residuals (a step's residuals weigh about ten states here, so the memory is
smallest near ``every ≈ 10-30``: 14 MB at 10, 28 MB at 40, 65 MB at 100, 626 MB without
checkpoints; the time ratio stays about 3.2-3.6, the recomputation costing one forward).
Figures: ``gradient_over_forward`` (the median over the timed repeats of the gradient's time
over the forward rollout's, the forward timed just before each gradient, median of
``forward_repeats`` calls; both jitted and compiled ahead of time, compilation apart:
``compile_seconds`` is the gradient's), ``gradient_peak_memory_mb`` (XLA's
``memory_analysis()`` of the compiled gradient: arguments + outputs + temporaries, the
buffers it holds at once) and ``gradient_rss_growth_mb`` (growth of the process's peak
resident memory over the first gradient call). ``error``: the adjoint's directional
derivative along a random unit direction against a central difference of the float64
forward (``check_float64``).
"""

from __future__ import annotations

import importlib.metadata
import resource
import statistics
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..bench import Benchmark, Case, Measured, Peer
from ..geometry import Grid
from ._random_fields import gaussian_random_field
from ._rollout import rollout
from ._spectral_ns import (
    SpectralNavierStokes2D,
    _max_speed_numpy,
    _spectral_arrays,
    vorticity_to_physical,
)

_DTYPES = {"float32": jnp.float32, "float64": jnp.float64}


def _kolmogorov_solver(
    resolution: int, dt: float, viscosity: float, drag: float, amplitude: float,
    wavenumber: int, time_stepping: str, dtype: Any,
) -> SpectralNavierStokes2D:  # fmt: skip
    grid = Grid((resolution, resolution), (2 * np.pi, 2 * np.pi))
    return SpectralNavierStokes2D(
        grid,
        viscosity=viscosity,
        drag=drag,
        dt=dt,
        forcing="kolmogorov",
        forcing_amplitude=amplitude,
        forcing_wavenumber=wavenumber,
        time_stepping=time_stepping,
        dtype=dtype,
    )


def _default_dt(resolution: int, dt: float) -> float:
    """``dt``, or jax-cfd's ``stable_time_step(7.0, 0.5, ν, grid)`` (advective) when 0."""
    return dt if dt > 0 else 0.5 * (2 * np.pi / resolution) / 7.0


def _initial_vorticity(resolution: int, seed: int) -> np.ndarray:
    grid = Grid((resolution, resolution), (2 * np.pi, 2 * np.pi))
    field = gaussian_random_field(jax.random.key(seed), grid, alpha=2.5, tau=7.0)
    return np.asarray(field, np.float64)


def _relative(a: Any, b: Any) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(np.float64).tiny))


# jax-cfd has the two low-storage Crank-Nicolson schemes and no ETDRK4
_PEER_SCHEMES = {
    "crank_nicolson_rk4": "crank_nicolson_rk4",
    "crank_nicolson_rk3": "crank_nicolson_rk3",
    "etdrk4": "crank_nicolson_rk4",
}


def _jax_cfd_peer(
    solver: SpectralNavierStokes2D, hat0: Any, steps: int, peer_filter: str, scheme: str
) -> tuple[Any, str, float]:
    """jax-cfd's spectral solver on the same problem: a ``run() -> vorticity_hat`` callable,
    jax-cfd's version, and the seconds its ahead-of-time compilation took."""
    import jax_cfd.base as cfd
    from jax_cfd.base import forcings, funcutils
    from jax_cfd.spectral import equations, time_stepping

    n = solver.grid.shape[0]
    grid = cfd.grids.Grid((n, n), domain=((0, 2 * np.pi), (0, 2 * np.pi)))
    amplitude = float(solver.forcing_amplitude)
    wavenumber = solver.forcing_wavenumber

    def forcing_fn(g):
        return forcings.kolmogorov_forcing(
            g, scale=amplitude, k=wavenumber, offsets=((0, 0), (0, 0))
        )

    # jax-cfd mixes Python complex scalars with float32 arrays: it is traced under JAX's
    # standard promotion rules even where the caller made them strict (dmech's tests do)
    with jax.numpy_dtype_promotion("standard"):
        equation = equations.NavierStokes2D(
            float(solver.viscosity), grid, drag=float(solver.drag), smooth=True,
            forcing_fn=forcing_fn,
        )  # fmt: skip
        if peer_filter == "dmech":
            # jax-cfd's brick-wall filter keeps m_x = -n/3 but not +n/3 (int(2n/3) // 2
            # modes on the positive side); with dmech's symmetric 2/3 mask both solve the
            # same Galerkin system
            mask = _spectral_arrays(solver.grid)["mask"]
            equation.filter_ = jnp.asarray(mask, jnp.float32)
        step = getattr(time_stepping, scheme)(equation, solver.dt)
        hat0 = jnp.asarray(hat0)
        # compiled ahead of time, as dmech's rollout (the harness's untimed first call then
        # measures no compilation for either)
        start = time.perf_counter()
        advance = jax.jit(funcutils.repeated(step, steps)).lower(hat0).compile()
        compile_seconds = time.perf_counter() - start

    def run():
        return jax.block_until_ready(advance(hat0))

    return run, importlib.metadata.version("jax-cfd"), compile_seconds


def _setup_kolmogorov(
    resolution, steps, dt, viscosity, drag, forcing_amplitude, forcing_wavenumber,
    time_stepping, dtype, seed, reference64, peer_filter,
) -> Case:  # fmt: skip
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if peer_filter not in ("dmech", "jax-cfd"):
        raise ValueError(f"peer_filter must be 'dmech' or 'jax-cfd', got {peer_filter!r}")
    dt = _default_dt(resolution, dt)
    w0 = _initial_vorticity(resolution, seed)
    args = (resolution, dt, viscosity, drag, forcing_amplitude, forcing_wavenumber, time_stepping)

    with jax.enable_x64(dtype == "float64"):
        solver = _kolmogorov_solver(*args, _DTYPES[dtype])
        state0 = solver.init(w0)

    # the rollout compiled ahead of time (timed apart); the solver's arrays are arguments
    params, static = eqx.partition(solver, eqx.is_array)

    def advance(params, state):
        step = eqx.combine(params, static).step
        return rollout(step, state, steps, every=steps, checkpoint=False).state

    compiled: dict[str, Any] = {}

    def compile_rollout():
        with jax.enable_x64(dtype == "float64"):
            compiled["advance"] = jax.jit(advance).lower(params, state0).compile()

    def run():
        with jax.enable_x64(dtype == "float64"):
            return jax.block_until_ready(compiled["advance"](params, state0))

    reference = None
    if reference64:  # untimed: the same problem in float64
        with jax.enable_x64(True):
            solver64 = _kolmogorov_solver(*args, jnp.float64)
            state64 = rollout(solver64.step, solver64.init(w0), steps, every=steps).state
            reference = np.asarray(solver64.vorticity(state64))

    def vorticity(hat):
        return np.asarray(vorticity_to_physical(jnp.asarray(hat), solver.grid), np.float64)

    def error(out_vorticity):
        if reference is None:
            return {}
        return {"rel_l2_vs_float64": _relative(out_vorticity, reference)}

    def figures(state):
        cells = resolution * resolution
        seconds = _median_timed(timings.get("dmech", []))
        report: dict[str, Any] = {
            "steps": steps,
            "dt": dt,
            "final_time": steps * dt,
            "cells": cells,
            "reynolds_number": 1.0 / viscosity,
            "forcing": f"{forcing_amplitude:g} sin({forcing_wavenumber} y) e_x "
            f"(vorticity -{forcing_amplitude * forcing_wavenumber:g} "
            f"cos({forcing_wavenumber} y)), drag {drag:g}, viscosity {viscosity:g}",
            "time_stepping": time_stepping,
            "dtype": dtype,
            "initial_condition": f"gaussian_random_field(key({seed}), alpha=2.5, tau=7) on "
            "[0, 2pi)^2, dealiased",
            "initial_max_cfl": _cfl(solver, w0),
            "energy_initial": float(solver.energy(state0)),
            "energy_final": float(solver.energy(state)),
        }
        if seconds:
            report["seconds_per_step"] = seconds / steps
            report["cell_updates_per_second"] = cells * steps / seconds
        if timings.get("peer"):
            report["peer_cell_updates_per_second"] = cells * steps / _median_timed(timings["peer"])
            report["peer_filter"] = peer_filter
            report["peer_compile_seconds"] = peer_compile
            report["peer_time_stepping"] = f"jax_cfd.spectral.time_stepping.{peer_scheme}"
            report["peer_same_scheme"] = peer_scheme == time_stepping
        return report

    timings: dict[str, list[float]] = {"dmech": [], "peer": []}

    def timed_run():
        start = time.perf_counter()
        state = run()
        seconds = time.perf_counter() - start
        timings["dmech"].append(seconds)
        return state

    case_peer = None
    peer_missing = None
    peer_compile = 0.0
    peer_scheme = _PEER_SCHEMES[time_stepping]
    if dtype != "float32":
        peer_missing = "jax-cfd's spectral solver is compared in float32 only"
    else:
        try:
            peer_run, version, peer_compile = _jax_cfd_peer(
                solver, state0.vorticity_hat, steps, peer_filter, peer_scheme
            )
        except ImportError as exc:
            peer_missing = f"jax-cfd is not installed ({exc}); pip install jax-cfd"
        except Exception as exc:  # reported, never hidden
            peer_missing = f"jax-cfd failed to set up: {type(exc).__name__}: {exc}"
        else:

            def timed_peer():
                start = time.perf_counter()
                hat = peer_run()
                seconds = time.perf_counter() - start
                timings["peer"].append(seconds)
                return hat

            case_peer = Peer(
                name="jax-cfd",
                version=version,
                run=timed_peer,
                error=lambda hat: error(vorticity(hat)),
                answer=vorticity,
            )

    return Case(
        run=timed_run,
        compile=compile_rollout,
        error=lambda state: error(vorticity(state.vorticity_hat)),
        reference="dmech's solver in float64 on the same problem (rel_l2_vs_float64: relative "
        "L2 difference of the final vorticity); peer_rel_diff: dmech against jax-cfd",
        answer=lambda state: vorticity(state.vorticity_hat),
        figures=figures,
        peer=case_peer,
        peer_missing=peer_missing,
    )


def _median_timed(times: list[float]) -> float:
    """The median of the timed calls (the harness's first call is a warm-up)."""
    return statistics.median(times[1:] or times) if times else 0.0


def _cfl(solver: SpectralNavierStokes2D, w0: np.ndarray) -> float:
    return _max_speed_numpy(w0, solver.grid) * solver.dt / min(solver.grid.spacing)


cfd_kolmogorov = Benchmark(
    name="cfd-kolmogorov",
    description="2D Kolmogorov flow, Re = 1000 (nu = 1e-3, sin(4y) forcing, drag 0.1) at "
    "256^2, pseudo-spectral Crank-Nicolson/RK4, float32: seconds, cell updates per second, "
    "against jax-cfd's spectral solver on the same problem",
    params={
        "resolution": 256,
        "steps": 2000,
        "dt": 0.0,  # 0: 0.5 dx / 7, jax-cfd's stable_time_step(max_velocity=7)
        "viscosity": 1e-3,
        "drag": 0.1,
        "forcing_amplitude": 1.0,
        "forcing_wavenumber": 4,
        "time_stepping": "crank_nicolson_rk4",
        "dtype": "float32",
        "seed": 0,
        "reference64": True,
        "peer_filter": "dmech",
    },
    setup=_setup_kolmogorov,
)


# ---------------------------------------------------------------------------------------------
# cfd-gradient
# ---------------------------------------------------------------------------------------------


def _compiled_footprint_mb(compiled: Any) -> dict[str, float]:
    stats = compiled.memory_analysis()
    if stats is None:
        return {}
    mb = 2.0**20
    return {
        "temp": stats.temp_size_in_bytes / mb,
        "total": (
            stats.argument_size_in_bytes
            + stats.output_size_in_bytes
            + stats.temp_size_in_bytes
            - stats.alias_size_in_bytes
        )
        / mb,
    }


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _setup_gradient(
    resolution, steps, every, checkpoint, dt, viscosity, drag, forcing_amplitude,
    forcing_wavenumber, time_stepping, seed, forward_repeats, check_float64,
) -> Case:  # fmt: skip
    dt = _default_dt(resolution, dt)
    w0_np = _initial_vorticity(resolution, seed)
    args = (resolution, dt, viscosity, drag, forcing_amplitude, forcing_wavenumber, time_stepping)
    solver = _kolmogorov_solver(*args, jnp.float32)
    w0 = jnp.asarray(w0_np, jnp.float32)
    solver.init(w0)  # the CFL check of the initial field

    def final_energy(solver, w):
        state = rollout(solver.step, solver.init(w), steps, every=every, checkpoint=checkpoint)
        return solver.energy(state.state)

    forward = jax.jit(lambda w: final_energy(solver, w)).lower(w0)
    gradient = jax.jit(jax.grad(lambda w: final_energy(solver, w))).lower(w0)
    figures_data: dict[str, Any] = {}
    # the forward, compiled ahead of time in set-up (untimed by the harness)
    start = time.perf_counter()
    forward_compiled = forward.compile()
    figures_data["forward_compile_seconds"] = time.perf_counter() - start
    jax.block_until_ready(forward_compiled(w0))
    figures_data["forward_compiled"] = forward_compiled

    def compile_gradient():
        start = time.perf_counter()
        figures_data["gradient_compiled"] = gradient.compile()
        figures_data["gradient_compile_seconds"] = time.perf_counter() - start
        # before the gradient's first call, so that the growth below is the gradient's
        figures_data["rss_before_gradient_mb"] = _max_rss_mb()

    # Each call times forward_repeats forward rollouts, then the gradient (the measured
    # operation): paired timings, so that the ratio holds when other jobs load the machine.
    forward_times: list[float] = []
    gradient_times: list[float] = []

    def timed_run():
        forwards = []
        for _ in range(forward_repeats):
            start = time.perf_counter()
            jax.block_until_ready(forward_compiled(w0))
            forwards.append(time.perf_counter() - start)
        forward_times.append(statistics.median(forwards))
        start = time.perf_counter()
        out = jax.block_until_ready(figures_data["gradient_compiled"](w0))
        seconds = time.perf_counter() - start
        figures_data.setdefault("rss_after_gradient_mb", _max_rss_mb())
        gradient_times.append(seconds)
        return Measured(out, seconds)

    def error(grad):
        if not check_float64:
            return {}
        # the directional derivative along a random unit direction, against a central
        # difference of the float64 forward (untimed)
        direction = np.asarray(
            jax.random.normal(jax.random.key(seed + 1), w0.shape, jnp.float32), np.float64
        )
        direction /= np.linalg.norm(direction)
        adjoint = float(np.vdot(np.asarray(grad, np.float64), direction))
        with jax.enable_x64(True):
            solver64 = _kolmogorov_solver(*args, jnp.float64)
            energy64 = jax.jit(lambda w: final_energy(solver64, w))
            eps = 1e-4 * float(np.linalg.norm(w0_np))
            plus = float(energy64(jnp.asarray(w0_np + eps * direction)))
            minus = float(energy64(jnp.asarray(w0_np - eps * direction)))
        central = (plus - minus) / (2 * eps)
        figures_data["directional_derivative"] = (adjoint, central)
        return {"directional_derivative_rel_error": abs(adjoint - central) / abs(central)}

    def figures(grad):
        # the harness's first call is a warm-up; the rest are its timed repeats
        pairs = list(zip(forward_times, gradient_times, strict=True))
        pairs = pairs[1:] or pairs
        forward_seconds = statistics.median(f for f, _ in pairs)
        gradient_seconds = statistics.median(g for _, g in pairs)
        ratio = statistics.median(g / f for f, g in pairs)
        grad_memory = _compiled_footprint_mb(figures_data["gradient_compiled"])
        forward_memory = _compiled_footprint_mb(figures_data["forward_compiled"])
        report: dict[str, Any] = {
            "steps": steps,
            "every": every,
            "checkpoint": checkpoint,
            "dt": dt,
            "cells": resolution * resolution,
            "forward_seconds": forward_seconds,
            "gradient_seconds": gradient_seconds,
            "gradient_over_forward": ratio,
            "gradient_over_forward_pairs": [g / f for f, g in pairs],
            "forward_compile_seconds": figures_data["forward_compile_seconds"],
            "gradient_compile_seconds": figures_data["gradient_compile_seconds"],
            "gradient_peak_memory_mb": grad_memory.get("total"),
            "gradient_temp_memory_mb": grad_memory.get("temp"),
            "forward_peak_memory_mb": forward_memory.get("total"),
            "gradient_memory_method": "XLA's compiled memory_analysis() of the jitted "
            "gradient: arguments + outputs + temporaries - aliased (the buffers the program "
            "allocates at its peak); gradient_rss_growth_mb: growth of the process's peak RSS "
            "over the first gradient call (allocator reuse makes it a lower bound)",
            "gradient_rss_growth_mb": max(
                figures_data.get("rss_after_gradient_mb", 0.0)
                - figures_data["rss_before_gradient_mb"],
                0.0,
            ),
            "gradient_norm": float(jnp.linalg.norm(grad)),
        }
        if "directional_derivative" in figures_data:
            adjoint, central = figures_data["directional_derivative"]
            report["directional_derivative_adjoint_float32"] = adjoint
            report["directional_derivative_central_float64"] = central
        return report

    return Case(
        run=timed_run,
        compile=compile_gradient,
        error=error,
        reference="directional derivative of the float32 adjoint along a random unit "
        "direction against a central difference (eps = 1e-4 |w0|) of the float64 forward",
        figures=figures,
        peer=None,
        peer_missing="no peer: jax-cfd has no checkpointed reverse-mode rollout to compare; "
        "the figure is the ratio to dmech's own jitted forward rollout",
    )


cfd_gradient = Benchmark(
    name="cfd-gradient",
    description="gradient of the final kinetic energy w.r.t. the initial vorticity through a "
    "1000-step 128^2 Kolmogorov-flow rollout (checkpointed reverse mode): time over the "
    "forward's, and memory",
    params={
        "resolution": 128,
        "steps": 1000,
        "every": 25,
        "checkpoint": True,
        "dt": 0.0,  # 0: 0.5 dx / 7
        "viscosity": 1e-3,
        "drag": 0.1,
        "forcing_amplitude": 1.0,
        "forcing_wavenumber": 4,
        "time_stepping": "crank_nicolson_rk4",
        "seed": 0,
        "forward_repeats": 3,
        "check_float64": True,
    },
    setup=_setup_gradient,
)
