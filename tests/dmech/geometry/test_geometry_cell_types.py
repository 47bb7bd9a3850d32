"""Tests for the cell type table: VTK ordering, outward facets, reference nodes."""

import meshio
import numpy as np
import pytest

from dmech.geometry import CellType, cell_type

ALL = ["line2", "line3", "tri3", "tri6", "quad4", "quad8", "quad9"]
ALL += ["tet4", "tet10", "hex8", "hex20", "hex27"]


def _outward_normal(x: np.ndarray) -> np.ndarray:
    """Right-hand-rule normal of a facet from its corner coordinates (num_corners, dim)."""
    if x.shape[1] == 1:
        raise AssertionError("use the 1D rule")
    if x.shape[1] == 2:
        t = x[1] - x[0]
        return np.array([t[1], -t[0]])
    return np.cross(x[1] - x[0], x[-1] - x[0])


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown cell type 'tri7'.*'tri3'.*'hex8'"):
        cell_type("tri7")
    with pytest.raises(ValueError, match="meshio name of 'tri3'"):
        cell_type("triangle")


def test_cell_type_is_frozen_and_hashable():
    t = cell_type("quad4")
    assert isinstance(t, CellType)
    assert hash(t) == hash(cell_type("quad4"))
    assert {t: 1}[cell_type("quad4")] == 1
    with pytest.raises(AttributeError):
        t.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize("name", ALL)
def test_table_matches_meshio(name):
    t = cell_type(name)
    assert (
        t.num_nodes == len(t.reference_points) == meshio._common.num_nodes_per_cell[t.meshio_name]
    )
    assert t.degree == (1 if t.corner_type == name else 2)
    assert t.num_corners == cell_type(t.corner_type).num_nodes
    facet = cell_type(t.facet_type)
    assert all(len(f) == facet.num_nodes for f in t.facets)
    assert t.num_facets == {1: 2, 2: t.num_corners, 3: 4 if t.num_corners == 4 else 6}[t.dim]


@pytest.mark.parametrize("name", ALL)
def test_reference_nodes_midsides_and_facet_ordering(name):
    t = cell_type(name)
    ref = np.array(t.reference_points)
    nc = t.num_corners
    # Quadratic: node nc + k is the midpoint of edge k.
    if t.degree == 2:
        for k, (a, b) in enumerate(t.edges):
            np.testing.assert_allclose(ref[nc + k], 0.5 * (ref[a] + ref[b]))
    centroid = ref[:nc].mean(axis=0)
    facet = cell_type(t.facet_type)
    for f in t.facets:
        x = ref[list(f)]
        centre = x[: facet.num_corners].mean(axis=0)
        if t.dim == 1:
            normal = np.array([-1.0]) if f == (0,) else np.array([1.0])
        else:
            normal = _outward_normal(x[: facet.num_corners])
            # Planar facet: all its nodes lie in the plane through its corners.
            assert np.allclose((x - centre) @ normal, 0.0)
        assert normal @ (centre - centroid) > 0, f"{name} facet {f} normal points inward"
        # The facet's own node ordering: its midside nodes at its edges' midpoints.
        for k, (a, b) in enumerate(facet.edges if facet.degree == 2 else ()):
            np.testing.assert_allclose(x[facet.num_corners + k], 0.5 * (x[a] + x[b]))
        if facet.name == "quad9":
            np.testing.assert_allclose(x[8], x[:4].mean(axis=0))


def test_facets_cover_each_edge_once_with_consistent_orientation():
    # Closed surface: every (directed) facet edge appears once and its reverse once.
    for name in ["tet4", "hex8"]:
        t = cell_type(name)
        directed = [(f[i], f[(i + 1) % len(f)]) for f in t.facets for i in range(len(f))]
        assert len(set(directed)) == len(directed)
        assert {(b, a) for a, b in directed} == set(directed)


def test_specific_vtk_orderings():
    assert cell_type("tet10").facets[0] == (0, 2, 1, 6, 5, 4)
    assert cell_type("tet10").edges == ((0, 1), (1, 2), (2, 0), (0, 3), (1, 3), (2, 3))
    assert cell_type("quad9").reference_points[8] == (0.0, 0.0)
    hex27 = np.array(cell_type("hex27").reference_points)
    # VTK triquadratic hexahedron: face centres x-, x+, y-, y+, z-, z+, then the centre.
    expected = [(-1, 0, 0), (1, 0, 0), (0, -1, 0), (0, 1, 0), (0, 0, -1), (0, 0, 1), (0, 0, 0)]
    np.testing.assert_array_equal(hex27[20:], np.array(expected, dtype=float))
    assert cell_type("line3").facets == ((0,), (1,))
