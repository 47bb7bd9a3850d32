"""Tests for dmech.nn.FourierFeatures."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.nn import MLP, FourierFeatures
from dmech.testing import (
    assert_no_recompile,
    assert_tree_allclose,
    check_grad,
    count_compiles,
)

KEY = jax.random.key(0)


@pytest.mark.parametrize(("in_size", "x_shape"), [(1, (1,)), (3, (3,)), ("scalar", ())])
def test_shapes(in_size, x_shape):
    ff = FourierFeatures(in_size, 7, key=KEY)
    assert ff.out_size == 14
    assert ff.frequencies.shape == (7, 1 if in_size == "scalar" else in_size)
    y = ff(jnp.full(x_shape, 0.3))
    assert (y.shape, y.dtype) == ((14,), jnp.float32)
    assert jax.vmap(ff)(jnp.zeros((5, *x_shape))).shape == (5, 14)


def test_values_match_the_formula():
    ff = FourierFeatures(3, 16, scale=2.0, key=KEY)
    x = np.array([0.1, -0.4, 0.25], dtype=np.float32)
    b = np.asarray(ff.frequencies, dtype=np.float64)
    phase = 2 * np.pi * b @ x.astype(np.float64)
    expected = np.concatenate([np.cos(phase), np.sin(phase)])
    assert_tree_allclose(np.asarray(ff(jnp.asarray(x))), expected, rtol=1e-5, atol=1e-5)
    # cos^2 + sin^2 = 1 pairwise.
    y = ff(jnp.asarray(x))
    assert_tree_allclose(y[:16] ** 2 + y[16:] ** 2, jnp.ones(16))


def test_frequency_distribution_and_dtype(x64):
    del x64
    ff = FourierFeatures(4, 20_000, scale=3.0, dtype=jnp.float64, key=KEY)
    b = np.asarray(ff.frequencies)
    assert b.dtype == np.float64
    assert np.std(b) == pytest.approx(3.0, rel=0.02)
    assert abs(np.mean(b)) < 0.05  # five standard errors
    assert ff(jnp.zeros(4)).dtype == jnp.float64
    assert FourierFeatures(2, 3, key=KEY).frequencies.dtype == jnp.float64  # x64 default


def _sum_features(ff, x):
    return jnp.sum(ff(x) * jnp.arange(1.0, ff.out_size + 1.0, dtype=x.dtype))


def test_not_trainable_has_exactly_zero_gradient():
    ff = FourierFeatures(2, 8, scale=1.5, key=KEY)
    x = jnp.array([0.3, -0.2])
    grads = eqx.filter_grad(_sum_features)(ff, x)
    assert jnp.all(grads.frequencies == 0.0)
    grad_x = jax.grad(_sum_features, argnums=1)(ff, x)
    assert jnp.all(jnp.abs(grad_x) > 0)  # the input still gets a gradient

    trainable = FourierFeatures(2, 8, scale=1.5, trainable=True, key=KEY)
    assert_tree_allclose(trainable(x), ff(x))  # same key, same features
    grads = eqx.filter_grad(_sum_features)(trainable, x)
    assert jnp.all(jnp.abs(grads.frequencies) > 0)


def test_check_grad_trainable_parameters_and_input(x64):
    del x64
    ff = FourierFeatures(3, 5, scale=0.7, trainable=True, dtype=jnp.float64, key=KEY)
    x = jnp.array([0.2, -0.1, 0.4])
    check_grad(lambda m, v: m(v), ff, x, argnums=(0, 1))
    # Only the input is differentiable when B is frozen...
    frozen = FourierFeatures(3, 5, scale=0.7, dtype=jnp.float64, key=KEY)
    check_grad(lambda m, v: m(v), frozen, x, argnums=1)
    # ...and the gradient check sees the stop_gradient if asked about B.
    with pytest.raises(AssertionError):
        check_grad(lambda m, v: m(v), frozen, x, argnums=0)


def test_feeds_an_mlp_and_composes_with_jit_vmap_grad():
    k1, k2 = jax.random.split(KEY)
    ff = FourierFeatures("scalar", 8, scale=2.0, trainable=True, key=k1)
    net = MLP(ff.out_size, "scalar", width=16, depth=1, key=k2)
    model = eqx.nn.Sequential([ff, net])
    xs = jnp.linspace(0.0, 1.0, 6)
    assert_tree_allclose(jax.vmap(model)(xs), jnp.stack([net(ff(x)) for x in xs]))

    def loss(m, x):
        return m(x) ** 2

    batch_grad = eqx.filter_grad(lambda m: jnp.sum(jax.vmap(lambda x: loss(m, x))(xs)))(model)
    per_example = eqx.filter_vmap(eqx.filter_grad(loss), in_axes=(None, 0))(model, xs)
    summed = jax.tree.map(lambda g: jnp.sum(g, axis=0), per_example)
    assert_tree_allclose(eqx.filter(batch_grad, eqx.is_array), eqx.filter(summed, eqx.is_array))


def test_no_recompile():
    apply = eqx.filter_jit(lambda m, x: jax.vmap(m)(x))
    ff_a = FourierFeatures(2, 4, key=jax.random.key(1))
    ff_b = FourierFeatures(2, 4, scale=5.0, key=jax.random.key(2))
    x_a, x_b = jnp.zeros((3, 2)), jnp.ones((3, 2))
    assert_no_recompile(apply, (ff_a, x_a), (ff_b, x_b))
    with count_compiles() as compiles:
        apply(ff_b, x_a).block_until_ready()
    assert compiles.count == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(in_size=0), ValueError, "in_size"),
        (dict(in_size="vector"), ValueError, "in_size"),
        (dict(num_features=0), ValueError, "num_features"),
        (dict(num_features=2.0), TypeError, "num_features"),
        (dict(scale=-1.0), ValueError, "scale"),
        (dict(scale=float("inf")), ValueError, "scale"),
        (dict(trainable=1), TypeError, "trainable"),
        (dict(dtype=jnp.int32), TypeError, "dtype"),
        (dict(dtype=jnp.float64), ValueError, "64-bit mode"),  # x64 is off here
    ],
)
def test_bad_arguments(kwargs, error, match):
    arguments = dict(in_size=2, num_features=4) | kwargs
    with count_compiles() as compiles, pytest.raises(error, match=match):
        FourierFeatures(**arguments, key=KEY)
    assert compiles.count == 0


def test_wrong_input_shape():
    ff = FourierFeatures(2, 4, key=KEY)
    with pytest.raises(ValueError, match="`x` must have shape"):
        ff(jnp.ones(3))
