"""Cell (element) types: names, node ordering (VTK/meshio), facets, reference nodes."""

import dataclasses

__all__ = ["CellType", "cell_type"]


@dataclasses.dataclass(frozen=True)
class CellType:
    r"""Frozen, hashable description of one cell type and its local node ordering.

    Node ordering follows VTK (and so meshio): corners first, then the midside node of
    each edge in `edges` order (node `num_corners + k` sits on `edges[k]`), then face
    centres and the cell centre where the type has them (`quad9`, `hex27`).

    Orientation: a cell is positively oriented when its corner Jacobian is positive,
    i.e. `tri`/`quad` corners counterclockwise, `tet4` with nodes 0, 1, 2 counterclockwise
    seen from node 3, `hex` with the bottom face 0-3 counterclockwise seen from above and
    the top face 4-7 above it. For a positively oriented cell every facet in `facets` is
    ordered so that its right-hand-rule normal points out of the cell: in 2D, walking an
    edge from its first to its second node keeps the cell on the left (outward normal
    $(t_y, -t_x)$ for the tangent $t$); in 3D, $(x_1 - x_0) \times (x_{-1} - x_0)$ of the
    facet's corners points outward. In 1D the facets are the end points `(0,)` (outward
    normal $-x$) and `(1,)` (outward normal $+x$). Quadratic facets list their corners
    first, then their midside node(s) in the facet type's own ordering.

    Reference nodes: simplices (`tri`, `tet`) use the unit simplex with corners at the
    origin and the unit vectors; tensor-product cells (`line`, `quad`, `hex`) use
    $[-1, 1]^d$.

    Attributes:
        name: dmech name, e.g. `"tri6"`.
        dim: topological (and reference) dimension: 0, 1, 2 or 3.
        num_nodes: nodes per cell.
        degree: polynomial degree of the geometry, 1 or 2 (0 for `"vertex"`).
        num_corners: number of corner (vertex) nodes; they come first.
        meshio_name: the meshio cell block type, e.g. `"triangle6"`.
        corner_type: name of the linear type on the corners (itself when linear).
        facet_type: name of the facet's cell type, or `None` for `"vertex"`.
        facets: local node indices of each facet, outward ordered (see above).
        edges: corner pairs of every edge, in VTK midside order.
        reference_points: reference coordinates of every node, shape
            `(num_nodes, dim)` as nested tuples.

    Example:
        >>> from dmech.geometry import cell_type
        >>> tri6 = cell_type("tri6")
        >>> tri6.facets
        ((0, 1, 3), (1, 2, 4), (2, 0, 5))
        >>> tri6.facet_type, tri6.meshio_name
        ('line3', 'triangle6')
    """

    name: str
    dim: int
    num_nodes: int
    degree: int
    num_corners: int
    meshio_name: str
    corner_type: str
    facet_type: str | None
    facets: tuple[tuple[int, ...], ...]
    edges: tuple[tuple[int, int], ...]
    reference_points: tuple[tuple[float, ...], ...]

    @property
    def num_facets(self) -> int:
        """Number of facets of one cell."""
        return len(self.facets)

    @property
    def nodes_per_facet(self) -> int:
        """Number of nodes of one facet (0 for `"vertex"`)."""
        return len(self.facets[0]) if self.facets else 0

    def __repr__(self) -> str:
        return f"CellType({self.name!r}, dim={self.dim}, num_nodes={self.num_nodes})"


# --- Linear (corner) types --------------------------------------------------------------------
# name: (dim, meshio name, facet type, reference corners, outward facets, edges)
_LINEAR: dict[str, tuple[int, str, str | None, tuple, tuple, tuple]] = {
    "vertex": (0, "vertex", None, ((),), (), ()),
    "line2": (1, "line", "vertex", ((-1.0,), (1.0,)), ((0,), (1,)), ((0, 1),)),
    "tri3": (
        2,
        "triangle",
        "line2",
        ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)),
        ((0, 1), (1, 2), (2, 0)),
        ((0, 1), (1, 2), (2, 0)),
    ),
    "quad4": (
        2,
        "quad",
        "line2",
        ((-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)),
        ((0, 1), (1, 2), (2, 3), (3, 0)),
        ((0, 1), (1, 2), (2, 3), (3, 0)),
    ),
    "tet4": (
        3,
        "tetra",
        "tri3",
        ((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
        ((0, 2, 1), (0, 1, 3), (1, 2, 3), (0, 3, 2)),
        ((0, 1), (1, 2), (2, 0), (0, 3), (1, 3), (2, 3)),
    ),
    "hex8": (
        3,
        "hexahedron",
        "quad4",
        (
            (-1.0, -1.0, -1.0),
            (1.0, -1.0, -1.0),
            (1.0, 1.0, -1.0),
            (-1.0, 1.0, -1.0),
            (-1.0, -1.0, 1.0),
            (1.0, -1.0, 1.0),
            (1.0, 1.0, 1.0),
            (-1.0, 1.0, 1.0),
        ),
        ((0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)),
        (
            (0, 1),
            (1, 2),
            (2, 3),
            (3, 0),
            (4, 5),
            (5, 6),
            (6, 7),
            (7, 4),
            (0, 4),
            (1, 5),
            (2, 6),
            (3, 7),
        ),
    ),
}

# --- Quadratic types ----------------------------------------------------------------------------
# name: (meshio name, corner type, facet type, face-centre corner sets in VTK order, centre node)
_QUADRATIC: dict[str, tuple[str, str, str, tuple[tuple[int, ...], ...], bool]] = {
    "line3": ("line3", "line2", "vertex", (), False),
    "tri6": ("triangle6", "tri3", "line3", (), False),
    "quad8": ("quad8", "quad4", "line3", (), False),
    "quad9": ("quad9", "quad4", "line3", (), True),
    "tet10": ("tetra10", "tet4", "tri6", (), False),
    "hex20": ("hexahedron20", "hex8", "quad8", (), False),
    # VTK_TRIQUADRATIC_HEXAHEDRON: face centres x-, x+, y-, y+, z-, z+, then the centre.
    "hex27": (
        "hexahedron27",
        "hex8",
        "quad9",
        ((0, 3, 7, 4), (1, 2, 6, 5), (0, 1, 5, 4), (3, 2, 6, 7), (0, 1, 2, 3), (4, 5, 6, 7)),
        True,
    ),
}

# Corner simplices whose signed measure must be positive for a positively oriented cell:
# (origin, a, b[, c]) means det[x_a - x_o, x_b - x_o, (x_c - x_o)] > 0. For a quadrilateral
# the corner triangle at each corner (catches bow-ties); for a hexahedron the corner
# tetrahedron at each corner, spanned by its three edges.
_CORNER_SIMPLICES: dict[str, tuple[tuple[int, ...], ...]] = {
    "line2": ((0, 1),),
    "tri3": ((0, 1, 2),),
    "quad4": ((0, 1, 3), (1, 2, 0), (2, 3, 1), (3, 0, 2)),
    "tet4": ((0, 1, 2, 3),),
    "hex8": tuple((i, (i + 1) % 4, (i + 3) % 4, i + 4) for i in range(4))
    + tuple((4 + j, 4 + (j + 3) % 4, 4 + (j + 1) % 4, j) for j in range(4)),
}


def _mean(points: list[tuple[float, ...]]) -> tuple[float, ...]:
    return tuple(sum(c) / len(points) for c in zip(*points, strict=True))


def _build() -> dict[str, CellType]:
    table: dict[str, CellType] = {}
    for name, (dim, meshio_name, facet_type, corners, facets, edges) in _LINEAR.items():
        table[name] = CellType(
            name=name,
            dim=dim,
            num_nodes=len(corners),
            degree=0 if dim == 0 else 1,
            num_corners=len(corners),
            meshio_name=meshio_name,
            corner_type=name,
            facet_type=facet_type,
            facets=facets,
            edges=edges,
            reference_points=corners,
        )
    for name, (meshio_name, corner, facet_type, faces, centre) in _QUADRATIC.items():
        base = table[corner]
        nc = base.num_corners
        ref: list[tuple[float, ...]] = list(base.reference_points)
        edge_node = {}
        for k, (a, b) in enumerate(base.edges):
            edge_node[frozenset((a, b))] = nc + k
            ref.append(_mean([ref[a], ref[b]]))
        face_node = {}
        for face in faces:
            face_node[frozenset(face)] = len(ref)
            ref.append(_mean([ref[i] for i in face]))
        if centre:
            if base.dim == 2:  # quad9: the cell is its own face
                face_node[frozenset(range(nc))] = len(ref)
            ref.append(_mean(ref[:nc]))
        quad_facets: list[tuple[int, ...]] = []
        for f in base.facets:
            if len(f) == 1:
                quad_facets.append(f)
                continue
            pairs = [(f[0], f[1])] if len(f) == 2 else list(zip(f, f[1:] + f[:1], strict=True))
            nodes = list(f) + [edge_node[frozenset(p)] for p in pairs]
            if frozenset(f) in face_node and len(f) == 4:
                nodes.append(face_node[frozenset(f)])
            quad_facets.append(tuple(nodes))
        table[name] = CellType(
            name=name,
            dim=base.dim,
            num_nodes=len(ref),
            degree=2,
            num_corners=nc,
            meshio_name=meshio_name,
            corner_type=corner,
            facet_type=facet_type,
            facets=tuple(quad_facets),
            edges=base.edges,
            reference_points=tuple(ref),
        )
    return table


_CELL_TYPES: dict[str, CellType] = _build()
_BY_MESHIO: dict[str, str] = {t.meshio_name: t.name for t in _CELL_TYPES.values()}


def cell_type(name: "str | CellType") -> CellType:
    """Look up a cell type by its dmech name.

    Valid names: `"vertex"`, `"line2"`, `"line3"`, `"tri3"`, `"tri6"`, `"quad4"`,
    `"quad8"`, `"quad9"`, `"tet4"`, `"tet10"`, `"hex8"`, `"hex20"`, `"hex27"`.

    Args:
        name: the dmech name (a `CellType` is returned unchanged).

    Returns:
        The frozen `CellType`.

    Raises:
        ValueError: for an unknown name, listing the valid names (and pointing from a
            meshio name such as `"triangle"` to the dmech one).

    Example:
        >>> from dmech.geometry import cell_type
        >>> cell_type("hex8").facets[0]
        (0, 3, 2, 1)
    """
    if isinstance(name, CellType):
        return name
    try:
        return _CELL_TYPES[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(k) for k in _CELL_TYPES)
        hint = ""
        if isinstance(name, str) and name in _BY_MESHIO:
            hint = f" ({name!r} is the meshio name of {_BY_MESHIO[name]!r})"
        raise ValueError(f"unknown cell type {name!r}{hint}; valid names: {valid}.") from None


def _cell_type_from_meshio(meshio_name: str) -> CellType | None:
    name = _BY_MESHIO.get(meshio_name)
    return None if name is None else _CELL_TYPES[name]
