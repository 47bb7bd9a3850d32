r"""Training physics-informed networks: Adam with warm-up and decay, then L-BFGS.

:func:`train` minimises $\sum_i \lambda_i L_i(\theta)$ over the trainable leaves of
``params`` for a mapping of :class:`pinn.Term` s. The Adam phase runs in jitted chunks of
steps (``jax.lax.scan``); inside a chunk every step may draw new collocation points (a key
per step), adaptive samplers resample every ``every`` steps from the current residual, and
adaptive weights are recomputed every ``every`` steps with momentum. The L-BFGS phase
(optax's L-BFGS with its zoom line search satisfying the strong Wolfe conditions) runs in
jitted ``jax.lax.while_loop`` chunks on the last points and weights (or in rounds, with new
adaptive points after each: ``LBFGS(resample_every=...)``), until its gradient or loss
tolerance, its iteration budget, or a step that cannot decrease the loss, and says which.
Compiled chunks are kept (a small cache keyed by the static configuration and the shapes),
so new seeds, curriculum stages and time windows of the same problem do not recompile.

Why not ``dmech.train.fit``: its step is ``optimizer.update(∇L(model; batch, key))`` with the
model as the only state, while a PINN step also carries loss weights that are recomputed
from per-term gradients or NTK traces every ``k`` steps with momentum, and collocation
points that adaptive samplers draw from the current residual; and optax's L-BFGS needs the
value, gradient and objective at each update, which ``fit`` does not pass. This loop keeps
``fit``'s structure (jitted multi-step chunks, per-step keys ``fold_in(key, step)``, a
per-step history, atomic ``dmech.data`` checkpoints with exact resume, divergence reported by
step).
"""

from __future__ import annotations

import collections
import dataclasses
import math
import numbers
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from dmech._checks import check_int, check_positive_float
from dmech._custom_types import Array, ArrayLike, Float, Key, PyTree
from dmech.train import TrainingDivergedError

from ._problem import Term, evaluate_losses, residual_norms
from ._weighting import GradientNormWeighting, NTKWeighting, smooth_weights

__all__ = ["LBFGS", "Adam", "Reference", "TrainResult", "train"]

_GENERATOR = "pinn.train"
_MAX_STEPS_PER_CALL = 500

# L-BFGS stop codes (0: running)
_RUNNING, _GRADIENT, _LOSS, _NO_DECREASE, _NON_FINITE = 0, 1, 2, 3, 4
_ROUND_ENDS = (1, 2, 3)  # gradient, loss tolerance, no decrease: end a resampling round
_LBFGS_REASONS = {
    _GRADIENT: "gradient_tolerance",
    _LOSS: "loss_tolerance",
    _NO_DECREASE: "no_decrease",
    _NON_FINITE: "non_finite",
}
STOP_REASONS: dict[str, str] = {
    "steps": "the Adam phase took all its steps",
    "max_iterations": "L-BFGS used its whole iteration budget",
    "gradient_tolerance": "L-BFGS reached |∇L| ≤ gradient_tolerance",
    "loss_tolerance": "L-BFGS's relative decrease of the loss fell to loss_tolerance",
    "no_decrease": (
        "the L-BFGS line search found no step that decreases the loss (the round-off limit of "
        "the dtype, or a non-smooth loss); the last iterate that decreased it is kept"
    ),
    "non_finite": "the loss became non-finite in L-BFGS; the last finite iterate is kept",
    "time_limit": "the time limit was reached",
    "target_error": "the error against the reference reached target_error",
}


@dataclasses.dataclass(frozen=True)
class Adam:
    r"""The Adam phase: ``steps`` steps of Adam (Kingma and Ba 2015) with a linear warm-up
    to ``learning_rate`` over ``warmup_steps`` and exponential decay after it,
    $\eta_k = \eta_0\, r^{(k - k_w)/k_d}$ ($r$ = ``decay_rate``, $k_d$ = ``decay_steps``).

    Attributes:
        steps: the number of steps (0: no Adam phase).
        learning_rate: $\eta_0$.
        warmup_steps: $k_w$.
        decay_rate: $r \in (0, 1]$.
        decay_steps: $k_d$.
        b1, b2, eps: Adam's moment decay rates and denominator offset.
    """

    steps: int
    learning_rate: float = 1e-3
    warmup_steps: int = 0
    decay_rate: float = 0.9
    decay_steps: int = 5000
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        check_int(self.steps, "steps", minimum=0)
        check_positive_float(self.learning_rate, "learning_rate")
        check_int(self.warmup_steps, "warmup_steps", minimum=0)
        if not (isinstance(self.decay_rate, numbers.Real) and 0 < self.decay_rate <= 1):
            raise ValueError(f"`decay_rate` must be in (0, 1]; got {self.decay_rate!r}.")
        check_int(self.decay_steps, "decay_steps")

    def schedule(self) -> optax.Schedule:
        """The learning rate as a function of the step."""
        decay = optax.exponential_decay(
            self.learning_rate, self.decay_steps, self.decay_rate, transition_begin=0
        )
        if self.warmup_steps == 0:
            return decay
        warmup = optax.linear_schedule(0.0, self.learning_rate, self.warmup_steps)
        return optax.join_schedules([warmup, decay], [self.warmup_steps])

    def optimizer(self) -> optax.GradientTransformation:
        """The optax transformation."""
        return optax.adam(self.schedule(), b1=self.b1, b2=self.b2, eps=self.eps)


@dataclasses.dataclass(frozen=True)
class LBFGS:
    r"""The L-BFGS phase (Liu and Nocedal 1989) with a zoom line search satisfying the strong
    Wolfe conditions (Nocedal and Wright 2006, alg. 3.5-3.6), optax's implementation.

    It stops at the first of: $\lVert\nabla L\rVert \le$ ``gradient_tolerance``; a relative
    decrease $(L_k - L_{k+1})/|L_k| \le$ ``loss_tolerance`` (0: never); a step that does not
    decrease the loss (kept out); a non-finite loss (kept out); ``max_iterations``
    iterations. The reason is reported.

    Attributes:
        max_iterations: the iteration budget (0: no L-BFGS phase).
        gradient_tolerance: absolute tolerance on the gradient norm.
        loss_tolerance: relative decrease tolerance.
        memory_size: the number of curvature pairs kept.
        max_linesearch_steps: the line search's budget per iteration.
        resample_every: with a number, L-BFGS runs in rounds of at most this many iterations:
            after each round the terms whose sampler resamples (``every`` set; adaptive
            samplers from the current residual) draw new points and L-BFGS restarts with an
            empty memory, as in the RAD protocol of Wu et al. (2023). A round also ends early
            when its line search stalls or a tolerance is met (the phase then stops only if a
            fresh round makes no progress at all). ``None``: one set of points throughout.
    """

    max_iterations: int
    gradient_tolerance: float = 1e-10
    loss_tolerance: float = 0.0
    memory_size: int = 50
    max_linesearch_steps: int = 30
    resample_every: int | None = None

    def __post_init__(self) -> None:
        check_int(self.max_iterations, "max_iterations", minimum=0)
        check_positive_float(self.gradient_tolerance, "gradient_tolerance", allow_zero=True)
        check_positive_float(self.loss_tolerance, "loss_tolerance", allow_zero=True)
        check_int(self.memory_size, "memory_size")
        check_int(self.max_linesearch_steps, "max_linesearch_steps")
        if self.resample_every is not None:
            check_int(self.resample_every, "resample_every")

    def optimizer(self) -> optax.GradientTransformationExtraArgs:
        """The optax transformation."""
        return optax.lbfgs(
            memory_size=self.memory_size,
            linesearch=optax.scale_by_zoom_linesearch(
                max_linesearch_steps=self.max_linesearch_steps, initial_guess_strategy="one"
            ),
        )


class Reference(eqx.Module):
    r"""A reference solution to measure the error against:
    $e = \lVert u_\theta - u_\text{ref}\rVert_2 / \lVert u_\text{ref}\rVert_2$ over the points.

    Attributes:
        solution: ``u(params, x)``, the trained solution at one point.
        points: the points, shape ``(n, d)``.
        values: the reference values there, shape ``(n, ...)``.
        batch_size: points evaluated at once.
    """

    solution: Callable[[Any, Array], Array] = eqx.field(static=True)
    points: Float[Array, "n d"]
    values: Float[Array, "n ..."]
    batch_size: int = eqx.field(static=True)

    def __init__(
        self,
        solution: Callable[[Any, Array], Array],
        points: Float[ArrayLike, "..."],
        values: Float[ArrayLike, "..."],
        *,
        batch_size: int = 8192,
    ):
        """Raises:
        ValueError/TypeError: naming the argument (``points`` not ``(n, d)``, ``values``
            with another leading size).
        """
        if not callable(solution):
            raise TypeError(f"`solution` must be callable; got {type(solution).__name__}.")
        points = jnp.asarray(points)
        values = jnp.asarray(values)
        if points.ndim != 2 or points.shape[0] == 0:
            raise ValueError(f"`points` must have shape (n, d), n > 0; got {points.shape}.")
        if values.ndim < 1 or values.shape[0] != points.shape[0]:
            raise ValueError(
                f"`values` must have leading size {points.shape[0]}; got {values.shape}."
            )
        self.solution = solution
        self.points = points
        self.values = values
        self.batch_size = check_int(batch_size, "batch_size")

    def error(self, params: Any) -> Array:
        """The relative L2 error of ``solution(params, ·)`` (a scalar)."""
        points = self.points.astype(_float_dtype_of(params, self.points.dtype))
        predicted = jax.lax.map(
            lambda x: self.solution(params, x),
            points,
            batch_size=min(self.batch_size, points.shape[0]),
        )
        values = self.values.astype(predicted.dtype).reshape(predicted.shape)
        return jnp.sqrt(jnp.sum((predicted - values) ** 2) / jnp.sum(values**2))


def _float_dtype_of(tree: Any, default: Any) -> Any:
    for leaf in jax.tree_util.tree_leaves(tree):
        if eqx.is_inexact_array(leaf):
            return leaf.dtype
    return default


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        params: the trained parameters (the whole pytree, trainable leaves updated).
        history: numpy arrays. Per step (Adam steps, then L-BFGS iterations, numbered on):
            ``"step"``, ``"phase"`` (0 Adam, 1 L-BFGS), ``"loss"`` (weighted total),
            ``"seconds"`` (training wall time so far, compilation and evaluation excluded),
            and per term ``"loss/<name>"`` (unweighted; in L-BFGS only at the end of each
            chunk, NaN elsewhere), ``"weight/<name>"``, ``"causal/<name>"`` (last causal
            weight, causal terms). Per evaluation: ``"eval_step"``, ``"eval_seconds"`` and,
            with a reference, ``"rel_l2"``.
        stop_reason: why training ended: a key of ``pinn.STOP_REASONS`` (``"steps"``,
            ``"max_iterations"``, ``"gradient_tolerance"``, ``"loss_tolerance"``,
            ``"no_decrease"``, ``"non_finite"``, ``"time_limit"``, ``"target_error"``).
        adam_steps: Adam steps taken.
        lbfgs_iterations: L-BFGS iterations taken (accepted ones).
        weights: the final loss weights.
        points: the final collocation points per term.
        error: the last relative L2 error against the reference, or ``None``.
        train_seconds: training wall time in this process (compilation excluded).
        compile_seconds: compilation wall time in this process.
        resumed_from: the step a checkpoint resumed from (0: none).
    """

    params: PyTree
    history: dict[str, np.ndarray]
    stop_reason: str
    adam_steps: int
    lbfgs_iterations: int
    weights: dict[str, float]
    points: dict[str, PyTree]
    error: float | None
    train_seconds: float
    compile_seconds: float
    resumed_from: int

    @property
    def stop_message(self) -> str:
        """``stop_reason`` in words."""
        return STOP_REASONS[self.stop_reason]


def _tree_norm(tree: PyTree) -> Array:
    leaves = [jnp.sum(jnp.square(leaf)) for leaf in jax.tree_util.tree_leaves(tree)]
    return jnp.sqrt(sum(leaves[1:], leaves[0]))


def _promotion() -> Any:
    # optax mixes int32 counters and Python floats with the parameters' dtype, which strict
    # dtype promotion (a debugging setting) refuses: standard promotion scoped to it
    return jax.numpy_dtype_promotion("standard")


class _History:
    """Per-step records in numpy arrays that grow by doubling (no allocation up front for a
    large iteration budget), and the evaluations."""

    def __init__(self, names: list[str], causal: list[str]):
        keys = ["loss", "seconds", "phase"]
        keys += [f"{kind}/{name}" for name in names for kind in ("loss", "weight")]
        keys += [f"causal/{name}" for name in causal]
        self.arrays: dict[str, np.ndarray] = {k: np.empty(0, np.float64) for k in keys}
        self.eval_step: list[int] = []
        self.eval_seconds: list[float] = []
        self.errors: list[float] = []

    def reserve(self, end: int) -> None:
        capacity = self.arrays["loss"].shape[0]
        if end <= capacity:
            return
        new = max(end, 2 * capacity, 1024)
        for k, v in self.arrays.items():
            grown = np.full(new, np.nan, np.float64)
            grown[:capacity] = v
            self.arrays[k] = grown

    def trimmed(self, steps: int) -> dict[str, np.ndarray]:
        self.reserve(steps)
        return {k: v[:steps].copy() for k, v in self.arrays.items()}

    def as_dict(self, steps: int) -> dict[str, np.ndarray]:
        out = {"step": np.arange(1, steps + 1)}
        out.update(self.trimmed(steps))
        out["eval_step"] = np.asarray(self.eval_step, np.int64)
        out["eval_seconds"] = np.asarray(self.eval_seconds, np.float64)
        if self.errors:
            out["rel_l2"] = np.asarray(self.errors, np.float64)
        return out


def _check_terms(terms: object) -> dict[str, Term]:
    if not isinstance(terms, Mapping) or not terms:
        raise TypeError("`terms` must be a non-empty mapping {name: pinn.Term}.")
    checked: dict[str, Term] = {}
    for name, term in terms.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"`terms` keys must be non-empty strings without '/'; got {name!r}.")
        if not isinstance(term, Term):
            raise TypeError(f"`terms[{name!r}]` must be a pinn.Term; got {type(term).__name__}.")
        checked[name] = term
    return checked


def _key_fingerprint(key: Key) -> list[int]:
    return [int(v) for v in np.asarray(jax.random.key_data(key)).ravel()]


def train(
    params: PyTree,
    terms: Mapping[str, Term],
    *,
    key: Key,
    adam: Adam | None = None,
    lbfgs: LBFGS | None = None,
    weighting: GradientNormWeighting | NTKWeighting | None = None,
    reference: Reference | None = None,
    eval_every: int = 1000,
    target_error: float | None = None,
    time_limit: float | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    trainable: Any = eqx.is_inexact_array,
    callback: Callable[[int, PyTree, Mapping[str, float]], None] | None = None,
    progress: bool | None = None,
) -> TrainResult:
    r"""Train a physics-informed network: Adam, then L-BFGS (see the module docstring).

    Minimises $L(\theta) = \sum_i \lambda_i L_i(\theta)$, $L_i$ the loss of ``terms[i]``
    (:func:`pinn.term_loss`), over the leaves of ``params`` selected by ``trainable``.
    Collocation points are drawn at the start with ``fold_in(fold_in(key, 0), i)`` for the
    ``i``-th term, and redrawn at step ``k`` with ``fold_in(fold_in(key, 1), k)`` (folded with
    ``i``); the whole run is a pure function of ``key``, which is what makes a resumed run
    equal to an uninterrupted one.

    Args:
        params: a pytree (an equinox Module, or a dict of a network and PDE coefficients).
        terms: ``{name: Term}``.
        key: PRNG key.
        adam: the Adam phase (default ``Adam(steps=10_000)``; ``Adam(0)`` skips it).
        lbfgs: the L-BFGS phase, or ``None``.
        weighting: :class:`pinn.GradientNormWeighting`, :class:`pinn.NTKWeighting` or
            ``None`` (the terms' fixed weights).
        reference: a :class:`Reference` measured every ``eval_every`` steps (and after each
            L-BFGS chunk of ``eval_every`` iterations).
        eval_every: the evaluation interval (steps or iterations).
        target_error: stop once the reference error is at most this.
        time_limit: stop once the training time (compilation and evaluation excluded)
            exceeds this many seconds (checked between chunks).
        checkpoint: a file to save the state to (a ``dmech.data`` file, written atomically)
            and, with ``resume``, to continue from.
        checkpoint_every: steps between checkpoints (needed with ``checkpoint``).
        resume: continue from ``checkpoint`` when it exists.
        trainable: an equinox filter selecting the trained leaves.
        callback: ``callback(step, params, logs)`` after every chunk (``logs``: the loss,
            per-term losses and the last error).
        progress: show a progress bar (default: when stderr is a terminal).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError/TypeError: naming the argument, before anything is compiled.
        dmech.train.TrainingDivergedError: when the loss becomes non-finite in the Adam
            phase (the step is named).

    Example:
        >>> result = train(net, {"pde": pde, "bc": bc}, key=jax.random.key(0),
        ...                adam=Adam(5000, 1e-3), lbfgs=LBFGS(2000),
        ...                weighting=GradientNormWeighting(every=500))
        >>> result.stop_reason, result.history["rel_l2"][-1]

    References:
        Kingma and Ba (2015), "Adam: a method for stochastic optimization", ICLR.
        Liu and Nocedal (1989), "On the limited memory BFGS method for large scale
        optimization", Math. Program. 45, 503-528.
        Wang, Wang, Bhartari and Perdikaris (2023), "An expert's guide to training
        physics-informed neural networks", arXiv:2308.08468.
    """
    terms = _check_terms(terms)
    adam = Adam(10_000) if adam is None else adam
    if not isinstance(adam, Adam):
        raise TypeError(f"`adam` must be a pinn.Adam or None; got {type(adam).__name__}.")
    if lbfgs is not None and not isinstance(lbfgs, LBFGS):
        raise TypeError(f"`lbfgs` must be a pinn.LBFGS or None; got {type(lbfgs).__name__}.")
    if weighting is not None and not isinstance(weighting, GradientNormWeighting | NTKWeighting):
        raise TypeError(
            "`weighting` must be a GradientNormWeighting, an NTKWeighting or None; got "
            f"{type(weighting).__name__}."
        )
    if reference is not None and not isinstance(reference, Reference):
        raise TypeError(f"`reference` must be a pinn.Reference; got {type(reference).__name__}.")
    eval_every = check_int(eval_every, "eval_every")
    if target_error is not None:
        target_error = check_positive_float(target_error, "target_error")
        if reference is None:
            raise ValueError("`target_error` needs a `reference` to measure the error against.")
    if time_limit is not None:
        time_limit = check_positive_float(time_limit, "time_limit")
    if (checkpoint is None) != (checkpoint_every is None):
        raise ValueError("`checkpoint` and `checkpoint_every` must be given together.")
    if checkpoint_every is not None:
        checkpoint_every = check_int(checkpoint_every, "checkpoint_every")
    if callback is not None and not callable(callback):
        raise TypeError(f"`callback` must be callable; got {type(callback).__name__}.")
    lbfgs_iterations = 0 if lbfgs is None else lbfgs.max_iterations
    if adam.steps + lbfgs_iterations == 0:
        raise ValueError("`adam` and `lbfgs` take no step: give adam.steps or lbfgs iterations.")

    diff, static = eqx.partition(params, trainable)
    if not jax.tree_util.tree_leaves(diff):
        raise ValueError("`trainable` selects no leaves of `params`: nothing to train.")
    dtype = np.dtype(_float_dtype_of(diff, jnp.float32))
    names = list(terms)
    causal_names = [n for n, t in terms.items() if t.causal is not None]

    # --- the initial state ------------------------------------------------------------------
    init_key = jax.random.fold_in(key, 0)
    step_key = jax.random.fold_in(key, 1)
    redraw_key = jax.random.fold_in(key, 2)
    points: dict[str, PyTree] = {}
    masks: dict[str, Array] = {}
    for i, (name, term) in enumerate(terms.items()):
        if term.sampler is not None:
            k = jax.random.fold_in(init_key, i)
            points[name], masks[name] = term.sampler.init(k, dtype)
        else:
            points[name] = jax.tree_util.tree_map(_cast_floating(dtype), term.points)
            masks[name] = jnp.ones(term.num_points(), dtype)
    weights = {name: jnp.asarray(term.weight, dtype) for name, term in terms.items()}

    adam_opt = adam.optimizer()
    with _promotion():
        opt_state = adam_opt.init(diff)
    lbfgs_opt = lbfgs.optimizer() if lbfgs is not None else None

    total_steps = adam.steps + lbfgs_iterations
    log = _History(names, causal_names)
    config = {
        "adam": dataclasses.asdict(adam),
        "lbfgs": None if lbfgs is None else dataclasses.asdict(lbfgs),
        "terms": names,
        "eval_every": eval_every,
        "weighting": None if weighting is None else type(weighting).__name__,
    }
    fingerprint = _key_fingerprint(key)
    step = 0
    phase = 0
    adam_stop = "steps"
    lbfgs_done = 0
    round_done = 0  # L-BFGS iterations since the last redraw of points
    round_index = 0
    resumed_from = 0
    seconds_before = 0.0
    if checkpoint is not None and resume and Path(checkpoint).exists():
        like_lbfgs = None
        if lbfgs_opt is not None:
            with _promotion():
                like_lbfgs = lbfgs_opt.init(diff)
        loaded = _load_checkpoint(
            checkpoint, diff, opt_state, like_lbfgs, weights, points, masks, log, config,
            fingerprint,
        )  # fmt: skip
        (diff, opt_state, weights, points, masks, step, phase, adam_stop, lbfgs_done,
         (round_done, round_index), seconds_before) = loaded  # fmt: skip
        resumed_from = step

    timer = _Timer(seconds_before)
    chunk_length = _steps_per_call(eval_every, checkpoint_every)
    bar = _progress_bar(progress, total_steps, step)
    last_error: float | None = log.errors[-1] if log.errors else None
    stop_reason: str | None = None
    since_checkpoint = 0

    def save(current_phase: int, state: Any) -> None:
        if checkpoint is None:
            return
        _save_checkpoint(
            checkpoint, diff, opt_state if current_phase == 0 else state, weights, points, masks,
            log, config, fingerprint, step, current_phase, adam_stop, lbfgs_done,
            (round_done, round_index), timer.total,
        )  # fmt: skip

    def evaluate(current: PyTree) -> float | None:
        nonlocal last_error
        log.eval_step.append(step)
        log.eval_seconds.append(timer.total)
        if reference is None:
            return None
        error = float(_evaluate_reference(reference, current))
        log.errors.append(error)
        last_error = error
        return error

    try:
        # --- Adam -------------------------------------------------------------------------------
        if phase == 0 and step < adam.steps:
            while step < adam.steps:
                n = min(chunk_length, adam.steps - step)
                # (the step count is not part of the compiled chunk: one executable serves
                # runs of any length)
                args = (terms, dataclasses.replace(adam, steps=0), weighting, trainable, diff,
                        static, opt_state, weights, points, masks, jnp.asarray(step, jnp.int32),
                        step_key, n)  # fmt: skip
                run_chunk = _executable(_adam_chunk, args, timer)
                with timer.training():
                    out = run_chunk(*args)
                    (diff, opt_state, weights, points, masks), logs = out
                    losses = np.asarray(logs["loss"])
                bad = np.flatnonzero(~np.isfinite(losses))
                if bad.size:
                    raise TrainingDivergedError(
                        f"the training loss became {losses[bad[0]]} at Adam step "
                        f"{step + bad[0] + 1}: lower the learning rate"
                        + (f"; the last checkpoint is {checkpoint}" if checkpoint else "")
                    )
                _record(log, step, n, logs, timer, phase=0)
                step += n
                since_checkpoint += n
                if bar is not None:
                    bar.update(n)
                    bar.set_postfix(loss=f"{losses[-1]:.3e}", refresh=False)
                current = eqx.combine(diff, static)
                if step % eval_every == 0 or step == adam.steps:
                    evaluate(current)
                if (
                    target_error is not None
                    and last_error is not None
                    and (last_error <= target_error)
                ):
                    adam_stop = stop_reason = "target_error"
                elif time_limit is not None and timer.total >= time_limit:
                    adam_stop = stop_reason = "time_limit"
                if checkpoint_every is not None and (
                    since_checkpoint >= checkpoint_every or stop_reason or step == adam.steps
                ):
                    save(0, None)
                    since_checkpoint = 0
                if callback is not None:
                    callback(step, current, _logs(logs, last_error))
                if stop_reason is not None:
                    break
            if stop_reason is None:
                adam_stop = "steps"
        stop_reason = stop_reason or (adam_stop if phase == 0 and adam_stop != "steps" else None)

        # --- L-BFGS -----------------------------------------------------------------------------
        if lbfgs is not None and lbfgs_opt is not None and stop_reason is None:
            if phase == 0:
                phase = 1
                with _promotion():
                    lbfgs_state = lbfgs_opt.init(diff)
            else:
                lbfgs_state = opt_state
            buffer = min(eval_every, lbfgs.max_iterations)
            # the budget and tolerances are arguments of the compiled chunk, not constants
            structure = dataclasses.replace(
                lbfgs, max_iterations=0, gradient_tolerance=0.0, loss_tolerance=0.0,
                resample_every=None,
            )  # fmt: skip
            rounds = lbfgs.resample_every
            tolerances = jnp.asarray([lbfgs.gradient_tolerance, lbfgs.loss_tolerance], dtype)
            while stop_reason is None:
                if lbfgs_done >= lbfgs.max_iterations:
                    stop_reason = "max_iterations"
                    break
                n = min(buffer, lbfgs.max_iterations - lbfgs_done)
                if rounds is not None:
                    n = min(n, rounds - round_done)
                lbfgs_args = (terms, structure, diff, static, lbfgs_state, weights, points,
                              masks, jnp.asarray(n, jnp.int32), tolerances, buffer)  # fmt: skip
                run_lbfgs = _executable(_lbfgs_chunk, lbfgs_args, timer)
                with timer.training():
                    diff, lbfgs_state, values, count, code, losses_now, causal_now = run_lbfgs(
                        *lbfgs_args
                    )
                    count = int(count)
                    code = int(code)
                values = np.asarray(values)[:count]
                logs = {
                    "loss": values,
                    "losses": {k: np.asarray(v) for k, v in losses_now.items()},
                    "weights": {k: np.asarray(v) for k, v in weights.items()},
                    "causal": {k: np.asarray(v) for k, v in causal_now.items()},
                }
                _record_lbfgs(log, step, count, logs, timer)
                step += count
                lbfgs_done += count
                round_done += count
                since_checkpoint += count
                if bar is not None:
                    bar.update(count)
                    if count:
                        bar.set_postfix(loss=f"{values[-1]:.3e}", refresh=False)
                current = eqx.combine(diff, static)
                evaluate(current)
                end_of_round = rounds is not None and (
                    round_done >= rounds or (code in _ROUND_ENDS and round_done > 0)
                )
                if code != _RUNNING and not end_of_round:
                    stop_reason = _LBFGS_REASONS[code]
                elif (
                    target_error is not None
                    and last_error is not None
                    and (last_error <= target_error)
                ):
                    stop_reason = "target_error"
                elif time_limit is not None and timer.total >= time_limit:
                    stop_reason = "time_limit"
                elif lbfgs_done >= lbfgs.max_iterations:
                    stop_reason = "max_iterations"
                if end_of_round and stop_reason is None:
                    redraw_args = (terms, diff, static, points, masks,
                                   jax.random.fold_in(redraw_key, round_index))  # fmt: skip
                    redraw = _executable(_redraw, redraw_args, timer)
                    with timer.training():
                        points, masks = redraw(*redraw_args)
                        with _promotion():
                            lbfgs_state = lbfgs_opt.init(diff)
                        jax.block_until_ready(points)
                    round_done = 0
                    round_index += 1
                if checkpoint_every is not None and (
                    since_checkpoint >= checkpoint_every or stop_reason is not None
                ):
                    opt_state = lbfgs_state
                    save(1, lbfgs_state)
                    since_checkpoint = 0
                if callback is not None:
                    callback(step, current, {"loss": float(values[-1]) if count else math.nan,
                                             **({} if last_error is None
                                                else {"rel_l2": last_error})})  # fmt: skip
        if stop_reason is None:
            stop_reason = adam_stop
    finally:
        if bar is not None:
            bar.close()

    return TrainResult(
        params=eqx.combine(diff, static),
        history=log.as_dict(step),
        stop_reason=stop_reason,
        adam_steps=int(np.sum(log.arrays["phase"][:step] == 0)),
        lbfgs_iterations=lbfgs_done,
        weights={k: float(v) for k, v in weights.items()},
        points=points,
        error=last_error,
        train_seconds=timer.total,
        compile_seconds=timer.compile_seconds,
        resumed_from=resumed_from,
    )


def _cast_floating(dtype: np.dtype) -> Callable[[Any], Any]:
    def cast(leaf: Any) -> Any:
        leaf = jnp.asarray(leaf)
        return leaf.astype(dtype) if jnp.issubdtype(leaf.dtype, jnp.floating) else leaf

    return cast


@eqx.filter_jit
def _evaluate_reference(reference: Reference, params: PyTree) -> Array:
    return reference.error(params)


def _logs(logs: Mapping[str, Any], error: float | None) -> dict[str, float]:
    out = {"loss": float(np.asarray(logs["loss"])[-1])}
    for name, values in logs["losses"].items():
        out[f"loss/{name}"] = float(np.asarray(values)[-1])
    if error is not None:
        out["rel_l2"] = error
    return out


class _Timer:
    def __init__(self, start: float):
        self.total = start
        self.compile_seconds = 0.0

    class _Span:
        def __init__(self, timer: _Timer, attribute: str):
            self.timer, self.attribute = timer, attribute

        def __enter__(self) -> None:
            self.start = time.perf_counter()

        def __exit__(self, *exc: object) -> None:
            elapsed = time.perf_counter() - self.start
            setattr(self.timer, self.attribute, getattr(self.timer, self.attribute) + elapsed)

    def training(self) -> _Timer._Span:
        return _Timer._Span(self, "total")

    def compiling(self) -> _Timer._Span:
        return _Timer._Span(self, "compile_seconds")


def _record(log: _History, step: int, n: int, logs: Mapping[str, Any], timer: _Timer,
            phase: int) -> None:  # fmt: skip
    end = step + n
    log.reserve(end)
    log.arrays["loss"][step:end] = np.asarray(logs["loss"])
    log.arrays["phase"][step:end] = phase
    start_time = log.arrays["seconds"][step - 1] if step > 0 else 0.0
    if not np.isfinite(start_time):
        start_time = 0.0
    log.arrays["seconds"][step:end] = np.linspace(start_time, timer.total, n + 1)[1:]
    for name, values in logs["losses"].items():
        log.arrays[f"loss/{name}"][step:end] = np.asarray(values)
    for name, values in logs["weights"].items():
        log.arrays[f"weight/{name}"][step:end] = np.asarray(values)
    for name, values in logs["causal"].items():
        log.arrays[f"causal/{name}"][step:end] = np.asarray(values)


def _record_lbfgs(log: _History, step: int, n: int, logs: Mapping[str, Any],
                  timer: _Timer) -> None:  # fmt: skip
    if n == 0:
        return
    end = step + n
    log.reserve(end)
    log.arrays["loss"][step:end] = logs["loss"]
    log.arrays["phase"][step:end] = 1
    start_time = log.arrays["seconds"][step - 1] if step > 0 else 0.0
    if not np.isfinite(start_time):
        start_time = 0.0
    log.arrays["seconds"][step:end] = np.linspace(start_time, timer.total, n + 1)[1:]
    for name, value in logs["losses"].items():
        log.arrays[f"loss/{name}"][end - 1] = value
    for name, value in logs["weights"].items():
        log.arrays[f"weight/{name}"][step:end] = value
    for name, value in logs["causal"].items():
        log.arrays[f"causal/{name}"][end - 1] = value


def _steps_per_call(eval_every: int, checkpoint_every: int | None) -> int:
    g = eval_every if checkpoint_every is None else math.gcd(eval_every, checkpoint_every)
    return max(d for d in range(1, min(g, _MAX_STEPS_PER_CALL) + 1) if g % d == 0)


def _weighted_total(
    terms: Mapping[str, Term],
    params: PyTree,
    points: Mapping[str, PyTree],
    masks: Mapping[str, Array],
    weights: Mapping[str, Array],
) -> tuple[Array, tuple[dict[str, Array], dict[str, Array]]]:
    losses, causal = evaluate_losses(terms, params, points, masks)
    total = sum((weights[k] * v for k, v in losses.items()), jnp.zeros((), next(
        iter(losses.values())).dtype))  # fmt: skip
    return total, (losses, causal)


def _resample(
    terms: Mapping[str, Term],
    params: PyTree,
    points: dict[str, PyTree],
    masks: dict[str, Array],
    key: Key,
    step: Array,
) -> tuple[dict[str, PyTree], dict[str, Array]]:
    points, masks = dict(points), dict(masks)
    for i, (name, term) in enumerate(terms.items()):
        sampler = term.sampler
        if sampler is None or sampler.resample_every is None:
            continue
        k = jax.random.fold_in(jax.random.fold_in(key, step), i)

        def size(x: Array, term: Term = term) -> Array:
            return jnp.sqrt(residual_norms(term.residual, params, x))

        def redraw(args: tuple[Array, Array], sampler: Any = sampler, k: Key = k,
                   size: Any = size) -> tuple[Array, Array]:  # fmt: skip
            return sampler.resample(k, args[0], args[1], size)

        current = (points[name], masks[name])
        if sampler.resample_every == 1:
            points[name], masks[name] = redraw(current)
        else:
            due = (step % sampler.resample_every == 0) & (step > 0)
            points[name], masks[name] = jax.lax.cond(due, redraw, lambda a: a, current)
    return points, masks


_EXECUTABLES: collections.OrderedDict[Any, Any] = collections.OrderedDict()
_MAX_EXECUTABLES = 16


def _executable(fn: Any, args: tuple[Any, ...], timer: _Timer) -> Any:
    """``fn`` compiled ahead of time for ``args`` (its compilation timed apart), reused by
    later calls, later ``train`` runs included, with the same static configuration (terms,
    optimiser, network structure) and the same shapes and dtypes: new seeds, stages of a
    curriculum or windows of time marching do not recompile."""
    dynamic, static = eqx.partition(args, eqx.is_array)
    leaves, dynamic_def = jax.tree_util.tree_flatten(dynamic)
    static_leaves, static_def = jax.tree_util.tree_flatten(static)
    abstract = tuple((leaf.shape, leaf.dtype, bool(getattr(leaf, "weak_type", False)))
                     for leaf in leaves)  # fmt: skip
    signature: Any = (fn, dynamic_def, abstract, static_def, tuple(static_leaves))
    try:
        hash(signature)
    except TypeError:  # an unhashable static part: compile for this run only
        signature = None
    if signature is not None and signature in _EXECUTABLES:
        _EXECUTABLES.move_to_end(signature)
        return _EXECUTABLES[signature]
    with timer.compiling():
        compiled = fn.lower(*args).compile()
    if signature is not None:
        _EXECUTABLES[signature] = compiled
        while len(_EXECUTABLES) > _MAX_EXECUTABLES:
            _EXECUTABLES.popitem(last=False)
    return compiled


@eqx.filter_jit
def _adam_chunk(
    terms, adam, weighting, trainable, diff, static, opt_state, weights, points, masks, step0,
    key, n,
):  # fmt: skip
    """``n`` Adam steps in one ``jax.lax.scan`` (resampling and reweighting inside)."""
    optimizer = adam.optimizer()

    def body(carry, _):
        diff, opt_state, weights, points, masks, step = carry
        params = eqx.combine(diff, static)
        points, masks = _resample(terms, params, points, masks, key, step)
        if weighting is not None:

            def reweight(w):
                target = weighting.target(terms, params, points, masks, trainable)
                return smooth_weights(w, target, weighting.momentum)

            due = step % weighting.every == 0
            weights = jax.lax.cond(due, reweight, lambda w: dict(w), weights)

        def objective(d):
            return _weighted_total(terms, eqx.combine(d, static), points, masks, weights)

        (loss, (losses, causal)), grads = jax.value_and_grad(objective, has_aux=True)(diff)
        with _promotion():
            updates, opt_state = optimizer.update(grads, opt_state, diff)
            diff = eqx.apply_updates(diff, updates)
        logs = {"loss": loss, "losses": losses, "weights": weights, "causal": causal}
        return (diff, opt_state, weights, points, masks, step + 1), logs

    carry = (diff, opt_state, weights, points, masks, step0)
    (diff, opt_state, weights, points, masks, _), logs = jax.lax.scan(body, carry, None, length=n)
    return (diff, opt_state, weights, points, masks), logs


@eqx.filter_jit
def _lbfgs_chunk(
    terms, config, diff, static, opt_state, weights, points, masks, n, tolerances, buffer
):  # fmt: skip
    """At most ``n`` L-BFGS iterations in one ``jax.lax.while_loop``, until a stop code."""
    optimizer = config.optimizer()

    def value_fn(d):
        return _weighted_total(terms, eqx.combine(d, static), points, masks, weights)[0]

    dtype = _float_dtype_of(diff, jnp.float32)

    def cond(state):
        _, _, count, code, _ = state
        return (count < n) & (code == _RUNNING)

    def body(state):
        diff, opt_state, count, code, values = state
        with _promotion():
            value, grad = optax.value_and_grad_from_state(value_fn)(diff, state=opt_state)
        grad_norm = _tree_norm(grad)
        small = grad_norm <= tolerances[0].astype(grad_norm.dtype)
        with _promotion():
            updates, new_state = optimizer.update(
                grad, opt_state, diff, value=value, grad=grad, value_fn=value_fn
            )
            new_diff = eqx.apply_updates(diff, updates)
        new_value = optax.tree.get(new_state, "value")
        finite = jnp.isfinite(new_value) & jnp.isfinite(value)
        decreased = new_value < value
        relative = (value - new_value) / jnp.maximum(jnp.abs(value), jnp.finfo(dtype).tiny)
        accept = (~small) & finite & decreased
        code = jnp.where(
            small,
            _GRADIENT,
            jnp.where(
                ~finite,
                _NON_FINITE,
                jnp.where(
                    ~decreased,
                    _NO_DECREASE,
                    jnp.where(relative <= tolerances[1].astype(relative.dtype), _LOSS, _RUNNING),
                ),
            ),
        ).astype(jnp.int32)
        diff, opt_state = jax.tree_util.tree_map(
            lambda new, old: jnp.where(accept, new, old), (new_diff, new_state),
            (diff, opt_state),
        )  # fmt: skip
        values = jnp.where(accept, values.at[count].set(new_value.astype(values.dtype)), values)
        count = count + accept.astype(jnp.int32)
        return diff, opt_state, count, code, values

    zero = jnp.zeros((), jnp.int32)
    values = jnp.full((buffer,), jnp.nan, dtype)
    diff, opt_state, count, code, values = jax.lax.while_loop(
        cond, body, (diff, opt_state, zero, zero, values)
    )
    losses, causal = evaluate_losses(terms, eqx.combine(diff, static), points, masks)
    return diff, opt_state, values, count, code, losses, causal


@eqx.filter_jit
def _redraw(terms, diff, static, points, masks, key):
    """New points for every term whose sampler resamples (adaptive ones from the residual)."""
    params = eqx.combine(diff, static)
    points, masks = dict(points), dict(masks)
    for i, (name, term) in enumerate(terms.items()):
        sampler = term.sampler
        if sampler is None or sampler.resample_every is None:
            continue

        def size(x, term=term):
            return jnp.sqrt(residual_norms(term.residual, params, x))

        points[name], masks[name] = sampler.resample(
            jax.random.fold_in(key, i), points[name], masks[name], size
        )
    return points, masks


# --- checkpoints -------------------------------------------------------------------------------


def _save_checkpoint(
    path, diff, opt_state, weights, points, masks, log, config, fingerprint, step, phase,
    adam_stop, lbfgs_done, rounds, seconds,
) -> None:  # fmt: skip
    from dmech.data import save_tree

    tree = {
        "params": diff,
        "opt_state": opt_state,
        "weights": weights,
        "points": points,
        "masks": masks,
        "history": log.trimmed(step),
    }
    extra = {
        "step": step,
        "phase": phase,
        "key": fingerprint,
        "adam_stop": adam_stop,
        "lbfgs_done": lbfgs_done,
        "rounds": list(rounds),
        "seconds": seconds,
        "eval_step": log.eval_step,
        "eval_seconds": log.eval_seconds,
        "errors": log.errors,
    }
    save_tree(path, tree, kind="checkpoint", generator=_GENERATOR, params=config, extra=extra)


def _load_checkpoint(
    path, diff, opt_state, lbfgs_like, weights, points, masks, log, config, fingerprint
):  # fmt: skip
    from dmech.data import DataFileError, load_tree, read_card

    card = read_card(path)
    if card.kind != "checkpoint" or card.generator != _GENERATOR:
        raise DataFileError(path, f"not a pinn.train checkpoint (kind={card.kind!r})")
    if card.extra.get("key") != fingerprint:
        raise DataFileError(path, "the checkpoint was written with a different key")
    phase = int(card.extra["phase"])
    steps = int(card.extra["step"])
    like = {
        "params": diff,
        "opt_state": opt_state if phase == 0 else lbfgs_like,
        "weights": weights,
        "points": points,
        "masks": masks,
        "history": log.trimmed(steps),
    }
    tree, card = load_tree(path, like, kind="checkpoint", generator=_GENERATOR, params=config)
    log.reserve(steps)
    for name, values in tree["history"].items():
        log.arrays[name][:steps] = values
    log.eval_step = list(card.extra["eval_step"])
    log.eval_seconds = list(card.extra["eval_seconds"])
    log.errors = list(card.extra["errors"])
    return (
        tree["params"], tree["opt_state"], tree["weights"], tree["points"], tree["masks"],
        int(card.extra["step"]), phase, str(card.extra["adam_stop"]),
        int(card.extra["lbfgs_done"]), tuple(card.extra.get("rounds", (0, 0))),
        float(card.extra["seconds"]),
    )  # fmt: skip


def _progress_bar(progress: bool | None, total: int, start: int) -> Any:
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc="pinn", unit="step", leave=False)
