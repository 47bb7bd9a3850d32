"""Plot helpers: edges and sub-triangles drawn through every node, deformed coordinates, errors.
Runs on the Agg backend; every figure is closed."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dmech.fem import plot_field, plot_mesh
from dmech.geometry import annulus_mesh, box_mesh, rectangle_mesh

# Sub-triangles per cell and distinct edges of an nx x ny rectangle mesh.
TRIANGLES = {"tri3": 1, "tri6": 4, "quad4": 2, "quad8": 6, "quad9": 8}


def edge_count(name, nx, ny):
    grid = nx * (ny + 1) + (nx + 1) * ny
    return grid + (nx * ny if name.startswith("tri") else 0)  # one diagonal per square


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


@pytest.fixture(autouse=True)
def _close_all():
    yield
    plt.close("all")


def _mesh(name, nx=4, ny=2):  # 15 nodes, not as many as cells for tri3
    return rectangle_mesh(nx, ny, cell_type=name, upper=(3.0, 2.0))


@pytest.mark.parametrize("name", ["tri3", "tri6", "quad4", "quad9", "quad8"])
def test_plot_mesh_draws_every_edge_once(ax, name):
    mesh = _mesh(name)
    lines = plot_mesh(mesh, ax=ax, segments=4)
    segments = lines.get_segments()
    assert len(segments) == edge_count(name, 4, 2)
    assert lines.axes is ax
    points = 2 if name in ("tri3", "quad4") else 5
    assert all(len(s) == points for s in segments)
    # The polylines pass through every node of the mesh (corners and midside nodes).
    drawn = np.unique(np.round(np.concatenate(segments), 9), axis=0)
    p = np.asarray(mesh.points, dtype=np.float64)
    on_edges = p if name != "quad9" else np.delete(p, mesh.cells[:, 8], axis=0)  # not centres
    for x in on_edges:
        assert np.min(np.hypot(*(drawn - x).T)) < 1e-9
    np.testing.assert_allclose(ax.get_xlim(), (0.0, 3.0), atol=0.2)


def test_plot_mesh_draws_quadratic_edges_as_curves(ax):
    mesh = annulus_mesh(1.0, 2.0, 1, 2, cell_type="quad8")
    lines = plot_mesh(mesh, ax=ax, segments=16)
    r = [np.hypot(*s.T) for s in lines.get_segments()]
    arcs = [ri for ri in r if np.ptp(ri) < 0.2]  # the four arc edges
    assert len(arcs) == 4
    # A parabola through three points of a circle strays from it by far less than a chord.
    for ri in arcs:
        assert np.max(np.abs(ri - ri[0])) < 5e-3


@pytest.mark.parametrize("name", ["tri3", "tri6", "quad4", "quad9"])
def test_plot_mesh_on_the_deformed_configuration(ax, name):
    mesh = _mesh(name)
    p = np.asarray(mesh.points, dtype=np.float64)
    u = np.stack([0.1 * p[:, 1], np.zeros(len(p))], axis=1).astype(np.float32)  # a shear
    lines = plot_mesh(mesh, displacement=u, scale=2.0, ax=ax, color="r", linewidth=2.0)
    drawn = np.concatenate(lines.get_segments()).astype(np.float64)
    # Every drawn point is on the sheared rectangle x = X + 0.2 Y, and every node is drawn.
    reference = drawn - np.stack([0.2 * drawn[:, 1], np.zeros(len(drawn))], axis=1)
    assert np.all((reference > -1e-6) & (reference < np.array([3.0, 2.0]) + 1e-6))
    moved = p + 2.0 * u
    if name == "quad9":
        moved = np.delete(moved, mesh.cells[:, 8], axis=0)  # centres are on no edge
    for x in moved:
        assert np.min(np.hypot(*(drawn - x).T)) < 1e-6
    assert drawn[:, 0].max() == pytest.approx(3.0 + 0.2 * 2.0, abs=1e-6)
    np.testing.assert_allclose(lines.get_linewidths(), [2.0])


def triangles(artist):
    """Vertex coordinates of the drawn triangles, shape (num_triangles, 3, 2)."""
    return np.stack([path.vertices[:3] for path in artist.get_paths()])


def signed_areas(t):
    e1, e2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    return 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])


@pytest.mark.parametrize("name", ["tri3", "tri6", "quad4", "quad9", "quad8"])
def test_plot_field_nodal_values_use_all_nodes(ax, name):
    mesh = _mesh(name)
    values = np.asarray(mesh.points[:, 0] + 2 * mesh.points[:, 1])
    artist = plot_field(mesh, values, ax=ax, label="f")
    t = triangles(artist)
    assert len(t) == TRIANGLES[name] * mesh.num_cells
    # Every node is a vertex of some sub-triangle, and carries its own value.
    p = np.asarray(mesh.points, dtype=np.float64)
    vertices = np.unique(np.round(t.reshape(-1, 2), 9), axis=0)
    assert len(vertices) == mesh.num_nodes
    np.testing.assert_allclose(artist.get_array(), values, rtol=1e-6)
    # Sub-triangles tile the cells: positive areas adding up to the rectangle's.
    area = signed_areas(t)
    assert np.all(area > 0)
    assert area.sum() == pytest.approx(6.0)
    assert np.min(p) == pytest.approx(np.min(t))
    assert artist.axes is ax
    assert artist.colorbar is not None
    assert artist.colorbar.ax.get_ylabel() == "f"


@pytest.mark.parametrize("name", ["tri3", "tri6", "quad4", "quad9"])
def test_plot_field_per_cell_values_are_flat(ax, name):
    mesh = _mesh(name)
    values = np.arange(mesh.num_cells, dtype=np.float64)
    artist = plot_field(mesh, values, ax=ax, colorbar=False, cmap="magma")
    k = TRIANGLES[name]
    assert len(artist.get_array()) == k * mesh.num_cells
    np.testing.assert_array_equal(artist.get_array(), np.repeat(values, k))
    assert artist.get_cmap().name == "magma"
    assert len(ax.figure.axes) == 1  # no colour bar


@pytest.mark.parametrize("name", ["tri3", "quad9"])
@pytest.mark.parametrize("per_cell", [False, True])
def test_plot_field_on_the_deformed_configuration(ax, name, per_cell):
    mesh = _mesh(name)
    p = np.asarray(mesh.points, dtype=np.float64)
    u = np.stack([np.zeros(len(p)), -0.5 * p[:, 0]], axis=1)
    values = np.ones(mesh.num_cells) if per_cell else p[:, 0]
    artist = plot_field(mesh, values, displacement=u, scale=0.5, ax=ax)
    t = triangles(artist).reshape(-1, 2)
    # The vertices are exactly the nodes moved to (X, Y - X / 4).
    moved = p + 0.5 * u
    assert len(np.unique(np.round(t, 9), axis=0)) == mesh.num_nodes
    for x in t:
        assert np.min(np.hypot(*(moved - x).T)) < 1e-9
    assert t[:, 1].min() == pytest.approx(-0.75)


def test_plot_without_axes_makes_a_figure():
    mesh = _mesh("quad4")
    lines = plot_mesh(mesh)
    artist = plot_field(mesh, np.ones(mesh.num_cells), ax=lines.axes)
    assert artist.axes is lines.axes
    assert len(plt.get_fignums()) == 1


def test_plot_field_needs_the_location_when_nodes_and_cells_tie(ax):
    mesh = rectangle_mesh(3, 2, cell_type="tri3")  # 12 nodes, 12 cells
    assert mesh.num_nodes == mesh.num_cells
    with pytest.raises(ValueError, match="`location` must be given"):
        plot_field(mesh, np.zeros(12), ax=ax)
    cells = plot_field(mesh, np.arange(12.0), ax=ax, location="cells", colorbar=False)
    assert len(cells.get_array()) == 12
    nodes = plot_field(mesh, np.arange(12.0), ax=ax, location="nodes", colorbar=False)
    assert len(nodes.get_paths()) == 12


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: plot_mesh(box_mesh(1, 1, 1)), "`mesh` must be a 2D mesh"),
        (lambda m: plot_field(box_mesh(1, 1, 1), np.zeros(8)), "`mesh` must be a 2D mesh"),
        (lambda m: plot_field(m, np.zeros(5)), r"`values` must have shape \(12,\)"),
        (lambda m: plot_field(m, np.zeros((12, 2))), "`values` must have shape"),
        (lambda m: plot_field(m, np.zeros(12), location="faces"), "`location` must be"),
        (lambda m: plot_field(m, np.zeros(12), location="cells"), "location='cells'"),
        (lambda m: plot_mesh(m, displacement=np.zeros((12, 3))), "`displacement` must be"),
        (lambda m: plot_field(m, np.zeros(6), displacement=np.zeros(12)), "`displacement`"),
        (lambda m: plot_mesh(m, displacement=np.zeros((12, 2)), scale=np.nan), "`scale`"),
        (lambda m: plot_mesh(m, segments=0), "`segments` must be a positive int"),
    ],
)
def test_plot_errors_name_the_argument(call, match):
    mesh = rectangle_mesh(3, 2)  # 12 nodes, 6 cells
    with pytest.raises(ValueError, match=match):
        call(mesh)
