"""Unstructured mesh: array coordinates, static connectivity."""

from collections.abc import Sequence
from typing import Any, TypeAlias

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, ArrayLike, Float, NumpyArray
from .._static import StaticArray, is_concrete
from ._cell_types import _CORNER_SIMPLICES, CellType, cell_type

__all__ = ["Mesh"]

# Nested Python lists are accepted too (converted with NumPy, then checked).
PointsLike: TypeAlias = Float[ArrayLike, "num_nodes dim"] | ArrayLike | Sequence[Sequence[float]]
CellsLike: TypeAlias = ArrayLike | Sequence[Sequence[int]]


def _first(mask: NumpyArray) -> tuple[int, int]:
    """(count of True, index of the first True) of a 1-D boolean mask."""
    idx = np.flatnonzero(mask)
    return len(idx), int(idx[0]) if len(idx) else -1


def _check_points(points: Any, ctype: CellType, argname: str) -> Array:
    if isinstance(points, np.ndarray | jax.Array):
        arr = points
    else:
        try:
            arr = np.asarray(points)
        except Exception as e:
            raise ValueError(f"`{argname}` must be an array; got {type(points).__name__}.") from e
    if isinstance(arr, np.ndarray) and not arr.dtype.isnative:  # e.g. big-endian VTK data
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        raise ValueError(
            f"`{argname}` must be a floating array of shape (num_nodes, {ctype.dim}); got "
            f"dtype {arr.dtype}."
        )
    if arr.ndim != 2 or arr.shape[1] != ctype.dim:
        raise ValueError(
            f"`{argname}` must have shape (num_nodes, {ctype.dim}) for cell type "
            f"{ctype.name!r} (dim {ctype.dim}); got shape {tuple(arr.shape)}."
        )
    return jnp.asarray(arr)


def _check_cells(cells: Any, ctype: CellType, num_nodes: int, *, full: bool) -> NumpyArray:
    if isinstance(cells, jax.core.Tracer):
        raise ValueError("`cells` must be concrete (NumPy) connectivity; got a traced array.")
    arr = np.asarray(cells)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"`cells` must be an integer array of shape (num_cells, {ctype.num_nodes}); "
            f"got dtype {arr.dtype}."
        )
    if arr.ndim != 2 or arr.shape[1] != ctype.num_nodes:
        raise ValueError(
            f"`cells` must have shape (num_cells, {ctype.num_nodes}) for cell type "
            f"{ctype.name!r}; got shape {arr.shape}."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"`cells` must contain at least one cell; got shape {arr.shape}.")
    if arr.dtype not in (np.int32, np.int64):
        if arr.size and (arr.max() > np.iinfo(np.int64).max or arr.min() < -(2**63)):
            raise ValueError("`cells` holds indices that do not fit in int64.")
        arr = arr.astype(np.int64)
    if not full:
        return arr
    negative = np.any(arr < 0, axis=1)
    count, first = _first(negative)
    if count:
        raise ValueError(
            f"`cells` holds negative node indices in {count} cell(s); first: cell {first} "
            f"(nodes {arr[first].tolist()})."
        )
    too_big = np.any(arr >= num_nodes, axis=1)
    count, first = _first(too_big)
    if count:
        raise ValueError(
            f"`cells` holds node indices out of range [0, {num_nodes}) (num_nodes from "
            f"`points`) in {count} cell(s); first: cell {first} (nodes {arr[first].tolist()})."
        )
    srt = np.sort(arr, axis=1)
    repeated = np.any(srt[:, 1:] == srt[:, :-1], axis=1)
    count, first = _first(repeated)
    if count:
        raise ValueError(
            f"`cells` repeats a node within a cell in {count} cell(s); first: cell {first} "
            f"(nodes {arr[first].tolist()})."
        )
    used = np.zeros(num_nodes, dtype=bool)
    used[arr.ravel()] = True
    count, first = _first(~used)
    if count:
        raise ValueError(
            f"`points` has {count} unused node(s) (referenced by no cell in `cells`); first: "
            f"node {first}. Remove them (e.g. `from_meshio(..., remove_unused=True)`)."
        )
    return arr


def _relative_corner_measures(points: NumpyArray, cells: NumpyArray, ctype: CellType) -> NumpyArray:
    """Smallest corner Jacobian of each cell divided by h^dim, h the corner bounding box size.

    Returns an array of shape (num_cells,), computed in float64.
    """
    corner = cell_type(ctype.corner_type)
    simplices = _CORNER_SIMPLICES[corner.name]
    x = np.asarray(points, dtype=np.float64)[cells[:, : corner.num_corners]]
    dets = []
    for s in simplices:
        edges = x[:, list(s[1:]), :] - x[:, s[0] : s[0] + 1, :]  # (n, dim, dim), rows = edges
        dets.append(np.linalg.det(edges) if ctype.dim > 1 else edges[:, 0, 0])
    jmin = np.min(np.stack(dets, axis=1), axis=1)
    h = np.max(np.ptp(x, axis=1), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(h > 0, jmin / np.where(h > 0, h, 1.0) ** ctype.dim, 0.0)
    return rel


def _check_geometry(points: Array, cells: NumpyArray, ctype: CellType, *, argname: str) -> None:
    x = np.asarray(points)
    nonfinite = ~np.all(np.isfinite(x), axis=1)
    count, first = _first(nonfinite)
    if count:
        raise ValueError(
            f"`{argname}` holds non-finite coordinates at {count} node(s); first: node {first}."
        )
    rel = _relative_corner_measures(x, cells, ctype)
    tol = max(1e-12, 16 * float(np.finfo(x.dtype).eps))
    what = {1: "length", 2: "area", 3: "volume"}[ctype.dim]
    count, first = _first(rel < -tol)
    if count:
        raise ValueError(
            f"{count} of {len(cells)} cell(s) are inverted (negative signed {what} at a "
            f"corner, for the given `{argname}` and `cells`); first: cell {first} (nodes "
            f"{cells[first].tolist()}). Reorder each cell's nodes to positive orientation."
        )
    count, first = _first(np.abs(rel) <= tol)
    if count:
        raise ValueError(
            f"{count} of {len(cells)} cell(s) are degenerate (zero or tiny signed {what} at "
            f"a corner, |J| <= {tol:.1e} h^{ctype.dim}, for the given `{argname}` and "
            f"`cells`); first: cell {first} (nodes {cells[first].tolist()})."
        )


class Mesh(eqx.Module):
    r"""An unstructured mesh of one cell type: array coordinates, static connectivity.

    `points` is an array leaf (differentiable, may be traced, changing it never
    recompiles); the connectivity `cells` and the `cell_type` are static data, so the
    mesh can be passed straight through `jax.jit`/`equinox.filter_jit` and a new mesh with
    other connectivity compiles anew. Meshes are hashable; two meshes are equal when their
    cell type, connectivity and points (shape, dtype and values) are equal.

    Node ordering within a cell follows VTK/meshio (see `CellType`); cells must be
    positively oriented.

    Attributes:
        points: node coordinates, shape `(num_nodes, dim)`, floating (units of length).
        cell_type: the cell type name, e.g. `"quad4"` (static).

    Example:
        >>> import numpy as np
        >>> from dmech.geometry import Mesh
        >>> mesh = Mesh(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), [[0, 1, 2]], "tri3")
        >>> mesh.num_cells, mesh.dim, mesh.cells.dtype
        (1, 2, dtype('int64'))
    """

    points: Float[Array, "num_nodes dim"]
    _cells: StaticArray = eqx.field(static=True)
    cell_type: str = eqx.field(static=True)

    def __init__(
        self,
        points: PointsLike,
        cells: CellsLike,
        cell_type: "str | CellType",
        *,
        validate: bool = True,
    ):
        """Build a mesh, checking its topology and geometry before anything compiles.

        Args:
            points: node coordinates, shape `(num_nodes, dim)` with `dim` the cell
                type's dimension; a floating array (kept as a JAX array in its dtype,
                subject to JAX's x64 setting).
            cells: connectivity, integer array of shape `(num_cells, nodes_per_cell)`,
                local node order as in `CellType`; stored as a read-only C-contiguous
                NumPy array (int32 and int64 are kept, other integer types become int64).
            cell_type: a cell type name (see `cell_type`) or `CellType`.
            validate: run the checks below (shape and dtype checks always run).

        Raises:
            ValueError: naming the argument, for an unknown `cell_type`; `points` not a 2-D
                floating array with `dim` columns; `cells` not a 2-D integer array with
                the type's nodes per cell. With `validate`: negative or out-of-range node
                indices, a node repeated within a cell, nodes used by no cell, and (only
                when `points` is concrete, not traced) non-finite coordinates, inverted
                cells (negative corner Jacobian; for quadrilaterals the corner triangle at
                each corner, which catches bow-ties; for hexahedra the corner tetrahedron
                at each corner) and degenerate cells (corner Jacobian
                $|J| \\le \\max(10^{-12}, 16\\varepsilon)\\,h^d$, $h$ the size of the cell's
                bounding box, $\\varepsilon$ the machine epsilon of `points`). Each message
                gives the number of offending cells/nodes and the first one's index.
        """
        ctype = _resolve_type(cell_type, "cell_type")
        pts = _check_points(points, ctype, "points")
        arr = _check_cells(cells, ctype, pts.shape[0], full=validate)
        if validate and is_concrete(pts):
            _check_geometry(pts, arr, ctype, argname="points")
        self.points = pts
        self._cells = StaticArray(arr)
        self.cell_type = ctype.name

    # --- properties -----------------------------------------------------------------------

    @property
    def cells(self) -> NumpyArray:
        """Connectivity, a read-only C-contiguous int NumPy array `(num_cells, nodes_per_cell)`."""
        return self._cells.array

    @property
    def type(self) -> CellType:
        """The `CellType` of the cells."""
        return cell_type(self.cell_type)

    @property
    def dim(self) -> int:
        """Spatial dimension (columns of `points`)."""
        return self.points.shape[1]

    @property
    def num_nodes(self) -> int:
        """Number of nodes (rows of `points`)."""
        return self.points.shape[0]

    @property
    def num_cells(self) -> int:
        """Number of cells (rows of `cells`)."""
        return self._cells.array.shape[0]

    # --- derived meshes and arrays --------------------------------------------------------

    def with_points(self, new_points: PointsLike, *, validate: bool = False) -> "Mesh":
        """The same connectivity on new node coordinates (e.g. a deformed mesh).

        The topology is not re-checked. Works under `jax.jit` (traced `new_points`).

        Args:
            new_points: coordinates of shape `(num_nodes, dim)`, floating.
            validate: also check the geometry (inverted or degenerate cells) when
                `new_points` is concrete.

        Returns:
            A new `Mesh` sharing the connectivity.

        Raises:
            ValueError: if `new_points` is not floating or its shape differs from
                `points.shape`; with `validate`, for inverted or degenerate cells.

        Example:
            >>> from dmech.geometry import rectangle_mesh
            >>> mesh = rectangle_mesh(2, 2)
            >>> moved = mesh.with_points(2.0 * mesh.points)
            >>> bool((moved.cells == mesh.cells).all())
            True
        """
        pts = _check_points(new_points, self.type, "new_points")
        if pts.shape != self.points.shape:
            raise ValueError(
                f"`new_points` must have shape {tuple(self.points.shape)} (the mesh's "
                f"`points`); got {tuple(pts.shape)}."
            )
        if validate and is_concrete(pts):
            _check_geometry(pts, self.cells, self.type, argname="new_points")
        return eqx.tree_at(lambda m: m.points, self, pts)

    def cell_points(self) -> Float[Array, "num_cells nodes_per_cell dim"]:
        """Coordinates of every node of every cell, `points[cells]`.

        Returns:
            Array of shape `(num_cells, nodes_per_cell, dim)` (differentiable in `points`).
        """
        return self.points[jnp.asarray(self.cells)]

    # --- hashing --------------------------------------------------------------------------

    def __hash__(self) -> int:
        return hash((self.cell_type, self._cells, tuple(self.points.shape), str(self.points.dtype)))

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        if self is other:
            return True
        if not isinstance(other, Mesh):
            return NotImplemented
        if self.cell_type != other.cell_type or self._cells != other._cells:
            return False
        a, b = self.points, other.points
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if not (is_concrete(a) and is_concrete(b)):
            return a is b
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def _resolve_type(value: Any, argname: str) -> CellType:
    if isinstance(value, CellType):
        return value
    if not isinstance(value, str):
        raise ValueError(f"`{argname}` must be a cell type name; got {type(value).__name__}.")
    try:
        ctype = cell_type(value)
    except ValueError as e:
        raise ValueError(f"`{argname}`: {e}") from None
    if ctype.dim == 0:
        raise ValueError(f"`{argname}` must have dimension 1, 2 or 3; got {value!r}.")
    return ctype
