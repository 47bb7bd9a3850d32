"""Tests for dmech.nn.Normaliser."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.nn import MLP, Normaliser
from dmech.testing import assert_no_recompile, assert_tree_allclose, tolerance

# Columns of very different scale and offset (float32, built with NumPy at import).
_RNG = np.random.default_rng(0)
DATA_NP = (_RNG.normal(size=(200, 3)) * [2.0, 0.5, 10.0] + [1.0, -3.0, 100.0]).astype(np.float32)


@pytest.fixture
def data():
    return jnp.asarray(DATA_NP)


def test_fit_statistics_match_numpy(data):
    norm = Normaliser.fit(data)
    reference = DATA_NP.astype(np.float64)
    assert norm.mean.shape == norm.std.shape == (3,)
    assert norm.mean.dtype == norm.std.dtype == jnp.float32
    assert_tree_allclose(np.asarray(norm.mean), reference.mean(axis=0))
    assert_tree_allclose(np.asarray(norm.std), reference.std(axis=0))


def test_standardises_and_round_trips(data):
    norm = Normaliser.fit(data)
    y = jax.vmap(norm)(data)
    assert_tree_allclose(jnp.mean(y, axis=0), jnp.zeros(3), atol=1e-5)
    assert_tree_allclose(jnp.std(y, axis=0), jnp.ones(3))
    back = jax.vmap(norm.inverse)(y)
    rtol, atol = tolerance(jnp.float32)
    assert_tree_allclose(back, data, rtol=rtol, atol=100 * atol)  # |x| ~ 100 in column 3


def test_round_trip_float64(x64):
    del x64
    data = jnp.asarray(np.random.default_rng(0).normal(size=(50, 2, 2)) * 7.0 - 3.0)
    norm = Normaliser.fit(data)
    assert norm.mean.dtype == jnp.float64 and norm.mean.shape == (2, 2)
    assert_tree_allclose(jax.vmap(norm.inverse)(jax.vmap(norm)(data)), data)


def test_axis_tuple():
    data = jnp.arange(24.0).reshape(2, 4, 3)
    norm = Normaliser.fit(data, axis=(0, 1))
    assert norm.mean.shape == (3,)
    assert_tree_allclose(norm.mean, jnp.mean(data.reshape(8, 3), axis=0))
    norm_last = Normaliser.fit(data, axis=-1)
    assert norm_last.mean.shape == (2, 4)


@pytest.mark.parametrize("value", [0.0, 1.0, 123.456, -1e4])
def test_constant_column_is_safe(value):
    data = jnp.stack([jnp.linspace(-1.0, 1.0, 64), jnp.full(64, value)], axis=1)
    norm = Normaliser.fit(data)
    y = jax.vmap(norm)(data)
    assert jnp.all(jnp.isfinite(y))
    assert jnp.all(y[:, 1] == 0)  # exactly zero, no amplified round-off
    assert float(norm.std[1]) > 0
    assert_tree_allclose(jax.vmap(norm.inverse)(y), data, atol=1e-5 * (1 + abs(value)))
    # An explicit floor is used as given.
    floored = Normaliser.fit(data, eps=1e-3)
    assert float(floored.std[1]) == pytest.approx(1e-3)
    assert float(floored.std[0]) == pytest.approx(float(norm.std[0]))


def test_statistics_get_no_gradient(data):
    norm = Normaliser.fit(data)
    net = MLP(3, "scalar", width=8, depth=1, key=jax.random.key(1))
    model = eqx.nn.Sequential([norm, net])

    def loss(m):
        return jnp.sum(jax.vmap(m)(data[:10]) ** 2)

    grads = eqx.filter_grad(loss)(model)
    assert jnp.all(grads.layers[0].mean == 0) and jnp.all(grads.layers[0].std == 0)
    assert jnp.any(grads.layers[1].layers[0].weight != 0)  # the network does learn
    inverse_grads = eqx.filter_grad(lambda n: jnp.sum(n.inverse(jnp.ones(3))))(norm)
    assert jnp.all(inverse_grads.mean == 0) and jnp.all(inverse_grads.std == 0)
    # The input does get a gradient: dy/dx = 1/std.
    grad_x = jax.grad(lambda x: jnp.sum(norm(x)))(data[0])
    assert_tree_allclose(grad_x, 1.0 / norm.std)


def test_no_recompile(data):
    apply = eqx.filter_jit(lambda n, x: jax.vmap(n)(x))
    a, b = Normaliser.fit(data), Normaliser.fit(data[:50] * 2.0)
    assert_no_recompile(apply, (a, data[:5]), (b, data[5:10]))


def test_bad_arguments(data):
    with pytest.raises(ValueError, match="same shape"):
        Normaliser(jnp.zeros(3), jnp.ones(2))
    with pytest.raises(TypeError, match="same dtype"):
        Normaliser(jnp.zeros(3), jnp.ones(3, dtype=jnp.float16))
    with pytest.raises(TypeError, match="data"):
        Normaliser.fit(jnp.arange(6).reshape(3, 2))
    with pytest.raises(ValueError, match="axis"):
        Normaliser.fit(data, axis=2)
    with pytest.raises(ValueError, match="eps"):
        Normaliser.fit(data, eps=0.0)
    norm = Normaliser.fit(data)
    with pytest.raises(ValueError, match="`x` must have shape"):
        norm(data)  # a batch: use vmap
    with pytest.raises(ValueError, match="`y` must have shape"):
        norm.inverse(jnp.zeros(2))
