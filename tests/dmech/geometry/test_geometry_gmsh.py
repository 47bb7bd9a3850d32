import numpy as np
import pytest

from dmech.geometry import boundary_facets, plate_with_hole_mesh

pytest.importorskip("gmsh", reason="gmsh is in the test extra")


@pytest.mark.parametrize("cell_type", ["tri3", "tri6", "quad4", "quad9"])
def test_plate_with_hole_is_a_valid_quarter_plate(cell_type):
    mesh = plate_with_hole_mesh(3.0, 1.0, size=0.4, cell_type=cell_type)
    assert mesh.cell_type == cell_type
    p = np.asarray(mesh.points)
    r = np.hypot(p[:, 0], p[:, 1])
    assert r.min() == pytest.approx(1.0, abs=1e-9)  # nodes on the hole, none inside it
    assert p.min() == pytest.approx(0.0, abs=1e-12) and p.max() == pytest.approx(3.0)
    # Area by the shoelace formula over the boundary (outward ordered facets).
    edges = p[boundary_facets(mesh).cells[:, :2]]
    area = 0.5 * np.sum(edges[:, 0, 0] * edges[:, 1, 1] - edges[:, 1, 0] * edges[:, 0, 1])
    assert area == pytest.approx(9.0 - np.pi / 4, rel=5e-3)


def test_bad_arguments_name_them():
    with pytest.raises(ValueError, match="radius"):
        plate_with_hole_mesh(1.0, 2.0, size=0.1)
    with pytest.raises(ValueError, match="size"):
        plate_with_hole_mesh(3.0, 1.0, size=0.0)
    with pytest.raises(ValueError, match="cell_type"):
        plate_with_hole_mesh(3.0, 1.0, size=0.5, cell_type="hex8")
