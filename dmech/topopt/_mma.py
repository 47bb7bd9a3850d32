"""The Method of Moving Asymptotes (MMA) for several inequality constraints.

Svanberg's MMA in pure JAX: each update builds a convex, separable approximation of the
problem around the current design, with moving asymptotes ``L < x < U``, and solves it
with a primal-dual interior-point method whose Newton systems are diagonal in the design
variables and dense only in the ``m`` constraints.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, ArrayLike, Float, Int, ScalarLike

# Constants of Svanberg's (2007) mmasub and subsolv.
_ALBEFA = 0.1  # the subproblem's bounds stay this fraction of the way in from the asymptotes
_RAA0 = 1e-5  # regularisation of p and q, relative to the width of the box
_ASYMPTOTE_NEAREST = 0.01  # |x - L| and |U - x| lie in [0.01, 10] times the box width
_ASYMPTOTE_FARTHEST = 10.0
_MAX_HALVINGS = 50  # step halvings in the interior point line search
_ROUNDING = 10.0  # a residual entry within 10 ε_machine of its terms' size is converged


class MMAState(eqx.Module):
    """The memory of MMA between updates: the last two designs and the asymptotes.

    Every field is an array, so the state traces through ``jax.jit`` without recompiling
    from one update to the next, and can be saved and restored.

    Attributes:
        previous: the design passed to the last update ``x⁽ᵏ⁻¹⁾``, shape ``(n,)``.
        before_previous: the design passed to the one before ``x⁽ᵏ⁻²⁾``, shape ``(n,)``.
        lower_asymptote: the lower asymptotes ``L⁽ᵏ⁻¹⁾`` of the last update, shape ``(n,)``.
        upper_asymptote: the upper asymptotes ``U⁽ᵏ⁻¹⁾`` of the last update, shape ``(n,)``.
        iteration: the number of updates done, an int32 scalar.
    """

    previous: Float[Array, " n"]
    before_previous: Float[Array, " n"]
    lower_asymptote: Float[Array, " n"]
    upper_asymptote: Float[Array, " n"]
    iteration: Int[Array, ""]


class MMAResult(eqx.Module):
    """The outcome of :func:`minimise_mma`.

    Attributes:
        design: the final design, shape ``(n,)``.
        objective: the objective at the design of each iteration, shape ``(k,)``.
        constraint_violation: ``max_i max(gᵢ, 0)`` at the design of each iteration,
            shape ``(k,)``.
        change: the largest change of a design variable in each iteration, shape ``(k,)``.
        iterations: ``k``.
        converged: whether the change fell to the tolerance within the iteration budget
            (this says nothing of feasibility: read ``constraint_violation``; an
            infeasible limit means the constraints cannot be met, or that ``c`` is smaller
            than their Lagrange multipliers).
    """

    design: Array
    objective: np.ndarray
    constraint_violation: np.ndarray
    change: np.ndarray
    iterations: int
    converged: bool


def mma_init(design: Float[ArrayLike, " n"]) -> MMAState:
    """The state of MMA before its first update.

    The asymptotes are placeholders: the first two updates set them from the box
    (``L = x - asymptote_init (upper - lower)``), whatever the state holds.

    Args:
        design: the initial design ``x⁽¹⁾``, shape ``(n,)``.

    Returns:
        An :class:`MMAState` with ``iteration`` zero.
    """
    design = _as_design(design, "design")
    return MMAState(
        previous=design,
        before_previous=design,
        lower_asymptote=design,
        upper_asymptote=design,
        iteration=jnp.zeros((), jnp.int32),
    )


def mma_update(
    state: MMAState,
    design: Float[ArrayLike, " n"],
    objective_gradient: Float[ArrayLike, " _n"],
    constraints: Float[ArrayLike, " _m"],
    constraint_gradients: Float[ArrayLike, "_m _n"],
    *,
    lower: ScalarLike | Float[ArrayLike, " _n"] = 0.0,
    upper: ScalarLike | Float[ArrayLike, " _n"] = 1.0,
    move: float = 0.5,
    asymptote_init: float = 0.5,
    asymptote_increase: float = 1.2,
    asymptote_decrease: float = 0.7,
    c: ScalarLike | Float[ArrayLike, " _m"] = 1000.0,
    subproblem_tol: float = 1e-7,
    max_subproblem_steps: int = 200,
) -> tuple[Float[Array, " n"], MMAState]:
    r"""One update of the Method of Moving Asymptotes.

    For ``min f₀(x)`` subject to ``gᵢ(x) ≤ 0`` (``i = 1..m``) and ``lower ≤ x ≤ upper``,
    MMA solves Svanberg's (2007) subproblem around the current design ``xᵏ``

        min  Σⱼ (p₀ⱼ/(Uⱼ - xⱼ) + q₀ⱼ/(xⱼ - Lⱼ)) + z + Σᵢ (cᵢ yᵢ + ½ yᵢ²)
        s.t. Σⱼ (pᵢⱼ/(Uⱼ - xⱼ) + qᵢⱼ/(xⱼ - Lⱼ)) - bᵢ - yᵢ ≤ 0,   αⱼ ≤ xⱼ ≤ βⱼ,  y ≥ 0,  z ≥ 0,

    with ``pᵢⱼ = (Uⱼ - xⱼᵏ)² (1.001 (∂gᵢ/∂xⱼ)⁺ + 0.001 (∂gᵢ/∂xⱼ)⁻ + 10⁻⁵/(upperⱼ - lowerⱼ))``,
    ``qᵢⱼ`` the same with ``(xⱼᵏ - Lⱼ)²`` and the roles of ``⁺`` and ``⁻`` swapped, and
    ``bᵢ`` such that the approximation equals ``gᵢ(xᵏ)`` at ``xᵏ``. It is convex and
    first-order exact at ``xᵏ``. The artificial variables ``yᵢ`` (cost ``cᵢ``) keep it
    feasible when the constraints are not; for large ``c`` they vanish at a feasible
    optimum. The asymptotes start at ``xᵏ ∓ asymptote_init (upper - lower)`` in the first
    two updates; then each moves away from ``xᵏ`` by ``asymptote_increase`` where the
    variable kept its direction and towards it by ``asymptote_decrease`` where it
    oscillated, staying within ``[0.01, 10] (upper - lower)`` of ``xᵏ``. The move limits
    are ``αⱼ = max(lowerⱼ, Lⱼ + 0.1 (xⱼᵏ - Lⱼ), xⱼᵏ - move (upperⱼ - lowerⱼ))`` and
    the mirror image for ``βⱼ``.

    The subproblem is solved by a primal-dual interior-point method on its relaxed KKT
    conditions (complementarity ``= ε``, with ``ε = 1, 0.1, ...`` down to
    ``subproblem_tol``), with Newton steps that eliminate the design variables (their
    block is diagonal) and solve an ``m × m`` dense system for the multipliers, a fraction-to-the-
    boundary rule and a halving line search on the residual norm. Memory and time are
    ``O(m n)``; everything runs in bounded ``lax.while_loop``\ s, so the update jit-compiles
    (this function calls a jit-compiled kernel; it may itself be called under ``jax.jit``).

    Args:
        state: the :class:`MMAState` from :func:`mma_init` or the last update.
        design: the current design ``xᵏ``, shape ``(n,)``, within ``[lower, upper]``.
        objective_gradient: ``∇f₀(xᵏ)``, shape ``(n,)``.
        constraints: ``g(xᵏ)``, shape ``(m,)``; feasible where ``≤ 0``.
        constraint_gradients: the Jacobian ``∂gᵢ/∂xⱼ`` at ``xᵏ``, shape ``(m, n)``.
        lower, upper: the bounds on the design, scalars or shape ``(n,)``, ``lower < upper``.
        move: the largest step as a fraction of ``upper - lower``, in ``(0, 1]``.
        asymptote_init: the initial distance of the asymptotes as a fraction of
            ``upper - lower``.
        asymptote_increase, asymptote_decrease: the factors (``≥ 1`` and in ``(0, 1]``)
            that widen and narrow the asymptotes.
        c: the costs of the artificial variables, a positive scalar or shape ``(m,)``. They
            must exceed the constraints' Lagrange multipliers at the optimum, or MMA settles
            on an infeasible design; Svanberg advises scaling the objective to about
            ``[1, 100]`` and the constraints to order one, which keeps ``1000`` enough.
        subproblem_tol: the smallest ``ε`` of the interior-point method. Each ``ε`` ends
            when every residual entry is within ``0.9 ε``, or within its round-off floor
            (``10 ε_machine`` times the size of its terms, ``√n`` times more for sums
            over the design), where float32 stops.
        max_subproblem_steps: the most Newton steps for each ``ε``.

    Returns:
        ``(new_design, new_state)``: ``xᵏ⁺¹``, shape ``(n,)``, within the move limits and
        the bounds, and the state for the next update.

    Raises:
        ValueError: naming the argument whose shape or value is wrong (values are checked
            only where they are concrete, that is not under ``jax.jit``).

    Example:
        >>> import jax.numpy as jnp
        >>> x = jnp.array([0.5, 0.5])
        >>> state = mma_init(x)
        >>> # min x₁ + x₂ subject to 0.5 - x₁ x₂ ≤ 0 on [0.1, 1]²
        >>> g = jnp.array([0.5 - x[0] * x[1]])
        >>> x, state = mma_update(state, x, jnp.ones(2), g, -x[::-1][None], lower=0.1)

    References:
        Svanberg (1987), The method of moving asymptotes: a new method for structural
        optimization, Int. J. Numer. Meth. Engng 24, 359-373;
        Svanberg (2007), MMA and GCMMA: two methods for nonlinear optimization, KTH
        (sections 2-5: the subproblem, the asymptotes and the interior-point solver).
    """
    design = _as_design(design, "design")
    dtype = design.dtype
    n = design.shape[0]
    objective_gradient = _as_float(objective_gradient, "objective_gradient", dtype)
    if objective_gradient.shape != (n,):
        raise ValueError(
            f"objective_gradient must have the shape of design {(n,)}, "
            f"got {objective_gradient.shape}"
        )
    constraints = _as_float(constraints, "constraints", dtype)
    if constraints.ndim != 1 or constraints.shape[0] == 0:
        raise ValueError(f"constraints must have shape (m,) with m >= 1, got {constraints.shape}")
    m = constraints.shape[0]
    constraint_gradients = _as_float(constraint_gradients, "constraint_gradients", dtype)
    if constraint_gradients.shape != (m, n):
        raise ValueError(
            f"constraint_gradients must have shape (m, n) = {(m, n)}, "
            f"got {constraint_gradients.shape}"
        )
    if not isinstance(state, MMAState):
        raise ValueError(f"state must be an MMAState (from mma_init), got {type(state)}")
    for name in ("previous", "before_previous", "lower_asymptote", "upper_asymptote"):
        if jnp.shape(getattr(state, name)) != (n,):
            raise ValueError(
                f"state.{name} must have the shape of design {(n,)}, "
                f"got {jnp.shape(getattr(state, name))}"
            )
    lower, upper = _bounds(lower, upper, design)
    c = _costs(c, m, dtype)
    _check_parameters(move, asymptote_init, asymptote_increase, asymptote_decrease)
    levels = _levels(subproblem_tol)
    if not isinstance(max_subproblem_steps, int) or max_subproblem_steps < 1:
        raise ValueError(f"max_subproblem_steps must be a positive int, got {max_subproblem_steps}")
    state = MMAState(
        previous=_as_float(state.previous, "state.previous", dtype),
        before_previous=_as_float(state.before_previous, "state.before_previous", dtype),
        lower_asymptote=_as_float(state.lower_asymptote, "state.lower_asymptote", dtype),
        upper_asymptote=_as_float(state.upper_asymptote, "state.upper_asymptote", dtype),
        iteration=jnp.asarray(state.iteration, jnp.int32),
    )
    params = _parameters(move, asymptote_init, asymptote_increase, asymptote_decrease, dtype)
    new_design, new_state, _ = _mma_kernel(
        state,
        design,
        objective_gradient,
        constraints,
        constraint_gradients,
        lower,
        upper,
        params,
        c,
        levels,
        max_subproblem_steps,
    )
    return new_design, new_state


def minimise_mma(
    objective: Callable[[Array], Array],
    constraints: Callable[[Array], Array],
    x0: Float[ArrayLike, " n"],
    *,
    lower: ScalarLike | Float[ArrayLike, " _n"],
    upper: ScalarLike | Float[ArrayLike, " _n"],
    max_iterations: int = 200,
    tol: float = 1e-6,
    move: float = 0.5,
    c: ScalarLike | Float[ArrayLike, " _m"] = 1000.0,
    callback: Callable[[int, dict], None] | None = None,
) -> MMAResult:
    r"""Minimise ``objective(x)`` subject to ``constraints(x) ≤ 0`` and bounds, by MMA.

    Each iteration is one jit-compiled call: the objective and its gradient by
    ``jax.value_and_grad``, the constraints and their Jacobian by ``jax.jacrev`` (``m``
    reverse passes, cheap for few constraints and many variables), and one
    :func:`mma_update`. It stops when the largest change of a design variable is at most
    ``tol`` or after ``max_iterations``. Arguments are checked before anything compiles
    (the output shapes by ``jax.eval_shape``).

    Args:
        objective: ``x -> f₀``, a differentiable scalar (pass an equinox Module to have its
            arrays traced, so new values do not recompile).
        constraints: ``x -> g``, a differentiable vector of shape ``(m,)``, ``m ≥ 1``;
            feasible where ``g ≤ 0``.
        x0: the initial design, shape ``(n,)``, within ``[lower, upper]``; its dtype is the
            dtype of the computation.
        lower, upper: the bounds, scalars or shape ``(n,)``.
        max_iterations, tol: the iteration budget and the stopping tolerance on
            ``max |xᵏ⁺¹ - xᵏ|``.
        move: the MMA move limit as a fraction of ``upper - lower``, in ``(0, 1]``.
        c: the costs of the artificial variables (see :func:`mma_update`).
        callback: called after every iteration with ``(iteration, figures)``
            (``objective``, ``constraint_violation``, ``change``, ``subproblem_steps``, all
            at the design the iteration started from).

    Returns:
        An :class:`MMAResult`.

    Raises:
        ValueError: for bad arguments, before anything is compiled.
        FloatingPointError: if the objective, the constraints or their gradients are not
            finite, naming the iteration.

    Example:
        >>> import jax.numpy as jnp
        >>> result = minimise_mma(
        ...     lambda x: jnp.sum(x**2),
        ...     lambda x: jnp.array([1.0 - x[0] - x[1]]),
        ...     jnp.array([0.9, 0.9]),
        ...     lower=0.0,
        ...     upper=1.0,
        ... )
        >>> bool(result.converged)  # x ≈ (0.5, 0.5)
        True

    References:
        Svanberg (2007), MMA and GCMMA: two methods for nonlinear optimization, KTH.
    """
    x0 = _as_design(x0, "x0")
    dtype = x0.dtype
    if not isinstance(max_iterations, int) or max_iterations < 1:
        raise ValueError(f"max_iterations must be a positive int, got {max_iterations}")
    if not tol >= 0:
        raise ValueError(f"tol must be non-negative, got {tol}")
    if not callable(objective):
        raise ValueError(f"objective must be callable, got {type(objective)}")
    if not callable(constraints):
        raise ValueError(f"constraints must be callable, got {type(constraints)}")
    objective_shape = jax.eval_shape(objective, x0)
    if jnp.shape(objective_shape) != ():
        raise ValueError(f"objective must return a scalar, got shape {jnp.shape(objective_shape)}")
    constraint_shape = jnp.shape(jax.eval_shape(constraints, x0))
    if len(constraint_shape) != 1 or constraint_shape[0] == 0:
        raise ValueError(
            f"constraints must return a vector of shape (m,) with m >= 1, got {constraint_shape}"
        )
    m = constraint_shape[0]
    lower, upper = _bounds(lower, upper, x0, design_name="x0")
    c = _costs(c, m, dtype)
    _check_parameters(move, 0.5, 1.2, 0.7)
    params = _parameters(move, 0.5, 1.2, 0.7, dtype)
    levels = _levels(1e-7)

    design = x0
    state = mma_init(design)
    history: dict[str, list[float]] = {"objective": [], "constraint_violation": [], "change": []}
    converged = False
    for iteration in range(1, max_iterations + 1):
        new_design, state, figures, finite = _minimise_step(
            objective, constraints, design, state, lower, upper, params, c, levels, 200
        )
        if not bool(finite):
            raise FloatingPointError(
                "minimise_mma: the objective, the constraints or their gradients are not "
                f"finite at iteration {iteration} (objective {float(figures['objective'])})"
            )
        design = new_design
        figures = {k: float(v) for k, v in figures.items()}
        for key in history:
            history[key].append(figures[key])
        if callback is not None:
            callback(iteration, figures)
        if figures["change"] <= tol:
            converged = True
            break
    return MMAResult(
        design=design,
        objective=np.asarray(history["objective"]),
        constraint_violation=np.asarray(history["constraint_violation"]),
        change=np.asarray(history["change"]),
        iterations=len(history["objective"]),
        converged=converged,
    )


# --- argument checks -------------------------------------------------------------------------


def _as_design(design, name) -> Array:
    design = jnp.asarray(design)
    if not jnp.issubdtype(design.dtype, jnp.floating):
        raise ValueError(f"{name} must be a floating-point array, got dtype {design.dtype}")
    if design.ndim != 1 or design.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n,) with n >= 1, got {design.shape}")
    return jnp.asarray(design, design.dtype)  # not weakly typed: one compilation for all


def _as_float(value, name, dtype) -> Array:
    value = jnp.asarray(value)
    if not jnp.issubdtype(value.dtype, jnp.floating):
        raise ValueError(f"{name} must be a floating-point array, got dtype {value.dtype}")
    return value.astype(dtype)


def _concrete(condition) -> bool | None:
    """``bool(all(condition))``, or ``None`` under tracing where the value is unknown."""
    try:
        return bool(jnp.all(condition))
    except jax.errors.ConcretizationTypeError:
        return None


def _bounds(lower, upper, design, design_name="design"):
    (n,) = design.shape
    out = []
    for name, bound in (("lower", lower), ("upper", upper)):
        bound = _as_float(bound, name, design.dtype)
        if bound.shape not in ((), (n,)):
            raise ValueError(f"{name} must be a scalar or have shape {(n,)}, got {bound.shape}")
        out.append(jnp.broadcast_to(bound, (n,)))
    lower, upper = out
    if _concrete(lower < upper) is False:
        raise ValueError("lower must be less than upper for every variable")
    if _concrete((design >= lower) & (design <= upper)) is False:
        raise ValueError(f"{design_name} must lie within [lower, upper]")
    return lower, upper


def _costs(c, m, dtype):
    c = _as_float(c, "c", dtype)
    if c.shape not in ((), (m,)):
        raise ValueError(f"c must be a scalar or have shape {(m,)}, got {c.shape}")
    if _concrete(c > 0) is False:
        raise ValueError("c must be positive")
    return jnp.broadcast_to(c, (m,))


def _check_parameters(move, asymptote_init, asymptote_increase, asymptote_decrease):
    if not 0 < move <= 1:
        raise ValueError(f"move must lie in (0, 1], got {move}")
    if not 0 < asymptote_init <= _ASYMPTOTE_FARTHEST:
        raise ValueError(f"asymptote_init must lie in (0, 10], got {asymptote_init}")
    if not asymptote_increase >= 1:
        raise ValueError(f"asymptote_increase must be at least 1, got {asymptote_increase}")
    if not 0 < asymptote_decrease <= 1:
        raise ValueError(f"asymptote_decrease must lie in (0, 1], got {asymptote_decrease}")


def _parameters(move, asymptote_init, asymptote_increase, asymptote_decrease, dtype):
    # Arrays, not Python floats: new values do not recompile the kernel.
    return tuple(
        jnp.asarray(v, dtype)
        for v in (move, asymptote_init, asymptote_increase, asymptote_decrease)
    )


def _levels(subproblem_tol) -> int:
    """The number of barrier parameters ``ε = 1, 0.1, ...`` down to ``subproblem_tol``."""
    if not 0 < subproblem_tol < 1:
        raise ValueError(f"subproblem_tol must lie in (0, 1), got {subproblem_tol}")
    return math.ceil(-math.log10(subproblem_tol) - 1e-9) + 1


# --- the update --------------------------------------------------------------------------


@eqx.filter_jit
def _minimise_step(objective, constraints, x, state, lower, upper, params, c, levels, steps):
    value, gradient = jax.value_and_grad(objective)(x)

    def with_value(y):
        g = constraints(y)
        return g, g

    jacobian, g = jax.jacrev(with_value, has_aux=True)(x)
    g = g.astype(x.dtype)
    jacobian = jacobian.astype(x.dtype)
    new, state, subproblem_steps = _mma_kernel(
        state, x, gradient, g, jacobian, lower, upper, params, c, levels, steps
    )
    finite = (
        jnp.isfinite(value)
        & jnp.all(jnp.isfinite(gradient))
        & jnp.all(jnp.isfinite(g))
        & jnp.all(jnp.isfinite(jacobian))
    )
    figures = {
        "objective": value,
        "constraint_violation": jnp.max(jnp.maximum(g, 0.0)),
        "change": jnp.max(jnp.abs(new - x)),
        "subproblem_steps": subproblem_steps,
    }
    return new, state, figures, finite


@eqx.filter_jit
def _mma_kernel(state, x, df0, fval, dfdx, lower, upper, params, c, levels, max_steps):
    move, asy_init, asy_incr, asy_decr = params
    width = jnp.maximum(upper - lower, 1e-5)

    # The asymptotes: from the box in the first two updates, then adapted to the history.
    first_low = x - asy_init * width
    first_upp = x + asy_init * width
    trend = (x - state.previous) * (state.previous - state.before_previous)
    factor = jnp.where(trend > 0, asy_incr, jnp.where(trend < 0, asy_decr, 1.0))
    low = x - factor * (state.previous - state.lower_asymptote)
    upp = x + factor * (state.upper_asymptote - state.previous)
    low = jnp.clip(low, x - _ASYMPTOTE_FARTHEST * width, x - _ASYMPTOTE_NEAREST * width)
    upp = jnp.clip(upp, x + _ASYMPTOTE_NEAREST * width, x + _ASYMPTOTE_FARTHEST * width)
    early = state.iteration < 2
    low = jnp.where(early, first_low, low)
    upp = jnp.where(early, first_upp, upp)

    # The subproblem's box: within the bounds, the move limit, and away from the asymptotes.
    alpha = jnp.maximum(jnp.maximum(lower, low + _ALBEFA * (x - low)), x - move * width)
    beta = jnp.minimum(jnp.minimum(upper, upp - _ALBEFA * (upp - x)), x + move * width)

    # The convex separable approximations, exact to first order at x.
    upp_x = upp - x
    x_low = x - low
    # Rows: the objective, then the constraints; shape (1 + m, n).
    gradients = jnp.concatenate([df0[None, :], dfdx])
    positive = jnp.maximum(gradients, 0.0)
    negative = jnp.maximum(-gradients, 0.0)
    regular = (_RAA0 / width)[None, :]
    p_all = (upp_x**2)[None, :] * (1.001 * positive + 0.001 * negative + regular)
    q_all = (x_low**2)[None, :] * (0.001 * positive + 1.001 * negative + regular)
    p0, p = p_all[0], p_all[1:]
    q0, q = q_all[0], q_all[1:]
    b = p @ (1 / upp_x) + q @ (1 / x_low) - fval

    solution, steps = _solve_subproblem(
        p0, q0, p, q, b, low, upp, alpha, beta, c, levels=levels, max_steps=max_steps
    )
    new = jnp.clip(solution, alpha, beta)
    new_state = MMAState(
        previous=x,
        before_previous=state.previous,
        lower_asymptote=low,
        upper_asymptote=upp,
        iteration=state.iteration + 1,
    )
    return new, new_state, steps


# --- the interior-point subproblem solver ---------------------------------------------------


class _Point(eqx.Module):
    """Primal and dual variables of the subproblem (Svanberg 2007, section 5).

    ``x`` (n), ``y`` (m), ``z`` (scalar): the primal variables; ``lam`` (m): multipliers of
    the constraints; ``xsi``, ``eta`` (n): of ``x ≥ α`` and ``x ≤ β``; ``mu`` (m): of
    ``y ≥ 0``; ``zet`` (scalar): of ``z ≥ 0``; ``s`` (m): the constraints' slacks.
    """

    x: Array
    y: Array
    z: Array
    lam: Array
    xsi: Array
    eta: Array
    mu: Array
    zet: Array
    s: Array


_POSITIVE = ("y", "z", "lam", "xsi", "eta", "mu", "zet", "s")


def _solve_subproblem(p0, q0, p, q, b, low, upp, alpha, beta, c, *, levels, max_steps):
    r"""Solve the MMA subproblem (with ``a₀ = 1``, ``aᵢ = 0``, ``dᵢ = 1``) for its ``x``.

    The KKT conditions with complementarity relaxed to ``ε``:

        ∂ψ/∂x - ξ + η = 0,  c + d y - λ - μ = 0,  a₀ - ζ - aᵀλ = 0,
        g(x) - a z - y + s - b = 0,
        ξ (x - α) = ε,  η (β - x) = ε,  μ y = ε,  ζ z = ε,  λ s = ε,

    where ``ψ(x, λ) = Σⱼ (p₀ⱼ + λᵀpⱼ)/(Uⱼ - xⱼ) + (q₀ⱼ + λᵀqⱼ)/(xⱼ - Lⱼ)``. Each Newton
    step eliminates ``ξ, η, μ, ζ, s``, then ``x`` (diagonal block ``Dₓ``) and ``y``, and
    solves for ``(Δλ, Δz)`` with the matrix ``[[G Dₓ⁻¹ Gᵀ + D_λ, a], [aᵀ, -ζ/z]]``, where
    ``G = ∂g/∂x`` (``m × n``), by eliminating ``Δz`` too: an ``m × m`` positive definite
    system.
    """
    dtype = p0.dtype
    m = b.shape[0]
    a0 = 1.0
    a = jnp.zeros((m,), dtype)
    d = jnp.ones((m,), dtype)
    epsilons = jnp.asarray([10.0**-k for k in range(levels)], dtype)
    floor = _ROUNDING * float(jnp.finfo(dtype).eps)
    sqrt_n = math.sqrt(p0.shape[0])

    def parts(w):
        upp_x = upp - w.x
        x_low = w.x - low
        plam = p0 + w.lam @ p
        qlam = q0 + w.lam @ q
        return upp_x, x_low, plam, qlam

    def residual(w, eps):
        """The 2-norm and the largest entry of the residual above its round-off floor."""
        upp_x, x_low, plam, qlam = parts(w)
        g_upper = p @ (1 / upp_x)
        g_lower = q @ (1 / x_low)
        psi_upper = plam / upp_x**2
        psi_lower = qlam / x_low**2
        x_alpha = w.x - alpha
        beta_x = beta - w.x
        blocks = (
            psi_upper - psi_lower - w.xsi + w.eta,
            c + d * w.y - w.lam - w.mu,
            a0 - w.zet - a @ w.lam,
            g_upper + g_lower - a * w.z - w.y + w.s - b,
            w.xsi * x_alpha - eps,
            w.eta * beta_x - eps,
            w.mu * w.y - eps,
            w.zet * w.z - eps,
            w.lam * w.s - eps,
        )
        # The size of the terms of each entry: rounding leaves about ε_machine times it
        # (√n times, for the sums over the design), which no Newton step can remove. It
        # matters in float32, and for large n.
        sizes = (
            psi_upper + psi_lower + w.xsi + w.eta,
            c + d * w.y + w.lam + w.mu,
            a0 + w.zet + jnp.abs(a) @ w.lam,
            (g_upper + g_lower + jnp.abs(a) * w.z + w.y + w.s + jnp.abs(b)) * sqrt_n,
            w.xsi * (jnp.abs(w.x) + jnp.abs(alpha)),
            w.eta * (jnp.abs(beta) + jnp.abs(w.x)),
            w.mu * w.y,
            w.zet * w.z,
            w.lam * w.s,
        )
        # One vector, few reductions: much faster to compile than reductions per block.
        r = jnp.concatenate([jnp.atleast_1d(block) for block in blocks])
        size = jnp.concatenate([jnp.atleast_1d(block) for block in sizes])
        excess = jnp.maximum(jnp.abs(r) - floor * size, 0.0)
        return jnp.sqrt(jnp.sum(excess**2)), jnp.max(excess)

    def direction(w, eps):
        upp_x, x_low, plam, qlam = parts(w)
        x_alpha = w.x - alpha
        beta_x = beta - w.x
        g = p @ (1 / upp_x) + q @ (1 / x_low)
        jac = p / (upp_x**2)[None, :] - q / (x_low**2)[None, :]
        delx = plam / upp_x**2 - qlam / x_low**2 - eps / x_alpha + eps / beta_x
        dely = c + d * w.y - w.lam - eps / w.y
        delz = a0 - a @ w.lam - eps / w.z
        dellam = g - a * w.z - w.y - b + eps / w.lam
        diagx = 2 * plam / upp_x**3 + 2 * qlam / x_low**3 + w.xsi / x_alpha + w.eta / beta_x
        diagy = d + w.mu / w.y
        diaglamyi = w.s / w.lam + 1 / diagy
        blam = dellam + dely / diagy - jac @ (delx / diagx)
        # (Δλ, Δz) from [[A_λ, a], [aᵀ, -ζ/z]] [Δλ; Δz] = [b_λ; δz], with Δz eliminated:
        # (A_λ + (z/ζ) a aᵀ) Δλ = b_λ + (z/ζ) δz a, an m × m positive definite system.
        ratio = w.z / w.zet
        alam = jnp.diag(diaglamyi) + (jac / diagx[None, :]) @ jac.T
        dlam = jnp.linalg.solve(alam + ratio * a[:, None] * a[None, :], blam + ratio * delz * a)
        dz = ratio * (a @ dlam - delz)
        dx = -(delx + dlam @ jac) / diagx
        dy = (dlam - dely) / diagy
        return _Point(
            x=dx,
            y=dy,
            z=dz,
            lam=dlam,
            xsi=-w.xsi + (eps - w.xsi * dx) / x_alpha,
            eta=-w.eta + (eps + w.eta * dx) / beta_x,
            mu=-w.mu + (eps - w.mu * dy) / w.y,
            zet=-w.zet + (eps - w.zet * dz) / w.z,
            s=-w.s + (eps - w.s * dlam) / w.lam,
        )

    def longest_step(w, dw):
        # Fraction to the boundary: stay 1/1.01 of the way to zero or to the box.
        ratios = [-getattr(dw, f) / getattr(w, f) for f in _POSITIVE]
        ratios += [-dw.x / (w.x - alpha), dw.x / (beta - w.x)]
        largest = 1.01 * jnp.max(jnp.concatenate([jnp.atleast_1d(r) for r in ratios]))
        return 1 / jnp.maximum(largest, 1.0)

    def newton_step(carry):
        w, norm, largest, steps, _, eps = carry
        dw = direction(w, eps)

        def moved(t):
            return jax.tree.map(lambda v, dv: v + t * dv, w, dw)

        def worse(search):
            _, k, trial_norm, _ = search
            return (trial_norm >= norm) & (k < _MAX_HALVINGS)

        def halve(search):
            t, k, _, _ = search
            return (t / 2, k + 1, *residual(moved(t / 2), eps))

        # Halve from the longest step until the residual norm decreases.
        infinite = jnp.asarray(jnp.inf, dtype)
        t0 = longest_step(w, dw)
        t, _, trial_norm, trial_largest = jax.lax.while_loop(
            worse, halve, (2 * t0, 0, infinite, infinite)
        )
        wt = moved(t)
        better = trial_norm < norm  # False also for NaN: keep the point and stop this ε
        w = jax.tree.map(lambda new, old: jnp.where(better, new, old), wt, w)
        norm = jnp.where(better, trial_norm, norm)
        largest = jnp.where(better, trial_largest, largest)
        return w, norm, largest, steps + 1, ~better, eps

    def unsolved(carry):
        _, _, largest, steps, stalled, eps = carry
        return (largest > 0.9 * eps) & (steps < max_steps) & ~stalled

    def level(k, carry):
        w, total = carry
        eps = epsilons[k]
        norm, largest = residual(w, eps)
        w, _, _, steps, _, _ = jax.lax.while_loop(
            unsolved, newton_step, (w, norm, largest, 0, jnp.asarray(False), eps)
        )
        return w, total + steps

    x = 0.5 * (alpha + beta)
    ones = jnp.ones((m,), dtype)
    one = jnp.ones((), dtype)
    start = _Point(
        x=x,
        y=ones,
        z=one,
        lam=ones,
        xsi=jnp.maximum(1 / (x - alpha), 1.0),
        eta=jnp.maximum(1 / (beta - x), 1.0),
        mu=jnp.maximum(0.5 * c, 1.0),
        zet=one,
        s=ones,
    )
    w, steps = jax.lax.fori_loop(0, levels, level, (start, 0))
    return w.x, steps
