"""J2 plasticity on a perforated plate: dmech's load path against an independent scikit-fem
solve of the same discrete problem, and gradients through the whole load path (float64).

The problem: a plane-strain quarter plate ``[0, W]²`` minus the hole of radius ``R`` (tri3,
meshed by gmsh), symmetry rollers on ``x = 0`` (``u_x = 0``) and ``y = 0`` (``u_y = 0``) and
the top edge pulled by a prescribed ``u_y = λ δ`` (displacement control, so the path can run
far past first yield and be reversed). Plasticity starts at the hole and spreads across the
ligament ``y = 0``.

The second route shares only the material-point law :func:`dmech.fem.j2_plasticity` (the
radial return, vmapped over quadrature points, and its consistent tangent by ``jax.jacfwd``).
Everything else is independent of dmech: scikit-fem builds the basis (``ElementVector`` of
``ElementTriP1``), its own quadrature rule and Jacobians, the displacement gradients at the
quadrature points (``basis.interpolate(u).grad``), the internal force (a ``LinearForm``) and the
tangent (a ``BilinearForm``) from the quadrature-point stresses and moduli; the symmetry and
top-edge dofs come from ``basis.get_dofs``; Dirichlet conditions by ``skfem.condense``; the
Newton loop, the convergence test, the history update and the reactions are written here with
NumPy/SciPy. Both routes solve the identical discrete problem, so the load-displacement
curves, the final displacements and the equivalent plastic strains agree to round-off.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.fem import (
    DirichletBC,
    FunctionSpace,
    Newton,
    j2_initial_state,
    j2_plasticity,
    solve_small_strain,
)
from dmech.geometry import select_nodes
from dmech.testing import check_grad

WIDTH, RADIUS = 1.0, 0.3
ISOTROPIC = {
    "youngs_modulus": 70e3,
    "poissons_ratio": 0.3,
    "yield_stress": 243.0,
    "isotropic_hardening": 2e3,
    "kinematic_hardening": 0.0,
}
KINEMATIC = {**ISOTROPIC, "kinematic_hardening": 5e3}
DELTA = 0.01  # top-edge displacement at λ = 1: a nominal strain of 1 %, ~3 yield strains
UP = np.linspace(0.1, 1.0, 10)
UP_DOWN = np.concatenate([np.linspace(1 / 6, 1.0, 6), np.linspace(5 / 6, 0.0, 6)])
NEWTON = Newton(rtol=1e-12)


# --- the problem on dmech's side ------------------------------------------------------------------


def _plate(size):
    """The tri3 quarter plate, its vector space, prescribed dofs and values at λ = 1, and the
    nodes of the top edge."""
    pytest.importorskip("gmsh", reason="gmsh is in the test extra")
    from dmech.geometry import plate_with_hole_mesh

    mesh = plate_with_hole_mesh(WIDTH, RADIUS, size=size, hole_size=size / 3, cell_type="tri3")
    mesh = mesh.with_points(jnp.asarray(mesh.points, jnp.float64))
    space = FunctionSpace(mesh, components=2)
    left = space.dofs(select_nodes(mesh, lambda x: np.isclose(x[:, 0], 0.0)), 0)
    bottom = space.dofs(select_nodes(mesh, lambda x: np.isclose(x[:, 1], 0.0)), 1)
    top_nodes = select_nodes(mesh, lambda x: np.isclose(x[:, 1], WIDTH))
    top = space.dofs(top_nodes, 1)
    dofs = np.unique(np.concatenate([left, bottom, top]))
    values = np.where(np.isin(dofs, top), DELTA, 0.0)
    return mesh, space, dofs, values, top_nodes


def _dmech_path(space, params, dofs, values, factors, newton=NEWTON, throw=True):
    bc = DirichletBC(dofs, jnp.asarray(values))
    return solve_small_strain(
        space,
        j2_plasticity,
        params,
        j2_initial_state(dtype=jnp.float64),
        dirichlet=bc,
        load_steps=jnp.asarray(factors),
        newton=newton,
        throw=throw,
    )


# --- the independent route: scikit-fem assembly, NumPy/SciPy Newton ------------------------------

_VOIGT_2D = np.array([[0, 5], [5, 1]])  # Voigt index of the in-plane tensor entry (i, j)


def _skfem_forms():
    import skfem
    from skfem.helpers import ddot, sym_grad

    @skfem.LinearForm
    def internal(v, w):
        return ddot(w.sigma, sym_grad(v))

    @skfem.BilinearForm
    def tangent(u, v, w):
        stress = np.einsum("ijkl...,kl...->ij...", np.asarray(w.moduli), sym_grad(u))
        return ddot(stress, sym_grad(v))

    return internal, tangent


def _trial_yield(strain, state, params, yield_stress):
    """The trial yield function ``‖dev σ_tr - dev β‖ - √(2/3)(σ_y + H α)`` (NumPy, own code)."""
    e, nu = params["youngs_modulus"], params["poissons_ratio"]
    mu = e / (2 * (1 + nu))

    def tensor(v, shear):
        t = np.empty((*v.shape[:-1], 3, 3))
        for k, (i, j) in enumerate(((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))):
            t[..., i, j] = t[..., j, i] = v[..., k] * (shear if i != j else 1.0)
        return t

    def dev(t):
        return t - np.trace(t, axis1=-2, axis2=-1)[..., None, None] / 3 * np.eye(3)

    xi = 2 * mu * dev(tensor(strain - state["plastic_strain"], 0.5))
    xi = xi - dev(tensor(state["backstress"], 1.0))
    radius = yield_stress + params["isotropic_hardening"] * state["equivalent_plastic_strain"]
    return np.sqrt(np.sum(xi * xi, axis=(-2, -1))) - np.sqrt(2 / 3) * radius


def _skfem_path(mesh, quadrature_degree, params, factors, *, yield_stress=None, rtol=1e-12):
    """The same load path by scikit-fem assembly and a plain Newton loop.

    Returns per step: displacements and internal forces ``(steps, nodes, 2)`` in dmech's node
    order, the equivalent plastic strain per cell ``(steps, cells)``, the Newton iterations,
    and the smallest ``|f_trial| / σ_y`` over all points (distance from the yield surface);
    then the final history per cell and the prescribed dofs in dmech's numbering.
    """
    skfem = pytest.importorskip("skfem", reason="scikit-fem is in the test extra")
    internal, tangent = _skfem_forms()
    points, cells = np.asarray(mesh.points), np.asarray(mesh.cells)
    sk_mesh = skfem.MeshTri(points.T.copy(), cells.T.copy())
    basis = skfem.Basis(
        sk_mesh, skfem.ElementVector(skfem.ElementTriP1()), intorder=quadrature_degree
    )
    ne, nq = basis.nelems, basis.X.shape[1]
    n = ne * nq
    # dmech's dof node*2 + c is scikit-fem's nodal_dofs[c, node]
    to_dmech = basis.nodal_dofs.T.reshape(-1)

    # Dirichlet dofs by scikit-fem's own selection: rollers, then the pulled top edge.
    left = basis.get_dofs(lambda x: np.isclose(x[0], 0.0)).nodal["u^1"]
    bottom = basis.get_dofs(lambda x: np.isclose(x[1], 0.0)).nodal["u^2"]
    top = basis.get_dofs(lambda x: np.isclose(x[1], WIDTH)).nodal["u^2"]
    fixed = np.unique(np.concatenate([left, bottom, top]))
    g = np.zeros(basis.N)
    g[top] = DELTA
    free = np.setdiff1d(np.arange(basis.N), fixed)

    ys = np.full(ne, params["yield_stress"]) if yield_stress is None else np.asarray(yield_stress)
    ys = np.repeat(ys, nq)  # one value per quadrature point, cell-major
    others = {k: v for k, v in params.items() if k != "yield_stress"}

    def law(strain, state, sy):
        return j2_plasticity(strain, state, {**others, "yield_stress": sy})

    def stress_and_moduli(strain, state, sy):
        def stress(e):
            return law(e, state, sy)[0]

        return stress(strain), jax.jacfwd(stress)(strain)

    update = jax.jit(jax.vmap(law))
    linearised = jax.jit(jax.vmap(stress_and_moduli))

    def strains(u):
        h = basis.interpolate(u).grad  # h[i, j] = ∂u_i/∂x_j, (2, 2, ne, nq)
        eps = np.zeros((ne, nq, 6))
        eps[..., 0], eps[..., 1], eps[..., 5] = h[0, 0], h[1, 1], h[0, 1] + h[1, 0]
        return eps.reshape(n, 6)

    def plane(stress):
        return stress[:, _VOIGT_2D].reshape(ne, nq, 2, 2).transpose(2, 3, 0, 1)

    def plane_moduli(d):
        c = d[:, _VOIGT_2D[:, :, None, None], _VOIGT_2D[None, None, :, :]]
        return c.reshape(ne, nq, 2, 2, 2, 2).transpose(2, 3, 4, 5, 0, 1)

    state = {
        "plastic_strain": np.zeros((n, 6)),
        "equivalent_plastic_strain": np.zeros(n),
        "backstress": np.zeros((n, 6)),
    }
    u = np.zeros(basis.N)
    us, forces, alphas, iterations, margins = [], [], [], [], []
    for factor in factors:
        target = factor * g
        iteration = 0
        while True:  # plain Newton (no line search), from the previous step's solution
            iteration += 1
            stress, moduli = linearised(jnp.asarray(strains(u)), state, jnp.asarray(ys))
            f = internal.assemble(basis, sigma=plane(np.asarray(stress)))
            stiffness = tangent.assemble(basis, moduli=plane_moduli(np.asarray(moduli)))
            increment = np.zeros(basis.N)
            increment[fixed] = target[fixed] - u[fixed]
            u = u + skfem.solve(*skfem.condense(stiffness, -f, x=increment, D=fixed))
            stress, _ = update(jnp.asarray(strains(u)), state, jnp.asarray(ys))
            f = internal.assemble(basis, sigma=plane(np.asarray(stress)))
            # out-of-balance forces against the reactions
            if np.linalg.norm(f[free]) <= rtol * np.linalg.norm(f[fixed]):
                break
            if iteration == 30:
                raise AssertionError(f"scikit-fem route: Newton did not converge at λ = {factor}")
        iterations.append(iteration)
        eps = strains(u)
        margins.append(np.min(np.abs(_trial_yield(eps, state, params, ys)) / ys))
        _, state = update(jnp.asarray(eps), state, jnp.asarray(ys))
        state = jax.tree.map(np.asarray, state)
        us.append(u[to_dmech].reshape(-1, 2))
        forces.append(f[to_dmech].reshape(-1, 2))
        alphas.append(state["equivalent_plastic_strain"].reshape(ne, nq).mean(axis=1))
    return (
        np.stack(us),
        np.stack(forces),
        np.stack(alphas),
        np.array(iterations),
        np.array(margins),
        {k: v.reshape(ne, nq, *v.shape[1:]).mean(axis=1) for k, v in state.items()},
        to_dmech[fixed],
    )


# --- the cross-check -----------------------------------------------------------------------------


def _max_rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), np.finfo(np.float64).tiny))


def _compare(size, params, factors):
    mesh, space, dofs, values, top_nodes = _plate(size)
    result = _dmech_path(space, params, dofs, values, factors)
    assert bool(np.all(result.converged))
    # quadratic convergence: a handful of iterations per step (measured ≤ 7 at size 0.12)
    assert int(np.max(result.iterations)) <= 10, result.iterations

    u_sk, f_sk, alpha_sk, iterations_sk, _, state_sk, fixed_sk = _skfem_path(
        mesh, space.quadrature_degree, params, factors
    )
    assert np.array_equal(np.sort(fixed_sk), dofs)  # the same prescribed dofs in both numberings
    assert int(np.max(iterations_sk)) <= 10, iterations_sk

    # load-displacement curve: the top-edge reaction at every step
    load = np.asarray(result.reactions)[:, top_nodes, 1].sum(axis=1)
    load_sk = f_sk[:, top_nodes, 1].sum(axis=1)
    errors = {
        "load": _max_rel(load, load_sk),
        "reactions": _max_rel(np.asarray(result.reactions), f_sk),
        "displacements": _max_rel(np.asarray(result.displacements), u_sk),
    }
    for name, value in result.state.items():  # the final history, per cell
        value = np.asarray(value)
        assert np.ptp(value, axis=1).max() == 0.0  # P1: the same strain at every point of a cell
        errors[name] = _max_rel(value.mean(axis=1), state_sk[name])
    # measured at size 0.12: ≤ 1e-13 for every quantity (both are round-off)
    assert max(errors.values()) < 1e-8, errors
    return load, u_sk, alpha_sk, mesh


# The kinematic case below runs the same cross-check with isotropic and kinematic hardening
# (KINEMATIC includes ISOTROPIC's hardening) on a loading-unloading path: this one is slow.
@pytest.mark.slow
def test_plate_hardening_load_path_matches_scikit_fem(x64):
    load, _, alpha, mesh = _compare(0.12, ISOTROPIC, UP)
    displacement = UP * DELTA
    # a well-developed plastic zone: most cells, and the ligament y ≈ 0 across, have yielded
    assert np.mean(alpha[-1] > 0) > 0.4  # measured 0.63
    centroids = np.asarray(mesh.points)[np.asarray(mesh.cells)].mean(axis=1)
    ligament = centroids[:, 1] < 0.05
    assert np.mean(alpha[-1][ligament] > 0) > 0.9  # measured: all but the corner cell
    assert np.max(centroids[ligament & (alpha[-1] > 0), 0]) > 0.8 * WIDTH
    # visibly nonlinear: the final secant stiffness is far below the initial elastic one
    secant, initial = load[-1] / displacement[-1], load[0] / displacement[0]
    assert secant < 0.5 * initial  # measured 0.36
    assert np.all(np.diff(load) > 0)  # hardening: the load still rises


def test_plate_kinematic_unloading_matches_scikit_fem(x64):
    load, u, alpha, _ = _compare(0.12, KINEMATIC, UP_DOWN)
    peak = int(np.argmax(UP_DOWN))
    assert np.mean(alpha[peak] > 0) > 0.4  # measured 0.72
    # Back at zero prescribed displacement: residual displacements inside, a compressive top
    # reaction (residual stresses), and reverse yielding (Bauschinger effect).
    assert np.max(np.abs(u[-1])) > 0.1 * DELTA  # measured 0.18 δ
    assert load[-1] < -0.5 * load[peak]  # measured -204 after a peak of 267
    assert np.mean(alpha[-1] > alpha[peak] + 1e-6) > 0.2  # measured: 198 of 346 cells


@pytest.mark.slow
@pytest.mark.parametrize("params", [ISOTROPIC, KINEMATIC], ids=["isotropic", "kinematic"])
def test_plate_fine_mesh_matches_scikit_fem(x64, params):
    _compare(0.04, params, UP_DOWN if params is KINEMATIC else UP)


# --- gradients through the load path -------------------------------------------------------------


# The default run checks the same gradient (reactions through a J2 load path with respect to
# per-cell yield stresses, reverse mode against central differences) on hex8 elements in
# tests/dmech/fem/test_fem_small_strain.py::test_gradients_through_a_plastic_load_path.
@pytest.mark.slow
def test_reaction_gradient_through_load_path(x64):
    """d(final top reaction)/d(per-cell yield stress), reverse mode (the implicit function
    theorem at every step plus the history update), against finite differences."""
    mesh, space, dofs, values, top_nodes = _plate(0.35)
    cells = mesh.num_cells
    factors = np.array([0.3, 0.6, 1.0])
    yield_stress = 243.0 * (1.0 + 0.1 * np.sin(np.arange(cells, dtype=np.float64)))
    eps = 0.05  # FD step (MPa) along a unit direction over all cells

    # Away from kinks: every point stays clear of the yield surface by far more than the
    # perturbation, at every step; some points yield.
    _, _, alpha, _, margins, _, _ = _skfem_path(
        mesh, space.quadrature_degree, ISOTROPIC, factors, yield_stress=yield_stress
    )
    assert np.all(margins > 20 * 2 * eps / 243.0), margins  # measured min 0.018
    assert np.mean(alpha[-1] > 0) > 0.2

    def reaction(ys):
        result = _dmech_path(space, {**ISOTROPIC, "yield_stress": ys}, dofs, values, factors)
        return jnp.sum(result.reactions[-1, top_nodes, 1])

    check_grad(
        reaction,
        jnp.asarray(yield_stress),
        mode="reverse",
        num_directions=2,
        rtol=1e-6,
        eps=eps,
    )
