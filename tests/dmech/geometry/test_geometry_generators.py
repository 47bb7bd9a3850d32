"""Tests for the structured generators and degree elevation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.geometry import (
    Mesh,
    annulus_mesh,
    boundary_facets,
    box_mesh,
    interval_mesh,
    quadrilateral_mesh,
    rectangle_mesh,
    to_quadratic,
)

TRI = ["tri3", "tri6"]
QUAD = ["quad4", "quad8", "quad9"]
HEX = ["hex8", "hex20", "hex27"]
TET = ["tet4", "tet10"]


def signed_measures(mesh: Mesh) -> np.ndarray:
    """Signed length/area/volume of each cell's corner cell, computed independently."""
    t = mesh.type
    x = np.asarray(mesh.points, dtype=np.float64)[mesh.cells[:, : t.num_corners]]
    if t.corner_type == "line2":
        return x[:, 1, 0] - x[:, 0, 0]
    if t.corner_type == "tri3":
        e1, e2 = x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]
        return 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    if t.corner_type == "quad4":  # shoelace
        xs, ys = x[..., 0], x[..., 1]
        return 0.5 * np.sum(xs * np.roll(ys, -1, axis=1) - np.roll(xs, -1, axis=1) * ys, axis=1)
    if t.corner_type == "tet4":
        return np.linalg.det(x[:, 1:] - x[:, :1]) / 6
    # hex8: six tetrahedra around the diagonal 0-6.
    tets = [(0, 1, 2, 6), (0, 2, 3, 6), (0, 3, 7, 6), (0, 7, 4, 6), (0, 4, 5, 6), (0, 5, 1, 6)]
    return sum(np.linalg.det(x[:, list(s[1:])] - x[:, [s[0]]]) / 6 for s in tets)


def node_count(name, n):
    """Closed-form node counts on an n = (nx, ny[, nz]) grid."""
    if len(n) == 2:
        nx, ny = n
        return {
            "tri3": (nx + 1) * (ny + 1),
            "quad4": (nx + 1) * (ny + 1),
            "tri6": (2 * nx + 1) * (2 * ny + 1),
            "quad9": (2 * nx + 1) * (2 * ny + 1),
            "quad8": (2 * nx + 1) * (2 * ny + 1) - nx * ny,
        }[name]
    nx, ny, nz = n
    corners = (nx + 1) * (ny + 1) * (nz + 1)
    edges = nx * (ny + 1) * (nz + 1) + (nx + 1) * ny * (nz + 1) + (nx + 1) * (ny + 1) * nz
    faces = nx * ny * (nz + 1) + nx * (ny + 1) * nz + (nx + 1) * ny * nz
    cells = nx * ny * nz
    return {
        "hex8": corners,
        "tet4": corners,
        "hex20": corners + edges,
        "hex27": (2 * nx + 1) * (2 * ny + 1) * (2 * nz + 1),
        # Kuhn split adds one diagonal per face and one per cell.
        "tet10": corners + edges + faces + cells,
    }[name]


def check_nodes_on_reference_map(mesh: Mesh):
    """Every node sits where the affine (simplex) or multilinear (box) map puts it."""
    t = mesh.type
    ref = np.array(t.reference_points)
    x = np.asarray(mesh.points, dtype=np.float64)[mesh.cells]
    corners = x[:, : t.num_corners]
    if t.corner_type in ("tri3", "tet4"):
        jac = corners[:, 1:] - corners[:, :1]  # (c, dim, dim) rows = edges
        expected = corners[:, :1] + np.einsum("nk,ckd->cnd", ref, jac)
    else:  # axis-aligned boxes on [-1, 1]^d
        lo, hi = corners.min(axis=1), corners.max(axis=1)
        expected = lo[:, None] + 0.5 * (ref[None] + 1) * (hi - lo)[:, None]
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-6)


def check_generated(mesh: Mesh, volume: float, expected_nodes: int, expected_cells: int):
    assert mesh.num_nodes == expected_nodes
    assert mesh.num_cells == expected_cells
    # No duplicated nodes (midside nodes shared between neighbours).
    assert len(np.unique(np.round(np.asarray(mesh.points), 6), axis=0)) == mesh.num_nodes
    measures = signed_measures(mesh)
    assert np.all(measures > 0)
    np.testing.assert_allclose(measures.sum(), volume, rtol=1e-5)
    check_nodes_on_reference_map(mesh)
    # Re-validating from scratch passes (all nodes used, nothing inverted or degenerate).
    Mesh(mesh.points, mesh.cells, mesh.cell_type)


@pytest.mark.parametrize("name", ["line2", "line3"])
def test_interval(name):
    mesh = interval_mesh(5, -1.0, 2.0, cell_type=name)
    check_generated(mesh, 3.0, 6 if name == "line2" else 11, 5)
    assert mesh.points.shape == (mesh.num_nodes, 1)


@pytest.mark.parametrize("name", TRI + QUAD)
@pytest.mark.parametrize("n", [(1, 1), (3, 2), (2, 5)])
def test_rectangle(name, n):
    mesh = rectangle_mesh(*n, cell_type=name, lower=(-1.0, 0.5), upper=(2.0, 1.5))
    cells = n[0] * n[1] * (2 if name in TRI else 1)
    check_generated(mesh, 3.0, node_count(name, n), cells)


@pytest.mark.parametrize("name", TRI)
@pytest.mark.parametrize("diagonal", ["right", "left", "crossed"])
def test_rectangle_diagonals(name, diagonal):
    nx, ny = 3, 2
    mesh = rectangle_mesh(nx, ny, cell_type=name, diagonal=diagonal)
    per_square = 4 if diagonal == "crossed" else 2
    extra = nx * ny if diagonal == "crossed" else 0
    if name == "tri3":
        nodes = (nx + 1) * (ny + 1) + extra
    else:  # edges: grid edges + one diagonal per square, or 4 half-diagonals when crossed
        grid_edges = nx * (ny + 1) + (nx + 1) * ny
        nodes = (nx + 1) * (ny + 1) + extra + grid_edges + nx * ny * (4 if extra else 1)
    check_generated(mesh, 1.0, nodes, nx * ny * per_square)
    # The documented diagonal: first triangle of square (0, 0) in the default numbering.
    first = set(mesh.cells[0, :3].tolist())
    expected = {"right": {0, 1, nx + 2}, "left": {0, 1, nx + 1}}.get(diagonal)
    if expected is not None:
        assert first == expected


@pytest.mark.parametrize("name", HEX + TET)
@pytest.mark.parametrize("n", [(1, 1, 1), (2, 3, 2)])
def test_box(name, n):
    mesh = box_mesh(*n, cell_type=name, lower=(0.0, -1.0, 1.0), upper=(2.0, 1.0, 1.5))
    cells = n[0] * n[1] * n[2] * (6 if name in TET else 1)
    check_generated(mesh, 2.0, node_count(name, n), cells)


def test_node_numbering_is_x_fastest():
    mesh = box_mesh(2, 3, 4, cell_type="hex8")
    p = np.asarray(mesh.points)
    np.testing.assert_allclose(p[1], [0.5, 0.0, 0.0])
    np.testing.assert_allclose(p[3], [0.0, 1 / 3, 0.0])
    np.testing.assert_allclose(p[12], [0.0, 0.0, 0.25])
    assert mesh.cells[0].tolist() == [0, 1, 4, 3, 12, 13, 16, 15]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: rectangle_mesh(0, 2), "`nx` must be a positive int"),
        (lambda: rectangle_mesh(2, -1), "`ny` must be a positive int"),
        (lambda: rectangle_mesh(2, 2, cell_type="hex8"), "`cell_type` must be one of"),
        (lambda: rectangle_mesh(2, 2, diagonal="up"), "`diagonal` must be one of"),
        (lambda: rectangle_mesh(2, 2, upper=(1.0, 0.0)), "`upper` must exceed `lower`"),
        (lambda: box_mesh(1, 1, 1, lower=(0.0, 0.0)), "`lower` must be 3 finite"),
        (lambda: box_mesh(1, 1, 1, cell_type="quad4"), "`cell_type` must be one of"),
        (lambda: interval_mesh(3, 1.0, 0.0), "`upper` must exceed `lower`"),
        (lambda: to_quadratic(rectangle_mesh(1, 1, cell_type="tri6")), "linear cells"),
        (lambda: to_quadratic(rectangle_mesh(1, 1), "tri6"), "`cell_type` must be one of"),
    ],
)
def test_generator_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_to_quadratic_is_differentiable_and_jittable():
    linear = rectangle_mesh(2, 2, cell_type="tri3")

    def total(points):
        return to_quadratic(linear.with_points(points)).points.sum()

    grad = jax.grad(total)(linear.points)
    # Each corner node contributes once, plus 1/2 per incident edge.
    incident = np.zeros(linear.num_nodes)
    edges = np.unique(
        np.sort(linear.cells[:, [[0, 1], [1, 2], [2, 0]]], axis=2).reshape(-1, 2), axis=0
    )
    np.add.at(incident, edges.ravel(), 1)
    expected = np.repeat((1 + 0.5 * incident)[:, None], 2, axis=1)
    np.testing.assert_allclose(np.asarray(grad), expected, rtol=1e-6)
    jitted = jax.jit(total)(linear.points)
    assert jnp.allclose(jitted, total(linear.points))


def test_generators_follow_x64(x64):
    assert rectangle_mesh(2, 2).points.dtype == jnp.float64
    assert box_mesh(1, 1, 1, cell_type="tet10").points.dtype == jnp.float64


# --- Mapped meshes: quadrilateral_mesh, annulus_mesh -------------------------------------------

COOK = [(0.0, 0.0), (48.0, 44.0), (48.0, 60.0), (0.0, 44.0)]


def bilinear(corners, s, t):
    p = np.asarray(corners, dtype=np.float64)
    s, t = np.asarray(s)[..., None], np.asarray(t)[..., None]
    return (1 - s) * (1 - t) * p[0] + s * (1 - t) * p[1] + s * t * p[2] + (1 - s) * t * p[3]


@pytest.mark.parametrize("name", TRI + QUAD)
def test_quadrilateral_mesh_maps_every_node_of_the_unit_square(x64, name):
    nx, ny = 3, 2
    mesh = quadrilateral_mesh(COOK, nx, ny, cell_type=name)
    square = rectangle_mesh(nx, ny, cell_type=name)
    cells = nx * ny * (2 if name in TRI else 1)
    assert mesh.num_nodes == node_count(name, (nx, ny))
    assert mesh.num_cells == cells
    np.testing.assert_array_equal(mesh.cells, square.cells)
    st = np.asarray(square.points)
    np.testing.assert_allclose(mesh.points, bilinear(COOK, st[:, 0], st[:, 1]), atol=1e-12)
    # The grid corners land on the quadrilateral's corners (node i + (nx + 1) j).
    p = np.asarray(mesh.points)
    for node, corner in zip([0, nx, (nx + 1) * (ny + 1) - 1, (nx + 1) * ny], COOK, strict=True):
        np.testing.assert_allclose(p[node], corner, atol=1e-12)
    assert np.all(signed_measures(mesh) > 0)
    # Straight-sided cells tile the quadrilateral: Cook's membrane has area 48 (44 + 16) / 2.
    np.testing.assert_allclose(signed_measures(mesh).sum(), 1440.0, rtol=1e-12)
    assert len(np.unique(np.round(p, 9), axis=0)) == mesh.num_nodes
    Mesh(mesh.points, mesh.cells, mesh.cell_type)  # re-validates


def test_quadrilateral_mesh_midside_nodes_sit_at_mapped_positions(x64):
    mesh = quadrilateral_mesh(COOK, 2, 2, cell_type="quad8")
    x = np.asarray(mesh.points)[mesh.cells]
    # On the straight boundary edges the mapped midside node is the edge's midpoint.
    for k, (i, j) in enumerate(mesh.type.edges):
        np.testing.assert_allclose(x[:, 4 + k], 0.5 * (x[:, i] + x[:, j]), atol=1e-12)
    quad9 = quadrilateral_mesh(COOK, 1, 1, cell_type="quad9")
    np.testing.assert_allclose(quad9.points[8], bilinear(COOK, 0.5, 0.5), atol=1e-12)


def _polygon_area(r_in, r_out, nt, alpha):
    """Area of the annular sector with its arcs replaced by nt chords each."""
    return 0.5 * (r_out**2 - r_in**2) * nt * np.sin(alpha / nt)


@pytest.mark.parametrize("name", TRI + QUAD)
@pytest.mark.parametrize("angle", [0.5 * np.pi, 1.25 * np.pi, 2 * np.pi])
def test_annulus_mesh(x64, name, angle):
    a, b, nr, nt = 1.5, 4.0, 3, 5
    mesh = annulus_mesh(a, b, nr, nt, angle=angle, cell_type=name)
    full = angle == 2 * np.pi
    seam = nr + 1 if name in ("tri3", "quad4") else 2 * nr + 1  # nodes on theta = 2 pi
    assert mesh.num_nodes == node_count(name, (nr, nt)) - (seam if full else 0)
    assert mesh.num_cells == nr * nt * (2 if name in TRI else 1)
    p = np.asarray(mesh.points)
    r = np.hypot(p[:, 0], p[:, 1])
    theta = np.mod(np.arctan2(p[:, 1], p[:, 0]), 2 * np.pi)
    theta[np.isclose(theta, 2 * np.pi, atol=1e-12, rtol=0)] = 0.0
    assert np.all(r >= a - 1e-12)
    assert np.all(r <= b + 1e-12)
    if not full:
        assert np.all(theta <= angle + 1e-12)
        # Corners of the sector.
        for corner in ([a, 0.0], [b, 0.0], [a * np.cos(angle), a * np.sin(angle)]):
            assert np.min(np.hypot(*(p - np.array(corner)).T)) < 1e-12
    # Every node on a boundary arc sits exactly on it: midside nodes included.
    facets = boundary_facets(mesh)
    on_inner = np.all(np.isclose(r[facets.cells], a, rtol=1e-12), axis=1)
    on_outer = np.all(np.isclose(r[facets.cells], b, rtol=1e-12), axis=1)
    assert on_inner.sum() == nt
    assert on_outer.sum() == nt
    assert facets.num_facets == 2 * nt + (0 if full else 2 * nr)
    # Nodes sit on the radii a + k (b - a) / (2 nr) (grid and midside) and on the angles
    # k angle / (2 nt): the polar map of the parameter grid.
    k_r = (r - a) / (b - a) * 2 * nr
    np.testing.assert_allclose(k_r, np.round(k_r), atol=1e-9)
    k_t = theta / angle * 2 * nt
    np.testing.assert_allclose(k_t, np.round(k_t), atol=1e-9)
    assert np.all(signed_measures(mesh) > 0)
    np.testing.assert_allclose(
        signed_measures(mesh).sum(), _polygon_area(a, b, nt, angle), rtol=1e-12
    )
    assert len(np.unique(np.round(p, 9), axis=0)) == mesh.num_nodes
    Mesh(mesh.points, mesh.cells, mesh.cell_type)  # all nodes used, nothing inverted


@pytest.mark.parametrize("name", ["tri6", "quad8", "quad9"])
def test_annulus_quadratic_edges_follow_the_arcs(x64, name):
    # The midside node of an arc edge is at the arc's angular midpoint, not the chord's.
    a, b = 1.0, 2.0
    mesh = annulus_mesh(a, b, 1, 2, cell_type=name)
    x = np.asarray(mesh.points)[mesh.cells]
    nc = mesh.type.num_corners
    for k, (i, j) in enumerate(mesh.type.edges):
        ri, rj = np.hypot(*x[:, i].T), np.hypot(*x[:, j].T)
        arc = np.isclose(ri, rj)
        mid = x[arc, nc + k]
        ti, tj = np.arctan2(x[arc, i, 1], x[arc, i, 0]), np.arctan2(x[arc, j, 1], x[arc, j, 0])
        tm = 0.5 * (ti + tj)
        expected = ri[arc, None] * np.stack([np.cos(tm), np.sin(tm)], -1)
        np.testing.assert_allclose(mid, expected, atol=1e-12)


def test_full_ring_is_closed():
    mesh = annulus_mesh(1.0, 2.0, 2, 6, angle=2 * np.pi, cell_type="quad9")
    # Boundary facets only on the two circles: the seam has been merged.
    assert boundary_facets(mesh).num_facets == 12
    p = np.asarray(mesh.points)
    assert len(np.unique(np.round(p, 5), axis=0)) == mesh.num_nodes


def test_mapped_meshes_are_float32_by_default():
    assert quadrilateral_mesh(COOK, 2, 2).points.dtype == jnp.float32
    assert annulus_mesh(1.0, 2.0, 2, 2).points.dtype == jnp.float32


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: quadrilateral_mesh(COOK[:3], 2, 2), "`corners` must be 4 finite points"),
        (lambda: quadrilateral_mesh([*COOK[:3], (np.nan, 1.0)], 2, 2), "4 finite points"),
        (lambda: quadrilateral_mesh(COOK[::-1], 2, 2), "counterclockwise"),
        (
            lambda: quadrilateral_mesh([(0, 0), (1, 0), (0.2, 0.2), (0, 1)], 2, 2),
            "strictly convex",
        ),
        (lambda: quadrilateral_mesh([(0, 0), (1, 0), (2, 0), (0, 1)], 2, 2), "strictly convex"),
        (lambda: quadrilateral_mesh(COOK, 0, 2), "`nx` must be a positive int"),
        (lambda: quadrilateral_mesh(COOK, 2, 2, cell_type="hex8"), "`cell_type` must be one"),
        (lambda: annulus_mesh(0.0, 1.0, 2, 2), "`inner_radius` must be finite and a positive"),
        (lambda: annulus_mesh(1.0, np.inf, 2, 2), "`outer_radius` must be finite and a positive"),
        (lambda: annulus_mesh(2.0, 1.0, 2, 2), "`outer_radius` must exceed `inner_radius`"),
        (lambda: annulus_mesh(1.0, 2.0, 2, 2, angle=0.0), "`angle` must be finite and a positive"),
        (lambda: annulus_mesh(1.0, 2.0, 2, 2, angle=7.0), r"`angle` must lie in \(0, 2 pi\]"),
        (lambda: annulus_mesh(1.0, 2.0, 2, 1, angle=4.0), "`ntheta` must be at least 3"),
        (lambda: annulus_mesh(1.0, 2.0, 2, 2, angle=2 * np.pi), "`ntheta` must be at least 3"),
        (lambda: annulus_mesh(1.0, 2.0, 0, 2), "`nr` must be a positive int"),
        (lambda: annulus_mesh(1.0, 2.0, 2, 2, cell_type="tet4"), "`cell_type` must be one"),
        (lambda: annulus_mesh(1.0, 2.0, 2, 2, diagonal="up"), "`diagonal` must be one"),
    ],
)
def test_mapped_mesh_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
