"""The Method of Moving Asymptotes: Svanberg's test problems, a closed form, random convex
problems against scipy's SLSQP, the asymptote rules, bad arguments, float32 and no recompile."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize

from dmech.testing import assert_no_recompile, count_compiles
from dmech.topopt._mma import MMAState, minimise_mma, mma_init, mma_update

# Svanberg (2007), section 7: two balls that must both contain x, and x near the origin.
_CENTRES = np.array([[5.0, 2.0, 1.0], [3.0, 4.0, 3.0]])
_TOY_OPTIMUM = np.array([2.0176, 1.7800, 1.2377])  # as quoted in the note (4 digits)

# Svanberg (1987), section 5: a cantilever beam of five segments with a tip deflection limit.
_BEAM = np.array([61.0, 37.0, 19.0, 7.0, 1.0])
_BEAM_OPTIMUM = np.array([6.016, 5.309, 4.494, 3.502, 2.153])  # objective 1.340


def toy_objective(x):
    return jnp.sum(x**2)


def toy_constraints(x):
    centres = jnp.asarray(_CENTRES, x.dtype)
    return jnp.sum((x[None, :] - centres) ** 2, axis=1) - 9.0


def beam_objective(x):
    return 0.0624 * jnp.sum(x)


def beam_constraints(x):
    return jnp.sum(jnp.asarray(_BEAM, x.dtype) / x**3)[None] - 1.0


def slsqp(f, df, g, dg, x0, lower, upper):
    """scipy's SLSQP at tight tolerance, for ``min f`` subject to ``g ≤ 0`` and bounds."""
    n = len(x0)
    result = minimize(
        f,
        np.asarray(x0, float),
        jac=df,
        method="SLSQP",
        bounds=list(zip(np.broadcast_to(lower, n), np.broadcast_to(upper, n), strict=True)),
        constraints=[{"type": "ineq", "fun": lambda x: -g(x), "jac": lambda x: -dg(x)}],
        options={"ftol": 1e-12, "maxiter": 1000},
    )
    if result.status == 8:
        # At this tolerance SLSQP's line search can stall at the optimum ("positive
        # directional derivative"; seen with single-threaded BLAS): accept its point only if it
        # satisfies the KKT conditions (f is convex in every use here, so it is the optimum).
        x, lam = result.x, result.multipliers
        grad = df(x) + dg(x).T @ lam  # ∇f + Σ λᵢ ∇gᵢ, zero on the free variables
        at_lower, at_upper = x <= lower + 1e-9, x >= upper - 1e-9
        assert np.all(lam >= 0) and np.max(g(x)) < 1e-9 and np.max(np.abs(lam * g(x))) < 1e-9
        assert np.max(np.abs(np.where(at_lower | at_upper, 0.0, grad))) < 1e-6, grad
        assert np.all(grad[at_lower] >= -1e-6) and np.all(grad[at_upper] <= 1e-6), grad
        return x
    assert result.success, result.message
    return result.x


def toy_slsqp(x0):
    return slsqp(
        lambda x: x @ x,
        lambda x: 2 * x,
        lambda x: np.sum((x - _CENTRES) ** 2, axis=1) - 9,
        lambda x: 2 * (x - _CENTRES),
        x0,
        0.0,
        5.0,
    )


def beam_slsqp():
    return slsqp(
        lambda x: 0.0624 * np.sum(x),
        lambda x: np.full(5, 0.0624),
        lambda x: np.array([np.sum(_BEAM / x**3) - 1]),
        lambda x: (-3 * _BEAM / x**4)[None],
        np.full(5, 5.0),
        1.0,
        10.0,
    )


def test_svanberg_toy_problem_against_slsqp_and_kkt(x64):
    result = minimise_mma(
        toy_objective, toy_constraints, jnp.array([4.0, 3.0, 2.0]), lower=0.0, upper=5.0
    )
    assert result.converged and result.iterations <= 15  # 9 measured
    x = np.asarray(result.design)
    reference = toy_slsqp([4.0, 3.0, 2.0])
    np.testing.assert_allclose(x, reference, atol=1e-6)
    np.testing.assert_allclose(x, _TOY_OPTIMUM, atol=5e-4)
    assert result.objective[-1] == pytest.approx(reference @ reference, rel=1e-7)
    # KKT: both balls active, ∇f + Jᵀλ = 0 with λ ≥ 0, the bounds inactive.
    g = np.asarray(toy_constraints(result.design))
    np.testing.assert_allclose(g, 0.0, atol=1e-6)
    jacobian = 2 * (x - _CENTRES)
    multipliers, *_ = np.linalg.lstsq(jacobian.T, -2 * x, rcond=None)
    assert np.all(multipliers > 0.1)
    np.testing.assert_allclose(jacobian.T @ multipliers, -2 * x, atol=1e-5)
    assert np.all((x > 0) & (x < 5))
    # the history: objective and violation at each iterate, the last change within tol
    assert result.objective.shape == result.constraint_violation.shape == (result.iterations,)
    assert result.change[-1] <= 1e-6 and result.constraint_violation[-1] <= 1e-8


def test_infeasible_start_recovers_feasibility(x64):
    # At (0.5, 0.5, 0.5) both constraints are violated (g = 13.75 and 15.75): the
    # artificial variables y (cost c = 1000) keep the subproblems feasible.
    x0 = jnp.array([0.5, 0.5, 0.5])
    assert np.all(np.asarray(toy_constraints(x0)) > 10)
    result = minimise_mma(toy_objective, toy_constraints, x0, lower=0.0, upper=5.0)
    assert result.converged
    assert result.constraint_violation[0] > 10 and result.constraint_violation[-1] <= 1e-8
    # a convex problem: the one optimum (SLSQP from (0.5, 0.5, 0.5) stops short at ftol 1e-12)
    np.testing.assert_allclose(result.design, toy_slsqp([4.0, 3.0, 2.0]), atol=1e-6)


def test_svanberg_cantilever_beam_against_slsqp(x64):
    result = minimise_mma(beam_objective, beam_constraints, jnp.full(5, 5.0), lower=1.0, upper=10.0)
    assert result.converged and result.iterations <= 20  # 11 measured
    reference = beam_slsqp()
    np.testing.assert_allclose(result.design, reference, atol=1e-6)
    np.testing.assert_allclose(result.design, _BEAM_OPTIMUM, atol=1e-3)
    assert result.objective[-1] == pytest.approx(1.340, abs=5e-4)
    # The last subproblem's barrier (ε = 1e-7) leaves the design ~1e-7 inside: g ≈ -2e-7.
    assert result.objective[-1] == pytest.approx(0.0624 * reference.sum(), rel=1e-6)
    assert -1e-6 < float(beam_constraints(result.design)[0]) <= 0


class _InverseSum(eqx.Module):
    weights: jax.Array

    def __call__(self, x):
        return jnp.sum(self.weights / x)


class _Budget(eqx.Module):
    total: jax.Array
    scale: jax.Array

    def __call__(self, x):
        return (self.scale * (jnp.sum(x) - self.total))[None]


def test_closed_form_optimum_of_a_separable_problem(x64):
    # min Σ wᵢ/xᵢ subject to Σ xᵢ ≤ V: xᵢ = V √wᵢ / Σ √w, with multiplier (Σ √w / V)².
    n, total = 200, 100.0
    weights = np.random.default_rng(0).uniform(1.0, 4.0, n)
    exact = total * np.sqrt(weights) / np.sqrt(weights).sum()
    objective = _InverseSum(jnp.asarray(weights))
    budget = _Budget(jnp.asarray(total), jnp.asarray(1.0))
    x0 = jnp.full(n, 0.4)
    result = minimise_mma(objective, budget, x0, lower=1e-3, upper=5.0)
    assert result.converged and result.iterations <= 40  # 28 measured
    np.testing.assert_allclose(result.design, exact, rtol=1e-5)
    assert result.objective[-1] == pytest.approx(np.sum(weights / exact), rel=1e-9)
    # Scaled by 1/V, the multiplier (≈ 1013) exceeds c = 1000: the artificial variable is
    # cheaper than feasibility and MMA stops infeasible, as Svanberg warns. A larger c fixes it.
    scaled = _Budget(jnp.asarray(total), jnp.asarray(1 / total))
    cheap = minimise_mma(objective, scaled, x0, lower=1e-3, upper=5.0)
    assert cheap.constraint_violation[-1] > 1e-3
    dear = minimise_mma(objective, scaled, x0, lower=1e-3, upper=5.0, c=1e5)
    assert dear.converged and dear.constraint_violation[-1] < 1e-9
    np.testing.assert_allclose(dear.design, exact, rtol=1e-5)


class _Quadratic(eqx.Module):
    hessian: jax.Array
    linear: jax.Array

    def __call__(self, x):
        return 0.5 * x @ self.hessian @ x + self.linear @ x


class _LinearAndBalls(eqx.Module):
    matrix: jax.Array  # (2, n): G x ≤ h
    offsets: jax.Array
    centres: jax.Array  # (2, n): |x - cₖ|² ≤ rₖ²
    radii2: jax.Array

    def __call__(self, x):
        linear = self.matrix @ x - self.offsets
        balls = jnp.sum((x[None, :] - self.centres) ** 2, axis=1) - self.radii2
        return jnp.concatenate([linear, balls])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_convex_problems_against_slsqp(x64, seed):
    # A non-separable convex quadratic under two linear and two ball constraints, all built
    # around a strictly feasible point; the start (the origin) may be infeasible.
    rng = np.random.default_rng(seed)
    n = 6
    m_ = rng.normal(size=(n, n))
    hessian = m_ @ m_.T / n + 0.5 * np.eye(n)
    linear = 3 * rng.normal(size=n)
    feasible = rng.uniform(-0.5, 0.5, n)
    matrix = rng.normal(size=(2, n))
    offsets = matrix @ feasible + 0.3
    centres = rng.normal(size=(2, n))
    radii2 = np.sum((feasible - centres) ** 2, axis=1) + 0.5
    objective = _Quadratic(jnp.asarray(hessian), jnp.asarray(linear))
    constraints = _LinearAndBalls(*map(jnp.asarray, (matrix, offsets, centres, radii2)))
    result = minimise_mma(objective, constraints, jnp.zeros(n), lower=-2.0, upper=2.0)
    assert result.converged and result.iterations <= 40  # 12 to 21 measured (seeds 0-4)

    def g(x):
        return np.concatenate([matrix @ x - offsets, np.sum((x - centres) ** 2, axis=1) - radii2])

    def dg(x):
        return np.concatenate([matrix, 2 * (x - centres)])

    reference = slsqp(
        lambda x: 0.5 * x @ hessian @ x + linear @ x,
        lambda x: hessian @ x + linear,
        g,
        dg,
        np.zeros(n),
        -2.0,
        2.0,
    )
    best = 0.5 * reference @ hessian @ reference + linear @ reference
    assert result.objective[-1] == pytest.approx(best, rel=1e-7)
    np.testing.assert_allclose(result.design, reference, atol=1e-5)
    # Some constraints bind and some do not (an inactive constraint changes nothing).
    final = g(np.asarray(result.design))
    assert np.max(final) < 1e-9
    assert np.any(np.abs(final) < 1e-6) and np.any(final < -1.0)
    np.testing.assert_array_equal(np.abs(final) < 1e-6, np.abs(g(reference)) < 1e-6)


def test_asymptote_rules_move_limits_and_the_subproblem(x64):
    lower, upper = 0.0, 5.0
    x1 = jnp.array([4.0, 3.0, 2.0])

    def update(state, x, **kwargs):
        gradient = jax.grad(toy_objective)(x)
        return mma_update(
            state,
            x,
            gradient,
            toy_constraints(x),
            jax.jacrev(toy_constraints)(x),
            lower=lower,
            upper=upper,
            **kwargs,
        )

    state = mma_init(x1)
    assert int(state.iteration) == 0
    x2, state = update(state, x1)
    # The first two updates: L = x - 0.5 (upper - lower), U = x + 0.5 (upper - lower).
    np.testing.assert_allclose(state.lower_asymptote, x1 - 2.5)
    np.testing.assert_allclose(state.upper_asymptote, x1 + 2.5)
    np.testing.assert_array_equal(state.previous, x1)
    assert int(state.iteration) == 1
    # The subproblem's solution within α = max(lower, L + 0.1 (x - L), x - 0.5 (upper - lower))
    # and β, and equal to SLSQP's solution of the same convex approximations.
    alpha = np.maximum(np.maximum(lower, (x1 - 2.5) + 0.1 * 2.5), x1 - 2.5)
    beta = np.minimum(np.minimum(upper, (x1 + 2.5) - 0.1 * 2.5), x1 + 2.5)
    assert np.all((alpha <= x2) & (x2 <= beta))
    np.testing.assert_allclose(x2, _first_subproblem(np.asarray(x1), alpha, beta), atol=1e-6)

    x3, state = update(state, x2)
    np.testing.assert_allclose(state.lower_asymptote, x2 - 2.5)
    np.testing.assert_allclose(state.upper_asymptote, x2 + 2.5)
    np.testing.assert_array_equal(state.before_previous, x1)
    # The third: widen by 1.2 where x kept direction, narrow by 0.7 where it turned back,
    # within [0.01, 10] (upper - lower) of x.
    x4, new = update(state, x3, move=0.1)
    x1, x2, x3 = map(np.asarray, (x1, x2, x3))
    trend = (x3 - x2) * (x2 - x1)
    factor = np.where(trend > 0, 1.2, np.where(trend < 0, 0.7, 1.0))
    low = np.clip(x3 - factor * (x2 - (x2 - 2.5)), x3 - 50, x3 - 0.05)
    upp = np.clip(x3 + factor * ((x2 + 2.5) - x2), x3 + 0.05, x3 + 50)
    np.testing.assert_allclose(new.lower_asymptote, low, rtol=1e-14)
    np.testing.assert_allclose(new.upper_asymptote, upp, rtol=1e-14)
    assert int(new.iteration) == 3
    # a move limit of 0.1 (upper - lower) = 0.5 binds
    assert np.max(np.abs(np.asarray(x4) - x3)) <= 0.5 + 1e-12
    alpha = np.maximum(np.maximum(lower, low + 0.1 * (x3 - low)), x3 - 0.5)
    beta = np.minimum(np.minimum(upper, upp - 0.1 * (upp - x3)), x3 + 0.5)
    assert np.all((alpha <= x4) & (x4 <= beta))


def _first_subproblem(x, alpha, beta):
    """SLSQP on MMA's first approximations of the toy problem (asymptotes x ∓ 2.5)."""
    low, upp = x - 2.5, x + 2.5
    gradients = np.concatenate([(2 * x)[None], 2 * (x - _CENTRES)])
    values = np.concatenate([[x @ x], np.sum((x - _CENTRES) ** 2, axis=1) - 9])
    plus, minus, regular = np.maximum(gradients, 0), np.maximum(-gradients, 0), 1e-5 / 5
    p = (upp - x) ** 2 * (1.001 * plus + 0.001 * minus + regular)
    q = (x - low) ** 2 * (0.001 * plus + 1.001 * minus + regular)
    r = values - p @ (1 / (upp - x)) - q @ (1 / (x - low))

    def approx(y):
        return p @ (1 / (upp - y)) + q @ (1 / (y - low)) + r

    def approx_gradient(y):
        return p / (upp - y) ** 2 - q / (y - low) ** 2

    return slsqp(
        lambda y: approx(y)[0],
        lambda y: approx_gradient(y)[0],
        lambda y: approx(y)[1:],
        lambda y: approx_gradient(y)[1:],
        0.5 * (alpha + beta),
        alpha,
        beta,
    )


def test_bad_arguments_raise_before_compiling():
    x = jnp.array([4.0, 3.0, 2.0])
    gradient, g, jacobian = 2 * x, jnp.array([1.0, 2.0]), jnp.ones((2, 3))
    state = mma_init(x)
    cases = [
        (dict(objective_gradient=jnp.ones(4)), "objective_gradient"),
        (dict(constraint_gradients=jnp.ones((2, 4))), "constraint_gradients"),
        (dict(constraint_gradients=jnp.ones((3, 3))), "constraint_gradients"),
        (dict(constraints=jnp.ones(0)), "constraints"),
        (dict(state=mma_init(jnp.ones(4))), "state.previous"),
        (dict(lower=jnp.zeros(4)), "lower"),
        (dict(lower=5.0, upper=5.0), "lower must be less than upper"),
        (dict(lower=jnp.array([0.0, 6.0, 0.0])), "lower must be less than upper"),
        (dict(upper=3.5), "design must lie within"),
        (dict(move=0.0), "move"),
        (dict(move=1.5), "move"),
        (dict(asymptote_init=0.0), "asymptote_init"),
        (dict(asymptote_increase=0.9), "asymptote_increase"),
        (dict(asymptote_decrease=1.5), "asymptote_decrease"),
        (dict(c=-1.0), "c must be positive"),
        (dict(c=jnp.ones(3)), "c must be"),
        (dict(subproblem_tol=1.0), "subproblem_tol"),
        (dict(max_subproblem_steps=0), "max_subproblem_steps"),
    ]
    defaults = dict(
        state=state,
        design=x,
        objective_gradient=gradient,
        constraints=g,
        constraint_gradients=jacobian,
        lower=0.0,
        upper=5.0,
    )
    with count_compiles() as compiles:
        for change, match in cases:
            arguments = defaults | change
            positional = [arguments.pop(k) for k in list(defaults)[:5]]
            with pytest.raises(ValueError, match=match):
                mma_update(*positional, **arguments)
        driver_cases = [
            (dict(x0=jnp.array([6.0, 3.0, 2.0])), "x0 must lie within"),
            (dict(objective=lambda x: x**2), "objective must return a scalar"),
            (dict(constraints=lambda x: jnp.sum(x)), "constraints must return a vector"),
            (dict(max_iterations=0), "max_iterations"),
            (dict(tol=-1.0), "tol"),
            (dict(lower=6.0, upper=5.0), "lower must be less than upper"),
            (dict(move=2.0), "move"),
            (dict(c=0.0), "c must be positive"),
        ]
        for change, match in driver_cases:
            arguments = dict(
                objective=toy_objective, constraints=toy_constraints, x0=x, lower=0.0, upper=5.0
            )
            arguments |= change
            with pytest.raises(ValueError, match=match):
                minimise_mma(**arguments)
    assert not [name for name in compiles.names if "mma" in name or "minimise" in name]


_TRACES = []


class _Guarded(eqx.Module):
    """The toy objective, made NaN where ``x₀ < threshold``; counts its traces."""

    threshold: jax.Array

    def __call__(self, x):
        _TRACES.append(None)
        return toy_objective(x) + 0.0 * jnp.sqrt(x[0] - self.threshold)


def test_float32_and_a_single_compilation():
    _TRACES.clear()
    x0 = jnp.array([4.0, 3.0, 2.0])
    objective = _Guarded(jnp.asarray(-1.0))
    result = minimise_mma(objective, toy_constraints, x0, lower=0.0, upper=5.0, tol=1e-4)
    assert result.design.dtype == jnp.float32
    assert result.converged and result.iterations > 5  # 7 measured
    np.testing.assert_allclose(result.design, toy_slsqp([4.0, 3.0, 2.0]), atol=1e-4)
    assert len(_TRACES) == 2  # jax.eval_shape for the checks, then one jit trace for all

    # mma_update: new values of the same shapes compile nothing.
    def update(state, x):
        return mma_update(
            state,
            x,
            2 * x,
            toy_constraints(x),
            jax.jacrev(toy_constraints)(x),
            lower=0.0,
            upper=5.0,
        )

    y, state = update(mma_init(x0), x0)
    assert y.dtype == state.lower_asymptote.dtype == jnp.float32
    assert isinstance(state, MMAState) and state.iteration.dtype == jnp.int32
    z, later = update(state, y)
    assert_no_recompile(update, (mma_init(x0), x0), (state, y), (later, z))


def test_non_finite_objective_names_the_iteration():
    # NaN once x₀ < 3.5, which the second iterate reaches (x₀ ≈ 2.39); the same shapes,
    # dtype and functions as the float32 test, so nothing new compiles.
    objective = _Guarded(jnp.asarray(3.5))
    with pytest.raises(FloatingPointError, match="at iteration 2"):
        minimise_mma(objective, toy_constraints, jnp.array([4.0, 3.0, 2.0]), lower=0.0, upper=5.0)
