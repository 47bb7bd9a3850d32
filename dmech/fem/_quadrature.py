r"""Gauss quadrature rules on the reference cells of dmech's finite elements.

Every rule is a pair `(points, weights)` of float64 numpy arrays of shapes `(q, dim)` and
`(q,)` (a line rule has `points` of shape `(q, 1)` when reached through `quadrature`), with
positive weights and all points strictly inside the reference cell. A rule of degree $d$
integrates every polynomial of total degree $\le d$ exactly (up to rounding):

$$\int_{\hat K} p(\xi)\,d\xi = \sum_{k=1}^{q} w_k\, p(\xi_k)\quad \forall p \in P_d.$$

Reference cells (the same as `dmech.fem` elements and `dmech.geometry` meshes):

| cell | domain | measure |
|---|---|---|
| line | $[-1, 1]$ | 2 |
| triangle | $\{x, y \ge 0,\ x + y \le 1\}$ | 1/2 |
| quadrilateral | $[-1, 1]^2$ | 4 |
| tetrahedron | $\{x, y, z \ge 0,\ x + y + z \le 1\}$ | 1/6 |
| hexahedron | $[-1, 1]^3$ | 8 |

The rules are computed once per `(cell, degree)` and cached; each call returns fresh copies,
so callers may modify them.
"""

import functools
import itertools
import math
import operator

import numpy as np
from scipy.special import roots_jacobi

from .._custom_types import NumpyArray

__all__ = [
    "REFERENCE_MEASURE",
    "gauss_jacobi",
    "gauss_legendre",
    "hexahedron_rule",
    "line_rule",
    "quadrature",
    "quadrilateral_rule",
    "reference_shape",
    "tetrahedron_rule",
    "triangle_rule",
]

# Reference cell of each cell type (element names as in dmech.fem; VTK/meshio ordering).
_SHAPE_OF_CELL = {
    "line2": "line",
    "line3": "line",
    "tri3": "triangle",
    "tri6": "triangle",
    "quad4": "quadrilateral",
    "quad8": "quadrilateral",
    "quad9": "quadrilateral",
    "tet4": "tetrahedron",
    "tet10": "tetrahedron",
    "hex8": "hexahedron",
    "hex20": "hexahedron",
    # meshio's names for the same cells
    "triangle6": "triangle",
    "quad": "quadrilateral",
    "tetra": "tetrahedron",
    "tetra10": "tetrahedron",
    "hexahedron20": "hexahedron",
}

REFERENCE_MEASURE: dict[str, float] = {
    "line": 2.0,
    "triangle": 0.5,
    "quadrilateral": 4.0,
    "tetrahedron": 1.0 / 6.0,
    "hexahedron": 8.0,
}
"""Length/area/volume of each reference cell, keyed by shape name."""


def _check_degree(degree: int, name: str = "degree") -> int:
    if isinstance(degree, bool) or not isinstance(degree, int | np.integer):
        raise TypeError(f"`{name}` must be an int; got {type(degree).__name__}.")
    if degree < 0:
        raise ValueError(f"`{name}` must be non-negative; got {degree}.")
    return int(degree)


def _check_num_points(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"`n` must be an int; got {type(n).__name__}.")
    if n < 1:
        raise ValueError(f"`n` must be a positive int; got {n}.")
    return int(n)


def _points_for_degree(degree: int) -> int:
    """Gauss points per direction that make a 1D Gauss rule exact to `degree`."""
    return max(1, (degree + 2) // 2)


def _copy(rule: tuple[NumpyArray, NumpyArray]) -> tuple[NumpyArray, NumpyArray]:
    return rule[0].copy(), rule[1].copy()


# ---------------------------------------------------------------------------------------------
# One dimension
# ---------------------------------------------------------------------------------------------


@functools.cache
def _gauss_legendre(n: int) -> tuple[NumpyArray, NumpyArray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return x.astype(np.float64), w.astype(np.float64)


def gauss_legendre(n: int) -> tuple[NumpyArray, NumpyArray]:
    r"""Gauss-Legendre rule with `n` points on $[-1, 1]$.

    $$\int_{-1}^{1} f(x)\,dx \approx \sum_{k=1}^{n} w_k f(x_k),$$

    exact for polynomials of degree $\le 2n - 1$; the points are the roots of the Legendre
    polynomial $P_n$, in increasing order.

    Args:
        n: number of points, a positive int.

    Returns:
        `(points, weights)`, float64 numpy arrays of shape `(n,)` each.

    Raises:
        TypeError: if `n` is not an int.
        ValueError: if `n < 1`.

    Example:
        >>> from dmech.fem import gauss_legendre
        >>> x, w = gauss_legendre(2)
        >>> float(w @ x**2)  # ∫ x^2 = 2/3
        0.6666666666666666

    References:
        Abramowitz and Stegun (1964), *Handbook of Mathematical Functions*, §25.4.29.
    """
    return _copy(_gauss_legendre(_check_num_points(n)))


@functools.cache
def _gauss_jacobi(n: int, alpha: int) -> tuple[NumpyArray, NumpyArray]:
    x, w = roots_jacobi(n, alpha, 0)
    # Map to [0, 1]: ∫_0^1 f(t) (1-t)^α dt = 2^{-(α+1)} ∫_{-1}^{1} f((1+x)/2) (1-x)^α dx.
    t = (1.0 + np.asarray(x, dtype=np.float64)) / 2.0
    weights = np.asarray(w, dtype=np.float64) / 2.0 ** (alpha + 1)
    return t, weights


def gauss_jacobi(n: int, alpha: int) -> tuple[NumpyArray, NumpyArray]:
    r"""Gauss-Jacobi rule with `n` points on $[0, 1]$ for the weight $(1 - t)^\alpha$.

    $$\int_{0}^{1} f(t)\,(1 - t)^{\alpha}\,dt \approx \sum_{k=1}^{n} w_k f(t_k),$$

    exact for polynomials $f$ of degree $\le 2n - 1$. These are the collapsed directions of
    the Duffy (conical product) rules on triangles ($\alpha = 1$) and tetrahedra
    ($\alpha = 1, 2$).

    Args:
        n: number of points, a positive int.
        alpha: exponent of the weight, a non-negative int.

    Returns:
        `(points, weights)`, float64 numpy arrays of shape `(n,)` each, points in $(0, 1)$.

    Raises:
        TypeError: if `n` or `alpha` is not an int.
        ValueError: if `n < 1` or `alpha < 0`.

    Example:
        >>> from dmech.fem import gauss_jacobi
        >>> t, w = gauss_jacobi(1, 1)
        >>> float(w.sum())  # ∫_0^1 (1 - t) dt
        0.5

    References:
        Stroud (1971), *Approximate Calculation of Multiple Integrals*, Prentice-Hall, §2.4.
    """
    return _copy(_gauss_jacobi(_check_num_points(n), _check_degree(alpha, "alpha")))


def line_rule(degree: int) -> tuple[NumpyArray, NumpyArray]:
    r"""Gauss-Legendre rule on $[-1, 1]$ exact to polynomial degree `degree`.

    Uses $n = \lfloor \text{degree}/2 \rfloor + 1$ points (exact to $2n - 1 \ge$ `degree`).

    Args:
        degree: polynomial degree to integrate exactly, a non-negative int.

    Returns:
        `(points, weights)` of shapes `(n, 1)` and `(n,)`, float64 numpy arrays.

    Raises:
        TypeError: if `degree` is not an int.
        ValueError: if `degree < 0`.

    Example:
        >>> from dmech.fem import line_rule
        >>> x, w = line_rule(3)
        >>> x.shape, w.shape
        ((2, 1), (2,))

    References:
        Abramowitz and Stegun (1964), *Handbook of Mathematical Functions*, §25.4.29.
    """
    x, w = _gauss_legendre(_points_for_degree(_check_degree(degree)))
    return x[:, None].copy(), w.copy()


# ---------------------------------------------------------------------------------------------
# Tensor-product cells
# ---------------------------------------------------------------------------------------------


@functools.cache
def _tensor_rule(degree: int, dim: int) -> tuple[NumpyArray, NumpyArray]:
    x, w = _gauss_legendre(_points_for_degree(degree))
    # First coordinate fastest, as in VTK's lexicographic orderings.
    grids = np.meshgrid(*([x] * dim), indexing="ij")
    points = np.stack([g.T.reshape(-1) for g in grids], axis=-1)
    wgrids = np.meshgrid(*([w] * dim), indexing="ij")
    weights = functools.reduce(operator.mul, [g.T.reshape(-1) for g in wgrids])
    return points, weights


def quadrilateral_rule(degree: int) -> tuple[NumpyArray, NumpyArray]:
    r"""Tensor Gauss-Legendre rule on $[-1, 1]^2$ exact to total degree `degree`.

    $n = \lfloor \text{degree}/2 \rfloor + 1$ points per direction, $n^2$ in all; exact for
    $x^a y^b$ with $a, b \le 2n - 1$ (so for all of total degree $\le$ `degree`). The first
    coordinate varies fastest.

    Args:
        degree: polynomial degree to integrate exactly, a non-negative int.

    Returns:
        `(points, weights)` of shapes `(n**2, 2)` and `(n**2,)`, float64 numpy arrays.

    Raises:
        TypeError: if `degree` is not an int.
        ValueError: if `degree < 0`.

    Example:
        >>> from dmech.fem import quadrilateral_rule
        >>> x, w = quadrilateral_rule(2)
        >>> x.shape, float(w.sum())
        ((4, 2), 4.0)

    References:
        Zienkiewicz, Taylor and Zhu (2013), *The Finite Element Method: Its Basis and
        Fundamentals*, 7th ed., §6.8.
    """
    return _copy(_tensor_rule(_check_degree(degree), 2))


def hexahedron_rule(degree: int) -> tuple[NumpyArray, NumpyArray]:
    r"""Tensor Gauss-Legendre rule on $[-1, 1]^3$ exact to total degree `degree`.

    $n = \lfloor \text{degree}/2 \rfloor + 1$ points per direction, $n^3$ in all; the first
    coordinate varies fastest.

    Args:
        degree: polynomial degree to integrate exactly, a non-negative int.

    Returns:
        `(points, weights)` of shapes `(n**3, 3)` and `(n**3,)`, float64 numpy arrays.

    Raises:
        TypeError: if `degree` is not an int.
        ValueError: if `degree < 0`.

    Example:
        >>> from dmech.fem import hexahedron_rule
        >>> x, w = hexahedron_rule(3)
        >>> x.shape, float(w.sum())
        ((8, 3), 8.0)

    References:
        Zienkiewicz, Taylor and Zhu (2013), *The Finite Element Method: Its Basis and
        Fundamentals*, 7th ed., §6.8.
    """
    return _copy(_tensor_rule(_check_degree(degree), 3))


# ---------------------------------------------------------------------------------------------
# Simplices
# ---------------------------------------------------------------------------------------------

# Fully symmetric triangle rules, in barycentric orbits, weights for the unit triangle
# (area 1/2). Parameters from Strang and Fix (1973) and Dunavant (1985), polished to double
# precision by Newton iteration on the moment equations. Each entry:
# (kind, parameters, weight) with kind "c" (centroid), "a" (orbit of (a, a, 1-2a), 3 points)
# or "ab" (orbit of (a, b, 1-a-b), 6 points).
_SQRT15 = math.sqrt(15.0)
_TRIANGLE_ORBITS: dict[int, list[tuple[str, tuple[float, ...], float]]] = {
    1: [("c", (), 0.5)],
    2: [("a", (1.0 / 6.0,), 1.0 / 6.0)],
    # Dunavant's degree-4 rule also serves degree 3 (its degree-3 rule has a negative weight).
    4: [
        ("a", (0.44594849091596483,), 0.11169079483900568),
        ("a", (0.09157621350977077,), 0.05497587182766098),
    ],
    5: [
        ("c", (), 9.0 / 80.0),
        ("a", ((6.0 - _SQRT15) / 21.0,), (155.0 - _SQRT15) / 2400.0),
        ("a", ((6.0 + _SQRT15) / 21.0,), (155.0 + _SQRT15) / 2400.0),
    ],
    6: [
        ("a", (0.06308901449150926,), 0.02542245318510835),
        ("a", (0.2492867451708772,), 0.05839313786321776),
        ("ab", (0.05314504984479342, 0.3103524510338098), 0.04142553780917028),
    ],
}
_TRIANGLE_SYMMETRIC_DEGREE = {0: 1, 1: 1, 2: 2, 3: 4, 4: 4, 5: 5, 6: 6}

# Fully symmetric tetrahedron rules; weights for the unit tetrahedron (volume 1/6).
# "c": centroid; "a": orbit of (a, a, a, 1-3a), 4 points; "b": orbit of (b, b, 1/2-b, 1/2-b),
# 6 points. Degree 5: the 14-point positive rule of Walkington (2000) (also Keast's #6).
_SQRT5 = math.sqrt(5.0)
_TETRAHEDRON_ORBITS: dict[int, list[tuple[str, tuple[float, ...], float]]] = {
    1: [("c", (), 1.0 / 6.0)],
    2: [("a", ((5.0 - _SQRT5) / 20.0,), 1.0 / 24.0)],
    5: [
        ("a", (0.0927352503108912,), 0.01224884051939366),
        ("a", (0.3108859192633006,), 0.01878132095300264),
        ("b", (0.0455037041256496,), 0.007091003462846911),
    ],
}
_TETRAHEDRON_SYMMETRIC_DEGREE = {0: 1, 1: 1, 2: 2, 4: 5, 5: 5}


def _orbit_points(kind: str, params: tuple[float, ...], dim: int) -> list[tuple[float, ...]]:
    """Distinct permutations of the barycentric coordinates of one orbit (sorted, reproducible)."""
    if kind == "c":
        bary: tuple[float, ...] = (1.0 / (dim + 1),) * (dim + 1)
    elif kind == "a":
        (a,) = params
        bary = (a,) * dim + (1.0 - dim * a,)
    elif kind == "ab":
        a, b = params
        bary = (a, b, 1.0 - a - b)
    else:  # "b", tetrahedra only
        (b,) = params
        bary = (b, b, 0.5 - b, 0.5 - b)
    # Permute positions rather than values, so that equal values compare exactly.
    seen: dict[tuple[float, ...], None] = {}
    for perm in itertools.permutations(range(dim + 1)):
        seen.setdefault(tuple(bary[i] for i in perm), None)
    # Cartesian coordinates are the barycentric coordinates of vertices 1..dim.
    return [p[1:] for p in seen]


def _symmetric_rule(
    orbits: list[tuple[str, tuple[float, ...], float]], dim: int
) -> tuple[NumpyArray, NumpyArray]:
    points: list[tuple[float, ...]] = []
    weights: list[float] = []
    for kind, params, weight in orbits:
        orbit = _orbit_points(kind, params, dim)
        points.extend(orbit)
        weights.extend([weight] * len(orbit))
    return np.asarray(points, dtype=np.float64), np.asarray(weights, dtype=np.float64)


@functools.cache
def _collapsed_simplex_rule(degree: int, dim: int) -> tuple[NumpyArray, NumpyArray]:
    """Conical-product (Duffy) rule: Gauss-Legendre times Gauss-Jacobi, collapsed onto the
    simplex. With n points per direction it is exact to total degree 2n - 1."""
    n = _points_for_degree(degree)
    s, ws = _gauss_legendre(n)
    s, ws = (1.0 + s) / 2.0, ws / 2.0  # Gauss-Legendre on [0, 1]
    t1, w1 = _gauss_jacobi(n, 1)
    if dim == 2:
        # (x, y) = (s (1 - t), t), Jacobian (1 - t): the Jacobi weight.
        ss, tt = np.meshgrid(s, t1, indexing="ij")
        points = np.stack([ss * (1.0 - tt), tt], axis=-1).reshape(-1, 2)
        weights = np.outer(ws, w1).reshape(-1)
        return points, weights
    # (x, y, z) = (r (1-s)(1-t), s (1-t), t), Jacobian (1 - s)(1 - t)^2.
    t2, w2 = _gauss_jacobi(n, 2)
    rr, ss, tt = np.meshgrid(s, t1, t2, indexing="ij")
    points = np.stack([rr * (1.0 - ss) * (1.0 - tt), ss * (1.0 - tt), tt], axis=-1).reshape(-1, 3)
    weights = np.einsum("i,j,k->ijk", ws, w1, w2).reshape(-1)
    return points, weights


@functools.cache
def _triangle_rule(degree: int) -> tuple[NumpyArray, NumpyArray]:
    if degree in _TRIANGLE_SYMMETRIC_DEGREE:
        return _symmetric_rule(_TRIANGLE_ORBITS[_TRIANGLE_SYMMETRIC_DEGREE[degree]], 2)
    return _collapsed_simplex_rule(degree, 2)


@functools.cache
def _tetrahedron_rule(degree: int) -> tuple[NumpyArray, NumpyArray]:
    if degree in _TETRAHEDRON_SYMMETRIC_DEGREE:
        return _symmetric_rule(_TETRAHEDRON_ORBITS[_TETRAHEDRON_SYMMETRIC_DEGREE[degree]], 3)
    return _collapsed_simplex_rule(degree, 3)


def triangle_rule(degree: int) -> tuple[NumpyArray, NumpyArray]:
    r"""Quadrature on the unit triangle $(0,0), (1,0), (0,1)$ exact to total degree `degree`.

    Degrees $\le 6$ use fully symmetric rules with positive weights; higher degrees use the
    conical-product (Duffy) rule, Gauss-Legendre in $s$ times Gauss-Jacobi in $t$ mapped by
    $(x, y) = (s(1-t), t)$, with $n = \lfloor \text{degree}/2 \rfloor + 1$ points per
    direction. All weights are positive and all points interior.

    | degree | 0-1 | 2 | 3-4 | 5 | 6 | 7 | 8-9 | $d$ |
    |---|---|---|---|---|---|---|---|---|
    | points | 1 | 3 | 6 | 7 | 12 | 16 | 25 | $(\lfloor d/2 \rfloor + 1)^2$ |

    Args:
        degree: polynomial degree to integrate exactly, a non-negative int.

    Returns:
        `(points, weights)` of shapes `(q, 2)` and `(q,)`, float64 numpy arrays; the weights
        sum to 1/2.

    Raises:
        TypeError: if `degree` is not an int.
        ValueError: if `degree < 0`.

    Example:
        >>> from dmech.fem import triangle_rule
        >>> x, w = triangle_rule(2)
        >>> x.shape, round(float(w @ x[:, 0] ** 2), 15)  # ∫ x^2 = 2!/4! = 1/12
        ((3, 2), 0.083333333333333)

    References:
        Strang and Fix (1973), *An Analysis of the Finite Element Method*, Prentice-Hall.
        Dunavant (1985), "High degree efficient symmetrical Gaussian quadrature rules for the
        triangle", Int. J. Numer. Meth. Engng 21, 1129-1148.
        Stroud (1971), *Approximate Calculation of Multiple Integrals*, Prentice-Hall.
    """
    return _copy(_triangle_rule(_check_degree(degree)))


def tetrahedron_rule(degree: int) -> tuple[NumpyArray, NumpyArray]:
    r"""Quadrature on the unit tetrahedron exact to total degree `degree`.

    The cell has vertices $(0,0,0), (1,0,0), (0,1,0), (0,0,1)$. Degrees 0-2 and 4-5 use fully
    symmetric rules with positive weights (centroid; the 4-point rule; the 14-point rule of
    Walkington / Keast); others use the conical-product (Duffy) rule, Gauss-Legendre times
    Gauss-Jacobi ($\alpha = 1, 2$) mapped by $(x, y, z) = (r(1-s)(1-t), s(1-t), t)$, with
    $n = \lfloor \text{degree}/2 \rfloor + 1$ points per direction. All weights are positive
    and all points interior.

    | degree | 0-1 | 2 | 3 | 4-5 | 6-7 | $d$ |
    |---|---|---|---|---|---|---|
    | points | 1 | 4 | 8 | 14 | 64 | $(\lfloor d/2 \rfloor + 1)^3$ |

    Args:
        degree: polynomial degree to integrate exactly, a non-negative int.

    Returns:
        `(points, weights)` of shapes `(q, 3)` and `(q,)`, float64 numpy arrays; the weights
        sum to 1/6.

    Raises:
        TypeError: if `degree` is not an int.
        ValueError: if `degree < 0`.

    Example:
        >>> from dmech.fem import tetrahedron_rule
        >>> x, w = tetrahedron_rule(2)
        >>> x.shape, round(float(w.sum()), 15)
        ((4, 3), 0.166666666666667)

    References:
        Keast (1986), "Moderate-degree tetrahedral quadrature formulas", Comput. Methods Appl.
        Mech. Engrg 55, 339-348.
        Walkington (2000), "Quadrature on simplices of arbitrary dimension", technical report,
        Carnegie Mellon University.
        Stroud (1971), *Approximate Calculation of Multiple Integrals*, Prentice-Hall.
    """
    return _copy(_tetrahedron_rule(_check_degree(degree)))


_RULE_OF_SHAPE = {
    "line": line_rule,
    "triangle": triangle_rule,
    "quadrilateral": quadrilateral_rule,
    "tetrahedron": tetrahedron_rule,
    "hexahedron": hexahedron_rule,
}


def reference_shape(cell_type: str) -> str:
    """The reference shape name ("line", "triangle", ...) of a cell type or shape name."""
    if cell_type in _RULE_OF_SHAPE:
        return cell_type
    if cell_type in _SHAPE_OF_CELL:
        return _SHAPE_OF_CELL[cell_type]
    valid = ", ".join(repr(name) for name in [*_SHAPE_OF_CELL, *_RULE_OF_SHAPE])
    raise ValueError(f"`cell_type` must be one of {valid}; got {cell_type!r}.")


def quadrature(cell_type: str, degree: int) -> tuple[NumpyArray, NumpyArray]:
    r"""Quadrature rule on the reference cell of `cell_type`, exact to total degree `degree`.

    Dispatches to `line_rule`, `triangle_rule`, `quadrilateral_rule`, `tetrahedron_rule` or
    `hexahedron_rule`.

    Args:
        cell_type: an element cell type (`"line2"`, `"line3"`, `"tri3"`, `"tri6"`, `"quad4"`,
            `"quad8"`, `"quad9"`, `"tet4"`, `"tet10"`, `"hex8"`, `"hex20"`), its meshio
            name (`"triangle6"`, `"quad"`, `"tetra"`, ...) or a reference shape name
            (`"line"`, `"triangle"`, `"quadrilateral"`, `"tetrahedron"`, `"hexahedron"`).
        degree: polynomial degree to integrate exactly, a non-negative int.

    Returns:
        `(points, weights)` of shapes `(q, dim)` and `(q,)`, float64 numpy arrays, with
        reference coordinates as in the table of the module docstring.

    Raises:
        ValueError: for an unknown `cell_type` (listing the valid names) or `degree < 0`.
        TypeError: if `degree` is not an int.

    Example:
        >>> from dmech.fem import quadrature
        >>> points, weights = quadrature("quad4", 3)
        >>> points.shape, float(weights.sum())
        ((4, 2), 4.0)
    """
    if not isinstance(cell_type, str):
        raise TypeError(f"`cell_type` must be a str; got {type(cell_type).__name__}.")
    return _RULE_OF_SHAPE[reference_shape(cell_type)](degree)
