"""Grid, Gaussian random fields and the rollout driver."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.cfd import gaussian_random_field, rollout
from dmech.geometry import Grid


def test_grid_geometry_and_validation():
    grid = Grid((4, 8), ((-1.0, 1.0), 2.0))
    assert grid.spacing == (0.5, 0.25) and grid.length == (2.0, 2.0) and grid.size == 32
    np.testing.assert_allclose(grid.axis_centres(0), [-0.75, -0.25, 0.25, 0.75])
    np.testing.assert_allclose(np.asarray(grid.axis_faces(1))[[0, -1]], [0.0, 2.0])
    x, y = grid.centres()
    assert x.shape == y.shape == (4, 8) and float(x[1, 0]) == -0.25 and float(y[0, 1]) == 0.375
    kx, ky = grid.wavenumbers()
    assert kx.shape == (4, 1) and ky.shape == (1, 5)
    np.testing.assert_allclose(np.ravel(ky), np.pi * np.arange(5))
    assert grid == Grid((4, 8), ((-1.0, 1.0), (0.0, 2.0))) and hash(grid) == hash(
        Grid((4, 8), ((-1, 1), 2))
    )
    with pytest.raises(AttributeError):
        grid.shape = (2, 2)  # type: ignore[misc]
    with pytest.raises(ValueError, match="shape"):
        Grid((0, 4), (1.0, 1.0))
    with pytest.raises(ValueError, match="extent"):
        Grid((4, 4), (1.0,))
    with pytest.raises(ValueError, match="extent of axis 1"):
        Grid((4, 4), (1.0, -1.0))


def test_wavenumbers_differentiate_a_periodic_function(x64):
    grid = Grid((32, 16), (2 * np.pi, 1.0))
    x, y = grid.periodic_points()
    f = jnp.sin(3 * x) * jnp.cos(2 * np.pi * 2 * y)
    kx, ky = (1j * k.astype(jnp.complex128) for k in grid.wavenumbers())
    dfdx = jnp.fft.irfftn(kx * jnp.fft.rfftn(f), s=grid.shape)
    dfdy = jnp.fft.irfftn(ky * jnp.fft.rfftn(f), s=grid.shape)
    np.testing.assert_allclose(dfdx, 3 * jnp.cos(3 * x) * jnp.cos(4 * np.pi * y), atol=1e-12)
    np.testing.assert_allclose(
        dfdy, -4 * np.pi * jnp.sin(3 * x) * jnp.sin(4 * np.pi * y), atol=1e-11
    )


@pytest.mark.parametrize("shape", [(64,), (16, 16)])
def test_random_field_has_the_prescribed_covariance(x64, shape):
    grid = Grid(shape, (1.0,) * len(shape))
    alpha, tau, sigma = 2.0, 5.0, 25.0
    samples = np.asarray(
        gaussian_random_field(
            jax.random.key(0), grid, alpha=alpha, tau=tau, sigma=sigma, batch=(4000,),
            dtype=jnp.float64,
        )
    )  # fmt: skip
    assert samples.shape == (4000, *shape)
    np.testing.assert_allclose(samples.reshape(4000, -1).mean(axis=1), 0.0, atol=1e-12)
    # the pointwise variance is the sum of the mode variances sigma^2 (|k|^2 + tau^2)^-alpha
    k2 = sum(k**2 for k in grid.wavenumbers_numpy(real=False))
    variances = sigma**2 * (k2 + tau**2) ** -alpha
    variances.flat[0] = 0.0
    expected = variances.sum()
    measured = samples.var(axis=0).mean()
    assert measured == pytest.approx(expected, rel=0.05)
    # the covariance between two points is the inverse transform of the mode variances
    lag = np.real(np.fft.ifftn(variances)) * grid.size
    first = samples.reshape(4000, -1)[:, 0]
    second = samples.reshape(4000, -1)[:, 1]
    assert np.mean(first * second) == pytest.approx(lag.flat[1], rel=0.08)


def test_random_field_validation_and_dtype():
    grid = Grid((8, 8), (1.0, 1.0))
    field = gaussian_random_field(jax.random.key(1), grid, alpha=2.5, tau=7.0, mean=1.0)
    assert field.dtype == jnp.float32 and float(field.mean()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="alpha"):
        gaussian_random_field(jax.random.key(1), grid, alpha=0.0, tau=7.0)
    with pytest.raises(ValueError, match="tau"):
        gaussian_random_field(jax.random.key(1), grid, alpha=2.0, tau=-1.0)


def _decay(rate):
    def step(state):
        return state * (1.0 - rate), {"energy": jnp.sum(state**2)}

    return step


def test_rollout_observes_every_chunk_and_differentiates(x64):
    x0 = jnp.asarray([1.0, 2.0])
    result = rollout(_decay(0.1), x0, 12, every=3, observe=lambda s: s[0])
    np.testing.assert_allclose(result.state, x0 * 0.9**12, rtol=1e-14)
    np.testing.assert_allclose(result.trajectory, 0.9 ** np.arange(3, 13, 3), rtol=1e-14)
    assert int(result.failed_step) == -1

    def final(rate, checkpoint):
        step = lambda s: (s * (1.0 - rate), None)  # noqa: E731
        return jnp.sum(rollout(step, x0, 12, every=4, checkpoint=checkpoint).state)

    for checkpoint in (True, False):
        grad = jax.grad(final)(0.1, checkpoint)
        fd = (final(0.1 + 1e-6, checkpoint) - final(0.1 - 1e-6, checkpoint)) / 2e-6
        assert float(grad) == pytest.approx(float(fd), rel=1e-8)
        assert float(grad) == pytest.approx(-12 * 0.9**11 * 3.0, rel=1e-12)


def test_rollout_reports_the_step_of_a_blow_up():
    def step(state):
        value, count = state
        return (jnp.where(count >= 6, jnp.inf, value * 2.0), count + 1), None

    start = (jnp.asarray(1.0), jnp.asarray(0))
    with pytest.raises(FloatingPointError, match="at step 7 of 10"):
        rollout(step, start, 10)
    result = rollout(step, start, 10, every=5, throw=False)
    assert int(result.failed_step) == 7

    def unstable(state):
        return state + 1.0, {"stable": state < 3.0}

    assert int(rollout(unstable, jnp.asarray(0.0), 6, throw=False).failed_step) == 4
    with pytest.raises(Exception, match="blew up"):
        jax.jit(lambda s: rollout(step, s, 10).state)(start)
    with pytest.raises(Exception, match="blew up"):  # a loss on the trajectory alone
        jax.jit(lambda s: rollout(step, s, 10, observe=lambda x: x[0]).trajectory)(start)
    with pytest.raises(ValueError, match="multiple"):
        rollout(step, start, 10, every=3)
    with pytest.raises(ValueError, match="steps"):
        rollout(step, start, 0)
