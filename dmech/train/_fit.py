"""The one training loop of dmech: equinox models, optax optimisers, pure jitted steps."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import equinox as eqx
import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .._checks import check_int
from .._custom_types import Key, PyTree

_GENERATOR = "dmech.train.fit"
_MAX_STEPS_PER_CALL = 200


class TrainingDivergedError(FloatingPointError):
    """The training loss became non-finite. The last checkpoint (if any) holds a finite state."""


@dataclasses.dataclass(frozen=True)
class EarlyStopping:
    """Stop training when a monitored metric stops improving.

    The metric is read at every evaluation (``eval_every`` steps). ``monitor`` names a key
    returned by ``eval_fn`` or ``"train_loss"``, the mean training loss since the previous
    evaluation.

    Args:
        monitor: name of the metric to watch.
        patience: number of evaluations without improvement after which training stops.
        min_delta: smallest change that counts as an improvement.
        mode: ``"min"`` if smaller is better, ``"max"`` if larger is better.
        restore_best: return the parameters of the best evaluation rather than the last ones.
    """

    monitor: str = "train_loss"
    patience: int = 10
    min_delta: float = 0.0
    mode: Literal["min", "max"] = "min"
    restore_best: bool = True

    def __post_init__(self):
        if not isinstance(self.patience, int) or self.patience < 1:
            raise ValueError(
                f"EarlyStopping: patience must be a positive int, got {self.patience!r}"
            )
        if self.min_delta < 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {self.min_delta!r}")
        if self.mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {self.mode!r}")

    def improved(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        if self.mode == "min":
            return value < best - self.min_delta
        return value > best + self.min_delta


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model (the best one if early stopping restored it).
        opt_state: the optimiser state after the last step taken.
        history: numpy arrays: ``"step"`` (1-based step numbers), ``"loss"`` and every auxiliary
            value the loss returned, one entry per step taken; ``"eval_step"`` and every metric of
            ``eval_fn`` (plus ``"train_loss"``), one entry per evaluation.
        steps_done: number of optimisation steps taken in total (resumed ones included).
        start_step: step the run started from (non-zero when resumed from a checkpoint).
        stopped_early: whether early stopping ended the run.
        best_step: step of the best evaluation (early stopping), else ``None``.
        compile_seconds: wall time spent compiling the jitted training chunks in this process.
        train_seconds: wall time of the training steps in this process, compilation excluded.
        num_devices: number of devices the batch was sharded over.
    """

    model: PyTree
    opt_state: PyTree
    history: dict[str, np.ndarray]
    steps_done: int
    start_step: int
    stopped_early: bool
    best_step: int | None
    compile_seconds: float
    train_seconds: float
    num_devices: int

    @property
    def steps_per_second(self) -> float:
        """Training steps per second in this process, compilation excluded."""
        taken = self.steps_done - self.start_step
        return taken / self.train_seconds if self.train_seconds > 0 else float("nan")


def fit(
    model: PyTree,
    loss_fn: Callable[[PyTree, PyTree, Key], Any],
    optimizer: optax.GradientTransformation,
    data: PyTree | None = None,
    *,
    key: Key,
    steps: int,
    batch_size: int | None = None,
    eval_fn: Callable[[PyTree], Mapping[str, Any]] | None = None,
    eval_every: int | None = None,
    early_stopping: EarlyStopping | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = True,
    callback: Callable[[int, PyTree, Mapping[str, float]], None] | None = None,
    devices: Sequence[jax.Device] | None = None,
    steps_per_call: int | None = None,
    trainable: Any = eqx.is_inexact_array,
    progress: bool | None = None,
) -> FitResult:
    """Train an equinox model with an optax optimiser.

    Every step draws a minibatch, evaluates ``loss_fn(model, batch, key)``, and applies the
    optimiser's update to the trainable leaves:

    ``θ_{k+1} = θ_k + update(∇_θ L(θ_k; batch_k, key_k), state_k)``.

    Minibatches are an epoch-wise random permutation of the data (the last incomplete batch of
    each epoch is dropped). The permutation of epoch ``e`` is drawn from
    ``fold_in(fold_in(key, 0), e)`` and the loss key of step ``k`` is
    ``fold_in(fold_in(key, 1), k)``, so the whole run is a pure function of ``key`` and the step
    number. That is what makes resume exact: a run resumed from a checkpoint ends bit-identical
    to an uninterrupted one (same devices, same ``steps_per_call``).

    Steps run ``steps_per_call`` at a time inside one jitted ``lax.scan``; evaluation,
    checkpoints, the callback and the progress bar happen between such calls. On the CPU a
    loss with a convolution runs those steps one jitted call each instead: XLA's CPU
    convolutions are several times slower inside a loop.

    With several devices the batch is sharded over them along its leading axis
    (``jax.sharding``) and the model and optimiser state are replicated: plain data
    parallelism, equal to the single-device result up to the order of floating-point sums.
    The data are placed once on every device and batches are gathered inside the jitted step,
    which suits datasets that fit in device memory.

    Args:
        model: an equinox Module (or any pytree) to train.
        loss_fn: ``loss_fn(model, batch, key) -> loss`` or ``-> (loss, aux)`` with ``aux`` a dict
            of scalars recorded per step. ``batch`` has the structure of ``data`` with leading
            axis ``batch_size`` (``data`` itself when ``batch_size`` is ``None``).
        optimizer: an optax gradient transformation.
        data: a pytree of arrays sharing the leading axis ``N`` (``None`` for losses that draw
            their own points from ``key``, such as PINN residuals).
        key: PRNG key for the data order and the per-step loss keys.
        steps: total number of optimisation steps (resumed ones included).
        batch_size: minibatch size; ``None`` uses the full data every step.
        eval_fn: ``eval_fn(model) -> {name: scalar}``, called every ``eval_every`` steps.
        eval_every: evaluation interval in steps.
        early_stopping: an :class:`EarlyStopping` rule (needs ``eval_every``).
        checkpoint: path of the checkpoint file (a dmech.data file, written atomically).
        checkpoint_every: checkpoint interval in steps (needed with ``checkpoint``).
        resume: continue from ``checkpoint`` when it exists (otherwise it is overwritten).
        callback: ``callback(step, model, logs)`` after every call of the jitted chunk.
        devices: devices to shard the batch over; default: as many of ``jax.devices()`` as
            divide ``batch_size``.
        steps_per_call: steps per jitted call; default: the largest divisor of the evaluation
            and checkpoint intervals up to 200.
        trainable: equinox filter selecting the trained leaves (default: inexact arrays).
        progress: show a progress bar; default: only when stderr is a terminal.

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError: on inconsistent arguments, before anything is compiled.
        TrainingDivergedError: when the loss becomes NaN or infinite (the step is named).

    Example:
        >>> import jax, jax.numpy as jnp, optax
        >>> from dmech.nn import MLP
        >>> from dmech.train import fit
        >>> x = jnp.linspace(-1, 1, 64)[:, None]; y = jnp.sin(3 * x)
        >>> def loss(model, batch, key):
        ...     xb, yb = batch
        ...     return jnp.mean((jax.vmap(model)(xb) - yb) ** 2)
        >>> model = MLP(1, 1, 32, 2, key=jax.random.key(0))
        >>> result = fit(model, loss, optax.adam(1e-2), (x, y), key=jax.random.key(1),
        ...              steps=200, batch_size=16)
        >>> bool(result.history["loss"][-1] < result.history["loss"][0])
        True
    """
    check_int(steps, "steps")
    num_data = _check_data(data, batch_size)
    for name, value in (("eval_every", eval_every), ("checkpoint_every", checkpoint_every)):
        if value is not None:
            check_int(value, name)
    if eval_fn is not None and eval_every is None:
        raise ValueError("eval_every is required when eval_fn is given")
    if early_stopping is not None and eval_every is None:
        raise ValueError("early_stopping needs eval_every (it acts at evaluations)")
    if (checkpoint is None) != (checkpoint_every is None):
        raise ValueError("checkpoint and checkpoint_every must be given together")
    steps_per_call = _steps_per_call(steps_per_call, eval_every, checkpoint_every, steps)
    devices = _choose_devices(devices, batch_size, data)

    params, rest = eqx.partition(model, trainable)
    if not jax.tree_util.tree_leaves(params):
        raise ValueError("trainable selects no leaves of model: nothing to train")
    with _optax_promotion():
        opt_state = optimizer.init(params)

    mesh = Mesh(np.asarray(devices), ("data",))
    replicated = NamedSharding(mesh, P())
    batch_sharding = NamedSharding(mesh, P("data"))
    params, rest, opt_state, data = _put((params, rest, opt_state, data), replicated)
    data_key = jax.random.fold_in(key, 0)
    loss_key = jax.random.fold_in(key, 1)

    def loss_with_aux(p, rest, batch, k):
        out = loss_fn(eqx.combine(p, rest), batch, k)
        loss, aux = out if isinstance(out, tuple) else (out, {})
        if not isinstance(aux, Mapping):
            raise TypeError("loss_fn must return a scalar or (scalar, dict of scalars)")
        return jnp.asarray(loss), dict(aux)

    grad_fn = jax.value_and_grad(loss_with_aux, has_aux=True)
    steps_per_epoch = 0 if batch_size is None or num_data is None else num_data // batch_size

    def chunk(params, rest, opt_state, step0, data, data_key, loss_key, n):
        def epoch_perm(step):
            epoch = step // steps_per_epoch
            return jax.random.permutation(jax.random.fold_in(data_key, epoch), num_data)

        def body(carry, _):
            params, opt_state, step, perm = carry
            if batch_size is None:
                batch = data
            else:
                within = step % steps_per_epoch
                perm = jax.lax.cond(within == 0, epoch_perm, lambda _: perm, step)
                idx = jax.lax.dynamic_slice_in_dim(perm, within * batch_size, batch_size)
                batch = jax.tree_util.tree_map(lambda x: jnp.take(x, idx, axis=0), data)
                batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
            k = jax.random.fold_in(loss_key, step)
            (loss, aux), grads = grad_fn(params, rest, batch, k)
            with _optax_promotion():
                updates, opt_state = optimizer.update(grads, opt_state, params)
            params = eqx.apply_updates(params, updates)
            return (params, opt_state, step + 1, perm), (loss, aux)

        perm0 = epoch_perm(step0) if batch_size is not None else jnp.zeros((), jnp.int32)
        if n == 1:  # no loop (see `_loops_slow_down`)
            (params, opt_state, _, _), out = body((params, opt_state, step0, perm0), None)
            losses, auxs = jax.tree_util.tree_map(lambda x: x[None], out)
            return params, opt_state, losses, auxs
        (params, opt_state, _, _), (losses, auxs) = jax.lax.scan(
            body, (params, opt_state, step0, perm0), None, length=n
        )
        return params, opt_state, losses, auxs

    chunk_jit = eqx.filter_jit(chunk)

    timings = {"compile": 0.0, "train": 0.0}
    executables: dict[int, Any] = {}  # one per chunk length, compiled ahead of time

    def compiled(n, args):
        if n not in executables:
            t0 = time.perf_counter()
            executables[n] = chunk_jit.lower(*args, n).compile()
            timings["compile"] += time.perf_counter() - t0
        return executables[n]

    # Shapes of the auxiliary values, to allocate the per-step history up front.
    example_batch = _example_batch(data, batch_size)
    traced, (_, aux_shape), _ = eqx.filter_make_jaxpr(loss_with_aux)(
        params, rest, example_batch, loss_key
    )
    step_by_step = _loops_slow_down(traced.jaxpr, devices)
    for name, leaf in aux_shape.items():
        if leaf.shape != ():
            raise TypeError(f"loss_fn aux {name!r} must be a scalar, got shape {leaf.shape}")

    log = _History(steps, list(aux_shape))
    stop = _StopState()
    best_params = None
    start_step = 0
    config = {
        "steps": steps,
        "batch_size": batch_size,
        "num_data": num_data,
        "steps_per_call": steps_per_call,
        "eval_every": eval_every,
        "checkpoint_every": checkpoint_every,
        "num_devices": len(devices),
    }
    key_bytes = _key_fingerprint(key)

    if checkpoint is not None and resume and Path(checkpoint).exists():
        params, opt_state, start_step, best_params = _load_checkpoint(
            checkpoint, params, opt_state, log, stop, config, key_bytes, early_stopping
        )
        params, opt_state = _put((params, opt_state), replicated)

    step = start_step
    bar = _progress_bar(progress, steps, start_step)
    try:
        while step < steps and not stop.stopped:
            n = min(steps_per_call, steps - step)
            args = (params, rest, opt_state, jnp.asarray(step, jnp.int32), data, data_key, loss_key)
            fn = compiled(1 if step_by_step else n, args)
            t0 = time.perf_counter()
            if step_by_step:
                params, opt_state, losses, auxs = _one_call_a_step(fn, args, n)
            else:
                params, opt_state, losses, auxs = fn(*args, n)
            losses = np.asarray(losses)  # blocks until the chunk is done
            timings["train"] += time.perf_counter() - t0
            bad = np.flatnonzero(~np.isfinite(losses))
            if bad.size:
                raise TrainingDivergedError(
                    f"training loss became {losses[bad[0]]} at step {step + bad[0] + 1}"
                    + (f"; the last checkpoint is {checkpoint}" if checkpoint else "")
                )
            log.record(step, losses, {k: np.asarray(v) for k, v in auxs.items()})
            step += n
            model_now = eqx.combine(params, rest)
            if bar is not None:
                bar.update(n)
                bar.set_postfix(loss=f"{losses[-1]:.3e}", refresh=False)
            if eval_every is not None and step % eval_every == 0:
                metrics = dict(eval_fn(model_now)) if eval_fn is not None else {}
                metrics = {k: float(v) for k, v in metrics.items()}
                metrics["train_loss"] = log.mean_loss_since_eval(step)
                log.record_eval(step, metrics)
                if early_stopping is not None:
                    if early_stopping.monitor not in metrics:
                        raise ValueError(
                            f"early_stopping.monitor={early_stopping.monitor!r} is not among "
                            f"the evaluated metrics {sorted(metrics)}"
                        )
                    value = metrics[early_stopping.monitor]
                    if early_stopping.improved(value, stop.best_value):
                        stop.best_value, stop.best_step, stop.bad_count = value, step, 0
                        if early_stopping.restore_best:
                            best_params = jax.tree_util.tree_map(np.asarray, params)
                    else:
                        stop.bad_count += 1
                        stop.stopped = stop.bad_count >= early_stopping.patience
            if callback is not None:
                callback(step, model_now, {"loss": float(losses[-1])})
            if checkpoint is not None and (
                step % (checkpoint_every or steps) == 0 or step == steps or stop.stopped
            ):
                _save_checkpoint(
                    checkpoint, params, opt_state, step, best_params, log, stop, config, key_bytes
                )
    finally:
        if bar is not None:
            bar.close()

    if early_stopping is not None and early_stopping.restore_best and best_params is not None:
        params = jax.tree_util.tree_map(jnp.asarray, best_params)
    return FitResult(
        model=_put(eqx.combine(params, rest), devices[0]),
        opt_state=_put(opt_state, devices[0]),
        history=log.as_dict(step),
        steps_done=step,
        start_step=start_step,
        stopped_early=stop.stopped,
        best_step=stop.best_step,
        compile_seconds=timings["compile"],
        train_seconds=timings["train"],
        num_devices=len(devices),
    )


# --- bookkeeping -----------------------------------------------------------------------------


class _History:
    """Per-step losses in preallocated arrays (fixed shapes make checkpoints simple)."""

    def __init__(self, steps: int, aux_names: list[str]):
        self.loss = np.full(steps, np.nan, np.float64)
        self.aux = {name: np.full(steps, np.nan, np.float64) for name in aux_names}
        self.eval_step: list[int] = []
        self.eval: dict[str, list[float]] = {}

    def record(self, step: int, losses: np.ndarray, auxs: Mapping[str, np.ndarray]) -> None:
        n = losses.shape[0]
        self.loss[step : step + n] = losses
        for name, values in auxs.items():
            self.aux[name][step : step + n] = values

    def mean_loss_since_eval(self, step: int) -> float:
        last = self.eval_step[-1] if self.eval_step else 0
        return float(np.mean(self.loss[last:step]))

    def record_eval(self, step: int, metrics: Mapping[str, float]) -> None:
        self.eval_step.append(step)
        for name, value in metrics.items():
            self.eval.setdefault(name, []).append(value)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"loss": self.loss, **{f"aux/{k}": v for k, v in self.aux.items()}}

    def as_dict(self, step: int) -> dict[str, np.ndarray]:
        out = {"step": np.arange(1, step + 1), "loss": self.loss[:step].copy()}
        out.update({k: v[:step].copy() for k, v in self.aux.items()})
        out["eval_step"] = np.asarray(self.eval_step, dtype=np.int64)
        out.update({k: np.asarray(v, np.float64) for k, v in self.eval.items()})
        return out


@dataclasses.dataclass
class _StopState:
    best_value: float | None = None
    best_step: int | None = None
    bad_count: int = 0
    stopped: bool = False


def _save_checkpoint(path, params, opt_state, step, best_params, log, stop, config, key_bytes):
    from ..data import save_tree

    tree = {
        "params": params,
        "opt_state": opt_state,
        "history": log.arrays(),
        "best_params": best_params if best_params is not None else {},
    }
    extra = {
        "step": step,
        "key": key_bytes,
        "eval_step": log.eval_step,
        "eval": log.eval,
        "stop": dataclasses.asdict(stop),
        "has_best_params": best_params is not None,
    }
    save_tree(path, tree, kind="checkpoint", generator=_GENERATOR, params=config, extra=extra)


def _load_checkpoint(path, params, opt_state, log, stop, config, key_bytes, early_stopping):
    from ..data import DataFileError, load_tree, read_card

    card = read_card(path)
    if card.kind != "checkpoint" or card.generator != _GENERATOR:
        raise DataFileError(path, f"not a dmech.train checkpoint (kind={card.kind!r})")
    if card.extra.get("key") != key_bytes:
        raise DataFileError(path, "checkpoint was written with a different key")
    has_best = bool(card.extra.get("has_best_params"))
    like = {
        "params": params,
        "opt_state": opt_state,
        "history": log.arrays(),
        "best_params": jax.tree_util.tree_map(np.asarray, params) if has_best else {},
    }
    tree, card = load_tree(path, like, kind="checkpoint", generator=_GENERATOR, params=config)
    log.loss[:] = tree["history"]["loss"]
    for name in log.aux:
        log.aux[name][:] = tree["history"][f"aux/{name}"]
    log.eval_step = list(card.extra["eval_step"])
    log.eval = {k: list(v) for k, v in card.extra["eval"].items()}
    for name, value in card.extra["stop"].items():
        setattr(stop, name, value)
    if early_stopping is None:
        stop.stopped = False
    best = tree["best_params"] if has_best else None
    return tree["params"], tree["opt_state"], int(card.extra["step"]), best


def _key_fingerprint(key) -> list[int]:
    if jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return [int(v) for v in np.asarray(key).ravel()]


# --- argument checks and helpers -------------------------------------------------------------


def _check_data(data, batch_size) -> int | None:
    leaves = jax.tree_util.tree_leaves(data)
    if batch_size is not None:
        check_int(batch_size, "batch_size")
        if not leaves:
            raise ValueError("batch_size needs data to draw batches from")
    if not leaves:
        return None
    sizes = set()
    for leaf in leaves:
        shape = np.shape(leaf)
        if len(shape) == 0:
            raise ValueError("data: every array needs a leading (sample) axis; got a scalar")
        sizes.add(shape[0])
    if len(sizes) != 1:
        raise ValueError(f"data: arrays disagree on the number of samples: {sorted(sizes)}")
    (num,) = sizes
    if batch_size is not None and batch_size > num:
        raise ValueError(f"batch_size={batch_size} exceeds the number of samples {num}")
    return num


def _one_call_a_step(fn: Any, args: tuple, n: int) -> tuple:
    """``n`` steps of the one-step executable ``fn``, with their losses and auxiliary values
    stacked as the scanned chunk returns them."""
    params, rest, opt_state, step0, data, data_key, loss_key = args
    outs = []
    for i in range(n):
        params, opt_state, *out = fn(
            params, rest, opt_state, step0 + i, data, data_key, loss_key, 1
        )
        outs.append(out)
    losses, auxs = jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *outs)
    return params, opt_state, losses, auxs


def _loops_slow_down(jaxpr: Any, devices: Sequence[jax.Device]) -> bool:
    """Whether the loss has a convolution and runs on the CPU, where XLA's convolutions inside
    a loop are slow: a U-Net training step (2-D, 32², batch 10, jax 0.10.2) took 0.59 s inside
    ``lax.scan`` and 0.06 s on its own or unrolled. Such losses run one step per call."""
    return devices[0].platform == "cpu" and _has_primitive(jaxpr, "conv_general_dilated")


def _has_primitive(jaxpr: Any, name: str) -> bool:
    """Whether ``jaxpr`` or one of its sub-jaxprs (loops, branches, custom rules) has ``name``."""

    def subjaxprs(value: Any) -> Iterator[Any]:
        if isinstance(value, jax.extend.core.ClosedJaxpr):
            yield value.jaxpr
        elif isinstance(value, jax.extend.core.Jaxpr):
            yield value
        elif isinstance(value, (tuple, list)):
            for item in value:
                yield from subjaxprs(item)

    for eqn in jaxpr.eqns:
        if eqn.primitive.name == name:
            return True
        for value in eqn.params.values():
            if any(_has_primitive(sub, name) for sub in subjaxprs(value)):
                return True
    return False


def _steps_per_call(requested, eval_every, checkpoint_every, steps) -> int:
    intervals = [i for i in (eval_every, checkpoint_every) if i is not None]
    if requested is not None:
        check_int(requested, "steps_per_call")
        for interval in intervals:
            if interval % requested:
                raise ValueError(
                    f"steps_per_call={requested} must divide eval_every and checkpoint_every "
                    f"(got {eval_every}, {checkpoint_every})"
                )
        return requested
    if not intervals:
        return min(steps, _MAX_STEPS_PER_CALL)
    g = math.gcd(*intervals)
    return max(d for d in range(1, min(g, _MAX_STEPS_PER_CALL) + 1) if g % d == 0)


def _choose_devices(devices, batch_size, data) -> list[jax.Device]:
    if devices is not None:
        devices = list(devices)
        if not devices:
            raise ValueError("devices must not be empty")
        if batch_size is not None and batch_size % len(devices):
            raise ValueError(
                f"batch_size={batch_size} must be a multiple of the number of devices "
                f"({len(devices)}) to shard the batch"
            )
        return devices
    available = jax.devices()
    if batch_size is None or data is None:
        return available[:1]
    count = max(c for c in range(1, len(available) + 1) if batch_size % c == 0)
    return available[:count]


def _optax_promotion():
    """optax mixes int32 step counts with Python floats, which strict dtype promotion (a
    debugging setting users and our tests enable) rejects; scope standard promotion to it."""
    return jax.numpy_dtype_promotion("standard")


def _put(tree, target):
    """device_put every array leaf of ``tree`` (numpy or jax) to a device or sharding."""
    return jax.tree_util.tree_map(
        lambda x: jax.device_put(x, target) if eqx.is_array(x) else x, tree
    )


def _example_batch(data, batch_size):
    if batch_size is None:
        return data
    return jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct((batch_size, *x.shape[1:]), x.dtype), data
    )


def _progress_bar(progress, steps, start):
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=steps, initial=start, desc="training", unit="step", leave=False)
