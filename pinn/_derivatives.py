r"""Derivatives of a field ``f: x ↦ f(x)`` at one point, by forward-mode automatic
differentiation.

A PINN residual needs derivatives of the network with respect to its few input coordinates
(space and time, ``d ≤ 4``): forward mode costs one pass per direction and nests without the
memory of reverse mode, so every helper here is built on ``jax.jvp`` (``jax.jacfwd`` for full
gradients). Write a residual for a network ``u(params, x)`` with ``f = lambda y: u(params, y)``
or ``functools.partial(u, params)``; batch over points with ``jax.vmap``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from dmech._custom_types import Array, ArrayLike, Float

__all__ = [
    "directional_derivatives",
    "divergence",
    "gradient",
    "hessian",
    "laplacian",
    "partial_derivative",
]


def _point(x: object) -> Array:
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise ValueError(
            f"`x` must be one point, a vector of shape (d,); got shape {x.shape}. "
            "Use jax.vmap over points."
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"`x` must be a floating array; got dtype {x.dtype}.")
    return x


def _index(index: object, dim: int, argname: str) -> int:
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise TypeError(f"`{argname}` must be an int; got {type(index).__name__}.")
    if not -dim <= int(index) < dim:
        raise ValueError(f"`{argname}` must be a coordinate index in [0, {dim}); got {index}.")
    return int(index) % dim


def _unit(dim: int, index: int, dtype: Any) -> Array:
    return jnp.zeros(dim, dtype).at[index].set(1)


def directional_derivatives(
    f: Callable[[Array], Array],
    x: Float[ArrayLike, "..."],
    direction: Float[ArrayLike, "..."],
    order: int,
) -> tuple[Array, ...]:
    r"""The value and the first ``order`` derivatives of ``f`` along a direction, at once.

    With $D_v f(x) = \frac{d}{ds} f(x + s v)\big|_{s=0}$ this returns
    $(f(x), D_v f(x), D_v^2 f(x), \dots, D_v^k f(x))$, $k$ = ``order``, by $k$ nested
    ``jax.jvp``: each level's primal output is the previous level's tangent, so the whole
    Taylor tower costs one nested forward pass (no derivative is recomputed). For
    ``u_t + u u_x - ν u_xx`` one call along ``e_x`` with ``order=2`` gives ``u, u_x, u_xx``.

    Args:
        f: a function of one point, ``(d,) -> any shape``.
        x: the point, shape ``(d,)``.
        direction: $v$, shape ``(d,)`` (not normalised: $D_{2v} = 2 D_v$).
        order: $k \ge 0$.

    Returns:
        A tuple of ``order + 1`` arrays of the shape of ``f(x)``.

    Raises:
        ValueError: naming the argument, for a non-vector ``x``, a ``direction`` of
            another shape, or a negative ``order``.
    """
    x = _point(x)
    direction = jnp.asarray(direction, x.dtype)
    if direction.shape != x.shape:
        raise ValueError(f"`direction` must have the shape of x, {x.shape}; got {direction.shape}.")
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 0:
        raise ValueError(f"`order` must be a non-negative int; got {order!r}.")

    def tower(level: int) -> Callable[[Array], tuple[Array, ...]]:
        # tower(k)(y) = (f, D f, ..., D^k f) at y
        if level == 0:
            return lambda y: (f(y),)
        inner = tower(level - 1)

        def outer(y: Array) -> tuple[Array, ...]:
            primal, tangent = jax.jvp(inner, (y,), (direction,))
            return (*primal, tangent[-1])

        return outer

    return tower(int(order))(x)


def partial_derivative(
    f: Callable[[Array], Array],
    x: Float[ArrayLike, "..."],
    indices: int | Sequence[int],
) -> Array:
    r"""A partial derivative $\partial^k f / \partial x_{i_1} \cdots \partial x_{i_k}$ at ``x``.

    ``indices=0`` is $\partial f/\partial x_0$; ``indices=(0, 0)`` is
    $\partial^2 f/\partial x_0^2$; ``indices=(0, 1)`` is the mixed derivative. Computed by
    nested ``jax.jvp`` along the unit vectors (forward over forward).

    Args:
        f: a function of one point, ``(d,) -> any shape``.
        x: the point, shape ``(d,)``.
        indices: a coordinate index or a sequence of them (the order of differentiation is
            its length; an empty sequence returns ``f(x)``).

    Returns:
        The derivative, of the shape of ``f(x)``.

    Raises:
        ValueError/TypeError: naming ``indices`` for an index out of range or not an int.
    """
    x = _point(x)
    dim = x.shape[0]
    chosen: Sequence[object]
    if isinstance(indices, numbers.Integral) and not isinstance(indices, bool):
        chosen = (indices,)
    elif isinstance(indices, Sequence):
        chosen = indices
    else:
        raise TypeError(f"`indices` must be an int or a sequence of ints; got {indices!r}.")
    resolved = [_index(i, dim, "indices") for i in chosen]
    g = f
    for i in resolved:
        g = _along(g, _unit(dim, i, x.dtype))
    return g(x)


def _along(g: Callable[[Array], Array], direction: Array) -> Callable[[Array], Array]:
    def derivative(y: Array) -> Array:
        return jax.jvp(g, (y,), (direction,))[1]

    return derivative


def gradient(f: Callable[[Array], Array], x: Float[ArrayLike, "..."]) -> Array:
    r"""The gradient (Jacobian) of ``f`` at ``x`` by forward mode, $\partial f_j / \partial x_i$.

    Args:
        f: a function of one point, ``(d,) -> (...)``.
        x: the point, shape ``(d,)``.

    Returns:
        Shape ``f(x).shape + (d,)``: ``(d,)`` for a scalar field, ``(m, d)`` for a vector
        field of ``m`` components.
    """
    x = _point(x)
    return jax.jacfwd(f)(x)


def hessian(f: Callable[[Array], Array], x: Float[ArrayLike, "..."]) -> Array:
    r"""The Hessian $\partial^2 f / \partial x_i \partial x_j$ at ``x`` (forward over forward).

    Args:
        f: a function of one point, ``(d,) -> (...)``.
        x: the point, shape ``(d,)``.

    Returns:
        Shape ``f(x).shape + (d, d)``.
    """
    x = _point(x)
    return jax.jacfwd(jax.jacfwd(f))(x)


def laplacian(
    f: Callable[[Array], Array],
    x: Float[ArrayLike, "..."],
    indices: Sequence[int] | None = None,
) -> Array:
    r"""The Laplacian $\sum_{i} \partial^2 f / \partial x_i^2$ over some or all coordinates.

    Each second derivative is a nested ``jax.jvp`` along $e_i$ (the Hessian's diagonal only:
    $d$ forward-over-forward passes), not the full Hessian.
    For a space-time point ``(x, y, t)`` pass ``indices=(0, 1)`` for the spatial Laplacian.

    Args:
        f: a function of one point, ``(d,) -> any shape``.
        x: the point, shape ``(d,)``.
        indices: the coordinates summed over; ``None`` for all ``d``.

    Returns:
        The Laplacian, of the shape of ``f(x)``.

    Raises:
        ValueError/TypeError: naming ``indices`` for an index out of range, a repeated index
            or an empty sequence.
    """
    x = _point(x)
    dim = x.shape[0]
    if indices is None:
        chosen = list(range(dim))
    else:
        if not isinstance(indices, Sequence) or not len(indices):
            raise ValueError(f"`indices` must be a non-empty sequence of ints; got {indices!r}.")
        chosen = [_index(i, dim, "indices") for i in indices]
        if len(set(chosen)) != len(chosen):
            raise ValueError(f"`indices` must not repeat a coordinate; got {indices!r}.")
    # one forward-over-forward pass per coordinate, unrolled (d is small; measured faster
    # to compile and to run than vmapping over the directions)
    total = None
    for i in chosen:
        e = _unit(dim, i, x.dtype)
        term = _along(_along(f, e), e)(x)
        total = term if total is None else total + term
    assert total is not None
    return total


def divergence(
    f: Callable[[Array], Array],
    x: Float[ArrayLike, "..."],
    indices: Sequence[int] | None = None,
) -> Array:
    r"""The divergence $\sum_i \partial f_i / \partial x_{k_i}$ of a vector field.

    Args:
        f: a vector field of one point, ``(d,) -> (m,)``.
        x: the point, shape ``(d,)``.
        indices: the coordinates $k_1, \dots, k_m$ the components are differentiated by;
            ``None`` for ``0, ..., m - 1`` (a space-time field with time last works as is).

    Returns:
        A scalar.

    Raises:
        ValueError: naming ``f`` when it is not vector-valued, or ``indices`` when its length
            is not the number of components.
    """
    x = _point(x)
    dim = x.shape[0]
    shape = jax.eval_shape(f, x).shape
    if len(shape) != 1 or shape[0] > dim:
        raise ValueError(f"`f` must return a vector of at most {dim} components; got {shape}.")
    m = shape[0]
    chosen = list(range(m)) if indices is None else [_index(i, dim, "indices") for i in indices]
    if len(chosen) != m:
        raise ValueError(f"`indices` must name one coordinate per component ({m}); got {indices}.")
    total = None
    for component, i in enumerate(chosen):
        term = _along(f, _unit(dim, i, x.dtype))(x)[component]
        total = term if total is None else total + term
    assert total is not None
    return total
