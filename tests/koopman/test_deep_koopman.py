"""The deep Koopman autoencoder: the latent step against its definition, the loss gradient
against central differences, training that learns a linear oscillator, the benchmark at a
small size, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.bench import _harness
from dmech.testing import check_grad
from koopman import DeepKoopman, LinearSystem, deep_koopman_loss, fit_deep_koopman, trajectories
from koopman._benchmarks import koopman_deep_pendulum, pendulum_states


def test_advance_is_a_rotation_dilation_with_the_auxiliary_eigenvalues(x64):
    model = DeepKoopman(3, complex_pairs=2, real=1, dt=0.1, width=16, key=jax.random.key(0))
    y = jnp.array([0.3, -0.4, 1.0, 0.5, -0.7])
    mu, omega, lam = model.eigenvalues(y)
    assert mu.shape == omega.shape == (2,) and lam.shape == (1,)
    expected = []
    for j in range(2):
        angle = float(omega[j]) * 0.1
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        expected.extend(np.exp(float(mu[j]) * 0.1) * rotation @ np.asarray(y[2 * j : 2 * j + 2]))
    expected.append(np.exp(float(lam[0]) * 0.1) * float(y[4]))
    np.testing.assert_allclose(model.advance(y), expected, rtol=1e-13)
    # the pair's eigenvalues depend on its radius only
    turned = jnp.array([0.5, 0.0, 1.0, 0.5, -0.7])
    np.testing.assert_allclose(model.eigenvalues(turned)[0], mu, rtol=1e-13)
    latent = model.latent_rollout(y, 3)
    np.testing.assert_allclose(
        latent[3], model.advance(model.advance(model.advance(y))), rtol=1e-12
    )
    forecast = model.rollout(jnp.ones(3), 4)
    assert forecast.shape == (3, 5)
    np.testing.assert_allclose(forecast[:, 0], model.decode(model.encode(jnp.ones(3))))


def test_loss_gradient_matches_central_differences(x64):
    model = DeepKoopman(
        2,
        complex_pairs=1,
        dt=0.1,
        width=8,
        depth=1,
        auxiliary_width=8,
        auxiliary_depth=1,
        activation="tanh",
        key=jax.random.key(1),
    )
    batch = jax.random.normal(jax.random.key(2), (3, 2, 6), jnp.float64)

    def loss(m, b):
        return deep_koopman_loss(m, b, prediction_steps=4, infinity_weight=0.1)[0]

    check_grad(loss, model, batch, argnums=(0, 1), eps=1e-5, num_directions=2)


def test_training_learns_a_damped_oscillator():
    matrix = jnp.array([[0.0, 1.0], [-1.0, -0.1]])
    starts = jax.random.uniform(jax.random.key(3), (256, 2), minval=-1.0, maxval=1.0)
    data = trajectories(LinearSystem(matrix), starts, 0.1, 20)
    held = trajectories(LinearSystem(matrix), jnp.array([[0.6, -0.2], [-0.3, 0.8]]), 0.1, 20)
    model = DeepKoopman(
        2, complex_pairs=1, dt=0.1, width=32, depth=1, activation="tanh", key=jax.random.key(4)
    )

    def error(m):
        forecast = jax.vmap(lambda x0: m.rollout(x0, 20))(held[:, :, 0])
        return float(jnp.linalg.norm(forecast - held) / jnp.linalg.norm(held))

    result = fit_deep_koopman(
        model,
        data,
        key=jax.random.key(5),
        steps=1000,
        batch_size=64,
        learning_rate=1e-2,
        prediction_steps=10,
        reconstruction_weight=1.0,
        validation=held,
        eval_every=500,
    )
    assert error(result.model) < 0.1 < error(model)
    assert result.history["forecast_rel"][-1] == pytest.approx(error(result.model), rel=1e-4)
    # the learned eigenvalues sit near the oscillator's, −0.05 ± 0.9987i
    _, omega, _ = result.model.eigenvalues(result.model.encode(held[0, :, 0]))
    assert abs(abs(float(omega[0])) - np.sqrt(1 - 0.05**2)) < 0.1


def test_benchmark_at_a_small_size(monkeypatch):
    monkeypatch.setattr(_harness, "get_benchmark", lambda name: koopman_deep_pendulum)
    report = _harness.run_benchmark(
        "koopman-deep-pendulum",
        {
            "train": "64",
            "test": "8",
            "steps": "40",
            "batch_size": "16",
            "width": "16",
            "horizon": "10",
            "edmd_degree": "3",
        },
        repeats=1,
    )
    assert np.isfinite(report["error"]["forecast_rel"])
    assert 0 < report["edmd"]["forecast_rel"] < 0.1
    assert report["deep_over_edmd_forecast"] > 0


def test_pendulum_states_lie_inside_the_separatrix():
    states = pendulum_states(0, 500)
    assert states.shape == (500, 2)
    assert np.all(0.5 * states[:, 1] ** 2 - np.cos(states[:, 0]) < 0.99)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="complex_pairs"):
        DeepKoopman(2, complex_pairs=0, real=0, dt=0.1, key=jax.random.key(0))
    with pytest.raises(ValueError, match="dt"):
        DeepKoopman(2, dt=-1.0, key=jax.random.key(0))
    model = DeepKoopman(2, dt=0.1, width=8, key=jax.random.key(0))
    with pytest.raises(ValueError, match="trajectories"):
        fit_deep_koopman(model, jnp.zeros((4, 3, 5)), key=jax.random.key(0), steps=1)
    with pytest.raises(ValueError, match="prediction_steps"):
        fit_deep_koopman(
            model, jnp.zeros((4, 2, 5)), key=jax.random.key(0), steps=1, prediction_steps=9
        )
