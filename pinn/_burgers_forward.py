r"""The viscous Burgers forward problem with our best CPU settings, as a function and a script.

$u_t + u u_x = \nu u_{xx}$ on $[-1, 1] \times [0, 1]$, $\nu = 0.01/\pi$, $u_0 = -\sin\pi x$,
$u(\pm 1, t) = 0$ (Raissi, Perdikaris and Karniadakis 2019). Settings:

- hard initial and boundary conditions, $u = -\sin\pi x + t(1 - x^2) N(x, t)$, so the loss is
  the residual alone (no weights to balance);
- $N$ a tanh MLP (4 hidden layers of 32), float32;
- residual-based adaptive points (RAD, $k = c = 1$; Wu et al. 2023): 4000 points chosen from
  20000 Sobol candidates, redrawn every 250 Adam steps and after every L-BFGS round;
- 1000 Adam steps (learning rate 2e-3 halved every 250 steps), then L-BFGS in rounds of 300
  iterations until the time budget;
- the error: relative L2 against the Cole-Hopf solution on Raissi's 256 × 100 grid.

Run ``python -m pinn._burgers_forward --seed 0 --budget 560`` (one JSON line). The budget is
training time (compilation and evaluation excluded); the whole run stays under ten minutes of
wall time with 560 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dmech.nn import MLP

from ._conditions import HardConstraint
from ._derivatives import directional_derivatives, partial_derivative
from ._domains import SpaceTime, interval
from ._problem import Term
from ._references import burgers_reference, space_time_points
from ._samplers import ResidualAdaptiveSampler
from ._training import LBFGS, Adam, Reference, train

NU = 0.01 / math.pi


def burgers_forward(
    *,
    seed: int = 0,
    budget: float = 560.0,
    dtype: str = "float32",
    width: int = 32,
    depth: int = 4,
    points: int = 4000,
    candidates: int = 20000,
    adam_steps: int = 1000,
    learning_rate: float = 2e-3,
    round_length: int = 300,
    eval_every: int = 100,
) -> dict[str, Any]:
    """Train the Burgers PINN for ``budget`` seconds of training time; a JSON-ready summary:
    the final and best relative L2 errors, the seconds to reach 1e-2 and 1e-3, the error at
    60/120/300/600 s, steps, iterations, the stop reason, training/compile/wall seconds."""
    wall = time.perf_counter()
    precision = jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()
    with precision:
        float_dtype = jnp.dtype(dtype)
        domain = SpaceTime(interval(-1.0, 1.0), 0.0, 1.0)
        key = jax.random.key(seed)
        net = MLP(2, "scalar", width, depth, key=key, dtype=float_dtype)
        model = HardConstraint(
            net, lambda x: -jnp.sin(jnp.pi * x[0]), lambda x: x[1] * (1 - x[0] ** 2)
        )

        def u(params: Any, x: jax.Array) -> jax.Array:
            return params(x)

        def burgers(params: Any, x: jax.Array) -> jax.Array:
            f = lambda y: u(params, y)  # noqa: E731
            v, v_x, v_xx = directional_derivatives(f, x, jnp.asarray([1.0, 0.0], x.dtype), 2)
            return partial_derivative(f, x, 1) + v * v_x - NU * v_xx

        with jax.enable_x64(True):
            xr, tr, ur = burgers_reference(NU, dtype=jnp.float64)
            grid = np.asarray(space_time_points(xr, tr))
            values = np.asarray(ur).reshape(-1)
        reference = Reference(u, jnp.asarray(grid, float_dtype), jnp.asarray(values, float_dtype))
        sampler = ResidualAdaptiveSampler(
            domain, points, num_candidates=candidates, every=max(adam_steps // 4, 1),
            method="sobol",
        )  # fmt: skip
        result = train(
            model,
            {"pde": Term(burgers, sampler=sampler)},
            key=jax.random.fold_in(key, 1),
            adam=Adam(
                adam_steps, learning_rate, decay_steps=max(adam_steps // 4, 1), decay_rate=0.5
            ),
            lbfgs=LBFGS(10**8, resample_every=round_length),
            reference=reference,
            eval_every=eval_every,
            time_limit=budget,
        )
    errors = result.history["rel_l2"]
    seconds = result.history["eval_seconds"]

    def first(threshold: float) -> float | None:
        hit = np.flatnonzero(errors <= threshold)
        return float(seconds[hit[0]]) if hit.size else None

    return {
        "seed": seed,
        "rel_l2": float(result.error) if result.error is not None else None,
        "best_rel_l2": float(errors.min()),
        "seconds_to_1e-2": first(1e-2),
        "seconds_to_1e-3": first(1e-3),
        "error_at": {
            f"{t}s": float(errors[np.searchsorted(seconds, t) - 1])
            for t in (60, 120, 300, 600)
            if seconds[0] <= t <= seconds[-1]
        },
        "adam_steps": result.adam_steps,
        "lbfgs_iterations": result.lbfgs_iterations,
        "stop_reason": result.stop_reason,
        "train_seconds": result.train_seconds,
        "compile_seconds": result.compile_seconds,
        "wall_seconds": time.perf_counter() - wall,
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m pinn._burgers_forward [--seed S] [--budget SECONDS] [--dtype D]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=560.0)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = parser.parse_args(argv)
    print(json.dumps(burgers_forward(seed=args.seed, budget=args.budget, dtype=args.dtype)))


if __name__ == "__main__":
    main()
