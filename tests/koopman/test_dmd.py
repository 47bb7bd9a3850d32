"""The DMD family against closed forms: linear systems with known spectra (float64, round-off),
forecasts against the matrix exponential, the optimal hard threshold against its definition,
the cylinder wake's Strouhal number, gradients against central differences, bad input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
from scipy.optimize import linear_sum_assignment

from dmech.testing import assert_no_recompile, check_grad
from koopman._dmd import (
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
from koopman._dmd_linalg import eig
from koopman._dmd_model import DMDModel, predict, reconstruct
from koopman._dmd_optimised import bop_dmd, optimised_dmd
from koopman._truncation import optimal_hard_threshold, svd_rank

# A continuous-time linear system ẋ = L x of rank 6 embedded in 20 states: two decaying
# oscillations and two real decays, sampled every DT.
DT = 0.5
OMEGAS = np.array([-0.1 + 0.6j, -0.1 - 0.6j, -0.3 + 2.2j, -0.3 - 2.2j, -0.05, -0.7])


def _generator(n_state=20, seed=0):
    rng = np.random.default_rng(seed)
    blocks = np.zeros((6, 6))
    for k in (0, 2):
        a, b = OMEGAS[k].real, OMEGAS[k].imag
        blocks[k : k + 2, k : k + 2] = [[a, -b], [b, a]]
    blocks[4, 4], blocks[5, 5] = OMEGAS[4].real, OMEGAS[5].real
    basis = np.linalg.qr(rng.standard_normal((n_state, 6)))[0] @ np.diag(np.linspace(1, 3, 6))
    return basis, blocks, rng.standard_normal(6)


def _trajectory(times, n_state=20, seed=0):
    basis, blocks, z0 = _generator(n_state, seed)
    return np.stack([basis @ scipy.linalg.expm(blocks * t) @ z0 for t in times], axis=1)


def _eig_error(found, expected):
    found = np.asarray(found)
    rows, cols = linear_sum_assignment(np.abs(found[:, None] - expected[None, :]))
    return float(np.max(np.abs(found[rows] - expected[cols])))


LAMBDAS = np.exp(OMEGAS * DT)


@pytest.fixture
def linear_data(x64):
    return _trajectory(DT * np.arange(31))


@pytest.mark.parametrize(
    "fit",
    [
        lambda d: exact_dmd(d, rank=6, dt=DT),
        lambda d: projected_dmd(d, rank=6, dt=DT),
        lambda d: exact_dmd(d[:, :-1], d[:, 1:], rank=6, dt=DT),
        lambda d: forward_backward_dmd(d, rank=6, dt=DT),
        lambda d: total_least_squares_dmd(d, rank=6, dt=DT),
        lambda d: hankel_dmd(d, delays=3, rank=6, dt=DT),
        lambda d: hankel_dmd(d, delays=3, rank=6, projection_rank=6, exact=True, dt=DT),
        lambda d: compressed_dmd(d, key=jax.random.key(0), measurements=12, rank=6, dt=DT),
        lambda d: compressed_dmd(
            d, key=jax.random.key(1), measurement="sample", measurements=12, rank=6, dt=DT
        ),
        lambda d: randomised_dmd(d, rank=6, key=jax.random.key(2), dt=DT),
        lambda d: sparsity_promoting_dmd(d, gamma=0.0, rank=6, dt=DT),
        lambda d: exact_dmd(d, rank=0.999999999, dt=DT),
    ],
    ids=[
        "exact",
        "projected",
        "pairs",
        "fb",
        "tls",
        "hankel",
        "hodmd",
        "compressed",
        "sampled",
        "randomised",
        "sparse",
        "energy",
    ],
)
def test_linear_system_eigenvalues_to_round_off(linear_data, fit):
    model = fit(jnp.asarray(linear_data))
    assert isinstance(model, DMDModel) and model.rank == 6
    assert _eig_error(model.eigenvalues, LAMBDAS) < 1e-10
    assert _eig_error(model.continuous_eigenvalues, OMEGAS) < 1e-9
    np.testing.assert_allclose(
        np.sort(np.abs(np.asarray(model.frequencies))),
        np.sort(np.abs(OMEGAS.imag)) / (2 * np.pi),
        atol=1e-9,
    )
    # the fitted trajectory is the data
    rebuilt = reconstruct(model, DT * np.arange(31.0))
    assert rebuilt.dtype == jnp.float64
    np.testing.assert_allclose(rebuilt, linear_data, atol=1e-9 * np.abs(linear_data).max())


def test_gram_factorisation_agrees_with_qr(linear_data):
    noisy = jnp.asarray(
        linear_data + 1e-4 * np.random.default_rng(9).standard_normal(linear_data.shape)
    )
    for fit in (exact_dmd, projected_dmd, total_least_squares_dmd):
        by_qr, by_gram = fit(noisy, rank=6, dt=DT), fit(noisy, rank=6, dt=DT, factorisation="gram")
        assert _eig_error(by_gram.eigenvalues, np.asarray(by_qr.eigenvalues)) < 1e-10
        np.testing.assert_allclose(
            by_gram.modes * by_gram.amplitudes[None, :],
            by_qr.modes * by_qr.amplitudes[None, :],
            atol=1e-9,
        )
    assert (
        _eig_error(
            exact_dmd(jnp.asarray(linear_data), rank=6, dt=DT, factorisation="gram").eigenvalues,
            LAMBDAS,
        )
        < 1e-8
    )


def test_optimal_rank_of_noisy_data(linear_data):
    noisy = linear_data + 1e-6 * np.random.default_rng(8).standard_normal(linear_data.shape)
    model = exact_dmd(jnp.asarray(noisy), rank="optimal", dt=DT)
    assert model.rank == 6 and _eig_error(model.eigenvalues, LAMBDAS) < 1e-4


def test_optimised_dmd_at_non_uniform_times_and_forecast(x64):
    rng = np.random.default_rng(3)
    times = np.sort(rng.uniform(0, 12, 40))
    data = _trajectory(times)
    model = optimised_dmd(
        jnp.asarray(data), jnp.asarray(times), rank=6, tol=1e-13, max_iterations=100
    )
    assert bool(model.converged) and _eig_error(model.continuous_eigenvalues, OMEGAS) < 1e-9
    assert float(model.t0) == times[0] and float(model.dt) == pytest.approx(np.min(np.diff(times)))
    later = np.array([12.5, 13.0, 14.7, 20.0])
    np.testing.assert_allclose(reconstruct(model, later), _trajectory(later), atol=1e-8)
    # predict from a state: t counts from it, any spacing
    x0 = _trajectory([3.3])[:, 0]
    np.testing.assert_allclose(predict(model, x0, later - 3.3), _trajectory(later), atol=1e-8)


def test_predict_matches_the_matrix_exponential_at_fractional_times(linear_data):
    model = exact_dmd(jnp.asarray(linear_data), rank=6, dt=DT)
    basis, blocks, _ = _generator()
    z0 = np.random.default_rng(7).standard_normal(6)
    t = np.array([0.0, 0.13, 0.5, 2.71, 40.0])
    expected = np.stack([basis @ scipy.linalg.expm(blocks * s) @ z0 for s in t], axis=1)
    np.testing.assert_allclose(predict(model, basis @ z0, t), expected, atol=1e-9)
    # complex initial state: complex forecast
    assert predict(model, jnp.asarray(basis @ z0, jnp.complex128), t).dtype == jnp.complex128


def test_physics_informed_operators(x64):
    rng = np.random.default_rng(1)
    n = 8
    # symmetric: real eigenvalues
    q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    eigs = np.linspace(0.5, 0.98, n)
    a_sym = q @ np.diag(eigs) @ q.T
    # orthogonal: eigenvalues on the unit circle
    angles = np.array([0.3, 0.9, 1.7, 2.5])
    rot = scipy.linalg.block_diag(
        *[[[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]] for a in angles]
    )
    a_orth = q @ rot @ q.T
    for a, manifold, expected in (
        (a_sym, "symmetric", eigs),
        (a_orth, "unitary", np.exp(1j * np.concatenate([angles, -angles]))),
    ):
        # pairs (x_j, A x_j) from random states: every direction excited
        x = rng.standard_normal((n, 30))
        y = a @ x
        model = physics_informed_dmd(jnp.asarray(x), jnp.asarray(y), manifold=manifold, rank=n)
        assert _eig_error(model.eigenvalues, expected.astype(complex)) < 1e-10
        noisy = y + 1e-3 * rng.standard_normal(y.shape)
        constrained = physics_informed_dmd(
            jnp.asarray(x), jnp.asarray(noisy), manifold=manifold, rank=n
        )
        if manifold == "unitary":
            np.testing.assert_allclose(np.abs(constrained.eigenvalues), 1.0, atol=1e-12)
        else:
            np.testing.assert_allclose(np.asarray(constrained.eigenvalues).imag, 0.0, atol=1e-14)
        # the constraint holds exactly, and the eigenvalues move by the order of the noise
        assert _eig_error(constrained.eigenvalues, expected.astype(complex)) < 1e-3


def test_dmd_with_control_recovers_the_system_and_forecasts(x64):
    rng = np.random.default_rng(2)
    n, q, m = 6, 2, 40
    a = np.linalg.qr(rng.standard_normal((n, n)))[0] * 0.9
    b = rng.standard_normal((n, q))
    u = rng.standard_normal((q, m))
    x = [rng.standard_normal(n)]
    for k in range(m):
        x.append(a @ x[-1] + b @ u[:, k])
    data = np.stack(x, axis=1)
    expected = np.linalg.eigvals(a)
    known = dmd_with_control(
        jnp.asarray(data), jnp.asarray(u), control_matrix=jnp.asarray(b), rank=n
    )
    unknown = dmd_with_control(jnp.asarray(data), jnp.asarray(u), rank=n, control_rank=n + q)
    for model in (known, unknown):
        assert _eig_error(model.eigenvalues, expected) < 1e-10
        np.testing.assert_allclose(model.control_matrix, b, atol=1e-10)
        forecast = predict(model, data[:, 0], np.arange(m + 1.0), u)
        np.testing.assert_allclose(forecast, data, atol=1e-9)
    with pytest.raises(ValueError, match="control"):
        predict(unknown, data[:, 0], np.arange(3.0))
    with pytest.raises(ValueError, match="`t`"):
        predict(unknown, data[:, 0], np.array([0.0, 1.5, 2.0]), u[:, :2])


def test_sparsity_promoting_amplitudes(linear_data):
    data = jnp.asarray(linear_data)
    dense = exact_dmd(data, rank=6, amplitudes="optimal")
    counts = []
    for gamma in (0.0, 1.0, 30.0, 300.0):
        model = sparsity_promoting_dmd(data, gamma=gamma, rank=6)
        b = np.asarray(model.amplitudes)
        counts.append(int(np.count_nonzero(b)))
        assert bool(model.converged)
        if gamma == 0.0:
            np.testing.assert_allclose(b, dense.amplitudes, rtol=1e-8)
        # polished: optimal on the kept modes, ∂J/∂b̄ = P b − q = 0 there
        modes = np.asarray(model.modes)
        vander = np.asarray(model.eigenvalues)[:, None] ** np.arange(data.shape[1])[None, :]
        p = (modes.conj().T @ modes) * np.conj(vander @ vander.conj().T)
        qv = np.conj(np.sum(vander * (np.asarray(data).conj().T @ modes).T, axis=1))
        kept = b != 0
        np.testing.assert_allclose((p @ b - qv)[kept], 0, atol=1e-8 * np.abs(qv).max())
    assert counts[0] == 6 and counts == sorted(counts, reverse=True) and counts[-1] < 6


def test_bop_dmd_is_seeded_and_its_spread_shrinks_with_the_noise(x64):
    times = DT * np.arange(40)
    clean = _trajectory(times)
    noise = np.random.default_rng(4).standard_normal(clean.shape)
    spreads = []
    for level in (1e-4, 1e-2):
        data = jnp.asarray(clean + level * noise)
        model = bop_dmd(data, jnp.asarray(times), rank=6, key=jax.random.key(0), num_trials=8)
        again = bop_dmd(data, jnp.asarray(times), rank=6, key=jax.random.key(0), num_trials=8)
        np.testing.assert_array_equal(model.eigenvalues, again.eigenvalues)
        assert _eig_error(model.continuous_eigenvalues, OMEGAS) < 30 * level
        assert model.modes_std.shape == model.modes.shape and model.amplitudes_std.shape == (6,)
        spreads.append(float(np.max(model.continuous_eigenvalues_std)))
    assert 0 < spreads[0] < spreads[1] / 10


def test_svd_rank_and_the_optimal_hard_threshold():
    s = np.array([10.0, 5.0, 1.0, 0.5, 0.1])
    assert svd_rank(s, 3) == 3 and svd_rank(s, 9) == 5 and svd_rank(s, "full") == 5
    energy = np.cumsum(s**2) / np.sum(s**2)
    assert (
        svd_rank(s, 0.5) == 1
        and svd_rank(s, float(energy[2])) == 3
        and svd_rank(s, float(energy[2]) + 1e-9) == 4
    )
    # ω(β) approximates λ*(β) / sqrt(μ_β), μ_β the Marchenko-Pastur median (Gavish-Donoho eq. 5)
    for beta in (0.1, 0.5, 1.0):
        lo, hi = (1 - math.sqrt(beta)) ** 2, (1 + math.sqrt(beta)) ** 2

        def density(t, beta=beta, lo=lo, hi=hi):
            return math.sqrt(max((hi - t) * (t - lo), 0.0)) / (2 * math.pi * beta * t)

        def cdf(x, lo=lo, density=density):
            return scipy.integrate.quad(density, lo, x, limit=200)[0]

        median = scipy.optimize.brentq(lambda x: cdf(x) - 0.5, lo + 1e-12, hi)
        lam = math.sqrt(2 * (beta + 1) + 8 * beta / (beta + 1 + math.sqrt(beta**2 + 14 * beta + 1)))
        omega = optimal_hard_threshold(np.ones(3), (100, round(100 * beta)))
        assert omega == pytest.approx(lam / math.sqrt(median), abs=0.01)
    # a rank-4 signal in Gaussian noise: both forms find the rank
    rng = np.random.default_rng(0)
    rows, cols, sigma = 400, 100, 0.1
    signal = (
        rng.standard_normal((rows, 4))
        @ np.diag([8.0, 6.0, 5.0, 4.0])
        @ rng.standard_normal((4, cols))
        / math.sqrt(cols)
    )
    values = np.linalg.svd(signal + sigma * rng.standard_normal((rows, cols)), compute_uv=False)
    assert svd_rank(values, "optimal", shape=(rows, cols)) == 4
    assert svd_rank(values, "optimal", shape=(rows, cols), noise=sigma) == 4
    # square matrices: τ = (4/√3) √n σ, the title of the paper
    assert optimal_hard_threshold(values, (100, 100), noise=sigma) == pytest.approx(
        4 / math.sqrt(3) * 10 * sigma, rel=1e-14
    )
    with pytest.raises(ValueError, match="rank"):
        svd_rank(s, 0)
    with pytest.raises(ValueError, match="rank"):
        svd_rank(s, "best")
    with pytest.raises(ValueError, match="shape"):
        svd_rank(s, "optimal")
    with pytest.raises(ValueError, match="singular_values"):
        svd_rank(s[::-1], 2)


def test_eig_derivatives_and_a_degenerate_spectrum(x64):
    a = jnp.asarray(np.random.default_rng(1).standard_normal((5, 5)))

    def spectrum(a):
        w, v = eig(a)
        return jnp.concatenate([w.real, w.imag, v.real.ravel(), v.imag.ravel()])

    check_grad(spectrum, a, num_directions=2)
    # a repeated eigenvalue: finite derivatives, and the eigenvalues' derivative is right
    # for a perturbation that keeps them apart
    double = jnp.diag(jnp.array([2.0, 2.0, -1.0]))
    tangent = jax.jvp(lambda m: eig(m)[1], (double,), (jnp.ones((3, 3)),))[1]
    assert bool(jnp.all(jnp.isfinite(tangent)))
    split = jnp.diag(jnp.array([0.0, 1.0, 0.0]))
    dw = jax.jvp(lambda m: eig(m)[0], (double,), (split,))[1]
    np.testing.assert_allclose(np.sort(np.asarray(dw).real), [0.0, 0.0, 1.0], atol=1e-14)


def _forecast_loss(fit, data, future, times):
    def loss(d):
        model = fit(d)
        return jnp.sum((predict(model, d[:, -1], times) - future) ** 2)

    return loss


@pytest.mark.parametrize(
    "name",
    [
        "exact",
        "hodmd",
        *(
            pytest.param(n, marks=pytest.mark.slow)
            for n in ("unitary", "projected", "fb", "tls", "symmetric", "optimal-amplitudes")
        ),
    ],
)
def test_forecast_error_gradients_match_central_differences(x64, name):
    fits = {
        "exact": lambda d: exact_dmd(d, rank=5),
        "projected": lambda d: projected_dmd(d, rank=5),
        "fb": lambda d: forward_backward_dmd(d, rank=5),
        "tls": lambda d: total_least_squares_dmd(d, rank=5),
        "hodmd": lambda d: hankel_dmd(d, delays=2, rank=5, projection_rank=8),
        "symmetric": lambda d: physics_informed_dmd(d, rank=5, manifold="symmetric"),
        "unitary": lambda d: physics_informed_dmd(d, rank=5, manifold="unitary"),
        "optimal-amplitudes": lambda d: exact_dmd(d, rank=5, amplitudes="optimal"),
    }
    full = _trajectory(DT * np.arange(20), n_state=10)
    full = full + 1e-2 * np.random.default_rng(5).standard_normal(full.shape)
    data, future = jnp.asarray(full[:, :16]), jnp.asarray(full[:, 16:])
    loss = _forecast_loss(fits[name], data, future, jnp.arange(1.0, 5.0))
    check_grad(loss, data, eps=1e-4)


@pytest.mark.slow
def test_optimised_dmd_gradient_through_the_fit(x64):
    times = jnp.arange(16.0) * DT
    basis, blocks, z0 = _generator(10)
    full = np.stack(
        [basis[:, :4] @ scipy.linalg.expm(blocks[:4, :4] * t) @ z0[:4] for t in DT * np.arange(20)],
        axis=1,
    )
    full = full + 1e-4 * np.random.default_rng(6).standard_normal(full.shape)
    data, future = jnp.asarray(full[:, :16]), jnp.asarray(full[:, 16:])

    def fit(d):
        return optimised_dmd(d, times, rank=4, tol=1e-14, eps_stall=1e-15, max_iterations=100)

    check_grad(
        _forecast_loss(fit, data, future, DT * jnp.arange(1.0, 5.0)),
        data,
        eps=1e-4,
        num_directions=2,
    )


def test_cylinder_wake_frequency_is_the_strouhal_number(x64):
    from dmech.cfd import cylinder_wake_dataset

    # a coarse, confined wake that sheds within a few seconds of compute (St ≈ 0.18 here)
    wake = cylinder_wake_dataset(
        (100.0,),
        snapshots=64,
        interval=0.5,
        transient=50.0,
        window=((0.5, 5.0), (-1.5, 1.5)),
        cells_per_diameter=6,
        upstream=4.0,
        downstream=8.0,
        half_width=4.0,
        cache=False,
        progress=False,
    )
    vorticity = wake["vorticity"][0].reshape(64, -1).T.astype(np.float64)
    snapshots = jnp.asarray(vorticity - vorticity.mean(axis=1, keepdims=True))
    model = exact_dmd(snapshots, rank=10, dt=float(wake["times"][1] - wake["times"][0]))
    weight = np.abs(np.asarray(model.amplitudes)) * np.linalg.norm(np.asarray(model.modes), axis=0)
    frequencies = np.abs(np.asarray(model.frequencies))
    dominant = frequencies[np.argmax(np.where(frequencies > 1e-3, weight, 0.0))]
    strouhal = float(wake["strouhal"][0])  # from the lift's zero up-crossings
    assert 0.1 < strouhal < 0.3 and dominant == pytest.approx(strouhal, rel=5e-3)


def test_transforms_compose_and_do_not_recompile(x64):
    data = jnp.asarray(_trajectory(DT * np.arange(31)))
    fitted = jax.jit(lambda d: exact_dmd(d, rank=6, dt=DT).eigenvalues)
    assert _eig_error(fitted(data), LAMBDAS) < 1e-10
    assert_no_recompile(fitted, (data,), (data * 2.0,))
    batch = jnp.stack([data, 3.0 * data])
    eigenvalues = jax.vmap(lambda d: exact_dmd(d, rank=6, dt=DT).eigenvalues)(batch)
    assert eigenvalues.shape == (2, 6) and _eig_error(eigenvalues[1], LAMBDAS) < 1e-10
    with pytest.raises(TypeError, match="traced"):
        jax.jit(lambda d: exact_dmd(d, rank=0.99).eigenvalues)(data)


def test_float32_follows_the_input(linear_data):
    model = exact_dmd(jnp.asarray(linear_data, jnp.float32), rank=6, dt=DT)
    assert model.modes.dtype == jnp.complex64 and model.dt.dtype == jnp.float32
    assert _eig_error(model.eigenvalues, LAMBDAS) < 1e-4


@pytest.mark.parametrize("fit", [exact_dmd, randomised_dmd])
def test_float32_amplitudes_and_forecasts_with_a_million_states(fit):
    # jnp.linalg.pinv's default cut-off, 10 max(n_state, r) eps, exceeds 1 at 1e6 float32 rows:
    # the amplitudes and the coordinates of a new state came out zero
    rng = np.random.default_rng(0)
    n_state, steps = 1_000_000, 8
    basis = rng.standard_normal((n_state, 2)).astype(np.float32) / 1000
    angle = np.arange(steps + 4) * 0.3
    states = basis @ np.stack([np.cos(angle), np.sin(angle)]).astype(np.float32)
    kwargs = {"test_matrix": jnp.asarray(rng.standard_normal((steps, 4)), jnp.float32)}
    model = fit(jnp.asarray(states[:, :steps]), rank=2, **(kwargs if fit is randomised_dmd else {}))
    rebuilt = np.asarray(reconstruct(model, jnp.arange(steps, dtype=jnp.float32)))
    np.testing.assert_allclose(rebuilt, states[:, :steps], atol=1e-5 * np.abs(states).max())
    forecast = np.asarray(predict(model, jnp.asarray(states[:, steps]), jnp.arange(4.0)))
    np.testing.assert_allclose(forecast, states[:, steps:], atol=1e-5 * np.abs(states).max())


def test_bad_input_raises_naming_the_argument(linear_data):
    data = jnp.asarray(linear_data)
    cases = [
        (lambda: exact_dmd(data[0]), "snapshots"),
        (lambda: exact_dmd(data[:, :1]), "snapshots"),
        (lambda: exact_dmd(jnp.ones((3, 4), jnp.int32)), "snapshots"),
        (lambda: exact_dmd(data, rank=0), "rank"),
        (lambda: exact_dmd(data, rank=1.5), "rank"),
        (lambda: exact_dmd(data, amplitudes="best"), "amplitudes"),
        (lambda: exact_dmd(data, dt=-1.0), "dt"),
        (lambda: exact_dmd(data, data[:, :3]), "shifted"),
        (lambda: hankel_dmd(data, delays=31), "delays"),
        (lambda: physics_informed_dmd(data, manifold="toeplitz"), "manifold"),
        (lambda: compressed_dmd(data), "key"),
        (lambda: randomised_dmd(data, rank=0, key=jax.random.key(0)), "rank"),
        (lambda: dmd_with_control(data, jnp.ones((1, 5))), "control"),
        (lambda: sparsity_promoting_dmd(data, gamma=-1.0), "gamma"),
        (lambda: optimised_dmd(data, jnp.arange(30.0)), "times"),
        (lambda: optimised_dmd(data, jnp.zeros(31)), "times"),
        (lambda: bop_dmd(data, jnp.arange(31.0), rank=4), "key"),
        (
            lambda: bop_dmd(data, jnp.arange(31.0), rank=4, key=jax.random.key(0), trial_size=2),
            "trial_size",
        ),
        (lambda: predict(exact_dmd(data, rank=3), data[:3, 0], jnp.arange(3.0)), "x0"),
        (lambda: predict(exact_dmd(data, rank=3), data[:, 0], jnp.ones((2, 2))), "`t`"),
    ]
    for call, name in cases:
        with pytest.raises((ValueError, TypeError), match=name):
            call()
