"""Inverse problems through the pseudo-spectral Navier-Stokes solver: the initial vorticity
(data assimilation) and physical parameters from later, possibly sparse and noisy,
observations, by gradient-based optimisation of a misfit differentiated through the
rollout (reverse mode with checkpointing)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._custom_types import Array, ArrayLike, Float, PyTree
from ._rollout import rollout
from ._spectral_ns import SpectralNavierStokes2D, _spectral_arrays

__all__ = [
    "InverseResult",
    "initial_vorticity_loss",
    "parameter_loss",
    "recover_initial_vorticity",
    "recover_parameters",
]

PARAMETERS = ("viscosity", "drag", "forcing_amplitude")
_POSITIVE = ("viscosity", "drag")  # optimised as log(value)


class InverseResult(eqx.Module):
    """The outcome of :func:`recover_initial_vorticity` or :func:`recover_parameters`.

    Attributes:
        estimate: the recovered quantity: the initial vorticity at the grid points
            (shape ``grid.shape``, 1/s, as the solver holds it: dealiased, zero mean), or a
            dict of scalar arrays by parameter name.
        loss_history: the objective at every iterate, the initial guess first and the
            estimate last, shape ``(steps + 1,)``.
        misfit: the data misfit of the estimate (the objective without the regulariser),
            a scalar.
        steps: the number of optimiser iterations taken (static; fewer than asked when
            the tolerance stopped them).
    """

    estimate: PyTree
    loss_history: Float[Array, " iterations"]
    misfit: Float[Array, ""]
    steps: int = eqx.field(static=True)


# ---------------------------------------------------------------------------------------------
# Observations
# ---------------------------------------------------------------------------------------------


class _Observations(eqx.Module):
    """Observed fields, their weights and the solver steps they sit at."""

    values: Array  # (T, nx, ny)
    weights: Array  # (T, nx, ny), 0 where nothing is observed
    steps: tuple[int, ...] = eqx.field(static=True)
    every: int = eqx.field(static=True)


def _check_solver(solver: Any) -> SpectralNavierStokes2D:
    if not isinstance(solver, SpectralNavierStokes2D):
        raise TypeError(f"solver must be a SpectralNavierStokes2D, got {type(solver).__name__}")
    return solver


def _observation_steps(times: Any, dt: float) -> tuple[int, ...]:
    if any(isinstance(t, jax.core.Tracer) for t in jax.tree.leaves(times)):
        raise TypeError("times must be concrete numbers (seconds), not traced values")
    values = np.asarray(times, np.float64).reshape(-1)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"times must be a non-empty sequence of finite times, got {times!r}")
    steps = np.rint(values / dt).astype(np.int64)
    if np.any(steps < 0) or np.any(np.abs(steps * dt - values) > 1e-9 * np.maximum(1.0, values)):
        raise ValueError(
            f"times must be non-negative multiples of solver.dt = {dt:g} s, got {values.tolist()}"
        )
    if np.any(np.diff(steps) <= 0):
        raise ValueError(f"times must be strictly increasing, got {values.tolist()}")
    return tuple(int(s) for s in steps)


def _observations(
    solver: SpectralNavierStokes2D, observations: Any, times: Any, mask: Any
) -> _Observations:
    grid = solver.grid
    steps = _observation_steps(times, solver.dt)
    values = jnp.asarray(observations)
    expected = (len(steps), *grid.shape)
    if values.shape != expected:
        raise ValueError(
            f"observations must have shape {expected} (one field per time, at the grid "
            f"points), got shape {values.shape}"
        )
    if not jnp.issubdtype(values.dtype, jnp.floating):
        raise ValueError(f"observations must be real, got dtype {values.dtype}")
    values = values.astype(solver.dtype)
    if mask is None:
        weights = jnp.ones(expected, solver.dtype)
    else:
        weights = jnp.asarray(mask)
        if weights.shape == grid.shape:
            weights = jnp.broadcast_to(weights[None], expected)
        if weights.shape != expected:
            raise ValueError(
                f"mask must have shape {grid.shape} or {expected}, got shape {jnp.shape(mask)}"
            )
        weights = weights.astype(solver.dtype)
        if not isinstance(weights, jax.core.Tracer):
            concrete = np.asarray(weights)
            if np.any(concrete < 0) or not np.any(concrete > 0):
                raise ValueError("mask must be non-negative and observe at least one point")
    positive = [s for s in steps if s > 0]
    every = math.gcd(*positive) if positive else 1
    return _Observations(values=values, weights=weights, steps=steps, every=every)


def _predict(solver: SpectralNavierStokes2D, initial: Array, obs: _Observations) -> Array:
    """The solver's vorticity at the observation steps, shape ``(T, nx, ny)``."""
    state = solver.init(initial)
    total = max(obs.steps)
    trajectory = None
    if total > 0:
        trajectory = rollout(
            solver.step, state, total, every=obs.every, observe=solver.vorticity
        ).trajectory
    fields = [
        solver.vorticity(state) if s == 0 else trajectory[s // obs.every - 1]  # type: ignore[index]
        for s in obs.steps
    ]
    return jnp.stack(fields)


def _misfit(solver: SpectralNavierStokes2D, initial: Array, obs: _Observations) -> Array:
    r"""``½ Σ w (ω - d)² / Σ w d²``."""
    predicted = _predict(solver, initial, obs)
    residual = obs.weights * (predicted - obs.values) ** 2
    return 0.5 * jnp.sum(residual) / jnp.sum(obs.weights * obs.values**2)


def _smoothness(solver: SpectralNavierStokes2D, field: Array, order: float) -> Array:
    r"""``⟨|(-Δ)^{s/2} ω|²⟩`` by Parseval on the half spectrum."""
    arrays = _spectral_arrays(solver.grid)
    hat = jnp.fft.rfftn(field)
    weight = jnp.asarray(arrays["weight"] * arrays["k2"] ** order, field.dtype)
    return jnp.sum(weight * (jnp.real(hat) ** 2 + jnp.imag(hat) ** 2))


def _mean_square(obs: _Observations) -> Array:
    return jnp.sum(obs.weights * obs.values**2) / jnp.sum(obs.weights)


def _check_order(smoothness: float) -> float:
    if not (isinstance(smoothness, int | float) and math.isfinite(smoothness) and smoothness >= 0):
        raise ValueError(f"smoothness must be a non-negative float, got {smoothness!r}")
    return float(smoothness)


def _check_field(solver: SpectralNavierStokes2D, field: Any, name: str) -> Array:
    field = jnp.asarray(field)
    if field.shape != solver.grid.shape:
        raise ValueError(f"{name} must have shape {solver.grid.shape}, got shape {field.shape}")
    if not (jnp.issubdtype(field.dtype, jnp.floating) or jnp.issubdtype(field.dtype, jnp.integer)):
        raise ValueError(f"{name} must be real, got dtype {field.dtype}")
    return field.astype(solver.dtype)


def _regularisation_leaf(value: Any, dtype: Any) -> Array:
    array = jnp.asarray(value)
    if array.shape != ():
        raise ValueError(f"regularisation must be a scalar, got shape {array.shape}")
    if not isinstance(array, jax.core.Tracer) and not float(array) >= 0:
        raise ValueError(f"regularisation must be non-negative, got {float(array)}")
    return array.astype(dtype)


# ---------------------------------------------------------------------------------------------
# Objectives
# ---------------------------------------------------------------------------------------------


def initial_vorticity_loss(
    solver: SpectralNavierStokes2D,
    initial_vorticity: Float[ArrayLike, "..."],
    observations: Float[ArrayLike, "..."],
    times: Sequence[float] | Float[ArrayLike, "..."],
    *,
    mask: ArrayLike | None = None,
    regularisation: float | Float[ArrayLike, ""] = 0.0,
    smoothness: float = 1.0,
) -> Float[Array, ""]:
    r"""The data-assimilation objective of an initial vorticity field.

    With ``ω(t; ω₀)`` the solver's vorticity at the observation times ``t_i`` (rolled out
    by :func:`~dmech.cfd.rollout`, checkpointed between observations), observations
    ``d_i`` and weights ``w_i ≥ 0`` (the mask: 1 where a sensor sees the field),

    .. math:: J(ω_0) = \frac{1}{2} \frac{\sum_{i,x} w_i (ω(t_i, x) - d_i(x))^2}
       {\sum_{i,x} w_i d_i(x)^2} + \frac{λ}{2}
       \frac{⟨|(-Δ)^{s/2} ω_0|^2⟩}{⟨d^2⟩_w},

    a relative least-squares misfit plus a Tikhonov smoothness penalty (``s = 1``: the
    ``H¹`` seminorm ``⟨|∇ω₀|²⟩``; ``⟨·⟩`` the mean over the grid, ``⟨d²⟩_w`` the weighted
    mean square of the data), the variational data assimilation (4D-Var) cost without a
    background term (Le Dimet and Talagrand 1986). ``λ`` has units m^{2s}: the square of
    the length below which ``ω₀`` is smoothed. ``J`` is differentiable in ``ω₀`` and in the
    solver's parameters.

    Args:
        solver: the forward model (its ``dt`` fixes the time step).
        initial_vorticity: ``ω₀`` at the grid points, shape ``grid.shape``, 1/s.
        observations: ``d``, shape ``(T, n_x, n_y)``, 1/s, at the grid points.
        times: the ``T`` observation times, s after the initial state, strictly
            increasing non-negative multiples of ``solver.dt`` (concrete numbers).
        mask: observation weights, shape ``grid.shape`` (the same sensors at every time)
            or ``(T, n_x, n_y)``; ``None`` observes everything. Booleans work.
        regularisation: ``λ ≥ 0``, m^{2s}.
        smoothness: the order ``s ≥ 0`` of the penalty.

    Returns:
        The scalar objective ``J``.

    References:
        Le Dimet and Talagrand (1986), "Variational algorithms for analysis and
        assimilation of meteorological observations: theoretical aspects", Tellus A 38,
        97-110.
    """
    solver = _check_solver(solver)
    order = _check_order(smoothness)
    obs = _observations(solver, observations, times, mask)
    field = _check_field(solver, initial_vorticity, "initial_vorticity")
    weight = _regularisation_leaf(regularisation, solver.dtype)
    return _initial_objective(field, (solver, obs, weight, order))[0]


def _initial_objective(field: Array, args: tuple) -> tuple[Array, Array]:
    solver, obs, weight, order = args
    misfit = _misfit(solver, field, obs)
    penalty = 0.5 * weight * _smoothness(solver, field, order) / _mean_square(obs)
    return misfit + penalty, misfit


def parameter_loss(
    solver: SpectralNavierStokes2D,
    initial_vorticity: Float[ArrayLike, "..."],
    observations: Float[ArrayLike, "..."],
    times: Sequence[float] | Float[ArrayLike, "..."],
    *,
    mask: ArrayLike | None = None,
) -> Float[Array, ""]:
    r"""The misfit of a solver's parameters against observations from a known initial field.

    .. math:: J(ν, α, A) = \frac{1}{2} \frac{\sum_{i,x} w_i (ω(t_i, x; ν, α, A) - d_i(x))^2}
       {\sum_{i,x} w_i d_i(x)^2}

    (the misfit term of :func:`initial_vorticity_loss`). Differentiate it with respect to
    the solver's array leaves (``viscosity``, ``drag``, ``forcing_amplitude``, a forcing
    field, a closure's weights), e.g. ``jax.grad(lambda nu: parameter_loss(
    eqx.tree_at(lambda s: s.viscosity, solver, nu), ...))``.

    Args:
        solver: the forward model holding the parameters.
        initial_vorticity: the known ``ω₀``, shape ``grid.shape``, 1/s.
        observations: ``d``, shape ``(T, n_x, n_y)``, 1/s.
        times: the ``T`` observation times, s (multiples of ``solver.dt``, increasing).
        mask: observation weights, shape ``grid.shape`` or ``(T, n_x, n_y)``, or ``None``.

    Returns:
        The scalar misfit.
    """
    solver = _check_solver(solver)
    obs = _observations(solver, observations, times, mask)
    field = _check_field(solver, initial_vorticity, "initial_vorticity")
    return _misfit(solver, field, obs)


# ---------------------------------------------------------------------------------------------
# Optimisation
# ---------------------------------------------------------------------------------------------


@functools.cache
def _default_optimiser() -> optax.GradientTransformationExtraArgs:
    return optax.lbfgs()


def _stores_value(state: Any) -> bool:
    return optax.tree.get(state, "value", default=None) is not None


@eqx.filter_jit
def _iterate(objective, optimiser, params, opt_state, args):
    """One optimiser iteration: ``(new params, opt_state, J(params), |∇J(params)|)``."""

    def value_fn(p):
        return objective(p, args)[0]

    if _stores_value(opt_state):  # L-BFGS's line search keeps the accepted point's J, ∇J
        value, grad = optax.value_and_grad_from_state(value_fn)(params, state=opt_state)
    else:
        value, grad = jax.value_and_grad(value_fn)(params)
    # optax mixes weakly typed Python scalars and int32 counters with float arrays, which
    # strict dtype promotion (a debugging setting) rejects: standard promotion, scoped to it
    with jax.numpy_dtype_promotion("standard"):
        updates, opt_state = optimiser.update(
            grad, opt_state, params, value=value, grad=grad, value_fn=value_fn
        )
        params = optax.apply_updates(params, updates)
    return params, opt_state, value, optax.tree.norm(grad)


@eqx.filter_jit
def _evaluate(objective, params, args):
    return objective(params, args)


def _check_steps(steps: Any) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    return int(steps)


def _check_optimiser(optimiser: Any) -> Any:
    if optimiser is None:
        return _default_optimiser()
    if not isinstance(optimiser, optax.GradientTransformation):
        raise TypeError(
            f"optimiser must be an optax GradientTransformation, got {type(optimiser).__name__}"
        )
    return optimiser


def _check_tolerance(tolerance: Any) -> float:
    if not (isinstance(tolerance, int | float) and math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a non-negative float, got {tolerance!r}")
    return float(tolerance)


def _minimise(
    objective: Callable, params: Any, args: Any, optimiser: Any, steps: int, tolerance: float
) -> tuple[Any, Array, Array, int]:
    """Iterate until ``steps`` iterations, ``|∇J(x_k)| ≤ tolerance · |∇J(x_0)|``, or three
    iterations without any change of ``J`` (a line search that cannot progress)."""
    with jax.numpy_dtype_promotion("standard"):
        opt_state = optimiser.init(params)
    history: list[float] = []
    first_norm = None
    for iteration in range(steps):
        params, opt_state, value, norm = _iterate(objective, optimiser, params, opt_state, args)
        value, norm = float(value), float(norm)
        if not math.isfinite(value):
            raise FloatingPointError(
                f"the objective became {value} at iteration {iteration}: lower the learning "
                "rate or start closer to the solution"
            )
        history.append(value)
        first_norm = norm if first_norm is None else first_norm
        if norm <= tolerance * first_norm or (len(history) > 3 and len(set(history[-4:])) == 1):
            break
    final, misfit = _evaluate(objective, params, args)
    history.append(float(final))
    return params, jnp.asarray(np.asarray(history), final.dtype), misfit, len(history) - 1


def recover_initial_vorticity(
    solver: SpectralNavierStokes2D,
    observations: Float[ArrayLike, "..."],
    times: Sequence[float] | Float[ArrayLike, "..."],
    *,
    initial_guess: Float[ArrayLike, "..."],
    steps: int = 100,
    regularisation: float | Float[ArrayLike, ""] = 0.0,
    smoothness: float = 1.0,
    mask: ArrayLike | None = None,
    optimiser: optax.GradientTransformation | None = None,
    tolerance: float = 1e-6,
) -> InverseResult:
    r"""Recover the initial vorticity from later observations (variational assimilation).

    Minimises :func:`initial_vorticity_loss` over the field ``ω₀`` at the grid points,
    starting from ``initial_guess`` (the prior: zero, a climatological field, a coarse
    estimate), with at most ``steps`` iterations of ``optimiser`` (default ``optax.lbfgs()``:
    L-BFGS with a zoom line search satisfying the strong Wolfe conditions, Nocedal and
    Wright 2006, ch. 7; ``optax.adam(...)`` also works). Each iteration differentiates the
    rollout in reverse mode (the adjoint of the discrete solver), checkpointed between
    observations, so memory grows with the number of observations, not of time steps.

    The data constrain only what the flow carries to the sensors: modes damped below the
    noise before the first observation are set by the regulariser (``λ > 0`` keeps them
    small and the estimate smooth; ``λ = 0`` leaves them at the initial guess). The
    estimate is returned as the solver holds it (2/3-rule dealiased, zero mean).

    Args:
        solver: the forward model (viscosity, drag, forcing and ``dt`` known).
        observations: shape ``(T, n_x, n_y)``, 1/s, at the grid points (noisy values are
            fine; the misfit is least squares).
        times: the ``T`` observation times, s after the initial state (multiples of
            ``solver.dt``, strictly increasing; 0 observes ``ω₀`` itself).
        initial_guess: the starting field, shape ``grid.shape``, 1/s.
        steps: optimiser iterations.
        regularisation: ``λ ≥ 0``, m^{2s} (see :func:`initial_vorticity_loss`).
        smoothness: the penalty's order ``s``.
        mask: observation weights, shape ``grid.shape`` or ``(T, n_x, n_y)`` (sparse or
            partial observations), or ``None`` for every grid point.
        optimiser: an optax transformation (called with ``value``, ``grad``, ``value_fn``
            extra arguments, as L-BFGS needs).
        tolerance: stop once ``|∇J| ≤ tolerance · |∇J(initial_guess)|`` (or when three
            iterations leave ``J`` unchanged); ``steps`` is the most iterations.

    Returns:
        An :class:`InverseResult` whose ``estimate`` is ``ω₀``, shape ``grid.shape``.

    Raises:
        ValueError: shapes, times or arguments out of range (before compiling).
        FloatingPointError: the objective became non-finite.
        equinox.EquinoxRuntimeError: a rollout blew up or broke the solver's CFL limit
            during an iteration.

    Example:
        >>> result = recover_initial_vorticity(solver, observed, [0.5, 1.0],
        ...                                    initial_guess=jnp.zeros(grid.shape),
        ...                                    steps=50, regularisation=1e-3)
        >>> result.estimate.shape, result.loss_history[-1]

    References:
        Le Dimet and Talagrand (1986), "Variational algorithms for analysis and
        assimilation of meteorological observations: theoretical aspects", Tellus A 38,
        97-110.
        Nocedal and Wright (2006), "Numerical Optimization", 2nd ed., Springer, ch. 7.
    """
    solver = _check_solver(solver)
    steps = _check_steps(steps)
    tolerance = _check_tolerance(tolerance)
    order = _check_order(smoothness)
    optimiser = _check_optimiser(optimiser)
    obs = _observations(solver, observations, times, mask)
    guess = _check_field(solver, initial_guess, "initial_guess")
    weight = _regularisation_leaf(regularisation, solver.dtype)
    args = (solver, obs, weight, order)
    field, history, misfit, taken = _minimise(
        _initial_objective, guess, args, optimiser, steps, tolerance
    )
    estimate = solver.vorticity(solver.init(field))
    return InverseResult(estimate=estimate, loss_history=history, misfit=misfit, steps=taken)


def _parameter_objective(theta: dict[str, Array], args: tuple) -> tuple[Array, Array]:
    solver, obs, initial = args
    solver = _with_parameters(solver, _from_unconstrained(theta))
    misfit = _misfit(solver, initial, obs)
    return misfit, misfit


def _with_parameters(solver: SpectralNavierStokes2D, values: Mapping[str, Array]) -> Any:
    names = sorted(values)
    return eqx.tree_at(
        lambda s: tuple(getattr(s, n) for n in names), solver, tuple(values[n] for n in names)
    )


def _from_unconstrained(theta: Mapping[str, Array]) -> dict[str, Array]:
    return {n: jnp.exp(v) if n in _POSITIVE else v for n, v in theta.items()}


def recover_parameters(
    solver: SpectralNavierStokes2D,
    initial_vorticity: Float[ArrayLike, "..."],
    observations: Float[ArrayLike, "..."],
    times: Sequence[float] | Float[ArrayLike, "..."],
    *,
    initial_guess: Mapping[str, float | Float[ArrayLike, ""]],
    steps: int = 30,
    mask: ArrayLike | None = None,
    optimiser: optax.GradientTransformation | None = None,
    tolerance: float = 1e-6,
) -> InverseResult:
    r"""Recover physical parameters (viscosity, drag, forcing amplitude) from observations.

    Minimises :func:`parameter_loss` over the named scalar parameters of ``solver``
    (``"viscosity"`` ``ν``, ``"drag"`` ``α``, ``"forcing_amplitude"`` ``A``; the others
    stay at the solver's values) from a known initial vorticity, with at most ``steps`` iterations
    of ``optimiser`` (default ``optax.lbfgs()``). ``ν`` and ``α`` must stay positive: they
    are optimised as ``log ν``, ``log α`` (so their initial guesses must be positive);
    ``A`` directly. Gradients come from reverse-mode differentiation through the rollout.

    Args:
        solver: the forward model; its values of the unknown parameters are ignored.
        initial_vorticity: the known ``ω₀``, shape ``grid.shape``, 1/s.
        observations: shape ``(T, n_x, n_y)``, 1/s.
        times: the ``T`` observation times, s (multiples of ``solver.dt``, increasing).
        initial_guess: ``{name: value}`` for each unknown parameter (units of the
            solver's fields: m²/s, 1/s, 1/s² per unit forcing).
        steps: optimiser iterations.
        mask: observation weights, shape ``grid.shape`` or ``(T, n_x, n_y)``, or ``None``.
        optimiser: an optax transformation (default L-BFGS); it acts on the unconstrained
            variables (``log ν``, ``log α``, ``A``).
        tolerance: stop once ``|∇J| ≤ tolerance · |∇J(initial guess)|`` (or when three
            iterations leave ``J`` unchanged); ``steps`` is the most iterations.

    Returns:
        An :class:`InverseResult` whose ``estimate`` maps each name to a scalar array.

    Example:
        >>> result = recover_parameters(solver, w0, observed, [0.5, 1.0],
        ...                             initial_guess={"viscosity": 0.03,
        ...                                            "forcing_amplitude": 0.2})
        >>> float(result.estimate["viscosity"]), result.steps

    Raises:
        ValueError: an unknown parameter name, a non-positive guess for ``ν`` or ``α``,
            shapes or times out of range.
        FloatingPointError: the objective became non-finite.
        equinox.EquinoxRuntimeError: a rollout blew up or broke the solver's CFL limit
            during an iteration.

    References:
        Nocedal and Wright (2006), "Numerical Optimization", 2nd ed., Springer, ch. 7.
    """
    solver = _check_solver(solver)
    steps = _check_steps(steps)
    tolerance = _check_tolerance(tolerance)
    optimiser = _check_optimiser(optimiser)
    if not isinstance(initial_guess, Mapping) or not initial_guess:
        raise ValueError(
            f"initial_guess must be a non-empty mapping from {PARAMETERS} to values, got "
            f"{initial_guess!r}"
        )
    theta = {}
    for name, value in initial_guess.items():
        if name not in PARAMETERS:
            raise ValueError(f"initial_guess: unknown parameter {name!r}; known: {PARAMETERS}")
        value = jnp.asarray(value, solver.dtype)
        if value.shape != ():
            raise ValueError(f"initial_guess[{name!r}] must be a scalar, got shape {value.shape}")
        if name in _POSITIVE:
            if not float(value) > 0:
                raise ValueError(f"initial_guess[{name!r}] must be positive, got {float(value)}")
            value = jnp.log(value)
        theta[name] = value
    obs = _observations(solver, observations, times, mask)
    initial = _check_field(solver, initial_vorticity, "initial_vorticity")
    args = (solver, obs, initial)
    theta, history, misfit, taken = _minimise(
        _parameter_objective, theta, args, optimiser, steps, tolerance
    )
    return InverseResult(
        estimate=_from_unconstrained(theta), loss_history=history, misfit=misfit, steps=taken
    )
