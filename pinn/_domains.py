r"""Computational domains: boxes, disks, space-time products and constructive geometry.

A domain is static configuration (its bounds are Python floats, hashable), so it can be
closed over or passed as a static argument; sampling is a pure function of a PRNG key that
runs inside ``jax.jit``. Every domain offers

- ``sample(key, n, where=..., method=...)``: ``n`` points of a region, shape ``(n, dim)``,
  where ``where`` is ``"interior"`` or ``"boundary"`` (and ``"initial"`` for space-time),
  and ``method`` is ``"uniform"``, ``"lhs"`` (Latin hypercube) or ``"sobol"`` (randomly
  shifted Sobol);
- ``normal(x)``: the outward unit normal at a boundary point;
- ``sdf(x)``: a signed distance (negative inside; exact for the primitives, a bound for
  constructive geometry) and ``contains(x)``;
- ``distance(x)``: a smooth function, positive inside and zero on the boundary, for hard
  boundary conditions ``u = g + d N``.

Primitives map the unit cube onto their regions measure-preservingly, so Latin hypercube
and Sobol points keep their stratification; constructive geometry (``a | b``, ``a & b``,
``a - b``) samples by rejection from its bounding box (interior) or from its primitives'
boundaries (boundary), inside a ``jax.lax.while_loop`` with fixed shapes.
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dmech._custom_types import Array, ArrayLike, Bool, DTypeLike, Float, Key

from ._unit import check_method, unit_cube_points

__all__ = [
    "AbstractDomain",
    "Box",
    "Difference",
    "Disk",
    "Intersection",
    "SpaceTime",
    "Union",
    "interval",
    "rectangle",
]

_MAX_REJECTION_ROUNDS = 200
_BOUNDARY_PROBE = 1e-4  # relative to the bounding box diameter


def _finite_float(value: object, argname: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{argname}` must be a real number; got {type(value).__name__}.")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"`{argname}` must be finite; got {number}.")
    return number


def _float_tuple(values: object, argname: str) -> tuple[float, ...]:
    if isinstance(values, numbers.Real) and not isinstance(values, bool):
        values = (values,)
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if not isinstance(values, Sequence) or isinstance(values, str) or not len(values):
        raise TypeError(f"`{argname}` must be a non-empty sequence of numbers; got {values!r}.")
    return tuple(_finite_float(v, f"{argname}[{i}]") for i, v in enumerate(values))


def _size(n: object, argname: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"`{argname}` must be a positive int; got {type(n).__name__}.")
    if n < 1:
        raise ValueError(f"`{argname}` must be a positive int; got {n}.")
    return int(n)


def _dtype(dtype: DTypeLike | None) -> np.dtype:
    if dtype is None:
        return np.dtype(jax.dtypes.canonicalize_dtype(float))
    resolved = np.dtype(dtype)
    if not jnp.issubdtype(resolved, jnp.floating):
        raise TypeError(f"`dtype` must be a real floating dtype; got {resolved}.")
    return resolved


class AbstractDomain(eqx.Module):
    """A region of $\\mathbb{R}^d$ with a boundary: see the module docstring.

    Subclasses implement ``dim``, ``regions``, ``bounding_box``, ``sdf``, ``normal``,
    ``distance`` and, where a measure-preserving map from the unit cube exists,
    ``_unit_map``; the sampling, rejection and checks are shared.
    """

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """The dimension $d$ of the points (``x`` has shape ``(dim,)``)."""

    @property
    def regions(self) -> tuple[str, ...]:
        """The ``where`` values ``sample`` accepts."""
        return ("interior", "boundary")

    @abc.abstractmethod
    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)``, float64 arrays of shape ``(dim,)`` enclosing the domain."""

    @abc.abstractmethod
    def sdf(self, x: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        """A signed distance at ``x`` (shape ``(dim,)``): negative inside, zero on the
        boundary, positive outside."""

    @abc.abstractmethod
    def normal(self, x: Float[ArrayLike, " dim"]) -> Float[Array, " dim"]:
        """The outward unit normal at a boundary point ``x``, shape ``(dim,)`` (at a point
        off the boundary: the normal of the nearest boundary piece)."""

    @abc.abstractmethod
    def distance(self, x: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        """A smooth function of ``x`` (shape ``(dim,)``), positive inside and zero on the
        whole boundary, of the order of the distance to it (for hard constraints)."""

    def boundary_pieces(self) -> tuple[AbstractDomain, ...]:
        """The primitives whose boundaries make up this boundary (itself for a primitive)."""
        return (self,)

    def boundary_measure(self) -> float:
        """The length/area of the boundary (an upper bound for constructive geometry)."""
        raise NotImplementedError

    def _unit_map(self, where: str) -> tuple[int, Callable[[Array], Array]] | None:
        """``(q, f)`` with ``f`` mapping points of shape ``(m, q)`` in the unit cube onto the
        region measure-preservingly, or ``None`` (then points come by rejection)."""
        return None

    def contains(self, x: Float[ArrayLike, " dim"]) -> Bool[Array, ""]:
        """Whether ``x`` (shape ``(dim,)``) lies in the closed domain."""
        return self.sdf(x) <= 0

    def sample(
        self,
        key: Key,
        n: int,
        *,
        where: str = "interior",
        method: str = "uniform",
        dtype: DTypeLike | None = None,
    ) -> Float[Array, "n dim"]:
        """``n`` points of a region of the domain.

        Args:
            key: PRNG key.
            n: the number of points, a positive int (static).
            where: ``"interior"``, ``"boundary"`` (for space-time: the lateral boundary) or
                ``"initial"`` (space-time only); see ``regions``.
            method: ``"uniform"``, ``"lhs"`` or ``"sobol"`` (see ``pinn`` samplers).
            dtype: floating dtype of the points; ``None`` is JAX's default float.

        Returns:
            Points of shape ``(n, dim)``.

        Raises:
            ValueError/TypeError: naming the argument, for a non-positive ``n``, an unknown
                ``where`` or ``method``, or a non-floating ``dtype``.
        """
        n = _size(n)
        if where not in self.regions:
            valid = ", ".join(repr(r) for r in self.regions)
            raise ValueError(f"`where` must be one of {valid} for {type(self).__name__}; got "
                             f"{where!r}.")  # fmt: skip
        method = check_method(method)
        return self._sample(key, n, where, method, _dtype(dtype))

    def _sample(self, key: Key, n: int, where: str, method: str, dtype: np.dtype) -> Array:
        mapping = self._unit_map(where)
        if mapping is not None:
            q, f = mapping
            return f(unit_cube_points(key, n, q, method, dtype))
        if where == "interior":
            return self._rejection_interior(key, n, method, dtype)
        return self._rejection_boundary(key, n, method, dtype)

    # --- rejection --------------------------------------------------------------------------

    def _diameter(self) -> float:
        lower, upper = self.bounding_box()
        return float(np.linalg.norm(upper - lower))

    def _rejection_interior(self, key: Key, n: int, method: str, dtype: np.dtype) -> Array:
        lower, upper = self.bounding_box()
        lo = jnp.asarray(lower, dtype)
        extent = jnp.asarray(upper - lower, dtype)

        def draw(k: Key, m: int) -> tuple[Array, Array]:
            x = lo[None, :] + extent[None, :] * unit_cube_points(k, m, self.dim, method, dtype)
            return x, jax.vmap(self.contains)(x)

        return _fill(draw, key, n, self.dim, dtype, f"the interior of {type(self).__name__}")

    def _rejection_boundary(self, key: Key, n: int, method: str, dtype: np.dtype) -> Array:
        pieces = self.boundary_pieces()
        measures = np.asarray([p.boundary_measure() for p in pieces], np.float64)
        cumulative = jnp.asarray(np.cumsum(measures) / measures.sum(), dtype)
        maps = []
        for piece in pieces:
            mapping = piece._unit_map("boundary")
            if mapping is None:
                raise NotImplementedError(f"{type(piece).__name__} has no boundary map")
            maps.append(mapping)
        q = max(m[0] for m in maps)
        probe = _BOUNDARY_PROBE * self._diameter()

        def draw(k: Key, m: int) -> tuple[Array, Array]:
            u = unit_cube_points(k, m, q + 1, method, dtype)
            which = jnp.minimum(
                jnp.searchsorted(cumulative, u[:, 0], side="right"), len(pieces) - 1
            )
            candidates = jnp.stack([f(u[:, 1 : 1 + qi]) for qi, f in maps])  # (pieces, m, d)
            x = jnp.take_along_axis(candidates, which[None, :, None], axis=0)[0]
            normals = jnp.stack([jax.vmap(p.normal)(x) for p in pieces])
            nx = jnp.take_along_axis(normals, which[None, :, None], axis=0)[0]
            inside_before = jax.vmap(self.contains)(x - probe * nx)
            inside_after = jax.vmap(self.contains)(x + probe * nx)
            return x, inside_before != inside_after

        return _fill(draw, key, n, self.dim, dtype, f"the boundary of {type(self).__name__}")

    # --- constructive geometry ----------------------------------------------------------------

    def __or__(self, other: AbstractDomain) -> Union:
        return Union(self, other)

    def __and__(self, other: AbstractDomain) -> Intersection:
        return Intersection(self, other)

    def __sub__(self, other: AbstractDomain) -> Difference:
        return Difference(self, other)


def _fill(
    draw: Callable[[Key, int], tuple[Array, Array]],
    key: Key,
    n: int,
    dim: int,
    dtype: np.dtype,
    what: str,
) -> Array:
    """``n`` accepted points from rounds of ``draw(key, m) -> (candidates, accepted)``."""
    m = max(2 * n, 64)

    def cond(state: tuple[Array, Array, Array, Key]) -> Array:
        _, count, rounds, _ = state
        return (count < n) & (rounds < _MAX_REJECTION_ROUNDS)

    def body(state: tuple[Array, Array, Array, Key]) -> tuple[Array, Array, Array, Key]:
        buffer, count, rounds, k = state
        k, sub = jax.random.split(k)
        x, ok = draw(sub, m)
        position = count + jnp.cumsum(ok) - 1
        position = jnp.where(ok & (position < n), position, n)
        buffer = buffer.at[position].set(x, mode="drop")
        count = jnp.minimum(count + jnp.sum(ok), n)
        return buffer, count, rounds + 1, k

    zero = jnp.zeros((), jnp.int32)
    init = (jnp.zeros((n, dim), dtype), zero, zero, key)
    buffer, count, _, _ = jax.lax.while_loop(cond, body, init)
    return eqx.error_if(
        buffer,
        count < n,
        f"rejection sampling of {what} accepted too few points in {_MAX_REJECTION_ROUNDS} "
        "rounds: the region is empty or tiny compared with its bounding box",
    )


# --- primitives --------------------------------------------------------------------------------


class Box(AbstractDomain):
    r"""An axis-aligned box $\prod_i [a_i, b_i]$ in any dimension (an interval in 1-D).

    Interior points map from the unit cube affinely; boundary points choose a face with
    probability proportional to its area (in 1-D: each end point with probability 1/2) and
    a position on it uniformly. ``distance`` is
    $\prod_i (x_i - a_i)(b_i - x_i) / ((b_i - a_i)/2)^2$, one at the centre.

    Attributes:
        lower, upper: the corners $a$, $b$ (tuples of floats, $a_i < b_i$).

    Example:
        >>> box = Box((0.0, -1.0), (1.0, 1.0))
        >>> box.sample(jax.random.key(0), 128, where="boundary", method="sobol").shape
        (128, 2)
    """

    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)

    def __init__(self, lower: float | Sequence[float], upper: float | Sequence[float]):
        """Args:
            lower: the lower corner, a number (1-D) or a sequence of ``d`` numbers.
            upper: the upper corner, of the same length, every entry above ``lower``'s.

        Raises:
            ValueError/TypeError: naming the argument, for lengths that differ, non-finite
                entries or ``upper_i <= lower_i``.
        """
        lo = _float_tuple(lower, "lower")
        hi = _float_tuple(upper, "upper")
        if len(lo) != len(hi):
            raise ValueError(f"`upper` must have the length of `lower` ({len(lo)}); got {len(hi)}.")
        for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
            if not b > a:
                raise ValueError(f"`upper[{i}]` must exceed `lower[{i}]` = {a}; got {b}.")
        self.lower = lo
        self.upper = hi

    @property
    def dim(self) -> int:
        return len(self.lower)

    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.lower, np.float64), np.asarray(self.upper, np.float64)

    def volume(self) -> float:
        return float(np.prod(np.subtract(self.upper, self.lower)))

    def _face_areas(self) -> np.ndarray:
        extent = np.subtract(self.upper, self.lower)
        areas = np.asarray([np.prod(np.delete(extent, j)) for j in range(self.dim)])
        return np.concatenate([areas, areas])  # lower faces, then upper faces

    def boundary_measure(self) -> float:
        return float(self._face_areas().sum())

    def sdf(self, x: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        x = jnp.asarray(x)
        lo = jnp.asarray(self.lower, x.dtype)
        hi = jnp.asarray(self.upper, x.dtype)
        q = jnp.maximum(lo - x, x - hi)  # per axis: > 0 outside that slab
        outside = jnp.sqrt(jnp.sum(jnp.maximum(q, 0) ** 2))
        return outside + jnp.minimum(jnp.max(q), 0)

    def normal(self, x: Float[ArrayLike, " dim"]) -> Float[Array, " dim"]:
        x = jnp.asarray(x)
        lo = jnp.asarray(self.lower, x.dtype)
        hi = jnp.asarray(self.upper, x.dtype)
        gaps = jnp.concatenate([jnp.abs(x - lo), jnp.abs(hi - x)])
        face = jnp.argmin(gaps)
        axis = face % self.dim
        sign = jnp.where(face < self.dim, -1, 1).astype(x.dtype)
        return sign * jax.nn.one_hot(axis, self.dim, dtype=x.dtype)

    def distance(self, x: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        x = jnp.asarray(x)
        lo = jnp.asarray(self.lower, x.dtype)
        hi = jnp.asarray(self.upper, x.dtype)
        half = (hi - lo) / 2
        return jnp.prod((x - lo) * (hi - x) / (half * half))

    def _unit_map(self, where: str) -> tuple[int, Callable[[Array], Array]] | None:
        d = self.dim
        if where == "interior":

            def interior(u: Array) -> Array:
                lo = jnp.asarray(self.lower, u.dtype)[None, :]
                extent = jnp.asarray(np.subtract(self.upper, self.lower), u.dtype)[None, :]
                return lo + extent * u

            return d, interior
        areas = self._face_areas()
        cumulative = np.cumsum(areas) / areas.sum()

        def boundary(u: Array) -> Array:
            dtype = u.dtype
            lo = jnp.asarray(self.lower, dtype)
            hi = jnp.asarray(self.upper, dtype)
            face = jnp.minimum(
                jnp.searchsorted(jnp.asarray(cumulative, dtype), u[:, 0], side="right"), 2 * d - 1
            )
            axis = face % d
            # the other d - 1 coordinates from u[:, 1:], in order, skipping `axis`
            if d == 1:
                free = jnp.zeros((u.shape[0], 1), dtype)
            else:
                columns = jnp.arange(d)[None, :] - (jnp.arange(d)[None, :] > axis[:, None]).astype(
                    jnp.int32
                )
                free = jnp.take_along_axis(u[:, 1:], jnp.clip(columns, 0, d - 2), axis=1)
            x = lo[None, :] + (hi - lo)[None, :] * free
            pinned = jnp.where(face < d, lo[axis], hi[axis])
            return jnp.where(jnp.arange(d)[None, :] == axis[:, None], pinned[:, None], x)

        return d, boundary


def interval(a: float, b: float) -> Box:
    """The interval ``[a, b]`` as a one-dimensional :class:`Box` (points of shape ``(1,)``)."""
    return Box((_finite_float(a, "a"),), (_finite_float(b, "b"),))


def rectangle(lower: Sequence[float], upper: Sequence[float]) -> Box:
    """The rectangle ``[lower_0, upper_0] × [lower_1, upper_1]`` as a two-dimensional
    :class:`Box`.

    Raises:
        ValueError: naming ``lower`` when the corners are not two-dimensional.
    """
    box = Box(lower, upper)
    if box.dim != 2:
        raise ValueError(f"`lower` and `upper` must have two entries; got {box.dim}.")
    return box


class Disk(AbstractDomain):
    r"""The disk $|x - c| \le r$ in the plane.

    Interior points map from the unit square by $x = c + r\sqrt{u_0}(\cos 2\pi u_1,
    \sin 2\pi u_1)$ (uniform in area), boundary points by the angle $2\pi u_0$. ``distance``
    is $(r^2 - |x - c|^2) / (2r)$.

    Attributes:
        centre: $c$, a pair of floats.
        radius: $r > 0$.
    """

    centre: tuple[float, float] = eqx.field(static=True)
    radius: float = eqx.field(static=True)

    def __init__(self, centre: Sequence[float], radius: float):
        """Args:
            centre: the centre, two numbers.
            radius: the radius, a positive number.

        Raises:
            ValueError/TypeError: naming the argument.
        """
        c = _float_tuple(centre, "centre")
        if len(c) != 2:
            raise ValueError(f"`centre` must have two entries; got {len(c)}.")
        r = _finite_float(radius, "radius")
        if not r > 0:
            raise ValueError(f"`radius` must be positive; got {r}.")
        self.centre = (c[0], c[1])
        self.radius = r

    @property
    def dim(self) -> int:
        return 2

    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        c = np.asarray(self.centre, np.float64)
        return c - self.radius, c + self.radius

    def volume(self) -> float:
        return math.pi * self.radius**2

    def boundary_measure(self) -> float:
        return 2 * math.pi * self.radius

    def sdf(self, x: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        x = jnp.asarray(x)
        return jnp.sqrt(jnp.sum((x - jnp.asarray(self.centre, x.dtype)) ** 2)) - self.radius

    def normal(self, x: Float[ArrayLike, " dim"]) -> Float[Array, " dim"]:
        x = jnp.asarray(x)
        offset = x - jnp.asarray(self.centre, x.dtype)
        return offset / jnp.sqrt(jnp.sum(offset**2))

    def distance(self, x: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        x = jnp.asarray(x)
        r2 = jnp.sum((x - jnp.asarray(self.centre, x.dtype)) ** 2)
        return (self.radius**2 - r2) / (2 * self.radius)

    def _unit_map(self, where: str) -> tuple[int, Callable[[Array], Array]] | None:
        def circle(radius: Array, angle: Array) -> Array:
            c = jnp.asarray(self.centre, radius.dtype)[None, :]
            return c + jnp.stack([radius * jnp.cos(angle), radius * jnp.sin(angle)], axis=-1)

        if where == "interior":
            return 2, lambda u: circle(self.radius * jnp.sqrt(u[:, 0]), (2 * math.pi) * u[:, 1])
        return 1, lambda u: circle(
            jnp.full(u.shape[:1], self.radius, u.dtype), (2 * math.pi) * u[:, 0]
        )


# --- constructive geometry ------------------------------------------------------------------


def _check_pair(a: object, b: object) -> tuple[AbstractDomain, AbstractDomain]:
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, AbstractDomain) or isinstance(value, SpaceTime):
            raise TypeError(
                f"`{name}` must be a spatial domain (Box, Disk or a combination); got "
                f"{type(value).__name__}."
            )
    assert isinstance(a, AbstractDomain) and isinstance(b, AbstractDomain)
    if a.dim != b.dim:
        raise ValueError(f"`b` must have the dimension of `a` ({a.dim}); got {b.dim}.")
    return a, b


def _r_and(d1: Array, d2: Array) -> Array:
    """Rvachev's conjunction: positive where both are, zero on either's zero set."""
    return d1 + d2 - jnp.sqrt(d1 * d1 + d2 * d2)


def _r_or(d1: Array, d2: Array) -> Array:
    """Rvachev's disjunction: positive where either is."""
    return d1 + d2 + jnp.sqrt(d1 * d1 + d2 * d2)


class _Combination(AbstractDomain):
    a: AbstractDomain
    b: AbstractDomain

    def __init__(self, a: AbstractDomain, b: AbstractDomain):
        """Args:
            a, b: spatial domains of the same dimension.

        Raises:
            TypeError: naming the argument that is not a spatial domain.
            ValueError: for different dimensions.
        """
        self.a, self.b = _check_pair(a, b)

    @property
    def dim(self) -> int:
        return self.a.dim

    def boundary_pieces(self) -> tuple[AbstractDomain, ...]:
        return self.a.boundary_pieces() + self.b.boundary_pieces()

    def boundary_measure(self) -> float:
        return self.a.boundary_measure() + self.b.boundary_measure()

    def normal(self, x: Float[ArrayLike, " dim"]) -> Float[Array, " dim"]:
        x = jnp.asarray(x)
        pieces = self.boundary_pieces()
        gaps = jnp.stack([jnp.abs(p.sdf(x)) for p in pieces])
        normals = jnp.stack([p.normal(x) for p in pieces])
        n = normals[jnp.argmin(gaps)]
        probe = _BOUNDARY_PROBE * self._diameter()
        # the piece's normal points out of this domain unless the domain lies beyond it
        inside_after = self.contains(x + probe * n)
        return jnp.where(inside_after, -n, n)


class Union(_Combination):
    """The union $A \\cup B$ of two spatial domains (also ``a | b``).

    ``sdf`` is $\\min(s_A, s_B)$; ``distance`` Rvachev's disjunction
    $d_A + d_B + \\sqrt{d_A^2 + d_B^2}$ (Rvachev and Sheiko 1995; Sukumar and Srivastava
    2022). Interior points by rejection in the bounding box, boundary points from the
    primitives' boundaries, kept where membership changes across them.

    Attributes:
        a, b: the two domains.
    """

    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        (la, ua), (lb, ub) = self.a.bounding_box(), self.b.bounding_box()
        return np.minimum(la, lb), np.maximum(ua, ub)

    def sdf(self, x: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        return jnp.minimum(self.a.sdf(x), self.b.sdf(x))

    def distance(self, x: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        return _r_or(self.a.distance(x), self.b.distance(x))


class Intersection(_Combination):
    """The intersection $A \\cap B$ of two spatial domains (also ``a & b``).

    ``sdf`` is $\\max(s_A, s_B)$; ``distance`` Rvachev's conjunction
    $d_A + d_B - \\sqrt{d_A^2 + d_B^2}$.

    Attributes:
        a, b: the two domains.

    Raises:
        ValueError: when the bounding boxes do not overlap.
    """

    def __init__(self, a: AbstractDomain, b: AbstractDomain):
        super().__init__(a, b)
        lower, upper = self.bounding_box()
        if np.any(upper <= lower):
            raise ValueError("`b` does not overlap `a`: their intersection is empty.")

    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        (la, ua), (lb, ub) = self.a.bounding_box(), self.b.bounding_box()
        return np.maximum(la, lb), np.minimum(ua, ub)

    def sdf(self, x: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        return jnp.maximum(self.a.sdf(x), self.b.sdf(x))

    def distance(self, x: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        return _r_and(self.a.distance(x), self.b.distance(x))


class Difference(_Combination):
    """The difference $A \\setminus B$ of two spatial domains (also ``a - b``): a plate with a
    hole is ``rectangle(...) - Disk(...)``.

    ``sdf`` is $\\max(s_A, -s_B)$; ``distance`` the conjunction of $d_A$ and $-d_B$.

    Attributes:
        a, b: the domain and the part removed from it.
    """

    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        return self.a.bounding_box()

    def sdf(self, x: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        return jnp.maximum(self.a.sdf(x), -self.b.sdf(x))

    def distance(self, x: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        return _r_and(self.a.distance(x), -self.b.distance(x))


# --- space-time ----------------------------------------------------------------------------------


class SpaceTime(AbstractDomain):
    r"""The space-time cylinder $\Omega \times [t_0, t_1]$; points are ``(x..., t)``, time last.

    Regions: ``"interior"`` ($\Omega \times [t_0, t_1]$), ``"boundary"`` (the lateral
    boundary $\partial\Omega \times [t_0, t_1]$, where boundary conditions hold) and
    ``"initial"`` ($\Omega \times \{t_0\}$). The normal of a lateral point is the spatial
    normal with a zero time component. ``distance`` is
    $d_\Omega(x)\,(t - t_0)/(t_1 - t_0)$: zero on the lateral boundary and at $t_0$, for
    hard initial and boundary conditions at once; ``time_distance`` is
    $(t - t_0)/(t_1 - t_0)$ alone.

    Attributes:
        space: the spatial domain $\Omega$.
        t0, t1: the time interval ($t_0 < t_1$).
    """

    space: AbstractDomain
    t0: float = eqx.field(static=True)
    t1: float = eqx.field(static=True)

    def __init__(self, space: AbstractDomain, t0: float, t1: float):
        """Args:
            space: a spatial domain (not itself a ``SpaceTime``).
            t0, t1: the initial and final times, ``t0 < t1``.

        Raises:
            TypeError/ValueError: naming the argument.
        """
        if not isinstance(space, AbstractDomain) or isinstance(space, SpaceTime):
            raise TypeError(f"`space` must be a spatial domain; got {type(space).__name__}.")
        a = _finite_float(t0, "t0")
        b = _finite_float(t1, "t1")
        if not b > a:
            raise ValueError(f"`t1` must exceed `t0` = {a}; got {b}.")
        self.space = space
        self.t0 = a
        self.t1 = b

    @property
    def dim(self) -> int:
        return self.space.dim + 1

    @property
    def regions(self) -> tuple[str, ...]:
        return ("interior", "boundary", "initial")

    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        lower, upper = self.space.bounding_box()
        return np.append(lower, self.t0), np.append(upper, self.t1)

    def sdf(self, x: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        x = jnp.asarray(x)
        t = x[-1]
        return jnp.maximum(self.space.sdf(x[:-1]), jnp.maximum(self.t0 - t, t - self.t1))

    def normal(self, x: Float[ArrayLike, " dim"]) -> Float[Array, " dim"]:
        x = jnp.asarray(x)
        return jnp.concatenate([self.space.normal(x[:-1]), jnp.zeros(1, x.dtype)])

    def time_distance(self, x: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        """$(t - t_0)/(t_1 - t_0)$ at ``x = (x..., t)``."""
        x = jnp.asarray(x)
        return (x[-1] - self.t0) / (self.t1 - self.t0)

    def distance(self, x: Float[ArrayLike, " dim"]) -> Float[Array, ""]:
        x = jnp.asarray(x)
        return self.space.distance(x[:-1]) * self.time_distance(x)

    def _sample(self, key: Key, n: int, where: str, method: str, dtype: np.dtype) -> Array:
        space_where = "interior" if where in ("interior", "initial") else "boundary"
        mapping = self.space._unit_map(space_where)
        if where == "initial":
            x = self.space._sample(key, n, space_where, method, dtype)
            return jnp.concatenate([x, jnp.full((n, 1), self.t0, dtype)], axis=1)
        if mapping is not None:  # one joint low-discrepancy / Latin hypercube set
            q, f = mapping
            u = unit_cube_points(key, n, q + 1, method, dtype)
            x, s = f(u[:, :q]), u[:, q:]
        else:
            space_key, time_key = jax.random.split(key)
            x = self.space._sample(space_key, n, space_where, method, dtype)
            s = unit_cube_points(time_key, n, 1, method, dtype)
        return jnp.concatenate([x, self.t0 + (self.t1 - self.t0) * s], axis=1)
