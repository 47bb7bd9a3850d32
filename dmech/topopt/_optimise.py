"""Optimisation drivers: jit-compiled iterations, a history, and a stopping rule."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, Float
from ._filters import DensityFilter
from ._oc import optimality_criteria


class TopOptResult(eqx.Module):
    """The outcome of an optimisation.

    Attributes:
        design: the design variables, shape ``(cells,)``.
        physical: the physical densities (filtered, projected), shape ``(cells,)``.
        objective: the objective of the physical design of each iteration, shape ``(k,)``.
        volume: its volume fraction, shape ``(k,)``.
        change: the largest change of a design variable in each iteration, shape ``(k,)``.
        iterations: ``k``.
        converged: whether the change fell to the tolerance within the iteration budget.
    """

    design: Array
    physical: Array
    objective: np.ndarray
    volume: np.ndarray
    change: np.ndarray
    iterations: int
    converged: bool


def optimise_oc(
    objective: Callable[[Array], Array],
    design: Float[Array, "..."],
    *,
    volume_fraction: float,
    cell_volumes: Float[Array, " cells"] | None = None,
    filter: DensityFilter | None = None,
    filter_kind: str = "density",
    move: float = 0.2,
    tol: float = 0.01,
    max_iterations: int = 500,
    callback: Callable[[int, dict], None] | None = None,
) -> TopOptResult:
    r"""Minimise ``objective(ρ̃)`` under ``V(ρ̃) ≤ volume_fraction`` by Optimality Criteria.

    Each iteration is one jit-compiled call: the objective and its gradient by ``jax.grad``
    (through the filter, for the density filter), the sensitivity filter if asked for, and
    the OC update. It stops when the largest change of a design variable is at most ``tol``
    (the 88-line code's rule) or after ``max_iterations``.

    Args:
        objective: ``ρ̃ -> c``, a differentiable scalar of the physical densities (for example
            a :class:`ComplianceProblem`; pass an equinox Module so its arrays are traced
            arguments, not constants).
        design: the initial design variables, shape ``(cells,)`` (usually the volume fraction).
        volume_fraction: the allowed volume fraction.
        cell_volumes: shape ``(cells,)``; default ones (a unit grid).
        filter: a :class:`DensityFilter`, or ``None``.
        filter_kind: ``"density"`` (filter the densities: ``ρ̃ = Hρ/Σh``, gradients by the
            chain rule) or ``"sensitivity"`` (Sigmund's heuristic on ``∂c/∂ρ``; ``ρ̃ = ρ``).
        move, tol, max_iterations: OC move limit, stopping tolerance, iteration budget.
        callback: called after every iteration with ``(iteration, figures)`` (``objective``,
            ``volume``, ``change``), for progress bars and logging.

    Returns:
        A :class:`TopOptResult`.
    """
    if filter_kind not in ("density", "sensitivity"):
        raise ValueError(f"filter_kind must be 'density' or 'sensitivity', got {filter_kind!r}")
    if not 0 < volume_fraction <= 1:
        raise ValueError(f"volume_fraction must lie in (0, 1], got {volume_fraction}")
    design = jnp.asarray(design)
    if design.ndim != 1:
        raise ValueError(f"design must have shape (cells,), got {design.shape}")
    volumes = (
        jnp.ones_like(design) if cell_volumes is None else jnp.asarray(cell_volumes, design.dtype)
    )
    if volumes.shape != design.shape:
        raise ValueError(f"cell_volumes must have shape {design.shape}, got {volumes.shape}")
    history: dict[str, list[float]] = {"objective": [], "volume": [], "change": []}
    converged = False
    for iteration in range(1, max_iterations + 1):
        design, figures = _oc_step(
            objective, filter, design, volumes, volume_fraction, filter_kind, move
        )
        figures = {k: float(v) for k, v in figures.items()}
        for key in history:
            history[key].append(figures[key])
        if callback is not None:
            callback(iteration, figures)
        if not np.isfinite(figures["objective"]):
            raise FloatingPointError(
                f"optimise_oc: the objective is {figures['objective']} at iteration {iteration}"
            )
        if figures["change"] <= tol:
            converged = True
            break
    physical = _physical(filter, filter_kind, design)
    return TopOptResult(
        design=design,
        physical=physical,
        objective=np.asarray(history["objective"]),
        volume=np.asarray(history["volume"]),
        change=np.asarray(history["change"]),
        iterations=len(history["objective"]),
        converged=converged,
    )


def _physical(filter, filter_kind, design):
    if filter is None or filter_kind == "sensitivity":
        return design
    return filter(design)


@eqx.filter_jit
def _oc_step(objective, filter, design, volumes, volume_fraction, filter_kind, move):
    def physical(x):
        return _physical(filter, filter_kind, x)

    def volume(x):  # the material volume (its gradient is ones on a unit grid, as in 88)
        return jnp.sum(volumes * physical(x))

    value, gradient = jax.value_and_grad(lambda x: objective(physical(x)))(design)
    volume_value, volume_gradient = jax.value_and_grad(volume)(design)
    if filter is not None and filter_kind == "sensitivity":
        gradient = filter.sensitivity(design, gradient)
    new = optimality_criteria(
        design,
        gradient,
        volume_gradient,
        volume_fraction,
        cell_volumes=volumes,
        move=move,
        physical=physical,
    )
    change = jnp.max(jnp.abs(new - design))
    figures = {"objective": value, "volume": volume_value / jnp.sum(volumes), "change": change}
    return new, figures
