"""Boundary facets and node/facet selection by predicates on coordinates."""

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from .._custom_types import NumpyArray
from ._cell_types import CellType, cell_type
from ._mesh import Mesh

__all__ = [
    "BoundaryFacets",
    "boundary_facets",
    "boundary_nodes",
    "in_box",
    "on_plane",
    "select_facets",
    "select_nodes",
]

Predicate = Callable[[NumpyArray], NumpyArray]


@dataclasses.dataclass(frozen=True, eq=False)
class BoundaryFacets:
    """A set of boundary facets of a mesh (NumPy arrays, static data).

    Facet `f` is facet `local_index[f]` of cell `cell_index[f]`; its nodes
    `cells[f] == mesh.cells[cell_index[f], mesh.type.facets[local_index[f]]]` are ordered so
    that the right-hand-rule normal points out of the mesh (see `CellType`).
    `np.asarray(facets)` gives `facets.cells`, so the result can be passed wherever a
    facet connectivity array is expected.

    Attributes:
        cells: facet connectivity, int array `(num_facets, nodes_per_facet)`.
        cell_index: the cell each facet belongs to, int array `(num_facets,)`.
        local_index: which facet of that cell, int array `(num_facets,)`.
        cell_type: the facet cell type name (e.g. `"line2"`, `"tri6"`).
    """

    cells: NumpyArray
    cell_index: NumpyArray
    local_index: NumpyArray
    cell_type: str

    @property
    def num_facets(self) -> int:
        """Number of facets."""
        return int(self.cells.shape[0])

    @property
    def type(self) -> CellType:
        """The `CellType` of the facets."""
        return cell_type(self.cell_type)

    def nodes(self) -> NumpyArray:
        """Sorted unique node indices of these facets, int array."""
        return np.unique(self.cells)

    def subset(self, mask: NumpyArray) -> "BoundaryFacets":
        """The facets where the boolean `mask` (shape `(num_facets,)`) is true."""
        mask = np.asarray(mask, dtype=bool)
        return BoundaryFacets(
            _readonly(self.cells[mask]),
            _readonly(self.cell_index[mask]),
            _readonly(self.local_index[mask]),
            self.cell_type,
        )

    def __len__(self) -> int:
        return self.num_facets

    def __array__(self, dtype: object = None, copy: object = None) -> NumpyArray:
        """`np.asarray(facets)` is the facet connectivity `cells`."""
        del copy
        return self.cells if dtype is None else self.cells.astype(dtype)  # type: ignore[call-overload]


def _readonly(a: NumpyArray) -> NumpyArray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def boundary_facets(mesh: Mesh) -> BoundaryFacets:
    """The facets of `mesh` that belong to exactly one cell, outward ordered.

    Every facet of every cell is keyed by its sorted corner nodes; facets whose key occurs
    once are on the boundary. The result is ordered by cell, then by local facet.

    Args:
        mesh: any `Mesh` (points are not used, so they may be traced).

    Returns:
        `BoundaryFacets` with `cells` of shape `(num_facets, nodes_per_facet)`.

    Raises:
        ValueError: if a facet is shared by more than two cells (a non-manifold mesh).

    Example:
        >>> from dmech.geometry import rectangle_mesh, boundary_facets
        >>> boundary_facets(rectangle_mesh(3, 2)).num_facets
        10
    """
    ctype = mesh.type
    facet_type = cell_type(str(ctype.facet_type))
    cells = mesh.cells
    num_cells, num_local = cells.shape[0], ctype.num_facets
    local = np.array(ctype.facets)  # (f, nodes_per_facet)
    all_facets = cells[:, local]  # (c, f, nodes_per_facet)
    keys = np.sort(all_facets[:, :, : facet_type.num_corners], axis=2).reshape(
        num_cells * num_local, -1
    )
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    if np.any(counts > 2):
        bad = int(np.flatnonzero(counts[inverse] > 2)[0])
        raise ValueError(
            f"`mesh` is not a manifold: {int(np.sum(counts > 2))} facet(s) belong to more "
            f"than two cells; first: facet {bad % num_local} of cell {bad // num_local}."
        )
    on_boundary = np.flatnonzero(counts[inverse] == 1)
    cell_index = on_boundary // num_local
    local_index = on_boundary % num_local
    return BoundaryFacets(
        _readonly(all_facets.reshape(num_cells * num_local, -1)[on_boundary]),
        _readonly(cell_index.astype(cells.dtype)),
        _readonly(local_index.astype(cells.dtype)),
        facet_type.name,
    )


def boundary_nodes(mesh: Mesh) -> NumpyArray:
    """Sorted indices of the nodes on the boundary (all nodes of boundary facets).

    Args:
        mesh: any `Mesh`.

    Returns:
        Int array of shape `(num_boundary_nodes,)`.

    Example:
        >>> from dmech.geometry import rectangle_mesh, boundary_nodes
        >>> len(boundary_nodes(rectangle_mesh(3, 2)))
        10
    """
    return boundary_facets(mesh).nodes()


def _evaluate(predicate: Predicate, points: NumpyArray, argname: str) -> NumpyArray:
    if not callable(predicate):
        raise ValueError(f"`{argname}` must be callable; got {type(predicate).__name__}.")
    result = np.asarray(predicate(points))
    if result.shape != (points.shape[0],) or result.dtype != np.bool_:
        raise ValueError(
            f"`{argname}` must return a boolean array of shape ({points.shape[0]},) for "
            f"points of shape {points.shape}; got {result.dtype} of shape {result.shape}."
        )
    return result


def select_nodes(mesh: Mesh, predicate: Predicate) -> NumpyArray:
    """Indices of the nodes whose coordinates satisfy `predicate`.

    Args:
        mesh: a `Mesh` with concrete `points`.
        predicate: `predicate(points) -> mask`, `points` a NumPy array `(num_nodes, dim)`,
            `mask` a boolean array `(num_nodes,)`; see `on_plane` and `in_box`.

    Returns:
        Sorted int array of node indices.

    Raises:
        ValueError: if `predicate` does not return a boolean array of the right shape.

    Example:
        >>> from dmech.geometry import rectangle_mesh, select_nodes, on_plane
        >>> select_nodes(rectangle_mesh(3, 2), on_plane(0, 0.0)).tolist()
        [0, 4, 8]
    """
    points = np.asarray(mesh.points)
    return np.flatnonzero(_evaluate(predicate, points, "predicate")).astype(mesh.cells.dtype)


def select_facets(
    mesh: Mesh, predicate: Predicate, *, facets: BoundaryFacets | None = None
) -> BoundaryFacets:
    """The boundary facets ALL of whose nodes satisfy `predicate`.

    Args:
        mesh: a `Mesh` with concrete `points`.
        predicate: as in `select_nodes`, evaluated on every node.
        facets: facets to select from; defaults to `boundary_facets(mesh)`.

    Returns:
        The selected `BoundaryFacets` (outward ordered).

    Raises:
        ValueError: if `predicate` does not return a boolean array of the right shape.

    Example:
        >>> from dmech.geometry import box_mesh, select_facets, on_plane
        >>> select_facets(box_mesh(2, 3, 4), on_plane(2, 1.0)).num_facets
        6
    """
    if facets is None:
        facets = boundary_facets(mesh)
    mask = _evaluate(predicate, np.asarray(mesh.points), "predicate")
    return facets.subset(np.all(mask[facets.cells], axis=1))


def on_plane(axis: int, value: float, tol: float = 1e-8) -> Predicate:
    """Predicate: points with `|x[axis] - value| <= tol`.

    Args:
        axis: coordinate index (0 for x, 1 for y, 2 for z).
        value: the plane's coordinate.
        tol: absolute tolerance (units of length).

    Returns:
        A function `points (n, dim) -> bool (n,)`.

    Example:
        >>> import numpy as np
        >>> from dmech.geometry import on_plane
        >>> on_plane(1, 0.0)(np.array([[0.0, 0.0], [0.0, 1.0]])).tolist()
        [True, False]
    """

    def predicate(points: NumpyArray) -> NumpyArray:
        return np.abs(points[:, axis] - value) <= tol

    return predicate


def in_box(lower: Sequence[float], upper: Sequence[float], tol: float = 1e-8) -> Predicate:
    """Predicate: points with `lower - tol <= x <= upper + tol` in every axis.

    Args:
        lower: lowest corner, one value per axis.
        upper: highest corner, one value per axis.
        tol: absolute tolerance (units of length).

    Returns:
        A function `points (n, dim) -> bool (n,)`.
    """
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)

    def predicate(points: NumpyArray) -> NumpyArray:
        return np.all((points >= lo - tol) & (points <= hi + tol), axis=1)

    return predicate
