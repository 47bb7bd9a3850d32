"""Tests for the U-Net field predictor (operators/_unet.py)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.testing import assert_no_recompile, check_grad
from operators._unet import UNet, _max_pool

KEY = jax.random.key(0)


def _apply(model, x):
    return model(x)


_apply_jit = eqx.filter_jit(_apply)


def _num_params(model):
    return sum(x.size for x in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)))


@pytest.mark.parametrize(
    ("spatial_dims", "shape", "levels"), [(2, (24, 16), 3), (3, (8, 4, 12), 2), (2, (6, 10), 0)]
)
def test_shapes_and_parameter_count(spatial_dims, shape, levels):
    def build_and_apply(x):
        net = UNet(3, 2, spatial_dims=spatial_dims, base_width=4, levels=levels, key=KEY)
        return net, net(x)

    net, y = eqx.filter_eval_shape(build_and_apply, jax.ShapeDtypeStruct((3, *shape), jnp.float32))
    assert (y.shape, y.dtype) == ((2, *shape), jnp.float32)
    # Convolutions (weights + biases) level by level: k = 3^d, transposed kernels 2^d.
    k, t = 3**spatial_dims, 2**spatial_dims
    widths = [4 * 2**level for level in range(levels + 1)]
    expected, previous = 0, 3
    for w in widths:  # encoder and bottleneck
        expected += previous * w * k + w + w * w * k + w
        previous = w
    for level in range(levels):  # decoder
        w = widths[level]
        expected += widths[level + 1] * w * t + w + 2 * w * w * k + w + w * w * k + w
    expected += widths[0] * 2 + 2  # 1x1 head
    leaves = jax.tree.leaves(net)
    assert sum(x.size for x in leaves if hasattr(x, "dtype")) == expected


def test_max_pool_matches_a_loop():
    x = np.random.default_rng(0).standard_normal((2, 4, 6)).astype(np.float32)
    expected = np.zeros((2, 2, 3), np.float32)
    for i in range(2):
        for j in range(3):
            expected[:, i, j] = x[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].max(axis=(1, 2))
    np.testing.assert_array_equal(np.asarray(_max_pool(jnp.asarray(x), 2)), expected)


def test_circular_unet_is_equivariant_to_shifts_by_the_coarsest_cell(x64):
    # With periodic padding every layer commutes with shifts that keep the pooling grid
    # aligned (multiples of 2**levels); other shifts move points across pooling windows.
    del x64
    kwargs = dict(spatial_dims=2, base_width=2, levels=2, key=KEY, dtype=jnp.float64)
    net = UNet(1, 1, padding_mode="circular", **kwargs)
    x = jax.random.normal(jax.random.key(1), (1, 8, 8), jnp.float64)
    y = np.asarray(_apply_jit(net, x))
    aligned = np.asarray(_apply_jit(net, jnp.roll(x, (4, -4), axis=(1, 2))))
    np.testing.assert_allclose(aligned, np.roll(y, (4, -4), axis=(1, 2)), rtol=0, atol=1e-13)
    misaligned = np.asarray(_apply_jit(net, jnp.roll(x, (1, 0), axis=(1, 2))))
    assert np.abs(misaligned - np.roll(y, (1, 0), axis=(1, 2))).max() > 1e-6
    # Zero padding breaks the symmetry at the boundary.
    zeros = UNet(1, 1, **kwargs)
    shifted = np.asarray(_apply_jit(zeros, jnp.roll(x, (4, -4), axis=(1, 2))))
    assert np.abs(shifted - np.roll(np.asarray(_apply_jit(zeros, x)), (4, -4), (1, 2))).max() > 1e-6


def test_gradients_with_respect_to_parameters_and_input(x64):
    del x64
    net = UNet(
        1,
        1,
        spatial_dims=2,
        base_width=2,
        levels=1,
        activation="tanh",
        key=KEY,
        dtype=jnp.float64,
    )
    x = jax.random.normal(jax.random.key(1), (1, 4, 4), jnp.float64)
    check_grad(_apply, net, x, argnums=(0, 1), num_directions=2)


def test_bad_inputs_raise_naming_the_argument():
    net = UNet(2, 1, spatial_dims=2, base_width=2, levels=2, key=KEY)
    with pytest.raises(
        ValueError, match=r"`x` must have spatial sizes divisible by 2\*\*levels = 4"
    ):
        net(jnp.ones((2, 8, 6)))
    with pytest.raises(ValueError, match=r"`x` must have shape \(2, \*spatial\)"):
        net(jnp.ones((1, 8, 8)))
    with pytest.raises(ValueError, match=r"`x` must have shape"):
        net(jnp.ones((2, 8, 8, 8)))
    for override, match in [
        (dict(spatial_dims=1), "`spatial_dims`"),
        (dict(base_width=0), "`base_width`"),
        (dict(levels=-1), "`levels`"),
        (dict(padding_mode="periodic"), "`padding_mode`"),
        (dict(activation="nope"), "`activation`"),
    ]:
        kwargs = dict(spatial_dims=2, base_width=2, levels=1, key=KEY) | override
        with pytest.raises(ValueError, match=match):
            UNet(1, 1, **kwargs)


def test_second_call_does_not_recompile():
    net = UNet(1, 1, spatial_dims=2, base_width=4, levels=2, key=KEY)
    other = UNet(1, 1, spatial_dims=2, base_width=4, levels=2, key=jax.random.key(2))
    apply = eqx.filter_jit(jax.vmap(_apply, in_axes=(None, 0)))
    x1, x2 = jnp.ones((2, 1, 16, 16)), jnp.zeros((2, 1, 16, 16))
    assert_no_recompile(apply, (net, x1), (net, x2), (other, x1))
