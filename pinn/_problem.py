r"""Loss terms of a physics-informed problem and their evaluation.

A problem is a mapping ``{name: Term}``. A :class:`Term` pairs a residual ``r(params, point)``
of one point with where its points come from: a sampler (collocation points of a domain
region) or a fixed set (observations: ``points=(x, y)`` with ``r(params, (x, y)) = u(x) - y``).
Its loss is the (masked) mean over points of the squared residual summed over components,

$$L = \frac{1}{\sum_j m_j}\sum_j m_j \lVert r(\theta, x_j)\rVert^2,$$

or, with causal weighting, the causally weighted mean over time chunks. The weighted sum
$\sum_i \lambda_i L_i$ is what training minimises.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dmech._custom_types import Array, ArrayLike, Float, PyTree

from ._samplers import AbstractSampler

__all__ = [
    "CausalWeighting",
    "Term",
    "causal_weights",
    "evaluate_losses",
    "residual_norms",
    "term_loss",
]


class CausalWeighting(eqx.Module):
    r"""Causal weighting in time (Wang, Sankaran and Perdikaris 2024).

    The term's points are binned by time into $M$ = ``num_chunks`` equal chunks of
    $[t_0, t_1]$; with $L_k$ the mean squared residual of chunk $k$, the loss is

    $$L = \frac1M \sum_{k=1}^{M} w_k L_k,\qquad
    w_k = \exp\Big(-\varepsilon \sum_{i<k} L_i\Big)\ \text{(no gradient through } w),$$

    so a later time is trained only once the earlier ones are resolved (the residual cannot
    "see" a wrong initial condition otherwise). ``w_M`` near one means every chunk trains.

    Attributes:
        num_chunks: $M$.
        epsilon: $\varepsilon > 0$ (the paper uses 1, or a rising schedule).
        t0, t1: the time interval binned.
        time_index: the time coordinate of a point (last by default).

    References:
        Wang, Sankaran and Perdikaris (2024), "Respecting causality for training
        physics-informed neural networks", Comput. Methods Appl. Mech. Engrg. 421, 116813.
    """

    num_chunks: int = eqx.field(static=True)
    epsilon: float = eqx.field(static=True)
    t0: float = eqx.field(static=True)
    t1: float = eqx.field(static=True)
    time_index: int = eqx.field(static=True)

    def __init__(
        self,
        num_chunks: int,
        epsilon: float,
        t0: float,
        t1: float,
        *,
        time_index: int = -1,
    ):
        """Raises:
        ValueError/TypeError: naming the argument.
        """
        if isinstance(num_chunks, bool) or not isinstance(num_chunks, int) or num_chunks < 1:
            raise ValueError(f"`num_chunks` must be a positive int; got {num_chunks!r}.")
        if not (isinstance(epsilon, numbers.Real) and math.isfinite(epsilon) and epsilon > 0):
            raise ValueError(f"`epsilon` must be a positive number; got {epsilon!r}.")
        if not (isinstance(t1, numbers.Real) and isinstance(t0, numbers.Real) and t1 > t0):
            raise ValueError(f"`t1` must exceed `t0`; got t0={t0!r}, t1={t1!r}.")
        if isinstance(time_index, bool) or not isinstance(time_index, int):
            raise TypeError(f"`time_index` must be an int; got {type(time_index).__name__}.")
        self.num_chunks = num_chunks
        self.epsilon = float(epsilon)
        self.t0 = float(t0)
        self.t1 = float(t1)
        self.time_index = time_index

    def chunk_of(self, points: Float[Array, "n d"]) -> Array:
        """The chunk index of each point, shape ``(n,)``, in ``[0, num_chunks)``."""
        t = points[:, self.time_index]
        scaled = (t - self.t0) * (self.num_chunks / (self.t1 - self.t0))
        return jnp.clip(jnp.floor(scaled).astype(jnp.int32), 0, self.num_chunks - 1)


def causal_weights(chunk_losses: Float[ArrayLike, " m"], epsilon: float) -> Float[Array, " m"]:
    r"""The causal weights $w_k = \exp(-\varepsilon \sum_{i<k} L_i)$, without gradient.

    Args:
        chunk_losses: $L_1, \dots, L_M$, shape ``(M,)``.
        epsilon: $\varepsilon > 0$.

    Returns:
        $w$, shape ``(M,)``, $w_1 = 1$, non-increasing.

    Raises:
        ValueError: naming ``chunk_losses`` when it is not a vector.

    References:
        Wang, Sankaran and Perdikaris (2024), Comput. Methods Appl. Mech. Engrg. 421, 116813.
    """
    losses = jnp.asarray(chunk_losses)
    if losses.ndim != 1:
        raise ValueError(f"`chunk_losses` must be a vector; got shape {losses.shape}.")
    losses = jax.lax.stop_gradient(losses)
    before = jnp.cumsum(losses) - losses  # Σ_{i<k} L_i
    return jax.lax.stop_gradient(jnp.exp(-jnp.asarray(epsilon, losses.dtype) * before))


class Term(eqx.Module):
    r"""One loss term: a residual and its points (see the module docstring).

    Attributes:
        residual: ``r(params, point)``, one point in, an array of any shape out.
        sampler: a :class:`pinn.AbstractSampler` (collocation points), or ``None``.
        points: a fixed pytree of arrays with a leading axis (observations), or ``None``.
        causal: a :class:`CausalWeighting`, or ``None``.
        weight: the initial weight $\lambda$ (adaptive weighting updates it).

    Example:
        >>> pde = Term(residual, sampler=Sampler(domain, 4096, method="sobol", every=1))
        >>> data = Term(lambda p, obs: u(p, obs[0]) - obs[1], points=(x_obs, u_obs))
    """

    residual: Callable[[Any, Any], Array] = eqx.field(static=True)
    sampler: AbstractSampler | None
    points: PyTree | None
    causal: CausalWeighting | None
    weight: float = eqx.field(static=True)

    def __init__(
        self,
        residual: Callable[[Any, Any], Array],
        *,
        sampler: AbstractSampler | None = None,
        points: PyTree | None = None,
        causal: CausalWeighting | None = None,
        weight: float = 1.0,
    ):
        """Raises:
        TypeError/ValueError: naming the argument: ``residual`` not callable, neither or
            both of ``sampler`` and ``points``, points without a common leading axis,
            ``causal`` on a pytree of points, a non-positive ``weight``.
        """
        if not callable(residual):
            raise TypeError(f"`residual` must be callable; got {type(residual).__name__}.")
        if (sampler is None) == (points is None):
            raise ValueError("give exactly one of `sampler` and `points`.")
        if sampler is not None and not isinstance(sampler, AbstractSampler):
            raise TypeError(f"`sampler` must be a pinn sampler; got {type(sampler).__name__}.")
        if points is not None:
            leaves = jax.tree_util.tree_leaves(points)
            if not leaves:
                raise ValueError("`points` holds no arrays.")
            sizes = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in leaves}
            if None in sizes or len(sizes) != 1 or 0 in sizes:
                raise ValueError(
                    f"`points` must be arrays sharing a non-empty leading axis; got leading "
                    f"sizes {sorted(str(s) for s in sizes)}."
                )
            points = jax.tree_util.tree_map(jnp.asarray, points)
            if causal is not None and not isinstance(points, jax.Array):
                raise ValueError("`causal` needs `points` to be one array of shape (n, d).")
        if causal is not None and not isinstance(causal, CausalWeighting):
            raise TypeError(f"`causal` must be a CausalWeighting; got {type(causal).__name__}.")
        if not (isinstance(weight, numbers.Real) and math.isfinite(weight) and weight > 0):
            raise ValueError(f"`weight` must be a positive number; got {weight!r}.")
        self.residual = residual
        self.sampler = sampler
        self.points = points
        self.causal = causal
        self.weight = float(weight)

    def num_points(self) -> int:
        """The number of point slots (the sampler's capacity, or the fixed set's size)."""
        if self.sampler is not None:
            return self.sampler.num_points
        return int(np.shape(jax.tree_util.tree_leaves(self.points)[0])[0])


def residual_norms(residual: Callable[[Any, Any], Array], params: Any, points: PyTree) -> Array:
    r"""$\lVert r(\theta, x_j)\rVert^2$ (summed over the residual's components) at every point,
    shape ``(n,)``."""
    values = jax.vmap(residual, in_axes=(None, 0))(params, points)
    values = jnp.reshape(values, (values.shape[0], -1))
    return jnp.sum(values * values, axis=1)


def term_loss(term: Term, params: Any, points: PyTree, mask: Array) -> tuple[Array, Array]:
    r"""The loss of one term and, for a causal term, its last causal weight $w_M$ (else 1).

    Args:
        term: the :class:`Term`.
        params: the parameters passed to the residual.
        points: its points, leading axis ``n``.
        mask: shape ``(n,)``, one for points in use.

    Returns:
        ``(loss, last_weight)``, scalars.
    """
    squared = residual_norms(term.residual, params, points)
    mask = mask.astype(squared.dtype)
    if term.causal is None:
        loss = jnp.sum(mask * squared) / jnp.maximum(jnp.sum(mask), 1)
        return loss, jnp.ones((), squared.dtype)
    causal = term.causal
    chunk = causal.chunk_of(points)
    sums = jax.ops.segment_sum(mask * squared, chunk, num_segments=causal.num_chunks)
    counts = jax.ops.segment_sum(mask, chunk, num_segments=causal.num_chunks)
    chunk_losses = sums / jnp.maximum(counts, 1)
    weights = causal_weights(chunk_losses, causal.epsilon)
    return jnp.mean(weights * chunk_losses), weights[-1]


def evaluate_losses(
    terms: Mapping[str, Term],
    params: Any,
    points: Mapping[str, PyTree],
    masks: Mapping[str, Array],
) -> tuple[dict[str, Array], dict[str, Array]]:
    """Every term's loss, and the last causal weight of each causal term.

    Returns:
        ``(losses, causal)``: ``{name: scalar}`` for every term, and
        ``{name: w_M}`` for the causal ones.
    """
    losses: dict[str, Array] = {}
    causal: dict[str, Array] = {}
    for name, term in terms.items():
        losses[name], last = term_loss(term, params, points[name], masks[name])
        if term.causal is not None:
            causal[name] = last
    return losses, causal
