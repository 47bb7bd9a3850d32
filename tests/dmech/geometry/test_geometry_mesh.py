"""Tests for Mesh: validation messages, static connectivity, hashing, jit without recompiles."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.geometry import Mesh, box_mesh, rectangle_mesh
from dmech.testing import count_compiles

SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
CUBE = np.array(
    [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]],
    dtype=float,
)
TET = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])


def strip(n: int, cell_type: str = "quad4"):
    """A 1 x n strip of unit squares (nodes 2(n+1)), as quads or right-diagonal triangles."""
    m = rectangle_mesh(n, 1, cell_type=cell_type, upper=(float(n), 1.0))
    return np.asarray(m.points, dtype=np.float64), np.array(m.cells)


def test_valid_mesh_properties():
    points, cells = strip(3)
    mesh = Mesh(points, cells, "quad4")
    assert (mesh.dim, mesh.num_nodes, mesh.num_cells) == (2, 8, 3)
    assert mesh.type.name == "quad4" and mesh.cell_type == "quad4"
    assert mesh.cells.flags.c_contiguous and not mesh.cells.flags.writeable
    with pytest.raises(ValueError):
        mesh.cells[0, 0] = 5
    assert isinstance(mesh.points, jax.Array)
    # The mesh keeps its own copy: later changes to the input do not leak in.
    cells[0, 0] = 7
    assert mesh.cells[0, 0] == 0


def test_connectivity_dtypes():
    points, cells = strip(2)
    assert Mesh(points, cells.astype(np.int32), "quad4").cells.dtype == np.int32
    assert Mesh(points, cells.astype(np.uint16), "quad4").cells.dtype == np.int64
    assert Mesh(points, cells.tolist(), "quad4").cells.dtype == np.int64


# (points, cells, cell_type, regex the message must match: argument and offending index)
def _cases():
    p, c = strip(4)
    pt, ct = strip(4, "tri3")
    cases = {
        "points not 2-D": (p.ravel(), c, "quad4", r"`points` must have shape \(num_nodes, 2\)"),
        "points wrong dim": (np.zeros((8, 3)), c, "quad4", r"`points` must have shape"),
        "points int": (p.astype(int), c, "quad4", r"`points` must be a floating array"),
        "cells wrong width": (p, c[:, :3], "quad4", r"`cells` must have shape \(num_cells, 4\)"),
        "cells float": (p, c.astype(float), "quad4", r"`cells` must be an integer array"),
        "cells bool": (p, c > 2, "quad4", r"`cells` must be an integer array"),
        "cells 1-D": (p, c.ravel(), "quad4", r"`cells` must have shape"),
        "unknown type": (p, c, "quad5", r"`cell_type`: unknown cell type 'quad5'"),
        "non-finite": (
            np.where(np.arange(10)[:, None] == 6, np.nan, p),
            c,
            "quad4",
            r"`points` holds non-finite coordinates at 1 node\(s\); first: node 6",
        ),
    }
    bad = c.copy()
    bad[2, 1] = 10
    bad[3, 0] = 11
    cases["out of range"] = (
        p,
        bad,
        "quad4",
        r"`cells`.*out of range \[0, 10\).* 2 cell\(s\); first: cell 2",
    )
    bad = c.copy()
    bad[1, 3] = -1
    cases["negative"] = (p, bad, "quad4", r"`cells` holds negative.* 1 cell\(s\); first: cell 1")
    bad = c.copy()
    bad[3, 2] = bad[3, 0]
    cases["repeated"] = (p, bad, "quad4", r"`cells` repeats a node.* 1 cell\(s\); first: cell 3")
    extra = np.concatenate([p, [[9.0, 9.0], [8.0, 8.0]]])
    cases["unused"] = (extra, c, "quad4", r"`points` has 2 unused node\(s\).*first: node 10")
    # Inverted quads: cells 1 and 3 ordered clockwise.
    bad = c.copy()
    bad[[1, 3]] = bad[[1, 3], ::-1]
    cases["inverted quad"] = (
        p,
        bad,
        "quad4",
        r"2 of 4 cell\(s\) are inverted.*`points`.*`cells`.*first: cell 1",
    )
    # Bow-tie: swap the top nodes of cell 2 (two corner triangles negative, area zero).
    bad = c.copy()
    bad[2, [2, 3]] = bad[2, [3, 2]]
    cases["bow-tie quad"] = (p, bad, "quad4", r"1 of 4 cell\(s\) are inverted.*first: cell 2")
    bad = ct.copy()
    bad[5] = bad[5, [0, 2, 1]]
    cases["inverted tri"] = (
        pt,
        bad,
        "tri3",
        r"1 of 8 cell\(s\) are inverted \(negative signed area.*first: cell 5",
    )
    # Degenerate triangle: three collinear points.
    line = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    cases["zero-area tri"] = (
        line,
        [[0, 1, 2]],
        "tri3",
        r"1 of 1 cell\(s\) are degenerate.*first: cell 0",
    )
    # Degenerate quad: corner 3 moved onto the diagonal 0-2 (a flat 180-degree corner).
    flat = SQUARE.copy()
    flat[3] = [0.5, 0.5]
    cases["degenerate quad"] = (flat, [[0, 1, 2, 3]], "quad4", r"degenerate.*first: cell 0")
    tiny = SQUARE * [1.0, 1e-14]
    cases["tiny quad"] = (tiny, [[0, 1, 2, 3]], "quad4", r"degenerate.*first: cell 0")
    cases["inverted tet"] = (
        TET,
        [[0, 2, 1, 3]],
        "tet4",
        r"1 of 1 cell\(s\) are inverted \(negative signed volume.*first: cell 0",
    )
    two = np.concatenate([CUBE, CUBE[4:] + np.array([[0.0, 0.0, 1.0]])])
    hexes = np.array([[0, 1, 2, 3, 4, 5, 6, 7], [4, 5, 6, 7, 8, 9, 10, 11]])
    hexes[1] = hexes[1, [4, 5, 6, 7, 0, 1, 2, 3]]  # top and bottom swapped: inverted
    cases["inverted hex"] = (two, hexes, "hex8", r"1 of 2 cell\(s\) are inverted.*first: cell 1")
    twisted = CUBE.copy()
    twisted[[6, 7]] = twisted[[7, 6]]  # top face a bow-tie
    cases["twisted hex"] = (twisted, [list(range(8))], "hex8", r"inverted.*first: cell 0")
    flat_tet = TET.copy()
    flat_tet[3] = [0.3, 0.3, 0.0]
    cases["flat tet"] = (flat_tet, [[0, 1, 2, 3]], "tet4", r"degenerate.*first: cell 0")
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_validation_errors(case):
    points, cells, cell_type, match = CASES[case]
    with pytest.raises(ValueError, match=match):
        Mesh(points, cells, cell_type)


def test_quadratic_cells_check_their_corners():
    mesh = rectangle_mesh(2, 1, cell_type="quad9")
    cells = np.array(mesh.cells)
    cells[1, :4] = cells[1, [0, 3, 2, 1]]
    with pytest.raises(ValueError, match=r"inverted.*first: cell 1"):
        Mesh(mesh.points, cells, "quad9")


def test_validate_false_skips_checks_but_not_shapes():
    p, c = strip(2)
    Mesh(p, c[:, ::-1], "quad4", validate=False)  # inverted, accepted
    with pytest.raises(ValueError, match="`cells` must have shape"):
        Mesh(p, c[:, :3], "quad4", validate=False)


def test_traced_points_skip_geometry_checks():
    p, c = strip(2)

    @jax.jit
    def build(points):
        return Mesh(points, c[:, ::-1], "quad4").points.sum()  # inverted, but traced

    assert float(build(jnp.asarray(p, dtype=jnp.float32))) == pytest.approx(p.sum())


def test_hash_and_equality():
    a = rectangle_mesh(3, 2)
    b = rectangle_mesh(3, 2)
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    moved = a.with_points(a.points + 1.0)
    assert moved != a
    assert rectangle_mesh(3, 2, cell_type="tri3") != a
    assert rectangle_mesh(2, 3) != a
    assert (a == "mesh") is False


def test_with_points_keeps_connectivity_and_checks_shape():
    mesh = box_mesh(2, 1, 1, cell_type="tet4")
    moved = mesh.with_points(2.0 * mesh.points)
    assert moved.cells is mesh.cells and moved.cell_type == "tet4"
    np.testing.assert_allclose(np.asarray(moved.points), 2.0 * np.asarray(mesh.points))
    with pytest.raises(ValueError, match=r"`new_points` must have shape \(12, 3\)"):
        mesh.with_points(mesh.points[:-1])
    with pytest.raises(ValueError, match="`new_points` must be a floating array"):
        mesh.with_points(jnp.zeros((12, 3), dtype=jnp.int32))
    # Inverted by a reflection: accepted by default, caught with validate=True.
    reflected = mesh.points * jnp.array([[-1.0, 1.0, 1.0]])
    mesh.with_points(reflected)
    with pytest.raises(ValueError, match=r"inverted.*`new_points`"):
        mesh.with_points(reflected, validate=True)


def test_jit_does_not_recompile_for_moved_points():
    mesh = rectangle_mesh(4, 3, cell_type="tri6")
    moved = mesh.with_points(mesh.points * 1.5)
    other = rectangle_mesh(4, 3, cell_type="tri6", diagonal="left")  # same shapes, new cells

    @eqx.filter_jit
    def total(m):
        return m.cell_points().sum()

    plain = jax.jit(lambda m: m.points.sum())
    with count_compiles() as compiles:
        first = total(mesh)
        plain(mesh)
    assert compiles.count >= 1
    with count_compiles() as compiles:
        second = total(moved)
        plain(moved)
    assert compiles.count == 0, compiles.names
    assert float(second) == pytest.approx(1.5 * float(first), rel=1e-6)
    with count_compiles() as compiles:  # other connectivity is other static data
        total(other)
    assert compiles.count == 1


def test_gradient_through_points():
    mesh = rectangle_mesh(2, 2, cell_type="quad4")

    def f(points):
        return mesh.with_points(points).cell_points().sum()

    grad = jax.grad(f)(mesh.points)
    valence = np.bincount(mesh.cells.ravel(), minlength=mesh.num_nodes)
    np.testing.assert_allclose(np.asarray(grad), np.repeat(valence[:, None], 2, axis=1))


def test_vmap_over_points():
    mesh = rectangle_mesh(2, 2, cell_type="tri3")
    stack = jnp.stack([mesh.points, 2.0 * mesh.points])
    sums = jax.vmap(lambda p: mesh.with_points(p).cell_points().sum())(stack)
    np.testing.assert_allclose(np.asarray(sums), [float(sums[0]), 2 * float(sums[0])], rtol=1e-6)


def test_points_dtype_follows_input_and_x64(x64):
    p, c = strip(2)
    assert Mesh(p, c, "quad4").points.dtype == jnp.float64
    assert Mesh(p.astype(np.float32), c, "quad4").points.dtype == jnp.float32
