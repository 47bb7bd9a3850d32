"""The 3D cantilever against the NumPy/SciPy top3d peer (Liu and Tovar 2014)."""

import jax.numpy as jnp
import numpy as np
import pytest

from dmech.fem import (
    PCG,
    FunctionSpace,
    SparseLU,
    apply_dirichlet,
    elasticity_matrix,
    isotropic_elasticity,
    pcg,
)
from dmech.geometry import box_mesh
from dmech.topopt import DensityFilter, Parametrisation, cantilever, optimise, simp
from dmech.topopt._top3d import DMECH_COMPONENT, LOCAL_NODES, element_stiffness, top3d


def _grid_array(problem, physical):
    """dmech's cell values as an array ``[x, y, z]`` of grid positions (the peer's order)."""
    centroids = np.asarray(problem.mesh.points)[np.asarray(problem.mesh.cells)].mean(axis=1)
    index = np.floor(centroids).astype(int)
    out = np.full(tuple(index.max(axis=0) + 1), np.nan)
    out[index[:, 0], index[:, 1], index[:, 2]] = physical
    return out


def test_hex8_stiffness_equals_dmechs_unit_cell(x64):
    mesh = box_mesh(1, 1, 1, cell_type="hex8", upper=(1.0, 1.0, 1.0))
    mesh = mesh.with_points(jnp.asarray(mesh.points, jnp.float64))
    space = FunctionSpace(mesh, components=3)
    k = np.asarray(elasticity_matrix(space, isotropic_elasticity(1.0, 0.3, dim=3)).todense())
    # top3d's local node at (X, Y, Z) in its frame is dmech's point (X, Z, Y)
    points = np.asarray(mesh.points)
    nodes = [int(np.flatnonzero((points == p[[0, 2, 1]]).all(axis=1))[0]) for p in LOCAL_NODES]
    dofs = np.array([space.dofs(np.array([n]), int(c))[0] for n in nodes for c in DMECH_COMPONENT])
    ke = element_stiffness(0.3)
    np.testing.assert_allclose(ke, k[np.ix_(dofs, dofs)], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ke, ke.T)
    # rigid translations and rotations are in its null space
    assert np.linalg.matrix_rank(ke, tol=1e-10) == 24 - 6


@pytest.mark.parametrize(("filter_kind", "ft"), [("density", 2), ("sensitivity", 1)])
def test_cantilever_matches_top3d(x64, filter_kind, ft):
    problem = cantilever(8, 4, 3, solver=SparseLU(), dtype=jnp.float64)
    result = optimise(
        problem,
        jnp.full(problem.mesh.num_cells, 0.3),
        volume_fraction=0.3,
        parametrisation=Parametrisation(DensityFilter(problem.mesh, 1.5), filter_kind),
        max_iterations=200,
    )
    peer = top3d(8, 4, 3, 0.3, 3.0, 1.5, ft, max_iterations=200)
    assert result.converged
    assert result.iterations == len(peer.compliances) < 200
    np.testing.assert_allclose(result.objective, peer.compliances, rtol=1e-7)
    np.testing.assert_allclose(
        _grid_array(problem, np.asarray(result.physical)), peer.physical, rtol=0, atol=1e-6
    )
    assert peer.physical.mean() == pytest.approx(0.3, abs=1e-3)
    assert peer.seconds.shape == peer.compliances.shape and peer.cg_steps.size == 0


def test_top3d_cg_agrees_with_direct_and_with_dmechs_pcg(x64):
    direct = top3d(6, 3, 3, 0.3, 3.0, 1.5, 2, max_iterations=200)
    cg = top3d(6, 3, 3, 0.3, 3.0, 1.5, 2, max_iterations=200, solver="cg", rtol=1e-10)
    assert len(cg.compliances) == len(direct.compliances)
    np.testing.assert_allclose(cg.compliances, direct.compliances, rtol=1e-8)
    np.testing.assert_allclose(cg.physical, direct.physical, rtol=0, atol=1e-6)
    assert cg.cg_steps.shape == cg.compliances.shape and np.all(cg.cg_steps > 0)
    # its first solve (uniform design) takes as many steps as dmech's PCG with the same rtol:
    # the same Jacobi PCG and stopping rule (dmech's fixed dofs keep a zero residual)
    problem = cantilever(6, 3, 3, dtype=jnp.float64)
    young = simp(jnp.full(problem.mesh.num_cells, 0.3))
    matrix = elasticity_matrix(problem.space, isotropic_elasticity(young, 0.3, dim=3))
    lifted, rhs = apply_dirichlet(matrix, problem.loads[0], problem.dirichlet)
    _, info = pcg(lifted, rhs, PCG(rtol=1e-10))
    assert bool(info.converged)
    assert abs(int(info.steps) - int(cg.cg_steps[0])) <= 1
