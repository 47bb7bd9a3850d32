r"""Reference Lagrange and serendipity finite elements (shape functions and their gradients).

An element is a static, hashable description of the shape functions $N_i(\xi)$,
$i = 1..n$, on a reference cell $\hat K$: an equinox Module with no array fields, so it
can be passed to `jax.jit` as static data and compared with `==`. The node ordering and
the reference cells follow VTK/meshio:

- `Line2`, `Line3` on $[-1, 1]$: nodes $-1, 1$, then the midpoint $0$ (`Line3`).
- `Tri3`, `Tri6` on the unit triangle: corners $(0,0), (1,0), (0,1)$, then the midsides
  of edges 0-1, 1-2, 2-0 (`Tri6`).
- `Quad4`, `Quad8`, `Quad9` on $[-1, 1]^2$: corners counter-clockwise from $(-1,-1)$,
  then the midsides of 0-1, 1-2, 2-3, 3-0 (`Quad8`, `Quad9`), then the centre (`Quad9`).
- `Tet4`, `Tet10` on the unit tetrahedron: corners $(0,0,0), (1,0,0), (0,1,0), (0,0,1)$,
  then the midsides of 0-1, 1-2, 2-0, 0-3, 1-3, 2-3 (`Tet10`).
- `Hex8`, `Hex20` on $[-1, 1]^3$: the bottom face ($\zeta = -1$) counter-clockwise from
  $(-1,-1,-1)$, then the top face; then the midsides of 0-1, 1-2, 2-3, 3-0, 4-5, 5-6, 6-7,
  7-4, 0-4, 1-5, 2-6, 3-7 (`Hex20`).

Each element interpolates nodal values, $u_h(\xi) = \sum_i u_i N_i(\xi)$, with
$N_i(\hat x_j) = \delta_{ij}$ at the reference nodes $\hat x_j$, and reproduces every
polynomial of total degree $\le$ `degree` exactly.

The shape functions are written once for an array namespace (`numpy` or `jax.numpy`), so
`shape_functions`/`shape_gradients` are traceable JAX functions that follow the dtype of
their input, while `tabulate` evaluates in float64 numpy whatever JAX's precision mode (for
tables precomputed once per element and quadrature rule).
"""

import abc
from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, ArrayLike, Float, NumpyArray
from ..geometry import cell_type
from ._quadrature import quadrature as _quadrature

__all__ = [
    "AbstractElement",
    "Hex8",
    "Hex20",
    "Line2",
    "Line3",
    "Quad4",
    "Quad8",
    "Quad9",
    "Tet4",
    "Tet10",
    "Tri3",
    "Tri6",
    "element",
    "tabulate",
]


class AbstractElement(eqx.Module):
    r"""Abstract reference finite element: shape functions on a reference cell.

    Subclasses fix the class-level attributes and the private evaluation methods; instances
    have no fields, so every instance of a class is equal to (and hashes like) every other,
    and an element can be a static argument of `jax.jit`.

    Attributes:
        cell_type: the cell type name, e.g. `"quad4"`.
        dim: dimension of the reference cell.
        num_nodes: number of nodes (shape functions).
        degree: polynomial degree of completeness (1 or 2): every polynomial of total degree
            $\le$ `degree` is interpolated exactly.
        default_quadrature_degree: the quadrature degree that integrates a stiffness matrix
            $\int \nabla N_i \cdot \nabla N_j$ exactly on an affine cell: $2(p - 1)$ on
            simplices, $2p$ on lines, quadrilaterals and hexahedra (full integration).
    """

    cell_type: eqx.AbstractClassVar[str]
    dim: eqx.AbstractClassVar[int]
    num_nodes: eqx.AbstractClassVar[int]
    degree: eqx.AbstractClassVar[int]
    default_quadrature_degree: eqx.AbstractClassVar[int]

    def reference_nodes(self) -> NumpyArray:
        """Coordinates of the nodes on the reference cell.

        Returns:
            A float64 numpy array of shape `(num_nodes, dim)`, in the element's node order.
        """
        return _nodes(self.cell_type)

    @abc.abstractmethod
    def _values(self, xp: Any, x: Any) -> Any:
        """Shape functions at points `x` of shape `(..., dim)`: shape `(..., num_nodes)`."""

    @abc.abstractmethod
    def _gradients(self, xp: Any, x: Any) -> Any:
        """Shape function gradients at `x` (`(..., dim)`): shape `(..., num_nodes, dim)`."""

    def _check_point(self, xi: Any) -> Array:
        x = jnp.asarray(xi)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"`xi` must have a floating dtype; got {x.dtype}.")
        if x.shape != (self.dim,):
            raise ValueError(
                f"`xi` must have shape ({self.dim},) for {type(self).__name__}; got {x.shape}."
            )
        return x

    def shape_functions(self, xi: Float[ArrayLike, " dim"]) -> Float[Array, " num_nodes"]:
        r"""Shape functions $N_i(\xi)$ at one reference point.

        Args:
            xi: reference coordinates of shape `(dim,)`, floating. Use `jax.vmap` for many
                points.

        Returns:
            $N(\xi)$ of shape `(num_nodes,)`, in the dtype of `xi`.

        Raises:
            ValueError: if `xi` does not have shape `(dim,)`.
            TypeError: if `xi` is not floating.

        Example:
            >>> import jax.numpy as jnp
            >>> from dmech.fem import Quad4
            >>> Quad4().shape_functions(jnp.zeros(2))
            Array([0.25, 0.25, 0.25, 0.25], dtype=float32)
        """
        return self._values(jnp, self._check_point(xi))

    def shape_gradients(self, xi: Float[ArrayLike, " dim"]) -> Float[Array, "num_nodes dim"]:
        r"""Gradients $\partial N_i / \partial \xi_k$ of the shape functions at one point.

        Closed-form derivatives (equal to `jax.jacfwd(self.shape_functions)(xi)`).

        Args:
            xi: reference coordinates of shape `(dim,)`, floating.

        Returns:
            The reference gradients, shape `(num_nodes, dim)`, in the dtype of `xi`; row `i`
            is $\hat\nabla N_i(\xi)$.

        Raises:
            ValueError: if `xi` does not have shape `(dim,)`.
            TypeError: if `xi` is not floating.

        Example:
            >>> import jax.numpy as jnp
            >>> from dmech.fem import Tri3
            >>> Tri3().shape_gradients(jnp.array([0.2, 0.3]))
            Array([[-1., -1.],
                   [ 1.,  0.],
                   [ 0.,  1.]], dtype=float32)
        """
        return self._gradients(jnp, self._check_point(xi))

    def quadrature(self, degree: int | None = None) -> tuple[NumpyArray, NumpyArray]:
        r"""Quadrature rule on this element's reference cell.

        See `dmech.fem.quadrature`.

        Args:
            degree: total polynomial degree integrated exactly; `None` is
                `default_quadrature_degree` (a stiffness matrix on an affine cell). A mass
                matrix $\int N_i N_j$ needs `2 * degree`.

        Returns:
            `(points, weights)`, float64 numpy arrays of shapes `(q, dim)` and `(q,)`.

        Raises:
            ValueError: if `degree < 0`.
            TypeError: if `degree` is not an int.

        Example:
            >>> from dmech.fem import Hex8
            >>> points, weights = Hex8().quadrature()
            >>> points.shape
            (8, 3)
        """
        if degree is None:
            degree = self.default_quadrature_degree
        return _quadrature(self.cell_type, degree)


# ---------------------------------------------------------------------------------------------
# Shared formulas, written for an array namespace `xp` (numpy or jax.numpy) and points `x`
# of shape (..., dim). Constants are cast to x's dtype (strict promotion).
# ---------------------------------------------------------------------------------------------


def _const(xp: Any, value: NumpyArray, x: Any) -> Any:
    return xp.asarray(value, dtype=x.dtype)


def _barycentric_gradients(dim: int) -> NumpyArray:
    """Constant gradients of L_0 = 1 - Σ x_k, L_k = x_k: shape (dim + 1, dim)."""
    return np.concatenate([-np.ones((1, dim)), np.eye(dim)], axis=0)


def _barycentric(xp: Any, x: Any) -> Any:
    return xp.concatenate([1.0 - xp.sum(x, axis=-1, keepdims=True), x], axis=-1)


def _p1_values(xp: Any, x: Any) -> Any:
    return _barycentric(xp, x)


def _p1_gradients(xp: Any, x: Any) -> Any:
    dim = x.shape[-1]
    grads = _const(xp, _barycentric_gradients(dim), x)
    return xp.broadcast_to(grads, (*x.shape[:-1], dim + 1, dim))


def _p2_values(xp: Any, x: Any, edges: NumpyArray) -> Any:
    lam = _barycentric(xp, x)
    corners = lam * (2.0 * lam - 1.0)
    mids = 4.0 * lam[..., edges[:, 0]] * lam[..., edges[:, 1]]
    return xp.concatenate([corners, mids], axis=-1)


def _p2_gradients(xp: Any, x: Any, edges: NumpyArray) -> Any:
    dim = x.shape[-1]
    lam = _barycentric(xp, x)[..., None]  # (..., dim + 1, 1)
    dlam = _const(xp, _barycentric_gradients(dim), x)  # (dim + 1, dim)
    corners = (4.0 * lam - 1.0) * dlam
    i, j = edges[:, 0], edges[:, 1]
    mids = 4.0 * (lam[..., j, :] * dlam[i] + lam[..., i, :] * dlam[j])
    return xp.concatenate([corners, mids], axis=-2)


# Tensor-product Lagrange elements: 1D nodes (-1, 1) or (-1, 1, 0), VTK's 1D order.
_LINE_NODES = {1: np.array([-1.0, 1.0]), 2: np.array([-1.0, 1.0, 0.0])}


def _line_basis(xp: Any, t: Any, order: int) -> tuple[Any, Any]:
    """1D Lagrange basis on the nodes `_LINE_NODES[order]` at `t` (shape `(...)`)."""
    if order == 1:
        values = xp.stack([(1.0 - t) / 2.0, (1.0 + t) / 2.0], axis=-1)
        half = xp.full_like(t, 0.5)
        derivs = xp.stack([-half, half], axis=-1)
    else:
        values = xp.stack([t * (t - 1.0) / 2.0, t * (t + 1.0) / 2.0, 1.0 - t * t], axis=-1)
        derivs = xp.stack([t - 0.5, t + 0.5, -2.0 * t], axis=-1)
    return values, derivs


def _tensor_index(nodes: NumpyArray, order: int) -> NumpyArray:
    """For each node and direction, the index of its coordinate among the 1D nodes."""
    line = _LINE_NODES[order]
    return np.argmin(np.abs(nodes[:, :, None] - line[None, None, :]), axis=-1)


def _tensor_factors(xp: Any, x: Any, nodes: NumpyArray, order: int) -> tuple[list, list]:
    index = _tensor_index(nodes, order)
    values, derivs = [], []
    for k in range(nodes.shape[1]):
        v, dv = _line_basis(xp, x[..., k], order)
        values.append(v[..., index[:, k]])
        derivs.append(dv[..., index[:, k]])
    return values, derivs


def _product(factors: list) -> Any:
    out = factors[0]
    for f in factors[1:]:
        out = out * f
    return out


def _tensor_values(xp: Any, x: Any, nodes: NumpyArray, order: int) -> Any:
    values, _ = _tensor_factors(xp, x, nodes, order)
    return _product(values)


def _tensor_gradients(xp: Any, x: Any, nodes: NumpyArray, order: int) -> Any:
    values, derivs = _tensor_factors(xp, x, nodes, order)
    dim = len(values)
    columns = [
        _product([derivs[k] if j == k else values[j] for j in range(dim)]) for k in range(dim)
    ]
    return xp.stack(columns, axis=-1)


# Serendipity elements (Quad8, Hex20): corner nodes (all |c_k| = 1) and edge midsides (one
# c_m = 0). Per node and direction a factor f_k(x_k): 1 + c_k x_k, or 1 - x_m^2 along the
# edge direction; N = Π_k f_k · g / s with g = Σ_k c_k x_k - (dim - 1) at corners (1 at
# midsides) and s = 2^dim at corners, 2^(dim-1) at midsides.
def _serendipity_parts(xp: Any, x: Any, nodes: NumpyArray) -> tuple[Any, ...]:
    dim = nodes.shape[1]
    along = nodes == 0.0  # (n, dim): the edge direction of midside nodes
    corner = ~np.any(along, axis=1)  # (n,)
    c = _const(xp, nodes, x)
    xe = x[..., None, :]  # (..., 1, dim)
    f = xp.where(along, 1.0 - xe * xe, 1.0 + c * xe)  # (..., n, dim)
    df = xp.where(along, -2.0 * xe, c)
    g = xp.where(corner, xp.sum(c * xe, axis=-1) - (dim - 1.0), 1.0)  # (..., n)
    dg = _const(xp, np.where(corner[:, None], nodes, 0.0), x)  # (n, dim)
    scale = _const(xp, np.where(corner, 2.0**-dim, 2.0 ** (1 - dim)), x)  # (n,)
    return f, df, g, dg, scale


def _serendipity_values(xp: Any, x: Any, nodes: NumpyArray) -> Any:
    f, _, g, _, scale = _serendipity_parts(xp, x, nodes)
    return _product([f[..., k] for k in range(nodes.shape[1])]) * g * scale


def _serendipity_gradients(xp: Any, x: Any, nodes: NumpyArray) -> Any:
    f, df, g, dg, scale = _serendipity_parts(xp, x, nodes)
    dim = nodes.shape[1]
    full = _product([f[..., k] for k in range(dim)])
    columns = []
    for k in range(dim):
        others = _product([f[..., j] for j in range(dim) if j != k]) if dim > 1 else 1.0
        columns.append((df[..., k] * others * g + full * dg[:, k]) * scale)
    return xp.stack(columns, axis=-1)


# Reference nodes and edges are the mesh's (dmech.geometry owns the cell topology, in VTK
# order); the elements add shape functions on them.
_TRI_EDGES = cell_type("tri6").edges
_TET_EDGES = cell_type("tet10").edges
_NODES = {
    name: np.asarray(cell_type(name).reference_points, dtype=np.float64)
    for name in (
        "line2",
        "line3",
        "tri3",
        "tri6",
        "quad4",
        "quad8",
        "quad9",
        "tet4",
        "tet10",
        "hex8",
        "hex20",
    )
}
for _array in _NODES.values():
    _array.setflags(write=False)


def _nodes(cell_type: str) -> NumpyArray:
    return _NODES[cell_type].copy()


# ---------------------------------------------------------------------------------------------
# Final elements
# ---------------------------------------------------------------------------------------------


class Line2(AbstractElement):
    r"""Two-node linear element on $[-1, 1]$: $N = ((1 - \xi)/2, (1 + \xi)/2)$.

    Nodes $-1, 1$; default quadrature degree 2 (two Gauss points).

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.fem import Line2
        >>> Line2().shape_functions(jnp.array([0.5]))
        Array([0.25, 0.75], dtype=float32)

    References:
        Hughes (2000), *The Finite Element Method*, Dover, §3.2.
    """

    cell_type: ClassVar[str] = "line2"
    dim: ClassVar[int] = 1
    num_nodes: ClassVar[int] = 2
    degree: ClassVar[int] = 1
    default_quadrature_degree: ClassVar[int] = 2

    def _values(self, xp: Any, x: Any) -> Any:
        return _tensor_values(xp, x, _NODES[self.cell_type], 1)

    def _gradients(self, xp: Any, x: Any) -> Any:
        return _tensor_gradients(xp, x, _NODES[self.cell_type], 1)


class Line3(AbstractElement):
    r"""Three-node quadratic element on $[-1, 1]$, nodes $-1, 1, 0$ (ends, then midpoint).

    $N = (\xi(\xi - 1)/2,\ \xi(\xi + 1)/2,\ 1 - \xi^2)$; default quadrature degree 4.

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.fem import Line3
        >>> Line3().shape_functions(jnp.array([0.5]))
        Array([-0.125,  0.375,  0.75 ], dtype=float32)

    References:
        Hughes (2000), *The Finite Element Method*, Dover, §3.2.
    """

    cell_type: ClassVar[str] = "line3"
    dim: ClassVar[int] = 1
    num_nodes: ClassVar[int] = 3
    degree: ClassVar[int] = 2
    default_quadrature_degree: ClassVar[int] = 4

    def _values(self, xp: Any, x: Any) -> Any:
        return _tensor_values(xp, x, _NODES[self.cell_type], 2)

    def _gradients(self, xp: Any, x: Any) -> Any:
        return _tensor_gradients(xp, x, _NODES[self.cell_type], 2)


class Tri3(AbstractElement):
    r"""Three-node linear triangle (P1) on the unit triangle.

    $N = (1 - \xi - \eta,\ \xi,\ \eta)$, the barycentric coordinates; constant gradients;
    default quadrature degree 0 (one point).

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.fem import Tri3
        >>> Tri3().shape_functions(jnp.array([0.25, 0.5]))
        Array([0.25, 0.25, 0.5 ], dtype=float32)

    References:
        Zienkiewicz, Taylor and Zhu (2013), *The Finite Element Method: Its Basis and
        Fundamentals*, 7th ed., §6.5.
    """

    cell_type: ClassVar[str] = "tri3"
    dim: ClassVar[int] = 2
    num_nodes: ClassVar[int] = 3
    degree: ClassVar[int] = 1
    default_quadrature_degree: ClassVar[int] = 0

    def _values(self, xp: Any, x: Any) -> Any:
        return _p1_values(xp, x)

    def _gradients(self, xp: Any, x: Any) -> Any:
        return _p1_gradients(xp, x)


class Tri6(AbstractElement):
    r"""Six-node quadratic triangle (P2) on the unit triangle.

    With barycentric coordinates $L_0 = 1 - \xi - \eta$, $L_1 = \xi$, $L_2 = \eta$: corner
    functions $L_i(2L_i - 1)$, then midside functions $4 L_0 L_1$, $4 L_1 L_2$, $4 L_2 L_0$
    (edges 0-1, 1-2, 2-0). Default quadrature degree 2.

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.fem import Tri6
        >>> Tri6().shape_functions(jnp.array([0.5, 0.0]))[3]  # midside of edge 0-1
        Array(1., dtype=float32)

    References:
        Zienkiewicz, Taylor and Zhu (2013), *The Finite Element Method: Its Basis and
        Fundamentals*, 7th ed., §6.5.
    """

    cell_type: ClassVar[str] = "tri6"
    dim: ClassVar[int] = 2
    num_nodes: ClassVar[int] = 6
    degree: ClassVar[int] = 2
    default_quadrature_degree: ClassVar[int] = 2

    def _values(self, xp: Any, x: Any) -> Any:
        return _p2_values(xp, x, np.array(_TRI_EDGES))

    def _gradients(self, xp: Any, x: Any) -> Any:
        return _p2_gradients(xp, x, np.array(_TRI_EDGES))


class Quad4(AbstractElement):
    r"""Four-node bilinear quadrilateral (Q1) on $[-1, 1]^2$.

    $N_i = \tfrac14 (1 + \xi \xi_i)(1 + \eta \eta_i)$ for the corners $(\xi_i, \eta_i)$
    ordered $(-1,-1), (1,-1), (1,1), (-1,1)$. Default quadrature degree 2 (2x2 Gauss).

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.fem import Quad4
        >>> Quad4().shape_functions(jnp.array([1.0, -1.0]))
        Array([0., 1., 0., 0.], dtype=float32)

    References:
        Zienkiewicz, Taylor and Zhu (2013), *The Finite Element Method: Its Basis and
        Fundamentals*, 7th ed., §6.3.
    """

    cell_type: ClassVar[str] = "quad4"
    dim: ClassVar[int] = 2
    num_nodes: ClassVar[int] = 4
    degree: ClassVar[int] = 1
    default_quadrature_degree: ClassVar[int] = 2

    def _values(self, xp: Any, x: Any) -> Any:
        return _tensor_values(xp, x, _NODES[self.cell_type], 1)

    def _gradients(self, xp: Any, x: Any) -> Any:
        return _tensor_gradients(xp, x, _NODES[self.cell_type], 1)


class Quad8(AbstractElement):
    r"""Eight-node serendipity quadrilateral on $[-1, 1]^2$.

    Corners (as `Quad4`): $N_i = \tfrac14 (1 + \xi\xi_i)(1 + \eta\eta_i)(\xi\xi_i +
    \eta\eta_i - 1)$; midsides of edges 0-1, 1-2, 2-3, 3-0: $\tfrac12 (1 - \xi^2)(1 +
    \eta\eta_i)$ or $\tfrac12 (1 + \xi\xi_i)(1 - \eta^2)$. Complete to degree 2 (it spans
    $P_2$ plus $\xi^2\eta$, $\xi\eta^2$, but not $\xi^2\eta^2$). Default quadrature degree
    4 (3x3 Gauss).

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.fem import Quad8
        >>> float(Quad8().shape_functions(jnp.zeros(2)).sum())
        1.0

    References:
        Zienkiewicz, Taylor and Zhu (2013), *The Finite Element Method: Its Basis and
        Fundamentals*, 7th ed., §6.4.
    """

    cell_type: ClassVar[str] = "quad8"
    dim: ClassVar[int] = 2
    num_nodes: ClassVar[int] = 8
    degree: ClassVar[int] = 2
    default_quadrature_degree: ClassVar[int] = 4

    def _values(self, xp: Any, x: Any) -> Any:
        return _serendipity_values(xp, x, _NODES[self.cell_type])

    def _gradients(self, xp: Any, x: Any) -> Any:
        return _serendipity_gradients(xp, x, _NODES[self.cell_type])


class Quad9(AbstractElement):
    r"""Nine-node biquadratic Lagrange quadrilateral (Q2) on $[-1, 1]^2$.

    Nodes as `Quad8` plus the centre $(0, 0)$; $N_i(\xi, \eta) = \ell_a(\xi)\,\ell_b(\eta)$
    with the 1D quadratic Lagrange basis $\ell$ on $\{-1, 1, 0\}$. Spans $Q_2$ (including
    $\xi^2\eta^2$). Default quadrature degree 4 (3x3 Gauss).

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.fem import Quad9
        >>> Quad9().shape_functions(jnp.zeros(2))[-1]
        Array(1., dtype=float32)

    References:
        Zienkiewicz, Taylor and Zhu (2013), *The Finite Element Method: Its Basis and
        Fundamentals*, 7th ed., §6.3.
    """

    cell_type: ClassVar[str] = "quad9"
    dim: ClassVar[int] = 2
    num_nodes: ClassVar[int] = 9
    degree: ClassVar[int] = 2
    default_quadrature_degree: ClassVar[int] = 4

    def _values(self, xp: Any, x: Any) -> Any:
        return _tensor_values(xp, x, _NODES[self.cell_type], 2)

    def _gradients(self, xp: Any, x: Any) -> Any:
        return _tensor_gradients(xp, x, _NODES[self.cell_type], 2)


class Tet4(AbstractElement):
    r"""Four-node linear tetrahedron (P1) on the unit tetrahedron.

    $N = (1 - \xi - \eta - \zeta,\ \xi,\ \eta,\ \zeta)$; constant gradients; default
    quadrature degree 0 (one point).

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.fem import Tet4
        >>> Tet4().shape_functions(jnp.full(3, 0.25))
        Array([0.25, 0.25, 0.25, 0.25], dtype=float32)

    References:
        Zienkiewicz, Taylor and Zhu (2013), *The Finite Element Method: Its Basis and
        Fundamentals*, 7th ed., §6.6.
    """

    cell_type: ClassVar[str] = "tet4"
    dim: ClassVar[int] = 3
    num_nodes: ClassVar[int] = 4
    degree: ClassVar[int] = 1
    default_quadrature_degree: ClassVar[int] = 0

    def _values(self, xp: Any, x: Any) -> Any:
        return _p1_values(xp, x)

    def _gradients(self, xp: Any, x: Any) -> Any:
        return _p1_gradients(xp, x)


class Tet10(AbstractElement):
    r"""Ten-node quadratic tetrahedron (P2) on the unit tetrahedron.

    Corner functions $L_i(2L_i - 1)$, then $4 L_i L_j$ on the edges 0-1, 1-2, 2-0, 0-3, 1-3,
    2-3 (VTK/meshio order), with $L_0 = 1 - \xi - \eta - \zeta$, $L_1 = \xi$, $L_2 = \eta$,
    $L_3 = \zeta$. Default quadrature degree 2.

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.fem import Tet10
        >>> Tet10().shape_functions(jnp.array([0.0, 0.0, 0.5]))[7]  # edge 0-3
        Array(1., dtype=float32)

    References:
        Zienkiewicz, Taylor and Zhu (2013), *The Finite Element Method: Its Basis and
        Fundamentals*, 7th ed., §6.6.
    """

    cell_type: ClassVar[str] = "tet10"
    dim: ClassVar[int] = 3
    num_nodes: ClassVar[int] = 10
    degree: ClassVar[int] = 2
    default_quadrature_degree: ClassVar[int] = 2

    def _values(self, xp: Any, x: Any) -> Any:
        return _p2_values(xp, x, np.array(_TET_EDGES))

    def _gradients(self, xp: Any, x: Any) -> Any:
        return _p2_gradients(xp, x, np.array(_TET_EDGES))


class Hex8(AbstractElement):
    r"""Eight-node trilinear hexahedron (Q1) on $[-1, 1]^3$.

    $N_i = \tfrac18 (1 + \xi\xi_i)(1 + \eta\eta_i)(1 + \zeta\zeta_i)$, corners in VTK order
    (bottom face $\zeta = -1$ counter-clockwise from $(-1,-1,-1)$, then the top face).
    Default quadrature degree 2 (2x2x2 Gauss).

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.fem import Hex8
        >>> Hex8().shape_functions(jnp.ones(3))[6]
        Array(1., dtype=float32)

    References:
        Zienkiewicz, Taylor and Zhu (2013), *The Finite Element Method: Its Basis and
        Fundamentals*, 7th ed., §6.7.
    """

    cell_type: ClassVar[str] = "hex8"
    dim: ClassVar[int] = 3
    num_nodes: ClassVar[int] = 8
    degree: ClassVar[int] = 1
    default_quadrature_degree: ClassVar[int] = 2

    def _values(self, xp: Any, x: Any) -> Any:
        return _tensor_values(xp, x, _NODES[self.cell_type], 1)

    def _gradients(self, xp: Any, x: Any) -> Any:
        return _tensor_gradients(xp, x, _NODES[self.cell_type], 1)


class Hex20(AbstractElement):
    r"""Twenty-node serendipity hexahedron on $[-1, 1]^3$.

    Corners (as `Hex8`): $N_i = \tfrac18 (1 + \xi\xi_i)(1 + \eta\eta_i)(1 + \zeta\zeta_i)
    (\xi\xi_i + \eta\eta_i + \zeta\zeta_i - 2)$; midsides of the edges 0-1, 1-2, 2-3, 3-0,
    4-5, 5-6, 6-7, 7-4, 0-4, 1-5, 2-6, 3-7 (VTK/meshio order), e.g. $\tfrac14 (1 - \xi^2)
    (1 + \eta\eta_i)(1 + \zeta\zeta_i)$ on an edge along $\xi$. Complete to degree 2.
    Default quadrature degree 4 (3x3x3 Gauss).

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.fem import Hex20
        >>> float(Hex20().shape_functions(jnp.zeros(3)).sum())
        1.0

    References:
        Zienkiewicz, Taylor and Zhu (2013), *The Finite Element Method: Its Basis and
        Fundamentals*, 7th ed., §6.7.
    """

    cell_type: ClassVar[str] = "hex20"
    dim: ClassVar[int] = 3
    num_nodes: ClassVar[int] = 20
    degree: ClassVar[int] = 2
    default_quadrature_degree: ClassVar[int] = 4

    def _values(self, xp: Any, x: Any) -> Any:
        return _serendipity_values(xp, x, _NODES[self.cell_type])

    def _gradients(self, xp: Any, x: Any) -> Any:
        return _serendipity_gradients(xp, x, _NODES[self.cell_type])


# ---------------------------------------------------------------------------------------------
# Registry and tabulation
# ---------------------------------------------------------------------------------------------

_ELEMENTS: dict[str, type[AbstractElement]] = {
    cls.cell_type: cls
    for cls in (Line2, Line3, Tri3, Tri6, Quad4, Quad8, Quad9, Tet4, Tet10, Hex8, Hex20)
}
# meshio's names for the same cells (identical node ordering).
_MESHIO_ALIASES = {
    "line": "line2",
    "triangle": "tri3",
    "triangle6": "tri6",
    "quad": "quad4",
    "tetra": "tet4",
    "tetra10": "tet10",
    "hexahedron": "hex8",
    "hexahedron20": "hex20",
}


def element(cell_type: str) -> AbstractElement:
    """The reference element of a cell type.

    Args:
        cell_type: one of `"line2"`, `"line3"`, `"tri3"`, `"tri6"`, `"quad4"`, `"quad8"`,
            `"quad9"`, `"tet4"`, `"tet10"`, `"hex8"`, `"hex20"`, or meshio's name for one of
            them (`"line"`, `"triangle"`, `"triangle6"`, `"quad"`, `"tetra"`, `"tetra10"`,
            `"hexahedron"`, `"hexahedron20"`; the node orderings are the same).

    Returns:
        An instance of the matching final element class.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
        TypeError: if `cell_type` is not a str.

    Example:
        >>> from dmech.fem import element
        >>> element("tri6")
        Tri6()
        >>> element("hexahedron").num_nodes
        8
    """
    if not isinstance(cell_type, str):
        raise TypeError(f"`cell_type` must be a str; got {type(cell_type).__name__}.")
    name = _MESHIO_ALIASES.get(cell_type, cell_type)
    if name not in _ELEMENTS:
        valid = ", ".join(repr(n) for n in [*_ELEMENTS, *_MESHIO_ALIASES])
        raise ValueError(f"`cell_type` must be one of {valid}; got {cell_type!r}.")
    return _ELEMENTS[name]()


def tabulate(
    element: AbstractElement, points: Float[ArrayLike, "q dim"]
) -> tuple[Float[NumpyArray, "q num_nodes"], Float[NumpyArray, "q num_nodes dim"]]:
    r"""Shape functions and reference gradients at many points, in float64 numpy.

    $$N_{qi} = N_i(\xi_q), \qquad dN_{qik} = \frac{\partial N_i}{\partial \xi_k}(\xi_q).$$

    Evaluated with numpy in float64 whatever JAX's precision mode, for tables computed once
    per element and quadrature rule (assembly maps `dN` with the inverse Jacobians of the
    cells: $\nabla_x N_i = J^{-T} \hat\nabla N_i$).

    Args:
        element: the reference element.
        points: reference coordinates of shape `(q, dim)`.

    Returns:
        `(N, dN)`: float64 numpy arrays of shapes `(q, num_nodes)` and
        `(q, num_nodes, dim)`.

    Raises:
        TypeError: if `element` is not an `AbstractElement`.
        ValueError: if `points` does not have shape `(q, dim)`.

    Example:
        >>> from dmech.fem import Quad4, tabulate
        >>> element = Quad4()
        >>> points, weights = element.quadrature()
        >>> N, dN = tabulate(element, points)
        >>> N.shape, dN.shape
        ((4, 4), (4, 4, 2))
    """
    if not isinstance(element, AbstractElement):
        raise TypeError(f"`element` must be an AbstractElement; got {type(element).__name__}.")
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != element.dim:
        raise ValueError(
            f"`points` must have shape (q, {element.dim}) for {type(element).__name__}; "
            f"got {x.shape}."
        )
    values = np.array(element._values(np, x), dtype=np.float64)
    gradients = np.array(element._gradients(np, x), dtype=np.float64)
    return values, gradients
