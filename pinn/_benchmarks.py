r"""Benchmarks of the viscous Burgers PINN: ``pinn-burgers`` (forward, against DeepXDE in the
same run) and ``pinn-burgers-inverse`` (the viscosity from noisy data).

Both solve $u_t + u u_x = \nu u_{xx}$ on $[-1, 1] \times [0, 1]$, $u_0 = -\sin\pi x$,
$u(\pm 1, t) = 0$ (Raissi, Perdikaris and Karniadakis 2019) and measure the relative L2 error
against the Cole-Hopf solution (:func:`pinn.burgers_reference`) on Raissi's 256 × 100 grid
($t \in [0, 0.99]$).

``dmech bench pinn-burgers``: our settings (:func:`pinn._burgers_forward.burgers_forward`:
hard initial/boundary conditions, a 4 × 32 tanh MLP, residual-based adaptive points, 1000 Adam
steps then L-BFGS in rounds) for ``seeds`` seeds (0, 1, ...) of ``budget`` seconds of training
time each. The error is evaluated every ``eval_every`` steps/iterations, evaluation and
compilation excluded from the clock; ``seconds_to_1e-2`` is the training time at the first
evaluation with a relative L2 error at most 1e-2. The peer is DeepXDE (PyTorch backend) on its
own Burgers example (``examples/pinn_forward/Burgers.py``: 2540 domain, 80 boundary and 160
initial points, FNN [2] + [20] * 3 + [1] tanh Glorot normal, Adam lr 1e-3 for 15000 steps, then
its L-BFGS with its default options, 15000 iterations at most), for ``peer_seeds`` seeds, its
error evaluated the same way (every ``eval_every`` Adam steps by a callback, and every
``eval_every`` L-BFGS iterations: DeepXDE's ``iter_per_step``), in ``peer_dtype``. In float32,
as in the example, torch's L-BFGS line search returns a zero step after 2 iterations on seed
0 (the same with DeepXDE's own 1000 iterations per call) and DeepXDE stops (its error stays
3.6e-2); DeepXDE's documentation recommends float64 when its L-BFGS stops early, and in
float64 it runs its 15000 iterations (``peer_lbfgs_stop_by_seed`` says why it stopped), so
float64 is the default (``--set peer_dtype=float32`` for the example's float32). The
harness's ``seconds`` is our median time to 1e-2 and the peer's ``seconds`` its median time
to 1e-2, so ``speedup_vs_peer`` is the ratio of the times to 1e-2 (peer over ours); a run that never
reaches 1e-2 counts with its whole training time and is flagged (``reached_1e-2``).
PyTorch runs on ``peer_threads`` threads (1 by default: on this shared 2-core machine
multithreaded PyTorch ran DeepXDE's Adam step 30x slower, 0.23 s against 7.7 ms).
``preset="small"`` shrinks both sides (for tests). Neither side is warmed up (training time
excludes compilation by construction); use ``--repeats 1``: every repeat trains anew.

``dmech bench pinn-burgers-inverse``: the viscosity from ``samples`` = 2000 observations of the
Cole-Hopf solution drawn from the reference grid, with Gaussian noise of ``noise`` times their
standard deviation (Raissi's convention). The unknown is $\nu = e^{s}$ (a
:class:`pinn.PositiveParameter`) started at ``start_factor`` times the truth; the network
carries the known initial and boundary conditions (hard); the loss is ``data_weight`` times
the data misfit plus the Burgers residual at residual-adaptive collocation points; Adam then
L-BFGS. The data weight matters: with weight 1 the residual term smooths the front at x = 0
and the viscosity comes out high (19 % at 1 % noise, seed 0); 10: 1.2 %; 100: 0.19 %.
``error.viscosity_rel`` is the median over seeds of $|\nu - \nu_\text{true}|/\nu_\text{true}$
(the seeds draw the noise, the samples and the network).

References:
    Raissi, Perdikaris and Karniadakis (2019), "Physics-informed neural networks", J. Comput.
    Phys. 378, 686-707.
    Lu, Meng, Mao and Karniadakis (2021), "DeepXDE: a deep learning library for solving
    differential equations", SIAM Rev. 63, 208-228.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dmech._checks import check_int
from dmech.bench import Benchmark, Case, Measured, Peer
from dmech.nn import MLP

from ._burgers_forward import burgers_forward
from ._conditions import HardConstraint
from ._derivatives import directional_derivatives, partial_derivative
from ._domains import SpaceTime, interval
from ._inverse import PositiveParameter, noisy_observations, observation_residual
from ._problem import Term
from ._references import burgers_reference, space_time_points
from ._samplers import ResidualAdaptiveSampler
from ._training import LBFGS, Adam, train

__all__ = ["pinn_burgers", "pinn_burgers_inverse"]

NU = 0.01 / math.pi
TARGET = 1e-2

# our settings (pinn._burgers_forward) and a small version for tests
_PRESETS: dict[str, dict[str, int]] = {
    "full": {
        "width": 32,
        "depth": 4,
        "points": 4000,
        "candidates": 20000,
        "adam_steps": 1000,
        "round_length": 300,
    },
    "small": {
        "width": 16,
        "depth": 2,
        "points": 256,
        "candidates": 1024,
        "adam_steps": 100,
        "round_length": 50,
    },
}
# DeepXDE's example (domain, boundary, initial points; Adam steps; L-BFGS iterations)
_PEER_PRESETS: dict[str, dict[str, int]] = {
    "full": {
        "num_domain": 2540,
        "num_boundary": 80,
        "num_initial": 160,
        "adam_steps": 15000,
        "lbfgs_iterations": 15000,
        "width": 20,
    },
    "small": {
        "num_domain": 254,
        "num_boundary": 8,
        "num_initial": 16,
        "adam_steps": 100,
        "lbfgs_iterations": 50,
        "width": 8,
    },
}


def _check_preset(preset: str) -> str:
    if preset not in _PRESETS:
        raise ValueError(f"`preset` must be one of {sorted(_PRESETS)}; got {preset!r}.")
    return preset


def _median(values: Sequence[float | None]) -> float:
    """The median, a run that never got there (``None``) counting as infinitely slow."""
    return statistics.median(math.inf if v is None else v for v in values)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _first_time(errors: Sequence[float], seconds: Sequence[float], target: float) -> float | None:
    for error, second in zip(errors, seconds, strict=True):
        if error <= target:
            return float(second)
    return None


def _time_to_target(runs: Sequence[dict[str, Any]]) -> tuple[float, bool]:
    """The median time to 1e-2 over runs and whether it was reached; when it was not, the
    median training time (a lower bound)."""
    median = _median([r["seconds_to_1e-2"] for r in runs])
    if math.isfinite(median):
        return median, True
    return statistics.median(r["train_seconds"] for r in runs), False


def _reference_grid() -> tuple[np.ndarray, np.ndarray]:
    with jax.enable_x64(True):
        x, t, u = burgers_reference(NU, dtype=jnp.float64)
        grid = np.asarray(space_time_points(x, t))
        values = np.asarray(u).reshape(-1)
    return grid, values


# ---------------------------------------------------------------------------------------------
# the DeepXDE peer
# ---------------------------------------------------------------------------------------------


def _import_deepxde() -> Any:
    """DeepXDE with its PyTorch backend (its import messages go to stderr: stdout carries the
    report)."""
    backend = os.environ.setdefault("DDE_BACKEND", "pytorch")
    if backend != "pytorch":
        raise ImportError(f"DDE_BACKEND is {backend!r}; the peer runs DeepXDE on PyTorch")
    with contextlib.redirect_stdout(sys.stderr):
        import deepxde

    if deepxde.backend.backend_name != "pytorch":
        raise ImportError(f"DeepXDE was loaded with the {deepxde.backend.backend_name} backend")
    return deepxde


def _deepxde_burgers(
    seed: int,
    sizes: dict[str, int],
    eval_every: int,
    grid: np.ndarray,
    values: np.ndarray,
    threads: int = 1,
    dtype: str = "float32",
) -> dict[str, Any]:
    """DeepXDE's Burgers example for one seed; the error every ``eval_every`` steps or
    L-BFGS iterations, timed apart; PyTorch on ``threads`` threads, DeepXDE's default float
    ``dtype`` ("float32" as in its example; "float64" is what DeepXDE recommends when its
    L-BFGS stops early)."""
    dde = _import_deepxde()
    import torch

    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    with contextlib.redirect_stdout(sys.stderr):
        dde.config.set_default_float(dtype)
    try:
        return _deepxde_run(dde, torch, seed, sizes, eval_every, grid, values, dtype)
    finally:
        torch.set_num_threads(saved_threads)
        with contextlib.redirect_stdout(sys.stderr):
            dde.config.set_default_float("float32")


def _deepxde_run(
    dde: Any,
    torch: Any,
    seed: int,
    sizes: dict[str, int],
    eval_every: int,
    grid: np.ndarray,
    values: np.ndarray,
    dtype: str,
) -> dict[str, Any]:
    points_float64 = torch.from_numpy(grid.astype(np.float64))
    norm = float(np.linalg.norm(values))

    def pde(x: Any, y: Any) -> Any:
        dy_x = dde.grad.jacobian(y, x, i=0, j=0)
        dy_t = dde.grad.jacobian(y, x, i=0, j=1)
        dy_xx = dde.grad.hessian(y, x, i=0, j=0)
        return dy_t + y * dy_x - NU * dy_xx

    class Clock(dde.callbacks.Callback):  # type: ignore[misc,name-defined]
        """Training time (evaluation excluded) and the error every ``eval_every`` steps."""

        def __init__(self) -> None:
            super().__init__()
            self.seconds = 0.0
            self.errors: list[float] = []
            self.times: list[float] = []
            self.last_eval = -1
            self.mark = 0.0

        def on_train_begin(self) -> None:
            self.mark = time.perf_counter()

        def on_epoch_end(self) -> None:
            self.seconds += time.perf_counter() - self.mark
            step = self.model.train_state.step
            if step - self.last_eval >= eval_every:
                self.evaluate(step)
            self.mark = time.perf_counter()

        def on_train_end(self) -> None:
            self.seconds += time.perf_counter() - self.mark
            self.evaluate(self.model.train_state.step)
            self.mark = time.perf_counter()

        def evaluate(self, step: int) -> None:
            if step == self.last_eval:
                return
            net = self.model.net
            net_dtype = next(net.parameters()).dtype
            with torch.no_grad():
                predicted = net(points_float64.to(net_dtype)).numpy().reshape(-1).astype(np.float64)
            self.errors.append(float(np.linalg.norm(predicted - values) / norm))
            self.times.append(self.seconds)
            self.last_eval = step

    wall = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        dde.config.set_random_seed(seed)
        geometry = dde.geometry.GeometryXTime(
            dde.geometry.Interval(-1, 1), dde.geometry.TimeDomain(0, 0.99)
        )
        bc = dde.icbc.DirichletBC(geometry, lambda x: 0, lambda _, on_boundary: on_boundary)
        ic = dde.icbc.IC(
            geometry, lambda x: -np.sin(np.pi * x[:, 0:1]), lambda _, on_initial: on_initial
        )
        data = dde.data.TimePDE(
            geometry,
            pde,
            [bc, ic],
            num_domain=sizes["num_domain"],
            num_boundary=sizes["num_boundary"],
            num_initial=sizes["num_initial"],
        )
        width = sizes["width"]
        net = dde.nn.FNN([2] + [width] * 3 + [1], "tanh", "Glorot normal")
        model = dde.Model(data, net)
        clock = Clock()
        model.compile("adam", lr=1e-3)
        model.train(
            iterations=sizes["adam_steps"], callbacks=[clock], display_every=1000, verbose=0
        )
        adam_seconds = clock.seconds
        options = dde.optimizers.config.LBFGS_options
        saved = dict(options)
        try:
            # DeepXDE's own options (its example: maxiter 15000, maxfun 1.25 x maxiter,
            # gtol 1e-8, ftol 0, history 100, strong Wolfe line search), run as DeepXDE runs
            # them: torch L-BFGS called repeatedly for ``iter_per_step`` iterations with
            # ``fun_per_step`` evaluations (DeepXDE: 1000 and 1250), its memory carried over
            # between calls, stopping at maxiter or when a call makes a single iteration. We
            # call it every ``eval_every`` iterations instead, to measure the error in
            # between. The iterates are those of longer calls (torch's L-BFGS keeps its
            # memory, direction and step in its state; a new call re-evaluates the loss at
            # the same point and continues), except that a line search near a call's end
            # may use only the evaluations left in that call's budget, as in DeepXDE's own
            # calls; it costs one loss evaluation per call. Checked on seed 0 in float32:
            # the same two iterations and loss as with DeepXDE's 1000 per call.
            dde.optimizers.set_LBFGS_options(maxiter=sizes["lbfgs_iterations"])
            options["iter_per_step"] = min(eval_every, options["maxiter"])
            options["fun_per_step"] = (
                options["maxfun"] * options["iter_per_step"] // options["maxiter"]
            )
            model.compile("L-BFGS")
            model.train(callbacks=[clock], verbose=0)
            lbfgs_state = model.opt.state_dict()["state"].get(0, {})
        finally:
            options.clear()
            options.update(saved)
    lbfgs_iterations = int(model.train_state.step) - sizes["adam_steps"]
    if lbfgs_iterations >= sizes["lbfgs_iterations"]:
        lbfgs_stop = "max_iterations"
    elif float(lbfgs_state.get("t", 1.0)) == 0.0:
        lbfgs_stop = "line_search_zero_step"  # DeepXDE stops: a call made one iteration
    else:
        lbfgs_stop = "converged"
    errors = clock.errors
    return {
        "seed": seed,
        "rel_l2": errors[-1],
        "best_rel_l2": min(errors),
        "seconds_to_1e-2": _first_time(errors, clock.times, TARGET),
        "adam_steps": sizes["adam_steps"],
        "lbfgs_iterations": lbfgs_iterations,
        "lbfgs_stop": lbfgs_stop,
        "dtype": dtype,
        "adam_seconds": adam_seconds,
        "train_seconds": clock.seconds,
        "wall_seconds": time.perf_counter() - wall,
    }


# ---------------------------------------------------------------------------------------------
# pinn-burgers
# ---------------------------------------------------------------------------------------------


def _error_metrics(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rel_l2_median": statistics.median(r["rel_l2"] for r in runs),
        "rel_l2_by_seed": {str(r["seed"]): r["rel_l2"] for r in runs},
    }


def _setup_burgers(seeds, budget, preset, eval_every, peer_seeds, peer_threads, peer_dtype) -> Case:
    preset = _check_preset(preset)
    seeds = check_int(seeds, "seeds")
    peer_seeds = check_int(peer_seeds, "peer_seeds")
    peer_threads = check_int(peer_threads, "peer_threads")
    eval_every = check_int(eval_every, "eval_every")
    if peer_dtype not in ("float32", "float64"):
        raise ValueError(f"`peer_dtype` must be 'float32' or 'float64'; got {peer_dtype!r}.")
    if not (isinstance(budget, int | float) and budget > 0):
        raise ValueError(f"`budget` must be a positive number of seconds; got {budget!r}.")
    sizes = _PRESETS[preset]
    state: dict[str, Any] = {}  # what the peer's run and the figures share

    def run() -> Measured:
        runs = []
        for seed in range(seeds):
            runs.append(
                burgers_forward(seed=seed, budget=float(budget), eval_every=eval_every, **sizes)  # type: ignore[arg-type]
            )
            print(f"[pinn-burgers] seed {seed}: {runs[-1]}", file=sys.stderr, flush=True)
        seconds, reached = _time_to_target(runs)
        state["reached"] = reached
        compile_seconds = statistics.median(r["compile_seconds"] for r in runs)
        return Measured(runs, seconds, compile_seconds)

    def figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
        peer_runs = state.get("peer_runs", [])
        out: dict[str, Any] = {
            "seconds_to_1e-2": _finite_or_none(_median([r["seconds_to_1e-2"] for r in runs])),
            "seconds_to_1e-2_by_seed": {str(r["seed"]): r["seconds_to_1e-2"] for r in runs},
            "reached_1e-2": state.get("reached"),
            "seconds_to_1e-3_by_seed": {str(r["seed"]): r["seconds_to_1e-3"] for r in runs},
            "best_rel_l2_by_seed": {str(r["seed"]): r["best_rel_l2"] for r in runs},
            "train_seconds_by_seed": {str(r["seed"]): r["train_seconds"] for r in runs},
            "adam_steps": sizes["adam_steps"],
            "lbfgs_iterations_by_seed": {str(r["seed"]): r["lbfgs_iterations"] for r in runs},
            "stop_reason_by_seed": {str(r["seed"]): r["stop_reason"] for r in runs},
            "error_at": {str(r["seed"]): r["error_at"] for r in runs},
            "settings": "hard IC/BC, MLP {width}x{depth} tanh float32, RAD {points} of "
            "{candidates} Sobol candidates, Adam {adam_steps} steps lr 2e-3 halved every "
            "{adam_steps}/4, then L-BFGS in rounds of {round_length}".format(**sizes),
        }
        if peer_runs:
            out["peer_seconds_to_1e-2"] = _finite_or_none(
                _median([r["seconds_to_1e-2"] for r in peer_runs])
            )
            out["peer_seconds_to_1e-2_by_seed"] = {
                str(r["seed"]): r["seconds_to_1e-2"] for r in peer_runs
            }
            out["peer_reached_1e-2"] = state.get("peer_reached")
            out["peer_train_seconds_by_seed"] = {
                str(r["seed"]): r["train_seconds"] for r in peer_runs
            }
            out["peer_wall_seconds_by_seed"] = {
                str(r["seed"]): r["wall_seconds"] for r in peer_runs
            }
            out["peer_lbfgs_iterations_by_seed"] = {
                str(r["seed"]): r["lbfgs_iterations"] for r in peer_runs
            }
            out["peer_lbfgs_stop_by_seed"] = {str(r["seed"]): r["lbfgs_stop"] for r in peer_runs}
            out["peer_best_rel_l2_by_seed"] = {str(r["seed"]): r["best_rel_l2"] for r in peer_runs}
            out["peer_settings"] = (
                "DeepXDE examples/pinn_forward/Burgers.py: {num_domain} domain, {num_boundary} "
                "boundary, {num_initial} initial points, FNN [2]+[{width}]*3+[1] tanh, Adam lr "
                "1e-3 {adam_steps} steps, L-BFGS (DeepXDE defaults) at most {lbfgs_iterations} "
                "iterations; PyTorch on {threads} thread(s), {dtype}".format(
                    threads=peer_threads, dtype=peer_dtype, **_PEER_PRESETS[preset]
                )
            )
        return out

    peer = None
    peer_missing = None
    try:
        _import_deepxde()
        version = importlib.metadata.version("deepxde")
    except ImportError as exc:
        peer_missing = f"DeepXDE is not available ({exc}); pip install torch==2.13.0 deepxde"
    else:
        grid, values = _reference_grid()

        def peer_run() -> Measured:
            runs = []
            for seed in range(peer_seeds):
                runs.append(
                    _deepxde_burgers(
                        seed,
                        _PEER_PRESETS[preset],
                        eval_every,
                        grid,
                        values,
                        peer_threads,
                        peer_dtype,
                    )
                )
                print(
                    f"[pinn-burgers] DeepXDE seed {seed}: {runs[-1]}", file=sys.stderr, flush=True
                )
            seconds, reached = _time_to_target(runs)
            state["peer_runs"] = runs
            state["peer_reached"] = reached
            return Measured(runs, seconds)

        peer = Peer(
            name="deepxde", version=version, run=peer_run, error=_error_metrics, warmup=False
        )

    return Case(
        warmup=False,
        run=run,
        error=_error_metrics,
        reference="the Cole-Hopf solution (Gauss-Hermite quadrature, float64) of Burgers, "
        "nu = 0.01/pi, on Raissi's 256 x 100 grid of [-1, 1] x [0, 0.99]: relative L2; "
        "seconds: median training time to rel L2 <= 1e-2",
        figures=figures,
        peer=peer,
        peer_missing=peer_missing,
    )


pinn_burgers = Benchmark(
    name="pinn-burgers",
    description="Burgers PINN (nu = 0.01/pi): relative L2 over seeds within a time budget per "
    "seed, time to 1e-2, against DeepXDE's Burgers example in the same run (use --repeats 1)",
    params={
        "seeds": 3,
        "budget": 560.0,
        "preset": "full",
        "eval_every": 250,
        "peer_seeds": 1,
        "peer_threads": 1,
        "peer_dtype": "float64",
    },
    setup=_setup_burgers,
)


# ---------------------------------------------------------------------------------------------
# pinn-burgers-inverse
# ---------------------------------------------------------------------------------------------


def burgers_inverse(
    *,
    seed: int,
    noise: float,
    samples: int = 2000,
    start_factor: float = 3.0,
    width: int = 32,
    depth: int = 4,
    points: int = 2000,
    adam_steps: int = 2000,
    lbfgs_iterations: int = 3000,
    data_weight: float = 100.0,
    budget: float | None = None,
) -> dict[str, Any]:
    r"""Identify the Burgers viscosity from noisy samples of the Cole-Hopf solution.

    Minimises $\frac1{N}\sum_j (u_\theta(x_j, t_j) - y_j)^2 + \frac1{M}\sum_i r(x_i, t_i)^2$
    over $\theta$ and $s = \log\nu$, $r = u_t + u u_x - e^{s} u_{xx}$,
    $u_\theta = -\sin\pi x + t(1 - x^2) N_\theta(x, t)$.

    Args:
        seed: draws the samples, the noise and the network.
        noise: the noise level $\eta$ (``0.01``: 1 %).
        samples: the number $N$ of observations.
        start_factor: the initial viscosity over the true one.
        width, depth: the MLP $N_\theta$.
        points: collocation points $M$ (residual-adaptive, redrawn every 250 Adam steps and
            every 300 L-BFGS iterations).
        adam_steps, lbfgs_iterations: the two phases.
        data_weight: the weight of the data term.
        budget: a training-time limit in seconds, or ``None``.

    Returns:
        A summary: the identified and true viscosity, the relative error, the stop reason,
        the training and compile seconds.
    """
    grid, values = _reference_grid()
    key = jax.random.key(seed)
    pick = np.asarray(
        jax.random.choice(jax.random.fold_in(key, 0), grid.shape[0], (samples,), replace=False)
    )
    x_obs = jnp.asarray(grid[pick], jnp.float32)
    y_obs = noisy_observations(
        jax.random.fold_in(key, 1), jnp.asarray(values[pick], jnp.float32), noise
    )
    net = MLP(2, "scalar", width, depth, key=jax.random.fold_in(key, 2))
    model = HardConstraint(net, lambda x: -jnp.sin(jnp.pi * x[0]), lambda x: x[1] * (1 - x[0] ** 2))
    params = {"u": model, "nu": PositiveParameter(start_factor * NU, dtype=jnp.float32)}

    def u(p: Any, x: jax.Array) -> jax.Array:
        return p["u"](x)

    def burgers(p: Any, x: jax.Array) -> jax.Array:
        f = lambda y: u(p, y)  # noqa: E731
        v, v_x, v_xx = directional_derivatives(f, x, jnp.asarray([1.0, 0.0], x.dtype), 2)
        return partial_derivative(f, x, 1) + v * v_x - p["nu"].value * v_xx

    domain = SpaceTime(interval(-1.0, 1.0), 0.0, 1.0)
    sampler = ResidualAdaptiveSampler(
        domain, points, num_candidates=5 * points, every=250, method="sobol"
    )
    terms = {
        "pde": Term(burgers, sampler=sampler),
        "data": Term(observation_residual(u), points=(x_obs, y_obs), weight=data_weight),
    }
    result = train(
        params,
        terms,
        key=jax.random.fold_in(key, 3),
        adam=Adam(adam_steps, 2e-3, decay_steps=max(adam_steps // 4, 1), decay_rate=0.5),
        lbfgs=LBFGS(lbfgs_iterations, resample_every=300) if lbfgs_iterations else None,
        eval_every=250,
        time_limit=budget,
    )
    found = float(result.params["nu"].value)
    return {
        "seed": seed,
        "viscosity": found,
        "viscosity_true": NU,
        "viscosity_rel": abs(found - NU) / NU,
        "stop_reason": result.stop_reason,
        "adam_steps": result.adam_steps,
        "lbfgs_iterations": result.lbfgs_iterations,
        "train_seconds": result.train_seconds,
        "compile_seconds": result.compile_seconds,
    }


_INVERSE_PRESETS: dict[str, dict[str, int]] = {
    "full": {"width": 32, "depth": 4, "points": 2000, "adam_steps": 2000, "lbfgs_iterations": 3000},
    "small": {"width": 16, "depth": 2, "points": 256, "adam_steps": 100, "lbfgs_iterations": 50},
}


def _setup_inverse(noise, seeds, samples, start_factor, preset, budget, data_weight) -> Case:
    if preset not in _INVERSE_PRESETS:
        raise ValueError(f"`preset` must be one of {sorted(_INVERSE_PRESETS)}; got {preset!r}.")
    seeds = check_int(seeds, "seeds")
    samples = check_int(samples, "samples")
    if not (isinstance(noise, int | float) and 0 <= noise < 1):
        raise ValueError(f"`noise` must be in [0, 1); got {noise!r}.")
    if not (isinstance(start_factor, int | float) and start_factor > 0):
        raise ValueError(f"`start_factor` must be positive; got {start_factor!r}.")
    if not (isinstance(data_weight, int | float) and data_weight > 0):
        raise ValueError(f"`data_weight` must be positive; got {data_weight!r}.")
    sizes = _INVERSE_PRESETS[preset]

    def run() -> Measured:
        runs = []
        for seed in range(seeds):
            runs.append(
                burgers_inverse(
                    seed=seed,
                    noise=float(noise),
                    samples=samples,
                    start_factor=float(start_factor),
                    data_weight=float(data_weight),
                    budget=float(budget) if budget > 0 else None,
                    **sizes,
                )
            )
            print(f"[pinn-burgers-inverse] {runs[-1]}", file=sys.stderr, flush=True)
        seconds = statistics.median(r["train_seconds"] for r in runs)
        return Measured(runs, seconds, statistics.median(r["compile_seconds"] for r in runs))

    def error(runs: list[dict[str, Any]]) -> dict[str, Any]:
        rel = [r["viscosity_rel"] for r in runs]
        return {
            "viscosity_rel": statistics.median(rel),
            "viscosity_rel_by_seed": {str(r["seed"]): r["viscosity_rel"] for r in runs},
            "viscosity_rel_spread": max(rel) - min(rel),
        }

    def figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
        found = [r["viscosity"] for r in runs]
        return {
            "viscosity_true": NU,
            "viscosity_start": float(start_factor) * NU,
            "viscosity_by_seed": {str(r["seed"]): r["viscosity"] for r in runs},
            "viscosity_mean": float(np.mean(found)),
            "viscosity_std": float(np.std(found, ddof=1)) if len(found) > 1 else None,
            "stop_reason_by_seed": {str(r["seed"]): r["stop_reason"] for r in runs},
            "steps": {"adam": sizes["adam_steps"], "lbfgs_max": sizes["lbfgs_iterations"]},
            "lbfgs_iterations_by_seed": {str(r["seed"]): r["lbfgs_iterations"] for r in runs},
            "data_weight": float(data_weight),
            "train_seconds_by_seed": {str(r["seed"]): r["train_seconds"] for r in runs},
        }

    return Case(
        warmup=False,
        run=run,
        error=error,
        reference=f"the true viscosity 0.01/pi; {samples} samples of the Cole-Hopf solution on "
        f"Raissi's grid with {noise:g} x std Gaussian noise; seconds: median training time",
        figures=figures,
        peer_missing="no peer in this run (DeepXDE's inverse examples solve other problems)",
    )


pinn_burgers_inverse = Benchmark(
    name="pinn-burgers-inverse",
    description="Burgers viscosity from 2000 noisy samples (log-parametrised, started at 3x "
    "the truth): relative error of the viscosity, median over seeds (use --repeats 1)",
    params={
        "noise": 0.01,
        "seeds": 3,
        "samples": 2000,
        "start_factor": 3.0,
        "preset": "full",
        "budget": 0.0,
        "data_weight": 100.0,
    },
    setup=_setup_inverse,
)
