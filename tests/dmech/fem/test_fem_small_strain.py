"""Small-strain history-dependent FE solves: one element under uniaxial loading and unloading
against the closed-form J2 response, the linear-elastic law against the linear solver, learned
laws with training-range reports, and gradients through a plastic load path."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.fem import (
    DirichletBC,
    FunctionSpace,
    LearnedLaw,
    Newton,
    isotropic_elasticity,
    j2_initial_state,
    j2_plasticity,
    linear_elastic,
    solve_linear_elasticity,
    solve_small_strain,
)
from dmech.geometry import box_mesh, rectangle_mesh, select_facets, select_nodes
from dmech.testing import check_grad

TIGHT = Newton(rtol=1e-12)
E, NU, SIGMA_Y = 200e3, 0.3, 250.0


def _params(h_iso, h_kin):
    return {
        "youngs_modulus": E,
        "poissons_ratio": NU,
        "yield_stress": SIGMA_Y,
        "isotropic_hardening": h_iso,
        "kinematic_hardening": h_kin,
    }


def _unit_cube(cell_type, n=1):
    mesh = box_mesh(n, n, n, cell_type=cell_type)
    mesh = mesh.with_points(jnp.asarray(mesh.points, jnp.float64))
    space = FunctionSpace(mesh, components=3)
    dofs, values = [], []
    for axis in range(3):  # symmetry rollers on the three planes through the origin
        nodes = select_nodes(mesh, lambda p, a=axis: np.isclose(p[:, a], 0.0))
        dofs.append(space.dofs(nodes, axis))
        values.append(np.zeros(len(nodes)))
    end = select_nodes(mesh, lambda p: np.isclose(p[:, 0], 1.0))
    dofs.append(space.dofs(end, 0))
    values.append(np.ones(len(end)))
    dofs, values = np.concatenate(dofs), np.concatenate(values)
    order = np.argsort(dofs)
    return space, DirichletBC(dofs[order], jnp.asarray(values[order])), end


@pytest.mark.parametrize(
    "h_iso, h_kin",
    [
        # mixed hardening exercises both hardening laws at once (default run); the pure
        # cases are its special cases
        pytest.param(10e3, 0.0, id="isotropic", marks=pytest.mark.slow),
        pytest.param(0.0, 10e3, id="kinematic", marks=pytest.mark.slow),
        pytest.param(5e3, 8e3, id="mixed"),
    ],
)
def test_one_element_uniaxial_loading_and_unloading_matches_analytic_j2(
    x64, uniaxial_j2, h_iso, h_kin
):
    """One hex8 on rollers, the end face pulled to 3ε_y, pushed to -3ε_y and released: the
    reaction is σ_xx(ε_xx) of the 1D J2 model (Bauschinger effect with kinematic hardening)."""
    space, bc, end = _unit_cube("hex8")
    eps_y = SIGMA_Y / E
    path = np.concatenate(
        [np.linspace(0, 3, 7)[1:], np.linspace(3, -3, 13)[1:], np.linspace(-3, 0, 7)[1:]]
    )
    strains = eps_y * path
    result = solve_small_strain(
        space,
        j2_plasticity,
        _params(h_iso, h_kin),
        j2_initial_state(dtype=jnp.float64),
        dirichlet=bc,
        load_steps=strains,
        newton=TIGHT,
    )
    assert bool(jnp.all(result.converged))
    force = np.asarray(result.reactions)[:, end, 0].sum(axis=1)
    expected = uniaxial_j2(strains, E, SIGMA_Y, h_iso, h_kin)
    np.testing.assert_allclose(force, expected, rtol=1e-9, atol=1e-9 * SIGMA_Y)
    # lateral contraction: elastic ν plus plastic incompressibility
    corner = int(np.argmax(np.asarray(space.mesh.points).sum(axis=1)))  # the node (1, 1, 1)
    lateral = np.asarray(result.displacements)[:, corner, 1]
    plastic = strains - expected / E
    np.testing.assert_allclose(lateral, -NU * expected / E - 0.5 * plastic, atol=1e-12)
    # history at every quadrature point: the uniform plastic strain of the 1D model
    eps_p = np.asarray(result.state["plastic_strain"])[..., 0]
    np.testing.assert_allclose(eps_p, plastic[-1], atol=1e-12)


def test_linear_elastic_law_matches_linear_solver(x64):
    mesh = rectangle_mesh(6, 3, cell_type="quad8", upper=(2.0, 1.0))
    mesh = mesh.with_points(jnp.asarray(mesh.points, jnp.float64))
    space = FunctionSpace(mesh, components=2)
    clamp = DirichletBC(space.dofs(select_nodes(mesh, lambda p: np.isclose(p[:, 0], 0.0))))
    end = select_facets(mesh, lambda p: np.isclose(p[:, 0], 2.0))
    traction = jnp.array([10.0, -30.0])
    params = {"youngs_modulus": E, "poissons_ratio": NU}
    nonlinear = solve_small_strain(
        space,
        linear_elastic,
        params,
        (),
        dirichlet=clamp,
        traction_facets=end,
        traction=traction,
        newton=TIGHT,
    )
    linear = solve_linear_elasticity(
        space,
        isotropic_elasticity(E, NU, dim=2, plane="strain"),
        dirichlet=clamp,
        traction_facets=end,
        traction=traction,
    )
    np.testing.assert_allclose(nonlinear.displacement, linear.displacement, rtol=1e-10, atol=1e-16)
    assert int(nonlinear.iterations[0]) == 1  # linear: one Newton step


class _Recurrent(eqx.Module):
    """A stand-in for a learned history-dependent law: linear elasticity plus a tiny learned
    correction that also updates a hidden state (what a recurrent network trained on RVE data
    looks like to the FE solve)."""

    weight: jax.Array

    def __call__(self, strain, state, params):
        stress, _ = linear_elastic(strain, (), params)
        hidden = jnp.tanh(state + self.weight @ strain)
        return stress + 10.0 * hidden, hidden


def test_learned_law_runs_and_leaving_its_training_range_is_reported(x64):
    space, bc, _ = _unit_cube("hex8")
    law = LearnedLaw(
        _Recurrent(jnp.full((6, 6), 1e-3, jnp.float64)),
        strain_lower=-1e-3 * jnp.ones(6, jnp.float64),
        strain_upper=1e-3 * jnp.ones(6, jnp.float64),
    )
    params = {"youngs_modulus": E, "poissons_ratio": NU}
    state = jnp.zeros(6, jnp.float64)
    kwargs = dict(newton=TIGHT, load_steps=jnp.array([2e-4, 5e-4, 2e-3]))
    with pytest.raises(Exception, match="outside its training range"):
        solve_small_strain(space, law, params, state, dirichlet=bc, **kwargs)
    result = solve_small_strain(
        space, law, params, state, dirichlet=bc, check_range=False, **kwargs
    )
    assert result.out_of_range.tolist()[:2] == [0, 0]
    assert int(result.out_of_range[2]) == space.mesh.num_cells * space.num_quadrature_points
    assert bool(jnp.all(result.converged))


def test_bad_law_raises_before_compiling(x64):
    space, bc, _ = _unit_cube("hex8")
    with pytest.raises(ValueError, match=r"\(6,\) Voigt stress"):
        solve_small_strain(space, lambda e, s, p: (e[:3], s), {}, (), dirichlet=bc)
    with pytest.raises(ValueError, match="structure of state"):
        solve_small_strain(space, lambda e, s, p: (e, ()), {}, jnp.zeros(2), dirichlet=bc)
    with pytest.raises(ValueError, match="law"):
        solve_small_strain(
            space, j2_plasticity, {"youngs_modulus": E}, j2_initial_state(), dirichlet=bc
        )


def test_gradients_through_a_plastic_load_path(x64):
    """The final reaction depends on the per-cell yield stress and hardening through every
    step's converged state and history (implicit function theorem per step), checked against
    central differences."""
    space, bc, end = _unit_cube("hex8", n=2)
    cells = space.mesh.num_cells
    eps_y = SIGMA_Y / E
    factors = eps_y * jnp.array([1.5, 3.0, 1.0])

    def reaction(yield_stress, h_iso):
        params = _params(h_iso, 3e3) | {"yield_stress": yield_stress}
        result = solve_small_strain(
            space,
            j2_plasticity,
            params,
            j2_initial_state(dtype=jnp.float64),
            dirichlet=bc,
            load_steps=factors,
            # the unloading step re-yields cells 0 and 1 in compression: at some of the
            # perturbed inputs Newton switches a Gauss point between elastic and plastic for
            # ~20 iterations before converging (seen with XLA's -O0 round-off)
            newton=Newton(rtol=1e-12, max_steps=60),
        )
        return jnp.sum(result.reactions[:, end, 0], axis=1)

    yield_stress = SIGMA_Y * jnp.linspace(0.9, 1.1, cells)
    check_grad(
        reaction,
        yield_stress,
        jnp.asarray(5e3),
        argnums=(0, 1),
        mode="reverse",
        num_directions=2,
        rtol=1e-6,
        eps=1e-3,
    )
