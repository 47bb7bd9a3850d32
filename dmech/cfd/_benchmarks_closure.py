"""`dmech bench cfd-closure`: a learned correction of a coarse pseudo-spectral solver against
uncorrected solvers on finer grids, accuracy against cost.

Kolmogorov flow on ``[0, 2π)²`` (``ν``, force ``sin(4y) e_x``, drag 0.1). The reference is a
DNS on ``fine``² (CN-RK4, ``dt = 0.512 / fine``), filtered to the modes the ``coarse``² grid
keeps (:func:`~dmech.cfd.closure_training_data`, after a ``warmup``); ``train`` trajectories
train the closure and ``test`` others, from other seeds, measure it. The closure is a periodic
CNN (``width`` channels, ``depth`` 3x3 layers, GELU, last layer zero at the start) added to
the coarse CN-RK3 solver (``dt = 0.512 / coarse``) as a learned correction
(``closure_mode="step"``) and trained a posteriori (:func:`~dmech.cfd.a_posteriori_loss`,
unrolls of ``unroll`` snapshots, ``adam_steps`` Adam steps, cosine-decayed learning rate).

Compared on the held-out trajectories: the uncorrected solver on ``coarse``² and on the
``finer`` grids (``dt ∝ Δx``). ``error.*_rel_l2`` is the relative L2 error against the
filtered DNS averaged over the snapshots and trajectories; the cost of a model is the wall
time per simulated second of a batch of ``cost_batch`` trajectories (one vmapped rollout,
compile excluded, median of the repeats), and ``cost_ratio`` that cost over the uncorrected
coarse solver's. ``equal_cost_uncorrected_rel_l2`` is the uncorrected error at the corrected
model's cost, linearly interpolated in log-cost between the measured grids;
``error_ratio_at_equal_cost`` is the corrected error over it (below 1: the correction beats
refinement at equal cost). ``seconds`` is one timed round: the batch rollout of every
model in turn (so all see the same machine load).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..bench import Benchmark, Case
from ..geometry import Grid
from ..train import fit
from ._closure import (
    a_posteriori_loss,
    closure_training_data,
    downsample,
    trajectory_windows,
    upsample,
)
from ._random_fields import gaussian_random_field
from ._rollout import rollout
from ._spectral_ns import SpectralNavierStokes2D

_INTERVAL = 0.032  # snapshot interval, s: a multiple of every model's dt
_SPEED = 0.512  # dt · n of every model (dt = 0.016 on 32²: CFL about 0.3)


class _PeriodicCNN(eqx.Module):
    """``ω̄ -> correction``: 3x3 circular convolutions with GELUs; the last layer starts at
    zero (training starts from the uncorrected solver)."""

    layers: list
    scale: float = eqx.field(static=True)

    def __init__(self, width: int, depth: int, scale: float, key: Any):
        sizes = [1] + [width] * (depth - 1) + [1]
        keys = jax.random.split(key, depth)
        layers = [
            eqx.nn.Conv2d(a, b, 3, padding=1, padding_mode="CIRCULAR", key=k)
            for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
        ]
        last = eqx.tree_at(lambda c: (c.weight, c.bias), layers[-1], replace_fn=jnp.zeros_like)
        self.layers = [*layers[:-1], last]
        self.scale = scale

    def __call__(self, w: jax.Array) -> jax.Array:
        x = (w / self.scale)[None]
        for layer in self.layers[:-1]:
            x = jax.nn.gelu(layer(x))
        return self.scale * self.layers[-1](x)[0]


def _box(n: int) -> Grid:
    return Grid((n, n), (2 * np.pi, 2 * np.pi))


def _model(n: int, flow: dict, **kwargs: Any) -> SpectralNavierStokes2D:
    """The CN-RK3 solver on n², dt ∝ Δx rounded down to a divisor of the snapshot interval."""
    substeps = int(np.ceil(_INTERVAL * n / _SPEED - 1e-9))
    return SpectralNavierStokes2D(
        _box(n), dt=_INTERVAL / substeps, time_stepping="crank_nicolson_rk3", **flow, **kwargs
    )


def _setup(
    fine,
    coarse,
    finer,
    viscosity,
    train,
    test,
    snapshots,
    warmup,
    unroll,
    adam_steps,
    width,
    depth,
    learning_rate,
    cost_batch,
    cost_horizon,
    seed,
) -> Case:
    finer_sizes = tuple(int(n) for n in str(finer).split(",") if n)
    if not (coarse >= 8 and fine > coarse and all(n > coarse for n in finer_sizes)):
        raise ValueError("need coarse >= 8, fine > coarse and every finer grid > coarse")
    if min(train, test, adam_steps, width, depth, cost_batch) < 1 or not 1 <= unroll < snapshots:
        raise ValueError(
            "need train, test, adam_steps, width, depth, cost_batch >= 1 and "
            "1 <= unroll < snapshots"
        )
    flow = dict(viscosity=viscosity, drag=0.1, forcing="kolmogorov", forcing_wavenumber=4)
    dns = SpectralNavierStokes2D(_box(fine), dt=_SPEED / fine, **flow)
    base = _model(coarse, flow, closure_mode="step")
    w = gaussian_random_field(
        jax.random.key(seed), dns.grid, alpha=2.5, tau=7.0, batch=(train + test,)
    )
    w = w * (5.0 / jnp.std(w, axis=(-2, -1), keepdims=True))
    start = time.perf_counter()
    data = closure_training_data(
        dns, base, w, snapshots=snapshots, snapshot_interval=_INTERVAL, warmup=warmup
    )
    jax.block_until_ready(data.vorticity)
    data_seconds = time.perf_counter() - start
    training, held_out = data.vorticity[:train], data.vorticity[train:]

    cnn = _PeriodicCNN(width, depth, float(jnp.std(training)), jax.random.key(seed + 1))
    result = fit(
        cnn,
        lambda m, b, k: a_posteriori_loss(m, base, b, steps_between=data.coarse_steps),
        optax.adam(optax.cosine_decay_schedule(learning_rate, adam_steps, alpha=0.1)),
        trajectory_windows(training, unroll + 1),
        key=jax.random.key(seed + 2),
        steps=adam_steps,
        batch_size=8,
        devices=jax.devices()[:1],
        progress=False,
    )
    models = {f"uncorrected_{n}": _model(n, flow) for n in (coarse, *finer_sizes)}
    corrected = base.with_closure(result.model)
    models["corrected"] = corrected

    def held_out_error(solver: SpectralNavierStokes2D) -> float:
        every = round(_INTERVAL / solver.dt)
        initial = held_out[:, 0]
        if solver.grid != base.grid:
            initial = upsample(initial, base.grid, solver.grid)
        out = rollout(
            jax.vmap(solver.step),
            solver.init(initial),
            (snapshots - 1) * every,
            every=every,
            observe=solver.vorticity,
            checkpoint=False,
        ).trajectory
        out = jnp.moveaxis(out, 0, 1)
        if solver.grid != base.grid:
            out = base.vorticity(base.init(downsample(out, solver.grid, base.grid)))
        truth = held_out[:, 1:]
        error = jnp.linalg.norm(out - truth, axis=(-2, -1)) / jnp.linalg.norm(truth, axis=(-2, -1))
        return float(jnp.mean(error))

    errors = {name: held_out_error(solver) for name, solver in models.items()}

    starts = jnp.resize(held_out[:, 0], (cost_batch, coarse, coarse))
    runs = {}
    for name, solver in models.items():
        count = max(1, round(cost_horizon / solver.dt))
        initial = starts if solver.grid == base.grid else upsample(starts, base.grid, solver.grid)
        step = jax.vmap(solver.step)
        advance = jax.jit(
            lambda s, step=step, count=count: rollout(step, s, count, checkpoint=False).state
        )
        state = solver.init(initial)
        runs[name] = (advance.lower(state).compile(), state, count * solver.dt)
    seconds: dict[str, list[float]] = {name: [] for name in models}

    def timed(name: str) -> Any:
        compiled, state, horizon = runs[name]
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(state))
        seconds[name].append((time.perf_counter() - t0) / horizon)
        return out

    def run():
        for name in models:  # every model in each repeat: the same machine load for all
            out = timed(name)
        return out

    def error(_: Any) -> dict[str, float]:
        return {
            "corrected_rel_l2": errors["corrected"],
            "uncorrected_rel_l2": errors[f"uncorrected_{coarse}"],
        }

    def figures(_: Any) -> dict[str, Any]:
        cost = {name: statistics.median(s[1:] or s) for name, s in seconds.items()}
        ratio = {name: c / cost[f"uncorrected_{coarse}"] for name, c in cost.items()}
        plain = sorted(
            (ratio[f"uncorrected_{n}"], errors[f"uncorrected_{n}"]) for n in (coarse, *finer_sizes)
        )
        x = np.log([p[0] for p in plain])
        at = float(np.interp(np.log(ratio["corrected"]), x, [p[1] for p in plain]))
        return {
            "grids": {"fine": fine, "coarse": coarse, "finer": list(finer_sizes)},
            "models": {
                name: {
                    "rel_l2": errors[name],
                    "cost_ratio": ratio[name],
                    "seconds_per_simulated_second": cost[name],
                }
                for name in models
            },
            "corrected_cost_ratio": ratio["corrected"],
            "equal_cost_uncorrected_rel_l2": at,
            "error_ratio_at_equal_cost": errors["corrected"] / at,
            "closure_parameters": sum(
                p.size for p in jax.tree.leaves(eqx.filter(result.model, eqx.is_array))
            ),
            "training_seconds": result.train_seconds,
            "data_seconds": data_seconds,
            "unrolled_steps": unroll * data.coarse_steps,
            "held_out_trajectories": test,
            "horizon": (snapshots - 1) * _INTERVAL,
            "cost_batch": cost_batch,
        }

    return Case(
        run=run,
        error=error,
        reference=f"the {fine}² DNS filtered to the {coarse}² grid's modes, on {test} held-out "
        "trajectories",
        figures=figures,
        peer_missing="no peer: the comparison is against our own uncorrected solvers on finer "
        "grids, in the same run",
    )


cfd_closure = Benchmark(
    name="cfd-closure",
    description="a learned CNN correction of a coarse pseudo-spectral Kolmogorov-flow solver, "
    "trained through the solver, against uncorrected finer grids: held-out error against cost",
    params={
        "fine": 128,
        "coarse": 32,
        "finer": "40,48,64",
        "viscosity": 2e-3,
        "train": 8,
        "test": 4,
        "snapshots": 101,
        "warmup": 10.0,
        "unroll": 16,
        "adam_steps": 800,
        "width": 4,
        "depth": 3,
        "learning_rate": 2e-3,
        "cost_batch": 16,
        "cost_horizon": 2.0,
        "seed": 100,
    },
    setup=_setup,
)
