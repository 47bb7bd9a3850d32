"""The Optimality Criteria update for one volume constraint."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from .._custom_types import Array, Float


def optimality_criteria(
    density: Float[Array, " cells"],
    gradient: Float[Array, " cells"],
    volume_gradient: Float[Array, " cells"],
    volume_fraction: Float[Array, ""] | float,
    *,
    cell_volumes: Float[Array, " cells"],
    move: float = 0.2,
    physical: Callable[[Array], Array] | None = None,
    bisection_rtol: float = 1e-3,
) -> Float[Array, " cells"]:
    r"""One Optimality Criteria update of minimum compliance under a volume constraint.

    ``ρ_new = clip(ρ √(-∂c/∂ρ / (λ ∂V/∂ρ)), ρ - m, ρ + m) ∩ [0, 1]``, with the multiplier
    ``λ`` found by bisection so that the physical design (``physical(ρ_new)``, the filtered
    and projected densities) fills ``volume_fraction`` of the domain.

    Args:
        density: the design variables ``ρ``, shape ``(cells,)``.
        gradient: ``∂c/∂ρ`` (non-positive for compliance), shape ``(cells,)``.
        volume_gradient: ``∂V/∂ρ`` (positive), shape ``(cells,)``.
        volume_fraction: the allowed fraction of the domain's volume.
        cell_volumes: shape ``(cells,)``, for the volume of a physical design.
        move: the largest change of one density in one update.
        physical: the map from design to physical densities (default the identity).
        bisection_rtol: stop the bisection on ``λ`` when ``(λ₂ - λ₁)/(λ₁ + λ₂)`` falls
            below it (1e-3 in the 88-line code).

    Returns:
        The updated design variables, shape ``(cells,)``.

    References:
        Bendsøe and Sigmund (2003), Topology Optimization, Springer, section 1.2.1;
        Andreassen et al. (2011), Efficient topology optimization in MATLAB using 88 lines
        of code, Struct. Multidisc. Optim. 43.
    """
    physical = physical if physical is not None else (lambda x: x)
    target = volume_fraction * jnp.sum(cell_volumes)
    # passive cells (zero volume gradient) keep ratio 0 rather than 0/0
    positive = volume_gradient > 0
    ratio = jnp.where(
        positive, jnp.maximum(-gradient / jnp.where(positive, volume_gradient, 1.0), 0.0), 0.0
    )
    lower = jnp.maximum(0.0, density - move)
    upper = jnp.minimum(1.0, density + move)

    def update(lam):
        return jnp.clip(density * jnp.sqrt(ratio / lam), lower, upper)

    def cond(state):
        l1, l2, _ = state
        return (l2 - l1) / (l1 + l2) > bisection_rtol

    def body(state):
        l1, l2, _ = state
        mid = 0.5 * (l1 + l2)
        too_much = jnp.sum(cell_volumes * physical(update(mid))) > target
        return jnp.where(too_much, mid, l1), jnp.where(too_much, l2, mid), mid

    zero = jnp.zeros((), density.dtype)
    # The design of the last multiplier tried, as in the 88-line code.
    _, _, lam = jax.lax.while_loop(cond, body, (zero, zero + 1e9, zero + 5e8))
    return update(lam)
