"""Learned closures (Fourier resampling, filtered-DNS subgrid terms, a priori and unrolled
losses, a trained CNN closure beating the uncorrected coarse model) and inverse problems
(initial vorticity and parameters from observations) on the pseudo-spectral 2D solver."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dmech.cfd import (
    SpectralNavierStokes2D,
    a_posteriori_loss,
    a_priori_loss,
    closure_training_data,
    downsample,
    gaussian_random_field,
    initial_vorticity_loss,
    parameter_loss,
    recover_initial_vorticity,
    recover_parameters,
    rollout,
    subgrid_correction,
    trajectory_windows,
    upsample,
    vorticity_correlation,
)
from dmech.geometry import Grid
from dmech.testing import assert_convergence_order, assert_no_recompile, check_grad
from dmech.train import fit

TWO_PI = 2 * np.pi


def _box(n):
    return Grid((n, n), (TWO_PI, TWO_PI))


# --- Fourier resampling ------------------------------------------------------------------------


def test_downsample_and_upsample_are_exact_fourier_resampling(x64):
    fine, coarse = Grid((48, 32), (TWO_PI, 3.0)), Grid((16, 12), (TWO_PI, 3.0))
    ky = TWO_PI / 3.0

    def field(grid, with_small_scales):
        x, y = grid.periodic_points(jnp.float64)
        f = 0.3 + jnp.sin(3 * x) * jnp.cos(2 * ky * y) + jnp.cos(7 * x - 5 * ky * y)
        if with_small_scales:  # beyond the coarse grid: |m_x| = 8 (its Nyquist), |m_y| = 9
            f = f + jnp.cos(8 * x) + jnp.sin(x + 9 * ky * y)
        return f

    # the sharp cut-off keeps exactly the modes |m| < n'/2 and samples them exactly
    low = downsample(field(fine, True), fine, coarse)
    np.testing.assert_allclose(low, field(coarse, False), atol=1e-13)
    np.testing.assert_allclose(upsample(low, coarse, fine), field(fine, False), atol=1e-13)
    # batched, float32 in, float32 out; downsample(upsample(f)) = f without Nyquist content
    batch = jnp.stack([field(coarse, False), 2 * field(coarse, False)]).astype(jnp.float32)
    round_trip = downsample(upsample(batch, coarse, fine), fine, coarse)
    assert round_trip.dtype == jnp.float32 and round_trip.shape == (2, 16, 12)
    np.testing.assert_allclose(round_trip, batch, atol=1e-5)
    with pytest.raises(ValueError, match="at most as many points"):
        downsample(low, coarse, fine)
    with pytest.raises(ValueError, match="same box"):
        upsample(low, coarse, Grid((48, 32), (TWO_PI, 2.0)))
    with pytest.raises(ValueError, match="trailing shape"):
        downsample(low, fine, coarse)


# --- subgrid terms -----------------------------------------------------------------------------


def test_subgrid_term_of_two_unresolved_modes_matches_the_closed_form(x64):
    """Two Fourier modes the coarse grid cannot hold interact into one it holds (backscatter).

    ω = A cos(k₁·x) + B cos(k₂·x) with ψ = ω/|k|² gives u·∇ω = ψ_y ω_x - ψ_x ω_y
    = (aB - bA)(k₁_y k₂_x - k₁_x k₂_y) sin(k₁·x) sin(k₂·x) (a = A/|k₁|², b = B/|k₂|²), whose
    resolved half is the cos((k₁ - k₂)·x) term; the filtered field is zero, so the coarse
    model has no tendency and c = -½ (aB - bA) D cos((k₁ - k₂)·x).
    """
    # kept modes |m| ≤ 10 and |m| ≤ 5: k₁, k₂ only on the fine grid, k₁ - k₂ on both, and
    # k₁ + k₂ = (16, 5) on neither
    fine_grid, coarse_grid = _box(32), _box(16)
    kwargs = dict(viscosity=0.01, drag=0.1, dtype=jnp.float64)
    fine = SpectralNavierStokes2D(fine_grid, dt=0.01, **kwargs)
    coarse = SpectralNavierStokes2D(coarse_grid, dt=0.02, **kwargs)
    k1, k2, amplitude_1, amplitude_2 = (6, 0), (10, 5), 1.0, 1.0
    x, y = fine_grid.periodic_points(jnp.float64)
    w = amplitude_1 * jnp.cos(k1[0] * x + k1[1] * y) + amplitude_2 * jnp.cos(k2[0] * x + k2[1] * y)
    filtered, correction = subgrid_correction(fine, coarse, w)
    a, b = amplitude_1 / (k1[0] ** 2 + k1[1] ** 2), amplitude_2 / (k2[0] ** 2 + k2[1] ** 2)
    d = k1[1] * k2[0] - k1[0] * k2[1]
    xc, yc = coarse_grid.periodic_points(jnp.float64)
    exact = -0.5 * (a * amplitude_2 - b * amplitude_1) * d * jnp.cos(4 * xc + 5 * yc)
    assert float(jnp.max(jnp.abs(exact))) == pytest.approx(0.29667, rel=1e-4)
    np.testing.assert_allclose(filtered, 0.0, atol=1e-13)
    np.testing.assert_allclose(correction, exact, atol=1e-13)

    # a field the coarse solver resolves has no subgrid term: the 2/3 rule makes both
    # advections the exact Galerkin projection of the same product
    resolved = coarse.vorticity(
        coarse.init(
            gaussian_random_field(jax.random.key(0), coarse_grid, alpha=2.0, tau=2.0, sigma=5.0,
                                  dtype=jnp.float64)
        )
    )  # fmt: skip
    filtered, correction = subgrid_correction(
        fine, coarse, upsample(resolved, coarse_grid, fine_grid)
    )
    np.testing.assert_allclose(filtered, resolved, atol=1e-12)
    assert float(jnp.max(jnp.abs(correction))) < 1e-12 * float(jnp.max(jnp.abs(resolved))) ** 2

    # batched and jitted: the same pairs
    batch = jnp.stack([w, 2 * w])
    jitted = jax.jit(lambda v: subgrid_correction(fine, coarse, v))(batch)
    np.testing.assert_allclose(jitted[1][1], 4 * exact, atol=1e-12)


def _kolmogorov(grid, dt, dtype=jnp.float64, **kwargs):
    # Williamson's RK3: three stages, so the gradients compile faster than with the RK4
    options = dict(viscosity=0.01, drag=0.1, forcing="kolmogorov", forcing_wavenumber=2,
                   forcing_amplitude=0.5, time_stepping="crank_nicolson_rk3")  # fmt: skip
    options.update(kwargs)
    return SpectralNavierStokes2D(grid, dt=dt, dtype=dtype, **options)


def _random_vorticity(key, grid, rms, batch=(), dtype=jnp.float64):
    w = gaussian_random_field(key, grid, alpha=2.5, tau=3.0, batch=batch, dtype=dtype)
    return w * (rms / jnp.std(w, axis=(-2, -1), keepdims=True))


def test_subgrid_term_is_the_limit_of_the_one_step_gap(x64):
    """The a priori target is what the a posteriori dynamics miss: one step of the fine model,
    filtered, minus one step of the coarse model from the filtered field, over dt, tends to
    c as dt → 0, with first-order error: measured 4.7e-2, 2.4e-2, 1.2e-2, 6.0e-3 (relative)
    for dt = 0.02 … 0.0025, order 1.00."""
    w = _random_vorticity(jax.random.key(4), _box(32), 2.0)
    sizes, errors = (0.02, 0.01, 0.005, 0.0025), []
    for dt in sizes:
        fine, coarse = _kolmogorov(_box(32), dt), _kolmogorov(_box(16), dt)
        filtered, target = subgrid_correction(fine, coarse, w)
        after = fine.vorticity(fine.step(fine.init(w))[0])
        gap = (subgrid_correction(fine, coarse, after)[0] - coarse.vorticity(
            coarse.step(coarse.init(filtered))[0])) / dt  # fmt: skip
        errors.append(float(jnp.linalg.norm(gap - target) / jnp.linalg.norm(target)))
    assert_convergence_order(sizes, errors, 1.0, tol=0.1)
    assert errors[-1] < 1e-2


def test_training_data_are_consistent_with_the_solvers(x64):
    fine = _kolmogorov(_box(32), 0.02)
    coarse = _kolmogorov(_box(16), 0.04)
    w0 = _random_vorticity(jax.random.key(1), fine.grid, 2.0, batch=(2,))
    data = closure_training_data(fine, coarse, w0, snapshots=4, snapshot_interval=0.08, warmup=0.2)
    assert data.vorticity.shape == data.correction.shape == (2, 4, 16, 16)
    assert data.coarse_steps == 2
    np.testing.assert_allclose(data.time, [0.2, 0.28, 0.36, 0.44], rtol=1e-12)
    # the snapshots are the fine rollout, filtered, and their subgrid terms
    state = rollout(jax.vmap(fine.step), fine.init(w0), 18, every=18).state  # t = 0.36
    again = subgrid_correction(fine, coarse, fine.vorticity(state))
    np.testing.assert_allclose(data.vorticity[:, 2], again[0], atol=1e-12)
    np.testing.assert_allclose(data.correction[:, 2], again[1], atol=1e-12)
    assert float(jnp.std(data.correction)) > 1e-2  # a real subgrid term on this grid

    # the coarse solver on the fine grid with the fine step: no subgrid term, and the
    # uncorrected a posteriori loss is round-off
    same = closure_training_data(fine, fine, w0, snapshots=3, snapshot_interval=0.04)
    assert same.coarse_steps == 2
    assert float(jnp.max(jnp.abs(same.correction))) < 1e-11
    windows = trajectory_windows(same.vorticity, 3)
    assert windows.shape == (2, 3, 32, 32)
    assert float(a_posteriori_loss(None, fine, windows, steps_between=2)) < 1e-25

    # the zero closure explains none of the subgrid term, the exact one all of it
    filtered = data.vorticity.reshape(-1, 16, 16)
    targets = data.correction.reshape(-1, 16, 16)
    assert float(a_priori_loss(jnp.zeros_like, coarse, filtered, targets)) == 1.0
    windows = trajectory_windows(data.vorticity, 3, stride=2)
    assert windows.shape == (2, 3, 16, 16)
    np.testing.assert_array_equal(windows[1], data.vorticity[1, :3])
    assert float(a_posteriori_loss(None, coarse, windows, steps_between=2)) > 1e-6
    assert vorticity_correlation(filtered, filtered).shape == (8,)
    np.testing.assert_allclose(vorticity_correlation(filtered, -2 * filtered), -1.0, rtol=1e-14)

    with pytest.raises(ValueError, match="snapshot_interval"):
        closure_training_data(fine, coarse, w0, snapshots=2, snapshot_interval=0.05)
    with pytest.raises(ValueError, match="warmup"):
        closure_training_data(fine, coarse, w0, snapshots=2, snapshot_interval=0.04, warmup=0.01)
    with pytest.raises(ValueError, match="initial_vorticity"):
        closure_training_data(fine, coarse, w0[:, :8], snapshots=2, snapshot_interval=0.04)
    with pytest.raises(ValueError, match="at most as many points"):
        closure_training_data(coarse, fine, w0, snapshots=2, snapshot_interval=0.04)
    with pytest.raises(ValueError, match="length"):
        trajectory_windows(data.vorticity, 5)
    with pytest.raises(ValueError, match="windows must have shape"):
        a_posteriori_loss(None, coarse, data.vorticity[0])


class _Linear(eqx.Module):
    """A 3x3 periodic convolution: the smallest closure with weights."""

    conv: eqx.nn.Conv2d

    def __call__(self, w):
        return self.conv(w[None])[0]


def test_unrolled_loss_gradients_and_no_recompile(x64):
    fine = _kolmogorov(_box(32), 0.02)
    coarse = _kolmogorov(_box(16), 0.04)
    w0 = _random_vorticity(jax.random.key(2), fine.grid, 2.0, batch=(2,))
    data = closure_training_data(fine, coarse, w0, snapshots=3, snapshot_interval=0.08)
    windows = trajectory_windows(data.vorticity, 3)
    conv = eqx.nn.Conv2d(1, 1, 3, padding=1, padding_mode="CIRCULAR", dtype=jnp.float64,
                         key=jax.random.key(3))  # fmt: skip
    closure = eqx.tree_at(lambda c: c.conv.weight, _Linear(conv), replace_fn=lambda w: 0.1 * w)

    def loss(closure):
        return a_posteriori_loss(closure, coarse, windows, steps_between=data.coarse_steps)

    # reverse mode through 4 coarse steps with the closure in every Runge-Kutta stage
    check_grad(loss, closure, num_directions=2, mode="reverse")
    check_grad(
        lambda c: a_priori_loss(c, coarse, data.vorticity[0], data.correction[0]),
        closure,
        num_directions=2,
        mode="reverse",
    )
    # new weights (array leaves) never recompile
    other = eqx.tree_at(lambda c: c.conv.weight, closure, replace_fn=lambda w: -w)
    step = eqx.filter_jit(eqx.filter_value_and_grad(loss))
    assert_no_recompile(step, (closure,), (other,))


# --- the worked example: a learned closure -------------------------------------------------------


class CNNClosure(eqx.Module):
    """A small periodic CNN ``ω̄ -> c``: 3x3 circular convolutions with GELUs; the last layer
    starts at zero, so training starts from the uncorrected coarse model."""

    layers: list
    scale: float = eqx.field(static=True)

    def __init__(self, *, width, depth, scale, key):
        keys = jax.random.split(key, depth)
        channels = [1] + [width] * (depth - 1) + [1]
        layers = [
            eqx.nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="CIRCULAR", key=k)
            for c_in, c_out, k in zip(channels[:-1], channels[1:], keys, strict=True)
        ]
        last = eqx.tree_at(lambda c: (c.weight, c.bias), layers[-1], replace_fn=jnp.zeros_like)
        self.layers = [*layers[:-1], last]
        self.scale = scale

    def __call__(self, w):
        x = (w / self.scale)[None]
        for layer in self.layers[:-1]:
            x = jax.nn.gelu(_circular_conv(layer, x))
        return self.scale * _circular_conv(self.layers[-1], x)[0]


def _circular_conv(layer, x):
    """``layer(x)`` for a 3x3 circularly padded ``eqx.nn.Conv2d``, as nine shifted copies
    contracted with the kernel: one matrix product, which the tests' unoptimised XLA build
    runs 8x faster than its convolution's weight gradient inside the unrolled loss."""
    shifted = jnp.stack([
        jnp.stack([jnp.roll(x, (1 - k, 1 - m), axis=(1, 2)) for m in range(3)])
        for k in range(3)
    ])  # fmt: skip
    return jnp.einsum("ockm,kmcij->oij", layer.weight, shifted) + layer.bias


def test_learned_closure_beats_the_uncorrected_coarse_model():
    """Kolmogorov flow (m = 2, ν = 0.005, α = 0.1, A = 0.3) on [0, 2π)²: 64² DNS (CN-RK4,
    dt 0.01) filtered to 16² (CN-RK3, dt 0.04) after a 4 s spin-up; a 1321-parameter CNN
    trained a posteriori (unrolls of 4 coarse steps, 60 Adam steps) on four trajectories;
    evaluated on four held-out ones over 80 coarse steps (3.2 s).

    Measured (mean relative L2 error over the horizon against the filtered DNS, float32):
    uncorrected 0.207; corrected 0.159 (ratio 0.77) with the seeds below, ratio 0.76 with
    model seed 1 and 0.66 with training-data seed 101. With 150 Adam steps: ratio 0.71, and
    0.73, 0.68 with model seeds 1, 2, 0.62 with training-data seed 101, 0.62 with seeds 102
    and 3.
    """
    kwargs = dict(viscosity=0.005, drag=0.1, forcing="kolmogorov", forcing_wavenumber=2,
                  forcing_amplitude=0.3, dtype=jnp.float32)  # fmt: skip
    fine = SpectralNavierStokes2D(_box(64), dt=0.01, **kwargs)
    coarse = SpectralNavierStokes2D(_box(16), dt=0.04, time_stepping="crank_nicolson_rk3", **kwargs)
    # train on seeds 100 (4 trajectories), evaluate on 999 (4 others): one rollout, one compile
    w0 = jnp.concatenate([
        _random_vorticity(jax.random.key(seed), fine.grid, 3.0, batch=(4,), dtype=jnp.float32)
        for seed in (100, 999)
    ])  # fmt: skip
    data = closure_training_data(fine, coarse, w0, snapshots=41, snapshot_interval=0.08, warmup=4.0)
    train, held_out = data.vorticity[:4], data.vorticity[4:]

    model = CNNClosure(width=8, depth=4, scale=float(jnp.std(train)), key=jax.random.key(0))
    assert sum(p.size for p in jax.tree.leaves(eqx.filter(model, eqx.is_array))) == 1321
    windows = trajectory_windows(train, 3)

    def loss(model, batch, key):
        return a_posteriori_loss(model, coarse, batch, steps_between=data.coarse_steps)

    result = fit(model, loss, optax.adam(2e-3), windows, key=jax.random.key(0), steps=60,
                 batch_size=8, devices=jax.devices()[:1])  # fmt: skip

    def errors(solver):
        trajectory = rollout(
            jax.vmap(solver.step), solver.init(held_out[:, 0]), 80, every=2,
            observe=solver.vorticity,
        ).trajectory  # fmt: skip
        trajectory = jnp.moveaxis(trajectory, 0, 1)
        target = held_out[:, 1:]
        error = jnp.linalg.norm(trajectory - target, axis=(-2, -1))
        return error / jnp.linalg.norm(target, axis=(-2, -1))  # (held-out, snapshots)

    corrected = coarse.with_closure(result.model)
    plain, learned = errors(coarse), errors(corrected)
    # measured ratios 0.66-0.77 over three seed choices (60 Adam steps)
    assert float(jnp.mean(learned)) < 0.85 * float(jnp.mean(plain))
    # better for every held-out trajectory at the end of the horizon
    assert bool(jnp.all(learned[:, -1] < plain[:, -1]))


# --- inverse problems --------------------------------------------------------------------------


def _observed_flow(dtype, n=32, dt=0.025):
    """A Kolmogorov flow observed at t = 0.5 and 1 from a random ω₀."""
    grid = _box(n)
    solver = _kolmogorov(grid, dt, dtype=dtype)
    w0 = solver.vorticity(solver.init(_random_vorticity(jax.random.key(0), grid, 2.0, dtype=dtype)))
    steps = round(0.5 / dt)
    trajectory = rollout(
        solver.step, solver.init(w0), 2 * steps, every=steps, observe=solver.vorticity
    )
    return solver, w0, trajectory.trajectory, [0.5, 1.0]


def test_misfit_gradients_match_finite_differences(x64):
    solver, w0, observed, times = _observed_flow(jnp.float64, n=16, dt=0.05)
    mask = np.zeros(solver.grid.shape, bool)
    mask[::3, ::2] = True
    guess = 0.5 * w0 + 0.1 * jnp.sin(solver.grid.periodic_points(jnp.float64)[0])

    def field_loss(w):
        return initial_vorticity_loss(
            solver, w, observed, times, mask=mask, regularisation=0.05, smoothness=1.0
        )

    check_grad(field_loss, guess, num_directions=2, mode="reverse")

    def by_parameters(params):
        nu, amplitude = params
        changed = eqx.tree_at(lambda s: (s.viscosity, s.forcing_amplitude), solver, (nu, amplitude))
        return parameter_loss(changed, guess, observed, times)

    check_grad(by_parameters, (solver.viscosity * 1.5, solver.forcing_amplitude * 0.8),
               num_directions=2, mode="reverse")  # fmt: skip
    # the exact initial field fits exactly; the penalty is λ/2 ⟨|∇ω₀|²⟩/⟨d²⟩
    assert float(parameter_loss(solver, w0, observed, times)) < 1e-28
    # vmap of grad is grad per field
    batch = jnp.stack([guess, w0])
    grads = jax.vmap(jax.grad(field_loss))(batch)
    np.testing.assert_allclose(grads[1], jax.grad(field_loss)(w0), rtol=1e-10, atol=1e-14)


def test_recover_initial_vorticity_from_sparse_noisy_observations():
    """32² Kolmogorov flow (ν = 0.01, m = 2, CN-RK3), ω₀ a random field (rms 2); observed at
    t = 0.5 and 1 (20 and 40 steps). Measured relative errors of the estimate (the prior,
    zero, has 1): full noiseless 1.5e-5 (60 L-BFGS iterations); a quarter of the points
    (every other one per axis) with 5% noise: 0.137, 0.132, 0.135 (noise keys 5, 6, 7) with
    λ = 10⁻³ m², 0.18-0.20 with λ = 0, 0.25 with λ = 10⁻²."""
    solver, w0, observed, times = _observed_flow(jnp.float32)
    noise = 0.05 * float(jnp.std(observed)) * jax.random.normal(jax.random.key(5), observed.shape)
    mask = np.zeros(solver.grid.shape, bool)
    mask[::2, ::2] = True
    guess = jnp.zeros(solver.grid.shape)

    def relative_error(estimate):
        return float(jnp.linalg.norm(estimate - w0) / jnp.linalg.norm(w0))

    full = recover_initial_vorticity(solver, observed, times, initial_guess=guess, steps=60)
    assert relative_error(full.estimate) < 1e-3
    assert full.loss_history.shape == (full.steps + 1,) and float(full.loss_history[-1]) < 1e-8
    sparse = recover_initial_vorticity(
        solver, observed + noise, times, initial_guess=guess, steps=60, mask=mask,
        regularisation=1e-3,
    )  # fmt: skip
    assert relative_error(sparse.estimate) < 0.2  # the prior's is 1
    # measured: J from 0.449 to 0.0066 (misfit and penalty)
    assert float(sparse.loss_history[-1]) < 0.03 * float(sparse.loss_history[0])
    assert float(sparse.misfit) < float(sparse.loss_history[-1])
    # any optax transformation: Adam lowers the objective too, and a second problem of the
    # same shapes (other noise, sensors, weight) compiles nothing
    adam = optax.adam(0.05)

    def by_adam(obs, m, lam):
        result = recover_initial_vorticity(
            solver, obs, times, initial_guess=guess, steps=5, mask=m, regularisation=lam,
            optimiser=adam,
        )  # fmt: skip
        assert float(result.loss_history[-1]) < 0.9 * float(result.loss_history[0])
        return result.estimate

    assert_no_recompile(by_adam, (observed + noise, mask, 1e-3), (observed - noise, ~mask, 2e-3))


def test_recover_forcing_amplitude_and_viscosity():
    """The flow above from the known ω₀, A and ν unknown (guesses 0.2 and 0.03). Measured, 20
    L-BFGS iterations: noiseless A = 0.50000006, ν = 0.0099999998; with 5% noise
    A = 0.4996, 0.4986, 0.5009 and ν = 0.00996, 0.00990, 0.01003 (noise keys 5, 6, 7)."""
    solver, w0, observed, times = _observed_flow(jnp.float32)
    guess = {"viscosity": 0.03, "forcing_amplitude": 0.2}
    clean = recover_parameters(solver, w0, observed, times, initial_guess=guess, steps=20)
    assert float(clean.estimate["forcing_amplitude"]) == pytest.approx(0.5, rel=1e-4)
    assert float(clean.estimate["viscosity"]) == pytest.approx(0.01, rel=1e-3)
    noise = 0.05 * float(jnp.std(observed)) * jax.random.normal(jax.random.key(5), observed.shape)
    noisy = recover_parameters(solver, w0, observed + noise, times, initial_guess=guess, steps=20)
    assert float(noisy.estimate["forcing_amplitude"]) == pytest.approx(0.5, rel=0.01)
    assert float(noisy.estimate["viscosity"]) == pytest.approx(0.01, rel=0.03)


def test_inverse_bad_input_raises():
    solver, w0, observed, times = _observed_flow(jnp.float32)
    guess = jnp.zeros(solver.grid.shape)
    with pytest.raises(ValueError, match=r"multiples of solver\.dt"):
        recover_initial_vorticity(solver, observed, [0.51, 1.0], initial_guess=guess, steps=1)
    with pytest.raises(ValueError, match="strictly increasing"):
        recover_initial_vorticity(solver, observed, [1.0, 0.5], initial_guess=guess, steps=1)
    with pytest.raises(ValueError, match="observations must have shape"):
        recover_initial_vorticity(solver, observed[:1], times, initial_guess=guess, steps=1)
    with pytest.raises(ValueError, match="mask"):
        recover_initial_vorticity(solver, observed, times, initial_guess=guess, mask=guess[:4])
    with pytest.raises(ValueError, match="initial_guess must have shape"):
        recover_initial_vorticity(solver, observed, times, initial_guess=guess[:4])
    with pytest.raises(ValueError, match="regularisation"):
        recover_initial_vorticity(solver, observed, times, initial_guess=guess, regularisation=-1.0)
    with pytest.raises(ValueError, match="unknown parameter"):
        recover_parameters(solver, w0, observed, times, initial_guess={"density": 1.0})
    with pytest.raises(ValueError, match="must be positive"):
        recover_parameters(solver, w0, observed, times, initial_guess={"viscosity": 0.0})
    with pytest.raises(TypeError, match="optimiser"):
        recover_parameters(solver, w0, observed, times, initial_guess={"drag": 0.1}, optimiser=1)
    with pytest.raises(ValueError, match="tolerance"):
        recover_initial_vorticity(solver, observed, times, initial_guess=guess, tolerance=-1.0)
    with pytest.raises(ValueError, match="smoothness"):
        initial_vorticity_loss(solver, guess, observed, times, smoothness=-1.0)
    with pytest.raises(ValueError, match="steps"):
        recover_parameters(solver, w0, observed, times, initial_guess={"drag": 0.1}, steps=-1)
    with pytest.raises(TypeError, match="SpectralNavierStokes2D"):
        parameter_loss(object(), w0, observed, times)
    with pytest.raises(TypeError, match="SpectralNavierStokes2D"):  # beartype or ours
        subgrid_correction(solver, object(), w0)


@pytest.mark.slow
def test_closure_benchmark_reports_its_figures(monkeypatch):
    from dmech.bench import _harness
    from dmech.cfd._benchmarks_closure import cfd_closure

    monkeypatch.setattr(_harness, "get_benchmark", lambda name: cfd_closure)
    params = dict(fine="32", coarse="16", finer="24", train="2", test="1", snapshots="6",
                  warmup="0.512", unroll="2", adam_steps="5", cost_batch="2",
                  cost_horizon="0.1")  # fmt: skip
    report = _harness.run_benchmark("cfd-closure", params, repeats=1, log=lambda _: None)
    models = report["models"]
    assert set(models) == {"uncorrected_16", "uncorrected_24", "corrected"}
    assert models["uncorrected_16"]["cost_ratio"] == 1.0
    assert 0 < report["error"]["corrected_rel_l2"] < 1
    assert report["error"]["uncorrected_rel_l2"] == models["uncorrected_16"]["rel_l2"]
    # the interpolated uncorrected error lies between the two measured grids'
    low, high = sorted(models[k]["rel_l2"] for k in ("uncorrected_16", "uncorrected_24"))
    assert low <= report["equal_cost_uncorrected_rel_l2"] <= high
    assert report["closure_parameters"] == 225
