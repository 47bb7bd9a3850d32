"""pinn: reference solutions (Burgers by Cole-Hopf, Allen-Cahn by ETDRK4, closed forms)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.cfd import SpectralBurgers, rollout
from dmech.geometry import Grid
from dmech.testing import assert_convergence_order
from pinn._derivatives import directional_derivatives, laplacian, partial_derivative
from pinn._references import (
    advection_solution,
    allen_cahn_reference,
    burgers_reference,
    diffusion_solution,
    diffusion_source,
    helmholtz_source,
    poisson_source,
    sine_solution,
    space_time_points,
)

NU = 0.01 / np.pi


def test_cole_hopf_reference_matches_a_spectral_solve_of_burgers(x64):
    # 256 intervals of [-1, 1]: every 8th point of the 2048-point periodic spectral grid
    x, t, u = burgers_reference(NU, num_x=257, num_t=5, t_final=1.0, dtype=jnp.float64)
    assert x.shape == (257,) and t.shape == (5,) and u.shape == (5, 257)
    grid = Grid((2048,), ((-1.0, 1.0),))
    (xs,) = grid.periodic_points(jnp.float64)
    np.testing.assert_allclose(xs[::8], x[:-1], atol=1e-15)
    solver = SpectralBurgers(grid, NU, 2e-4, max_speed=1.0)
    result = rollout(
        solver.step, solver.init(-jnp.sin(jnp.pi * xs)), 5000, every=1250, observe=lambda s: s.u
    )
    spectral = np.concatenate([[np.asarray(-jnp.sin(jnp.pi * xs))], result.trajectory])[:, ::8]
    error = np.max(np.abs(spectral - np.asarray(u[:, :-1])))
    assert error < 1e-8, error  # measured 3.2e-10 (at t = 0.5; the spectral solve's error)
    np.testing.assert_allclose(u[:, [0, -1]], 0.0, atol=1e-15)  # u(±1, t) = 0


def test_allen_cahn_reference_is_fourth_order_in_time(x64):
    def final(steps):
        _, _, u = allen_cahn_reference(num_t=2, steps=steps, dtype=jnp.float64)
        return np.asarray(u[-1])

    fine = final(3200)
    steps = [50, 100, 200, 400]
    errors = [np.max(np.abs(final(s) - fine)) for s in steps]
    # measured 3.5e-6, 2.0e-7, 1.2e-8, 7.4e-10 (against 3200 steps): order 4.07
    assert_convergence_order([1 / s for s in steps], errors, expected=4.0, tol=0.2)
    assert errors[-1] < 2e-9
    x, t, u = allen_cahn_reference(num_x=64, num_t=3, steps=200, dtype=jnp.float64)
    np.testing.assert_allclose(u[0], x**2 * np.cos(np.pi * x), atol=1e-15)
    np.testing.assert_allclose(t, [0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="`steps`"):
        allen_cahn_reference(num_t=3, steps=201)


@jax.jit
def _closed_form_residuals(points):
    def each(x):
        helmholtz = laplacian(lambda y: sine_solution(y, (1.0, 4.0)), x) + sine_solution(
            x, (1.0, 4.0)
        )
        poisson = -laplacian(lambda y: sine_solution(y, (2.0, 3.0)), x)

        def advected(y):
            return advection_solution(y[0], y[1], 50.0)

        u_t = partial_derivative(advected, x, 1)
        u_x = partial_derivative(advected, x, 0)
        _, u_t_d, _ = directional_derivatives(diffusion_solution, x, jnp.asarray([0.0, 1.0]), 2)
        u_xx = partial_derivative(diffusion_solution, x, (0, 0))
        return {
            "helmholtz": helmholtz - helmholtz_source(x, (1.0, 4.0), 1.0),
            "poisson": poisson - poisson_source(x, (2.0, 3.0)),
            "advection": u_t + 50.0 * u_x,
            "diffusion": u_t_d - (u_xx + diffusion_source(x)),
        }

    return jax.vmap(each)(points)


def test_closed_forms_satisfy_their_equations(x64):
    points = jax.random.uniform(jax.random.key(0), (32, 2), jnp.float64, -1.0, 1.0)
    for name, residual in _closed_form_residuals(points).items():
        np.testing.assert_allclose(residual, 0.0, atol=1e-11, err_msg=name)
    points = space_time_points(jnp.linspace(-1, 1, 3), jnp.asarray([0.0, 1.0]))
    np.testing.assert_allclose(points[:4], [[-1, 0], [0, 0], [1, 0], [-1, 1]])
