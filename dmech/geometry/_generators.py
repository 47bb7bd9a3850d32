"""Structured mesh generators and degree elevation (linear -> quadratic cells)."""

import itertools
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from .._checks import check_int, check_positive_float
from .._custom_types import ArrayLike, Float, NumpyArray
from ._cell_types import _QUADRATIC, cell_type
from ._mesh import Mesh

__all__ = [
    "annulus_mesh",
    "box_mesh",
    "interval_mesh",
    "quadrilateral_mesh",
    "rectangle_mesh",
    "to_quadratic",
]


def _check_bounds(lower: object, upper: object, dim: int) -> tuple[NumpyArray, NumpyArray]:
    lo = np.asarray(lower, dtype=np.float64).reshape(-1)
    hi = np.asarray(upper, dtype=np.float64).reshape(-1)
    for name, v in (("lower", lo), ("upper", hi)):
        if v.shape != (dim,) or not np.all(np.isfinite(v)):
            raise ValueError(f"`{name}` must be {dim} finite number(s); got {v.tolist()}.")
    if np.any(hi <= lo):
        raise ValueError(f"`upper` must exceed `lower` in every axis; got {lo} and {hi}.")
    return lo, hi


def _grid_points(counts: Sequence[int], lo: NumpyArray, hi: NumpyArray) -> NumpyArray:
    """Nodes of a structured grid, x fastest: node (i, j, k) = i + (nx+1)(j + (ny+1) k)."""
    axes = [np.linspace(lo[d], hi[d], n + 1) for d, n in enumerate(counts)]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.transpose().reshape(-1) for m in mesh], axis=1)


def _supported(name: object, allowed: Sequence[str], argname: str = "cell_type") -> str:
    if name not in allowed:
        raise ValueError(
            f"`{argname}` must be one of {', '.join(map(repr, allowed))}; got {name!r}."
        )
    return str(name)


def interval_mesh(
    n: int, lower: float = 0.0, upper: float = 1.0, *, cell_type: str = "line2"
) -> Mesh:
    """A uniform mesh of the interval [lower, upper] with `n` cells.

    Corner nodes are numbered left to right (node `i` at `lower + i h`); for `"line3"` the
    midpoints follow, numbered left to right (node `n + 1 + i` in cell `i`).

    Args:
        n: number of cells.
        lower: left end.
        upper: right end, `> lower`.
        cell_type: `"line2"` or `"line3"`.

    Returns:
        A `Mesh` with `points` of shape `(n + 1, 1)` or `(2 n + 1, 1)`.

    Raises:
        ValueError: for a non-positive `n`, `upper <= lower` or an unsupported `cell_type`.

    Example:
        >>> from dmech.geometry import interval_mesh
        >>> interval_mesh(4, cell_type="line3").num_nodes
        9
    """
    name = _supported(cell_type, ("line2", "line3"))
    n = check_int(n, "n")
    lo, hi = _check_bounds(lower, upper, 1)
    points = _grid_points([n], lo, hi)
    cells = np.stack([np.arange(n), np.arange(1, n + 1)], axis=1)
    mesh = Mesh(points, cells, "line2")
    return mesh if name == "line2" else to_quadratic(mesh, name)


def rectangle_mesh(
    nx: int,
    ny: int,
    *,
    cell_type: str = "quad4",
    lower: Sequence[float] = (0.0, 0.0),
    upper: Sequence[float] = (1.0, 1.0),
    diagonal: str = "right",
) -> Mesh:
    """A structured mesh of the rectangle [lower, upper] with `nx` x `ny` squares.

    Grid node `(i, j)` (`0 <= i <= nx`, `0 <= j <= ny`) is node `i + (nx + 1) j` at
    `lower + (i hx, j hy)`; cells run x fastest. Square `(i, j)` has corners
    `a = (i, j)`, `b = (i+1, j)`, `c = (i+1, j+1)`, `d = (i, j+1)`.

    - `"quad4"`/`"quad8"`/`"quad9"`: one cell `(a, b, c, d)` per square.
    - `"tri3"`/`"tri6"` with `diagonal="right"`: two triangles `(a, b, c)`, `(a, c, d)`
      split along the diagonal from lower left to upper right; `"left"`: `(a, b, d)`,
      `(b, c, d)` split from lower right to upper left; `"crossed"`: a node at the square's
      centre (numbered after all grid nodes) and four triangles `(a, b, m)`, `(b, c, m)`,
      `(c, d, m)`, `(d, a, m)`.

    Quadratic types get their extra nodes from `to_quadratic`, after the linear nodes, and
    shared between neighbouring cells.

    Args:
        nx: squares along x.
        ny: squares along y.
        cell_type: `"tri3"`, `"tri6"`, `"quad4"`, `"quad8"` or `"quad9"`.
        lower: lower-left corner `(x, y)`.
        upper: upper-right corner `(x, y)`.
        diagonal: `"right"`, `"left"` or `"crossed"` (triangles only).

    Returns:
        A positively oriented `Mesh` with every node used.

    Raises:
        ValueError: for non-positive counts, an empty box, or an unsupported
            `cell_type`/`diagonal`.

    Example:
        >>> from dmech.geometry import rectangle_mesh
        >>> mesh = rectangle_mesh(2, 3, cell_type="tri6")
        >>> mesh.num_nodes, mesh.num_cells
        (35, 12)
    """
    name = _supported(cell_type, ("tri3", "tri6", "quad4", "quad8", "quad9"))
    _supported(diagonal, ("right", "left", "crossed"), "diagonal")
    nx = check_int(nx, "nx")
    ny = check_int(ny, "ny")
    lo, hi = _check_bounds(lower, upper, 2)
    points = _grid_points([nx, ny], lo, hi)
    i, j = (
        g.transpose().reshape(-1) for g in np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    )
    a = i + (nx + 1) * j
    b = a + 1
    c = b + (nx + 1)
    d = a + (nx + 1)
    if name.startswith("quad"):
        cells = np.stack([a, b, c, d], axis=1)
        linear = "quad4"
    else:
        linear = "tri3"
        if diagonal == "right":
            tris = [(a, b, c), (a, c, d)]
        elif diagonal == "left":
            tris = [(a, b, d), (b, c, d)]
        else:
            m = len(points) + np.arange(nx * ny)
            centres = 0.5 * (points[a] + points[c])
            points = np.concatenate([points, centres], axis=0)
            tris = [(a, b, m), (b, c, m), (c, d, m), (d, a, m)]
        # Square s gives cells s*k .. s*k + k - 1.
        cells = np.stack([np.stack(t, axis=1) for t in tris], axis=1).reshape(-1, 3)
    mesh = Mesh(points, cells, linear)
    return mesh if name == linear else to_quadratic(mesh, name)


# Kuhn (Freudenthal) split of the unit cube into 6 tetrahedra around the main diagonal
# from corner 0 to corner 6 (hex8 local numbering); one per permutation of the axes.
def _kuhn_tets() -> NumpyArray:
    bits: dict[tuple[int, ...], int] = {(0, 0, 0): 0, (1, 0, 0): 1, (1, 1, 0): 2, (0, 1, 0): 3}
    bits.update({(x, y, 1): k + 4 for (x, y, _), k in list(bits.items())})
    tets = []
    for perm in itertools.permutations(range(3)):
        v = [0, 0, 0]
        path = [bits[tuple(v)]]
        for axis in perm:
            v[axis] = 1
            path.append(bits[tuple(v)])
        ref = np.array(cell_type("hex8").reference_points)[path]
        if np.linalg.det(ref[1:] - ref[0]) < 0:
            path[1], path[2] = path[2], path[1]
        tets.append(path)
    return np.array(tets)


def box_mesh(
    nx: int,
    ny: int,
    nz: int,
    *,
    cell_type: str = "hex8",
    lower: Sequence[float] = (0.0, 0.0, 0.0),
    upper: Sequence[float] = (1.0, 1.0, 1.0),
) -> Mesh:
    """A structured mesh of the box [lower, upper] with `nx` x `ny` x `nz` hexahedra.

    Grid node `(i, j, k)` is node `i + (nx + 1)(j + (ny + 1) k)`; cells run x fastest,
    then y, then z. Each grid cell is one hexahedron (`"hex8"`, `"hex20"`, `"hex27"`) or
    six tetrahedra (`"tet4"`, `"tet10"`): the Kuhn split around the cell's main diagonal
    from its lowest to its highest corner, which is conforming across neighbouring cells
    (every square face is cut along the diagonal through its lowest corner). Quadratic
    types get their extra nodes from `to_quadratic`, shared between neighbours.

    Args:
        nx: cells along x.
        ny: cells along y.
        nz: cells along z.
        cell_type: `"hex8"`, `"hex20"`, `"hex27"`, `"tet4"` or `"tet10"`.
        lower: lowest corner `(x, y, z)`.
        upper: highest corner `(x, y, z)`.

    Returns:
        A positively oriented `Mesh` with every node used.

    Raises:
        ValueError: for non-positive counts, an empty box, or an unsupported `cell_type`.

    Example:
        >>> from dmech.geometry import box_mesh
        >>> mesh = box_mesh(2, 2, 2, cell_type="tet4")
        >>> mesh.num_nodes, mesh.num_cells
        (27, 48)
    """
    name = _supported(cell_type, ("hex8", "hex20", "hex27", "tet4", "tet10"))
    nx = check_int(nx, "nx")
    ny = check_int(ny, "ny")
    nz = check_int(nz, "nz")
    lo, hi = _check_bounds(lower, upper, 3)
    points = _grid_points([nx, ny, nz], lo, hi)
    grids = np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij")
    i, j, k = (g.transpose().reshape(-1) for g in grids)
    sx, sy = 1, nx + 1
    sz = (nx + 1) * (ny + 1)
    base = i * sx + j * sy + k * sz
    offsets = np.array([0, sx, sx + sy, sy, sz, sz + sx, sz + sx + sy, sz + sy])
    hexes = base[:, None] + offsets[None, :]
    if name.startswith("hex"):
        mesh = Mesh(points, hexes, "hex8")
        linear = "hex8"
    else:
        cells = hexes[:, _kuhn_tets()].reshape(-1, 4)
        mesh = Mesh(points, cells, "tet4")
        linear = "tet4"
    return mesh if name == linear else to_quadratic(mesh, name)


def _unique_rows(keys: NumpyArray) -> tuple[NumpyArray, NumpyArray]:
    """Unique rows (sorted) and the inverse index of each input row."""
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    return uniq, inverse.reshape(-1)


def to_quadratic(mesh: Mesh, cell_type: str | None = None) -> Mesh:
    """Elevate a linear mesh to quadratic cells, adding shared midside (and centre) nodes.

    One node is added at the midpoint of each unique edge (shared by all cells around it),
    then, for `"hex27"`, at the centroid of each unique face, then, for `"quad9"` and
    `"hex27"`, at each cell's corner centroid. New nodes are numbered after the existing
    ones in that order (edges sorted by their sorted node pair). The new points are
    computed with JAX from `mesh.points`, so they are differentiable (and traceable).

    | linear | quadratic (default first) |
    |---|---|
    | line2 | line3 |
    | tri3 | tri6 |
    | quad4 | quad9, quad8 |
    | tet4 | tet10 |
    | hex8 | hex27, hex20 |

    Args:
        mesh: a mesh of linear cells.
        cell_type: the quadratic type, or `None` for the default in the table.

    Returns:
        The quadratic `Mesh` (geometry not re-validated: midpoints of a valid mesh keep
        the same corner cells).

    Raises:
        ValueError: if `mesh` is not linear or `cell_type` does not fit its cell type.

    Example:
        >>> from dmech.geometry import rectangle_mesh, to_quadratic
        >>> to_quadratic(rectangle_mesh(1, 1, cell_type="tri3")).cell_type
        'tri6'
    """
    src = mesh.type
    defaults = {
        "line2": "line3",
        "tri3": "tri6",
        "quad4": "quad9",
        "tet4": "tet10",
        "hex8": "hex27",
    }
    if src.degree != 1:
        raise ValueError(f"`mesh` must have linear cells; got {src.name!r}.")
    name = defaults[src.name] if cell_type is None else cell_type
    allowed = [q for q, spec in _QUADRATIC.items() if spec[1] == src.name]
    _supported(name, allowed)
    target = _QUADRATIC[name]
    faces, centre = target[3], target[4]
    cells = mesh.cells.astype(np.int64)
    num_cells = cells.shape[0]
    points = mesh.points
    new_points = [points]
    extra = []
    offset = mesh.num_nodes
    # Edge midpoints.
    pairs = np.stack([cells[:, list(e)] for e in src.edges], axis=1)  # (c, e, 2)
    uniq, inv = _unique_rows(np.sort(pairs, axis=2).reshape(-1, 2))
    idx = jnp.asarray(uniq)
    new_points.append(0.5 * (points[idx[:, 0]] + points[idx[:, 1]]))
    extra.append(offset + inv.reshape(num_cells, len(src.edges)))
    offset += len(uniq)
    # Face centroids (hex27).
    if faces:
        quads = np.stack([cells[:, list(f)] for f in faces], axis=1)  # (c, f, 4)
        uniq, inv = _unique_rows(np.sort(quads, axis=2).reshape(-1, 4))
        new_points.append(jnp.mean(points[jnp.asarray(uniq)], axis=1))
        extra.append(offset + inv.reshape(num_cells, len(faces)))
        offset += len(uniq)
    # Cell centroids (quad9, hex27).
    if centre:
        new_points.append(jnp.mean(points[jnp.asarray(cells)], axis=1))
        extra.append(offset + np.arange(num_cells)[:, None])
    new_cells = np.concatenate([cells, *extra], axis=1)
    out = Mesh(jnp.concatenate(new_points, axis=0), new_cells, name, validate=False)
    return out


# --- Mapped structured meshes ---------------------------------------------------------------


def _unit_square_mesh(nx: int, ny: int, name: str, diagonal: str) -> tuple[NumpyArray, NumpyArray]:
    """Parametric nodes `(s, t)` in [0, 1]^2 (float64) and cells of a unit-square mesh."""
    square = rectangle_mesh(nx, ny, cell_type=name, diagonal=diagonal)
    # Every node's parameters (grid values, edge midpoints, cell centres, and the midpoints
    # of crossed half-diagonals) are multiples of 1/(4 nx) and 1/(4 ny): rounding removes
    # the float32 error of `square.points` when x64 is off.
    st = np.asarray(square.points, dtype=np.float64)
    st = np.round(st * (4 * np.array([nx, ny]))) / (4 * np.array([nx, ny]))
    return st, np.asarray(square.cells)


def quadrilateral_mesh(
    corners: Float[ArrayLike, "4 2"] | Sequence[Sequence[float | int]],
    nx: int,
    ny: int,
    *,
    cell_type: str = "quad4",
    diagonal: str = "right",
) -> Mesh:
    r"""A structured mesh of a convex quadrilateral, by bilinear map of the unit square.

    With corners $P_0, P_1, P_2, P_3$ (counterclockwise), node $(s, t) \in [0, 1]^2$ of
    `rectangle_mesh(nx, ny, cell_type=cell_type, diagonal=diagonal)` goes to

    $$x(s, t) = (1-s)(1-t) P_0 + s (1-t) P_1 + s t P_2 + (1-s) t P_3,$$

    so edge `s = 0` runs from $P_0$ to $P_3$ (`ny` cells), `t = 0` from $P_0$ to $P_1$ (`nx`
    cells). Every node is mapped, midside and centre nodes of quadratic cells included,
    so they sit at the mapped positions (on the straight edges, at their midpoints along the
    boundary). Node and cell numbering are those of `rectangle_mesh`. For Cook's membrane:
    `corners=[(0, 0), (48, 44), (48, 60), (0, 44)]`.

    Args:
        corners: the four corners $(x, y)$, shape `(4, 2)`, counterclockwise, forming a
            strictly convex quadrilateral (units of length).
        nx: cells along the edges $P_0 P_1$ and $P_3 P_2$.
        ny: cells along the edges $P_0 P_3$ and $P_1 P_2$.
        cell_type: `"tri3"`, `"tri6"`, `"quad4"`, `"quad8"` or `"quad9"`.
        diagonal: `"right"`, `"left"` or `"crossed"` (triangles only, as in
            `rectangle_mesh`).

    Returns:
        A positively oriented `Mesh` (the bilinear map of a strictly convex quadrilateral
        has a positive Jacobian everywhere).

    Raises:
        ValueError: if `corners` is not a finite `(4, 2)` array of a strictly convex,
            counterclockwise quadrilateral; for non-positive counts or an unsupported
            `cell_type`/`diagonal`.

    Example:
        >>> from dmech.geometry import quadrilateral_mesh
        >>> mesh = quadrilateral_mesh([(0, 0), (48, 44), (48, 60), (0, 44)], 4, 4)
        >>> mesh.num_nodes, [float(v) for v in mesh.points[-1]]
        (25, [48.0, 60.0])
    """
    name = _supported(cell_type, ("tri3", "tri6", "quad4", "quad8", "quad9"))
    _supported(diagonal, ("right", "left", "crossed"), "diagonal")
    nx = check_int(nx, "nx")
    ny = check_int(ny, "ny")
    try:
        p = np.asarray(corners, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"`corners` must be an array of shape (4, 2); got {corners!r}.") from e
    if p.shape != (4, 2) or not np.all(np.isfinite(p)):
        raise ValueError(
            f"`corners` must be 4 finite points (x, y), shape (4, 2); got shape {p.shape}."
        )
    out = np.roll(p, -1, axis=0) - p  # edge leaving corner k, to corner k + 1
    into = p - np.roll(p, 1, axis=0)  # edge arriving at corner k, from corner k - 1
    turn = into[:, 0] * out[:, 1] - into[:, 1] * out[:, 0]  # > 0: a left turn
    scale = np.max(np.sum(out**2, axis=1))
    if np.any(turn <= 1e-12 * scale):
        raise ValueError(
            "`corners` must be a strictly convex quadrilateral listed counterclockwise; got "
            f"{p.tolist()} (corner angles not all in (0, 180) degrees counterclockwise)."
        )
    st, cells = _unit_square_mesh(nx, ny, name, diagonal)
    s, t = st[:, :1], st[:, 1:]
    points = (1 - s) * (1 - t) * p[0] + s * (1 - t) * p[1] + s * t * p[2] + (1 - s) * t * p[3]
    return Mesh(points, cells, name)


def annulus_mesh(
    inner_radius: float,
    outer_radius: float,
    nr: int,
    ntheta: int,
    *,
    angle: float = 0.5 * np.pi,
    cell_type: str = "quad4",
    diagonal: str = "right",
) -> Mesh:
    r"""A structured mesh of a sector of an annulus centred at the origin, by polar map.

    Node $(s, t) \in [0, 1]^2$ of `rectangle_mesh(nr, ntheta, cell_type=cell_type,
    diagonal=diagonal)` goes to $x = r(\cos\theta, \sin\theta)$ with
    $r = r_i + s (r_o - r_i)$ and $\theta = t\,\alpha$: the sector
    $r_i \le r \le r_o$, $0 \le \theta \le \alpha$, with `nr` cells across the wall and
    `ntheta` around it. Every node is mapped, so the midside nodes of quadratic cells lie
    exactly on the arcs (and at the midpoints of the radial edges); corner nodes lie on
    the arcs too, joined by straight chords in linear cells. For `angle = 2 pi` the nodes
    on the seam $\theta = 2\pi$ are merged into those at $\theta = 0$ (a full ring).
    Numbering: that of `rectangle_mesh` (with the seam nodes removed for a full ring).

    Args:
        inner_radius: $r_i > 0$ (units of length).
        outer_radius: $r_o > r_i$.
        nr: cells across the wall (radially).
        ntheta: cells around the sector; at least 3 for a full ring.
        angle: the sector's opening angle $\alpha$ in radians, $0 < \alpha \le 2\pi$, with
            $\alpha / n_\theta < \pi$.
        cell_type: `"tri3"`, `"tri6"`, `"quad4"`, `"quad8"` or `"quad9"`.
        diagonal: `"right"`, `"left"` or `"crossed"` (triangles only).

    Returns:
        A positively oriented `Mesh` (counterclockwise cells: the polar map has Jacobian
        $r\,\alpha (r_o - r_i) > 0$).

    Raises:
        ValueError: for non-positive or non-finite radii, `outer_radius <= inner_radius`,
            an `angle` outside $(0, 2\pi]$, too few `ntheta` cells for the angle,
            non-positive counts, or an unsupported `cell_type`/`diagonal`.

    Example:
        >>> import numpy as np
        >>> from dmech.geometry import annulus_mesh
        >>> mesh = annulus_mesh(1.0, 2.0, 2, 4, cell_type="quad8")
        >>> mesh.num_nodes, bool(np.allclose(np.hypot(*np.asarray(mesh.points)[1].T), 1.5))
        (37, True)
    """
    name = _supported(cell_type, ("tri3", "tri6", "quad4", "quad8", "quad9"))
    _supported(diagonal, ("right", "left", "crossed"), "diagonal")
    nr = check_int(nr, "nr")
    ntheta = check_int(ntheta, "ntheta")
    a = check_positive_float(inner_radius, "inner_radius")
    b = check_positive_float(outer_radius, "outer_radius")
    if b <= a:
        raise ValueError(
            f"`outer_radius` must exceed `inner_radius`; got {outer_radius!r} and {inner_radius!r}."
        )
    alpha = check_positive_float(angle, "angle")
    full = bool(np.isclose(alpha, 2 * np.pi, rtol=1e-12, atol=0.0))
    if alpha > 2 * np.pi and not full:
        raise ValueError(f"`angle` must lie in (0, 2 pi] radians; got {angle!r}.")
    if full:
        alpha = 2 * np.pi
    if alpha / ntheta >= np.pi or (full and ntheta < 3):
        raise ValueError(
            f"`ntheta` must be at least 3 for a full ring and exceed `angle` / pi otherwise; "
            f"got ntheta={ntheta} for angle={angle!r}."
        )
    st, cells = _unit_square_mesh(nr, ntheta, name, diagonal)
    if full:
        st, cells = _merge_seam(st, cells, 4 * nr)
    r = a + st[:, 0] * (b - a)
    theta = st[:, 1] * alpha
    points = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    return Mesh(points, cells, name)


def _merge_seam(st: NumpyArray, cells: NumpyArray, ns: int) -> tuple[NumpyArray, NumpyArray]:
    """Identify the nodes on `t = 1` with those on `t = 0` at the same `s` (a multiple of
    `1/ns`), drop them and renumber the remaining nodes in their original order."""
    key = np.round(st[:, 0] * ns).astype(np.int64)
    bottom = np.flatnonzero(st[:, 1] == 0.0)
    top = np.flatnonzero(st[:, 1] == 1.0)
    target = np.full(ns + 1, -1, dtype=np.int64)
    target[key[bottom]] = bottom
    index = np.arange(len(st))
    index[top] = target[key[top]]
    keep = np.ones(len(st), dtype=bool)
    keep[top] = False
    renumber = np.cumsum(keep) - 1
    return st[keep], renumber[index[cells]].astype(cells.dtype)
