"""The optimisation driver: jit-compiled OC or MMA iterations, beta continuation, a history,
a stopping rule, and checkpoint/resume."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_int
from .._custom_types import Array, Float
from ..data import load_tree, save_tree
from ._mma import mma_init, mma_update
from ._oc import optimality_criteria
from ._parametrisation import Parametrisation

_METHODS = ("oc", "mma")
_GENERATOR = "dmech.topopt.optimise"


class TopOptResult(eqx.Module):
    """The outcome of an optimisation.

    Attributes:
        design: the design variables, shape ``(cells,)``.
        physical: the physical densities (filtered, projected, passive cells imposed),
            shape ``(cells,)``.
        objective: the objective of the physical design of each iteration, shape ``(k,)``.
        volume: its volume fraction, shape ``(k,)``.
        change: the largest change of a design variable in each iteration, shape ``(k,)``.
        constraints: the user constraints ``g(ρ̄)`` (feasible when ``≤ 0``) of each
            iteration, shape ``(k, m)`` (``m = 0`` without them).
        beta: the projection sharpness of each iteration, shape ``(k,)``.
        iterations: ``k``, counted from the start of the optimisation (resumed runs
            included).
        converged: whether a stopping rule fired (at the last ``beta``) within the
            iteration budget.
        reason: why the optimisation stopped: ``"change"`` (the largest change fell to
            ``tol``), ``"objective"`` (the objective stalled, see ``objective_tol``) or
            ``"max_iterations"`` (the budget ran out first).
    """

    design: Array
    physical: Array
    objective: np.ndarray
    volume: np.ndarray
    change: np.ndarray
    constraints: np.ndarray
    beta: np.ndarray
    iterations: int
    converged: bool
    reason: str


def optimise(
    objective: Callable[[Array], Array],
    design: Float[Array, "..."],
    *,
    volume_fraction: float,
    method: str = "oc",
    constraints: Callable[[Array], Array] | None = None,
    parametrisation: Parametrisation | None = None,
    cell_volumes: Float[Array, " cells"] | None = None,
    betas: Sequence[float] = (1.0,),
    iterations_per_beta: int = 50,
    move: float = 0.2,
    tol: float = 0.01,
    objective_tol: float | None = None,
    objective_window: int = 5,
    max_iterations: int = 500,
    callback: Callable[[int, dict], None] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 10,
) -> TopOptResult:
    r"""Minimise ``objective(ρ̄(x))`` under ``V(ρ̄) ≤ volume_fraction`` (and, with MMA, any
    number of constraints ``g(ρ̄) ≤ 0``) over design variables ``0 ≤ x ≤ 1``.

    Each iteration is one jit-compiled call: the objective and the constraints with their
    gradients by ``jax.grad``/``jax.jacrev`` through the parametrisation (filter,
    projection, passive cells) and the physics (adjoint solves), then the update:

    - ``method="oc"``: Optimality Criteria (volume constraint only), the 88-line code's
      update with bisection on the multiplier;
    - ``method="mma"``: the Method of Moving Asymptotes (Svanberg 1987) with the volume
      constraint ``V/V* - 1 ≤ 0`` first and then ``constraints(ρ̄)``; the objective is
      scaled by its first value.

    Two stopping rules: the largest change of a design variable falls to ``tol`` (the
    88-line code's rule), or, with ``objective_tol``, the objective stalls: the mean
    objective of the last ``objective_window`` iterations differs from the mean of the
    ``objective_window`` before them by at most ``objective_tol`` relative (all at one
    ``β``), and the constraints hold (volume within 0.1% of its bound, user constraints
    ``g ≤ 10⁻³``). The second rule ends runs in which a few cells keep swinging by the move
    limit while the objective no longer moves (common with OC and a sharp projection, where
    the objective then alternates from one iteration to the next, and in large 3D runs).

    With a projection (``parametrisation.eta``), ``β`` runs through ``betas``: each value
    is kept until a stopping rule fires or for ``iterations_per_beta`` iterations, and the
    optimisation has converged when a rule fires at the last one.

    Args:
        objective: ``ρ̄ -> f``, a differentiable scalar of the physical densities (for
            example a :class:`ComplianceProblem`; pass an equinox Module so its arrays are
            traced arguments, not constants).
        design: the initial design variables, shape ``(cells,)``.
        volume_fraction: the allowed volume fraction.
        method: ``"oc"`` or ``"mma"``.
        constraints: ``ρ̄ -> g``, shape ``(m,)``, feasible when ``g ≤ 0`` (MMA only).
        parametrisation: the map to physical densities; default the identity.
        cell_volumes: shape ``(cells,)``; default ones (a unit grid).
        betas, iterations_per_beta: the projection's continuation.
        move: the largest change of a design variable in one iteration.
        tol: stop when the largest change of a design variable is at most ``tol``.
        objective_tol: also stop when the objective stalls (above); default off.
        objective_window: the iterations averaged by the objective rule.
        max_iterations: the iteration budget (resumed iterations included).
        callback: called after every iteration with ``(iteration, figures)``
            (``objective``, ``volume``, ``change``, ``beta``, ``constraints``).
        checkpoint: a file to save the state to every ``checkpoint_every`` iterations and
            at the end; if it exists, the optimisation resumes from it (its method, size and
            volume fraction must match).
        checkpoint_every: iterations between checkpoints.

    Returns:
        A :class:`TopOptResult`.

    Raises:
        ValueError: bad arguments (before anything is compiled).
        FloatingPointError: the objective became non-finite.
    """
    parametrisation = Parametrisation() if parametrisation is None else parametrisation
    design, volumes, betas = _check_arguments(
        design, volume_fraction, method, constraints, parametrisation, cell_volumes, betas,
        iterations_per_beta, move, tol, objective_tol, objective_window, max_iterations,
        checkpoint_every,
    )  # fmt: skip
    design = parametrisation.impose_passive(design)
    carry = None
    if method == "mma":
        carry = (mma_init(design), jnp.zeros((), design.dtype))
    history: dict[str, list] = {k: [] for k in ("objective", "volume", "change", "beta")}
    history["constraints"] = []
    stage, stage_iterations, reason = 0, 0, "max_iterations"
    params = {"method": method, "cells": int(design.shape[0]), "volume_fraction": volume_fraction}
    if checkpoint is not None and Path(checkpoint).exists():
        (design, carry), card = load_tree(
            checkpoint, (design, carry), kind="checkpoint", generator=_GENERATOR, params=params
        )
        history = {k: list(v) for k, v in card.extra["history"].items()}
        stage, stage_iterations = card.extra["stage"], card.extra["stage_iterations"]
        reason = card.extra["reason"]

    def save():
        if checkpoint is not None:
            extra = {
                "history": history,
                "stage": stage,
                "stage_iterations": stage_iterations,
                "reason": reason,
            }
            save_tree(
                checkpoint, (design, carry), kind="checkpoint", generator=_GENERATOR,
                params=params, extra=extra,
            )  # fmt: skip

    done = len(history["objective"])
    last_stage = len(betas) - 1 if parametrisation.eta is not None else 0
    beta = jnp.asarray(betas[stage], design.dtype)
    # a converged run read back from its checkpoint is returned as it is
    finished = reason != "max_iterations"
    for iteration in range(done + 1, max_iterations + 1 if not finished else done + 1):
        beta = jnp.asarray(betas[stage], design.dtype)
        if method == "oc":
            design, figures = _oc_step(
                objective, parametrisation, design, volumes, volume_fraction, beta, move
            )
        else:
            design, carry, figures = _mma_step(
                objective, constraints, parametrisation, design, carry, volumes,
                volume_fraction, beta, move,
            )  # fmt: skip
        figures = {k: np.asarray(v).tolist() for k, v in figures.items()}
        for key in history:
            history[key].append(figures[key])
        stage_iterations += 1
        if callback is not None:
            callback(iteration, figures)
        if not np.isfinite(figures["objective"]):
            raise FloatingPointError(
                f"optimise: the objective is {figures['objective']} at iteration {iteration}"
            )
        rule = _stopping_rule(
            history, stage_iterations, volume_fraction, tol, objective_tol, objective_window
        )
        if rule is not None and stage == last_stage:
            reason = rule
            break
        if stage < last_stage and (rule is not None or stage_iterations >= iterations_per_beta):
            stage, stage_iterations = stage + 1, 0
        if iteration % checkpoint_every == 0:
            save()
    save()
    return TopOptResult(
        design=design,
        physical=parametrisation(design, beta),
        objective=np.asarray(history["objective"]),
        volume=np.asarray(history["volume"]),
        change=np.asarray(history["change"]),
        constraints=np.asarray(history["constraints"]).reshape(len(history["objective"]), -1),
        beta=np.asarray(history["beta"]),
        iterations=len(history["objective"]),
        converged=reason != "max_iterations",
        reason=reason,
    )


_FEASIBILITY = 1e-3


def _stopping_rule(history, stage_iterations, volume_fraction, tol, objective_tol, window):
    """The rule that fires after the latest iteration (``"change"``, ``"objective"``), or None."""
    if history["change"][-1] <= tol:
        return "change"
    if objective_tol is None or stage_iterations < 2 * window:
        return None
    objective = np.asarray(history["objective"][-2 * window :])
    latest, before = np.mean(objective[window:]), np.mean(objective[:window])
    stalled = abs(latest - before) <= objective_tol * abs(latest)
    feasible = history["volume"][-1] <= volume_fraction * (1 + _FEASIBILITY) and all(
        g <= _FEASIBILITY for g in history["constraints"][-1]
    )
    return "objective" if feasible and stalled else None


def _check_arguments(
    design, volume_fraction, method, constraints, parametrisation, cell_volumes, betas,
    iterations_per_beta, move, tol, objective_tol, objective_window, max_iterations,
    checkpoint_every,
):  # fmt: skip
    if method not in _METHODS:
        raise ValueError(f"method must be 'oc' or 'mma', got {method!r}")
    if constraints is not None and method != "mma":
        raise ValueError("constraints need method='mma' (OC handles the volume constraint only)")
    if not 0 < volume_fraction <= 1:
        raise ValueError(f"volume_fraction must lie in (0, 1], got {volume_fraction}")
    if not 0 < move <= 1:
        raise ValueError(f"move must lie in (0, 1], got {move}")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol}")
    if objective_tol is not None and not objective_tol > 0:
        raise ValueError(f"objective_tol must be positive or None, got {objective_tol}")
    for name, value in (
        ("max_iterations", max_iterations),
        ("iterations_per_beta", iterations_per_beta),
        ("checkpoint_every", checkpoint_every),
        ("objective_window", objective_window),
    ):
        check_int(value, name)
    betas = tuple(float(b) for b in betas)
    if not betas or any(not b > 0 for b in betas):
        raise ValueError(f"betas must be a non-empty sequence of positive numbers, got {betas}")
    design = jnp.asarray(design)
    # an explicit dtype drops a weak type (jnp.full(n, 0.5)), which would compile the step a
    # second time when the first update returns a strongly typed design
    design = jnp.asarray(design, dtype=design.dtype)
    if design.ndim != 1 or not jnp.issubdtype(design.dtype, jnp.floating):
        raise ValueError(f"design must be a float array of shape (cells,), got {design.shape}")
    parametrisation.check(design.shape[0])
    volumes = (
        jnp.ones_like(design) if cell_volumes is None else jnp.asarray(cell_volumes, design.dtype)
    )
    if volumes.shape != design.shape:
        raise ValueError(f"cell_volumes must have shape {design.shape}, got {volumes.shape}")
    return design, volumes, betas


@eqx.filter_jit
def _oc_step(objective, parametrisation, design, volumes, volume_fraction, beta, move):
    def physical(x):
        return parametrisation(x, beta)

    def volume(x):
        return jnp.sum(volumes * physical(x))

    value, gradient = jax.value_and_grad(lambda x: objective(physical(x)))(design)
    gradient = parametrisation.filter_gradient(design, gradient)
    volume_value, volume_gradient = jax.value_and_grad(volume)(design)
    new = optimality_criteria(
        design,
        gradient,
        volume_gradient,
        volume_fraction,
        cell_volumes=volumes,
        move=move,
        physical=physical,
    )
    new = parametrisation.impose_passive(new)
    figures = {
        "objective": value,
        "volume": volume_value / jnp.sum(volumes),
        "change": jnp.max(jnp.abs(new - design)),
        "beta": beta,
        "constraints": jnp.zeros((0,), design.dtype),
    }
    return new, figures


@eqx.filter_jit
def _mma_step(
    objective, constraints, parametrisation, design, carry, volumes, volume_fraction, beta, move
):
    state, scale = carry

    def physical(x):
        return parametrisation(x, beta)

    def all_constraints(x):
        rho = physical(x)
        volume = jnp.sum(volumes * rho) / (volume_fraction * jnp.sum(volumes)) - 1.0
        user = jnp.zeros((0,), x.dtype) if constraints is None else jnp.ravel(constraints(rho))
        return jnp.concatenate([volume[None], user]), user

    value, gradient = jax.value_and_grad(lambda x: objective(physical(x)))(design)
    gradient = parametrisation.filter_gradient(design, gradient)
    g, pullback, user = jax.vjp(all_constraints, design, has_aux=True)
    (g_jacobian,) = jax.vmap(pullback)(jnp.eye(g.shape[0], dtype=g.dtype))
    # the objective is scaled by its first value, so MMA sees numbers of order one
    scale = jnp.where(state.iteration == 0, 1.0 / jnp.maximum(jnp.abs(value), 1e-12), scale)
    new, state = mma_update(state, design, scale * gradient, g, g_jacobian, move=move)
    new = parametrisation.impose_passive(new)
    figures = {
        "objective": value,
        "volume": jnp.sum(volumes * physical(design)) / jnp.sum(volumes),
        "change": jnp.max(jnp.abs(new - design)),
        "beta": beta,
        "constraints": user,
    }
    return new, (state, scale), figures
