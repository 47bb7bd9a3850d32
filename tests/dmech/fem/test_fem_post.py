"""Post-processing: exact strains and stresses of a homogeneous state, von Mises, nodal
projection, and reactions that balance the applied load."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.fem import (
    DirichletBC,
    FunctionSpace,
    flux,
    isotropic_elasticity,
    project_to_nodes,
    reaction_forces,
    solve_linear_elasticity,
    strain,
    strain_energy,
    stress,
    von_mises,
)
from dmech.geometry import box_mesh, rectangle_mesh, select_facets, select_nodes
from dmech.testing import check_grad


@pytest.mark.parametrize("cell_type", ["quad4", "tri6", "hex8", "tet10"])
def test_homogeneous_strain_and_stress_are_exact(x64, cell_type):
    mesh = (
        rectangle_mesh(3, 2, cell_type=cell_type)
        if cell_type in ("quad4", "tri6")
        else box_mesh(2, 2, 2, cell_type=cell_type)
    )
    dim = mesh.dim
    space = FunctionSpace(mesh, components=dim)
    grad = np.arange(1.0, 1.0 + dim * dim).reshape(dim, dim) * 1e-3
    u = jnp.asarray(np.asarray(mesh.points) @ grad.T)
    sym = 0.5 * (grad + grad.T)
    if dim == 2:
        expected = np.array([sym[0, 0], sym[1, 1], 2 * sym[0, 1]])
        c = isotropic_elasticity(10.0, 0.25, dim=2, plane="stress")
    else:
        expected = np.array(
            [sym[0, 0], sym[1, 1], sym[2, 2], 2 * sym[1, 2], 2 * sym[0, 2], 2 * sym[0, 1]]
        )
        c = isotropic_elasticity(10.0, 0.25, dim=3)
    eps = strain(space, u)
    np.testing.assert_allclose(eps, np.broadcast_to(expected, eps.shape), atol=1e-14)
    np.testing.assert_allclose(
        stress(space, u, c), np.broadcast_to(np.asarray(c) @ expected, eps.shape), atol=1e-13
    )


def test_von_mises_of_simple_states(x64):
    assert float(von_mises(jnp.array([3.0, 0.0, 0.0]))) == pytest.approx(3.0)  # uniaxial
    assert float(von_mises(jnp.array([0.0, 0.0, 2.0]))) == pytest.approx(2 * np.sqrt(3))  # shear
    hydro = jnp.array([5.0, 5.0, 5.0, 0.0, 0.0, 0.0])
    assert float(von_mises(hydro)) == pytest.approx(0.0, abs=1e-12)
    assert float(von_mises(jnp.array([5.0, 5.0, 0.0]), out_of_plane=5.0)) == pytest.approx(0.0)


def test_von_mises_gradient_is_finite_at_a_stress_free_point(x64):
    # Stress-free (void) regions: zero gradient instead of NaN; elsewhere the usual gradient.
    np.testing.assert_array_equal(jax.grad(von_mises)(jnp.zeros(6)), np.zeros(6))
    np.testing.assert_array_equal(jax.grad(von_mises)(jnp.array([2.0, 2.0, 2, 0, 0, 0])), 0.0)
    check_grad(von_mises, jnp.array([3.0, -1.0, 0.5, 0.2, -0.4, 1.1]))


def test_projection_is_exact_for_constants_and_linear_fields_at_nodes(x64):
    mesh = rectangle_mesh(4, 3, cell_type="quad4")
    space = FunctionSpace(mesh)
    const = jnp.full((mesh.num_cells, space.num_quadrature_points, 2), 7.0)
    np.testing.assert_allclose(project_to_nodes(space, const), 7.0, rtol=1e-13)
    linear = space.quadrature_points()[..., 0]  # x at the quadrature points
    nodal = project_to_nodes(space, linear)
    interior = (np.asarray(mesh.points)[:, 0] > 0) & (np.asarray(mesh.points)[:, 0] < 1)
    np.testing.assert_allclose(nodal[interior], np.asarray(mesh.points)[interior, 0], atol=1e-12)


def test_reactions_balance_the_applied_load(x64):
    mesh = rectangle_mesh(8, 4, cell_type="quad8", upper=(2.0, 1.0))
    space = FunctionSpace(mesh, components=2)
    clamp = select_nodes(mesh, lambda x: np.isclose(x[:, 0], 0.0))
    end = select_facets(mesh, lambda x: np.isclose(x[:, 0], 2.0))
    traction = jnp.array([0.3, -1.0])
    result = solve_linear_elasticity(
        space,
        isotropic_elasticity(100.0, 0.3, dim=2, plane="strain"),
        dirichlet=DirichletBC(space.dofs(clamp)),
        traction_facets=end,
        traction=traction,
    )
    r = reaction_forces(result.matrix, result.displacement, result.load)
    free = np.setdiff1d(np.arange(mesh.num_nodes), clamp)
    np.testing.assert_allclose(r[free], 0.0, atol=1e-11)  # equilibrium away from the supports
    np.testing.assert_allclose(r[clamp].sum(0), -traction * 1.0, rtol=1e-10)  # edge length 1


def test_flux_of_a_linear_temperature_is_exact(x64):
    mesh = rectangle_mesh(3, 2, cell_type="tri6")
    mesh = mesh.with_points(jnp.asarray(mesh.points, jnp.float64))
    space = FunctionSpace(mesh)
    x = np.asarray(mesh.points)
    temperature = jnp.asarray(2.0 * x[:, 0] - 3.0 * x[:, 1])
    expected = jnp.broadcast_to(
        jnp.array([-8.0, 12.0]), (mesh.num_cells, space.num_quadrature_points, 2)
    )
    np.testing.assert_allclose(flux(space, temperature, 4.0), expected, rtol=1e-12)
    kappa = jnp.array([[2.0, 1.0], [1.0, 3.0]])
    expected = -(kappa @ jnp.array([2.0, -3.0]))
    np.testing.assert_allclose(flux(space, temperature, kappa)[0, 0], expected, rtol=1e-12)
    with pytest.raises(ValueError, match="scalar space"):
        flux(FunctionSpace(mesh, components=2), temperature)


def test_strain_energy_is_half_the_compliance(x64):
    mesh = rectangle_mesh(8, 2, cell_type="quad8", upper=(4.0, 1.0))
    mesh = mesh.with_points(jnp.asarray(mesh.points, jnp.float64))
    space = FunctionSpace(mesh, components=2)
    c = isotropic_elasticity(1.0, 0.3, dim=2, plane="stress")
    clamp = DirichletBC(space.dofs(select_nodes(mesh, lambda p: np.isclose(p[:, 0], 0.0))))
    end = select_facets(mesh, lambda p: np.isclose(p[:, 0], 4.0))
    result = solve_linear_elasticity(
        space, c, dirichlet=clamp, traction_facets=end, traction=jnp.array([0.0, -1e-3])
    )
    energy = strain_energy(space, result.displacement, c)
    np.testing.assert_allclose(2 * energy, result.compliance(), rtol=1e-10)
