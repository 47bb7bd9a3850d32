"""Interpolations, projection and filters: closed forms, gradients, unstructured meshes."""

import jax.numpy as jnp
import numpy as np
import pytest

from dmech.geometry import rectangle_mesh
from dmech.testing import check_grad
from dmech.topopt import DensityFilter, heaviside_projection, mbb_beam, ramp, simp


def test_interpolations_and_projection_closed_forms(x64):
    rho = jnp.array([0.0, 0.25, 0.5, 1.0])
    np.testing.assert_allclose(simp(rho), 1e-9 + rho**3 * (1 - 1e-9), rtol=1e-15)
    np.testing.assert_allclose(np.asarray(ramp(rho, q=8.0))[[0, 3]], [1e-9, 1.0], rtol=1e-12)
    assert float(ramp(jnp.array(0.5), q=8.0, minimum=0.0)) == pytest.approx(0.5 / 5.0)
    # projection: fixed points 0, eta, 1; close to a step at large beta
    np.testing.assert_allclose(heaviside_projection(jnp.array([0.0, 0.5, 1.0]), 8.0), [0, 0.5, 1])
    steep = heaviside_projection(jnp.array([0.3, 0.7]), 256.0)
    np.testing.assert_allclose(steep, [0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(heaviside_projection(rho, 1e-6), rho, atol=1e-6)


def test_parametrisation_gradients_match_finite_differences(x64):
    rho = jnp.array([0.1, 0.35, 0.6, 0.9])
    check_grad(lambda r: jnp.sum(simp(r) ** 2), rho)
    check_grad(lambda r: jnp.sum(jnp.sin(ramp(r, q=3.0))), rho)
    check_grad(lambda r, b: jnp.sum(heaviside_projection(r, b) ** 2), rho, jnp.array(4.0))


def test_filter_matches_the_dense_formula_on_a_graded_unstructured_mesh(x64):
    # A triangle mesh with graded cells: weights H_ij v_j with the cells' own areas.
    mesh = rectangle_mesh(8, 5, cell_type="tri3", upper=(2.0, 1.0))
    pts = np.asarray(mesh.points)
    mesh = mesh.with_points(jnp.asarray(np.stack([pts[:, 0] ** 1.5, pts[:, 1]], axis=1)))
    corners = np.asarray(mesh.points)[np.asarray(mesh.cells)]
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    areas = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    filt = DensityFilter(mesh, 0.4, cell_volumes=areas)
    centroids = corners.mean(axis=1)
    dist = np.linalg.norm(centroids[:, None] - centroids[None], axis=2)
    h = np.maximum(0.0, 0.4 - dist) * areas[None, :]
    x = np.random.default_rng(0).random(mesh.num_cells)
    np.testing.assert_allclose(filt(jnp.asarray(x)), h @ x / h.sum(axis=1), rtol=1e-13)
    g = np.random.default_rng(1).normal(size=mesh.num_cells)
    expected = h @ (x * g) / h.sum(axis=1) / np.maximum(1e-3, x)
    np.testing.assert_allclose(filt.sensitivity(jnp.asarray(x), jnp.asarray(g)), expected)
    check_grad(lambda r: jnp.sum(filt(r) ** 3), jnp.asarray(x))
    with pytest.raises(ValueError, match="radius"):
        DensityFilter(mesh, 0.0)
    with pytest.raises(ValueError, match="cell_volumes"):
        DensityFilter(mesh, 0.4, cell_volumes=np.ones(3))


def test_compliance_gradient_matches_finite_differences(x64):
    problem = mbb_beam(6, 3, dtype=jnp.float64)
    rho = jnp.asarray(np.random.default_rng(2).uniform(0.3, 1.0, problem.mesh.num_cells))
    check_grad(problem, rho, mode="reverse")


def test_bad_problem_and_driver_arguments_raise_naming_them(x64):
    from dmech.topopt import ComplianceProblem, Parametrisation, optimise

    problem = mbb_beam(4, 2, dtype=jnp.float64)
    with pytest.raises(ValueError, match="loads"):
        ComplianceProblem(problem.space, problem.dirichlet, jnp.zeros((1, 3)), 0.3)
    x0 = jnp.full(problem.mesh.num_cells, 0.5)
    with pytest.raises(ValueError, match="filter_kind"):
        Parametrisation(filter_kind="gaussian")
    with pytest.raises(ValueError, match="eta"):
        Parametrisation(eta=1.5)
    with pytest.raises(ValueError, match="solid"):
        Parametrisation(solid=np.zeros(8))
    with pytest.raises(ValueError, match="both"):
        Parametrisation(solid=np.ones(8, bool), void=np.ones(8, bool))
    with pytest.raises(ValueError, match="void"):
        optimise(problem, x0, volume_fraction=0.5, parametrisation=Parametrisation(
            void=np.zeros(5, bool)))  # fmt: skip
    with pytest.raises(ValueError, match="volume_fraction"):
        optimise(problem, x0, volume_fraction=1.5)
    with pytest.raises(ValueError, match="design"):
        optimise(problem, x0.reshape(2, -1), volume_fraction=0.5)
    with pytest.raises(ValueError, match="method"):
        optimise(problem, x0, volume_fraction=0.5, method="sqp")
    with pytest.raises(ValueError, match="constraints"):
        optimise(problem, x0, volume_fraction=0.5, constraints=lambda r: r[:1])
    with pytest.raises(ValueError, match="betas"):
        optimise(problem, x0, volume_fraction=0.5, betas=(1.0, -2.0))
    with pytest.raises(ValueError, match="max_iterations"):
        optimise(problem, x0, volume_fraction=0.5, max_iterations=0)


def test_compliance_is_self_adjoint_in_its_gradients(x64):
    # c = fᵀK⁻¹f: dc/df = 2u and dc/dρ = -uᵀ(∂K/∂ρ)u, from one solve (no adjoint solve)
    import equinox as eqx
    import jax

    from dmech.fem import DirichletBC
    from dmech.topopt import ComplianceProblem

    problem = mbb_beam(6, 3, dtype=jnp.float64)
    rho = jnp.asarray(np.random.default_rng(4).uniform(0.3, 1.0, problem.mesh.num_cells))
    loads = jnp.asarray(np.random.default_rng(5).normal(size=problem.loads.shape))
    fixed = np.isin(np.arange(problem.space.num_dofs), problem.dirichlet.dofs)
    loads = jnp.where(fixed, 0.0, loads)

    def compliance(f):
        return eqx.tree_at(lambda p: p.loads, problem, f)(rho)

    u = eqx.tree_at(lambda p: p.loads, problem, loads).displacements(rho)
    np.testing.assert_allclose(jax.grad(compliance)(loads), 2 * u, rtol=1e-10, atol=1e-12)
    assert float(compliance(loads)) == pytest.approx(float(jnp.sum(loads * u)), rel=1e-12)
    with pytest.raises(ValueError, match="dirichlet"):
        ComplianceProblem(
            problem.space, DirichletBC(problem.dirichlet.dofs, 0.1), problem.loads, 0.3
        )
