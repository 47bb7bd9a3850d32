"""Tests of the Darcy inverse problem (operators/_inverse.py): the smoothed-threshold
parametrisation (its limit, its gradient against central differences) and the recovery
pipeline, in closed form (identity forward map) and through the finite-element solver."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.testing import check_grad
from operators import DARCY_HIGH, DARCY_LOW, neumann_gaussian_random_field
from operators._inverse import (
    coefficient_from_latent,
    fe_darcy_forward,
    fno_darcy_forward,
    recover_darcy_coefficient,
)


def test_parametrisation_is_the_datasets_field_in_the_sharp_limit(x64):
    # all modes kept, a sharp threshold: the dataset's coefficient from the same draw
    cells = 12
    key = jax.random.key(3)
    g = neumann_gaussian_random_field(key, cells, dtype=jnp.float64)
    xi = jax.random.normal(key, (cells, cells), jnp.float32).astype(jnp.float64)
    a = coefficient_from_latent(xi, cells, smoothing=1e-6)
    expected = np.where(np.asarray(g) >= 0, DARCY_HIGH, DARCY_LOW)
    away = np.abs(np.asarray(g)) > 1e-4  # off the zero level set
    np.testing.assert_allclose(np.asarray(a)[away], expected[away], rtol=1e-12)
    assert a.shape == (cells + 1, cells + 1)
    assert coefficient_from_latent(xi[:4, :4], cells, where="cells").shape == (cells, cells)


def test_parametrisation_gradient(x64):
    xi = jax.random.normal(jax.random.key(0), (4, 4), jnp.float64)
    check_grad(lambda x: coefficient_from_latent(x, 6, smoothing=0.3), xi)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="latent"):
        coefficient_from_latent(jnp.zeros((5, 5)), 4)
    with pytest.raises(ValueError, match="where"):
        coefficient_from_latent(jnp.zeros((2, 2)), 4, where="edges")
    with pytest.raises(ValueError, match="observed"):
        recover_darcy_coefficient(lambda x: x, jnp.zeros(3), jnp.zeros(2, int), modes=2)


def test_recovery_with_an_identity_forward_map():
    # forward = the coefficient itself, observed at every node: a convex-like problem whose
    # answer is the truth; the recovered field must match it closely
    cells, modes = 10, 4
    truth = jax.random.normal(jax.random.key(1), (modes, modes))
    forward = lambda xi: coefficient_from_latent(xi, cells, smoothing=0.5)  # noqa: E731
    observed = forward(truth).reshape(-1)
    index = jnp.arange(observed.size)
    result = recover_darcy_coefficient(
        forward, observed, index, modes=modes, steps=400, learning_rate=0.05, prior_weight=0.0
    )
    assert float(result.misfit) < 1e-5
    err = jnp.linalg.norm(forward(result.latent) - forward(truth)) / jnp.linalg.norm(forward(truth))
    assert float(err) < 3e-3
    assert result.objective.shape == (400,) and result.objective[-1] < result.objective[0]


def test_recovery_through_the_fe_solver():
    # sparse observations of the FE pressure of a truth drawn from the same parametrisation:
    # the misfit falls by orders of magnitude and the coefficient error falls
    cells, modes = 8, 3
    forward = fe_darcy_forward(cells, smoothing=0.3)
    truth = jax.random.normal(jax.random.key(2), (modes, modes))
    u = forward(truth)
    inner = np.arange(1, cells, 2)
    index = (inner[:, None] * (cells + 1) + inner[None, :]).reshape(-1)  # 16 interior nodes
    observed = u.reshape(-1)[index]
    result = recover_darcy_coefficient(
        forward, observed, index, modes=modes, steps=60, learning_rate=0.1, prior_weight=1e-4
    )
    assert float(result.misfit) < 1e-2 * float(result.objective[0])

    def field(xi):
        return coefficient_from_latent(xi, cells, where="cells", smoothing=0.3)

    error = lambda xi: float(jnp.linalg.norm(field(xi) - field(truth)))  # noqa: E731
    assert error(result.latent) < 0.7 * error(jnp.zeros((modes, modes)))


def test_fno_forward_applies_the_normalisation():
    cells = 5
    model = lambda x: 2.0 * x  # noqa: E731  (a stand-in surrogate)
    forward = fno_darcy_forward(model, cells, input_mean=7.5, input_std=4.5, output_scale=3.0)
    xi = jnp.ones((2, 2))
    a = coefficient_from_latent(xi, cells)
    np.testing.assert_allclose(forward(xi), 3.0 * 2.0 * (a - 7.5) / 4.5, rtol=1e-6)
