"""meshio conversion and file I/O."""

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._custom_types import ArrayLike
from ._cell_types import _cell_type_from_meshio, cell_type
from ._mesh import Mesh

__all__ = ["from_meshio", "read_mesh", "to_meshio", "write_mesh"]


def from_meshio(
    meshio_mesh: Any, *, cell_type: str | None = None, remove_unused: bool = False
) -> Mesh:
    """Convert a `meshio.Mesh` to a `Mesh` of its volume cells.

    The volume cells are the cell blocks of the highest dimension among the known types
    (lower-dimensional blocks such as boundary lines or gmsh vertices are ignored); several
    blocks of the same type (e.g. gmsh physical groups) are concatenated in order. Node
    ordering is VTK's, as meshio uses it, so no permutation is applied. Coordinate columns
    beyond the cell dimension (meshio pads 2-D meshes to 3-D) are dropped when all zero.

    Args:
        meshio_mesh: a `meshio.Mesh`.
        cell_type: dmech name of the type to take (e.g. `"tri3"`), required when the top
            dimension has blocks of several types; `None` picks the only one.
        remove_unused: drop points referenced by no selected cell (renumbering the
            cells); otherwise unused points are an error.

    Returns:
        The validated `Mesh` (points as float arrays, following JAX's x64 setting).

    Raises:
        ValueError: if there are no known cells, several volume types and no `cell_type`,
            the requested `cell_type` is absent, extra coordinate columns are nonzero, or
            points are unused (with their count) and `remove_unused` is false; and
            everything `Mesh` raises.

    Example:
        >>> import meshio, numpy as np
        >>> from dmech.geometry import from_meshio
        >>> points = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
        >>> m = meshio.Mesh(points, [("triangle", [[0, 1, 2]])])
        >>> from_meshio(m).cell_type
        'tri3'
    """
    blocks: dict[str, list[np.ndarray]] = {}
    unknown = []
    for block in meshio_mesh.cells:
        ctype = _cell_type_from_meshio(block.type)
        if ctype is None or ctype.dim == 0:
            unknown.append(block.type)
            continue
        blocks.setdefault(ctype.name, []).append(np.asarray(block.data))
    if cell_type is not None:
        chosen = _lookup(cell_type)
        if chosen not in blocks:
            raise ValueError(
                f"`cell_type` {chosen!r} is not in the mesh; its cell blocks are "
                f"{[b.type for b in meshio_mesh.cells]}."
            )
    else:
        if not blocks:
            raise ValueError(
                "`meshio_mesh` has no cells of a supported type; its cell blocks are "
                f"{[b.type for b in meshio_mesh.cells]}."
            )
        top = max(_dim(name) for name in blocks)
        candidates = sorted(name for name in blocks if _dim(name) == top)
        if len(candidates) > 1:
            raise ValueError(
                f"`meshio_mesh` has {len(candidates)} cell types of dimension {top} "
                f"({', '.join(candidates)}); choose one with `cell_type=`."
            )
        chosen = candidates[0]
    ctype = _lookup_type(chosen)
    cells = np.concatenate(blocks[chosen], axis=0).astype(np.int64)
    points = np.asarray(meshio_mesh.points)
    if points.ndim != 2 or points.shape[1] < ctype.dim:
        raise ValueError(
            f"`meshio_mesh.points` must have at least {ctype.dim} columns for {chosen!r}; "
            f"got shape {points.shape}."
        )
    if points.shape[1] > ctype.dim:
        extra = points[:, ctype.dim :]
        if np.any(extra != 0):
            raise ValueError(
                f"`meshio_mesh.points` has nonzero coordinates beyond the {ctype.dim} of "
                f"{chosen!r} cells (a {ctype.dim}-D manifold embedded in "
                f"{points.shape[1]}-D is not supported)."
            )
        points = points[:, : ctype.dim]
    if not np.issubdtype(points.dtype, np.floating):
        points = points.astype(np.float64)
    num_points = points.shape[0]
    used = np.zeros(num_points, dtype=bool)
    if cells.size and cells.min() >= 0 and cells.max() < num_points:
        used[cells.ravel()] = True
        num_unused = int(num_points - used.sum())
        if num_unused:
            if not remove_unused:
                raise ValueError(
                    f"`meshio_mesh` has {num_unused} of {num_points} points used by no "
                    f"{chosen!r} cell (first: point {int(np.flatnonzero(~used)[0])}); pass "
                    "`remove_unused=True` to drop them."
                )
            new_index = np.cumsum(used) - 1
            points = points[used]
            cells = new_index[cells]
    return Mesh(points, cells, chosen)


def _lookup(name: str) -> str:
    try:
        return cell_type(name).name
    except ValueError as e:
        raise ValueError(f"`cell_type`: {e}") from None


def _lookup_type(name: str):
    return cell_type(name)


def _dim(name: str) -> int:
    return cell_type(name).dim


def _as_numpy_data(data: Mapping[str, ArrayLike] | None, n: int, argname: str) -> dict:
    out = {}
    for key, value in (data or {}).items():
        arr = np.asarray(value)
        if arr.ndim == 0 or arr.shape[0] != n:
            raise ValueError(
                f"`{argname}[{key!r}]` must have leading dimension {n}; got shape {arr.shape}."
            )
        out[key] = arr
    return out


def to_meshio(
    mesh: Mesh,
    *,
    point_data: Mapping[str, ArrayLike] | None = None,
    cell_data: Mapping[str, ArrayLike] | None = None,
    pad_to_3d: bool = False,
) -> Any:
    """Convert a `Mesh` (and optional fields) to a `meshio.Mesh` with one cell block.

    Args:
        mesh: a `Mesh` with concrete points.
        point_data: arrays of shape `(num_nodes, ...)` by name.
        cell_data: arrays of shape `(num_cells, ...)` by name.
        pad_to_3d: append zero coordinate columns up to 3 (VTK and gmsh want 3-D points).

    Returns:
        A `meshio.Mesh` with float64 points and the VTK-ordered cell block.

    Raises:
        ValueError: if a field's leading dimension is wrong.
    """
    import meshio

    points = np.asarray(mesh.points, dtype=np.float64)
    if pad_to_3d and points.shape[1] < 3:
        points = np.pad(points, ((0, 0), (0, 3 - points.shape[1])))
    pdata = _as_numpy_data(point_data, mesh.num_nodes, "point_data")
    cdata = {k: [v] for k, v in _as_numpy_data(cell_data, mesh.num_cells, "cell_data").items()}
    cells = np.asarray(mesh.cells, dtype=np.int64)
    return meshio.Mesh(points, [(mesh.type.meshio_name, cells)], point_data=pdata, cell_data=cdata)


def write_mesh(
    path: str | os.PathLike,
    mesh: Mesh,
    *,
    point_data: Mapping[str, ArrayLike] | None = None,
    cell_data: Mapping[str, ArrayLike] | None = None,
    file_format: str | None = None,
    **kwargs: Any,
) -> None:
    """Write a mesh (and optional fields) with meshio: VTU, XDMF, gmsh, ... by extension.

    Points are padded to 3-D (VTK and gmsh need it). `.msh` files are written as gmsh 4.1
    (binary unless `binary=False`), not meshio's default guess (ANSYS), with the
    connectivity as unsigned 64-bit integers as gmsh expects. meshio's XDMF writer needs
    h5py.

    Args:
        path: file name; the extension picks the format unless `file_format` is given.
        mesh: a `Mesh` with concrete points.
        point_data: arrays of shape `(num_nodes, ...)` by name.
        cell_data: arrays of shape `(num_cells, ...)` by name.
        file_format: meshio format name, e.g. `"vtu"`, `"xdmf"`, `"gmsh"`, `"gmsh22"`.
        **kwargs: passed to `meshio.write` (e.g. `binary=False`).

    Raises:
        ValueError: if a field's leading dimension is wrong; meshio's errors pass through.
    """
    import meshio

    m = to_meshio(mesh, point_data=point_data, cell_data=cell_data, pad_to_3d=True)
    if file_format is None and str(path).lower().endswith(".msh"):
        file_format = "gmsh"  # meshio's first guess for .msh is ANSYS
    if file_format is not None and file_format.startswith("gmsh"):
        m.cells[0].data = m.cells[0].data.astype(np.uintp)  # gmsh's size_t connectivity
    meshio.write(path, m, file_format=file_format, **kwargs)


def read_mesh(
    path: str | os.PathLike, *, cell_type: str | None = None, remove_unused: bool = False
) -> Mesh:
    """Read a mesh file with meshio and convert it with `from_meshio`.

    Args:
        path: any file meshio reads (VTU, XDMF, gmsh `.msh`, ...).
        cell_type: as in `from_meshio`.
        remove_unused: as in `from_meshio`.

    Returns:
        The `Mesh` of the file's volume cells.

    Raises:
        ValueError: as `from_meshio`; meshio's read errors pass through.
    """
    import meshio

    return from_meshio(meshio.read(path), cell_type=cell_type, remove_unused=remove_unused)
