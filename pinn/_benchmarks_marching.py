r"""Benchmarks of periodic evolution problems by time marching: ``pinn-allen-cahn`` and
``pinn-advection``.

Both march in time windows $[t_k, t_k + \Delta t]$ (Wight and Zhao 2020; Wang, Sankaran and
Perdikaris 2024). Every window is the same problem in the local time
$\tau = t - t_k \in [0, \Delta t]$ (the equations are autonomous), only its initial condition
changes, so one compiled training step serves all windows. In window $k$

$$u_k(x, \tau) = g_k(x) + \frac{\tau}{\Delta t}\, N_k\big(\Phi(x), \tau/\Delta t\big),$$

- $g_k$ the initial condition as a truncated Fourier series (``modes`` samples of the previous
  window's prediction at $\tau = \Delta t$ on a uniform grid, by FFT; the first from $u_0$), so
  the initial condition holds exactly (up to that truncation) and drops out of the loss;
- $\Phi$ the exact periodic embedding of $x$ (:class:`pinn.PeriodicEmbedding`, ``harmonics``
  harmonics), so periodicity holds exactly;
- $N_k$ a modified MLP (:class:`pinn.ModifiedMLP`), started from $N_{k-1}$;
- the loss: the residual with causal weighting in $\tau$ (:class:`pinn.CausalWeighting`,
  ``chunks`` chunks, $\varepsilon$ = ``epsilon``) at ``points`` Sobol points redrawn every
  step; Adam (``adam_steps`` per window, warm-up, exponential decay) then L-BFGS
  (``lbfgs_iterations`` per window, on the last points).

The error is the relative L2 error over the reference's space-time grid, each time taken from
its window. ``seconds`` is the training time summed over windows (compilation and evaluation
excluded; ``compile_seconds`` apart). Use ``--repeats 1``: every repeat trains anew (no
warm-up call). The seeds are ``first_seed`` to ``first_seed + seeds - 1``, so that a long
study can run one seed per process. ``preset="small"`` is a tiny version for tests.

``pinn-allen-cahn``: $u_t - 10^{-4}u_{xx} + 5u^3 - 5u = 0$ on $[-1, 1]$ periodic,
$u_0 = x^2\cos\pi x$, $t \in [0, 1]$, against :func:`pinn.allen_cahn_reference` (ETDRK4,
512 points, float64) on its 512 × 201 grid.

``pinn-advection``: $u_t + c u_x = 0$ (the residual divided by $c$), $c = 50$, on
$[0, 2\pi]$ periodic, $u_0 = \sin x$,
$t \in [0, 1]$, against the exact $\sin(x - ct)$ on a 256 × 101 grid (plain PINNs fail at a
relative error of about 1: Krishnapriyan et al. 2021).

References:
    Wang, Sankaran and Perdikaris (2024), "Respecting causality for training physics-informed
    neural networks", Comput. Methods Appl. Mech. Engrg. 421, 116813.
    Wight and Zhao (2020), "Solving Allen-Cahn and Cahn-Hilliard equations using the adaptive
    physics informed neural networks", arXiv:2007.04542.
    Krishnapriyan, Gholami, Zhe, Kirby and Mahoney (2021), "Characterizing possible failure
    modes in physics-informed neural networks", NeurIPS.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dmech._checks import check_int
from dmech._custom_types import Array, Float
from dmech.bench import Benchmark, Case, Measured

from ._conditions import PeriodicEmbedding
from ._derivatives import directional_derivatives, partial_derivative
from ._domains import SpaceTime, interval
from ._networks import ModifiedMLP
from ._problem import CausalWeighting, Term
from ._references import advection_solution, allen_cahn_reference, space_time_points
from ._samplers import Sampler
from ._training import LBFGS, Adam, train

__all__ = ["march_periodic", "pinn_advection", "pinn_allen_cahn"]


class WindowSolution(eqx.Module):
    r"""The solution in one time window, $u(x, \tau) = g(x) + (\tau/\Delta t) N(x, \tau/\Delta t)$,
    $g$ a truncated Fourier series on $[a, a + L)$.

    Attributes:
        network: $N$, mapping ``(x, s)`` (shape ``(2,)``) to a scalar.
        cosines, sines: the coefficients of $g = \sum_m c_m \cos(2\pi m (x - a)/L) +
            s_m \sin(2\pi m (x - a)/L)$, shape ``(M,)`` each ($m = 0..M-1$).
        lower, period, window: $a$, $L$, $\Delta t$.
    """

    network: Callable[[Array], Array]
    cosines: Float[Array, " m"]
    sines: Float[Array, " m"]
    lower: float = eqx.field(static=True)
    period: float = eqx.field(static=True)
    window: float = eqx.field(static=True)

    def initial(self, x: Float[Array, ""]) -> Array:
        """$g(x)$ at a scalar ``x``."""
        m = jnp.arange(self.cosines.shape[0], dtype=x.dtype)
        phase = (2 * math.pi / self.period) * m * (x - self.lower)
        return jnp.sum(self.cosines * jnp.cos(phase) + self.sines * jnp.sin(phase))

    def __call__(self, point: Float[Array, " 2"]) -> Array:
        """$u$ at one point ``(x, tau)``, a scalar."""
        s = point[1] / self.window
        return self.initial(point[0]) + s * self.network(jnp.stack([point[0], s]))


def _fourier_coefficients(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cosine and sine coefficients of the trigonometric interpolant of uniform samples
    (the Nyquist mode dropped)."""
    n = samples.shape[0]
    c = np.fft.rfft(samples) / n
    m = (n - 1) // 2 + 1
    cosines = 2 * c.real[:m]
    sines = -2 * c.imag[:m]
    cosines[0] = c.real[0]
    sines[0] = 0.0
    return cosines, sines


@dataclasses.dataclass(frozen=True)
class MarchingResult:
    """What :func:`march_periodic` returns: the window solutions, their start times, and per
    window the stop reason, training and compile seconds."""

    solutions: tuple[WindowSolution, ...]
    starts: tuple[float, ...]
    stop_reasons: tuple[str, ...]
    train_seconds: float
    compile_seconds: float
    last_causal_weights: tuple[float | None, ...]

    def predict(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        """$u$ on the grid ``x`` × ``t``, shape ``(len(t), len(x))``."""
        window = self.solutions[0].window
        index = np.clip(
            np.floor(np.asarray(t) / window + 1e-9).astype(int), 0, len(self.solutions) - 1
        )
        out = np.empty((len(t), len(x)))
        evaluate = eqx.filter_jit(lambda s, p: jax.vmap(s)(p))
        for k, solution in enumerate(self.solutions):
            rows = np.flatnonzero(index == k)
            if rows.size == 0:
                continue
            tau = np.asarray(t)[rows] - self.starts[k]
            points = space_time_points(jnp.asarray(x, jnp.float32), jnp.asarray(tau, jnp.float32))
            out[rows] = np.asarray(evaluate(solution, points)).reshape(rows.size, len(x))
        return out


def march_periodic(
    residual: Callable[[Callable[[Array], Array], Array], Array],
    initial: Callable[[np.ndarray], np.ndarray],
    *,
    lower: float,
    period: float,
    t_final: float,
    windows: int,
    width: int,
    depth: int,
    harmonics: int,
    modes: int,
    points: int,
    chunks: int,
    epsilon: float,
    adam_steps: int,
    learning_rate: float,
    lbfgs_iterations: int,
    seed: int,
    log: Callable[[str], None] | None = None,
) -> MarchingResult:
    r"""Train a periodic 1D evolution problem window by window (see the module docstring).

    Args:
        residual: ``r(u, point)`` of the PDE at one local point ``(x, tau)``, ``u`` the
            solution as a function of a point.
        initial: $u_0$ on a numpy array of positions.
        lower, period: the periodic interval $[a, a + L)$.
        t_final: the final time.
        windows: the number of windows.
        width, depth, harmonics: the modified MLP and the periodic embedding.
        modes: the uniform samples of each initial condition (its Fourier series).
        points, chunks, epsilon: collocation points per step, causal chunks and $\varepsilon$.
        adam_steps, learning_rate, lbfgs_iterations: per window.
        seed: the network and the points.
        log: a progress callback.

    Returns:
        A :class:`MarchingResult`.
    """
    window = t_final / windows
    key = jax.random.key(seed)
    embedding = PeriodicEmbedding(2, 0, period, harmonics=harmonics)
    network = ModifiedMLP(
        2, "scalar", width, depth, embedding=embedding, key=jax.random.fold_in(key, 0)
    )
    grid = lower + period * np.arange(modes) / modes
    cosines, sines = _fourier_coefficients(np.asarray(initial(grid), np.float64))
    domain = SpaceTime(interval(lower, lower + period), 0.0, window)
    term = Term(
        lambda p, x: residual(p, x),
        sampler=Sampler(domain, points, method="sobol", every=1),
        causal=CausalWeighting(chunks, epsilon, 0.0, window),
    )
    adam = Adam(
        adam_steps,
        learning_rate,
        warmup_steps=min(100, adam_steps // 10),
        decay_steps=max(adam_steps // 4, 1),
        decay_rate=0.5,
    )
    lbfgs = LBFGS(lbfgs_iterations) if lbfgs_iterations else None
    evaluate_end = eqx.filter_jit(lambda s, p: jax.vmap(s)(p))
    end_points = jnp.asarray(np.stack([grid, np.full_like(grid, window)], 1), jnp.float32)
    solutions, starts, reasons, causal = [], [], [], []
    train_seconds = compile_seconds = 0.0
    for k in range(windows):
        solution = WindowSolution(
            network,
            jnp.asarray(cosines, jnp.float32),
            jnp.asarray(sines, jnp.float32),
            lower,
            period,
            window,
        )
        spec = jax.tree_util.tree_map(eqx.is_inexact_array, solution)
        spec = eqx.tree_at(lambda s: (s.cosines, s.sines), spec, replace=(False, False))
        result = train(
            solution,
            {"pde": term},
            key=jax.random.fold_in(key, k + 1),
            adam=adam,
            lbfgs=lbfgs,
            trainable=spec,
            eval_every=max(adam_steps, 1),
            progress=False,
        )
        solution = result.params
        solutions.append(solution)
        starts.append(k * window)
        reasons.append(result.stop_reason)
        weights = result.history.get("causal/pde")
        finite = weights[np.isfinite(weights)] if weights is not None else np.empty(0)
        causal.append(float(finite[-1]) if finite.size else None)
        train_seconds += result.train_seconds
        compile_seconds += result.compile_seconds
        if log is not None:
            log(
                f"window {k + 1}/{windows}: loss {result.history['loss'][-1]:.3e}, "
                f"{result.stop_reason}, {result.train_seconds:.1f} s"
            )
        network = solution.network
        end = np.asarray(evaluate_end(solution, end_points), np.float64)
        cosines, sines = _fourier_coefficients(end)
    return MarchingResult(
        tuple(solutions),
        tuple(starts),
        tuple(reasons),
        train_seconds,
        compile_seconds,
        tuple(causal),
    )


def _allen_cahn_residual(u: Callable[[Array], Array], x: Array) -> Array:
    v, _, v_xx = directional_derivatives(u, x, jnp.asarray([1.0, 0.0], x.dtype), 2)
    return partial_derivative(u, x, 1) - 1e-4 * v_xx + 5 * v**3 - 5 * v


def _advection_residual(speed: float) -> Callable[[Callable[[Array], Array], Array], Array]:
    # divided by c: u_t / c + u_x, a loss of order one whatever the speed
    def residual(u: Callable[[Array], Array], x: Array) -> Array:
        _, v_x = jax.jvp(u, (x,), (jnp.asarray([1.0, 0.0], x.dtype),))
        return partial_derivative(u, x, 1) / jnp.asarray(speed, x.dtype) + v_x

    return residual


_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "allen-cahn": {
        "full": {
            "windows": 10,
            "width": 64,
            "depth": 4,
            "harmonics": 8,
            "modes": 1024,
            "points": 2048,
            "chunks": 16,
            "epsilon": 1.0,
            "adam_steps": 1500,
            "learning_rate": 1e-3,
            "lbfgs_iterations": 1000,
        },
        "small": {
            "windows": 2,
            "width": 16,
            "depth": 2,
            "harmonics": 2,
            "modes": 64,
            "points": 128,
            "chunks": 4,
            "epsilon": 1.0,
            "adam_steps": 20,
            "learning_rate": 1e-3,
            "lbfgs_iterations": 10,
        },
    },
    "advection": {
        "full": {
            "windows": 10,
            "width": 64,
            "depth": 3,
            "harmonics": 2,
            "modes": 64,
            "points": 1024,
            "chunks": 16,
            "epsilon": 1.0,
            "adam_steps": 1000,
            "learning_rate": 1e-3,
            "lbfgs_iterations": 500,
        },
        "small": {
            "windows": 2,
            "width": 16,
            "depth": 2,
            "harmonics": 1,
            "modes": 16,
            "points": 128,
            "chunks": 4,
            "epsilon": 1.0,
            "adam_steps": 20,
            "learning_rate": 1e-3,
            "lbfgs_iterations": 10,
        },
    },
}


def _marching_case(
    problem: str,
    residual: Callable[[Callable[[Array], Array], Array], Array],
    initial: Callable[[np.ndarray], np.ndarray],
    lower: float,
    period: float,
    reference: tuple[np.ndarray, np.ndarray, np.ndarray],
    reference_text: str,
    params: dict[str, Any],
) -> Case:
    preset = params.pop("preset")
    if preset not in _PRESETS[problem]:
        raise ValueError(f"`preset` must be one of {sorted(_PRESETS[problem])}; got {preset!r}.")
    seeds = check_int(params.pop("seeds"), "seeds")
    first_seed = check_int(params.pop("first_seed"), "first_seed", minimum=0)
    settings = dict(_PRESETS[problem][preset])
    settings.update({k: v for k, v in params.items() if v})  # 0: the preset's value
    x_ref, t_ref, u_ref = reference

    def log(message: str) -> None:
        print(f"[pinn-{problem}] {message}", file=sys.stderr, flush=True)

    def run() -> Measured:
        runs: list[dict[str, Any]] = []
        # seeds first_seed, first_seed + 1, ...: long runs can go one seed per process
        for seed in range(first_seed, first_seed + seeds):
            wall = time.perf_counter()
            result = march_periodic(
                residual,
                initial,
                lower=lower,
                period=period,
                t_final=float(t_ref[-1]),
                seed=seed,
                log=log,
                **settings,
            )
            predicted = result.predict(x_ref, t_ref)
            error = float(np.linalg.norm(predicted - u_ref) / np.linalg.norm(u_ref))
            runs.append(
                {
                    "seed": seed,
                    "rel_l2": error,
                    "train_seconds": result.train_seconds,
                    "compile_seconds": result.compile_seconds,
                    "stop_reasons": result.stop_reasons,
                    "last_causal_weights": result.last_causal_weights,
                    "wall_seconds": time.perf_counter() - wall,
                }
            )
            log(f"seed {seed}: rel L2 {error:.3e}, {result.train_seconds:.1f} s training")
        seconds = statistics.median(float(r["train_seconds"]) for r in runs)
        compile_seconds = statistics.median(float(r["compile_seconds"]) for r in runs)
        return Measured(runs, seconds, compile_seconds)

    def error(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "rel_l2_median": statistics.median(r["rel_l2"] for r in runs),
            "rel_l2_by_seed": {str(r["seed"]): r["rel_l2"] for r in runs},
        }

    def figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "settings": settings,
            "train_seconds_by_seed": {str(r["seed"]): r["train_seconds"] for r in runs},
            "wall_seconds_by_seed": {str(r["seed"]): r["wall_seconds"] for r in runs},
            "stop_reasons_by_seed": {str(r["seed"]): list(r["stop_reasons"]) for r in runs},
            "last_causal_weights_by_seed": {
                str(r["seed"]): list(r["last_causal_weights"]) for r in runs
            },
        }

    return Case(
        warmup=False,
        run=run,
        error=error,
        reference=reference_text,
        figures=figures,
        peer_missing="no peer in this run: the figure to reach is the published one",
    )


_OVERRIDES = {"windows": 0, "adam_steps": 0, "lbfgs_iterations": 0, "points": 0}


def _setup_allen_cahn(preset, seeds, first_seed, **overrides) -> Case:
    with jax.enable_x64(True):
        x, t, u = allen_cahn_reference(dtype=jnp.float64)
        reference = (np.asarray(x), np.asarray(t), np.asarray(u))
    return _marching_case(
        "allen-cahn",
        _allen_cahn_residual,
        lambda x: x**2 * np.cos(np.pi * x),
        -1.0,
        2.0,
        reference,
        "ETDRK4 pseudo-spectral solution (512 points, 20000 steps, float64) on its 512 x 201 "
        "grid of [-1, 1) x [0, 1]: relative L2; seconds: training time over all windows",
        {"preset": preset, "seeds": seeds, "first_seed": first_seed, **overrides},
    )


def _setup_advection(preset, seeds, first_seed, speed, **overrides) -> Case:
    if not (isinstance(speed, int | float) and math.isfinite(speed)):
        raise ValueError(f"`speed` must be a finite number; got {speed!r}.")
    x = np.linspace(0.0, 2 * np.pi, 256)
    t = np.linspace(0.0, 1.0, 101)
    u = np.asarray(
        advection_solution(jnp.asarray(x[None, :]), jnp.asarray(t[:, None]), float(speed), jnp.sin),
        np.float64,
    )
    return _marching_case(
        "advection",
        _advection_residual(float(speed)),
        np.sin,
        0.0,
        2 * np.pi,
        (x, t, u),
        f"the exact solution sin(x - {speed:g} t) on a 256 x 101 grid of [0, 2pi] x [0, 1]: "
        "relative L2; seconds: training time over all windows",
        {"preset": preset, "seeds": seeds, "first_seed": first_seed, **overrides},
    )


pinn_allen_cahn = Benchmark(
    name="pinn-allen-cahn",
    description="Allen-Cahn PINN (u_t - 1e-4 u_xx + 5u^3 - 5u = 0, periodic): time marching "
    "with exact initial condition and periodicity, causal weighting, modified MLP: relative L2 "
    "against ETDRK4 and training time (use --repeats 1)",
    params={"preset": "full", "seeds": 1, "first_seed": 0, **_OVERRIDES},
    setup=_setup_allen_cahn,
)

pinn_advection = Benchmark(
    name="pinn-advection",
    description="advection PINN at c = 50 (periodic, u0 = sin x): time marching with exact "
    "initial condition and periodicity, causal weighting: relative L2 against the exact "
    "solution (use --repeats 1)",
    params={"preset": "full", "seeds": 3, "first_seed": 0, "speed": 50.0, **_OVERRIDES},
    setup=_setup_advection,
)
