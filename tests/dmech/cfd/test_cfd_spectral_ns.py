"""Pseudo-spectral 2D Navier-Stokes: closed forms, spectral and temporal convergence,
conservation, gradients, transforms, the closure hook, bad input, and the dataset generator."""

import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.cfd import (
    SpectralNavierStokes2D,
    _ns_data,
    gaussian_random_field,
    navier_stokes_dataset,
    rollout,
    taylor_green_vorticity,
    velocity_from_vorticity,
    vorticity_to_physical,
    vorticity_to_spectral,
)
from dmech.cfd._spectral_ns import _LOW_STORAGE, _phi_functions
from dmech.data import read_card
from dmech.geometry import Grid
from dmech.testing import (
    assert_convergence_order,
    assert_no_recompile,
    check_grad,
)

TWO_PI = 2 * np.pi
SCHEMES = ("crank_nicolson_rk4", "crank_nicolson_rk3", "etdrk4")


def _final(solver, state, steps, every=None):
    return rollout(solver.step, state, steps, every=every or steps).state


def _smooth_vorticity(grid):
    """An analytic, non-stationary vorticity (its Fourier coefficients decay geometrically)."""
    x, y = grid.periodic_points(jnp.float64)
    return 1.0 / (2.5 + jnp.sin(x) * jnp.cos(y) + 0.3 * jnp.cos(x + 0.5))


# --- closed forms ------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
def test_taylor_green_decays_at_the_analytic_rate(x64, scheme):
    # a rectangular box and the second mode: k_x = 2, k_y = 1, rate ν(k_x² + k_y²) + α
    grid = Grid((16, 24), (np.pi, TWO_PI))
    nu, drag, steps, dt = 0.05, 0.1, 50, 0.02
    solver = SpectralNavierStokes2D(grid, viscosity=nu, drag=drag, dt=dt, time_stepping=scheme)
    w0 = taylor_green_vorticity(grid, amplitude=2.0, dtype=jnp.float64)
    state = solver.init(w0)
    final = _final(solver, state, steps)
    exact = taylor_green_vorticity(
        grid, time=steps * dt, viscosity=nu, drag=drag, amplitude=2.0, dtype=jnp.float64
    )
    error = float(jnp.max(jnp.abs(solver.vorticity(final) - exact)) / jnp.max(jnp.abs(exact)))
    decay = float(jnp.max(jnp.abs(exact)) / jnp.max(jnp.abs(w0)))
    assert decay == pytest.approx(np.exp(-(nu * 5.0 + drag) * steps * dt), rel=1e-12)
    rate = nu * 5.0 + drag
    if scheme == "etdrk4":
        # the linear part is integrated exactly and the advection vanishes: round-off
        assert error < 1e-13
    else:
        # without advection each stage is a Crank-Nicolson step over its sub-interval h_k:
        # the step multiplies by R = Π (1 - h_k λ/2)/(1 + h_k λ/2), and R^n is reproduced
        # to round-off; R^n against exp(-λ t) is Crank-Nicolson's error, ≤ n Σ(h_k λ)³/12
        times = np.asarray([float(c) for c in _LOW_STORAGE[scheme][2]])
        h = dt * np.diff(times)
        factor = np.prod((1 - h * rate / 2) / (1 + h * rate / 2)) ** steps
        discrete = exact * factor / np.exp(-rate * steps * dt)
        assert float(jnp.max(jnp.abs(solver.vorticity(final) - discrete))) < 1e-13
        assert error == pytest.approx(steps * np.sum((h * rate) ** 3) / 12, rel=0.02)
    assert float(final.time) == pytest.approx(steps * dt, rel=1e-14)


def test_taylor_green_velocity_energy_and_conversions(x64):
    grid = Grid((16, 16), (TWO_PI, TWO_PI))
    x, y = grid.periodic_points(jnp.float64)
    w0 = taylor_green_vorticity(grid, dtype=jnp.float64)
    np.testing.assert_allclose(w0, 2 * jnp.sin(x) * jnp.sin(y), atol=1e-14)
    u, v = velocity_from_vorticity(w0, grid)
    np.testing.assert_allclose(u, jnp.sin(x) * jnp.cos(y), atol=1e-14)
    np.testing.assert_allclose(v, -jnp.cos(x) * jnp.sin(y), atol=1e-14)
    solver = SpectralNavierStokes2D(grid, viscosity=0.01, dt=0.01)
    state = solver.init(w0)
    # Parseval diagnostics against grid averages
    assert float(solver.energy(state)) == pytest.approx(0.25, rel=1e-14)
    assert float(solver.enstrophy(state)) == pytest.approx(float(0.5 * jnp.mean(w0**2)), rel=1e-14)
    np.testing.assert_allclose(solver.velocity(state), jnp.stack([u, v]), atol=1e-14)
    np.testing.assert_allclose(vorticity_to_physical(state, grid), w0, atol=1e-14)
    # a field with a mean and modes beyond the 2/3 rule: init removes both
    rough = w0 + 1.0 + jnp.cos(7 * x)
    np.testing.assert_allclose(solver.vorticity(solver.init(rough)), w0, atol=1e-14)
    hat = vorticity_to_spectral(rough, grid, dealias=False)
    assert hat.shape == (16, 9) and hat.dtype == jnp.complex128
    np.testing.assert_allclose(vorticity_to_physical(hat, grid), rough, atol=1e-13)


@pytest.mark.parametrize("forcing", ["kolmogorov", "fno"])
def test_forced_shear_flow_reaches_the_exact_transient(x64, forcing):
    # A forcing depending on one coordinate (y, or x + y) drives a parallel shear flow whose
    # advection vanishes: ω(t) = A f (1 - e^{-λt}) / λ, λ = ν|k|² + α, exact for ETDRK4.
    grid = Grid((16, 16), (1.0, 1.0) if forcing == "fno" else (TWO_PI, TWO_PI))
    nu, drag, amplitude, steps, dt = 0.02, 0.05, 0.7, 40, 0.05
    x, y = grid.periodic_points(jnp.float64)
    if forcing == "kolmogorov":
        # the body force A sin(2y) e_x has the curl -2A cos(2y)
        field, k2 = -2.0 * jnp.cos(2 * y), 4.0
    else:
        field, k2 = jnp.sin(TWO_PI * (x + y)) + jnp.cos(TWO_PI * (x + y)), 2 * TWO_PI**2
    kwargs = dict(viscosity=nu, drag=drag, dt=dt, time_stepping="etdrk4")
    named = SpectralNavierStokes2D(
        grid, forcing=forcing, forcing_amplitude=amplitude, forcing_wavenumber=2, **kwargs
    )
    np.testing.assert_allclose(named.forcing_field, field, atol=1e-13)
    # the named kind runs on the Kolmogorov box, the same field given as an array on the torus
    solver = named if forcing == "kolmogorov" else SpectralNavierStokes2D(
        grid, forcing=field, forcing_amplitude=amplitude, **kwargs
    )  # fmt: skip
    assert solver.forcing == ("kolmogorov" if forcing == "kolmogorov" else "field")
    final = _final(solver, solver.init(jnp.zeros(grid.shape)), steps)
    rate = nu * k2 + drag
    exact = amplitude * field * (1 - np.exp(-rate * steps * dt)) / rate
    np.testing.assert_allclose(solver.vorticity(final), exact, atol=1e-12)


def test_phi_functions_are_accurate_and_differentiable(x64):
    z = np.concatenate([-np.logspace(-12, 4, 60), [0.0], np.logspace(-12, 0.5, 20)])
    phi = jax.jit(_phi_functions)(jnp.asarray(z))
    # references: the Taylor series (30 terms) where |z| < 1, else the closed forms, in which
    # nothing cancels there
    safe = np.where(z == 0, 1.0, z)
    direct = (
        np.expm1(safe) / safe,
        (np.expm1(safe) - safe) / safe**2,
        (np.expm1(safe) - safe - safe**2 / 2) / safe**3,
    )
    for k, (value, closed) in enumerate(zip(phi, direct, strict=True), start=1):
        series = sum(z**j / math.factorial(j + k) for j in range(30))
        np.testing.assert_allclose(value, np.where(np.abs(z) < 1, series, closed), rtol=1e-14)
    grads = jax.jit(jax.vmap(jax.grad(lambda s: sum(_phi_functions(s)))))(jnp.asarray(z))
    assert bool(jnp.all(jnp.isfinite(grads)))


# --- convergence -------------------------------------------------------------------------------


def test_spatial_error_drops_exponentially(x64):
    """Smooth (analytic) initial vorticity: the error at the grid points against a 48² run
    falls geometrically with N (a straight line of log error against N)."""
    steps, dt = 25, 0.02

    def run(n):
        grid = Grid((n, n), (TWO_PI, TWO_PI))
        solver = SpectralNavierStokes2D(grid, viscosity=0.01, dt=dt, time_stepping="etdrk4")
        return solver.vorticity(_final(solver, solver.init(_smooth_vorticity(grid)), steps))

    reference = run(48)
    sizes = (12, 16, 24)
    errors = [float(jnp.max(jnp.abs(run(n) - reference[:: 48 // n, :: 48 // n]))) for n in sizes]
    # measured: 4.6e-3, 2.1e-4, 1.7e-5 (max|ω| ≈ 0.8); ln(error) against N has slope -0.45
    slope, _ = np.polyfit(sizes, np.log(errors), 1)
    assert slope < -0.35  # each extra point divides the error by e^0.35 or more
    assert errors[-1] < 1e-4
    assert all(b < a / 10 for a, b in itertools.pairwise(errors))


@pytest.mark.parametrize(
    ("scheme", "nu", "order"),
    [("crank_nicolson_rk4", 0.2, 2.0), ("etdrk4", 0.01, 4.0)],
)
def test_temporal_order(x64, scheme, nu, order):
    """Observed order against a fine-dt run of the same scheme: Crank-Nicolson makes the
    IMEX scheme second order once the viscous term matters; ETDRK4 is fourth order."""
    grid = Grid((16, 16), (TWO_PI, TWO_PI))
    w0 = 3.0 * _smooth_vorticity(grid)
    final_time = 0.5

    def run(steps):
        solver = SpectralNavierStokes2D(
            grid, viscosity=nu, dt=final_time / steps, time_stepping=scheme,
            forcing="kolmogorov", forcing_wavenumber=1, max_cfl=2.0,
        )  # fmt: skip
        return solver.vorticity(_final(solver, solver.init(w0), steps))

    reference = run(1024)
    steps = (8, 16, 32)
    errors = [float(jnp.max(jnp.abs(run(n) - reference))) for n in steps]
    assert_convergence_order([final_time / n for n in steps], errors, order, tol=0.3)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scheme", "nu", "order"),
    [
        ("crank_nicolson_rk4", 0.0, 4.0),  # no linear term: the Carpenter-Kennedy RK4
        ("crank_nicolson_rk3", 0.0, 3.0),
        ("crank_nicolson_rk3", 0.2, 2.0),
        ("etdrk4", 0.2, 4.0),
    ],
)
def test_temporal_order_more_schemes(x64, scheme, nu, order):
    test_temporal_order(None, scheme, nu, order)


# --- conservation ------------------------------------------------------------------------------


def test_dealiased_advection_conserves_energy_and_enstrophy(x64):
    """The dealiased advection is orthogonal to ω and to ψ (semi-discrete conservation of
    enstrophy and energy, to round-off), and the budget dE/dt = -2νZ - 2αE + A⟨ψ f⟩ holds."""
    grid = Grid((24, 24), (TWO_PI, TWO_PI))
    w0 = gaussian_random_field(
        jax.random.key(3), grid, alpha=1.5, tau=2.0, sigma=3.0, dtype=jnp.float64
    )
    nu, drag, amplitude = 0.03, 0.2, 0.8
    solver = SpectralNavierStokes2D(
        grid, viscosity=nu, drag=drag, dt=1e-3, forcing="kolmogorov", forcing_wavenumber=2,
        forcing_amplitude=amplitude,
    )  # fmt: skip
    state = solver.init(w0)

    @jax.jit
    def rates(hat):
        # time derivatives of the quadratic diagnostics along the advection alone and along
        # the full right-hand side
        advection = solver._explicit(hat, None)[0]
        full = solver._explicit(hat, solver._forcing_hat())[0] + (
            solver._linear().astype(jnp.complex128) * hat
        )

        def along(which, direction):
            return jax.jvp(lambda h: solver._quadratic(h, which), (hat,), (direction,))[1]

        scale = {  # Cauchy-Schwarz bounds of the advective rates
            which: jnp.sqrt(solver._quadratic(advection, which) * solver._quadratic(hat, which))
            for which in ("energy", "enstrophy")
        }
        return {
            "advection": jnp.max(jnp.abs(advection)),
            "energy": along("energy", advection) / scale["energy"],
            "enstrophy": along("enstrophy", advection) / scale["enstrophy"],
            "budget": along("energy", full),
        }

    out = rates(state.vorticity_hat)
    assert float(out["advection"]) > 1.0  # the flow is genuinely nonlinear
    assert abs(float(out["energy"])) < 1e-13 and abs(float(out["enstrophy"])) < 1e-13
    # the budget: power of the forcing ⟨ψ A f⟩ with -Δψ = ω, in NumPy
    k2 = sum(k**2 for k in grid.wavenumbers_numpy())
    psi_hat = np.fft.rfft2(np.asarray(solver.vorticity(state))) / np.where(k2 > 0, k2, np.inf)
    psi = np.fft.irfft2(psi_hat, s=grid.shape)
    power = np.mean(psi * amplitude * np.asarray(solver.forcing_field))
    energy, enstrophy = float(solver.energy(state)), float(solver.enstrophy(state))
    expected = -2 * nu * enstrophy - 2 * drag * energy + power
    assert float(out["budget"]) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("scheme", ["crank_nicolson_rk4", "etdrk4"])
def test_inviscid_rollout_conserves_energy_and_enstrophy(x64, scheme):
    grid = Grid((24, 24), (TWO_PI, TWO_PI))
    w0 = gaussian_random_field(
        jax.random.key(4), grid, alpha=1.5, tau=2.0, sigma=3.0, dtype=jnp.float64
    )
    drifts = []
    for steps in (40, 80):
        solver = SpectralNavierStokes2D(grid, viscosity=0.0, dt=0.4 / steps, time_stepping=scheme)
        state = solver.init(w0)
        final = _final(solver, state, steps)
        change = jnp.max(jnp.abs(solver.vorticity(final) - solver.vorticity(state)))
        assert float(change) > 10.0  # a strongly nonlinear evolution (max|ω₀| ≈ 17)
        drifts.append(
            [
                abs(float(solver.energy(final) / solver.energy(state)) - 1),
                abs(float(solver.enstrophy(final) / solver.enstrophy(state)) - 1),
            ]
        )
    drifts = np.asarray(drifts)
    # the time discretisation's error only (the dealiased advection conserves both exactly):
    # measured drifts 8e-9/1.2e-7 (CN-RK4) and 2.9e-8/3.9e-7 (ETDRK4) at 40 steps, falling
    # about 32x when dt halves
    assert np.all(drifts[1] < 2e-8)
    assert np.all(drifts[0] / drifts[1] > 16)


# --- gradients and transforms -----------------------------------------------------------------


def _kinetic_energy_after(solver, w0, steps=20, every=5):
    state = solver.init(w0)
    return solver.energy(rollout(solver.step, state, steps, every=every).state)


def test_gradient_of_final_energy_matches_finite_differences(x64):
    grid = Grid((16, 16), (TWO_PI, TWO_PI))
    solver = SpectralNavierStokes2D(
        grid, viscosity=0.02, drag=0.05, dt=0.02, forcing="kolmogorov", forcing_wavenumber=2
    )
    w0 = gaussian_random_field(
        jax.random.key(5), grid, alpha=2.0, tau=3.0, sigma=3.0, dtype=jnp.float64
    )
    # w.r.t. the initial vorticity: reverse mode against central differences along random
    # directions (forward mode too in the slow test below; its compilation takes ~7 s)
    check_grad(lambda w: _kinetic_energy_after(solver, w), w0, num_directions=2, mode="reverse")

    # w.r.t. the viscosity, drag and forcing amplitude (reverse mode)
    def by_parameters(params):
        nu, drag, amplitude = params
        changed = eqx.tree_at(
            lambda s: (s.viscosity, s.drag, s.forcing_amplitude), solver, (nu, drag, amplitude)
        )
        return _kinetic_energy_after(changed, w0)

    params = (solver.viscosity, solver.drag, solver.forcing_amplitude)
    check_grad(by_parameters, params, num_directions=2, mode="reverse")


@pytest.mark.slow
def test_forward_mode_gradient(x64):
    grid = Grid((16, 16), (TWO_PI, TWO_PI))
    solver = SpectralNavierStokes2D(grid, viscosity=0.02, dt=0.02, forcing="kolmogorov")
    w0 = gaussian_random_field(
        jax.random.key(5), grid, alpha=2.0, tau=3.0, sigma=3.0, dtype=jnp.float64
    )
    check_grad(lambda w: _kinetic_energy_after(solver, w), w0, num_directions=2, mode="forward")


def test_gradient_through_etdrk4(x64):
    grid = Grid((12, 12), (TWO_PI, TWO_PI))
    solver = SpectralNavierStokes2D(grid, viscosity=0.02, dt=0.05, time_stepping="etdrk4")
    w0 = 2.0 * _smooth_vorticity(grid)

    def by_viscosity(nu):
        return _kinetic_energy_after(eqx.tree_at(lambda s: s.viscosity, solver, nu), w0, 10, 5)

    check_grad(by_viscosity, solver.viscosity, num_directions=1, mode="reverse")


def test_transforms_compose(x64):
    grid = Grid((12, 12), (TWO_PI, TWO_PI))
    solver = SpectralNavierStokes2D(grid, viscosity=0.02, dt=0.02, forcing="kolmogorov")
    batch = gaussian_random_field(
        jax.random.key(6), grid, alpha=2.0, tau=3.0, sigma=3.0, batch=(3,), dtype=jnp.float64
    )

    def energy(w0):
        return _kinetic_energy_after(solver, w0, 10, 5)

    looped = jnp.stack([jax.jit(energy)(w) for w in batch])
    # a batched init stepped by the vmapped step, inside jit
    states = solver.init(batch)
    assert states.vorticity_hat.shape == (3, 12, 7) and states.time.shape == (3,)
    batched = eqx.filter_jit(
        lambda s: jax.vmap(solver.energy)(rollout(jax.vmap(solver.step), s, 10, every=5).state)
    )(states)
    np.testing.assert_allclose(batched, looped, rtol=1e-12)
    # grad of vmap = vmap of grad
    grads_vmapped = jax.jit(jax.vmap(jax.grad(energy)))(batch)
    grad_of_sum = jax.jit(jax.grad(lambda b: jnp.sum(jax.vmap(energy)(b))))(batch)
    np.testing.assert_allclose(grads_vmapped, grad_of_sum, rtol=1e-10, atol=1e-14)
    assert float(jnp.linalg.norm(grads_vmapped)) > 0


def test_no_recompile_when_parameters_change(x64):
    grid = Grid((16, 16), (TWO_PI, TWO_PI))
    w0 = taylor_green_vorticity(grid, dtype=jnp.float64)
    kwargs = dict(dt=0.01, forcing="kolmogorov", forcing_wavenumber=2)
    first = SpectralNavierStokes2D(grid, viscosity=0.01, drag=0.1, **kwargs)
    second = SpectralNavierStokes2D(grid, viscosity=0.03, drag=0.0, forcing_amplitude=2.0, **kwargs)
    state = first.init(w0)

    @eqx.filter_jit
    def run(solver, state):
        return rollout(solver.step, state, 10, every=5).state.vorticity_hat

    assert_no_recompile(run, (first, state), (second, state))
    assert not np.allclose(run(first, state), run(second, state))


def test_float32_by_default_and_aux():
    grid = Grid((16, 16), (TWO_PI, TWO_PI))
    solver = SpectralNavierStokes2D(grid, viscosity=0.01, dt=0.01)
    state = solver.init(taylor_green_vorticity(grid))
    assert solver.viscosity.dtype == jnp.float32 and state.vorticity_hat.dtype == jnp.complex64
    new, aux = eqx.filter_jit(solver.step)(state)
    assert new.vorticity_hat.dtype == jnp.complex64 and new.time.dtype == jnp.float32
    assert set(aux) == {"stable", "cfl", "energy", "enstrophy"} and bool(aux["stable"])
    # max|u| = 1 at the Taylor-Green vortex: cfl = dt / dx
    assert float(aux["cfl"]) == pytest.approx(0.01 / (TWO_PI / 16), rel=1e-5)
    assert float(aux["energy"]) == pytest.approx(0.25, rel=1e-5)


# --- closure hook ------------------------------------------------------------------------------


class _CNNClosure(eqx.Module):
    conv: eqx.nn.Conv2d

    def __call__(self, w):
        return self.conv(w[None])[0]


def test_closure_hook(x64):
    grid = Grid((16, 16), (TWO_PI, TWO_PI))
    conv = eqx.nn.Conv2d(
        1, 1, 3, padding=1, padding_mode="CIRCULAR", dtype=jnp.float64, key=jax.random.key(7)
    )
    closure = _CNNClosure(conv)
    zero = eqx.tree_at(lambda c: (c.conv.weight, c.conv.bias), closure, replace_fn=jnp.zeros_like)
    w0 = gaussian_random_field(
        jax.random.key(8), grid, alpha=2.0, tau=3.0, sigma=3.0, dtype=jnp.float64
    )
    kwargs = dict(viscosity=0.02, dt=0.02, forcing="kolmogorov")
    plain = SpectralNavierStokes2D(grid, **kwargs)
    learned = SpectralNavierStokes2D(grid, closure=closure, **kwargs)
    zeroed = SpectralNavierStokes2D(grid, closure=zero, **kwargs)
    base = _final(plain, plain.init(w0), 10).vorticity_hat
    np.testing.assert_array_equal(_final(zeroed, zeroed.init(w0), 10).vorticity_hat, base)
    changed = _final(learned, learned.init(w0), 10).vorticity_hat
    assert float(jnp.max(jnp.abs(changed - base))) > 1e-3 * float(jnp.max(jnp.abs(base)))

    # the closure's arrays are leaves: gradients reach them
    @eqx.filter_jit
    @eqx.filter_grad
    def grad(closure):
        solver = eqx.tree_at(lambda s: s.closure, learned, closure)
        return _kinetic_energy_after(solver, w0, 10, 5)

    g = grad(closure)
    assert float(jnp.linalg.norm(g.conv.weight)) > 0

    # "step": one evaluation after the update, ω ← Φ(ω) + Δt c(Φ(ω)); c = a ω scales it
    a = 0.7
    stepped = SpectralNavierStokes2D(grid, closure=lambda w: a * w, closure_mode="step", **kwargs)
    state = plain.init(w0)
    np.testing.assert_allclose(
        stepped.step(state)[0].vorticity_hat,
        (1 + a * kwargs["dt"]) * plain.step(state)[0].vorticity_hat,
        rtol=1e-13,
        atol=1e-13 * float(jnp.max(jnp.abs(state.vorticity_hat))),
    )

    def bad(w):
        return w[:4]

    with pytest.raises(ValueError, match="closure must return"):
        SpectralNavierStokes2D(grid, closure=bad, **kwargs).step(plain.init(w0))


# --- errors ------------------------------------------------------------------------------------


def test_bad_input_raises():
    grid = Grid((16, 16), (TWO_PI, TWO_PI))
    ok = dict(viscosity=0.01, dt=0.01)
    with pytest.raises(ValueError, match="two-dimensional"):
        SpectralNavierStokes2D(Grid((16,), (1.0,)), **ok)
    with pytest.raises(TypeError, match="Grid"):
        SpectralNavierStokes2D((16, 16), **ok)
    with pytest.raises(ValueError, match="viscosity"):
        SpectralNavierStokes2D(grid, viscosity=-0.1, dt=0.01)
    with pytest.raises(ValueError, match="drag"):
        SpectralNavierStokes2D(grid, drag=-1.0, **ok)
    with pytest.raises(ValueError, match="dt"):
        SpectralNavierStokes2D(grid, viscosity=0.01, dt=0.0)
    with pytest.raises(ValueError, match="time_stepping"):
        SpectralNavierStokes2D(grid, time_stepping="euler", **ok)
    with pytest.raises(ValueError, match="forcing"):
        SpectralNavierStokes2D(grid, forcing="random", **ok)
    with pytest.raises(ValueError, match="forcing must be an array of shape"):
        SpectralNavierStokes2D(grid, forcing=jnp.zeros((8, 8)), **ok)
    with pytest.raises(ValueError, match="forcing_wavenumber"):
        SpectralNavierStokes2D(grid, forcing="kolmogorov", forcing_wavenumber=0, **ok)
    with pytest.raises(ValueError, match="max_cfl"):
        SpectralNavierStokes2D(grid, max_cfl=0.0, **ok)
    with pytest.raises(TypeError, match="closure"):
        SpectralNavierStokes2D(grid, closure=3.0, **ok)
    with pytest.raises(ValueError, match="closure_mode"):
        SpectralNavierStokes2D(grid, closure_mode="every", **ok)
    solver = SpectralNavierStokes2D(grid, **ok)
    with pytest.raises(ValueError, match="vorticity must have shape"):
        solver.init(jnp.zeros((8, 8)))
    with pytest.raises(ValueError, match="finite"):
        solver.init(jnp.full((16, 16), jnp.nan))
    # the Taylor-Green vortex of amplitude 100 has max|u| = 100: CFL 100 · 0.01 / 0.39 > 0.5
    with pytest.raises(ValueError, match=r"dt = 0\.01 exceeds the advective CFL"):
        solver.init(taylor_green_vorticity(grid, amplitude=100.0))
    with pytest.raises(ValueError, match="one state"):
        solver.step(solver.init(jnp.zeros((2, 16, 16))))


def test_rollout_reports_a_cfl_violation():
    # the Kolmogorov force accelerates a flow from rest until the CFL check trips
    grid = Grid((16, 16), (TWO_PI, TWO_PI))
    solver = SpectralNavierStokes2D(
        grid, viscosity=1e-3, dt=0.05, forcing="kolmogorov", forcing_wavenumber=1,
        forcing_amplitude=5.0, max_cfl=0.5,
    )  # fmt: skip
    # max|u| grows about as A t: CFL = A t dt / dx = 0.5 near t = 0.8, step 16
    result = rollout(solver.step, solver.init(jnp.zeros(grid.shape)), 40, throw=False)
    assert 12 <= int(result.failed_step) <= 22
    with pytest.raises(FloatingPointError, match="step"):
        rollout(solver.step, solver.init(jnp.zeros(grid.shape)), 40)


# --- dataset -----------------------------------------------------------------------------------


def test_navier_stokes_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("DMECH_CACHE_DIR", str(tmp_path))
    assert len(jax.devices()) == 2  # conftest's two fake CPU devices
    seen = []
    advance = _ns_data._advance

    def spy(solver, states, steps, stride):
        seen.append(len(states.vorticity_hat.sharding.device_set))
        return advance(solver, states, steps, stride)

    monkeypatch.setattr(_ns_data, "_advance", spy)
    kwargs = dict(
        viscosity=1e-3, resolution=32, output_resolution=16, final_time=2.0, dt=0.02, seed=3,
        progress=False,
    )  # fmt: skip
    data = navier_stokes_dataset(3, batch_size=2, **kwargs)
    assert data["w"].shape == (3, 2, 16, 16) and data["w"].dtype == np.float32
    assert data["w0"].shape == (3, 16, 16)
    np.testing.assert_allclose(data["t"], [1.0, 2.0])
    assert np.all(np.isfinite(data["w"])) and np.std(data["w"]) > 0
    assert seen == [2] * 4  # two batches (the second padded) x two snapshots, on 2 devices
    files = list(tmp_path.rglob("*.dmech"))
    assert len(files) == 1
    card = read_card(files[0])
    assert card.generator == "dmech.cfd.navier_stokes_dataset"
    assert card.params["viscosity"] == 1e-3 and card.params["n_samples"] == 3
    # cached: the second call loads the file without solving
    again = navier_stokes_dataset(3, batch_size=2, **kwargs)
    np.testing.assert_array_equal(again["w"], data["w"])
    assert len(seen) == 4
    # one device, one sample per batch: the same data (up to round-off)
    single = navier_stokes_dataset(
        3, batch_size=1, devices=jax.devices()[:1], cache=False, **kwargs
    )
    np.testing.assert_allclose(single["w"], data["w"], rtol=1e-5, atol=1e-6)
    assert seen[4:] == [1] * 6
    # sample 1 is the solver's run from GRF(α=2.5, τ=7) of the key fold_in(key(seed), 1)
    grid = Grid((32, 32), (1.0, 1.0))
    w0 = gaussian_random_field(jax.random.fold_in(jax.random.key(3), 1), grid, alpha=2.5, tau=7.0)
    solver = SpectralNavierStokes2D(grid, viscosity=1e-3, dt=0.02, forcing="fno")
    state = solver.init(w0)
    np.testing.assert_allclose(data["w0"][1], solver.vorticity(state)[::2, ::2], atol=1e-6)
    final = _final(solver, state, 100, every=50)
    np.testing.assert_allclose(data["w"][1, -1], solver.vorticity(final)[::2, ::2], atol=1e-5)
    with pytest.raises(ValueError, match="output_resolution"):
        navier_stokes_dataset(2, **{**kwargs, "output_resolution": 24})
    with pytest.raises(ValueError, match="snapshot_interval"):
        navier_stokes_dataset(2, **{**kwargs, "dt": 0.3})
    with pytest.raises(ValueError, match="viscosity"):
        navier_stokes_dataset(2, **{**kwargs, "viscosity": 0.0})


# --- benchmarks --------------------------------------------------------------------------------


def _run_benchmark(monkeypatch, bench, params):
    from dmech.bench import _harness

    monkeypatch.setattr(_harness, "get_benchmark", lambda name: bench)
    return _harness.run_benchmark(bench.name, params, repeats=1, log=lambda _: None)


def test_kolmogorov_benchmark_matches_jax_cfd(monkeypatch):
    pytest.importorskip("jax_cfd", reason="jax-cfd is the peer (pip install jax-cfd)")
    from dmech.cfd._benchmarks_spectral import cfd_kolmogorov

    report = _run_benchmark(monkeypatch, cfd_kolmogorov, {"resolution": "32", "steps": "20"})
    assert report["peer"]["name"] == "jax-cfd" and report["peer_same_scheme"]
    # the same Galerkin system and scheme: float32 round-off apart
    assert report["peer_rel_diff"] < 1e-5
    assert report["error"]["rel_l2_vs_float64"] < 1e-5
    assert report["cell_updates_per_second"] > 0 and report["steps"] == 20


@pytest.mark.slow
def test_gradient_benchmark_reports_its_figures(monkeypatch):
    from dmech.cfd._benchmarks_spectral import cfd_gradient

    report = _run_benchmark(
        monkeypatch, cfd_gradient, {"resolution": "16", "steps": "20", "every": "5"}
    )
    assert report["error"]["directional_derivative_rel_error"] < 1e-3
    assert report["gradient_over_forward"] > 1 and report["gradient_peak_memory_mb"] > 0
    assert report["peer"] is None and "no peer" in report["peer_missing"]
