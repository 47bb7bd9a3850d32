"""Cylinder-wake snapshots: the vortex street behind a cylinder at given Reynolds numbers, for
modal analysis (DMD, Koopman) and reduced models; cached with a card."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ..data import cache_dir, load_or_generate
from ._mac import MACNavierStokes, MACState, flow_past_cylinder
from ._rollout import rollout

__all__ = ["cylinder_wake_dataset"]

GENERATOR = "dmech.cfd.cylinder_wake_dataset"


def cylinder_wake_dataset(
    reynolds: Sequence[float] = (100.0,),
    *,
    snapshots: int = 200,
    interval: float = 0.2,
    transient: float = 100.0,
    window: tuple[tuple[float, float], tuple[float, float]] = ((-1.0, 9.0), (-2.5, 2.5)),
    cells_per_diameter: int = 12,
    upstream: float = 24.0,
    downstream: float = 12.0,
    half_width: float = 24.0,
    perturbation: float = 0.1,
    dtype: str = "float32",
    cache: bool = True,
    path: str | Path | None = None,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    r"""Snapshots of the flow past a circular cylinder (diameter ``D = 1``, inflow ``U = 1``)
    after its transient, one trajectory per Reynolds number.

    Each trajectory is :func:`~dmech.cfd.flow_past_cylinder` started from uniform flow with
    a small asymmetric bump of amplitude ``perturbation`` behind the cylinder (so shedding
    starts within a few tens of ``D/U`` instead of waiting for round-off), run for
    ``transient`` time units, then sampled ``snapshots`` times every ``interval``: the
    velocity and vorticity at the cell centres inside ``window`` and the drag and lift
    coefficients. The Strouhal number ``f D / U`` of each trajectory is measured from the
    zero up-crossings of its lift over the sampled interval (``nan`` with fewer than two
    full periods, e.g. below the onset of shedding at Re ≈ 47). The trajectories of several
    Reynolds numbers run on ``jax.devices()`` in turn (one device each, dispatched together).
    The arrays are cached through :mod:`dmech.data` with every parameter on the card.

    Args:
        reynolds: the Reynolds numbers ``U D / ν``.
        snapshots: samples per trajectory.
        interval: time between samples, in ``D/U`` (rounded to whole time steps).
        transient: time before the first sample, in ``D/U``.
        window: ``((x_lo, x_hi), (y_lo, y_hi))``, the sampled region in diameters (cylinder
            centre at the origin).
        cells_per_diameter, upstream, downstream, half_width: the grid and the box (see
            :func:`~dmech.cfd.flow_past_cylinder`).
        perturbation: the amplitude of the initial bump in ``v`` (0 keeps the flow symmetric).
        dtype: ``"float32"`` or ``"float64"`` (float64 needs x64 enabled).
        cache: read and write the cache file.
        path: the cache file; default under ``dmech.data.cache_dir("cfd")``.
        progress: show a progress bar on stderr.

    Returns:
        A dict of NumPy arrays: ``velocity`` ``(n_re, snapshots, 2, wx, wy)``, ``vorticity``
        ``(n_re, snapshots, wx, wy)``, ``drag`` and ``lift`` ``(n_re, snapshots)``,
        ``strouhal`` ``(n_re,)``, ``reynolds`` ``(n_re,)``, ``times`` ``(snapshots,)`` (from
        the start), ``x`` ``(wx,)`` and ``y`` ``(wy,)`` (the cell centres), ``dt`` ``()``.
    """
    reynolds = tuple(float(r) for r in np.atleast_1d(reynolds))
    if not reynolds or any(not (math.isfinite(r) and r > 0) for r in reynolds):
        raise ValueError(f"reynolds must hold positive numbers, got {reynolds}")
    for name, value in (("snapshots", snapshots), ("cells_per_diameter", cells_per_diameter)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not (math.isfinite(interval) and interval > 0):
        raise ValueError(f"interval must be positive, got {interval}")
    if not (math.isfinite(transient) and transient >= 0):
        raise ValueError(f"transient must be non-negative, got {transient}")
    (x_lo, x_hi), (y_lo, y_hi) = window
    if not (-upstream <= x_lo < x_hi <= downstream and -half_width <= y_lo < y_hi <= half_width):
        raise ValueError(f"window {window} must be a non-empty part of the box")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if dtype == "float64" and not jax.config.read("jax_enable_x64"):
        raise ValueError("dtype='float64' needs jax_enable_x64 (e.g. `with jax.enable_x64(True)`)")
    params: dict[str, Any] = {
        "reynolds": list(reynolds),
        "snapshots": int(snapshots),
        "interval": float(interval),
        "transient": float(transient),
        "window": [[float(x_lo), float(x_hi)], [float(y_lo), float(y_hi)]],
        "cells_per_diameter": int(cells_per_diameter),
        "upstream": float(upstream),
        "downstream": float(downstream),
        "half_width": float(half_width),
        "perturbation": float(perturbation),
        "dtype": dtype,
        "solver": "MACNavierStokes (SSP-RK3, exact projection, Brinkman penalisation)",
    }

    def generate() -> dict[str, np.ndarray]:
        return _generate(params, progress)

    if not cache:
        return generate()
    if path is None:
        key = "-".join(f"{r:g}" for r in reynolds)
        name = f"cylinder_wake_re{key}_d{cells_per_diameter}_n{snapshots}.dmech"
        path = cache_dir("cfd") / name
    arrays, _ = load_or_generate(path, generate, generator=GENERATOR, params=params)
    return {k: np.asarray(v) for k, v in arrays.items()}


def _generate(params: dict[str, Any], progress: bool) -> dict[str, np.ndarray]:
    dtype = jnp.float32 if params["dtype"] == "float32" else jnp.float64

    def build(re: float, dt: float | None) -> MACNavierStokes:
        return flow_past_cylinder(
            params["cells_per_diameter"],
            reynolds=re,
            upstream=params["upstream"],
            downstream=params["downstream"],
            half_width=params["half_width"],
            dt=dt,
            dtype=dtype,
        )

    # one dt for all (the smallest default), so the samples share their times
    dt = min(build(re, None).dt for re in params["reynolds"])
    solvers = [build(re, dt) for re in params["reynolds"]]
    every = max(1, round(params["interval"] / dt))
    warm_chunks = math.ceil(params["transient"] / (dt * every))
    grid = solvers[0].grid
    xc, yc = (grid.lower[a] + grid.spacing[a] * (np.arange(grid.shape[a]) + 0.5) for a in (0, 1))
    (x_lo, x_hi), (y_lo, y_hi) = params["window"]
    ix = np.flatnonzero((xc >= x_lo) & (xc <= x_hi))
    iy = np.flatnonzero((yc >= y_lo) & (yc <= y_hi))
    window = (slice(int(ix[0]), int(ix[-1]) + 1), slice(int(iy[0]), int(iy[-1]) + 1))
    devices = jax.devices()
    total = len(solvers) * (warm_chunks + params["snapshots"])
    bar = tqdm(total=total, desc="cylinder wake", disable=not progress, file=sys.stderr)
    results = []
    amplitude = params["perturbation"]
    for first in range(0, len(solvers), len(devices)):
        group = solvers[first : first + len(devices)]
        placed, states = [], []
        for solver, device in zip(group, devices, strict=False):

            def initial_velocity(x, y):
                bump = amplitude * jnp.exp(-((x - 1.5) ** 2 + (y - 0.3) ** 2))
                return jnp.ones_like(x), bump

            solver = jax.device_put(solver, device)
            placed.append(solver)
            states.append(jax.device_put(solver.init(initial_velocity), device))
        samples: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in group]
        for chunk in range(warm_chunks + params["snapshots"]):
            advanced = [_advance(s, state, every) for s, state in zip(placed, states, strict=True)]
            states = [state for state, _ in advanced]
            for k, (_, failed) in enumerate(advanced):
                if int(failed) >= 0:
                    raise FloatingPointError(
                        f"cylinder_wake_dataset: Re = {params['reynolds'][first + k]:g} blew up "
                        f"or broke the stability limit at step {chunk * every + int(failed)}"
                    )
            if chunk >= warm_chunks:
                for k, (solver, state) in enumerate(zip(placed, states, strict=True)):
                    velocity_c = np.asarray(solver.centre_velocity(state), np.float64)
                    samples[k].append((velocity_c, np.asarray(state.force, np.float64)))
            bar.update(len(group))
        for k in range(len(group)):
            velocity_c = np.stack([v for v, _ in samples[k]])
            force = np.stack([f for _, f in samples[k]])
            results.append((velocity_c, force))
    bar.close()
    dx, dy = grid.spacing
    times = dt * every * (warm_chunks + 1 + np.arange(params["snapshots"]))
    velocity, vorticity, drag, lift, strouhal = [], [], [], [], []
    for velocity_c, force in results:
        dvdx = np.gradient(velocity_c[:, 1], dx, axis=1)
        dudy = np.gradient(velocity_c[:, 0], dy, axis=2)
        vorticity.append((dvdx - dudy)[:, window[0], window[1]])
        velocity.append(velocity_c[:, :, window[0], window[1]])
        coefficients = 2.0 * force  # U = D = 1
        drag.append(coefficients[:, 0])
        lift.append(coefficients[:, 1])
        strouhal.append(strouhal_number(times, coefficients[:, 1])[0])
    out_dtype = np.float32 if params["dtype"] == "float32" else np.float64
    return {
        "velocity": np.stack(velocity).astype(out_dtype),
        "vorticity": np.stack(vorticity).astype(out_dtype),
        "drag": np.stack(drag),
        "lift": np.stack(lift),
        "strouhal": np.asarray(strouhal),
        "reynolds": np.asarray(params["reynolds"]),
        "times": times,
        "x": xc[window[0]],
        "y": yc[window[1]],
        "dt": np.asarray(dt),
    }


@eqx.filter_jit
def _advance(solver: MACNavierStokes, state: MACState, steps: int) -> tuple[MACState, Any]:
    result = rollout(solver.step, state, steps, every=steps, checkpoint=False, throw=False)
    return result.state, result.failed_step


def strouhal_number(times: np.ndarray, lift: np.ndarray) -> tuple[float, int]:
    """The frequency of a lift signal from its zero up-crossings about its mean (linear
    interpolation between samples) and the number of full periods it used; ``nan`` with
    fewer than two."""
    lift = np.asarray(lift, np.float64) - np.mean(lift)
    up = np.flatnonzero((lift[:-1] < 0) & (lift[1:] >= 0))
    if up.size < 3:
        return float("nan"), max(up.size - 1, 0)
    crossings = times[up] - lift[up] * (times[up + 1] - times[up]) / (lift[up + 1] - lift[up])
    return float(1.0 / np.mean(np.diff(crossings))), int(up.size - 1)
