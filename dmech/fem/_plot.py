"""Matplotlib pictures of 2D meshes and fields: element edges and filled nodal or per-cell fields,
on the reference or the deformed configuration. Matplotlib is imported when a function runs."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._custom_types import ArrayLike, Float
from ..geometry import Mesh

# Each cell cut into sub-triangles through all of its nodes (VTK local numbering, every
# sub-triangle counterclockwise like its cell).
_SUB_TRIANGLES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "tri3": ((0, 1, 2),),
    "tri6": ((0, 3, 5), (3, 1, 4), (5, 4, 2), (3, 4, 5)),
    "quad4": ((0, 1, 2), (0, 2, 3)),
    "quad8": ((0, 4, 7), (4, 1, 5), (5, 2, 6), (7, 6, 3), (4, 5, 6), (4, 6, 7)),
    "quad9": (
        (0, 4, 8),
        (0, 8, 7),
        (4, 1, 5),
        (4, 5, 8),
        (8, 5, 2),
        (8, 2, 6),
        (7, 8, 6),
        (7, 6, 3),
    ),
}


def _check_mesh(mesh: object) -> Mesh:
    if not isinstance(mesh, Mesh):
        raise ValueError(f"`mesh` must be a dmech.geometry.Mesh; got {type(mesh).__name__}.")
    if mesh.dim != 2 or mesh.cell_type not in _SUB_TRIANGLES:
        raise ValueError(
            f"`mesh` must be a 2D mesh of {', '.join(map(repr, _SUB_TRIANGLES))} cells; got "
            f"{mesh.cell_type!r} cells in {mesh.dim}D."
        )
    return mesh


def _coordinates(mesh: Mesh, displacement: Any, scale: Any) -> np.ndarray:
    """Node coordinates `x + scale * u` as a float64 NumPy array `(num_nodes, 2)`."""
    x = np.asarray(mesh.points, dtype=np.float64)
    if displacement is None:
        return x
    u = np.asarray(displacement)
    if u.shape != x.shape or not np.issubdtype(u.dtype, np.floating):
        raise ValueError(
            f"`displacement` must be a floating array of shape {x.shape} (num_nodes, 2); got "
            f"{u.dtype} of shape {u.shape}."
        )
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise ValueError(f"`scale` must be a finite number; got {scale!r}.") from None
    if not np.isfinite(s):
        raise ValueError(f"`scale` must be a finite number; got {scale!r}.")
    return x + s * u.astype(np.float64)


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    return ax


def _edge_polylines(mesh: Mesh, x: np.ndarray, segments: int) -> np.ndarray:
    """Every edge of the mesh once, as a polyline `(num_edges, points, 2)`.

    Straight for linear cells; for quadratic cells the edge's quadratic interpolant through
    its corner and midside nodes, sampled at `segments + 1` points.
    """
    ctype = mesh.type
    cells = mesh.cells
    edges = np.array(ctype.edges)  # (e, 2) corner pairs, midside node num_corners + k
    ends = cells[:, edges]  # (c, e, 2)
    keys = np.sort(ends, axis=2).reshape(-1, 2)
    _, first = np.unique(keys, axis=0, return_index=True)
    ends = ends.reshape(-1, 2)[first]
    if ctype.degree == 1:
        return x[ends]
    mids = (cells[:, ctype.num_corners : ctype.num_corners + len(edges)]).reshape(-1)[first]
    xi = np.linspace(-1.0, 1.0, segments + 1)[None, :, None]
    xa, xb, xm = x[ends[:, 0]][:, None], x[ends[:, 1]][:, None], x[mids][:, None]
    return 0.5 * xi * (xi - 1) * xa + 0.5 * xi * (xi + 1) * xb + (1 - xi**2) * xm


def plot_mesh(
    mesh: Mesh,
    *,
    displacement: Float[ArrayLike, "..."] | None = None,
    scale: float = 1.0,
    ax: Any = None,
    segments: int = 8,
    **kwargs: Any,
) -> Any:
    """Draw the element edges of a 2D mesh, optionally on the deformed configuration.

    Each edge is drawn once, through the node positions $x + s\\,u$ (`s = scale`, `u` the
    displacement, or $x$ alone). Edges of quadratic cells (`tri6`, `quad8`, `quad9`) are drawn
    as the quadratic curve through their two corners and midside node, so curved boundaries
    (e.g. from `annulus_mesh`) look curved; linear cells have straight edges. The axes get an
    equal aspect ratio and limits that fit the mesh.

    Args:
        mesh: a 2D `Mesh` of `tri3`, `tri6`, `quad4`, `quad8` or `quad9` cells.
        displacement: nodal displacements, shape `(num_nodes, 2)` (units of length).
        scale: the magnification $s$ of `displacement`.
        ax: the matplotlib `Axes` to draw on; a new figure's when `None`.
        segments: straight segments per quadratic edge (positive int).
        **kwargs: passed to `matplotlib.collections.LineCollection` (default black lines of
            width 0.5).

    Returns:
        The `LineCollection` added to the axes (its `.axes` is the axes).

    Raises:
        ValueError: for a 3D (or 1D) `mesh`, a `displacement` not of shape
            `(num_nodes, 2)`, a non-finite `scale` or a non-positive `segments`.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from dmech.geometry import rectangle_mesh
        >>> from dmech.fem import plot_mesh
        >>> lines = plot_mesh(rectangle_mesh(2, 1))
        >>> len(lines.get_segments())  # 7 distinct edges
        7
    """
    mesh = _check_mesh(mesh)
    if isinstance(segments, bool) or not isinstance(segments, int) or segments < 1:
        raise ValueError(f"`segments` must be a positive int; got {segments!r}.")
    x = _coordinates(mesh, displacement, scale)
    from matplotlib.collections import LineCollection

    ax = _axes(ax)
    style = {"colors": "k", "linewidths": 0.5, **kwargs}
    lines = LineCollection(list(_edge_polylines(mesh, x, segments)), **style)
    ax.add_collection(lines)
    ax.set_aspect("equal")
    ax.autoscale_view()
    return lines


def _triangulation(mesh: Mesh, x: np.ndarray) -> Any:
    import matplotlib.tri as mtri

    local = np.array(_SUB_TRIANGLES[mesh.cell_type])  # (k, 3)
    triangles = mesh.cells[:, local].reshape(-1, 3)  # cell c gives rows c*k .. c*k + k - 1
    return mtri.Triangulation(x[:, 0], x[:, 1], triangles)


def plot_field(
    mesh: Mesh,
    values: Float[ArrayLike, "..."],
    *,
    displacement: Float[ArrayLike, "..."] | None = None,
    scale: float = 1.0,
    ax: Any = None,
    cmap: Any = "viridis",
    colorbar: bool = True,
    label: str | None = None,
    location: str | None = None,
    **kwargs: Any,
) -> Any:
    """Fill a 2D mesh with a nodal or per-cell scalar field, optionally on the deformed mesh.

    Every cell is cut into triangles through all of its nodes (`tri3`: 1, `quad4`: 2,
    `tri6`: 4, `quad8`: 6, `quad9`: 8) placed at $x + s\\,u$. A nodal field (shape
    `(num_nodes,)`, e.g. from `project_to_nodes` or a displacement component) is drawn with
    Gouraud shading, linear on each sub-triangle; a per-cell field (shape `(num_cells,)`,
    e.g. a quadrature average or a density) is drawn flat, one colour per cell.

    Args:
        mesh: a 2D `Mesh` of `tri3`, `tri6`, `quad4`, `quad8` or `quad9` cells.
        values: the field, shape `(num_nodes,)` or `(num_cells,)`, floating (any units).
        displacement: nodal displacements, shape `(num_nodes, 2)` (units of length).
        scale: the magnification $s$ of `displacement`.
        ax: the matplotlib `Axes` to draw on; a new figure's when `None`.
        cmap: a matplotlib colormap or its name.
        colorbar: add a colour bar next to the axes.
        label: the colour bar's label.
        location: `"nodes"` or `"cells"`, where `values` live; inferred from its length
            when `None` (required when `num_nodes == num_cells`).
        **kwargs: passed to `Axes.tripcolor` (e.g. `vmin`, `vmax`).

    Returns:
        The artist `Axes.tripcolor` returns (its `.axes` is the axes, `.colorbar` the colour
        bar when one was added).

    Raises:
        ValueError: for a 3D (or 1D) `mesh`, `values` of another shape, an ambiguous or
            unknown `location`, a `displacement` not of shape `(num_nodes, 2)` or a
            non-finite `scale`.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from dmech.geometry import rectangle_mesh
        >>> from dmech.fem import plot_field
        >>> mesh = rectangle_mesh(2, 2, cell_type="quad9")
        >>> artist = plot_field(mesh, mesh.points[:, 0], label="x")
        >>> len(artist.axes.figure.axes)  # the plot and its colour bar
        2
    """
    mesh = _check_mesh(mesh)
    v = np.asarray(values)
    if v.ndim != 1 or v.shape[0] not in (mesh.num_nodes, mesh.num_cells):
        raise ValueError(
            f"`values` must have shape ({mesh.num_nodes},) (one per node) or "
            f"({mesh.num_cells},) (one per cell); got shape {v.shape}."
        )
    if not np.issubdtype(v.dtype, np.floating):
        raise ValueError(f"`values` must be a floating array; got dtype {v.dtype}.")
    if location is None:
        if mesh.num_nodes == mesh.num_cells:
            raise ValueError(
                "`location` must be given ('nodes' or 'cells'): the mesh has as many nodes as "
                f"cells ({mesh.num_cells})."
            )
        location = "nodes" if v.shape[0] == mesh.num_nodes else "cells"
    if location not in ("nodes", "cells"):
        raise ValueError(f"`location` must be 'nodes', 'cells' or None; got {location!r}.")
    expected = mesh.num_nodes if location == "nodes" else mesh.num_cells
    if v.shape[0] != expected:
        raise ValueError(
            f"`values` must have shape ({expected},) for location={location!r}; got {v.shape}."
        )
    x = _coordinates(mesh, displacement, scale)
    tri = _triangulation(mesh, x)
    ax = _axes(ax)
    v = v.astype(np.float64)
    if location == "nodes":
        artist = ax.tripcolor(tri, v, shading="gouraud", cmap=cmap, **kwargs)
    else:
        per_cell = len(_SUB_TRIANGLES[mesh.cell_type])
        artist = ax.tripcolor(tri, facecolors=np.repeat(v, per_cell), cmap=cmap, **kwargs)
    ax.set_aspect("equal")
    ax.autoscale_view()
    if colorbar:
        ax.figure.colorbar(artist, ax=ax, label=label)
    return artist
