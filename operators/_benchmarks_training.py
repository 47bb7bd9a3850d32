"""Shared machinery of the operator-learning benchmarks: training with `dmech.train.fit`, the
neuraloperator peer trained on the same arrays in PyTorch, timings and the benchmark `Case`.

The measured operation of every operator benchmark is a training run from the same initial
weights: `run()` returns a `Measured` whose `seconds` is the training wall time per epoch
(compilation excluded), so the harness's `speedup_vs_peer` is the per-epoch speed-up. The
harness's first, untimed call trains a single epoch (it exists to compile); every later call
trains the full `epochs` from scratch, and the last one's model is evaluated.

Runs of hours checkpoint: with `checkpoint` set, the timed trainings of both libraries save
their state every `CHECKPOINT_EVERY_EPOCHS` epochs (`fit`'s checkpoint for ours, `torch.save`
for the peer's model, optimiser, schedule and batch-order generator) and resume from it, so an
interrupted benchmark run started again with the same parameters goes on where it stopped.
Each segment's epochs and wall time accumulate in a JSON file beside the checkpoint, and the
seconds per epoch are their totals' ratio (the run's own, whichever process trained them).
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dmech.bench import Case, Measured, Peer
from dmech.data import atomic_write
from dmech.train import fit

from ._losses import step_decay_adam, supervised_loss

__all__ = [
    "CHECKPOINT_EVERY_EPOCHS",
    "TrainingProblem",
    "exact_gelu",
    "parse_resolutions",
    "relative_l2_numpy",
    "scalar_normalisation",
    "seconds_per_call",
    "training_case",
]

exact_gelu = functools.partial(jax.nn.gelu, approximate=False)

CHECKPOINT_EVERY_EPOCHS = 10


def parse_resolutions(text: str, name: str = "eval_resolutions") -> tuple[int, ...]:
    """`"141,211"` -> `(141, 211)`; empty text -> `()`."""
    try:
        values = tuple(int(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{name} must be comma-separated ints, got {text!r}") from None
    if any(v < 1 for v in values):
        raise ValueError(f"{name} must be positive, got {text!r}")
    return values


def relative_l2_numpy(pred: Any, target: Any) -> np.ndarray:
    """Per-sample relative L2 error in float64, `(batch,)`."""
    pred = np.asarray(pred, np.float64).reshape(len(pred), -1)
    target = np.asarray(target, np.float64).reshape(len(target), -1)
    return np.linalg.norm(pred - target, axis=1) / np.linalg.norm(target, axis=1)


def scalar_normalisation(train_inputs: np.ndarray, train_outputs: np.ndarray) -> dict[str, float]:
    """One mean and standard deviation for the inputs, one scale for the outputs (scalars, so
    the same normalisation applies at every resolution; the relative L2 error of the outputs
    does not depend on their scale)."""
    return {
        "input_mean": float(np.mean(train_inputs)),
        "input_std": float(np.std(train_inputs)) or 1.0,
        "output_scale": float(np.sqrt(np.mean(np.square(train_outputs)))) or 1.0,
    }


def seconds_per_call(fn: Callable[[], Any], repeats: int = 3) -> float:
    """Median wall time of `fn()` after one warm-up call (which compiles)."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class TrainingProblem(eqx.Module):
    """Everything a training benchmark needs, as arrays and callables.

    Attributes:
        model: the initial model (the peer starts from the same weights).
        train: `(inputs, targets)`, NumPy arrays with a leading sample axis.
        tests: `{resolution: (inputs, targets)}`; the training resolution's entry is the
            headline error.
        train_resolution: a key of `tests`.
        predict: `predict(model, inputs) -> predictions` on a batch (jittable).
        loss_fn: `loss_fn(model, batch, key)` for `fit` (default: relative L2 of `predict`).
    """

    model: Any
    train: tuple[np.ndarray, np.ndarray]
    tests: dict[int, tuple[np.ndarray, np.ndarray]]
    train_resolution: int = eqx.field(static=True)
    predict: Callable[[Any, Any], Any] = eqx.field(static=True)
    loss_fn: Callable[[Any, Any, Any], Any] | None = eqx.field(static=True, default=None)


def evaluate_by_resolution(
    predict: Callable[[np.ndarray], np.ndarray],
    tests: Mapping[int, tuple[np.ndarray, np.ndarray]],
    batch_size: int = 16,
) -> dict[int, float]:
    """Mean relative L2 error of `predict` (NumPy in, NumPy out) on each test set."""
    table = {}
    for resolution, (inputs, targets) in tests.items():
        errors = [
            relative_l2_numpy(predict(inputs[i : i + batch_size]), targets[i : i + batch_size])
            for i in range(0, len(inputs), batch_size)
        ]
        table[int(resolution)] = float(np.mean(np.concatenate(errors)))
    return table


def _jax_predictor(problem: TrainingProblem, model: Any) -> Callable[[np.ndarray], np.ndarray]:
    predict = eqx.filter_jit(problem.predict)
    return lambda inputs: np.asarray(predict(model, jnp.asarray(inputs)))


class _SegmentClock:
    """Epochs and training seconds of one library's run, accumulated over the processes that
    trained it (a JSON file beside its checkpoint; in memory without one). Made before the
    training: a run that starts from scratch (`resumed=False`) drops what an earlier run left
    in the file."""

    def __init__(self, path: Path | None, library: str, *, resumed: bool):
        self.path, self.library = path, library
        self.epochs, self.seconds = 0, 0.0
        if path is None or not path.exists():
            return
        record = json.loads(path.read_text()).get(library, {})
        if resumed:  # (an interrupted segment records nothing)
            self.epochs, self.seconds = int(record.get("epochs", 0)), record.get("seconds", 0.0)
        elif record:
            self._write(None)

    def _write(self, record: dict[str, Any] | None) -> None:
        assert self.path is not None
        records = json.loads(self.path.read_text()) if self.path.exists() else {}
        records.pop(self.library, None)
        if record is not None:
            records[self.library] = record
        data = json.dumps(records).encode()
        atomic_write(self.path, lambda file: file.write(data))

    def add(self, epochs: int, seconds: float) -> None:
        self.epochs += epochs
        self.seconds += seconds
        if self.path is not None:
            self._write({"epochs": self.epochs, "seconds": self.seconds})

    def seconds_per_epoch(self) -> float:
        if self.epochs == 0:
            raise RuntimeError(f"no timed epochs recorded for {self.library} in {self.path}")
        return self.seconds / self.epochs


def _clock(checkpoint: Path | None, library: str) -> _SegmentClock:
    if checkpoint is None:
        return _SegmentClock(None, library, resumed=False)
    path = checkpoint.with_name(checkpoint.name + ".timing.json")
    return _SegmentClock(path, library, resumed=checkpoint.exists())


def train_dmech(
    problem: TrainingProblem,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    checkpoint: Path | None = None,
) -> Measured:
    """Train `problem.model` with `fit` and the step-decay Adam of Li et al. (2021); with
    `checkpoint`, save every `CHECKPOINT_EVERY_EPOCHS` epochs and resume from it."""
    inputs, targets = problem.train
    steps_per_epoch = len(inputs) // batch_size
    loss_fn = problem.loss_fn or supervised_loss(problem.predict)
    clock = _clock(checkpoint, "dmech")
    result = fit(
        problem.model,
        loss_fn,
        step_decay_adam(steps_per_epoch),
        (jnp.asarray(inputs), jnp.asarray(targets)),
        key=jax.random.key(seed),
        steps=epochs * steps_per_epoch,
        batch_size=batch_size,
        steps_per_call=steps_per_epoch,
        checkpoint=checkpoint,
        checkpoint_every=None if checkpoint is None else CHECKPOINT_EVERY_EPOCHS * steps_per_epoch,
        progress=False,
    )
    clock.add((result.steps_done - result.start_step) // steps_per_epoch, result.train_seconds)
    return Measured(result.model, clock.seconds_per_epoch(), result.compile_seconds)


def train_torch(
    peer: Any,
    train: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    predict: Callable[[Any, Any], Any] | None = None,
    checkpoint: Path | None = None,
) -> Measured:
    """Train a torch module as the FNO reference code does: Adam (lr 1e-3, weight decay 1e-4),
    `StepLR(step_size=100 epochs, gamma=0.5)`, the mean relative L2 loss, shuffled batches
    (the last incomplete batch dropped, as `fit` does). With `checkpoint`, the module,
    optimiser, schedule and generator are saved every `CHECKPOINT_EVERY_EPOCHS` epochs
    (atomically) and a run resumes from them."""
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.ascontiguousarray(train[0], np.float32))
    y = torch.from_numpy(np.ascontiguousarray(train[1], np.float32))
    optimiser = torch.optim.Adam(peer.parameters(), lr=1e-3, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimiser, step_size=100, gamma=0.5)
    forward = predict or (lambda module, inputs: module(inputs))
    n_batches = len(x) // batch_size
    clock = _clock(checkpoint, "neuraloperator")
    first = 0
    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        if state["epochs"] != epochs or state["seed"] != seed:
            raise ValueError(
                f"checkpoint {checkpoint} belongs to another run (epochs {state['epochs']}, "
                f"seed {state['seed']}); remove it or choose another file"
            )
        peer.load_state_dict(state["module"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        first = state["epoch"]

    def save(epoch: int) -> None:
        assert checkpoint is not None
        state = {
            "module": peer.state_dict(),
            "optimiser": optimiser.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generator": generator.get_state(),
            "epoch": epoch,
            "epochs": epochs,
            "seed": seed,
        }
        atomic_write(checkpoint, lambda file: torch.save(state, file))

    peer.train()
    seconds = 0.0
    for epoch in range(first, epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x), generator=generator)
        for b in range(n_batches):
            index = order[b * batch_size : (b + 1) * batch_size]
            pred = forward(peer, x[index])
            target = y[index]
            diff = (pred - target).reshape(batch_size, -1).norm(dim=1)
            loss = (diff / target.reshape(batch_size, -1).norm(dim=1)).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        scheduler.step()
        seconds += time.perf_counter() - start
        if checkpoint is not None and (
            (epoch + 1) % CHECKPOINT_EVERY_EPOCHS == 0 or epoch + 1 == epochs
        ):
            save(epoch + 1)
    peer.eval()
    clock.add(epochs - first, seconds)
    return Measured(peer, clock.seconds_per_epoch())


def torch_predictor(
    peer: Any, predict: Callable[[Any, Any], Any] | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """NumPy-in, NumPy-out evaluation of a torch module without gradients."""
    import torch

    forward = predict or (lambda module, inputs: module(inputs))

    def run(inputs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return forward(peer, torch.from_numpy(np.ascontiguousarray(inputs, np.float32))).numpy()

    return run


def neuraloperator_version() -> str | None:
    """The installed neuraloperator's version, or `None` (with torch) when absent."""
    try:
        import neuralop  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return None
    return importlib.metadata.version("neuraloperator")


def training_case(
    problem: TrainingProblem,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    reference: str,
    make_peer: Callable[[], Any] | None = None,
    peer_predict: Callable[[Any, Any], Any] | None = None,
    peer_missing: str | None = None,
    extra_figures: Callable[[Any, dict[str, Any]], Mapping[str, Any]] | None = None,
    checkpoint: str = "",
) -> Case:
    """The `Case` of a training benchmark (see the module docstring).

    `error` holds `rel_l2` (at the training resolution) and `rel_l2_by_resolution` (every
    test resolution, zero-shot); the figures hold the same map as
    `rel_l2_by_resolution`, `seconds_per_epoch`, `compile_seconds_dmech`, the peer's map and
    seconds per epoch, and whatever `extra_figures(model, state)` adds.

    `checkpoint` (a file path, `""` for none) makes the timed trainings resumable: ours
    checkpoints to that file, the peer to the same name with `.peer.pt` appended. One timed
    repeat per checkpoint (`--repeats 1`): a later repeat finds the run finished.
    """
    if problem.train_resolution not in problem.tests:
        raise ValueError("the training resolution must be one of the test resolutions")
    if len(problem.train[0]) < batch_size:
        raise ValueError(
            f"batch_size ({batch_size}) exceeds the training samples ({len(problem.train[0])})"
        )
    state: dict[str, Any] = {"calls": 0, "peer_calls": 0}
    path = Path(checkpoint).expanduser() if checkpoint else None
    if path is not None and not path.parent.is_dir():
        raise ValueError(f"checkpoint: the folder {str(path.parent)!r} does not exist")
    peer_path = None if path is None else path.with_name(path.name + ".peer.pt")

    def run() -> Measured:
        # the harness's first (untimed) call compiles: one epoch is enough for that
        state["calls"] += 1
        n = 1 if state["calls"] == 1 else epochs
        measured = train_dmech(
            problem, epochs=n, batch_size=batch_size, seed=seed,
            checkpoint=path if state["calls"] > 1 else None,
        )  # fmt: skip
        if n == epochs:
            state["seconds_per_epoch"] = measured.seconds
            state["compile_seconds"] = measured.compile_seconds
        return measured

    def by_resolution(model: Any) -> dict[int, float]:
        if "table" not in state or state.get("table_model") is not model:
            state["table"] = evaluate_by_resolution(_jax_predictor(problem, model), problem.tests)
            state["table_model"] = model
        return state["table"]

    def error_map(table: Mapping[int, float]) -> dict[str, Any]:
        return {
            "rel_l2": table[problem.train_resolution],
            "rel_l2_by_resolution": {str(s): e for s, e in table.items()},
        }

    test_inputs = problem.tests[problem.train_resolution][0]

    def answer(model: Any) -> np.ndarray:
        return _jax_predictor(problem, model)(test_inputs)

    def figures(model: Any) -> dict[str, Any]:
        table = by_resolution(model)
        out: dict[str, Any] = {
            "rel_l2_by_resolution": {str(s): e for s, e in table.items()},
            "train_resolution": problem.train_resolution,
            "seconds_per_epoch": state.get("seconds_per_epoch"),
            "compile_seconds_dmech": state.get("compile_seconds"),
            "epochs": epochs,
            "num_train": len(problem.train[0]),
            "num_test": len(test_inputs),
            "num_parameters": sum(
                int(x.size) for x in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))
            ),
        }
        if "peer_table" in state:
            out["peer_rel_l2_by_resolution"] = {str(s): e for s, e in state["peer_table"].items()}
            out["peer_seconds_per_epoch"] = state["peer_seconds_per_epoch"]
        if path is not None:
            out["checkpoint"] = str(path)
        if extra_figures is not None:
            out.update(extra_figures(model, state))
        return out

    peer = None
    version = neuraloperator_version() if make_peer is not None else None
    if make_peer is not None and version is None:
        peer_missing = (
            "torch or neuraloperator is not installed (pip install torch==2.13.0, then "
            "neuraloperator)"
        )
    elif make_peer is not None and version is not None:

        def peer_run() -> Measured:
            state["peer_calls"] += 1
            n = 1 if state["peer_calls"] == 1 else epochs
            measured = train_torch(
                make_peer(), problem.train, epochs=n, batch_size=batch_size, seed=seed,
                predict=peer_predict, checkpoint=peer_path if state["peer_calls"] > 1 else None,
            )  # fmt: skip
            if n == epochs:
                state["peer_seconds_per_epoch"] = measured.seconds
            return measured

        def peer_error(module: Any) -> dict[str, float]:
            table = evaluate_by_resolution(torch_predictor(module, peer_predict), problem.tests)
            state["peer_table"] = table
            return error_map(table)

        peer = Peer(
            name="neuraloperator",
            version=version,
            run=peer_run,
            error=peer_error,
            answer=lambda module: torch_predictor(module, peer_predict)(test_inputs),
        )

    return Case(
        run=run,
        error=lambda model: error_map(by_resolution(model)),
        reference=reference,
        answer=answer,
        figures=figures,
        peer=peer,
        peer_missing=peer_missing,
    )
