"""Tests for meshio conversion and file round trips."""

import meshio
import numpy as np
import pytest

from dmech.geometry import (
    Mesh,
    box_mesh,
    from_meshio,
    interval_mesh,
    read_mesh,
    rectangle_mesh,
    to_meshio,
    write_mesh,
)


def make(name: str) -> Mesh:
    if name.startswith("line"):
        return interval_mesh(3, cell_type=name)
    if name[:3] in ("tri", "qua"):
        return rectangle_mesh(2, 3, cell_type=name, upper=(1.0, 0.7))
    return box_mesh(2, 1, 2, cell_type=name, upper=(1.0, 0.7, 0.3))


ALL = ["line2", "line3", "tri3", "tri6", "quad4", "quad8", "quad9"]
ALL += ["tet4", "tet10", "hex8", "hex20", "hex27"]
FORMATS = {
    "vtu": {},
    "vtk": {},
    "msh": {},  # gmsh 4.1 binary
    "msh22": {"file_format": "gmsh22", "binary": False},
    "xdmf": {},  # meshio's XDMF writer needs h5py
}


def assert_same_mesh(a: Mesh, b: Mesh):
    assert a.cell_type == b.cell_type
    np.testing.assert_array_equal(a.cells, b.cells)
    assert a.points.dtype == b.points.dtype
    np.testing.assert_array_equal(np.asarray(a.points), np.asarray(b.points))


@pytest.mark.parametrize("ext", list(FORMATS))
@pytest.mark.parametrize("name", ALL)
def test_file_round_trip(name, ext, tmp_path, x64):
    if ext == "xdmf":
        pytest.importorskip("h5py")
    mesh = make(name)
    path = tmp_path / f"mesh.{ext.removesuffix('22')}"
    write_mesh(path, mesh, **FORMATS[ext])
    back = read_mesh(path)
    assert_same_mesh(back, mesh)
    assert back == mesh


def test_fields_are_written(tmp_path):
    mesh = rectangle_mesh(2, 2, cell_type="tri6")
    u = np.arange(mesh.num_nodes * 2, dtype=np.float64).reshape(-1, 2)
    rho = np.linspace(0.0, 1.0, mesh.num_cells)
    path = tmp_path / "fields.vtu"
    write_mesh(path, mesh, point_data={"u": u}, cell_data={"rho": rho})
    raw = meshio.read(path)
    assert raw.points.shape == (mesh.num_nodes, 3)  # padded for VTK
    np.testing.assert_array_equal(raw.points[:, 2], 0.0)
    np.testing.assert_array_equal(raw.point_data["u"], u)
    np.testing.assert_array_equal(raw.cell_data["rho"][0], rho)
    with pytest.raises(ValueError, match=r"`point_data\['u'\]` must have leading dimension 25"):
        to_meshio(mesh, point_data={"u": u[:-1]})
    with pytest.raises(ValueError, match=r"`cell_data\['rho'\]` must have leading dimension 8"):
        to_meshio(mesh, cell_data={"rho": rho[:3]})


def test_to_meshio_keeps_dimension_and_vtk_names():
    m = to_meshio(box_mesh(1, 1, 1, cell_type="tet10"))
    assert m.points.shape[1] == 3 and m.cells[0].type == "tetra10"
    m2 = to_meshio(rectangle_mesh(1, 1, cell_type="quad8"))
    assert m2.points.shape[1] == 2 and m2.cells[0].type == "quad8"
    assert to_meshio(rectangle_mesh(1, 1), pad_to_3d=True).points.shape[1] == 3


def _square_with_boundary():
    points = np.array([[0.0, 0.0, 0.0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 2, 0]])
    cells = [
        ("vertex", np.array([[4]])),
        ("line", np.array([[0, 1], [1, 2]])),
        ("triangle", np.array([[0, 1, 2]])),
        ("triangle", np.array([[0, 2, 3]])),
    ]
    return meshio.Mesh(points, cells)


def test_from_meshio_picks_volume_blocks_and_unused_points():
    raw = _square_with_boundary()
    with pytest.raises(
        ValueError, match=r"1 of 5 points used by no 'tri3' cell \(first: point 4\)"
    ):
        from_meshio(raw)
    mesh = from_meshio(raw, remove_unused=True)
    assert mesh.cell_type == "tri3" and mesh.points.shape == (4, 2)
    np.testing.assert_array_equal(mesh.cells, [[0, 1, 2], [0, 2, 3]])
    with pytest.raises(ValueError, match="a 1-D manifold embedded in 3-D is not supported"):
        from_meshio(raw, cell_type="line2", remove_unused=True)


def test_from_meshio_errors():
    points = np.array([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0]])
    mixed = meshio.Mesh(points, [("quad", [[0, 1, 2, 3]]), ("triangle", [[1, 4, 2]])])
    with pytest.raises(
        ValueError, match=r"2 cell types of dimension 2 \(quad4, tri3\).*`cell_type=`"
    ):
        from_meshio(mixed)
    assert from_meshio(mixed, cell_type="quad4", remove_unused=True).num_cells == 1
    with pytest.raises(ValueError, match="`cell_type` 'tet4' is not in the mesh"):
        from_meshio(mixed, cell_type="tet4")
    with pytest.raises(ValueError, match="`cell_type`: unknown cell type"):
        from_meshio(mixed, cell_type="pyramid5")
    only_vertices = meshio.Mesh(points, [("vertex", [[0], [1]])])
    with pytest.raises(ValueError, match="no cells of a supported type"):
        from_meshio(only_vertices)
    lifted = points.copy()
    lifted[2, 2] = 0.5
    surface = meshio.Mesh(lifted, [("triangle", [[0, 1, 2], [0, 2, 3], [1, 4, 2]])])
    with pytest.raises(ValueError, match="nonzero coordinates beyond the 2"):
        from_meshio(surface)
    inverted = meshio.Mesh(points, [("triangle", [[0, 2, 1], [0, 2, 3], [1, 4, 2]])])
    with pytest.raises(ValueError, match=r"inverted.*first: cell 0"):
        from_meshio(inverted)
