r"""Adaptive loss weights: by gradient norms and by the neural tangent kernel's trace.

Both set the weights $\lambda_i$ of $\sum_i \lambda_i L_i$ so that every term pulls on the
parameters about equally, recomputed every ``every`` steps and smoothed with momentum $m$:
$\lambda \leftarrow m \lambda + (1 - m) \hat\lambda$.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from dmech._custom_types import Array, PyTree

from ._problem import Term, term_loss

__all__ = [
    "GradientNormWeighting",
    "NTKWeighting",
    "gradient_norm_weights",
    "ntk_traces",
    "ntk_weights",
]


def _check_every_momentum(every: object, momentum: object) -> tuple[int, float]:
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"`every` must be a positive int; got {every!r}.")
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real):
        raise ValueError(f"`momentum` must be in [0, 1); got {momentum!r}.")
    if not 0 <= float(momentum) < 1:
        raise ValueError(f"`momentum` must be in [0, 1); got {momentum!r}.")
    return every, float(momentum)


def _tree_norm(tree: PyTree) -> Array:
    leaves = [jnp.sum(jnp.square(leaf)) for leaf in jax.tree_util.tree_leaves(tree)]
    return jnp.sqrt(sum(leaves[1:], leaves[0]))


def _balance(sizes: Mapping[str, Array]) -> dict[str, Array]:
    r"""$\hat\lambda_i = \sum_j s_j / s_i$ (a size that is zero gets the largest finite
    weight of the others, or one)."""
    values = jnp.stack(list(sizes.values()))
    total = jnp.sum(values)
    tiny = jnp.finfo(values.dtype).tiny
    raw = total / jnp.maximum(values, tiny)
    ok = values > 0
    fallback = jnp.where(jnp.any(ok), jnp.max(jnp.where(ok, raw, 0)), 1)
    weights = jnp.where(ok, raw, fallback)
    return {name: weights[i] for i, name in enumerate(sizes)}


def gradient_norm_weights(gradients: Mapping[str, PyTree]) -> dict[str, Array]:
    r"""Weights that equalise the gradient norms of the terms (Wang et al. 2023),

    $$\hat\lambda_i = \frac{\sum_j \lVert\nabla_\theta L_j\rVert}{\lVert\nabla_\theta L_i\rVert},$$

    so that $\lVert\hat\lambda_i \nabla L_i\rVert = \sum_j \lVert\nabla L_j\rVert$ for every
    term.

    Args:
        gradients: ``{name: ∇_θ L_name}``, pytrees of the same structure.

    Returns:
        ``{name: λ̂_name}``, scalars.

    Raises:
        ValueError: naming ``gradients`` when it is empty.

    References:
        Wang, Wang, Bhartari and Perdikaris (2023), "An expert's guide to training
        physics-informed neural networks", arXiv:2308.08468.
    """
    if not gradients:
        raise ValueError("`gradients` must name at least one term.")
    return _balance({name: _tree_norm(g) for name, g in gradients.items()})


def ntk_traces(
    terms: Mapping[str, Term],
    params: Any,
    points: Mapping[str, PyTree],
    masks: Mapping[str, Array],
    trainable: PyTree,
) -> dict[str, Array]:
    r"""The mean diagonal of each term's neural tangent kernel,

    $$\operatorname{tr}(K_i)/N_i = \frac{1}{N_i}\sum_{j} \Big\lVert
    \frac{\partial r_i(\theta, x_j)}{\partial \theta}\Big\rVert^2,$$

    over the (masked) points given, with one reverse pass per point (``jax.vmap`` of
    ``jax.jacrev``); pass a subset of the points to bound the cost.

    Args:
        terms: the terms.
        params: the parameters (a pytree).
        points, masks: per term, the points (leading axis ``n``) and their mask ``(n,)``.
        trainable: an equinox filter spec (pytree of bools, or a callable) selecting the
            parameters $\theta$ the kernel is taken over.

    Returns:
        ``{name: tr(K)/N}``, scalars.
    """
    diff, static = eqx.partition(params, trainable)
    traces: dict[str, Array] = {}
    for name, term in terms.items():

        def residual(d: Any, point: Any, term: Term = term) -> Array:
            return term.residual(eqx.combine(d, static), point)

        def per_point(point: Any, residual: Any = residual) -> Array:
            jac = jax.jacrev(residual)(diff, point)
            return _tree_norm(jac) ** 2

        values = jax.vmap(per_point)(points[name])
        mask = masks[name].astype(values.dtype)
        traces[name] = jnp.sum(mask * values) / jnp.maximum(jnp.sum(mask), 1)
    return traces


def ntk_weights(traces: Mapping[str, Array]) -> dict[str, Array]:
    r"""Weights from the NTK traces (Wang, Yu and Perdikaris 2022),
    $\hat\lambda_i = \sum_j \operatorname{tr}(K_j) / \operatorname{tr}(K_i)$: every term's
    kernel then has the same trace, so its residual converges at the same rate in the
    kernel regime.

    Args:
        traces: ``{name: tr(K_name)}`` (e.g. from :func:`ntk_traces`).

    Returns:
        ``{name: λ̂_name}``.

    Raises:
        ValueError: naming ``traces`` when it is empty.

    References:
        Wang, Yu and Perdikaris (2022), "When and why PINNs fail to train: a neural tangent
        kernel perspective", J. Comput. Phys. 449, 110768.
    """
    if not traces:
        raise ValueError("`traces` must name at least one term.")
    return _balance(dict(traces))


class GradientNormWeighting(eqx.Module):
    r"""Loss weights by gradient norms (:func:`gradient_norm_weights`), recomputed every
    ``every`` steps, $\lambda \leftarrow m\lambda + (1-m)\hat\lambda$.

    Attributes:
        every: steps between updates (the paper: 1000).
        momentum: $m \in [0, 1)$ (the paper: 0.9).
    """

    every: int = eqx.field(static=True)
    momentum: float = eqx.field(static=True)

    def __init__(self, every: int = 1000, momentum: float = 0.9):
        """Raises:
        ValueError: naming ``every`` or ``momentum``.
        """
        self.every, self.momentum = _check_every_momentum(every, momentum)

    def target(
        self,
        terms: Mapping[str, Term],
        params: Any,
        points: Mapping[str, PyTree],
        masks: Mapping[str, Array],
        trainable: PyTree,
    ) -> dict[str, Array]:
        """$\\hat\\lambda$ at the current parameters."""
        diff, static = eqx.partition(params, trainable)
        gradients = {}
        for name, term in terms.items():

            def loss(d: Any, term: Term = term, name: str = name) -> Array:
                return term_loss(term, eqx.combine(d, static), points[name], masks[name])[0]

            gradients[name] = jax.grad(loss)(diff)
        return gradient_norm_weights(gradients)


class NTKWeighting(eqx.Module):
    r"""Loss weights by NTK traces (:func:`ntk_weights`), recomputed every ``every`` steps
    on at most ``num_points`` points per term, $\lambda \leftarrow m\lambda + (1-m)\hat\lambda$.

    Attributes:
        every: steps between updates.
        momentum: $m \in [0, 1)$.
        num_points: points per term for the trace (the first ones of each set; ``None``:
            all).
    """

    every: int = eqx.field(static=True)
    momentum: float = eqx.field(static=True)
    num_points: int | None = eqx.field(static=True)

    def __init__(self, every: int = 1000, momentum: float = 0.9, num_points: int | None = 256):
        """Raises:
        ValueError: naming ``every``, ``momentum`` or ``num_points``.
        """
        self.every, self.momentum = _check_every_momentum(every, momentum)
        if num_points is not None and (
            isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 1
        ):
            raise ValueError(f"`num_points` must be a positive int or None; got {num_points!r}.")
        self.num_points = num_points

    def target(
        self,
        terms: Mapping[str, Term],
        params: Any,
        points: Mapping[str, PyTree],
        masks: Mapping[str, Array],
        trainable: PyTree,
    ) -> dict[str, Array]:
        """$\\hat\\lambda$ at the current parameters."""
        if self.num_points is not None:
            m = self.num_points
            points = {
                k: jax.tree_util.tree_map(lambda leaf: leaf[:m], v) for k, v in points.items()
            }
            masks = {k: v[:m] for k, v in masks.items()}
        return ntk_weights(ntk_traces(terms, params, points, masks, trainable))


def smooth_weights(
    old: Mapping[str, Array], new: Mapping[str, Array], momentum: float
) -> dict[str, Array]:
    """$m\\,\\lambda_{old} + (1 - m)\\,\\hat\\lambda$ per term."""
    return {
        name: (momentum * old[name] + (1 - momentum) * new[name]).astype(old[name].dtype)
        for name in old
    }
