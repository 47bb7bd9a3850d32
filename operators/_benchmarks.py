r"""Benchmarks of the neural operators: `fno-burgers`, `fno-darcy`, `fno-navier-stokes`,
`deeponet-burgers` and `unet-elasticity`.

Each trains a model on a dataset that dmech's solvers generate (cached under
``~/.cache/dmech``) with `dmech.train.fit` and the optimiser of Li et al. (2021) (Adam,
learning rate 1e-3 halved every 100 epochs, weight decay 1e-4, mean relative L2 loss), and
reports:

- ``error.rel_l2``: the mean relative L2 test error at the training resolution, and
  ``error.rel_l2_by_resolution``: resolution -> error, zero-shot at every other test
  resolution;
- ``seconds`` / ``seconds_per_epoch``: training wall time per epoch, compilation apart;
- ``inference_seconds_per_sample``: a jitted batched forward pass over the test set, per
  sample; ``solver_seconds_per_sample``: dmech's solver on the same input (see each
  benchmark), and ``surrogate_speedup_vs_solver`` their ratio;
- for the FNOs, the peer: ``neuralop.models.FNO`` with the same architecture and initial
  weights (`operators._neuralop_peer.neuralop_fno`, patched to the paper's single activation
  between Fourier layers; exact GELU and periodic positional features on our side, so the two
  networks compute the same function at initialisation), trained on the same arrays for the
  same epochs with the same optimiser and schedule (PyTorch ``Adam(weight_decay=1e-4)`` and
  ``StepLR(100, 0.5)``) in the same run: ``peer.error``, ``peer_seconds_per_epoch`` and
  ``speedup_vs_peer`` (per epoch).

Inputs are normalised by one scalar mean and standard deviation and outputs by one scalar
(computed on the training set), which keeps the models resolution-independent. Defaults run
in a few minutes on a laptop CPU; the paper's sizes come by ``--set`` (for example
``--set n_train=1000 --set n_test=200 --set epochs=500``; use ``--repeats 1``: every repeat
trains anew).

Every benchmark takes ``seed`` (initial weights and batch order, shared with the peer) apart
from ``data_seed`` (the dataset), so seeds of one training compare on the same arrays, and
``checkpoint`` (a file path; ``""`` for none): the timed trainings of both libraries checkpoint
every 10 epochs and an interrupted run, started again with the same parameters, resumes
(`operators._benchmarks_training`; with ``--repeats 1``).
"""

from __future__ import annotations

import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dmech.bench import Benchmark, Case
from dmech.geometry import Grid

from ._benchmarks_training import (
    TrainingProblem,
    exact_gelu,
    parse_resolutions,
    scalar_normalisation,
    seconds_per_call,
    training_case,
)
from ._darcy import darcy_flow_dataset, solve_darcy
from ._datasets import burgers_operator_dataset, navier_stokes_operator_dataset
from ._deeponet import mlp_deeponet
from ._elasticity import microstructure_elasticity_dataset, solve_uniaxial_strain
from ._fno import FNO, rollout_fno
from ._losses import rollout_loss
from ._unet import UNet

__all__ = [
    "deeponet_burgers",
    "fno_burgers",
    "fno_darcy",
    "fno_navier_stokes",
    "unet_elasticity",
]


def _fno(in_channels: int, dims: int, modes: int, width: int, padding: float, seed: int) -> FNO:
    """The paper's FNO (4 layers, 128 projection channels) in the form neuraloperator shares:
    exact GELU, periodic positional features, padding `2 padding` at the end of each axis."""
    return FNO(
        in_channels, 1, modes=modes, width=width, depth=4, spatial_dims=dims,
        positional="periodic", padding=2 * padding if padding else 0,
        activation=exact_gelu, projection_width=128, key=jax.random.key(seed),
    )  # fmt: skip


def _fno_peer_factory(model: FNO, padding: float) -> Any:
    """Builds neuraloperator's twin of `model` (same initial weights, single activation,
    `padding` on both ends of each axis: the same total padding as ours, so the same function
    up to rounding the padding to whole points)."""

    def make() -> Any:
        from neuralop.layers.padding import DomainPadding

        from ._neuralop_peer import neuralop_fno, single_activation

        peer = single_activation(neuralop_fno(model))
        if padding:
            peer.domain_padding = DomainPadding(padding)
        return peer

    return make


def _peer_note(padding: float) -> str:
    return (
        "neuraloperator FNO with the same architecture and initial weights (single activation "
        "patch"
        + (
            f", domain_padding={padding:g} on both ends vs ours {2 * padding:g} at the end"
            if padding
            else ""
        )
        + ")"
    )


def _channel(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x[:, None], np.float32)


def _speedup(solver: float, surrogate: float) -> float | None:
    return solver / surrogate if surrogate > 0 else None


def _inference_seconds(model: Any, inputs: np.ndarray, predict: Any = None) -> float:
    """Seconds per sample of a jitted batched forward pass over `inputs`."""
    fn = eqx.filter_jit(predict or (lambda m, x: jax.vmap(m)(x)))
    x = jnp.asarray(inputs)
    return seconds_per_call(lambda: fn(model, x)) / len(inputs)


# ---------------------------------------------------------------------------------------------
# Burgers (FNO and DeepONet share the data and the solver timing)
# ---------------------------------------------------------------------------------------------


def _burgers_data(n_train: int, n_test: int, resolution: int, eval_resolutions: tuple[int, ...],
                  solver_resolution: int, seed: int) -> dict[int, tuple[Any, Any]]:  # fmt: skip
    out = {}
    for s in (resolution, *eval_resolutions):
        data = burgers_operator_dataset(
            n_train + n_test, resolution=s, solver_resolution=solver_resolution, seed=seed
        )
        out[s] = (data["inputs"], data["outputs"])
    return out


def _burgers_solver_seconds(solver_resolution: int, samples: int = 2) -> float:
    """Seconds per sample of dmech's Burgers solver (`dmech.cfd.burgers_dataset`, uncached,
    `samples` at once; the second call is timed, the first compiles)."""

    def solve() -> Any:
        return burgers_operator_dataset(
            samples, resolution=solver_resolution, solver_resolution=solver_resolution,
            seed=10_000, cache=False, progress=False,
        )["outputs"]  # fmt: skip

    solve()
    start = time.perf_counter()
    solve()
    return (time.perf_counter() - start) / samples


def _setup_fno_burgers(n_train, n_test, resolution, eval_resolutions, solver_resolution, modes,
                       width, padding, epochs, batch_size, seed, data_seed,
                       checkpoint) -> Case:  # fmt: skip
    evals = parse_resolutions(eval_resolutions)
    data = _burgers_data(n_train, n_test, resolution, evals, solver_resolution, data_seed)
    norm = scalar_normalisation(data[resolution][0][:n_train], data[resolution][1][:n_train])

    def prepare(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = (x - norm["input_mean"]) / norm["input_std"]
        return _channel(x), _channel(y / norm["output_scale"])

    train = prepare(data[resolution][0][:n_train], data[resolution][1][:n_train])
    tests = {s: prepare(x[n_train:], y[n_train:]) for s, (x, y) in data.items()}
    model = _fno(1, 1, modes, width, padding, seed)
    problem = TrainingProblem(model, train, tests, resolution, lambda m, x: jax.vmap(m)(x))

    def extra(trained: Any, state: dict) -> dict[str, Any]:
        inference = _inference_seconds(trained, tests[resolution][0])
        solver = _burgers_solver_seconds(solver_resolution)
        return {
            "inference_seconds_per_sample": inference,
            "solver_seconds_per_sample": solver,
            "surrogate_speedup_vs_solver": _speedup(solver, inference),
            "solver": f"dmech.cfd.burgers_dataset: ETDRK4 pseudo-spectral, float64, "
            f"{solver_resolution} points, u0 -> u(., 1) (batch of 2, per sample)",
        }

    return training_case(
        problem, epochs=epochs, batch_size=batch_size, seed=seed, checkpoint=checkpoint,
        reference="Burgers nu=0.1, u(., 1) from dmech's pseudo-spectral solver at "
        f"{solver_resolution} points, subsampled; mean relative L2 over {n_test} test samples",
        make_peer=_fno_peer_factory(model, padding), extra_figures=extra,
    )  # fmt: skip


fno_burgers = Benchmark(
    name="fno-burgers",
    description="FNO-1D on Burgers (nu=0.1, u0 -> u(., 1)): relative L2 test error at the "
    "training resolution and zero-shot at finer ones, seconds per epoch, against "
    "neuraloperator trained on the same arrays",
    params={
        "n_train": 200,
        "n_test": 50,
        "resolution": 256,
        "eval_resolutions": "512,1024",
        "solver_resolution": 1024,
        "modes": 16,
        "width": 64,
        "padding": 0.0,
        "epochs": 20,
        "batch_size": 20,
        "seed": 0,
        "data_seed": 0,
        "checkpoint": "",
    },
    setup=_setup_fno_burgers,
)


def _setup_deeponet_burgers(n_train, n_test, resolution, eval_resolutions, solver_resolution,
                            latent_size, width, depth, epochs, batch_size, seed, data_seed,
                            checkpoint) -> Case:  # fmt: skip
    evals = parse_resolutions(eval_resolutions)
    data = _burgers_data(n_train, n_test, resolution, evals, solver_resolution, data_seed)
    u0 = data[resolution][0]
    norm = scalar_normalisation(u0[:n_train], data[resolution][1][:n_train])
    sensors = np.ascontiguousarray((u0 - norm["input_mean"]) / norm["input_std"], np.float32)
    model = mlp_deeponet(
        resolution, 1, latent_size=latent_size, width=width, depth=depth,
        activation="tanh", key=jax.random.key(seed),
    )  # fmt: skip
    queries = {s: (jnp.arange(s, dtype=jnp.float32) / s)[:, None] for s in data}

    def targets(s: int, rows: slice) -> np.ndarray:
        return np.ascontiguousarray(data[s][1][rows, :, None] / norm["output_scale"], np.float32)

    def predict_at(s: int) -> Any:
        return lambda m, u: jax.vmap(m.evaluate, in_axes=(0, None))(u, queries[s])

    # the sensors stay at the training grid; zero-shot means querying finer output grids
    tests = {s: (sensors[n_train:], targets(s, slice(n_train, None))) for s in data}
    train = (sensors[:n_train], targets(resolution, slice(None, n_train)))
    problem = TrainingProblem(
        model, train, {resolution: tests[resolution]}, resolution, predict_at(resolution)
    )

    def extra(trained: Any, state: dict) -> dict[str, Any]:
        from ._benchmarks_training import evaluate_by_resolution

        table: dict[int, float] = {}
        for s in data:
            fn = eqx.filter_jit(predict_at(s))

            def run(u: np.ndarray, fn: Any = fn) -> np.ndarray:
                return np.asarray(fn(trained, jnp.asarray(u)))

            table.update(evaluate_by_resolution(run, {s: tests[s]}))
        inference = _inference_seconds(trained, tests[resolution][0], predict_at(resolution))
        solver = _burgers_solver_seconds(solver_resolution)
        return {
            "rel_l2_by_resolution": {str(s): e for s, e in table.items()},
            "zero_shot": "sensors fixed at the training grid, outputs queried at each resolution",
            "inference_seconds_per_sample": inference,
            "solver_seconds_per_sample": solver,
            "surrogate_speedup_vs_solver": _speedup(solver, inference),
        }

    return training_case(
        problem, epochs=epochs, batch_size=batch_size, seed=seed, checkpoint=checkpoint,
        reference="Burgers nu=0.1 from dmech's pseudo-spectral solver; mean relative L2 over "
        f"{n_test} test samples at the {resolution} query points",
        peer_missing="neuraloperator has no DeepONet (its reference implementation is "
        "DeepXDE, a different training stack); no peer",
        extra_figures=extra,
    )  # fmt: skip


deeponet_burgers = Benchmark(
    name="deeponet-burgers",
    description="unstacked DeepONet on Burgers (u0 at the grid's sensors -> u(., 1) at query "
    "points): relative L2 test error, zero-shot on finer query grids, seconds per epoch",
    params={
        "n_train": 200,
        "n_test": 50,
        "resolution": 128,
        "eval_resolutions": "256,1024",
        "solver_resolution": 1024,
        "latent_size": 128,
        "width": 128,
        "depth": 3,
        "epochs": 100,
        "batch_size": 20,
        "seed": 0,
        "data_seed": 0,
        "checkpoint": "",
    },
    setup=_setup_deeponet_burgers,
)


# ---------------------------------------------------------------------------------------------
# Darcy
# ---------------------------------------------------------------------------------------------


def darcy_problem(n_train: int, n_test: int, resolution: int, eval_resolutions: tuple[int, ...],
                  solver_resolution: int, modes: int, width: int, padding: float,
                  seed: int, data_seed: int | None = None,
                  ) -> tuple[TrainingProblem, dict[str, float]]:  # fmt: skip
    """The Darcy training problem (also used by the resolution harness and the notebook):
    data from `data_seed` (default: `seed`), the model's initial weights from `seed`."""
    tests, train = {}, None
    norm: dict[str, float] = {}
    for s in (resolution, *eval_resolutions):
        data = darcy_flow_dataset(
            n_train + n_test, resolution=s, solver_resolution=solver_resolution,
            seed=seed if data_seed is None else data_seed,
        )  # fmt: skip
        x, y = data["inputs"], data["outputs"]
        if not norm:
            norm = scalar_normalisation(x[:n_train], y[:n_train])
        x = _channel((x - norm["input_mean"]) / norm["input_std"])
        y = _channel(y / norm["output_scale"])
        if train is None:
            train = (x[:n_train], y[:n_train])
        tests[s] = (x[n_train:], y[n_train:])
    assert train is not None
    model = _fno(1, 2, modes, width, padding, seed)
    return TrainingProblem(model, train, tests, resolution, lambda m, x: jax.vmap(m)(x)), norm


def _darcy_solver_seconds(solver_resolution: int) -> float:
    """Seconds of one `solve_darcy` (float64, SparseLU) at `solver_resolution` nodes.

    The benchmarks whose solver is a sparse direct solve (a host callback) time it in their
    setup, before the hours of training, so that a failure there costs nothing.
    """
    data = darcy_flow_dataset(
        1, resolution=solver_resolution, solver_resolution=solver_resolution, seed=10_000,
        return_elements=True, progress=False,
    )  # fmt: skip
    with jax.enable_x64(True):
        a = jnp.asarray(data["coefficient_elements"][0], jnp.float64)
        return seconds_per_call(lambda: solve_darcy(a))


def _setup_fno_darcy(n_train, n_test, resolution, eval_resolutions, solver_resolution, modes,
                     width, padding, epochs, batch_size, seed, data_seed,
                     checkpoint) -> Case:  # fmt: skip
    evals = parse_resolutions(eval_resolutions)
    problem, _ = darcy_problem(
        n_train, n_test, resolution, evals, solver_resolution, modes, width, padding, seed,
        data_seed,
    )  # fmt: skip
    # Timed before any training (see `_darcy_solver_seconds`).
    solver = _darcy_solver_seconds(solver_resolution)

    def extra(trained: Any, state: dict) -> dict[str, Any]:
        inference = _inference_seconds(trained, problem.tests[resolution][0])
        finest = max(problem.tests)
        inference_fine = _inference_seconds(trained, problem.tests[finest][0][:4])
        return {
            "inference_seconds_per_sample": inference,
            "solver_seconds_per_sample": solver,
            "surrogate_speedup_vs_solver": _speedup(solver, inference),
            f"inference_seconds_per_sample_at_{finest}": inference_fine,
            f"surrogate_speedup_vs_solver_at_{finest}": _speedup(solver, inference_fine),
            "solver": f"operators.solve_darcy: Quad4 FE at {solver_resolution}^2 nodes, "
            "float64, SparseLU (the generator's solve)",
        }

    return training_case(
        problem, epochs=epochs, batch_size=batch_size, seed=seed, checkpoint=checkpoint,
        reference=f"Darcy flow, dmech.fem at {solver_resolution}^2 nodes subsampled; mean "
        f"relative L2 over {n_test} test samples",
        make_peer=_fno_peer_factory(problem.model, padding), extra_figures=extra,
    )  # fmt: skip


fno_darcy = Benchmark(
    name="fno-darcy",
    description="FNO-2D on Darcy flow (thresholded GRF coefficient -> pressure): relative L2 "
    "test error at the training resolution and zero-shot at finer ones, seconds per epoch, "
    "speed-up over the FE solve, against neuraloperator",
    params={
        "n_train": 100,
        "n_test": 20,
        "resolution": 29,
        "eval_resolutions": "36,71,141",
        "solver_resolution": 141,
        "modes": 12,
        "width": 32,
        "padding": 0.05,
        "epochs": 20,
        "batch_size": 20,
        "seed": 0,
        "data_seed": 0,
        "checkpoint": "",
    },
    setup=_setup_fno_darcy,
)


# ---------------------------------------------------------------------------------------------
# Navier-Stokes
# ---------------------------------------------------------------------------------------------


def _ns_solver_seconds(resolution: int, dt: float, viscosity: float, horizon: float,
                       timing_steps: int, w0: np.ndarray) -> tuple[float, int]:  # fmt: skip
    """Seconds of dmech's pseudo-spectral solver (CN-RK4, float32) advancing one field on
    `resolution`^2 over `horizon` time units: `timing_steps` steps timed (compiled ahead),
    times the number of steps of the horizon."""
    from dmech.cfd import SpectralNavierStokes2D, rollout

    solver = SpectralNavierStokes2D(
        Grid((resolution, resolution), (1.0, 1.0)), viscosity=viscosity, dt=dt,
        forcing="fno", forcing_amplitude=0.1, time_stepping="crank_nicolson_rk4",
    )  # fmt: skip
    state = solver.init(jnp.asarray(w0, jnp.float32))
    advance = jax.jit(
        lambda s: rollout(solver.step, s, timing_steps, every=timing_steps, checkpoint=False).state
    )
    per_call = seconds_per_call(lambda: advance(state))
    steps = round(horizon / dt)
    return per_call / timing_steps * steps, steps


def _upsample_periodic(w: np.ndarray, n: int) -> np.ndarray:
    """Trigonometric interpolation of periodic fields `(..., s, s)` to `(..., n, n)`."""
    s = w.shape[-1]
    hat = np.fft.fftshift(np.fft.fft2(w), axes=(-2, -1))
    pad = (n - s) // 2
    width = [(0, 0)] * (w.ndim - 2) + [(pad, n - s - pad)] * 2
    hat = np.fft.ifftshift(np.pad(hat, width), axes=(-2, -1))
    return np.real(np.fft.ifft2(hat)) * (n / s) ** 2


def _setup_fno_navier_stokes(n_train, n_test, resolution, eval_resolutions, solver_resolution,
                             viscosity, final_time, dt, modes, width, epochs, batch_size, seed,
                             data_seed, checkpoint, speed_resolution,
                             solver_timing_steps) -> Case:  # fmt: skip
    evals = parse_resolutions(eval_resolutions)
    tests: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    train = None
    norm: dict[str, float] = {}
    # One solve at the finest resolution asked for; the others are its pointwise subsamples
    # (as the dataset subsamples the solver's grid), not solves of their own.
    finest = max(resolution, *evals)
    for s in (resolution, *evals):
        if finest % s:
            raise ValueError(
                f"resolution and eval_resolutions must divide the finest of them ({finest}); "
                f"got {s}."
            )
    data = navier_stokes_operator_dataset(
        n_train + n_test, viscosity=viscosity, final_time=final_time, resolution=finest,
        solver_resolution=solver_resolution, dt=dt, seed=data_seed,
    )  # fmt: skip
    for s in (resolution, *evals):
        stride = finest // s
        x = data["inputs"][..., ::stride, ::stride]
        y = data["outputs"][..., ::stride, ::stride]
        if not norm:  # one scale for inputs and outputs: the rollout feeds outputs back
            scale = float(np.std(x[:n_train]))
            norm = {"input_mean": 0.0, "input_std": scale, "output_scale": scale}
        x = np.ascontiguousarray(x / norm["input_std"], np.float32)
        y = np.ascontiguousarray(y / norm["input_std"], np.float32)
        if train is None:
            train = (x[:n_train], y[:n_train])
        tests[s] = (x[n_train:], y[n_train:])
    assert train is not None
    steps = train[1].shape[1]
    window = train[0].shape[1]
    model = _fno(window, 2, modes, width, 0.0, seed)

    def predict(m: Any, w: Any) -> Any:
        return jax.vmap(lambda wi: rollout_fno(m, wi, steps, unroll=True))(w)

    problem = TrainingProblem(
        model, train, tests, resolution, predict, rollout_loss(steps, unroll=True)
    )

    def peer_predict(module: Any, w: Any) -> Any:
        import torch

        outputs = []
        for _ in range(steps):
            new = module(w)
            outputs.append(new)
            w = torch.cat([w[:, 1:], new], dim=1)
        return torch.cat(outputs, dim=1)

    def extra(trained: Any, state: dict) -> dict[str, Any]:
        inference = _inference_seconds(trained, tests[resolution][0], predict)
        horizon = float(steps)  # one snapshot per time unit
        w_fine = _upsample_periodic(tests[resolution][0][:1], speed_resolution).astype(np.float32)
        inference_fine = _inference_seconds(trained, w_fine, predict)
        solver, solver_steps = _ns_solver_seconds(
            speed_resolution, dt, viscosity, horizon, solver_timing_steps,
            w_fine[0, -1] * norm["input_std"],
        )  # fmt: skip
        return {
            "inference_seconds_per_sample": inference,
            f"inference_seconds_per_sample_at_{speed_resolution}": inference_fine,
            "solver_seconds_per_sample": solver,
            "surrogate_speedup_vs_solver": _speedup(solver, inference_fine),
            f"surrogate_speedup_vs_solver_at_{resolution}": _speedup(solver, inference),
            "rollout_steps": steps,
            "solver": f"dmech.cfd.SpectralNavierStokes2D (CN-RK4, float32) on "
            f"{speed_resolution}^2, dt={dt:g}, {solver_steps} steps for the {horizon:g} time "
            f"units the FNO predicts ({solver_timing_steps} steps timed, scaled); the FNO "
            f"rollout timed on the same {speed_resolution}^2 input (one sample) for "
            "surrogate_speedup_vs_solver",
        }

    return training_case(
        problem, epochs=epochs, batch_size=batch_size, seed=seed, checkpoint=checkpoint,
        reference=f"2D Navier-Stokes nu={viscosity:g}, dmech's pseudo-spectral solver at "
        f"{solver_resolution}^2 subsampled; w on (0,10] -> w on (10,{final_time:g}] by a "
        f"recurrent FNO-2D rollout; mean relative L2 of the trajectory over {n_test} samples",
        make_peer=_fno_peer_factory(model, 0.0), peer_predict=peer_predict,
        extra_figures=extra,
    )  # fmt: skip


fno_navier_stokes = Benchmark(
    name="fno-navier-stokes",
    description="recurrent FNO-2D on 2D Navier-Stokes vorticity (w on (0,10] -> (10,T]): "
    "relative L2 test error, zero-shot at the solver's resolution, seconds per epoch, "
    "speed-up over the pseudo-spectral solver at 256^2, against neuraloperator",
    params={
        "n_train": 40,
        "n_test": 10,
        "resolution": 32,
        "eval_resolutions": "64",
        "solver_resolution": 64,
        "viscosity": 1e-3,
        "final_time": 15.0,
        "dt": 1e-3,
        "modes": 12,
        "width": 20,
        "epochs": 20,
        "batch_size": 10,
        "seed": 0,
        "data_seed": 0,
        "checkpoint": "",
        "speed_resolution": 256,
        "solver_timing_steps": 200,
    },
    setup=_setup_fno_navier_stokes,
)


# ---------------------------------------------------------------------------------------------
# elasticity
# ---------------------------------------------------------------------------------------------


def _setup_unet_elasticity(n_train, n_test, resolution, microstructure, width, levels, epochs,
                           batch_size, seed, data_seed, checkpoint) -> Case:  # fmt: skip
    data = microstructure_elasticity_dataset(
        n_train + n_test, microstructure=microstructure, resolution=resolution, seed=data_seed
    )
    x, y = data["inputs"], data["outputs"]
    norm = scalar_normalisation(x[:n_train], y[:n_train])
    x = _channel((x - norm["input_mean"]) / norm["input_std"])
    y = _channel(y / norm["output_scale"])
    model = UNet(1, 1, spatial_dims=2, base_width=width, levels=levels, key=jax.random.key(seed))
    tests = {resolution: (x[n_train:], y[n_train:])}
    problem = TrainingProblem(
        model, (x[:n_train], y[:n_train]), tests, resolution, lambda m, v: jax.vmap(m)(v)
    )

    phase = data["inputs"][n_train] > 0.5
    with jax.enable_x64(True):  # timed before any training (see `_darcy_solver_seconds`)
        e = jnp.asarray(np.where(phase, 70000.0, 3000.0))
        nu = jnp.asarray(np.where(phase, 0.22, 0.35))
        solver = seconds_per_call(lambda: solve_uniaxial_strain(e, nu).von_mises)

    def extra(trained: Any, state: dict) -> dict[str, Any]:
        inference = _inference_seconds(trained, tests[resolution][0])
        return {
            "inference_seconds_per_sample": inference,
            "solver_seconds_per_sample": solver,
            "surrogate_speedup_vs_solver": _speedup(solver, inference),
            "solver": f"operators.solve_uniaxial_strain: Quad4 plane strain at {resolution}^2 "
            "elements, float64, SparseLU",
        }

    return training_case(
        problem, epochs=epochs, batch_size=batch_size, seed=seed, checkpoint=checkpoint,
        reference=f"von Mises stress of two-phase microstructures ({microstructure}) under "
        f"uniaxial strain from dmech.fem at {resolution}^2; mean relative L2 over {n_test} "
        "test samples (a U-Net is tied to its grid: no zero-shot resolutions)",
        peer_missing="neuraloperator has no U-Net of this architecture (its UNO is a "
        "different model); no peer",
        extra_figures=extra,
    )  # fmt: skip


unet_elasticity = Benchmark(
    name="unet-elasticity",
    description="U-Net baseline on two-phase elasticity (phase map -> von Mises stress, "
    "dmech.fem): relative L2 test error, seconds per epoch, speed-up over the FE solve",
    params={
        "n_train": 100,
        "n_test": 20,
        "resolution": 32,
        "microstructure": "inclusions",
        "width": 16,
        "levels": 3,
        "epochs": 20,
        "batch_size": 10,
        "seed": 0,
        "data_seed": 0,
        "checkpoint": "",
    },
    setup=_setup_unet_elasticity,
)
