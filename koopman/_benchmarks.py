"""Benchmarks of the DMD family against PyDMD, in the same process on the same data.

``dmech bench dmd-cylinder``: the vorticity of the cylinder wake at Re = 100 from
:func:`dmech.cfd.cylinder_wake_dataset` (the cached full-size run: 12 cells per diameter,
150 snapshots every 0.4 D/U after 60 D/U, the window ``[-1, 9] × [-2.5, 2.5]``, 120 × 60
points), mean removed, as float64 columns. The first ``train`` snapshots are fitted by
``method`` at ``rank``; ``error.reconstruction_rel`` is the relative L2 error of
:func:`~koopman.reconstruct` on them, ``error.forecast_rel`` that of
:func:`~koopman.predict` from the last fitted snapshot over the remaining ones. Figures:
``peer_eig_diff`` (the largest difference between dmech's and PyDMD's discrete-time
eigenvalues after an optimal matching), ``dominant_frequency`` (the non-zero DMD frequency of
the largest ``|b_k| ‖φ_k‖``) and ``strouhal`` (the dataset's, from the lift).

``dmech bench dmd-large``: synthetic data with a known spectrum: ``snapshots`` columns of
``n_state`` entries, ``x_j = U Λ^j z₀ + noise`` with ``U`` Gaussian (``n_state × rank``,
scaled by ``1/√n_state``), ``Λ`` the real block form of ``rank`` eigenvalues (conjugate pairs
``0.99 e^{±iθ_k}`` with ``θ_k`` spread over ``(0.05, 2.5)``, plus a real ``0.98`` when
``rank`` is odd) and Gaussian noise of relative size ``noise``. ``error.reconstruction_rel``:
the reconstruction against the noise-free data; ``error.forecast_rel``: the forecast of the
next ``horizon`` noise-free snapshots from the last noise-free one; ``eig_error`` (and
``peer_eig_error``): the largest distance of the eigenvalues from the true ones. 1e6 × 500
float64 needs 4 GB per copy of the data: the data (kept in float64 for PyDMD), dmech's float32
copy and QR, and PyDMD's SVD peaked at 22.2 GB with ``dtype=float32`` for dmech (PyDMD always
float64); the noise-free data are never held whole (errors are summed over blocks of rows).

Both run ``method`` (``exact``, ``projected``, ``forward_backward``, ``total_least_squares``,
``hankel``, ``compressed``, ``randomised``, ``optimised``, ``bop``, ``sparsity_promoting``) with
the same options: PyDMD's ``DMD(exact=…)``, ``FbDMD``, ``DMD(tlsq_rank=rank)``, ``HankelDMD(d=2)``,
``CDMD`` and ``RDMD`` (given the same measurement and test matrices), ``BOPDMD`` (no bagging;
bagging with ``trials`` subsets drawn by NumPy and passed to dmech), ``SpDMD(gamma)``. PyDMD's
``FbDMD`` and ``SpDMD`` are not the published algorithms (see the tests), so their
``peer_eig_diff`` measures that. dmech's ``seconds`` include the QR of the data (the only pass
over it besides lifting the modes; ``factorisation="gram"``: one product ``Dᴴ D`` instead);
its first call (compilation) is timed apart.

``dmech bench koopman-deep-pendulum``: Lusch, Kutz and Brunton's (2018) pendulum: ``train``
trajectories of 50 steps (``dt = 0.02``) from states inside the separatrix
(:func:`pendulum_states`), a :class:`~koopman.DeepKoopman` with one complex pair trained for
``steps`` AdamW steps; ``error.forecast_rel`` is its forecast from the first state of each of
``test`` held-out trajectories over ``horizon`` steps, ``edmd.forecast_rel`` EDMD's on Hermite
polynomials of total degree ``edmd_degree`` fitted to the same data (float64), and
``deep_over_edmd_forecast`` their ratio. ``seconds`` is the training time (compilation apart).
"""

from __future__ import annotations

import importlib.metadata
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment

from dmech.bench import Benchmark, Case, Measured, Peer

from ._dmd import (
    compressed_dmd,
    exact_dmd,
    forward_backward_dmd,
    hankel_dmd,
    projected_dmd,
    randomised_dmd,
    sparsity_promoting_dmd,
    total_least_squares_dmd,
)
from ._dmd_model import DMDModel, predict, reconstruct
from ._dmd_optimised import bop_dmd, optimised_dmd

__all__ = ["dmd_cylinder", "dmd_large", "koopman_deep_pendulum", "pendulum_states"]

METHODS = (
    "exact",
    "projected",
    "forward_backward",
    "total_least_squares",
    "hankel",
    "compressed",
    "randomised",
    "optimised",
    "bop",
    "sparsity_promoting",
)
_GAMMA = 10.0  # sparsity_promoting's γ
_TRIALS = 10  # bop's trials
_TRIAL_FRACTION = 0.6


def _relative(a: Any, b: Any) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(np.float64).tiny))


def _eig_distance(found: Any, expected: Any) -> float:
    """The largest ``|λ_i − μ_σ(i)|`` over the matching ``σ`` that minimises the total."""
    found, expected = np.asarray(found, complex), np.asarray(expected, complex)
    rows, cols = linear_sum_assignment(np.abs(found[:, None] - expected[None, :]))
    unmatched = abs(found.size - expected.size)
    return float(np.max(np.abs(found[rows] - expected[cols]))) if not unmatched else float("inf")


def _pydmd_version() -> str | None:
    try:
        return importlib.metadata.version("pydmd")
    except importlib.metadata.PackageNotFoundError:
        return None


class _Fits:
    """dmech's and PyDMD's fits of one method on one data matrix, with the same options."""

    def __init__(
        self,
        method: str,
        data: np.ndarray,
        times: np.ndarray,
        rank: int,
        dtype: str,
        seed: int,
        factorisation: str,
    ):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}; got {method!r}")
        self.method, self.data, self.times, self.rank = method, data, times, rank
        self.dt = float(times[1] - times[0])
        self.x64 = dtype == "float64"
        self.seed = seed
        self.factorisation = factorisation
        rng = np.random.default_rng(seed)
        n, columns = data.shape
        self.measurement = (
            rng.standard_normal((min(columns, n), n)) if method == "compressed" else None
        )
        self.test_matrix = (
            rng.standard_normal((columns, rank + 10)) if method == "randomised" else None
        )
        size = int(_TRIAL_FRACTION * columns)
        np.random.seed(seed)  # noqa: NPY002 (as PyDMD's BOPDMD draws them: see `peer`)
        self.subsets = np.stack(
            [np.sort(np.random.choice(columns, size=size, replace=False)) for _ in range(_TRIALS)]  # noqa: NPY002
        )
        with jax.enable_x64(self.x64):
            self.device_data = jnp.asarray(data, jnp.float64 if self.x64 else jnp.float32)
            self.device_times = jnp.asarray(times, self.device_data.dtype)
        self.peer_result: Any = None

    def ours(self) -> DMDModel:
        d, r, m, f = self.device_data, self.rank, self.method, self.factorisation
        dt, t0 = self.dt, float(self.times[0])
        with jax.enable_x64(self.x64):
            if m == "exact":
                model = exact_dmd(d, rank=r, dt=dt, t0=t0, factorisation=f)
            elif m == "projected":
                model = projected_dmd(d, rank=r, dt=dt, t0=t0, factorisation=f)
            elif m == "forward_backward":
                model = forward_backward_dmd(d, rank=r, dt=dt, t0=t0, factorisation=f)
            elif m == "total_least_squares":
                model = total_least_squares_dmd(
                    d, rank=r, tls_rank=r, dt=dt, t0=t0, factorisation=f
                )
            elif m == "hankel":
                model = hankel_dmd(d, delays=2, rank=r, dt=dt, t0=t0, factorisation=f)
            elif m == "compressed":
                model = compressed_dmd(
                    d, measurement_matrix=jnp.asarray(self.measurement, d.dtype), rank=r, dt=dt
                )
            elif m == "randomised":
                model = randomised_dmd(
                    d, rank=r, test_matrix=jnp.asarray(self.test_matrix, d.dtype), dt=dt
                )
            elif m == "optimised":
                model = optimised_dmd(d, self.device_times, rank=r, dt=dt, factorisation=f)
            elif m == "bop":
                subsets = jnp.asarray(self.subsets)
                model = bop_dmd(
                    d,
                    self.device_times,
                    rank=r,
                    trial_indices=subsets,
                    sort="imag",
                    dt=dt,
                    factorisation=f,
                )
            else:
                model = sparsity_promoting_dmd(
                    d, gamma=_GAMMA, rank=r, dt=dt, t0=t0, factorisation=f
                )
            return jax.block_until_ready(model)

    def peer(self) -> Any:
        import pydmd

        r, m = self.rank, self.method
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if m in ("exact", "projected"):
                fitted = pydmd.DMD(svd_rank=r, exact=m == "exact").fit(self.data)
            elif m == "forward_backward":
                fitted = pydmd.FbDMD(svd_rank=r).fit(self.data)
            elif m == "total_least_squares":
                fitted = pydmd.DMD(svd_rank=r, tlsq_rank=r).fit(self.data)
            elif m == "hankel":
                fitted = pydmd.HankelDMD(svd_rank=r, d=2).fit(self.data)
            elif m == "compressed":
                fitted = pydmd.CDMD(svd_rank=r, compression_matrix=self.measurement).fit(self.data)
            elif m == "randomised":
                fitted = pydmd.RDMD(svd_rank=r, test_matrix=self.test_matrix, oversampling=10).fit(
                    self.data
                )
            elif m in ("optimised", "bop"):
                bagging = (
                    {"num_trials": _TRIALS, "trial_size": _TRIAL_FRACTION, "eig_sort": "imag"}
                    if m == "bop"
                    else {}
                )
                # PyDMD's BOPDMD draws its subsets from NumPy's global generator: reseeded,
                # it draws `self.subsets` again
                np.random.seed(self.seed)  # noqa: NPY002
                fitted = pydmd.BOPDMD(svd_rank=r, **bagging).fit(self.data, self.times)
            else:
                fitted = pydmd.SpDMD(svd_rank=r, gamma=_GAMMA, verbose=False).fit(self.data)
        self.peer_result = fitted
        return fitted

    def peer_eigenvalues(self, fitted: Any) -> np.ndarray:
        eigs = np.asarray(fitted.eigs)
        return np.exp(eigs * self.dt) if self.method in ("optimised", "bop") else eigs

    def peer_reconstruction(
        self, fitted: Any, times: np.ndarray, rows: slice | None = None
    ) -> np.ndarray:
        """PyDMD's modes, eigenvalues and amplitudes, evaluated as dmech's ``reconstruct``
        (the states ``rows`` only, if given)."""
        eigs = self.peer_eigenvalues(fitted)
        steps = (times - self.times[0]) / self.dt
        modes = np.asarray(fitted.modes)[: self.data.shape[0]]
        if rows is not None:
            modes = modes[rows]
        return (
            modes @ (np.asarray(fitted.amplitudes)[:, None] * eigs[:, None] ** steps[None, :])
        ).real

    def peer_forecast(self, fitted: Any, x0: np.ndarray, times: np.ndarray) -> np.ndarray:
        eigs = self.peer_eigenvalues(fitted)
        modes = np.asarray(fitted.modes)[: self.data.shape[0]]
        b = np.linalg.lstsq(modes, x0.astype(complex), rcond=None)[0]
        return (modes @ (b[:, None] * eigs[:, None] ** (times / self.dt)[None, :])).real


def _make_case(
    fits: _Fits,
    errors: Callable[[Any, bool], dict[str, float]],
    reference: str,
    extra: Callable[[DMDModel], dict[str, Any]],
) -> Case:
    def figures(model: DMDModel) -> dict[str, Any]:
        out = dict(extra(model))
        if fits.peer_result is not None:
            out["peer_eig_diff"] = _eig_distance(
                model.eigenvalues, fits.peer_eigenvalues(fits.peer_result)
            )
        else:
            out["peer_eig_diff"] = None
        out["rank"] = model.rank
        return out

    version = _pydmd_version()
    peer = None
    if version is not None:
        peer = Peer(
            name="pydmd",
            version=version,
            run=fits.peer,
            error=lambda fitted: errors(fitted, True),
            answer=lambda fitted: np.sort(np.abs(fits.peer_eigenvalues(fitted))),
        )
    return Case(
        run=fits.ours,
        error=lambda model: errors(model, False),
        reference=reference,
        answer=lambda model: np.sort(np.abs(np.asarray(model.eigenvalues))),
        figures=figures,
        peer=peer,
        peer_missing=None if version is not None else "PyDMD is not installed (pip install pydmd)",
    )


# ---------------------------------------------------------------------------------------------
# dmd-cylinder
# ---------------------------------------------------------------------------------------------

_WAKE = {
    "snapshots": 150,
    "interval": 0.4,
    "transient": 60.0,
    "cells_per_diameter": 12,
}


def _setup_cylinder(method: str, rank: int, train: int, dtype: str, factorisation: str) -> Case:
    from dmech.cfd import cylinder_wake_dataset

    wake = cylinder_wake_dataset((100.0,), **_WAKE)  # type: ignore[arg-type]
    vorticity = wake["vorticity"][0]
    columns = vorticity.reshape(vorticity.shape[0], -1).T.astype(np.float64)
    columns = columns - columns.mean(axis=1, keepdims=True)
    times = np.asarray(wake["times"], np.float64)
    if not 2 < train < columns.shape[1]:
        raise ValueError(f"train must lie in (2, {columns.shape[1]}); got {train}")
    fitted, held = columns[:, :train], columns[:, train - 1 :]
    fits = _Fits(method, fitted, times[:train], rank, dtype, seed=0, factorisation=factorisation)
    ahead = times[train - 1 :] - times[train - 1]

    def errors(result: Any, is_peer: bool) -> dict[str, float]:
        if is_peer:
            rebuilt = fits.peer_reconstruction(result, times[:train])
            forecast = fits.peer_forecast(result, held[:, 0], ahead)
        else:
            with jax.enable_x64(fits.x64):
                rebuilt = np.asarray(reconstruct(result, times[:train]))
                forecast = np.asarray(
                    predict(result, jnp.asarray(held[:, 0], fits.device_data.dtype), ahead)
                )
        return {
            "reconstruction_rel": _relative(rebuilt, fitted),
            "forecast_rel": _relative(forecast[:, 1:], held[:, 1:]),
        }

    def extra(model: DMDModel) -> dict[str, Any]:
        weight = np.abs(np.asarray(model.amplitudes)) * np.linalg.norm(
            np.asarray(model.modes), axis=0
        )
        with jax.enable_x64(fits.x64):
            frequency = np.abs(np.asarray(model.frequencies))
        dominant = float(frequency[np.argmax(np.where(frequency > 1e-3, weight, 0.0))])
        return {
            "dominant_frequency": dominant,
            "strouhal": float(wake["strouhal"][0]),
            "n_state": columns.shape[0],
        }

    return _make_case(
        fits, errors, "the wake's vorticity snapshots (fitted window and the rest)", extra
    )


dmd_cylinder = Benchmark(
    name="dmd-cylinder",
    description="DMD of the Re = 100 cylinder wake (7200 x 150 vorticity snapshots) by `method`, "
    "PyDMD on the same data: seconds, eigenvalue difference, reconstruction and forecast errors",
    params={"method": "exact", "rank": 21, "train": 100, "dtype": "float64", "factorisation": "qr"},
    setup=_setup_cylinder,
)


# ---------------------------------------------------------------------------------------------
# dmd-large
# ---------------------------------------------------------------------------------------------


_ROWS = 50_000  # rows per block in dmd-large's noise and error passes


def _true_spectrum(rank: int) -> np.ndarray:
    pairs = rank // 2
    thetas = np.linspace(0.05, 2.5, max(pairs, 1))[:pairs]
    eigs = [0.99 * np.exp(s * 1j * theta) for theta in thetas for s in (1, -1)]
    if rank % 2:
        eigs.append(0.98 + 0j)
    return np.asarray(eigs)


def _setup_large(
    n_state: int,
    snapshots: int,
    method: str,
    rank: int,
    noise: float,
    horizon: int,
    dtype: str,
    seed: int,
    factorisation: str,
) -> Case:
    if n_state < 1 or snapshots < 3 or not 1 <= rank < snapshots:
        raise ValueError(
            f"need n_state >= 1, snapshots >= 3, 1 <= rank < snapshots; "
            f"got {n_state}, {snapshots}, {rank}"
        )
    rng = np.random.default_rng(seed)
    eigs = _true_spectrum(rank)
    blocks = np.zeros((rank, rank))
    for k in range(0, rank - rank % 2, 2):
        lam = eigs[k]
        blocks[k : k + 2, k : k + 2] = [[lam.real, -lam.imag], [lam.imag, lam.real]]
    if rank % 2:
        blocks[-1, -1] = eigs[-1].real
    z = np.empty((rank, snapshots + horizon))
    z[:, 0] = 1.0 + rng.standard_normal(rank) * 0.1
    for j in range(1, snapshots + horizon):
        z[:, j] = blocks @ z[:, j - 1]
    basis = rng.standard_normal((n_state, rank)) / math.sqrt(n_state)
    # At 1e6 x 500 one copy of the data is 4 GB: the noise is added and the noise-free data
    # and the reconstructions are compared in blocks of rows (the same numbers as whole).
    data = basis @ z[:, :snapshots]
    scale = noise * math.sqrt(float(np.vdot(data, data)) / data.size)
    row_blocks = [slice(start, start + _ROWS) for start in range(0, n_state, _ROWS)]
    for rows in row_blocks:
        data[rows] += scale * rng.standard_normal(data[rows].shape)
    future = basis @ z[:, snapshots - 1 :]
    times = np.arange(snapshots, dtype=np.float64)
    fits = _Fits(method, data, times, rank, dtype, seed=seed, factorisation=factorisation)
    ahead = np.arange(horizon + 1, dtype=np.float64)

    def errors(result: Any, is_peer: bool) -> dict[str, float]:
        squares = np.zeros(2)  # ‖rebuilt - clean‖², ‖clean‖²
        for rows in row_blocks:
            if is_peer:
                rebuilt = fits.peer_reconstruction(result, times, rows)
            else:
                with jax.enable_x64(fits.x64):
                    part = eqx.tree_at(lambda m: m.modes, result, result.modes[rows])
                    rebuilt = np.asarray(reconstruct(part, times))
            clean = basis[rows] @ z[:, :snapshots]
            squares += [np.sum((rebuilt - clean) ** 2), np.sum(clean**2)]
        if is_peer:
            forecast = fits.peer_forecast(result, future[:, 0], ahead)
        else:
            with jax.enable_x64(fits.x64):
                forecast = np.asarray(
                    predict(result, jnp.asarray(future[:, 0], fits.device_data.dtype), ahead)
                )
        return {
            "reconstruction_rel": float(np.sqrt(squares[0] / squares[1])),
            "forecast_rel": _relative(forecast[:, 1:], future[:, 1:]),
        }

    def extra(model: DMDModel) -> dict[str, Any]:
        out: dict[str, Any] = {"eig_error": _eig_distance(model.eigenvalues, eigs)}
        if fits.peer_result is not None:
            out["peer_eig_error"] = _eig_distance(fits.peer_eigenvalues(fits.peer_result), eigs)
        return out

    return _make_case(
        fits, errors, "the noise-free data and its continuation (known spectrum)", extra
    )


dmd_large = Benchmark(
    name="dmd-large",
    description="DMD of synthetic snapshots with a known spectrum (n_state x snapshots) by "
    "`method`, "
    "PyDMD on the same data: seconds, eigenvalue errors, reconstruction and forecast errors",
    params={
        "n_state": 100_000,
        "snapshots": 200,
        "method": "exact",
        "rank": 10,
        "noise": 1e-3,
        "horizon": 20,
        "dtype": "float64",
        "seed": 0,
        "factorisation": "qr",
    },
    setup=_setup_large,
)


# ---------------------------------------------------------------------------------------------
# koopman-deep-pendulum
# ---------------------------------------------------------------------------------------------


def pendulum_states(seed: int, count: int, max_energy: float = 0.99) -> np.ndarray:
    """Lusch et al.'s pendulum initial states: uniform in ``[−3.1, 3.1] × [−2, 2]``, kept
    where ``x₂²/2 − cos x₁ < max_energy`` (inside the separatrix, energy 1), shape
    ``(count, 2)``."""
    rng = np.random.default_rng(seed)
    kept: list[np.ndarray] = []
    total = 0
    while total < count:
        x = rng.uniform([-3.1, -2.0], [3.1, 2.0], (4 * count, 2))
        inside = x[0.5 * x[:, 1] ** 2 - np.cos(x[:, 0]) < max_energy]
        kept.append(inside)
        total += len(inside)
    return np.concatenate(kept)[:count]


def _setup_deep_pendulum(
    train: int,
    test: int,
    steps: int,
    batch_size: int,
    learning_rate: float,
    width: int,
    horizon: int,
    edmd_degree: int,
    seed: int,
) -> Case:
    from ._deep import DeepKoopman, fit_deep_koopman
    from ._dictionaries import HermitePolynomials
    from ._edmd import edmd
    from ._systems import Pendulum, trajectories

    dt = 0.02
    sets = [pendulum_states(seed + k, n) for k, n in enumerate((train, max(test // 4, 1), test))]
    data, validation, held = (
        np.asarray(trajectories(Pendulum(), jnp.asarray(s, jnp.float32), dt, horizon)) for s in sets
    )
    times = dt * jnp.arange(horizon + 1, dtype=jnp.float32)

    def forecast_error(forecast: Any) -> float:
        return _relative(np.asarray(forecast)[:, :, 1:], held[:, :, 1:])

    def run_deep() -> Measured:
        model = DeepKoopman(2, complex_pairs=1, dt=dt, width=width, key=jax.random.key(seed))
        result = fit_deep_koopman(
            model,
            data,
            key=jax.random.key(seed + 1),
            steps=steps,
            batch_size=batch_size,
            learning_rate=learning_rate,
            reconstruction_weight=1.0,
            prediction_steps=min(30, horizon),
            validation=validation,
        )
        return Measured(result, result.train_seconds, result.compile_seconds)

    def deep_errors(result: Any) -> dict[str, float]:
        trained = result.model
        forecast = jax.vmap(lambda x0: trained.rollout(x0, horizon))(jnp.asarray(held[:, :, 0]))
        rebuilt = jax.vmap(jax.vmap(lambda x: trained.decode(trained.encode(x))))(
            jnp.asarray(np.moveaxis(held, 1, 2))
        )
        return {
            "forecast_rel": forecast_error(forecast),
            "reconstruction_rel": _relative(np.moveaxis(np.asarray(rebuilt), 2, 1), held),
        }

    def fit_edmd() -> Any:
        scale = jnp.asarray([1.5, 1.0], jnp.float32)
        with jax.enable_x64(True):
            model = edmd(
                jnp.asarray(data, jnp.float64),
                HermitePolynomials(2, edmd_degree, scale=scale.astype(jnp.float64)),
                dt=dt,
            )
            forecast = jax.vmap(lambda x0: predict(model, x0, times.astype(jnp.float64)))(
                jnp.asarray(held[:, :, 0], jnp.float64)
            )
            return np.asarray(forecast)

    def figures(result: Any) -> dict[str, Any]:
        start = time.perf_counter()
        edmd_forecast = fit_edmd()
        edmd_seconds = time.perf_counter() - start
        deep = deep_errors(result)["forecast_rel"]
        edmd_error = forecast_error(edmd_forecast)
        return {
            "edmd": {
                "forecast_rel": edmd_error,
                "degree": edmd_degree,
                "features": math.comb(2 + edmd_degree, 2),
                "seconds": edmd_seconds,
            },
            "deep_over_edmd_forecast": deep / edmd_error,
            "train_seconds": result.train_seconds,
            "validation_forecast_rel": float(result.history["forecast_rel"][-1]),
            "latent_size": 2,
        }

    return Case(
        run=run_deep,
        error=deep_errors,
        reference=f"held-out pendulum trajectories ({test} x {horizon} steps of dt = {dt}), "
        "integrated by diffrax Tsit5 at rtol 1e-6",
        figures=figures,
        warmup=False,
        peer_missing="pykoopman's pinned dependencies break the jax stack (kept out); EDMD on "
        "Hermite polynomials fitted to the same data is reported beside it",
    )


koopman_deep_pendulum = Benchmark(
    name="koopman-deep-pendulum",
    description="Deep Koopman autoencoder (Lusch et al. 2018, one complex pair with an "
    "auxiliary network) on the pendulum: forecast error over `horizon` steps on held-out "
    "trajectories against EDMD's on Hermite polynomials of `edmd_degree`",
    params={
        "train": 2000,
        "test": 200,
        "steps": 10000,
        "batch_size": 128,
        "learning_rate": 1e-3,
        "width": 80,
        "horizon": 50,
        "edmd_degree": 5,
        "seed": 0,
    },
    setup=_setup_deep_pendulum,
)
