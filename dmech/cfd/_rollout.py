"""Rollouts of ``step(state) -> (state, aux)`` functions: observations, gradient
checkpointing, and blow-up detection with the step it happened at."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, Int, PyTree
from ._checks import positive_int

__all__ = ["Rollout", "rollout"]


class Rollout(eqx.Module):
    """The outcome of :func:`rollout`.

    Attributes:
        state: the state after the last step.
        trajectory: ``observe(state)`` after every ``every`` steps, each leaf stacked along
            a new leading axis of length ``steps // every`` (``None`` without ``observe``).
        failed_step: the first step (counted from 1) whose state was not finite or whose
            ``aux["stable"]`` was false, or -1 when all steps were healthy; int32 scalar.
    """

    state: PyTree
    trajectory: PyTree
    failed_step: Int[Array, ""]


def rollout(
    step: Callable[[Any], tuple[Any, Any]],
    state: PyTree,
    steps: int,
    *,
    every: int = 1,
    observe: Callable[[Any], PyTree] | None = None,
    checkpoint: bool = True,
    throw: bool = True,
) -> Rollout:
    r"""Apply ``step`` ``steps`` times, recording ``observe(state)`` every ``every`` steps.

    The rollout is a scan over ``steps // every`` chunks, each a scan over ``every``
    steps. With ``checkpoint=True`` every chunk is wrapped in :func:`jax.checkpoint`:
    reverse-mode differentiation then stores one state per chunk and recomputes the steps
    inside a chunk, so the memory of a gradient through ``n`` steps is about
    ``(n / every + every)`` states instead of ``n`` steps' intermediates (``every ≈ √n`` is
    the sweet spot when nothing needs observing more often).

    A step is healthy when all floating leaves of its new state are finite and, when its
    ``aux`` is a dict with a ``"stable"`` entry (a solver's CFL check), that entry is true.
    ``failed_step`` is the first unhealthy step. With ``throw=True`` an unhealthy step
    raises: a :class:`FloatingPointError` naming the step when the rollout is called
    outside a transformation, and an ``equinox`` runtime error inside ``jit``/``grad``.

    Args:
        step: ``state -> (state, aux)``, for example a solver's bound ``step`` method
            (an equinox Module's arrays then stay traced leaves: differentiable, and
            changing them does not recompile).
        state: the initial state (a pytree of arrays).
        steps: the number of steps, a multiple of ``every``.
        every: steps between observations (and the chunk length for checkpointing).
        observe: ``state -> pytree`` of observables (the state itself, a diagnostic, ...).
        checkpoint: rematerialise each chunk in the backward pass.
        throw: raise on an unhealthy step instead of only reporting it.

    Returns:
        A :class:`Rollout`.
    """
    steps, every = positive_int(steps, "steps"), positive_int(every, "every")
    if steps % every:
        raise ValueError(f"steps ({steps}) must be a multiple of every ({every})")
    traced = any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves((step, state)))
    # outside transformations the error is raised here, where it can name the step
    inner_throw = throw and traced
    result = _rollout(step, state, int(steps), int(every), observe, bool(checkpoint), inner_throw)
    if throw and not traced:
        failed = int(result.failed_step)
        if failed >= 0:
            raise FloatingPointError(
                f"rollout: the state blew up or a stability check failed at step {failed} of "
                f"{steps} (non-finite values or aux['stable'] false); reduce the time step, or "
                "pass throw=False and inspect result.failed_step"
            )
    return result


def _healthy(state, aux) -> Array:
    ok = jnp.asarray(True)
    for leaf in jax.tree.leaves(state):
        if eqx.is_inexact_array(leaf):
            ok = ok & jnp.all(jnp.isfinite(leaf))
    if isinstance(aux, dict) and "stable" in aux:
        ok = ok & jnp.all(jnp.asarray(aux["stable"]))
    return ok


@eqx.filter_jit
def _rollout(step, state, steps, every, observe, checkpoint, throw):
    def one(carry, _):
        state, failed, index = carry
        new, aux = step(state)
        failed = jnp.where((failed < 0) & ~_healthy(new, aux), index, failed)
        return (new, failed, index + 1), None

    def chunk(carry):
        carry, _ = jax.lax.scan(one, carry, None, length=every)
        return carry

    if checkpoint:
        chunk = jax.checkpoint(chunk)

    def outer(carry, _):
        carry = chunk(carry)
        return carry, (observe(carry[0]) if observe is not None else None)

    start = (state, jnp.asarray(-1, jnp.int32), jnp.asarray(1, jnp.int32))
    (state, failed, _), trajectory = jax.lax.scan(outer, start, None, length=steps // every)
    if throw:  # on both outputs: under jit a loss on the trajectory alone would drop it
        state, trajectory = eqx.error_if(
            (state, trajectory),
            failed >= 0,
            "rollout: the state blew up or a stability check failed (non-finite values or "
            "aux['stable'] false); call rollout outside jit for the step, or pass throw=False "
            "and inspect result.failed_step",
        )
    return Rollout(state=state, trajectory=trajectory, failed_step=failed)


def check_time_step(dt: float, limit: float, what: str) -> None:
    """Raise a ValueError when a concrete time step exceeds a stability limit."""
    if isinstance(dt, jax.core.Tracer):
        return
    dt = float(np.asarray(dt))
    if not dt > 0:
        raise ValueError(f"dt must be positive, got {dt}")
    if dt > limit:
        raise ValueError(f"dt = {dt:.4g} exceeds the {what} limit {limit:.4g}")
