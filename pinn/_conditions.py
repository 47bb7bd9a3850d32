r"""Boundary and initial conditions: as residuals (soft, penalty) or built into the network's
output (hard).

Soft conditions are residual functions ``r(params, x)`` of one point, made from the solution
``u(params, x)``; a :class:`pinn.Term` turns them into the loss $\operatorname{mean}|r|^2$
over sampled points. Hard conditions change the ansatz so the condition holds exactly:
:class:`HardConstraint` writes $u = g(x) + d(x) N(x)$ with $d = 0$ on the constrained set, and
:class:`PeriodicEmbedding` feeds a coordinate to the network only through
$\cos(2\pi k x/L), \sin(2\pi k x/L)$, so any network is exactly $L$-periodic in it.

Values (``value``, ``alpha``, ``beta``) are numbers or callables of the point; a condition
with unknown (trained) values is a residual the user writes with the values in ``params``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from dmech._custom_types import Array, ArrayLike, Float, Key

from ._derivatives import partial_derivative

__all__ = [
    "HardConstraint",
    "PeriodicEmbedding",
    "dirichlet",
    "initial",
    "neumann",
    "periodic",
    "robin",
]

Solution = Callable[[Any, Array], Array]
Residual = Callable[[Any, Array], Array]


def _check_solution(u: object) -> Solution:
    if not callable(u):
        raise TypeError(f"`u` must be a callable u(params, x); got {type(u).__name__}.")
    return u


def _as_function(value: object, argname: str) -> Callable[[Array], Array]:
    """A number or a callable of the point, as a callable of the point."""
    if callable(value):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real | jax.Array):
        raise TypeError(
            f"`{argname}` must be a number or a callable of the point; got {type(value).__name__}."
        )
    constant = value

    def function(x: Array) -> Array:
        return jnp.asarray(constant, x.dtype)

    return function


def _normal_derivative(u: Solution, params: Any, x: Array, n: Array) -> Array:
    # the derivative along n by one forward pass: ∂u/∂n = ∇u · n
    return jax.jvp(lambda y: u(params, y), (x,), (n.astype(x.dtype),))[1]


def dirichlet(u: Solution, value: float | Callable[[Array], Array] = 0.0) -> Residual:
    r"""The Dirichlet residual $r(x) = u(x) - g(x)$.

    Args:
        u: the solution ``u(params, x)``, ``x`` of shape ``(d,)``.
        value: $g$, a number or a callable of the point ``x``.

    Returns:
        ``r(params, x)``, of the shape of ``u(params, x)``.

    Raises:
        TypeError: naming the argument that is neither callable nor a number.
    """
    u = _check_solution(u)
    g = _as_function(value, "value")

    def residual(params: Any, x: Array) -> Array:
        return u(params, x) - g(x)

    return residual


def neumann(
    u: Solution,
    normal: Callable[[Array], Array],
    value: float | Callable[[Array], Array] = 0.0,
) -> Residual:
    r"""The Neumann residual $r(x) = \nabla u(x) \cdot n(x) - g(x)$.

    Args:
        u: the solution ``u(params, x)``.
        normal: the outward unit normal at a boundary point, e.g. ``domain.normal``.
        value: $g$, a number or a callable of the point.

    Returns:
        ``r(params, x)``, of the shape of ``u(params, x)``.
    """
    u = _check_solution(u)
    if not callable(normal):
        raise TypeError(f"`normal` must be a callable of the point; got {type(normal).__name__}.")
    g = _as_function(value, "value")

    def residual(params: Any, x: Array) -> Array:
        return _normal_derivative(u, params, x, normal(x)) - g(x)

    return residual


def robin(
    u: Solution,
    normal: Callable[[Array], Array],
    alpha: float | Callable[[Array], Array],
    beta: float | Callable[[Array], Array],
    value: float | Callable[[Array], Array] = 0.0,
) -> Residual:
    r"""The Robin residual $r(x) = \alpha u + \beta\, \partial u/\partial n - g$.

    Args:
        u: the solution ``u(params, x)``.
        normal: the outward unit normal at a boundary point.
        alpha, beta: the coefficients, numbers or callables of the point.
        value: $g$.

    Returns:
        ``r(params, x)``.
    """
    u = _check_solution(u)
    if not callable(normal):
        raise TypeError(f"`normal` must be a callable of the point; got {type(normal).__name__}.")
    a = _as_function(alpha, "alpha")
    b = _as_function(beta, "beta")
    g = _as_function(value, "value")

    def residual(params: Any, x: Array) -> Array:
        value_, slope = jax.jvp(lambda y: u(params, y), (x,), (normal(x).astype(x.dtype),))
        return a(x) * value_ + b(x) * slope - g(x)

    return residual


def periodic(
    u: Solution,
    axis: int,
    lower: float,
    upper: float,
    *,
    derivatives: int = 1,
) -> Residual:
    r"""The periodicity residual between the faces $x_a = $ ``lower`` and $x_a = $ ``upper``.

    At a point ``x`` (any point: its coordinate ``axis`` is replaced), with $x^-$, $x^+$
    the point moved onto the two faces,
    $r = (u(x^-) - u(x^+), \partial_a u(x^-) - \partial_a u(x^+), \dots)$ up to
    ``derivatives`` derivatives along the axis (value and first derivative by default, as a
    second-order PDE needs).

    Args:
        u: the solution ``u(params, x)``.
        axis: the periodic coordinate.
        lower, upper: the faces, ``lower < upper``.
        derivatives: how many derivatives along ``axis`` must match too (0, 1, 2...).

    Returns:
        ``r(params, x)`` of shape ``(derivatives + 1,) + u(params, x).shape``.

    Raises:
        ValueError/TypeError: naming the argument.
    """
    u = _check_solution(u)
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"`axis` must be an int; got {type(axis).__name__}.")
    lo, hi = float(lower), float(upper)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"`upper` must exceed `lower`; got lower={lower}, upper={upper}.")
    if isinstance(derivatives, bool) or not isinstance(derivatives, int) or derivatives < 0:
        raise ValueError(f"`derivatives` must be a non-negative int; got {derivatives!r}.")
    index = int(axis)

    def residual(params: Any, x: Array) -> Array:
        if not -x.shape[0] <= index < x.shape[0]:
            raise ValueError(f"`axis` {index} is out of range for points of shape {x.shape}.")
        x_lo = x.at[index].set(lo)
        x_hi = x.at[index].set(hi)
        f = lambda y: u(params, y)  # noqa: E731
        values = [f(x_lo) - f(x_hi)]
        for order in range(1, derivatives + 1):
            indices = (index,) * order
            values.append(
                partial_derivative(f, x_lo, indices) - partial_derivative(f, x_hi, indices)
            )
        return jnp.stack(values)

    return residual


def initial(
    u: Solution,
    value: float | Callable[[Array], Array],
    *,
    velocity: float | Callable[[Array], Array] | None = None,
) -> Residual:
    r"""The initial-condition residual $r(x, t_0) = u(x, t_0) - u_0(x)$ at space-time points
    ``(x..., t0)`` (time last, as :class:`pinn.SpaceTime` samples ``where="initial"``).

    With ``velocity`` (second order in time, e.g. the wave equation) the residual also holds
    $\partial_t u(x, t_0) - v_0(x)$.

    Args:
        u: the solution ``u(params, (x..., t))``.
        value: $u_0$, a number or a callable of the spatial coordinates ``x[:-1]``.
        velocity: $v_0$ likewise, or ``None``.

    Returns:
        ``r(params, point)``: of the shape of ``u``, or ``(2,) + u.shape`` with ``velocity``.
    """
    u = _check_solution(u)
    u0 = _as_function(value, "value")
    v0 = None if velocity is None else _as_function(velocity, "velocity")

    def residual(params: Any, x: Array) -> Array:
        r = u(params, x) - u0(x[:-1])
        if v0 is None:
            return r
        rate = partial_derivative(lambda y: u(params, y), x, x.shape[0] - 1)
        return jnp.stack([r, rate - v0(x[:-1])])

    return residual


# --- hard constraints --------------------------------------------------------------------------


class HardConstraint(eqx.Module):
    r"""A network with boundary/initial conditions built in: $u(x) = g(x) + d(x)\,N(x)$.

    $d$ vanishes exactly where the condition $u = g$ is imposed (e.g. ``domain.distance``,
    or ``(1 - x²) t`` for Dirichlet ends and an initial condition), so the condition holds
    for every parameter value and drops out of the loss (Lagaris, Likas and Fotiadis 1998;
    Sukumar and Srivastava 2022).

    Attributes:
        network: $N$, an equinox Module mapping ``(d,)`` to the output shape.
        particular: $g$, a callable of the point (a function satisfying the condition).
        distance: $d$, a callable of the point returning a scalar.

    Example:
        >>> u = HardConstraint(net, lambda x: jnp.sin(jnp.pi * x[0]),
        ...                    lambda x: (1 - x[0] ** 2) * x[1])
    """

    network: Callable[..., Array]
    particular: Callable[[Array], Array] = eqx.field(static=True)
    distance: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(
        self,
        network: Callable[..., Array],
        particular: float | Callable[[Array], Array],
        distance: Callable[[Array], Array],
    ):
        """Args:
            network: the free network $N$.
            particular: $g$ (a number, or a callable of the point).
            distance: $d$, a callable of the point.

        Raises:
            TypeError: naming the argument that is not callable.
        """
        if not callable(network):
            raise TypeError(f"`network` must be callable; got {type(network).__name__}.")
        if not callable(distance):
            raise TypeError(f"`distance` must be callable; got {type(distance).__name__}.")
        self.network = network
        self.particular = _as_function(particular, "particular")
        self.distance = distance

    def __call__(self, x: Float[ArrayLike, "..."], *, key: Key | None = None) -> Array:
        """$g(x) + d(x) N(x)$ at one point ``x`` of shape ``(d,)``."""
        del key
        x = jnp.asarray(x)
        return self.particular(x) + self.distance(x) * self.network(x)


class PeriodicEmbedding(eqx.Module):
    r"""Exact periodicity: $x_a \mapsto (\cos(2\pi k x_a/L_a), \sin(2\pi k x_a/L_a))_{k=1..K}$.

    The output keeps the other coordinates as they are (first, in order) and appends, for
    each periodic axis $a$ of period $L_a$, the $2K$ features ($K$ = ``harmonics``). Any
    network applied to it is exactly $L_a$-periodic in $x_a$, with all derivatives
    (Dong and Ni 2021; Wang, Sankaran, Perdikaris 2024).

    Attributes:
        in_size: the input size $d$.
        axes: the periodic coordinates.
        periods: their periods $L_a > 0$.
        harmonics: $K \ge 1$.
        out_size: $d - |axes| + 2K|axes|$.
    """

    in_size: int = eqx.field(static=True)
    axes: tuple[int, ...] = eqx.field(static=True)
    periods: tuple[float, ...] = eqx.field(static=True)
    harmonics: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        axes: int | Sequence[int],
        periods: float | Sequence[float],
        *,
        harmonics: int = 1,
    ):
        """Args:
            in_size: the input size $d$.
            axes: a coordinate index or several.
            periods: one period per axis (a number for one axis).
            harmonics: the number $K$ of harmonics per axis.

        Raises:
            ValueError/TypeError: naming the argument.
        """
        if isinstance(in_size, bool) or not isinstance(in_size, int) or in_size < 1:
            raise ValueError(f"`in_size` must be a positive int; got {in_size!r}.")
        axes_t: tuple[Any, ...] = (axes,) if isinstance(axes, int) else tuple(axes)
        periods_t: tuple[Any, ...] = (
            (periods,) if isinstance(periods, numbers.Real) else tuple(periods)  # type: ignore[arg-type]
        )
        if not axes_t or any(not isinstance(a, int) or not 0 <= a < in_size for a in axes_t):
            raise ValueError(f"`axes` must be coordinate indices in [0, {in_size}); got {axes!r}.")
        if len(set(axes_t)) != len(axes_t):
            raise ValueError(f"`axes` must not repeat; got {axes!r}.")
        if len(periods_t) != len(axes_t):
            raise ValueError(f"`periods` must give one period per axis; got {periods!r}.")
        for p in periods_t:
            if not (isinstance(p, numbers.Real) and math.isfinite(p) and float(p) > 0):
                raise ValueError(f"`periods` must be positive; got {periods!r}.")
        if isinstance(harmonics, bool) or not isinstance(harmonics, int) or harmonics < 1:
            raise ValueError(f"`harmonics` must be a positive int; got {harmonics!r}.")
        self.in_size = in_size
        self.axes = axes_t
        self.periods = tuple(float(p) for p in periods_t)
        self.harmonics = harmonics
        self.out_size = in_size - len(axes_t) + 2 * harmonics * len(axes_t)

    def __call__(self, x: Float[ArrayLike, "..."], *, key: Key | None = None) -> Array:
        """The embedding of one point ``x`` of shape ``(in_size,)``: shape ``(out_size,)``."""
        del key
        x = jnp.asarray(x)
        if x.shape != (self.in_size,):
            raise ValueError(f"`x` must have shape ({self.in_size},); got {x.shape}.")
        keep = [i for i in range(self.in_size) if i not in self.axes]
        parts = [x[jnp.asarray(keep, jnp.int32)]] if keep else []
        k = jnp.arange(1, self.harmonics + 1, dtype=x.dtype)
        for axis, period in zip(self.axes, self.periods, strict=True):
            phase = (2 * math.pi / period) * k * x[axis]
            parts += [jnp.cos(phase), jnp.sin(phase)]
        return jnp.concatenate(parts)
