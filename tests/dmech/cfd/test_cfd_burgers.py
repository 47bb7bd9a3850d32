"""1D viscous Burgers: pseudo-spectral ETDRK4, finite volumes, Cole-Hopf references, dataset,
benchmark."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.cfd import (
    FiniteVolumeBurgers,
    SpectralBurgers,
    burgers_cole_hopf,
    burgers_cole_hopf_periodic,
    burgers_dataset,
    gaussian_random_field,
    rollout,
)
from dmech.cfd._benchmarks_burgers import cfd_burgers
from dmech.cfd._burgers import _etdrk4_contour, _etdrk4_series
from dmech.cfd._burgers_data import initial_conditions, sample_keys, solve_sharded
from dmech.data import read_card
from dmech.geometry import Grid
from dmech.testing import (
    assert_convergence_order,
    assert_no_recompile,
    check_grad,
)

PINN_NU = 0.01 / np.pi


def _interval(n):
    return Grid((n,), ((-1.0, 1.0),))


def _spectral_final(n, nu, dt, t, u0=None):
    grid = _interval(n)
    (x,) = grid.periodic_points(jnp.float64)
    solver = SpectralBurgers(grid, nu, dt)
    u0 = -jnp.sin(jnp.pi * x) if u0 is None else u0
    steps = round(t / dt)
    return x, rollout(solver.step, solver.init(u0), steps).state


_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(6)


def _cell_averages(grid, f):
    """Cell averages of ``f`` by six-point Gauss-Legendre quadrature per cell."""
    centres = np.asarray(grid.axis_centres(0, jnp.float64))
    points = centres[:, None] + 0.5 * grid.spacing[0] * _NODES
    return jnp.asarray(np.asarray(f(points)) @ _WEIGHTS / 2)


def _trapezoid_cole_hopf(x, t, nu, h=2e-5):
    """The sine benchmark by the trapezoid rule in y on [x - 3, x + 3] (independent of the
    Gauss-Hermite rule: uniform nodes, no change of variables)."""
    y = np.arange(x - 3, x + 3, h)
    exponent = -((x - y) ** 2) / (4 * nu * t) - np.cos(np.pi * y) / (2 * np.pi * nu)
    weights = np.exp(exponent - exponent.max())
    return -np.sum(np.sin(np.pi * y) * weights) / np.sum(weights)


# --- ETDRK4 coefficients ----------------------------------------------------------------------


def test_etdrk4_coefficients_series_matches_contour(x64):
    z = -np.concatenate([[0.0], np.logspace(-8, 5, 200)])
    series = jax.jit(_etdrk4_series, static_argnums=1)(jnp.asarray(z), 0.3)
    contour = jax.jit(_etdrk4_contour, static_argnums=1)(jnp.asarray(z), 0.3)
    for a, b in zip(series, contour, strict=True):
        # relative where the coefficient is not near a zero crossing (f1 vanishes near -2.7)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    # the limits at z = 0 (the classical RK4 weights times h) and finite derivatives there
    np.testing.assert_allclose([c[0] for c in series], [1, 1, 0.15, 0.05, 0.05, 0.05], rtol=1e-15)
    total = jax.jit(jax.grad(lambda z: sum(jnp.sum(c) for c in _etdrk4_series(z, 0.3))))
    grads = total(jnp.asarray(z))
    assert bool(jnp.all(jnp.isfinite(grads)))


# --- the Cole-Hopf references -----------------------------------------------------------------


def test_gauss_hermite_cole_hopf_matches_an_independent_quadrature(x64):
    x = np.array([-1.0, -0.6, -0.2, -0.01, -1e-3, 0.0, 2e-3, 0.02, 0.3, 0.75, 1.0])
    t = np.array([0.0, 0.1, 1 / np.pi, 0.6, 1.0])
    xx, tt = np.meshgrid(x, t, indexing="ij")
    u = np.asarray(burgers_cole_hopf(jnp.asarray(xx), jnp.asarray(tt), PINN_NU))
    reference = np.array(
        [
            [-np.sin(np.pi * xi) if ti == 0 else _trapezoid_cole_hopf(xi, ti, PINN_NU)
             for ti in t]
            for xi in x
        ]
    )  # fmt: skip
    np.testing.assert_allclose(u, reference, atol=1e-12)
    # the shock is at rest at x = 0, steep (|u_x| ~ 1/(2ν)), and u(±1) = 0
    assert abs(u[5, -1]) < 1e-15 and u[3, -1] > 0.5 and u[7, -1] < -0.5
    np.testing.assert_allclose(u[[0, -1]], 0.0, atol=1e-15)
    # broadcasting, dtype and differentiability in (x, t, nu)
    assert burgers_cole_hopf(jnp.zeros((3, 1)), jnp.ones(4), 0.1).shape == (3, 4)
    assert burgers_cole_hopf(np.float32(0.3), 0.5, 0.1).dtype == jnp.float32
    du = jax.grad(burgers_cole_hopf, argnums=(0, 1, 2))(0.3, 0.5, 0.1)
    assert all(np.isfinite(float(d)) for d in du)


def test_periodic_cole_hopf_matches_gauss_hermite_with_a_mean(x64):
    grid = _interval(128)
    (x,) = grid.periodic_points(jnp.float64)
    mean, nu, t = 0.4, 0.1, 0.8
    u0 = jnp.stack([mean - jnp.sin(jnp.pi * x), -jnp.sin(jnp.pi * x)])
    u = burgers_cole_hopf_periodic(u0, grid, t, nu)
    # Galilean invariance: u(x, t) = c + v(x - c t, t)
    expected = jnp.stack(
        [mean + burgers_cole_hopf(x - mean * t, t, nu), burgers_cole_hopf(x, t, nu)]
    )
    np.testing.assert_allclose(u, expected, atol=1e-13)
    np.testing.assert_allclose(burgers_cole_hopf_periodic(u0, grid, 0.0, nu), u0, atol=1e-13)
    with pytest.raises(ValueError, match="nu"):
        burgers_cole_hopf_periodic(u0, grid, t, -1.0)
    with pytest.raises(ValueError, match="u0"):
        burgers_cole_hopf_periodic(u0[:, :-1], grid, t, nu)


# --- pseudo-spectral ETDRK4 -------------------------------------------------------------------


def test_spectral_matches_cole_hopf_and_is_fourth_order_in_time(x64):
    dts = [1e-2, 5e-3, 2.5e-3]
    errors = []
    for dt in dts:
        x, state = _spectral_final(64, 0.1, dt, 1.0)
        assert float(state.t) == pytest.approx(1.0, abs=1e-12)
        errors.append(float(jnp.max(jnp.abs(state.u - burgers_cole_hopf(x, 1.0, 0.1)))))
    assert errors[-1] < 1e-10  # measured 6.4e-12
    assert_convergence_order(dts, errors, expected=4.0, tol=0.15)  # measured 3.99


def test_spectral_resolves_the_shock_of_the_pinn_benchmark(x64):
    grid = _interval(2048)
    (x,) = grid.periodic_points(jnp.float64)
    solver = SpectralBurgers(grid, PINN_NU, 2e-4, max_speed=1.0)
    result = rollout(
        solver.step, solver.init(-jnp.sin(jnp.pi * x)), 5000, every=1250, observe=lambda s: s.u
    )
    for i, t in enumerate([0.25, 0.5, 0.75, 1.0]):
        error = float(jnp.max(jnp.abs(result.trajectory[i] - burgers_cole_hopf(x, t, PINN_NU))))
        assert error < 1e-9, (t, error)  # measured 4.0e-10 at t = 0.5


@pytest.mark.slow
def test_cole_hopf_matches_a_high_resolution_spectral_solve(x64):
    grid = _interval(8192)
    (x,) = grid.periodic_points(jnp.float64)
    solver = SpectralBurgers(grid, PINN_NU, 1e-4)
    result = rollout(
        solver.step, solver.init(-jnp.sin(jnp.pi * x)), 10000, every=2500, observe=lambda s: s.u
    )
    for i, t in enumerate([0.25, 0.5, 0.75, 1.0]):
        error = float(jnp.max(jnp.abs(result.trajectory[i] - burgers_cole_hopf(x, t, PINN_NU))))
        assert error < 1e-10, (t, error)  # measured 4.9e-12 at t = 0.75


def test_spectral_on_random_data_matches_periodic_cole_hopf_and_conserves_mass(x64):
    grid = Grid((256,), (1.0,))
    u0 = gaussian_random_field(
        jax.random.key(3), grid, alpha=2.0, tau=5.0, sigma=25.0, mean=0.3, batch=(3,),
        dtype=jnp.float64,
    )  # fmt: skip
    solver = SpectralBurgers(grid, 0.1, 2.5e-4, max_speed=float(jnp.max(jnp.abs(u0))))
    state = solver.init(u0)
    result = rollout(solver.step, state, 2000, every=400, observe=lambda s: jnp.mean(s.u, -1))
    # the exact solution of the data the solver holds (u0 without its modes 3|m| >= n)
    reference = burgers_cole_hopf_periodic(state.u, grid, 0.5, 0.1)
    # measured 8.3e-12 (dt = 1e-3: 3.9e-10; the rough data reduce the order in dt to ~3)
    np.testing.assert_allclose(result.state.u, reference, atol=2e-11)
    np.testing.assert_allclose(result.trajectory, 0.3, rtol=1e-13)  # ∫u is conserved
    # a batch axis in the state = vmap over the samples
    one = rollout(jax.vmap(solver.step), jax.vmap(solver.init)(u0), 20).state.u
    np.testing.assert_allclose(rollout(solver.step, state, 20).state.u, one, atol=1e-14)


def test_spectral_reports_an_unstable_time_step():
    grid = Grid((64,), (1.0,))
    (x,) = grid.periodic_points()
    solver = SpectralBurgers(grid, 0.01, 0.05)
    with pytest.raises(FloatingPointError, match="at step 1 of"):
        rollout(solver.step, solver.init(jnp.sin(2 * jnp.pi * x)), 4)
    new, aux = eqx.filter_jit(solver.step)(solver.init(jnp.sin(2 * jnp.pi * x)))
    assert float(aux["cfl"]) == pytest.approx(0.05 * 64, rel=1e-3) and not bool(aux["stable"])
    assert new.u.dtype == jnp.float32 and new.t.dtype == jnp.float32


# --- finite volumes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reconstruction", "boundary", "expected"),
    [("muscl", "periodic", 2), ("weno5", "dirichlet", 4)],
)
def test_finite_volume_order_on_a_smooth_solution(x64, reconstruction, boundary, expected):
    nu, t = 0.1, 0.5
    sizes, errors = [], []
    for n in (32, 64, 128):
        grid = _interval(n)
        h = grid.spacing[0]
        # MUSCL: dt ∝ h at half the limit; WENO5: a fixed small dt (RK3's error stays below)
        dt = 1e-4 if reconstruction == "weno5" else 0.5 / (2 / h + 2 * nu / h**2)
        steps = int(np.ceil(t / dt))
        solver = FiniteVolumeBurgers(
            grid, nu, t / steps, boundary=boundary, reconstruction=reconstruction, max_speed=1.0
        )
        u0 = _cell_averages(grid, lambda x: -np.sin(np.pi * x))
        u = rollout(solver.step, solver.init(u0), steps).state.u
        exact = _cell_averages(grid, lambda x: burgers_cole_hopf(jnp.asarray(x), t, nu))
        sizes.append(h)
        errors.append(float(jnp.sum(jnp.abs(u - exact)) * h))
    # measured L1 orders: MUSCL 1.94, WENO5 (with the fourth-order viscous flux) 4.15
    assert_convergence_order(sizes, errors, expected=expected, tol=0.3)


@pytest.mark.parametrize("flux", ["godunov", "engquist-osher", "rusanov"])
def test_finite_volume_shock_moves_at_the_rankine_hugoniot_speed(x64, flux):
    grid = _interval(200)
    h = grid.spacing[0]
    (x,) = grid.centres(jnp.float64)
    steps = 500
    solver = FiniteVolumeBurgers(
        grid, 1e-4, 0.5 / steps, boundary="dirichlet", left=2.0, right=0.0, flux=flux,
        max_speed=2.0,
    )  # fmt: skip
    u = np.asarray(rollout(solver.step, solver.init(jnp.where(x < -0.5, 2.0, 0.0)), steps).state.u)
    # s = (f(2) - f(0)) / (2 - 0) = 1: from -0.5 to 0 at t = 0.5
    i = int(np.nonzero((u[:-1] >= 1) & (u[1:] < 1))[0][0])
    location = float(x[i]) + (u[i] - 1) / (u[i] - u[i + 1]) * h
    assert abs(location) < 0.05 * h  # measured 0.003 h (Godunov) to 0.005 h (Rusanov)
    assert u.min() > -1e-12 and u.max() < 2 + 1e-12  # MUSCL stays monotone


def test_finite_volume_pinn_benchmark_against_cole_hopf(x64):
    grid = _interval(512)
    h = grid.spacing[0]
    (x,) = grid.centres(jnp.float64)
    steps = 2400
    solver = FiniteVolumeBurgers(grid, PINN_NU, 1 / steps, boundary="dirichlet", max_speed=1.0)
    u = rollout(solver.step, solver.init(-jnp.sin(jnp.pi * x)), steps).state.u
    error = jnp.abs(u - burgers_cole_hopf(x, 1.0, PINN_NU))
    assert float(jnp.sum(error) * h) < 3e-4  # measured 1.8e-4 (the shock spans ~3 cells)
    assert float(jnp.max(jnp.abs(u))) <= 1.0


def test_finite_volume_conserves_mass_when_periodic(x64):
    grid = Grid((64,), (1.0,))
    u0 = gaussian_random_field(
        jax.random.key(1), grid, alpha=2.0, tau=5.0, sigma=25.0, mean=0.2, dtype=jnp.float64
    )
    for reconstruction in ("muscl", "weno5"):
        solver = FiniteVolumeBurgers(grid, 1e-3, 2e-3, reconstruction=reconstruction)
        result = rollout(solver.step, solver.init(u0), 200, every=50, observe=lambda s: s.u)
        mass = jnp.sum(result.trajectory, axis=-1) * grid.spacing[0]
        np.testing.assert_allclose(mass, 0.2, rtol=1e-13)


# --- gradients, transformations, compilation ---------------------------------------------------


def _energy(solver, u0, steps=6):
    u = rollout(solver.step, solver.init(u0), steps, every=steps, checkpoint=False).state.u
    return 0.5 * jnp.sum(u * u) * solver.grid.spacing[0]


def test_gradients_match_finite_differences(x64):
    grid = _interval(16)
    (x,) = grid.periodic_points(jnp.float64)
    u0 = 0.5 - jnp.sin(jnp.pi * x) + 0.2 * jnp.cos(3 * jnp.pi * x)

    def spectral(u0, nu):
        return _energy(SpectralBurgers(grid, nu, 0.02), u0)

    check_grad(spectral, u0, jnp.asarray(0.05), argnums=(0, 1), num_directions=2, mode="reverse")

    (xc,) = grid.centres(jnp.float64)
    positive = 1.0 + 0.3 * jnp.sin(jnp.pi * xc)  # no sonic point: the fluxes are smooth

    def finite_volume(u0, nu, left):
        solver = FiniteVolumeBurgers(
            grid, nu, 0.01, boundary="dirichlet", left=left, right=1.0, reconstruction="weno5"
        )
        return _energy(solver, u0)

    check_grad(
        finite_volume, positive, jnp.asarray(0.05), jnp.asarray(1.0), argnums=(0, 1, 2),
        num_directions=2, mode="reverse",
    )  # fmt: skip


def test_grad_of_vmap_is_vmap_of_grad_over_the_viscosity(x64):
    grid = _interval(32)
    (x,) = grid.periodic_points(jnp.float64)
    u0 = -jnp.sin(jnp.pi * x)

    def energy(nu):
        return _energy(SpectralBurgers(grid, nu, 0.01), u0)

    nus = jnp.asarray([0.05, 0.1, 0.2])
    per_nu = jax.vmap(jax.grad(energy))(nus)
    total = jax.grad(lambda nus: jnp.sum(jax.vmap(energy)(nus)))(nus)
    np.testing.assert_allclose(per_nu, total, rtol=1e-12)
    assert bool(jnp.all(per_nu < 0))  # more viscosity, less energy


def test_no_recompile_when_the_viscosity_or_boundary_values_change():
    grid = Grid((32,), ((-1.0, 1.0),))
    (x,) = grid.periodic_points()
    u0 = -jnp.sin(jnp.pi * x)

    def final(solver, u0):
        return rollout(solver.step, solver.init(u0), 10).state.u

    assert_no_recompile(
        final, (SpectralBurgers(grid, 0.1, 1e-3), u0), (SpectralBurgers(grid, 0.2, 1e-3), u0)
    )
    assert_no_recompile(
        final,
        (FiniteVolumeBurgers(grid, 0.1, 1e-3, boundary="dirichlet", left=0.0), u0),
        (FiniteVolumeBurgers(grid, 0.3, 1e-3, boundary="dirichlet", left=0.5), u0),
    )


def test_bad_input_raises_before_compiling():
    grid = Grid((32,), (1.0,))
    with pytest.raises(ValueError, match="nu"):
        SpectralBurgers(grid, 0.0, 1e-3)
    with pytest.raises(ValueError, match="nu"):
        FiniteVolumeBurgers(grid, -0.1, 1e-3)
    with pytest.raises(ValueError, match="one-dimensional"):
        SpectralBurgers(Grid((8, 8), (1.0, 1.0)), 0.1, 1e-3)
    with pytest.raises(ValueError, match="dt"):
        SpectralBurgers(grid, 0.1, -1e-3)
    with pytest.raises(ValueError, match="advective CFL"):
        SpectralBurgers(grid, 0.1, 0.1, max_speed=1.0)
    with pytest.raises(ValueError, match="diffusion"):
        FiniteVolumeBurgers(grid, 1.0, 1e-3)
    with pytest.raises(ValueError, match="advection-diffusion"):
        FiniteVolumeBurgers(grid, 1e-3, 0.02, max_speed=1.0)
    with pytest.raises(ValueError, match="Dirichlet value"):
        FiniteVolumeBurgers(grid, 1e-3, 1e-3, boundary="dirichlet", left=2.0, max_speed=1.0)
    with pytest.raises(ValueError, match="left and right"):
        FiniteVolumeBurgers(grid, 1e-3, 1e-3, left=1.0)
    with pytest.raises(ValueError, match="boundary"):
        FiniteVolumeBurgers(grid, 1e-3, 1e-3, boundary="neumann")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="u0"):
        SpectralBurgers(grid, 0.1, 1e-3).init(jnp.zeros(31))
    with pytest.raises((TypeError, ValueError), match="u0"):  # TypeError: jaxtyping in tests
        FiniteVolumeBurgers(grid, 0.1, 1e-3).init(jnp.zeros(32, jnp.int32))
    with pytest.raises(ValueError, match="nu"):
        burgers_cole_hopf(0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="t must"):
        burgers_cole_hopf(0.0, -1.0, 0.1)


# --- dataset and benchmark --------------------------------------------------------------------


def test_burgers_dataset_is_deterministic_sharded_and_cached(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DMECH_CACHE_DIR", str(tmp_path))
    options = dict(resolution=32, solver_resolution=128, t=0.5, seed=7, progress=False)
    data = burgers_dataset(5, batch_size=2, **options)
    assert data["u0"].shape == data["u1"].shape == (5, 32) and data["x"].shape == (32,)
    assert data["u1"].dtype == np.float32
    np.testing.assert_allclose(data["x"][1], 1 / 32)
    # sample i does not depend on the number of samples (nor on its neighbours in a batch)
    again = burgers_dataset(3, batch_size=2, cache=False, **dict(options, progress=True))
    assert "3.0/3 samples" in capsys.readouterr().err
    np.testing.assert_array_equal(again["u0"], data["u0"][:3])
    np.testing.assert_allclose(again["u1"], data["u1"][:3], atol=1e-6)
    # the exact solution of the same initial data
    grid = Grid((128,), (1.0,))
    with jax.enable_x64(True):
        u0 = initial_conditions(
            sample_keys(7, 5), grid, alpha=2.0, tau=5.0, sigma=25.0, dtype=jnp.float32
        ).astype(jnp.float64)
        exact = np.asarray(burgers_cole_hopf_periodic(u0, grid, 0.5, 0.1))[:, ::4]
    np.testing.assert_allclose(data["u1"], exact, atol=2e-6)
    # the cache: one file with a card, read back without solving
    (path,) = (tmp_path / "cfd" / "burgers").glob("*.dmech")
    card = read_card(path)
    assert card.generator == "dmech.cfd.burgers_dataset"
    assert card.params["n"] == 5 and card.params["nu"] == 0.1 and card.params["seed"] == 7
    assert card.extra["steps"] >= 1
    monkeypatch.setattr(
        "dmech.cfd._burgers_data._solve_all", lambda *a: pytest.fail("solved again")
    )
    cached = burgers_dataset(5, batch_size=2, **options)
    np.testing.assert_array_equal(cached["u1"], data["u1"])
    with pytest.raises(ValueError, match="divide"):
        burgers_dataset(2, resolution=100, solver_resolution=128, cache=False)


def test_batches_are_sharded_over_the_devices():
    devices = jax.devices()
    assert len(devices) == 2  # conftest's fake CPU devices
    grid = Grid((64,), (1.0,))
    u0 = initial_conditions(
        sample_keys(0, 4), grid, alpha=2.0, tau=5.0, sigma=25.0, dtype=jnp.float32
    )
    mesh = jax.sharding.Mesh(np.asarray(devices), ("samples",))
    u1 = solve_sharded(SpectralBurgers(grid, 0.1, 1e-3), u0, 50, mesh)
    assert u1.sharding.device_set == set(devices)
    assert {shard.data.shape for shard in u1.addressable_shards} == {(2, 64)}


def test_benchmark_reports_the_error_against_cole_hopf():
    params = dict(cfd_burgers.params, n=256, batch=2, t=0.5, steps=2000, dtype="float64")
    case = cfd_burgers.setup(**params)
    assert case.compile is not None
    case.compile()
    u = case.run()
    u = case.run()
    assert u.shape == (2, 256)
    error = case.error(u)
    assert error["cole_hopf_max_abs"] < 5e-11
    assert case.figures is not None
    figures = case.figures(u)
    assert figures["steps"] == 2000 and figures["cell_updates_per_second"] > 0
    assert set(cfd_burgers.params) >= {"n", "t", "nu", "batch", "steps"}
