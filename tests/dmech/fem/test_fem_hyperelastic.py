"""Finite-strain hyperelasticity: the analytic neo-Hookean uniaxial stretch, the autodiff tangent
against a finite-difference Jacobian, Newton's quadratic convergence and failure reports, learned
energies, transforms, and gradients through the converged state against central differences."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

from dmech.fem import (
    DirichletBC,
    FunctionSpace,
    Newton,
    isotropic_elasticity,
    isotropic_invariants,
    lame_parameters,
    neo_hookean,
    solve_hyperelasticity,
    solve_linear_elasticity,
)
from dmech.fem._nonlinear import _Mechanics
from dmech.geometry import box_mesh, rectangle_mesh, select_facets, select_nodes
from dmech.nn import MLP
from dmech.testing import assert_no_recompile, check_grad

TIGHT = Newton(rtol=1e-12)


def _space(mesh):
    mesh = mesh.with_points(jnp.asarray(mesh.points, jnp.float64))
    return FunctionSpace(mesh, components=mesh.dim)


def _roller_bc(space, stretch_dofs_value):
    """Symmetry rollers on the planes x_i = 0 and u_x = value on x = 1."""
    mesh = space.mesh
    dofs, values = [], []
    for axis in range(mesh.dim):
        nodes = select_nodes(mesh, lambda p, a=axis: np.isclose(p[:, a], 0.0))
        dofs.append(space.dofs(nodes, axis))
        values.append(np.zeros(len(nodes)))
    end = select_nodes(mesh, lambda p: np.isclose(p[:, 0], 1.0))
    dofs.append(space.dofs(end, 0))
    values.append(np.full(len(end), stretch_dofs_value))
    dofs, values = np.concatenate(dofs), np.concatenate(values)
    order = np.argsort(dofs)
    return DirichletBC(dofs[order], jnp.asarray(values[order])), end


@pytest.mark.parametrize(
    "cell_type, dim",
    [
        # default run: one simplex (3D) and one tensor-product (2D) element
        pytest.param("hex8", 3, id="hex8-3", marks=pytest.mark.slow),
        pytest.param("tet4", 3, id="tet4-3"),
        pytest.param("quad4", 2, id="quad4-2"),
        pytest.param("tri6", 2, id="tri6-2", marks=pytest.mark.slow),
    ],
)
def test_uniaxial_stretch_matches_analytic_neo_hookean(x64, cell_type, dim):
    """Rollers on three faces, a stretch λ on the fourth: the homogeneous state has lateral
    stretch λ₂ with P₂₂ = 0 (3D; plane strain fixes λ₃ = 1 in 2D) and P₁₁ from the closed form
    P = μ(F - F⁻ᵀ) + λ ln J F⁻ᵀ; the reaction on the stretched face is P₁₁ times its area."""
    mesh = box_mesh(2, 2, 2, cell_type=cell_type) if dim == 3 else None
    if dim == 2:
        mesh = rectangle_mesh(2, 3, cell_type=cell_type)
    space = _space(mesh)
    stretch = 1.6
    bc, end = _roller_bc(space, stretch - 1.0)
    params = lame_parameters(2.0, 0.3)
    result = solve_hyperelasticity(
        space, neo_hookean, params, dirichlet=bc, load_steps=3, newton=TIGHT
    )
    mu, lam = float(params["mu"]), float(params["lmbda"])
    lateral = dim - 1  # stretched equally in the 3D lateral directions; λ₃ = 1 in plane strain

    def p22(l2):
        j = stretch * l2**lateral
        return mu * (l2 - 1 / l2) + lam * np.log(j) / l2

    l2 = brentq(p22, 0.2, 1.0)
    p11 = mu * (stretch - 1 / stretch) + lam * np.log(stretch * l2**lateral) / stretch
    x = np.asarray(mesh.points)
    u = np.asarray(result.displacement)
    np.testing.assert_allclose(u[:, 0], (stretch - 1) * x[:, 0], atol=1e-12)
    for axis in range(1, dim):
        np.testing.assert_allclose(u[:, axis], (l2 - 1) * x[:, axis], rtol=1e-11, atol=1e-12)
    force = float(np.asarray(result.reactions[-1])[end, 0].sum())
    np.testing.assert_allclose(force, p11, rtol=1e-10)
    assert bool(jnp.all(result.converged))


def test_tangent_matches_finite_difference_jacobian(x64):
    space = _space(box_mesh(2, 1, 1, cell_type="hex8"))
    bc = DirichletBC(space.dofs(select_nodes(space.mesh, lambda p: p[:, 0] == 0)))
    mech = _Mechanics(
        space,
        neo_hookean,
        lame_parameters(1.0, 0.35),
        jnp.zeros(space.num_dofs),
        bc,
        "hyperelastic",
    )
    internal_force = jax.jit(lambda v: mech.internal_force(v, None))
    u = 0.1 * jax.random.normal(jax.random.key(1), (space.num_dofs,), jnp.float64)
    force, tangent = eqx.filter_jit(mech.force_and_tangent)(u, None)
    np.testing.assert_allclose(force, internal_force(u), rtol=1e-13, atol=1e-14)
    h = 1e-5
    directions = jnp.eye(space.num_dofs)  # every column of the Jacobian
    for v in directions:
        fd = (internal_force(u + h * v) - internal_force(u - h * v)) / (2 * h)
        np.testing.assert_allclose(tangent @ v, fd, rtol=1e-7, atol=1e-8)
    assert np.allclose(tangent.todense(), tangent.todense().T, atol=1e-12)  # ∂²ψ/∂F² symmetric


def _cantilever(n=4, cell_type="quad4"):
    """A 4:1 plane-strain cantilever clamped at x = 0 with a shear traction at x = 4."""
    mesh = rectangle_mesh(4 * n, n, cell_type=cell_type, upper=(4.0, 1.0))
    space = _space(mesh)
    clamp = DirichletBC(space.dofs(select_nodes(mesh, lambda p: np.isclose(p[:, 0], 0.0))))
    end = select_facets(mesh, lambda p: np.isclose(p[:, 0], 4.0))
    return space, clamp, end


def test_small_load_matches_linear_elasticity(x64):
    """At a tiny load the neo-Hookean solution is the plane-strain linear one to O(load²)."""
    space, clamp, end = _cantilever()
    e, nu, load = 10.0, 0.3, 1e-6
    traction = jnp.array([0.0, -load])
    nonlinear = solve_hyperelasticity(
        space,
        neo_hookean,
        lame_parameters(e, nu),
        dirichlet=clamp,
        traction_facets=end,
        traction=traction,
    )  # default tolerances: at strains ~1e-7, F = I + ∇u holds ∇u to ~1e-9 relative
    linear = solve_linear_elasticity(
        space,
        isotropic_elasticity(e, nu, dim=2, plane="strain"),
        dirichlet=clamp,
        traction_facets=end,
        traction=traction,
    )
    scale = float(jnp.max(jnp.abs(linear.displacement)))
    np.testing.assert_allclose(nonlinear.displacement, linear.displacement, atol=1e-4 * scale)


def test_newton_converges_quadratically_and_large_deflection_differs_from_linear(x64):
    space, clamp, end = _cantilever()
    traction = jnp.array([0.0, -0.05])
    params = lame_parameters(10.0, 0.3)
    result = solve_hyperelasticity(
        space,
        neo_hookean,
        params,
        dirichlet=clamp,
        traction_facets=end,
        traction=traction,
        load_steps=4,
        newton=TIGHT,
    )
    assert bool(jnp.all(result.converged))
    assert int(jnp.max(result.iterations)) <= 6  # quadratic: few iterations per step
    tip = float(jnp.min(result.displacement[:, 1]))
    linear = solve_linear_elasticity(
        space,
        isotropic_elasticity(10.0, 0.3, dim=2, plane="strain"),
        dirichlet=clamp,
        traction_facets=end,
        traction=traction,
    )
    linear_tip = float(jnp.min(linear.displacement[:, 1]))
    # A dead transverse load on a large deflection: geometric stiffening shortens the lever.
    assert abs(tip) < 0.97 * abs(linear_tip)
    # Reactions balance the applied load in every step.
    total = float(jnp.sum(result.reactions[-1][:, 1]))
    np.testing.assert_allclose(total, 0.05 * 1.0, rtol=1e-9)  # = -∫ t_y ds


def test_non_convergence_is_reported(x64):
    space, clamp, end = _cantilever(n=2)
    kwargs = dict(dirichlet=clamp, traction_facets=end, traction=jnp.array([0.0, -0.3]))
    params = lame_parameters(10.0, 0.3)
    with pytest.raises(Exception, match="Newton did not converge at load step 1 of 2"):
        solve_hyperelasticity(
            space, neo_hookean, params, newton=Newton(max_steps=1), load_steps=2, **kwargs
        )
    result = solve_hyperelasticity(
        space, neo_hookean, params, newton=Newton(max_steps=1), load_steps=2, throw=False, **kwargs
    )
    assert not bool(jnp.any(result.converged))
    # under jit a caller reading only the reactions (the displacements dead code) is told too
    reactions = jax.jit(
        lambda p: (
            solve_hyperelasticity(
                space, neo_hookean, p, newton=Newton(max_steps=1), load_steps=2, **kwargs
            ).reactions
        )
    )
    with pytest.raises(Exception, match="Newton did not converge at load step 1 of 2"):
        reactions(params)


def test_bad_input_raises_before_compiling(x64):
    space, clamp, _ = _cantilever(n=2)
    params = lame_parameters(1.0, 0.3)
    with pytest.raises(ValueError, match="energy must return a scalar"):
        solve_hyperelasticity(space, lambda f, p: f, params, dirichlet=clamp)
    with pytest.raises(ValueError, match="energy"):
        solve_hyperelasticity(space, neo_hookean, {"mu": 1.0}, dirichlet=clamp)
    with pytest.raises(ValueError, match="load_steps"):
        solve_hyperelasticity(space, neo_hookean, params, dirichlet=clamp, load_steps=0)
    with pytest.raises(ValueError, match="components"):
        solve_hyperelasticity(FunctionSpace(space.mesh), neo_hookean, params, dirichlet=clamp)
    with pytest.raises(ValueError, match="poissons_ratio"):
        lame_parameters(1.0, 0.5)
    with pytest.raises(TypeError, match="dirichlet"):
        solve_hyperelasticity(space, neo_hookean, params, dirichlet=np.arange(3))


class _LearnedEnergy(eqx.Module):
    """Neo-Hookean plus a small network of the invariants (a learned correction)."""

    network: MLP

    def __call__(self, f, params):
        i1, i2, j = isotropic_invariants(f)
        features = jnp.stack([i1 - 3.0, i2 - 3.0, j - 1.0])
        correction = self.network(features)[0] - self.network(jnp.zeros(3, f.dtype))[0]
        return neo_hookean(f, params) + 0.01 * correction * (i1 - 3.0)


def _learned_energy():
    network = MLP(3, 1, 8, 2, activation="tanh", dtype=jnp.float64, key=jax.random.key(0))
    return _LearnedEnergy(network)


def _tip(space, energy, params, clamp, end, traction, load_steps=2):
    result = solve_hyperelasticity(
        space,
        energy,
        params,
        dirichlet=clamp,
        traction_facets=end,
        traction=traction,
        load_steps=load_steps,
        newton=TIGHT,
    )
    return result.displacement[-1]


def test_learned_energy_solves_and_its_weights_have_implicit_gradients(x64):
    space, clamp, end = _cantilever(n=2)
    params = lame_parameters(10.0, 0.3)
    traction = jnp.array([0.0, -0.02])
    energy = _learned_energy()
    plain = _tip(space, neo_hookean, params, clamp, end, traction)
    learned = _tip(space, energy, params, clamp, end, traction)
    assert float(jnp.max(jnp.abs(learned - plain))) > 0
    check_grad(
        lambda e: _tip(space, e, params, clamp, end, traction),
        energy,
        mode="reverse",
        num_directions=2,
        rtol=1e-6,
    )


def test_gradients_match_central_differences(x64):
    """Gradients of the tip displacement and of the work of the loads with respect to per-cell
    moduli, the traction and the prescribed values (implicit function theorem, float64)."""
    space, clamp, end = _cantilever(n=2)
    cells = space.mesh.num_cells
    e = jnp.linspace(8.0, 12.0, cells)
    traction = jnp.array([0.01, -0.03])

    def tip(e, traction):
        return _tip(space, neo_hookean, lame_parameters(e, 0.3), clamp, end, traction)

    check_grad(tip, e, traction, argnums=(0, 1), mode="reverse", num_directions=2, rtol=1e-6)

    # prescribed displacements: pull the clamped edge sideways
    moved = DirichletBC(clamp.dofs, jnp.where(clamp.dofs % 2 == 0, 0.02, 0.0))

    def work(values):
        bc = DirichletBC(clamp.dofs, values)
        result = solve_hyperelasticity(
            space,
            neo_hookean,
            lame_parameters(10.0, 0.3),
            dirichlet=bc,
            traction_facets=end,
            traction=traction,
            load_steps=2,
            newton=TIGHT,
        )
        return jnp.sum(result.reactions[-1] ** 2)

    check_grad(work, moved.values, mode="reverse", num_directions=2, rtol=1e-6)


def test_vmap_and_no_recompile(x64):
    space, clamp, end = _cantilever(n=2)
    traction = jnp.array([0.0, -0.02])

    @eqx.filter_jit
    def tip(youngs):
        return _tip(space, neo_hookean, lame_parameters(youngs, 0.3), clamp, end, traction)

    batch = jnp.array([8.0, 12.0])
    batched = jax.vmap(tip)(batch)
    for i in range(2):
        np.testing.assert_allclose(batched[i], tip(batch[i]), rtol=1e-10)
    assert_no_recompile(tip, (jnp.asarray(9.0),), (jnp.asarray(11.0),))
