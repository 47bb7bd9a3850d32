"""The DMD family against PyDMD on the same data with the same options: eigenvalues, modes
(up to one complex factor per mode) and amplitudes (as the products φ_k b_k, which do not
depend on that factor) to 1e-10, for every variant PyDMD also has.

Where PyDMD's algorithm is not the published one, the test says so and compares what is the
same: forward-backward DMD (PyDMD projects the backward operator on the POD basis of Y, not of
X) and sparsity-promoting DMD (PyDMD's soft threshold is ``(1 − κ)/|v| · v``, not
``(1 − κ/|v|) v``; the polished amplitudes for a given sparsity pattern are compared).
"""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from scipy.optimize import linear_sum_assignment

from koopman._dmd import (
    _polish,
    compressed_dmd,
    dmd_with_control,
    exact_dmd,
    forward_backward_dmd,
    hankel_dmd,
    physics_informed_dmd,
    projected_dmd,
    randomised_dmd,
    sparsity_promoting_dmd,
    total_least_squares_dmd,
)
from koopman._dmd_model import predict
from koopman._dmd_optimised import bop_dmd, optimised_dmd

pydmd = pytest.importorskip(
    "pydmd", reason="PyDMD is the peer of the DMD family (pip install pydmd)"
)

TOL = 1e-10


def _quiet(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit()


def _system(seed=0, n=40, m=30, noise=1e-3, modes=6):
    """A rank-``modes`` (4 or 6) linear system in ``n`` states: two decaying oscillations (and
    two real decays)."""
    rng = np.random.default_rng(seed)
    rotations = [
        [[lam.real, -lam.imag], [lam.imag, lam.real]]
        for lam in (0.9 * np.exp(0.3j), 0.8 * np.exp(1.1j))
    ]
    blocks = scipy.linalg.block_diag(*rotations, *([np.diag([0.95, 0.5])] if modes == 6 else []))
    z = [rng.standard_normal(modes)]
    for _ in range(m):
        z.append(blocks @ z[-1])
    data = rng.standard_normal((n, modes)) @ np.stack(z, axis=1)
    return data + noise * rng.standard_normal(data.shape), rng


def _normalised(v):
    v = v / np.linalg.norm(v, axis=0)
    pivot = v[np.argmax(np.abs(v), axis=0), np.arange(v.shape[1])]
    return v * np.conj(pivot) / np.abs(pivot)


def _assert_same(ours, eigs, modes, amplitudes, tol=TOL):
    """Eigenvalues, normalised modes and φ_k b_k, after matching the eigenvalues."""
    mine = np.asarray(ours.eigenvalues)
    rows, cols = linear_sum_assignment(np.abs(mine[:, None] - np.asarray(eigs)[None, :]))
    assert np.all(rows == np.arange(mine.size))
    scale = max(1.0, np.abs(eigs).max())
    assert np.max(np.abs(mine - eigs[cols])) < tol * scale, "eigenvalues"
    theirs = np.asarray(modes)[: ours.modes.shape[0], cols]
    np.testing.assert_allclose(
        _normalised(np.asarray(ours.modes)), _normalised(theirs), atol=tol * 10
    )
    products = np.asarray(ours.modes) * np.asarray(ours.amplitudes)[None, :]
    expected = theirs * np.asarray(amplitudes)[cols][None, :]
    np.testing.assert_allclose(products, expected, atol=tol * np.abs(expected).max())


@pytest.mark.parametrize(
    "variant",
    [
        "exact",
        "projected",
        "optimal-amplitudes",
        "energy-rank",
        "optimal-rank",
        "pairs",
        "tls",
        "hankel",
        "hodmd",
        "compressed",
        "randomised",
        "symmetric",
        "unitary",
    ],
)
def test_same_decomposition_as_pydmd(x64, variant):
    data, rng = _system()
    d = jnp.asarray(data)
    r = 6
    if variant == "exact":
        ours, theirs = exact_dmd(d, rank=r), pydmd.DMD(svd_rank=r, exact=True)
    elif variant == "projected":
        ours, theirs = projected_dmd(d, rank=r), pydmd.DMD(svd_rank=r, exact=False)
    elif variant == "optimal-amplitudes":
        ours, theirs = (
            exact_dmd(d, rank=r, amplitudes="optimal"),
            pydmd.DMD(svd_rank=r, exact=True, opt=True),
        )
    elif variant == "energy-rank":
        ours, theirs = exact_dmd(d, rank=0.99), pydmd.DMD(svd_rank=0.99, exact=True)
    elif variant == "optimal-rank":
        ours, theirs = exact_dmd(d, rank="optimal"), pydmd.DMD(svd_rank=0, exact=True)
    elif variant == "pairs":
        ours = exact_dmd(d[:, :-1], d[:, 1:], rank=r)
        fitted = _quiet(lambda: pydmd.DMD(svd_rank=r, exact=True).fit(data[:, :-1], data[:, 1:]))
        _assert_same(ours, fitted.eigs, fitted.modes, fitted.amplitudes)
        return
    elif variant == "tls":
        ours, theirs = (
            total_least_squares_dmd(d, rank=r, tls_rank=r),
            pydmd.DMD(svd_rank=r, tlsq_rank=r),
        )
    elif variant == "hankel":
        ours, theirs = hankel_dmd(d, delays=3, rank=r), pydmd.HankelDMD(svd_rank=r, d=3)
    elif variant == "hodmd":
        ours = hankel_dmd(d, delays=3, rank=r, projection_rank=8)
        fitted = _quiet(lambda: pydmd.HODMD(svd_rank=r, d=3, svd_rank_extra=8).fit(data))
        # PyDMD keeps HODMD's modes in the projected coordinates: lift them with its basis
        basis = fitted._sub_dmd._pre_processing_output
        _assert_same(ours, fitted.eigs, basis @ fitted.modes[:8], fitted.amplitudes)
        return
    elif variant == "compressed":
        c = rng.standard_normal((12, data.shape[0]))
        ours = compressed_dmd(d, measurement_matrix=jnp.asarray(c), rank=r)
        theirs = pydmd.CDMD(svd_rank=r, compression_matrix=c)
    elif variant == "randomised":
        omega = rng.standard_normal((data.shape[1], r + 5))
        ours = randomised_dmd(d, rank=r, test_matrix=jnp.asarray(omega))
        theirs = pydmd.RDMD(svd_rank=r, test_matrix=omega, oversampling=5)
    elif variant == "symmetric":
        ours, theirs = (
            physics_informed_dmd(d, manifold="symmetric", rank=r),
            pydmd.PiDMD(manifold="symmetric", svd_rank=r),
        )
    else:
        ours, theirs = (
            physics_informed_dmd(d, manifold="unitary", rank=r),
            pydmd.PiDMD(manifold="unitary", svd_rank=r),
        )
    fitted = _quiet(lambda: theirs.fit(data))
    assert ours.rank == len(fitted.eigs)
    _assert_same(ours, fitted.eigs, fitted.modes, fitted.amplitudes)


def test_dmd_with_control_as_pydmd(x64):
    rng = np.random.default_rng(1)
    n, m = 8, 40
    rotations = [
        [[lam.real, -lam.imag], [lam.imag, lam.real]]
        for lam in (0.9 * np.exp(0.3j), 0.8 * np.exp(1.1j))
    ]
    q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    a = q @ scipy.linalg.block_diag(*rotations, np.diag([0.95, 0.5, 0.7, 0.6])) @ q.T
    u = rng.standard_normal((2, m))
    b = rng.standard_normal((n, 2))
    x = [rng.standard_normal(n)]
    for k in range(m):
        x.append(a @ x[-1] + b @ u[:, k])
    controlled = np.stack(x, axis=1) + 1e-3 * rng.standard_normal((n, m + 1))
    known = dmd_with_control(
        jnp.asarray(controlled), jnp.asarray(u), control_matrix=jnp.asarray(b), rank=6
    )
    fitted = _quiet(lambda: pydmd.DMDc(svd_rank=6).fit(controlled, u, B=b))
    _assert_same(known, fitted.eigs, fitted.modes, fitted.amplitudes)
    unknown = dmd_with_control(jnp.asarray(controlled), jnp.asarray(u), rank=6, control_rank=8)
    fitted = _quiet(lambda: pydmd.DMDc(svd_rank=6, svd_rank_omega=8).fit(controlled, u))
    _assert_same(unknown, fitted.eigs, fitted.modes, fitted.amplitudes)
    np.testing.assert_allclose(unknown.control_matrix, fitted.B, atol=TOL * np.abs(fitted.B).max())
    replay = predict(unknown, controlled[:, 0], np.arange(m + 1.0), u)
    expected = fitted.reconstructed_data().real
    np.testing.assert_allclose(replay, expected, atol=TOL * np.abs(expected).max())


def test_optimised_dmd_as_pydmd(x64):
    """PyDMD's BOPDMD without bagging is optimised DMD; with tight tolerances both reach the
    same minimum (noisy data: a non-zero residual)."""
    data, _ = _system(2, noise=1e-3)
    times = np.arange(data.shape[1]) * 0.1
    opts = {"tol": 1e-14, "eps_stall": 1e-15, "maxiter": 200}
    ours = optimised_dmd(
        jnp.asarray(data),
        jnp.asarray(times),
        rank=6,
        tol=1e-14,
        eps_stall=1e-15,
        max_iterations=200,
    )
    fitted = _quiet(lambda: pydmd.BOPDMD(svd_rank=6, varpro_opts_dict=opts).fit(data, times))
    assert bool(ours.converged)
    np.testing.assert_allclose(
        np.sort_complex(np.asarray(ours.continuous_eigenvalues)),
        np.sort_complex(fitted.eigs),
        atol=1e-9,
    )
    _assert_same(ours, np.exp(fitted.eigs * 0.1), fitted.modes, fitted.amplitudes, tol=1e-9)


@pytest.mark.slow
def test_bop_dmd_as_pydmd_on_the_same_subsets(x64):
    """PyDMD draws each trial's subset with ``np.random.choice``: the same draws are passed as
    ``trial_indices``. Oscillations only, so that PyDMD's "imag" sort is unambiguous."""
    data, _ = _system(3, modes=4, noise=1e-3)
    times = np.arange(data.shape[1]) * 1.0
    opts = {"tol": 1e-14, "eps_stall": 1e-15, "maxiter": 200}
    np.random.seed(3)  # noqa: NPY002
    fitted = _quiet(
        lambda: pydmd.BOPDMD(
            svd_rank=4, num_trials=10, trial_size=0.6, eig_sort="imag", varpro_opts_dict=opts
        ).fit(data, times)
    )
    np.random.seed(3)  # noqa: NPY002
    size = int(0.6 * data.shape[1])
    subsets = np.stack(
        [
            np.sort(np.random.choice(np.arange(data.shape[1]), size=size, replace=False))  # noqa: NPY002
            for _ in range(10)
        ]
    )
    for sort in ("imag", "match"):
        ours = bop_dmd(
            jnp.asarray(data),
            jnp.asarray(times),
            rank=4,
            trial_indices=jnp.asarray(subsets),
            sort=sort,
            tol=1e-14,
            eps_stall=1e-15,
            max_iterations=200,
        )
        _assert_same(ours, np.exp(fitted.eigs), fitted.modes, fitted.amplitudes, tol=1e-9)
        order = linear_sum_assignment(
            np.abs(np.asarray(ours.eigenvalues)[:, None] - np.exp(fitted.eigs)[None, :])
        )[1]
        # sqrt(|E|z|² − |E z|²|) cancels: its round-off scales with |E z|², not with the spread
        for mine, theirs, mean in (
            (ours.continuous_eigenvalues_std, fitted.operator.eigenvalues_std[order], fitted.eigs),
            (ours.amplitudes_std, fitted.operator.amplitudes_std[order], fitted.amplitudes),
            (ours.modes_std, fitted.operator.modes_std[:, order], fitted.modes),
        ):
            np.testing.assert_allclose(mine, theirs, atol=1e-9 * np.abs(mean).max())


def test_forward_backward_dmd_follows_dawson_et_al(x64):
    """PyDMD's FbDMD computes the backward operator in the POD basis of Y and multiplies it
    with the forward one in the POD basis of X, which is not Dawson et al.'s operator: compare
    with the paper's formula (both operators in the basis of X) computed here with SciPy,
    and check that it removes the noise bias better than PyDMD on the same data."""
    data, _ = _system(4, noise=2e-2, m=60)
    r = 6
    x, y = data[:, :-1], data[:, 1:]
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    u, s, vh = u[:, :r], s[:r], vh[:r]
    forward = u.T @ y @ vh.T / s
    backward = (u.T @ x) @ np.linalg.pinv(u.T @ y)
    expected = np.linalg.eigvals(scipy.linalg.sqrtm(forward @ np.linalg.inv(backward)))
    ours = forward_backward_dmd(jnp.asarray(data), rank=r)
    mine = np.asarray(ours.eigenvalues)
    rows, cols = linear_sum_assignment(np.abs(mine[:, None] - expected[None, :]))
    assert np.max(np.abs(mine[rows] - expected[cols])) < TOL
    truth = np.array(
        [
            0.9 * np.exp(0.3j),
            0.9 * np.exp(-0.3j),
            0.8 * np.exp(1.1j),
            0.8 * np.exp(-1.1j),
            0.95,
            0.5,
        ]
    )
    fitted = _quiet(lambda: pydmd.FbDMD(svd_rank=r).fit(data))

    def error(e):
        return np.max(np.abs(np.sort_complex(np.asarray(e)) - np.sort_complex(truth)))

    assert error(mine) < error(fitted.eigs)


def test_sparsity_promoting_dmd_as_pydmd(x64):
    """γ = 0: no sparsity, both give the optimal amplitudes. γ > 0: PyDMD's soft threshold
    differs from the paper's, so the sparsity patterns differ; for PyDMD's pattern the polished
    amplitudes (a KKT solve) are the same."""
    data, _ = _system(5)
    d = jnp.asarray(data)
    ours = sparsity_promoting_dmd(d, gamma=0.0, rank=6)
    fitted = _quiet(
        lambda: pydmd.SpDMD(svd_rank=6, gamma=0.0, verbose=False, release_memory=False).fit(data)
    )
    _assert_same(ours, fitted.eigs, fitted.modes, fitted.amplitudes)
    fitted = _quiet(
        lambda: pydmd.SpDMD(svd_rank=6, gamma=100.0, verbose=False, release_memory=False).fit(data)
    )
    zero = np.asarray(fitted.amplitudes) == 0
    assert 0 < zero.sum() < 6
    polished = _polish(jnp.asarray(fitted._P.toarray()), jnp.asarray(fitted._q), jnp.asarray(zero))
    np.testing.assert_allclose(
        polished, fitted.amplitudes, atol=TOL * np.abs(fitted.amplitudes).max()
    )
    # ours at the same γ zeroes modes too, and its kept amplitudes are polished the same way
    sparse = sparsity_promoting_dmd(d, gamma=100.0, rank=6)
    assert 0 < np.count_nonzero(np.asarray(sparse.amplitudes)) < 6


def _run_benchmark(monkeypatch, bench, params):
    from dmech.bench import _harness

    monkeypatch.setattr(_harness, "get_benchmark", lambda name: bench)
    return _harness.run_benchmark(bench.name, params, repeats=1, log=lambda _: None)


@pytest.mark.parametrize("method", ["exact", "optimised"])
def test_dmd_large_benchmark_reports_its_figures(monkeypatch, method):
    from koopman._benchmarks import dmd_large

    params = {"n_state": "3000", "snapshots": "60", "method": method, "rank": "6", "noise": "1e-4"}
    report = _run_benchmark(monkeypatch, dmd_large, params)
    assert report["peer"]["name"] == "pydmd" and report["speedup_vs_peer"] > 0
    assert report["peer_eig_diff"] < 1e-9 and report["eig_error"] < 1e-4
    assert report["error"]["reconstruction_rel"] < 1e-3 and report["error"]["forecast_rel"] < 1e-3
    assert report["peer"]["error"]["forecast_rel"] == pytest.approx(
        report["error"]["forecast_rel"], rel=1e-4
    )


@pytest.mark.slow
def test_dmd_cylinder_benchmark_finds_the_strouhal_frequency(monkeypatch):
    from koopman._benchmarks import dmd_cylinder

    report = _run_benchmark(monkeypatch, dmd_cylinder, {"method": "exact"})
    assert report["peer_eig_diff"] < 1e-10
    assert report["dominant_frequency"] == pytest.approx(report["strouhal"], rel=2e-2)
