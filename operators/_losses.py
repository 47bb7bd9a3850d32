r"""Losses and training helpers for the neural operators, for use with `dmech.train.fit`.

`fit(model, loss_fn, optimizer, data, ...)` calls `loss_fn(model, batch, key)`; the factories
here build such functions for the usual layouts of operator data, and `step_decay_adam` is
the optimiser of Li et al. (2021). Checkpoints and resume come from `fit` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from dmech._checks import check_int, check_positive_float
from dmech._custom_types import Array, ArrayLike, Float, Key, PyTree, Scalar

from ._fno import rollout_fno

__all__ = [
    "deeponet_loss",
    "relative_l2_error",
    "relative_l2_loss",
    "rollout_loss",
    "step_decay_adam",
    "step_decay_schedule",
    "supervised_loss",
]

LossFn = Callable[[PyTree, PyTree, Key], Any]
Predict = Callable[[PyTree, Any], Array]


def _check_pair(pred: object, target: object) -> tuple[Array, Array]:
    pred, target = jnp.asarray(pred), jnp.asarray(target)
    if pred.ndim < 2:
        raise ValueError(
            f"`pred` must have shape (batch, ...) with at least one axis per sample; got "
            f"{pred.shape}."
        )
    if pred.shape != target.shape:
        raise ValueError(
            f"`pred` and `target` must have the same shape; got {pred.shape} and {target.shape}."
        )
    return pred, target.astype(pred.dtype)


def relative_l2_error(
    pred: Float[ArrayLike, "..."], target: Float[ArrayLike, "..."]
) -> Float[Array, "..."]:
    r"""Relative L2 error of every sample: $\|p_b - t_b\|_2 / \|t_b\|_2$.

    The norms are over all axes but the first (channels and grid points together); on a
    uniform grid the quadrature weights cancel, so this is the relative $L^2$ norm of the
    functions.

    Args:
        pred: predictions, shape `(batch, ...)`.
        target: reference values, the same shape (cast to `pred`'s dtype).

    Returns:
        Shape `(batch,)`. A zero target gives `inf` (or `nan` for a zero error).

    Raises:
        ValueError: naming `pred`/`target`, for shapes that differ or lack a batch axis.
    """
    pred, target = _check_pair(pred, target)
    axes = tuple(range(1, pred.ndim))
    return jnp.sqrt(jnp.sum((pred - target) ** 2, axis=axes) / jnp.sum(target**2, axis=axes))


def relative_l2_loss(pred: Float[ArrayLike, "..."], target: Float[ArrayLike, "..."]) -> Scalar:
    r"""The FNO paper's loss: the per-sample relative L2 error averaged over the batch.

    $$L = \frac{1}{B} \sum_{b=1}^{B} \frac{\|p_b - t_b\|_2}{\|t_b\|_2}.$$

    (The reference code sums over the batch and divides by the number of samples when it
    reports the error; the mean is the same number, and keeps learning rates independent of
    the batch size.)

    Args:
        pred: predictions, shape `(batch, ...)`.
        target: reference values, the same shape.

    Returns:
        A scalar in `pred`'s dtype.

    Raises:
        ValueError: naming `pred`/`target`, for shapes that differ or lack a batch axis.

    Example:
        >>> import jax.numpy as jnp
        >>> float(relative_l2_loss(jnp.array([[1.0, 1.0]]), jnp.array([[1.0, 0.0]])))
        1.0

    References:
        Li et al. (2021), "Fourier neural operator for parametric partial differential
        equations", ICLR (the `LpLoss` of the released code with p = 2).
    """
    return jnp.mean(relative_l2_error(pred, target))


def _default_predict(model: PyTree, inputs: Array) -> Array:
    return jax.vmap(model)(inputs)


def supervised_loss(
    predict: Predict | None = None,
    *,
    loss: Callable[[Array, Array], Array] = relative_l2_loss,
) -> LossFn:
    """A `loss_fn(model, batch, key)` for `dmech.train.fit` on pairs `(inputs, targets)`.

    `batch = (inputs, targets)`; the loss is `loss(predict(model, inputs), targets)` with,
    by default, `predict = jax.vmap(model)`: inputs `(batch, in_channels, *spatial)` to
    predictions `(batch, out_channels, *spatial)` for the FNO and the U-Net, or
    `(batch, num_sensors)` to `(batch, num_points)` for a POD-DeepONet. The key is unused
    (deterministic models).

    Args:
        predict: `predict(model, inputs) -> predictions`, batched; default `jax.vmap(model)`.
        loss: `loss(predictions, targets) -> scalar`; default `relative_l2_loss`.

    Returns:
        The loss function.

    Example:
        >>> import jax, optax
        >>> from dmech.train import fit
        >>> # result = fit(model, supervised_loss(), step_decay_adam(steps_per_epoch=50),
        >>> #              (inputs, targets), key=jax.random.key(0), steps=500 * 50,
        >>> #              batch_size=20)
    """
    predict_fn = _default_predict if predict is None else predict

    def loss_fn(model: PyTree, batch: PyTree, key: Key | None) -> Array:
        del key
        inputs, targets = batch
        return loss(predict_fn(model, inputs), targets)

    return loss_fn


def deeponet_loss(
    query_points: Float[ArrayLike, "..."],
    *,
    loss: Callable[[Array, Array], Array] = relative_l2_loss,
) -> LossFn:
    """A `loss_fn` for a `DeepONet` trained on outputs at fixed query points.

    `batch = (sensor_values, targets)` with `sensor_values` of shape `(batch, num_sensors)`
    and `targets` of shape `(batch, num_points, num_outputs)`; the prediction evaluates the
    branch net once per sample and the trunk net once per query point
    (`DeepONet.evaluate`). For query points that differ between samples, write the
    prediction with `jax.vmap(model)` over `(u, y)` pairs and use `supervised_loss`.

    Args:
        query_points: shape `(num_points, query_size)`, shared by all samples.
        loss: `loss(predictions, targets)`; default `relative_l2_loss`.

    Returns:
        The loss function.

    Raises:
        ValueError: naming `query_points`, if it is not two-dimensional.
    """
    query_points = jnp.asarray(query_points)
    if query_points.ndim != 2:
        raise ValueError(
            f"`query_points` must have shape (num_points, query_size); got {query_points.shape}."
        )

    def predict(model: PyTree, sensor_values: Array) -> Array:
        return jax.vmap(model.evaluate, in_axes=(0, None))(sensor_values, query_points)

    return supervised_loss(predict, loss=loss)


def rollout_loss(
    steps: int,
    *,
    loss: Callable[[Array, Array], Array] = relative_l2_loss,
    checkpoint: bool = False,
    unroll: bool = False,
) -> LossFn:
    """A `loss_fn` for a recurrent field predictor trained through its autoregressive rollout.

    `batch = (w_in, w_out)` with the input windows `(batch, T, *spatial)` and the next
    `steps` snapshots `(batch, steps, *spatial)`; predictions come from `rollout_fno`, and
    the loss compares whole trajectories (as the FNO-2D of Li et al. 2021 for Navier-Stokes).

    Args:
        steps: number of predicted snapshots, a positive int.
        loss: `loss(predictions, targets)`; default `relative_l2_loss`.
        checkpoint: rematerialise each model call in the backward pass.
        unroll: unroll the rollout (see `rollout_fno`).

    Returns:
        The loss function.
    """
    steps = check_int(steps, "steps")

    def predict(model: PyTree, w_in: Array) -> Array:
        return jax.vmap(
            lambda w: rollout_fno(model, w, steps, checkpoint=checkpoint, unroll=unroll)
        )(w_in)

    return supervised_loss(predict, loss=loss)


def step_decay_schedule(
    steps_per_epoch: int,
    *,
    learning_rate: float = 1e-3,
    decay_rate: float = 0.5,
    decay_every_epochs: int = 100,
) -> optax.Schedule:
    r"""Piecewise-constant learning rate $\eta_k = \eta_0\, \gamma^{\lfloor k / (E s) \rfloor}$.

    $k$ is the optimisation step, $s$ = `steps_per_epoch`, $E$ = `decay_every_epochs`,
    $\gamma$ = `decay_rate` (PyTorch's `StepLR` stepped once per epoch, as in Li et al. 2021:
    $\eta_0 = 10^{-3}$, halved every 100 epochs).

    Args:
        steps_per_epoch: optimisation steps per epoch (`num_train // batch_size` with `fit`).
        learning_rate: $\eta_0 > 0$.
        decay_rate: $\gamma > 0$.
        decay_every_epochs: $E$, a positive int.

    Returns:
        An optax schedule (step count to learning rate).

    Raises:
        ValueError, TypeError: naming the argument, for non-positive values.
    """
    steps_per_epoch = check_int(steps_per_epoch, "steps_per_epoch")
    decay_every_epochs = check_int(decay_every_epochs, "decay_every_epochs")
    return optax.exponential_decay(
        init_value=check_positive_float(learning_rate, "learning_rate"),
        transition_steps=steps_per_epoch * decay_every_epochs,
        decay_rate=check_positive_float(decay_rate, "decay_rate"),
        staircase=True,
    )


def step_decay_adam(
    steps_per_epoch: int,
    *,
    learning_rate: float = 1e-3,
    decay_rate: float = 0.5,
    decay_every_epochs: int = 100,
    weight_decay: float = 1e-4,
) -> optax.GradientTransformation:
    r"""The optimiser of Li et al. (2021): Adam with L2 weight decay and a step-decay schedule.

    PyTorch's `Adam(weight_decay=λ)` adds $\lambda \theta$ to the gradient before the Adam
    moments (coupled L2, unlike AdamW); here `add_decayed_weights(λ)`, `scale_by_adam()` and
    the `step_decay_schedule` learning rate, in that order. Defaults: the paper's
    ($\eta_0 = 10^{-3}$ halved every 100 epochs, $\lambda = 10^{-4}$, for 500 epochs).
    For the F-FNO, Tran et al. (2023) use a cosine schedule instead (`optax.adamw` with
    `optax.cosine_decay_schedule`).

    Args:
        steps_per_epoch: optimisation steps per epoch.
        learning_rate: $\eta_0$.
        decay_rate: $\gamma$.
        decay_every_epochs: epochs between decays.
        weight_decay: $\lambda \ge 0$.

    Returns:
        An optax gradient transformation.

    Raises:
        ValueError, TypeError: naming the argument, for bad values.
    """
    schedule = step_decay_schedule(
        steps_per_epoch,
        learning_rate=learning_rate,
        decay_rate=decay_rate,
        decay_every_epochs=decay_every_epochs,
    )
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, int | float):
        raise TypeError(f"`weight_decay` must be a float >= 0; got {weight_decay!r}.")
    if not weight_decay >= 0:
        raise ValueError(f"`weight_decay` must be >= 0; got {weight_decay!r}.")
    transforms = [optax.scale_by_adam(), optax.scale_by_learning_rate(schedule)]
    if weight_decay > 0:
        transforms.insert(0, optax.add_decayed_weights(float(weight_decay)))
    return optax.chain(*transforms)
