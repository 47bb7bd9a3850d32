"""Tests for boundary facets (counts, outward orientation) and node/facet selection."""

import numpy as np
import pytest

from dmech.geometry import (
    Mesh,
    boundary_facets,
    boundary_nodes,
    box_mesh,
    in_box,
    interval_mesh,
    on_plane,
    rectangle_mesh,
    select_facets,
    select_nodes,
)

TWO_D = ["tri3", "tri6", "quad4", "quad8", "quad9"]
THREE_D = ["hex8", "hex20", "hex27", "tet4", "tet10"]


def facet_normals(mesh: Mesh, facets) -> np.ndarray:
    """Area-weighted right-hand-rule normals of (planar) facets from their corners."""
    x = np.asarray(mesh.points, dtype=np.float64)[facets.cells]
    if mesh.dim == 2:
        t = x[:, 1] - x[:, 0]
        return np.stack([t[:, 1], -t[:, 0]], axis=1)
    if facets.type.num_corners == 3:
        return 0.5 * np.cross(x[:, 1] - x[:, 0], x[:, 2] - x[:, 0])
    return 0.5 * np.cross(x[:, 2] - x[:, 0], x[:, 3] - x[:, 1])


def check_outward(mesh: Mesh, facets):
    t = mesh.type
    nfc = facets.type.num_corners
    x = np.asarray(mesh.points, dtype=np.float64)
    normals = facet_normals(mesh, facets)
    # Closed boundary: the area-weighted normals sum to zero.
    np.testing.assert_allclose(normals.sum(axis=0), 0.0, atol=1e-5)
    # Each normal points away from its cell's centroid.
    cell_centroid = x[mesh.cells[facets.cell_index, : t.num_corners]].mean(axis=1)
    facet_centroid = x[facets.cells[:, :nfc]].mean(axis=1)
    assert np.all(np.sum(normals * (facet_centroid - cell_centroid), axis=1) > 0)
    # And, on a box, out of the box: along the outward axis of the face it lies on.
    lo, hi = x.min(axis=0), x.max(axis=0)
    centre = 0.5 * (lo + hi)
    assert np.all(np.sum(normals * (facet_centroid - centre), axis=1) > 0)
    # The facets are the cells' local facets, in the cell's ordering.
    local = np.array(t.facets)[facets.local_index]
    expected = np.take_along_axis(mesh.cells[facets.cell_index], local, axis=1)
    np.testing.assert_array_equal(facets.cells, expected)


@pytest.mark.parametrize("name", TWO_D)
@pytest.mark.parametrize("diagonal", ["right", "left", "crossed"])
def test_rectangle_boundary(name, diagonal):
    nx, ny = 4, 3
    mesh = rectangle_mesh(nx, ny, cell_type=name, diagonal=diagonal, upper=(2.0, 1.0))
    facets = boundary_facets(mesh)
    assert facets.num_facets == len(facets) == 2 * (nx + ny)
    assert facets.cell_type == ("line2" if mesh.type.degree == 1 else "line3")
    assert facets.cells.shape == (2 * (nx + ny), facets.type.num_nodes)
    check_outward(mesh, facets)
    per_edge = 1 if mesh.type.degree == 1 else 2
    assert len(boundary_nodes(mesh)) == 2 * (nx + ny) * per_edge
    # One side: its facets and nodes.
    bottom = select_facets(mesh, on_plane(1, 0.0))
    assert bottom.num_facets == nx
    assert set(bottom.cell_index.tolist()) <= set(range(mesh.num_cells))
    nodes = select_nodes(mesh, on_plane(1, 0.0))
    assert len(nodes) == nx * per_edge + 1
    np.testing.assert_array_equal(bottom.nodes(), nodes)
    # Facet normal on the bottom is -y.
    np.testing.assert_allclose(facet_normals(mesh, bottom), [[0.0, -0.5]] * nx, atol=1e-6)


@pytest.mark.parametrize("name", THREE_D)
def test_box_boundary(name):
    nx, ny, nz = 2, 3, 2
    mesh = box_mesh(nx, ny, nz, cell_type=name, upper=(1.0, 1.5, 2.0))
    facets = boundary_facets(mesh)
    faces = 2 * (nx * ny + ny * nz + nz * nx)
    per_face = 2 if name.startswith("tet") else 1
    assert facets.num_facets == faces * per_face
    check_outward(mesh, facets)
    top = select_facets(mesh, on_plane(2, 2.0))
    assert top.num_facets == nx * ny * per_face
    np.testing.assert_allclose(facet_normals(mesh, top).sum(axis=0), [0.0, 0.0, 1.5], rtol=1e-6)
    top_nodes = select_nodes(mesh, on_plane(2, 2.0))
    np.testing.assert_array_equal(top.nodes(), top_nodes)
    grid_nodes = {"hex8": (nx + 1) * (ny + 1), "tet4": (nx + 1) * (ny + 1)}
    grid_nodes["hex27"] = grid_nodes["tet10"] = (2 * nx + 1) * (2 * ny + 1)
    grid_nodes["hex20"] = (2 * nx + 1) * (2 * ny + 1) - nx * ny
    assert len(top_nodes) == grid_nodes[name]
    interior = np.ones(mesh.num_nodes, dtype=bool)
    interior[boundary_nodes(mesh)] = False
    x = np.asarray(mesh.points)
    strictly_inside = np.all((x > 1e-6) & (x < np.array([1.0, 1.5, 2.0]) - 1e-6), axis=1)
    np.testing.assert_array_equal(interior, strictly_inside)


@pytest.mark.parametrize("name", ["line2", "line3"])
def test_interval_boundary(name):
    mesh = interval_mesh(4, 1.0, 3.0, cell_type=name)
    facets = boundary_facets(mesh)
    assert facets.cell_type == "vertex"
    assert facets.cells.ravel().tolist() == [0, 4]
    assert facets.cell_index.tolist() == [0, 3]
    assert facets.local_index.tolist() == [0, 1]  # (0,): normal -x; (1,): normal +x


def test_select_by_box_and_predicate_errors():
    mesh = rectangle_mesh(4, 4)
    corner = select_nodes(mesh, in_box((0.0, 0.0), (0.5, 0.5)))
    assert len(corner) == 9
    left_bottom = select_facets(mesh, in_box((0.0, 0.0), (1.0, 0.5)))
    # 4 on the bottom, 2 on the left, 2 on the right.
    assert left_bottom.num_facets == 8
    with pytest.raises(ValueError, match="`predicate` must return a boolean array"):
        select_nodes(mesh, lambda x: x[:, 0])
    with pytest.raises(ValueError, match="`predicate` must return a boolean array"):
        select_nodes(mesh, lambda x: x > 0.5)


def test_select_from_given_facets_and_readonly():
    mesh = box_mesh(2, 2, 2)
    facets = boundary_facets(mesh)
    sub = select_facets(mesh, on_plane(0, 0.0), facets=facets)
    assert sub.num_facets == 4
    assert not sub.cells.flags.writeable and not facets.cell_index.flags.writeable


def test_non_manifold_mesh_is_an_error():
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 1.0], [0.5, -1.0], [0.6, 2.0]])
    # Three triangles on edge 0-1: two on top (overlapping), one below.
    cells = np.array([[0, 1, 2], [0, 1, 4], [1, 0, 3]])
    mesh = Mesh(points, cells, "tri3")
    with pytest.raises(ValueError, match="`mesh` is not a manifold: 1 facet"):
        boundary_facets(mesh)


def test_facets_convert_to_their_connectivity():
    mesh = rectangle_mesh(2, 2, cell_type="quad8")
    facets = boundary_facets(mesh)
    np.testing.assert_array_equal(np.asarray(facets), facets.cells)
    assert np.asarray(facets, dtype=np.int32).dtype == np.int32
