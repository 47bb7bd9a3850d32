r"""Reptile meta-learning of an initialisation over a parameterised family of PINN problems.

Reptile (Nichol, Achiam and Schulman 2018) learns parameters $\theta$ from which a few
optimiser steps on any task of a family reach a good solution. Each outer step samples a task
$\mathcal T_i$ (e.g. a viscosity), runs $k$ inner steps of Adam or SGD on its loss
$L_{\mathcal T_i}$ from $\theta$ to $\phi_i$, and moves the initialisation towards the result,

$$\theta \leftarrow \theta + \varepsilon\,(\bar\phi - \theta), \qquad
\bar\phi = \frac1B \sum_{i=1}^B \phi_i,$$

with $B$ tasks per outer step and $\varepsilon$ decayed linearly to zero when asked (the
paper's schedule). For PINNs the task losses are physics losses (Liu, Zhang, Chen and Wang
2022 meta-learn PINN initialisations this way). Everything is a pure function: the outer
step is one jitted call of ``(state, key) -> (state, aux)``; a run is a function of its key.

References:
    Nichol, Achiam and Schulman (2018), "On first-order meta-learning algorithms",
    arXiv:1803.02999.
    Liu, Zhang, Chen and Wang (2022), "A novel meta-learning initialization method for
    physics-informed neural networks", Neural Comput. Appl. 34, 14511-14534.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from dmech._checks import check_int, check_positive_float
from dmech._custom_types import Array, Float, Int, Key, PyTree

__all__ = ["Reptile", "ReptileResult", "ReptileState", "adapt", "reptile"]

TaskLoss = Callable[[PyTree, PyTree], Array]
TaskSampler = Callable[[Key], PyTree]


@dataclasses.dataclass(frozen=True)
class Reptile:
    r"""The Reptile configuration (static: hashable, one compilation per configuration).

    Attributes:
        inner_steps: $k$, optimiser steps on a task per outer step.
        inner_learning_rate: the inner optimiser's learning rate.
        outer_step_size: $\varepsilon \in (0, 1]$.
        inner_optimizer: ``"adam"`` (a fresh state per task) or ``"sgd"``.
        tasks_per_step: $B$, tasks averaged per outer step (run with ``jax.vmap``).
        anneal: decay $\varepsilon$ linearly to zero over ``outer_steps`` (given to
            :func:`reptile`).
    """

    inner_steps: int = 20
    inner_learning_rate: float = 1e-3
    outer_step_size: float = 0.1
    inner_optimizer: str = "adam"
    tasks_per_step: int = 1
    anneal: bool = True

    def __post_init__(self) -> None:
        check_int(self.inner_steps, "inner_steps")
        check_positive_float(self.inner_learning_rate, "inner_learning_rate")
        check_positive_float(self.outer_step_size, "outer_step_size", upper=1.0)
        if self.inner_optimizer not in ("adam", "sgd"):
            raise ValueError(
                f"`inner_optimizer` must be 'adam' or 'sgd'; got {self.inner_optimizer!r}."
            )
        check_int(self.tasks_per_step, "tasks_per_step")

    def optimizer(self) -> optax.GradientTransformation:
        """The inner optimiser."""
        if self.inner_optimizer == "adam":
            return optax.adam(self.inner_learning_rate)
        return optax.sgd(self.inner_learning_rate)


class ReptileState(eqx.Module):
    """The outer state: the initialisation's trainable leaves and the outer step count.

    Attributes:
        params: the trainable part of the parameters (``equinox.partition``'s first half).
        step: the number of outer steps taken, a scalar int32 array.
    """

    params: PyTree
    step: Int[Array, ""]


def adapt(
    params: PyTree,
    task_loss: TaskLoss,
    task: PyTree,
    *,
    steps: int,
    optimizer: optax.GradientTransformation,
    trainable: Any = eqx.is_inexact_array,
) -> tuple[PyTree, Float[Array, " steps"]]:
    r"""``steps`` optimiser steps on one task's loss from ``params`` (the inner loop).

    Args:
        params: the parameters (a pytree, e.g. an equinox Module).
        task_loss: ``L(params, task)``, a scalar.
        task: the task (a pytree of arrays, e.g. a viscosity).
        steps: the number of steps.
        optimizer: an optax transformation (a fresh state).
        trainable: an equinox filter selecting the trained leaves.

    Returns:
        ``(params, losses)``: the adapted parameters and the loss before each step, shape
        ``(steps,)``.
    """
    diff, static = eqx.partition(params, trainable)

    def loss_of(d: PyTree) -> Array:
        return task_loss(eqx.combine(d, static), task)

    with jax.numpy_dtype_promotion("standard"):
        state = optimizer.init(diff)

    def body(carry: tuple[PyTree, Any], _: None) -> tuple[tuple[PyTree, Any], Array]:
        d, s = carry
        loss, grads = jax.value_and_grad(loss_of)(d)
        with jax.numpy_dtype_promotion("standard"):
            updates, s = optimizer.update(grads, s, d)
            d = eqx.apply_updates(d, updates)
        return (d, s), loss

    (diff, _), losses = jax.lax.scan(body, (diff, state), None, length=steps)
    return eqx.combine(diff, static), losses


@eqx.filter_jit
def _outer_steps(
    config: Reptile,
    task_loss: TaskLoss,
    sample_task: TaskSampler,
    state: ReptileState,
    static: PyTree,
    key: Key,
    count: int,
    total: Int[Array, ""],
) -> tuple[ReptileState, dict[str, Array]]:
    """``count`` outer steps in one ``jax.lax.scan``."""
    optimizer = config.optimizer()

    def one_task(diff: PyTree, task_key: Key) -> tuple[PyTree, Array]:
        task = sample_task(task_key)
        adapted, losses = adapt(
            diff,
            lambda d, t: task_loss(eqx.combine(d, static), t),
            task,
            steps=config.inner_steps,
            optimizer=optimizer,
        )
        return adapted, losses

    def body(state: ReptileState, _: None) -> tuple[ReptileState, dict[str, Array]]:
        keys = jax.random.split(jax.random.fold_in(key, state.step), config.tasks_per_step)
        adapted, losses = jax.vmap(one_task, in_axes=(None, 0))(state.params, keys)
        mean = jax.tree_util.tree_map(lambda a: jnp.mean(a, axis=0), adapted)
        dtype = jax.tree_util.tree_leaves(state.params)[0].dtype
        epsilon = jnp.asarray(config.outer_step_size, dtype)
        if config.anneal:
            progress = state.step.astype(dtype) / jnp.maximum(total, 1).astype(dtype)
            epsilon = epsilon * (1 - progress)
        params = jax.tree_util.tree_map(lambda t, p: t + epsilon * (p - t), state.params, mean)
        aux = {"loss_before": jnp.mean(losses[:, 0]), "loss_after": jnp.mean(losses[:, -1])}
        return ReptileState(params, state.step + 1), aux

    return jax.lax.scan(body, state, None, length=count)


@dataclasses.dataclass(frozen=True)
class ReptileResult:
    """What :func:`reptile` returns.

    Attributes:
        params: the meta-learned initialisation (the whole pytree).
        history: per outer step, ``"loss_before"`` and ``"loss_after"`` (the task losses at
            the start and at the last inner step, averaged over the step's tasks), numpy.
    """

    params: PyTree
    history: dict[str, np.ndarray]


def reptile(
    params: PyTree,
    task_loss: TaskLoss,
    sample_task: TaskSampler,
    *,
    key: Key,
    outer_steps: int,
    config: Reptile | None = None,
    trainable: Any = eqx.is_inexact_array,
    steps_per_call: int = 50,
) -> ReptileResult:
    r"""Meta-learn an initialisation by Reptile (see the module docstring).

    Args:
        params: the initial parameters (a pytree; an equinox Module).
        task_loss: ``L(params, task)``, a scalar: the physics loss of one task.
        sample_task: ``task = sample_task(key)``, a pytree of arrays (traced: jittable).
        key: PRNG key; outer step ``n`` uses ``fold_in(key, n)`` (split over its tasks).
        outer_steps: the number of outer steps.
        config: a :class:`Reptile` (default ``Reptile()``).
        trainable: an equinox filter selecting the meta-learned leaves.
        steps_per_call: outer steps per jitted call.

    Returns:
        A :class:`ReptileResult`.

    Raises:
        ValueError/TypeError: naming the argument, before anything is compiled.
        dmech.train.TrainingDivergedError: when a task loss becomes non-finite (the outer step
            is named).

    Example:
        >>> def task_loss(model, nu):
        ...     return jnp.mean(jax.vmap(lambda x: burgers_residual(model, x, nu))(points) ** 2)
        >>> sample = lambda k: jnp.exp(jax.random.uniform(k, (), minval=lo, maxval=hi))
        >>> init = reptile(model, task_loss, sample, key=jax.random.key(0), outer_steps=500,
        ...                config=Reptile(inner_steps=20, outer_step_size=0.1)).params

    References:
        Nichol, Achiam and Schulman (2018), arXiv:1803.02999.
    """
    from dmech.train import TrainingDivergedError

    if not callable(task_loss):
        raise TypeError(f"`task_loss` must be callable; got {type(task_loss).__name__}.")
    if not callable(sample_task):
        raise TypeError(f"`sample_task` must be callable; got {type(sample_task).__name__}.")
    outer_steps = check_int(outer_steps, "outer_steps")
    steps_per_call = check_int(steps_per_call, "steps_per_call")
    config = Reptile() if config is None else config
    if not isinstance(config, Reptile):
        raise TypeError(f"`config` must be a pinn.Reptile; got {type(config).__name__}.")
    diff, static = eqx.partition(params, trainable)
    if not jax.tree_util.tree_leaves(diff):
        raise ValueError("`trainable` selects no leaves of `params`: nothing to learn.")
    state = ReptileState(diff, jnp.zeros((), jnp.int32))
    total = jnp.asarray(outer_steps, jnp.int32)
    logs: dict[str, list[np.ndarray]] = {"loss_before": [], "loss_after": []}
    done = 0
    while done < outer_steps:
        count = min(steps_per_call, outer_steps - done)
        state, aux = _outer_steps(config, task_loss, sample_task, state, static, key, count, total)
        for name in logs:
            logs[name].append(np.asarray(aux[name]))
        bad = np.flatnonzero(~np.isfinite(logs["loss_after"][-1]))
        if bad.size:
            raise TrainingDivergedError(
                f"a task loss became non-finite at outer step {done + bad[0] + 1}: lower the "
                "inner learning rate"
            )
        done += count
    history = {name: np.concatenate(values) for name, values in logs.items()}
    return ReptileResult(eqx.combine(state.params, static), history)
