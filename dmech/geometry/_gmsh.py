"""Unstructured meshes generated with gmsh (``pip install gmsh``): plates with holes."""

from __future__ import annotations

import numpy as np

from ._mesh import Mesh

# gmsh element type codes and the dmech cell types they are (same VTK node order).
_GMSH_TYPES = {2: "tri3", 9: "tri6", 3: "quad4", 10: "quad9"}


def _import_gmsh():
    try:
        import gmsh
    except ImportError:
        raise ImportError(
            "unstructured meshes need gmsh: pip install 'dmech[mesh]' (or pip install gmsh)"
        ) from None
    return gmsh


def plate_with_hole_mesh(
    width: float,
    radius: float,
    *,
    size: float,
    hole_size: float | None = None,
    cell_type: str = "tri6",
) -> Mesh:
    """A quarter of a square plate with a central circular hole, meshed by gmsh.

    The domain is ``[0, width]² `` minus the disk of ``radius`` centred at the origin: the
    quarter model of the Kirsch problem, with symmetry planes ``x = 0`` and ``y = 0``.

    Args:
        width: half the plate's side, ``> radius``.
        radius: the hole's radius, ``> 0``.
        size: the target element size away from the hole.
        hole_size: the element size on the hole (default ``size / 4``).
        cell_type: ``"tri3"``, ``"tri6"``, ``"quad4"`` or ``"quad9"`` (quads by recombination).

    Returns:
        A validated :class:`Mesh` (float64 points, positively oriented cells).
    """
    if not (radius > 0 and width > radius):
        raise ValueError(f"need 0 < radius < width, got radius={radius}, width={width}")
    if not size > 0:
        raise ValueError(f"size must be positive, got {size}")
    if cell_type not in _GMSH_TYPES.values():
        raise ValueError(
            f"cell_type must be one of {sorted(_GMSH_TYPES.values())}, got {cell_type!r}"
        )
    hole_size = size / 4 if hole_size is None else hole_size
    gmsh = _import_gmsh()
    gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("plate_with_hole")
        occ = gmsh.model.occ
        plate = occ.addRectangle(0.0, 0.0, 0.0, width, width)
        hole = occ.addDisk(0.0, 0.0, 0.0, radius, radius)
        occ.cut([(2, plate)], [(2, hole)])
        occ.synchronize()
        # Finer near the hole: the size grows linearly with the distance from the origin.
        field = gmsh.model.mesh.field
        dist = field.add("MathEval")
        field.setString(
            dist,
            "F",
            f"{hole_size} + ({size} - {hole_size}) * (Sqrt(x*x + y*y) - {radius}) / "
            f"{width - radius}",
        )
        field.setAsBackgroundMesh(dist)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
        if cell_type.startswith("quad"):
            gmsh.option.setNumber("Mesh.RecombineAll", 1)
            gmsh.option.setNumber("Mesh.Algorithm", 8)  # frontal-Delaunay for quads
        gmsh.model.mesh.generate(2)
        if cell_type in ("tri6", "quad9"):
            gmsh.model.mesh.setOrder(2)
        tags, coords, _ = gmsh.model.mesh.getNodes()
        types, _, nodes = gmsh.model.mesh.getElements(2)
    finally:
        gmsh.finalize()
    code = {v: k for k, v in _GMSH_TYPES.items()}[cell_type]
    if list(types) != [code]:
        raise RuntimeError(f"gmsh produced element types {list(types)}, expected [{code}]")
    points_all = np.asarray(coords, dtype=np.float64).reshape(-1, 3)[:, :2]
    index = np.full(int(np.max(tags)) + 1, -1, dtype=np.int64)
    index[np.asarray(tags, dtype=np.int64)] = np.arange(len(tags))
    per_cell = {"tri3": 3, "tri6": 6, "quad4": 4, "quad9": 9}[cell_type]
    cells = index[np.asarray(nodes[0], dtype=np.int64)].reshape(-1, per_cell)
    # Keep only the nodes the cells use (gmsh also lists geometry points), renumbered.
    used = np.unique(cells)
    renumber = np.full(len(points_all), -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    cells = renumber[cells]
    points = points_all[used]
    # gmsh orients surface elements along the surface normal: make every cell counterclockwise.
    a, b, c = (points[cells[:, i]] for i in range(3))
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    flip = area < 0
    if flip.any():
        cells[flip] = cells[flip][:, _reversal(cell_type)]
    return Mesh(points, cells, cell_type)


def _reversal(cell_type: str) -> list[int]:
    """A node permutation that reverses a cell's orientation (VTK order)."""
    return {
        "tri3": [0, 2, 1],
        "tri6": [0, 2, 1, 5, 4, 3],
        "quad4": [0, 3, 2, 1],
        "quad9": [0, 3, 2, 1, 7, 6, 5, 4, 8],
    }[cell_type]
