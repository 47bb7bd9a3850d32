"""Tests for DeepONet and POD-DeepONet (operators/_deeponet.py)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dmech.nn import MLP
from dmech.testing import assert_no_recompile, assert_tree_allclose, check_grad
from dmech.train import fit
from operators._deeponet import DeepONet, PODDeepONet, mlp_deeponet, pod_basis
from operators._losses import deeponet_loss, relative_l2_error, supervised_loss

KEY = jax.random.key(0)


def _antiderivative_data(num_samples, seed, length_scale=0.2, fine=501, every=5):
    """u ~ GP(0, exp(-(x - x')^2 / (2 l^2))) on [0, 1] sampled at 501 points, and its
    antiderivative s(y) = int_0^y u by the cumulative trapezoid rule on that grid (error
    O(h^2) ~ 1e-6, far below the tolerances); both kept at every 5th point: 101 sensors and
    the same 101 query points (Lu et al. 2021, section 'antiderivative operator')."""
    x = np.linspace(0.0, 1.0, fine)
    cov = np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / length_scale**2)
    chol = np.linalg.cholesky(cov + 1e-10 * np.eye(fine))
    u = (chol @ np.random.default_rng(seed).standard_normal((fine, num_samples))).T
    increments = 0.5 * (u[:, 1:] + u[:, :-1]) * (x[1] - x[0])
    s = np.concatenate([np.zeros((num_samples, 1)), np.cumsum(increments, axis=1)], axis=1)
    return x[::every], u[:, ::every].astype(np.float32), s[:, ::every].astype(np.float32)


@pytest.fixture(scope="module")
def antiderivative():
    x, u, s = _antiderivative_data(1200, seed=0)
    return x[:, None].astype(np.float32), (u[:1000], s[:1000]), (u[1000:], s[1000:])


@eqx.filter_jit
def _evaluate_jit(model, sensor_values, query_points):
    return jax.vmap(model.evaluate, in_axes=(0, None))(sensor_values, query_points)


def _schedule(steps):
    return optax.adam(optax.exponential_decay(3e-3, steps // 4, 0.5))


def test_deeponet_learns_the_antiderivative_operator(antiderivative):
    # Lu et al.'s configuration: 101 sensors, branch and trunk of one hidden layer of 40,
    # p = 40, ReLU. 2000 Adam steps on 1000 GRF samples: relative L2 test error 0.025 on 200
    # unseen samples (measured); required below 0.05.
    ys, (u_train, s_train), (u_test, s_test) = antiderivative
    model = mlp_deeponet(101, 1, latent_size=40, width=40, depth=1, key=KEY)
    result = fit(
        model,
        deeponet_loss(ys),
        _schedule(2000),
        (u_train, s_train[:, :, None]),
        key=jax.random.key(1),
        steps=2000,
        batch_size=100,
    )
    predicted = _evaluate_jit(result.model, u_test, ys)
    error = float(np.mean(relative_l2_error(predicted, s_test[:, :, None])))
    assert error < 0.05, error
    # Query points need not be the training ones: G(u)(y) between the grid points agrees
    # with the trapezoid antiderivative there.
    x_fine, u_fine, s_fine = _antiderivative_data(3, seed=7, every=1)
    between = x_fine[2:-1:5, None].astype(np.float32)  # midpoints of the training queries
    sensors = u_fine[:, ::5]
    off_grid = _evaluate_jit(result.model, sensors, between)
    off_error = float(np.mean(relative_l2_error(off_grid, s_fine[:, 2:-1:5, None])))
    assert off_error < 0.1, off_error


def test_pod_deeponet_learns_the_antiderivative_operator(antiderivative):
    # Ten POD modes of the training outputs reproduce unseen outputs to 1.5e-4 (measured);
    # the trained branch net reaches a test error of 0.033 (measured); required below 0.05.
    _, (u_train, s_train), (u_test, s_test) = antiderivative
    basis = pod_basis(s_train, 10)
    # The modes are orthogonal with unit root mean square over the points.
    gram = basis.modes @ basis.modes.T / s_train.shape[1]
    np.testing.assert_allclose(np.asarray(gram), np.eye(10), atol=1e-4)
    coefficients = (s_test - basis.mean[None, :]) @ basis.modes.T / s_train.shape[1]
    projection = basis.mean[None, :] + coefficients @ basis.modes
    assert float(np.mean(relative_l2_error(projection, s_test))) < 1e-3

    branch = MLP(101, 10, 64, 2, activation="relu", key=KEY)
    model = PODDeepONet(branch, basis, num_sensors=101)
    result = fit(
        model,
        supervised_loss(),
        _schedule(2000),
        (u_train, s_train),
        key=jax.random.key(1),
        steps=2000,
        batch_size=100,
    )
    assert_tree_allclose(result.model.basis, basis)  # the basis is data, not trained
    predicted = eqx.filter_jit(lambda m, u: jax.vmap(m)(u))(result.model, u_test)
    error = float(np.mean(relative_l2_error(predicted, s_test)))
    assert error < 0.05, error


def test_output_is_the_split_branch_trunk_inner_product():
    model = mlp_deeponet(5, 2, latent_size=3, width=8, depth=1, num_outputs=2, key=KEY)
    model = eqx.tree_at(lambda m: m.bias, model, jnp.array([0.25, -0.5]))
    u = jnp.linspace(-1.0, 1.0, 5)
    y = jnp.array([0.3, 0.7])
    b = model.branch(u)
    t = model.trunk(y)
    expected = jnp.array([jnp.dot(b[:3], t[:3]) + 0.25, jnp.dot(b[3:], t[3:]) - 0.5])
    assert_tree_allclose(model(u, y), expected)
    ys = jnp.stack([y, 2 * y, -y])
    assert_tree_allclose(model.evaluate(u, ys), jax.vmap(model, in_axes=(None, 0))(u, ys))
    assert model.evaluate(u, ys).shape == (3, 2)


def test_gradients_with_respect_to_parameters_sensors_and_query(x64):
    del x64
    model = mlp_deeponet(
        4,
        "scalar",
        latent_size=3,
        width=5,
        depth=1,
        activation="tanh",
        key=KEY,
        dtype=jnp.float64,
    )
    u = jnp.array([0.1, -0.3, 0.5, 0.2])
    check_grad(lambda m, u, y: m(u, y), model, u, jnp.array(0.4), argnums=(0, 1, 2))

    basis = pod_basis(jax.random.normal(KEY, (6, 5), jnp.float64), 3)
    pod = PODDeepONet(model.branch, basis, num_sensors=4)  # a branch with 3 outputs

    def pod_with_branch(branch, u):
        return eqx.tree_at(lambda m: m.branch, pod, branch)(u)

    check_grad(pod_with_branch, model.branch, u, argnums=(0, 1), num_directions=2)
    frozen = eqx.filter_grad(lambda m: jnp.sum(m(u) ** 2))(pod).basis
    assert all(float(jnp.max(jnp.abs(g))) == 0.0 for g in jax.tree.leaves(frozen))


def test_bad_inputs_raise_naming_the_argument():
    model = mlp_deeponet(5, 2, latent_size=3, width=4, depth=1, key=KEY)
    with pytest.raises(ValueError, match="`u` must have shape"):
        model(jnp.ones(4), jnp.ones(2))
    with pytest.raises(ValueError, match="`y` must have shape"):
        model(jnp.ones(5), jnp.ones(3))
    with pytest.raises(ValueError, match="`ys` must have shape"):
        model.evaluate(jnp.ones(5), jnp.ones(2))
    branch = MLP(5, 6, 4, 1, key=KEY)
    with pytest.raises(ValueError, match="`branch` and `trunk` must return"):
        DeepONet(branch, MLP(2, 4, 4, 1, key=KEY), num_sensors=5, query_size=2)
    with pytest.raises(ValueError, match="multiple of num_outputs"):
        DeepONet(branch, MLP(2, 6, 4, 1, key=KEY), num_sensors=5, query_size=2, num_outputs=4)
    with pytest.raises(ValueError, match="`branch` cannot be applied"):
        DeepONet(branch, MLP(2, 6, 4, 1, key=KEY), num_sensors=7, query_size=2)
    with pytest.raises(ValueError, match="`num_modes`"):
        pod_basis(jnp.ones((4, 10)), 5)
    with pytest.raises(ValueError, match="`outputs`"):
        pod_basis(jnp.ones(10), 2)
    with pytest.raises(ValueError, match="`branch` must return 3"):
        PODDeepONet(MLP(5, 4, 4, 1, key=KEY), pod_basis(jnp.ones((4, 10)), 3), num_sensors=5)


def test_second_call_does_not_recompile():
    model = mlp_deeponet(6, 1, latent_size=4, width=8, depth=1, key=KEY)
    other = mlp_deeponet(6, 1, latent_size=4, width=8, depth=1, key=jax.random.key(3))
    apply = eqx.filter_jit(lambda m, u, ys: jax.vmap(m.evaluate, in_axes=(0, None))(u, ys))
    u1, u2 = jnp.ones((3, 6)), jnp.zeros((3, 6))
    ys = jnp.linspace(0.0, 1.0, 4)[:, None]
    assert_no_recompile(apply, (model, u1, ys), (model, u2, ys), (other, u1, 2 * ys))
