"""Tests for the structured generators and degree elevation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.geometry import Mesh, box_mesh, interval_mesh, rectangle_mesh, to_quadratic

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
        (lambda: rectangle_mesh(0, 2), "`nx` must be a positive integer"),
        (lambda: rectangle_mesh(2, -1), "`ny` must be a positive integer"),
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
