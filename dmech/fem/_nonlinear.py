"""Nonlinear quasi-static solid mechanics: quadrature-point stresses, Newton with a line search,
load stepping with history, and gradients through converged states by the implicit function
theorem."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, ArrayLike, Bool, Float, Int, PyTree
from .._voigt import from_voigt, to_voigt
from ..geometry import BoundaryFacets
from ._linear import DirichletBC, apply_dirichlet, external_load
from ._solve import AbstractLinearSolver, SparseLU, linear_solve
from ._space import FunctionSpace
from ._sparse import SparseMatrix, assemble_matrix, assemble_vector


class Newton(eqx.Module):
    """Newton-Raphson settings for :func:`solve_hyperelasticity` and :func:`solve_small_strain`.

    Each load step iterates ``K δ = -R`` until the force residual of the free dofs is below
    ``atol + rtol·max(‖f_int‖, ‖λ f_ext‖)`` (internal forces, reactions included: the forces at
    play, in force units under load or displacement control) and the prescribed values are met
    to ``atol + rtol·max|λ g|``, or until a full Newton step moves no dof by more than
    ``rtol·max|u|`` (the residual has reached its round-off floor).

    A backtracking line search shortens the step (to the root of the interpolated energy
    slope, or by half after a non-finite state) until the new state is finite (no inverted
    element) and the step is not an overshoot: the residual norm decreases,
    ``‖R(u + αδ)‖ ≤ (1 - 10⁻⁴α)‖R(u)‖``, or the energy slope along the step keeps its sign
    or drops, ``|δ·R(u + αδ)| ≤ 0.9 |δ·R(u)|`` (a full Newton step often raises ``‖R‖`` on
    its way to quadratic convergence, and a step that is too short, as after an elastic
    predictor in plasticity, is never shortened). If no shortened step passes, the full
    Newton step is taken.

    Attributes:
        rtol, atol: the convergence test above.
        max_steps: Newton iterations allowed per load step; more is non-convergence.
        max_backtracks: halvings of the line search (0 disables it).
        solver: the linear solver of the Newton systems (and of the adjoint).
    """

    rtol: float = eqx.field(static=True, default=1e-9)
    atol: float = eqx.field(static=True, default=0.0)
    max_steps: int = eqx.field(static=True, default=25)
    max_backtracks: int = eqx.field(static=True, default=8)
    solver: AbstractLinearSolver = eqx.field(static=True, default=SparseLU())

    def __check_init__(self):
        if not (self.rtol >= 0 and self.atol >= 0 and self.rtol + self.atol > 0):
            raise ValueError(f"Newton: need rtol, atol >= 0, one > 0; got {self.rtol}, {self.atol}")
        if not (isinstance(self.max_steps, int) and self.max_steps >= 1):
            raise ValueError(f"Newton: max_steps must be a positive int, got {self.max_steps!r}")
        if not (isinstance(self.max_backtracks, int) and self.max_backtracks >= 0):
            raise ValueError(
                f"Newton: max_backtracks must be an int >= 0, got {self.max_backtracks!r}"
            )


class NonlinearResult(eqx.Module):
    """The load path of a nonlinear solve.

    Attributes:
        displacement: converged nodal displacements at the last load step, ``(nodes, dim)``.
        load_factors: the load factors ``λ_n`` of the steps, shape ``(steps,)``.
        displacements: converged displacements of every step, ``(steps, nodes, dim)``.
        reactions: nodal forces ``f_int - λ_n f_ext`` of every step, ``(steps, nodes, dim)``:
            the support reactions on prescribed dofs (zero to tolerance elsewhere).
        state: history variables at the quadrature points after the last step (a pytree with
            leading axes ``(cells, q)``), or ``None`` for hyperelasticity.
        iterations: Newton iterations of each step, ``(steps,)``.
        residual_norm: the final force residual ``‖f_int - λ f_ext‖`` on the free dofs of each
            step, ``(steps,)``.
        converged: whether each step converged, ``(steps,)``.
        out_of_range: quadrature points where a learned law was evaluated outside its training
            range at each converged step, ``(steps,)`` (always 0 for other laws).
    """

    displacement: Float[Array, "nodes dim"]
    load_factors: Float[Array, " steps"]
    displacements: Float[Array, "steps nodes dim"]
    reactions: Float[Array, "steps nodes dim"]
    state: PyTree
    iterations: Int[Array, " steps"]
    residual_norm: Float[Array, " steps"]
    converged: Bool[Array, " steps"]
    out_of_range: Int[Array, " steps"]


# --- material fields at the quadrature points ----------------------------------------------------


def _field_axes(params: PyTree, cells: int, q: int) -> tuple[PyTree, PyTree]:
    """vmap axes of every parameter leaf over cells and over quadrature points.

    A leaf whose shape starts with ``(cells, q)`` varies per quadrature point, one starting with
    ``(cells,)`` per cell; any other leaf is a constant shared by all points.
    """

    def cell_axis(leaf):
        shape = np.shape(leaf)
        return 0 if shape[:1] == (cells,) else None

    def point_axis(leaf):
        shape = np.shape(leaf)
        return 0 if shape[:2] == (cells, q) else None

    return jax.tree.map(cell_axis, params), jax.tree.map(point_axis, params)


def _vmap_points(fn: Callable, params: PyTree, cells: int, q: int, n_batched: int) -> Callable:
    """vmap ``fn(*batched, params)`` over cells then quadrature points: the first ``n_batched``
    arguments carry ``(cells, q)`` axes; parameter leaves broadcast by :func:`_field_axes`."""
    by_cell, by_point = _field_axes(params, cells, q)
    inner = jax.vmap(fn, in_axes=(*([0] * n_batched), by_point))
    # after slicing per cell, per-point leaves have lost their cell axis: their point axis is 0
    return jax.vmap(inner, in_axes=(*([0] * n_batched), by_cell))


# --- kinematics and stresses ---------------------------------------------------------------------


def _displacement_gradient(grads: Float[Array, "c q n d"], u: Float[Array, "nodes d"], cells):
    """``H = ∇u`` at the quadrature points, ``(cells, q, d, d)``."""
    return jnp.einsum("cai,cqaj->cqij", u[cells], grads)


def _embed_3d(h: Float[Array, "d d"]) -> Float[Array, "3 3"]:
    """A plane-strain 2D displacement gradient as 3D (zero out-of-plane terms)."""
    d = h.shape[0]
    return h if d == 3 else jnp.zeros((3, 3), h.dtype).at[:d, :d].set(h)


def _strain_voigt(h: Float[Array, "d d"]) -> Float[Array, " 6"]:
    """3D small strain in Voigt notation (engineering shear) of a displacement gradient."""
    h3 = _embed_3d(h)
    return to_voigt(0.5 * (h3 + h3.T), engineering=True)


class _Mechanics(eqx.Module):
    """Everything a load step differentiates through: mesh, material, loads, prescribed values.

    ``kind`` selects the kinematics: ``"hyperelastic"`` (``material`` is an energy
    ``ψ(F, params)``; first Piola-Kirchhoff stress by autodiff) or ``"small_strain"``
    (``material`` is a law ``(strain, state, params) -> (stress, new_state)``).
    """

    space: FunctionSpace
    material: Callable
    params: PyTree
    load: Float[Array, " n"]  # external load at λ = 1 (dead load)
    dirichlet: DirichletBC  # prescribed values at λ = 1
    kind: str = eqx.field(static=True)

    def point_stress(self, h, state, params):
        """First Piola-Kirchhoff (or small-strain Cauchy) stress ``(d, d)`` and the new state."""
        d = h.shape[0]
        if self.kind == "hyperelastic":
            f = jnp.eye(3, dtype=h.dtype) + _embed_3d(h)
            p = jax.grad(self.material)(f, params)
            return p[:d, :d], state
        sigma, new_state = self.material(_strain_voigt(h), state, params)
        return from_voigt(jnp.asarray(sigma, h.dtype))[:d, :d], new_state

    def _points(self, fn, n_batched):
        return _vmap_points(
            fn, self.params, self.space.mesh.num_cells, self.space.num_quadrature_points, n_batched
        )

    def stresses(self, u, state):
        """Stresses ``(cells, q, d, d)`` and new states at every quadrature point."""
        _, grads = self.space.geometry()
        h = _displacement_gradient(grads, u.reshape(self.space.mesh.num_nodes, -1), self._cells)
        return self._points(self.point_stress, 2)(h, state, self.params)

    @property
    def _cells(self):
        return jnp.asarray(self.space.mesh.cells)

    def internal_force(self, u, state) -> Float[Array, " n"]:
        dx, grads = self.space.geometry()
        p, _ = self.stresses(u, state)
        fe = jnp.einsum("cq,cqij,cqaj->cai", dx, p, grads).reshape(dx.shape[0], -1)
        return assemble_vector(fe, self.space.element_dofs, self.space.num_dofs)

    def force_and_tangent(self, u, state) -> tuple[Float[Array, " n"], SparseMatrix]:
        """Internal force and the consistent tangent ``∂f_int/∂u`` (autodiff at each point)."""
        dx, grads = self.space.geometry()
        h = _displacement_gradient(grads, u.reshape(self.space.mesh.num_nodes, -1), self._cells)

        def stress_and_modulus(h, state, params):
            def stress(h):
                return self.point_stress(h, state, params)[0]

            p, tangent = jax.linearize(stress, h)
            d = h.shape[0]
            basis = jnp.eye(d * d, dtype=h.dtype).reshape(d * d, d, d)
            a = jax.vmap(tangent)(basis).reshape(d, d, d, d)  # a[k, l] = ∂P/∂H_kl
            return p, jnp.moveaxis(a, (0, 1), (2, 3))  # A_ijkl = ∂P_ij/∂H_kl

        p, a = self._points(stress_and_modulus, 2)(h, state, self.params)
        fe = jnp.einsum("cq,cqij,cqaj->cai", dx, p, grads).reshape(dx.shape[0], -1)
        ke = jnp.einsum("cq,cqaj,cqijkl,cqbl->caibk", dx, grads, a, grads)
        ke = ke.reshape(dx.shape[0], fe.shape[1], fe.shape[1])
        force = assemble_vector(fe, self.space.element_dofs, self.space.num_dofs)
        return force, assemble_matrix(ke, self.space.pattern)

    def residual(self, u, state, factor):
        """``R̃(u)``: ``f_int - λ f_ext`` on free dofs, ``u - λ g`` on prescribed ones."""
        r = self.internal_force(u, state) - factor * self.load
        dofs = self.dirichlet.dofs
        return r.at[dofs].set(u[dofs] - factor * self.dirichlet.values.astype(u.dtype))


# --- Newton with a line search -------------------------------------------------------------------


def _newton(mech: _Mechanics, state, factor, u0, newton: Newton):
    """Converge one load step from ``u0``; returns ``(u, iterations, residual_norm, ok)``."""
    dofs = mech.dirichlet.dofs
    target = factor * mech.dirichlet.values.astype(u0.dtype)
    external = factor * mech.load
    free = np.ones(mech.space.num_dofs, bool)
    free[dofs] = False
    misfit_tol = newton.atol + newton.rtol * jnp.max(jnp.abs(target), initial=0.0)

    def equilibrated(u, r):
        """Force balance on the free dofs relative to the forces at play (internal forces,
        reactions included, and the applied load), and the prescribed values met."""
        internal = mech.internal_force(u, state)
        scale = jnp.maximum(jnp.linalg.norm(internal), jnp.linalg.norm(external))
        force = jnp.linalg.norm(jnp.where(free, r, 0.0))
        misfit = jnp.max(jnp.abs(r[dofs]), initial=0.0)
        return (force <= newton.atol + newton.rtol * scale) & (misfit <= misfit_tol), force

    r0 = mech.residual(u0, state, factor)
    n0 = jnp.linalg.norm(r0)

    def not_done(carry):
        _, _, _, k, failed, done = carry
        return ~done & (k < newton.max_steps) & ~failed

    def iterate(carry):
        u, r, norm, k, _, _ = carry
        f, k_mat = mech.force_and_tangent(u, state)
        rhs = -(f - factor * mech.load)
        lifted, rhs = apply_dirichlet(k_mat, rhs, DirichletBC(dofs, target - u[dofs]))
        du = linear_solve(lifted, rhs, newton.solver, throw=False)

        def trial(alpha):
            u_new = u + alpha * du
            r_new = mech.residual(u_new, state, factor)
            return u_new, r_new, jnp.linalg.norm(r_new)

        slope0 = jnp.dot(du, r)  # δ·R: the energy slope along the step (negative: descent)

        def acceptable(alpha, r_new, norm_new):
            slope = jnp.dot(du, r_new)
            decreased = norm_new <= (1 - 1e-4 * alpha) * norm
            flatter = jnp.abs(slope) <= 0.9 * jnp.abs(slope0)
            short = slope * slope0 > 0  # still descending at α: a shorter step cannot help
            return jnp.isfinite(norm_new) & (decreased | flatter | short)

        def reject(ls):
            alpha, _, r_new, norm_new, j = ls
            return ~acceptable(alpha, r_new, norm_new) & (j < newton.max_backtracks)

        def backtrack(ls):
            alpha, _, r_new, _, j = ls
            # the root of the slope interpolated linearly in α (halving after a NaN state)
            slope = jnp.dot(du, r_new)
            secant = alpha * slope0 / (slope0 - slope)
            alpha = jnp.where(
                jnp.isfinite(secant), jnp.clip(secant, 0.25 * alpha, 0.9 * alpha), 0.5 * alpha
            )
            return (alpha, *trial(alpha), j + 1)

        one = jnp.ones((), u.dtype)
        full = trial(one)
        alpha, *searched, _ = jax.lax.while_loop(reject, backtrack, (one, *full, 0))
        # no acceptable step found: plain Newton (the full step) unless it is not finite
        keep = acceptable(alpha, searched[1], searched[2]) | ~jnp.isfinite(full[2])
        u_new, r_new, norm_new = jax.tree.map(
            lambda a, b: jnp.where(keep, a, b), tuple(searched), full
        )
        failed = ~jnp.isfinite(norm_new) | ~jnp.all(jnp.isfinite(du))
        # At round-off level the residual stalls: a full Newton step below rtol of the solution
        # means that further iterations change nothing.
        step_small = jnp.max(jnp.abs(du)) <= newton.rtol * jnp.max(jnp.abs(u_new))
        done = equilibrated(u_new, r_new)[0] | step_small
        return u_new, r_new, norm_new, k + 1, failed, done

    init = (u0, r0, n0, jnp.zeros((), jnp.int32), ~jnp.isfinite(n0), equilibrated(u0, r0)[0])
    u, r, _, k, failed, done = jax.lax.while_loop(not_done, iterate, init)
    return u, k, equilibrated(u, r)[1], done & ~failed


# --- a load step, differentiated by the implicit function theorem --------------------------------


@eqx.filter_custom_vjp
def _equilibrium(diff, factor, u0, newton):
    mech, state = diff
    return _newton(mech, state, factor, u0, newton)


@_equilibrium.def_fwd
def _equilibrium_fwd(perturbed, diff, factor, u0, newton):
    del perturbed
    out = _equilibrium.fn(diff, factor, u0, newton)
    return out, out[0]


@_equilibrium.def_bwd
def _equilibrium_bwd(u, grads, perturbed, diff, factor, u0, newton):
    """``R̃(u*(θ), θ) = 0`` gives ``θ̄ = -(∂R̃/∂θ)ᵀ J⁻ᵀ ū`` with ``J = ∂R̃/∂u``.

    With prescribed dofs ``c`` and free dofs ``f``, ``J = [[K_ff, K_fc], [0, I]]``: the adjoint
    is ``μ_f = K_ff⁻ᵀ ū_f`` (the lifted tangent, transposed, on the forward factorisation) and
    ``μ_c = ū_c - K_fcᵀ μ_f``.
    """
    del perturbed, u0
    mech, state = diff
    g = grads[0]
    if g is None:
        return None
    dofs = mech.dirichlet.dofs

    def adjoint(g):
        _, k_mat = mech.force_and_tangent(u, state)
        zero_bc = DirichletBC(dofs, jnp.zeros(len(dofs), u.dtype))
        lifted, _ = apply_dirichlet(k_mat, jnp.zeros_like(u), zero_bc)
        g_free = g.at[dofs].set(0.0)
        # K⁻ᵀ g through the solve's own adjoint (reusing its factorisation)
        _, solve_vjp = jax.vjp(lambda b: linear_solve(lifted, b, newton.solver), g_free)
        (mu,) = solve_vjp(g_free)
        mu = mu.at[dofs].set(0.0)
        _, matvec_vjp = jax.vjp(lambda v: k_mat @ v, mu)
        (kt_mu,) = matvec_vjp(mu)
        return mu.at[dofs].set(g[dofs] - kt_mu[dofs])

    # Steps whose solution the objective does not see need no adjoint solve.
    mu = jax.lax.cond(jnp.any(g != 0), adjoint, jnp.zeros_like, g)
    _, residual_vjp = eqx.filter_vjp(lambda d: d[0].residual(u, d[1], factor), diff)
    (grad_diff,) = residual_vjp(-mu)
    return grad_diff


def _load_path(mech: _Mechanics, state0, factors, newton: Newton, learned_range):
    """Scan the load steps: Newton per step, then the history update at the converged state."""
    n = mech.space.num_dofs
    dtype = mech.load.dtype

    def step(carry, factor):
        u_prev, state = carry
        u, iterations, norm, ok = _equilibrium(
            (mech, state), factor, jax.lax.stop_gradient(u_prev), newton
        )
        # the convergence report carries no derivative
        iterations, norm, ok = jax.lax.stop_gradient((iterations, norm, ok))
        new_state = state
        if mech.kind == "small_strain":
            _, new_state = mech.stresses(u, state)
        reaction = mech.internal_force(u, state) - factor * mech.load
        outside = jnp.zeros((), jnp.int32)
        if learned_range is not None:
            _, grads = mech.space.geometry()
            h = _displacement_gradient(grads, u.reshape(mech.space.mesh.num_nodes, -1), mech._cells)
            eps = jax.vmap(jax.vmap(_strain_voigt))(h)
            outside = jnp.sum(jax.vmap(jax.vmap(learned_range))(eps)).astype(jnp.int32)
        return (u, new_state), (u, reaction, iterations, norm, ok, outside)

    u0 = jnp.zeros(n, dtype)
    (_, state), outs = jax.lax.scan(step, (u0, state0), factors)
    return state, outs


@eqx.filter_jit
def _run_load_path(mech, state0, factors, newton, learned_range, throw, check_range):
    state, (us, reactions, iterations, norms, ok, outside) = _load_path(
        mech, state0, factors, newton, learned_range
    )
    steps = factors.shape[0]
    nodes, dim = mech.space.mesh.num_nodes, mech.space.components
    us = us.reshape(steps, nodes, dim)
    reactions = reactions.reshape(steps, nodes, dim)
    # the checks guard every field a caller may use alone: under jit an error attached to
    # the displacements only is dropped with them when just the reactions are read
    solution = (us, reactions, state)
    if throw:
        first_failure = jnp.argmin(ok)
        messages = tuple(
            f"Newton did not converge at load step {i + 1} of {steps}; pass throw=False and "
            "inspect result.converged and result.residual_norm, or use more load steps or a "
            "larger Newton.max_steps"
            for i in range(steps)
        )
        solution = eqx.branched_error_if(solution, ~jnp.all(ok), first_failure, messages)
    if check_range and learned_range is not None:
        solution = eqx.error_if(
            solution,
            jnp.any(outside > 0),
            "the learned constitutive law was evaluated outside its training range; pass "
            "check_range=False to allow extrapolation and inspect result.out_of_range",
        )
    us, reactions, state = solution
    return NonlinearResult(
        displacement=us[-1],
        load_factors=factors,
        displacements=us,
        reactions=reactions,
        state=state,
        iterations=iterations,
        residual_norm=norms,
        converged=ok,
        out_of_range=outside,
    )


# --- public drivers ------------------------------------------------------------------------------


def _load_factors(load_steps) -> Float[Array, " steps"]:
    if isinstance(load_steps, int | np.integer):
        if load_steps < 1:
            raise ValueError(f"load_steps must be a positive int, got {load_steps}")
        return jnp.linspace(1.0 / load_steps, 1.0, int(load_steps))
    factors = jnp.asarray(load_steps)
    if factors.ndim != 1 or factors.shape[0] == 0:
        raise ValueError(
            f"load_steps must be an int or a 1-D array of factors, got shape {factors.shape}"
        )
    if not jnp.issubdtype(factors.dtype, jnp.floating):
        factors = factors.astype(float)
    return factors


def _check_dirichlet(space: FunctionSpace, dirichlet: DirichletBC) -> None:
    if not isinstance(dirichlet, DirichletBC):
        raise TypeError(f"dirichlet must be a DirichletBC, got {type(dirichlet).__name__}")
    if dirichlet.dofs.size and dirichlet.dofs.max() >= space.num_dofs:
        raise ValueError(f"dirichlet.dofs out of range [0, {space.num_dofs})")


def _check_vector_space(space: FunctionSpace, who: str) -> None:
    if not isinstance(space, FunctionSpace):
        raise TypeError(f"space must be a FunctionSpace, got {type(space).__name__}")
    if space.components != space.mesh.dim or space.mesh.dim not in (2, 3):
        raise ValueError(
            f"{who} needs a 2D or 3D vector space (components == dim); got dim "
            f"{space.mesh.dim}, components {space.components}"
        )


def solve_hyperelasticity(
    space: FunctionSpace,
    energy: Callable[[Float[Array, "3 3"], PyTree], Float[Array, ""]],
    params: PyTree,
    *,
    dirichlet: DirichletBC,
    body_force: Float[ArrayLike, "..."] | None = None,
    traction_facets: BoundaryFacets | np.ndarray | None = None,
    traction: Float[ArrayLike, "..."] | None = None,
    point_load: Float[ArrayLike, " n"] | None = None,
    load_steps: int | Float[ArrayLike, " steps"] = 1,
    newton: Newton = Newton(),
    throw: bool = True,
) -> NonlinearResult:
    r"""Finite-strain hyperelastic equilibrium from a strain-energy density ``ψ(F, params)``.

    Finds ``u`` with ``∫ P(F) : ∇δu dX = λ (∫ b·δu dX + ∫ t·δu dA)`` for all ``δu``, where
    ``F = I + ∇u`` and ``P = ∂ψ/∂F`` (first Piola-Kirchhoff stress) both come from autodiff of
    ``ψ``, as does the consistent tangent ``∂²ψ/∂F²``. Loads are dead loads in the reference
    configuration; the load factor ``λ`` and the prescribed displacements ``λ g`` rise through
    ``load_steps``, each converged by :class:`Newton` with a line search. In 2D the state is
    plane strain (``F_33 = 1``), so energies are always written for a ``3×3`` ``F``.

    Gradients with respect to ``params`` (material fields or network weights), ``energy``'s own
    array leaves, the mesh points, the loads and the prescribed values follow the implicit
    function theorem at the converged state: one adjoint solve with the transposed tangent per
    load step that the objective sees, never by differentiating the Newton iterations.

    Args:
        space: vector space, ``components == dim``.
        energy: ``ψ(F, params) -> scalar`` (energy per unit reference volume), e.g.
            :func:`neo_hookean`; any callable, an equinox network included.
        params: a pytree of material parameters. A leaf whose shape starts with
            ``(num_cells, q)`` varies per quadrature point, one starting with ``(num_cells,)``
            per cell; other leaves are shared by all points.
        dirichlet: prescribed displacements ``g`` at full load (a :class:`DirichletBC`).
        body_force, traction_facets, traction, point_load: reference loads at full load (see
            :func:`external_load`).
        load_steps: the number of equal load increments, or the load factors themselves.
        newton: the :class:`Newton` settings (tolerances, iterations, linear solver).
        throw: raise when a load step does not converge; otherwise inspect
            ``result.converged``.

    Returns:
        A :class:`NonlinearResult`.

    Example:
        >>> result = solve_hyperelasticity(space, neo_hookean, lame_parameters(1.0, 0.3),
        ...                                dirichlet=bc, load_steps=4)  # doctest: +SKIP

    References:
        Bonet & Wood, *Nonlinear Continuum Mechanics for Finite Element Analysis*, 2nd ed.,
        Cambridge University Press (2008), ch. 6-9.
    """
    _check_vector_space(space, "solve_hyperelasticity")
    _check_dirichlet(space, dirichlet)
    dtype = space.mesh.points.dtype
    f = jnp.eye(3, dtype=dtype)
    point_params = _point_slice(params, space)
    try:
        out = jax.eval_shape(energy, f, point_params)
    except Exception as error:
        raise ValueError(f"energy(F, params) failed on one quadrature point: {error}") from error
    if getattr(out, "shape", None) != ():
        raise ValueError(f"energy must return a scalar, got shape {getattr(out, 'shape', None)}")
    loads = dict(
        body_force=body_force,
        traction_facets=traction_facets,
        traction=traction,
        point_load=point_load,
    )
    mech, factors = _mechanics(space, energy, params, "hyperelastic", dirichlet, load_steps, loads)
    return _run_load_path(mech, None, factors, newton, None, throw, False)


def solve_small_strain(
    space: FunctionSpace,
    law: Callable[[Float[Array, " 6"], PyTree, PyTree], tuple[Float[Array, " 6"], PyTree]],
    params: PyTree,
    state: PyTree,
    *,
    dirichlet: DirichletBC,
    body_force: Float[ArrayLike, "..."] | None = None,
    traction_facets: BoundaryFacets | np.ndarray | None = None,
    traction: Float[ArrayLike, "..."] | None = None,
    point_load: Float[ArrayLike, " n"] | None = None,
    load_steps: int | Float[ArrayLike, " steps"] = 1,
    newton: Newton = Newton(),
    throw: bool = True,
    check_range: bool = True,
) -> NonlinearResult:
    r"""Quasi-static small-strain equilibrium with a history-dependent constitutive law.

    At each load factor ``λ_n`` finds ``u_n`` with ``∫ Bᵀσ(ε(u_n), s_{n-1}) dx = λ_n f``, then
    updates the history ``s_n`` at every quadrature point. The law is any callable
    ``(strain, state, params) -> (stress, new_state)`` in 3D Voigt notation (strain with
    engineering shear ``[xx, yy, zz, yz, xz, xy]``, stress likewise with plain shear): J2
    plasticity (:func:`j2_plasticity`), linear elasticity, or a learned (e.g. recurrent) law.
    2D problems are plane strain (the law sees zero out-of-plane strain). The consistent tangent
    is the autodiff Jacobian of the stress, so Newton converges quadratically for any law.

    A law with an ``out_of_range(strain) -> bool`` method (:class:`LearnedLaw`) is checked at
    every converged step: the count of quadrature points outside the training range is in
    ``result.out_of_range``, and with ``check_range`` any such point raises.

    Gradients (material parameters, loads, prescribed values, mesh points) flow through the
    whole load path: the implicit function theorem at every converged step, and the history
    update differentiated as written.

    Args:
        space: vector space, ``components == dim``.
        law: the constitutive law at one quadrature point.
        params: material parameters (leaf broadcasting as in :func:`solve_hyperelasticity`).
        state: the initial history at every quadrature point (leaves ``(num_cells, q, ...)``),
            or the history of one point (broadcast to all).
        dirichlet, body_force, traction_facets, traction, point_load: loads at full load, as in
            :func:`solve_hyperelasticity`.
        load_steps: number of equal increments to full load, or the load factors of the path
            (any sequence: loading, unloading, reversal).
        newton, throw: as in :func:`solve_hyperelasticity`.
        check_range: raise when a learned law leaves its training range.

    Returns:
        A :class:`NonlinearResult`, with ``state`` the history after the last step.

    References:
        Simo & Hughes, *Computational Inelasticity*, Springer (1998), ch. 2-4.
    """
    _check_vector_space(space, "solve_small_strain")
    _check_dirichlet(space, dirichlet)
    dtype = space.mesh.points.dtype
    state = _broadcast_state(state, space)
    try:
        out = jax.eval_shape(
            law, jnp.zeros(6, dtype), _point_slice(state, space), _point_slice(params, space)
        )
        stress_shape, state_out = out
    except Exception as error:
        raise ValueError(
            f"law(strain, state, params) failed on one quadrature point, or did not return "
            f"(stress, new_state): {error}"
        ) from error
    if getattr(stress_shape, "shape", None) != (6,):
        raise ValueError(f"law must return a (6,) Voigt stress, got {stress_shape}")
    state_in, state_back = (jax.tree.structure(t) for t in (_point_slice(state, space), state_out))
    if state_in != state_back:  # type: ignore[operator]
        raise ValueError(
            f"law must return new_state with the structure of state: {state_in} vs {state_back}"
        )
    loads = dict(
        body_force=body_force,
        traction_facets=traction_facets,
        traction=traction,
        point_load=point_load,
    )
    mech, factors = _mechanics(space, law, params, "small_strain", dirichlet, load_steps, loads)
    learned_range = getattr(law, "out_of_range", None)
    return _run_load_path(mech, state, factors, newton, learned_range, throw, check_range)


def _mechanics(space, material, params, kind, dirichlet, load_steps, loads):
    """The differentiable problem of a load path and its load factors."""
    load = external_load(space, dtype=space.mesh.points.dtype, **loads)
    mech = _Mechanics(space, material, params, load, dirichlet, kind)
    return mech, _load_factors(load_steps).astype(load.dtype)


def _point_slice(tree: PyTree, space: FunctionSpace) -> PyTree:
    """Shape-only view of the pytree at one quadrature point (for checks before compiling)."""
    cells, q = space.mesh.num_cells, space.num_quadrature_points

    def one(leaf):
        shape = np.shape(leaf)
        dtype = jnp.result_type(leaf)
        if shape[:2] == (cells, q):
            shape = shape[2:]
        elif shape[:1] == (cells,):
            shape = shape[1:]
        return jax.ShapeDtypeStruct(shape, dtype)

    return jax.tree.map(one, tree)


def _broadcast_state(state: PyTree, space: FunctionSpace) -> PyTree:
    cells, q = space.mesh.num_cells, space.num_quadrature_points
    leaves = jax.tree.leaves(state)
    if all(np.shape(leaf)[:2] == (cells, q) for leaf in leaves):
        return jax.tree.map(jnp.asarray, state)
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (cells, q, *np.shape(x))), state)
