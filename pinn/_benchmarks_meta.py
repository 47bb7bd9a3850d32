r"""``dmech bench pinn-meta-burgers``: Reptile initialisation against the default one and
transfer, on held-out viscosities of the Burgers family.

The family: $u_t + u u_x = \nu u_{xx}$ on $[-1, 1] \times [0, 1]$, $u_0 = -\sin\pi x$,
$u(\pm 1, t) = 0$, $\nu \in [0.005/\pi, 0.05/\pi]$; the network carries the initial and
boundary conditions ($u = -\sin\pi x + t(1 - x^2) N(x, t)$, $N$ a ``width`` × ``depth`` tanh
MLP) and the task loss is the mean squared residual at ``points`` fixed Sobol points.

- Meta-training set: ``train_viscosities`` viscosities log-spaced over the range. Held out:
  ``held_out`` viscosities, none in the training set: the geometric midpoints of the
  ``held_out`` highest consecutive pairs
  (the sharpest shocks, below about 0.004, do not reach 1e-2 within a few thousand Adam steps
  from any of the initialisations with this network).
- Reptile (:func:`pinn.reptile`): ``outer_steps`` outer steps of ``inner_steps`` Adam steps
  (learning rate ``learning_rate``) on a training viscosity drawn uniformly, outer step size
  ``outer_step_size`` decayed linearly to zero.
- ``conditioned``: the network also reads $\log\nu$ scaled to $[-1, 1]$ over the family, so
  Reptile can learn the family's solutions rather than one compromise between them (the
  initial and boundary conditions are unchanged).
- Default: the network's own initialisation (seed ``seed``), which Reptile also starts from.
- Transfer: a network trained from the default initialisation for ``pretrain_steps`` Adam steps
  on the training viscosity nearest (in $\log\nu$) to the held-out one.

From each initialisation, Adam (``learning_rate``, constant) trains on the held-out task until
the relative L2 error against the Cole-Hopf solution (128 × 50 grid of
$[-1, 1] \times [0, 0.99]$) is below ``target`` (checked every ``eval_every`` steps), at most
``max_steps`` steps. ``steps_to_1e-2`` holds the medians over the held-out viscosities per
initialisation (``None`` when the median run did not reach the target);
``reptile_fewer_steps_factor`` is the default's median over Reptile's, and when only Reptile's
median reached the target, ``reptile_fewer_steps_factor_at_least`` is ``max_steps`` over it.
``seconds`` is the meta-training time. ``preset="small"`` is a tiny version for tests; use
``--repeats 1``.

References:
    Nichol, Achiam and Schulman (2018), "On first-order meta-learning algorithms",
    arXiv:1803.02999.
    Liu, Zhang, Chen and Wang (2022), "A novel meta-learning initialization method for
    physics-informed neural networks", Neural Comput. Appl. 34, 14511-14534.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from dmech.bench import Benchmark, Case, Measured
from dmech.nn import MLP

from ._conditions import HardConstraint
from ._derivatives import directional_derivatives, partial_derivative
from ._domains import SpaceTime, interval
from ._meta import Reptile, reptile
from ._references import burgers_reference, space_time_points

__all__ = ["pinn_meta_burgers"]

LOW, HIGH = 0.005 / math.pi, 0.05 / math.pi


def _at(model: Any, nu: jax.Array, conditioned: bool) -> Any:
    """The field ``(x, t) -> u`` of the task ``nu``: a conditioned network also reads the
    log-viscosity, scaled to [-1, 1] over the family."""
    if not conditioned:
        return model
    s = 2.0 * (jnp.log(nu) - math.log(LOW)) / (math.log(HIGH) - math.log(LOW)) - 1.0

    def field(y: jax.Array) -> jax.Array:
        return model(jnp.concatenate([y, jnp.reshape(s, (1,)).astype(y.dtype)]))

    return field


def _residual(model: Any, x: jax.Array, nu: jax.Array, conditioned: bool) -> jax.Array:
    f = _at(model, nu, conditioned)
    v, v_x, v_xx = directional_derivatives(f, x, jnp.asarray([1.0, 0.0], x.dtype), 2)
    return partial_derivative(f, x, 1) + v * v_x - nu.astype(x.dtype) * v_xx


def _task_loss(points: jax.Array, conditioned: bool) -> Any:
    def loss(model: Any, nu: jax.Array) -> jax.Array:
        values = jax.vmap(lambda x: _residual(model, x, nu, conditioned))(points)
        return jnp.mean(values * values)

    return loss


@eqx.filter_jit
def _adam_chunk(diff, static, opt_state, nu, points, learning_rate, steps, conditioned):  # type: ignore[no-untyped-def]
    optimizer = optax.adam(learning_rate)
    loss = _task_loss(points, conditioned)

    def body(carry, _):  # type: ignore[no-untyped-def]
        d, s = carry
        value, grads = jax.value_and_grad(lambda d: loss(eqx.combine(d, static), nu))(d)
        with jax.numpy_dtype_promotion("standard"):
            updates, s = optimizer.update(grads, s, d)
            d = eqx.apply_updates(d, updates)
        return (d, s), value

    (diff, opt_state), values = jax.lax.scan(body, (diff, opt_state), None, length=steps)
    return diff, opt_state, values


@eqx.filter_jit
def _relative_error(
    model: Any, nu: jax.Array, conditioned: bool, grid: jax.Array, values: jax.Array
) -> jax.Array:
    predicted = jax.vmap(_at(model, nu, conditioned))(grid)
    return jnp.linalg.norm(predicted - values) / jnp.linalg.norm(values)


def steps_to_target(
    model: Any,
    nu: float,
    points: jax.Array,
    reference: tuple[jax.Array, jax.Array],
    *,
    learning_rate: float,
    target: float,
    max_steps: int,
    eval_every: int,
    conditioned: bool = False,
) -> tuple[int | None, Any, list[float]]:
    """Adam steps from ``model`` on the task ``nu`` until the relative L2 error is below
    ``target`` (``None`` if not within ``max_steps``), the trained model, and the errors."""
    diff, static = eqx.partition(model, eqx.is_inexact_array)
    with jax.numpy_dtype_promotion("standard"):
        opt_state = optax.adam(learning_rate).init(diff)
    nu_array = jnp.asarray(nu, jnp.float32)
    errors = [float(_relative_error(model, nu_array, conditioned, *reference))]
    steps = 0
    while errors[-1] >= target and steps < max_steps:
        diff, opt_state, _ = _adam_chunk(
            diff, static, opt_state, nu_array, points, learning_rate, eval_every, conditioned
        )
        steps += eval_every
        trained = eqx.combine(diff, static)
        errors.append(float(_relative_error(trained, nu_array, conditioned, *reference)))
    reached = steps if errors[-1] < target else None
    return reached, eqx.combine(diff, static), errors


_PRESETS: dict[str, dict[str, Any]] = {
    "full": {
        "width": 32,
        "depth": 3,
        "points": 1000,
        "train_viscosities": 6,
        "held_out": 3,
        "outer_steps": 1000,
        "inner_steps": 20,
        "outer_step_size": 0.3,
        "pretrain_steps": 3000,
        "max_steps": 20000,
        "eval_every": 25,
    },
    "small": {
        "width": 8,
        "depth": 1,
        "points": 64,
        "train_viscosities": 4,
        "held_out": 1,
        "outer_steps": 4,
        "inner_steps": 3,
        "outer_step_size": 0.3,
        "pretrain_steps": 10,
        "max_steps": 10,
        "eval_every": 5,
    },
}


def _median_steps(values: list[int | None]) -> float | None:
    median = statistics.median(math.inf if v is None else v for v in values)
    return median if math.isfinite(median) else None


def _setup_meta(preset, seed, learning_rate, target, conditioned=False) -> Case:
    if preset not in _PRESETS:
        raise ValueError(f"`preset` must be one of {sorted(_PRESETS)}; got {preset!r}.")
    if not (isinstance(target, float) and 0 < target < 1):
        raise ValueError(f"`target` must be in (0, 1); got {target!r}.")
    s = _PRESETS[preset]
    if s["held_out"] > s["train_viscosities"] // 2:
        raise ValueError("`held_out` must be at most half the training viscosities")
    training = np.geomspace(LOW, HIGH, s["train_viscosities"])
    n = len(training)
    held_out = [
        float(np.sqrt(training[n - 2 - i] * training[n - 1 - i])) for i in range(s["held_out"])
    ]

    def log(message: str) -> None:
        print(f"[pinn-meta-burgers] {message}", file=sys.stderr, flush=True)

    def run() -> Measured:
        key = jax.random.key(seed)
        inputs = 3 if conditioned else 2
        net = MLP(inputs, "scalar", s["width"], s["depth"], key=jax.random.fold_in(key, 0))
        model = HardConstraint(
            net, lambda x: -jnp.sin(jnp.pi * x[0]), lambda x: x[1] * (1 - x[0] ** 2)
        )
        domain = SpaceTime(interval(-1.0, 1.0), 0.0, 1.0)
        points = domain.sample(jax.random.fold_in(key, 1), s["points"], method="sobol")
        choices = jnp.asarray(training, jnp.float32)

        def sample_task(k: Any) -> jax.Array:
            return choices[jax.random.randint(k, (), 0, choices.shape[0])]

        start = time.perf_counter()
        meta = reptile(
            model,
            _task_loss(points, conditioned),
            sample_task,
            key=jax.random.fold_in(key, 2),
            outer_steps=s["outer_steps"],
            config=Reptile(
                inner_steps=s["inner_steps"],
                inner_learning_rate=learning_rate,
                outer_step_size=s["outer_step_size"],
            ),
        )
        meta_seconds = time.perf_counter() - start
        log(
            f"Reptile: {meta_seconds:.1f} s, task loss after inner steps "
            f"{meta.history['loss_after'][-1]:.3e}"
        )
        options = {
            "learning_rate": learning_rate,
            "target": target,
            "max_steps": s["max_steps"],
            "eval_every": s["eval_every"],
            "conditioned": conditioned,
        }
        pretrained: dict[int, Any] = {}
        rows = []
        for nu in held_out:
            with jax.enable_x64(True):
                x, t, u = burgers_reference(nu, num_x=128, num_t=50, dtype=jnp.float64)
                grid = np.asarray(space_time_points(x, t))
                values = np.asarray(u).reshape(-1)
            reference = (jnp.asarray(grid, jnp.float32), jnp.asarray(values, jnp.float32))
            nearest = int(np.argmin(np.abs(np.log(training) - np.log(nu))))
            if nearest not in pretrained:
                _, pretrained[nearest], _ = steps_to_target(
                    model,
                    float(training[nearest]),
                    points,
                    reference,
                    learning_rate=learning_rate,
                    target=0.0 + 1e-30,
                    max_steps=s["pretrain_steps"],
                    eval_every=s["eval_every"],
                    conditioned=conditioned,
                )
            row: dict[str, Any] = {"viscosity": nu, "nearest_trained": float(training[nearest])}
            for name, init in (
                ("reptile", meta.params),
                ("default", model),
                ("transfer", pretrained[nearest]),
            ):
                steps, _, errors = steps_to_target(init, nu, points, reference, **options)
                row[name] = {
                    "steps": steps,
                    "initial_rel_l2": errors[0],
                    "final_rel_l2": errors[-1],
                }
            log(str(row))
            rows.append(row)
        return Measured({"rows": rows, "meta": meta.history}, meta_seconds)

    def error(out: dict[str, Any]) -> dict[str, Any]:
        rows = out["rows"]
        return {
            f"final_rel_l2_median.{name}": statistics.median(r[name]["final_rel_l2"] for r in rows)
            for name in ("reptile", "default", "transfer")
        }

    def figures(out: dict[str, Any]) -> dict[str, Any]:
        rows = out["rows"]
        medians = {
            name: _median_steps([r[name]["steps"] for r in rows])
            for name in ("reptile", "default", "transfer")
        }
        ratio = bound = None
        if medians["reptile"] is not None and medians["default"] is not None:
            ratio = medians["default"] / max(medians["reptile"], 1)
        elif medians["reptile"] is not None:  # the default did not get there within the cap
            bound = s["max_steps"] / max(medians["reptile"], 1)
        return {
            "steps_to_1e-2": medians,
            "reptile_fewer_steps_factor": ratio,
            "reptile_fewer_steps_factor_at_least": bound,
            "held_out_viscosities": held_out,
            "training_viscosities": [float(v) for v in training],
            "by_viscosity": rows,
            "initial_rel_l2_median": {
                name: statistics.median(r[name]["initial_rel_l2"] for r in rows)
                for name in ("reptile", "default", "transfer")
            },
            "meta_task_loss_first_last": [
                float(out["meta"]["loss_after"][0]),
                float(out["meta"]["loss_after"][-1]),
            ],
            "settings": {**s, "learning_rate": learning_rate, "target": target, "seed": seed},
        }

    return Case(
        warmup=False,
        run=run,
        error=error,
        reference="the Cole-Hopf solution for each held-out viscosity on a 128 x 50 grid of "
        "[-1, 1] x [0, 0.99]; seconds: Reptile meta-training time",
        figures=figures,
        peer_missing="no peer: the comparison is between initialisations, in the same run",
    )


pinn_meta_burgers = Benchmark(
    name="pinn-meta-burgers",
    description="Reptile-initialised Burgers PINNs (nu in [0.005/pi, 0.05/pi]): Adam steps to "
    "rel L2 < 1e-2 on held-out viscosities from the Reptile, default and transferred "
    "initialisations (use --repeats 1)",
    params={
        "preset": "full",
        "seed": 0,
        "learning_rate": 1e-3,
        "target": 1e-2,
        "conditioned": False,
    },
    setup=_setup_meta,
)
