"""Tests for dmech.nn.MLP and dmech.nn.activation."""

import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dmech.nn import MLP, activation
from dmech.testing import (
    assert_no_recompile,
    assert_tree_allclose,
    check_grad,
    count_compiles,
)

KEY = jax.random.key(0)
SIZES = (1, 3, "scalar")


def _input(size, dtype=jnp.float32):
    shape = () if size == "scalar" else (size,)
    return jnp.linspace(-0.5, 0.7, math.prod(shape), dtype=dtype).reshape(shape)


def _shape(size):
    return () if size == "scalar" else (size,)


# ---------------------------------------------------------------------------------------------
# shapes and dtypes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("in_size", "out_size"), list(itertools.product(SIZES, SIZES)))
@pytest.mark.parametrize("depth", [0, 1, 3])
def test_shapes_all_combinations(in_size, out_size, depth):
    # Abstract evaluation: exact shapes and dtypes, nothing compiled.
    def build_and_apply(x, batch):
        net = MLP(in_size, out_size, width=5, depth=depth, key=KEY)
        return net, net(x), jax.vmap(net)(batch)

    x = jax.ShapeDtypeStruct(_shape(in_size), jnp.float32)
    batch = jax.ShapeDtypeStruct((4, *_shape(in_size)), jnp.float32)
    net, y, y_batch = eqx.filter_eval_shape(build_and_apply, x, batch)
    assert len(net.layers) == depth + 1
    assert (y.shape, y.dtype) == (_shape(out_size), jnp.float32)
    assert (y_batch.shape, y_batch.dtype) == ((4, *_shape(out_size)), jnp.float32)


def test_layer_sizes_and_concrete_shapes():
    net = MLP(3, 2, width=5, depth=2, key=KEY)
    assert [layer.weight.shape for layer in net.layers] == [(5, 3), (5, 5), (2, 5)]
    assert all(jnp.all(layer.bias == 0) for layer in net.layers)
    scalar_net = MLP("scalar", "scalar", width=5, depth=2, key=KEY)
    assert [layer.weight.shape for layer in scalar_net.layers] == [(5, 1), (5, 5), (1, 5)]
    y = eqx.filter_jit(jax.vmap(scalar_net))(jnp.linspace(0.0, 1.0, 4))
    assert (y.shape, y.dtype) == ((4,), jnp.float32)
    assert scalar_net(jnp.array(0.5)).shape == ()
    assert scalar_net(0.5).shape == ()  # Python scalars are accepted for scalar input


def test_forward_pass_matches_a_hand_written_network():
    net = MLP(3, 2, width=4, depth=2, activation="sin", final_activation="sigmoid", key=KEY)
    x = jnp.array([0.3, -0.2, 0.9])
    h = x
    for layer in net.layers[:-1]:
        h = jnp.sin(layer.weight @ h + layer.bias)
    expected = jax.nn.sigmoid(net.layers[-1].weight @ h + net.layers[-1].bias)
    assert_tree_allclose(net(x), expected)


def test_dtypes(x64):
    del x64
    assert MLP(2, 2, 4, 1, key=KEY).layers[0].weight.dtype == jnp.float64  # default follows x64
    for dtype in (jnp.float32, jnp.float64, jnp.bfloat16):
        net = MLP(2, "scalar", 4, 2, dtype=dtype, key=KEY)
        leaves = jax.tree.leaves(eqx.filter(net, eqx.is_array))
        assert {leaf.dtype for leaf in leaves} == {jnp.dtype(dtype)}
        assert net(jnp.ones(2, dtype=dtype)).dtype == dtype


def test_default_dtype_is_float32():
    net = MLP(2, 2, 4, 1, key=KEY)
    assert {leaf.dtype for leaf in jax.tree.leaves(eqx.filter(net, eqx.is_array))} == {
        jnp.dtype(jnp.float32)
    }


# ---------------------------------------------------------------------------------------------
# initialisation
# ---------------------------------------------------------------------------------------------

# A large network: 400 -> 500 -> 500 -> 300, so 1.5e5 to 2.5e5 weights per layer.
N_IN, WIDTH, N_OUT = 400, 500, 300
FANS = [(N_IN, WIDTH), (WIDTH, WIDTH), (WIDTH, N_OUT)]  # (fan_in, fan_out) per layer
OMEGA0 = 30.0


def _expected_variance(scheme, layer, fan_in, fan_out):
    if scheme == "glorot_normal" or scheme == "glorot_uniform":
        return 2.0 / (fan_in + fan_out)
    if scheme == "he_normal" or scheme == "he_uniform":
        return 2.0 / fan_in
    if scheme == "lecun_normal":
        return 1.0 / fan_in
    bound = {
        0: OMEGA0 / fan_in,
        1: math.sqrt(6.0 / fan_in),
        2: math.sqrt(6.0 / fan_in) / OMEGA0,
    }[layer]
    return bound**2 / 3.0  # variance of U(-a, a)


@pytest.mark.parametrize(
    "scheme",
    ["glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "lecun_normal", "siren"],
)
def test_initialisation_variance_and_distribution(scheme):
    net = MLP(N_IN, N_OUT, WIDTH, depth=2, initialisation=scheme, key=jax.random.key(3))
    for i, (layer, (fan_in, fan_out)) in enumerate(zip(net.layers, FANS, strict=True)):
        w = np.asarray(layer.weight, dtype=np.float64)
        expected = _expected_variance(scheme, i, fan_in, fan_out)
        assert np.var(w) == pytest.approx(expected, rel=0.03), (scheme, i)
        assert abs(np.mean(w)) < 0.02 * math.sqrt(expected), (scheme, i)
        np.testing.assert_array_equal(np.asarray(layer.bias), 0.0)
        std = math.sqrt(expected)
        if scheme.endswith("uniform") or scheme == "siren":
            bound = math.sqrt(3.0) * std  # U(-a, a): a = sqrt(3) std
            assert np.max(np.abs(w)) <= bound * (1 + 1e-6)
            assert np.max(np.abs(w)) > 0.99 * bound
        else:
            # Truncated at two standard deviations of the underlying normal, which is
            # rescaled by 1/0.8796 so that the truncated variance is exact.
            assert np.max(np.abs(w)) <= 2 * std / 0.87962566 * (1 + 1e-6)
            assert np.max(np.abs(w)) > math.sqrt(3.0) * std * 1.1  # not a uniform


def test_initialisation_depends_on_key():
    a = MLP(3, 2, 8, 2, key=jax.random.key(1))
    b = MLP(3, 2, 8, 2, key=jax.random.key(2))
    assert not jnp.allclose(a.layers[1].weight, b.layers[1].weight)
    c = MLP(3, 2, 8, 2, key=jax.random.key(1))
    assert jnp.array_equal(a.layers[1].weight, c.layers[1].weight)


# ---------------------------------------------------------------------------------------------
# gradients and transforms
# ---------------------------------------------------------------------------------------------


def _apply(model, x):
    return model(x)


@pytest.mark.parametrize(
    "act", ["tanh", "sin", "gelu", "silu", "softplus", "sigmoid", "identity", jnp.cos]
)
def test_check_grad_parameters_and_inputs(x64, act):
    del x64
    net = MLP(3, 2, width=6, depth=2, activation=act, dtype=jnp.float64, key=KEY)
    x = jnp.array([0.3, -0.4, 0.8])
    check_grad(_apply, net, x, argnums=(0, 1))


def test_check_grad_second_order_scalar_network(x64):
    # PINN residuals need second derivatives of u(x) with respect to x and the parameters.
    del x64
    net = MLP("scalar", "scalar", width=8, depth=2, dtype=jnp.float64, key=KEY)
    check_grad(_apply, net, jnp.array(0.4), argnums=(0, 1), order=2)


def test_check_grad_detects_a_frozen_layer(x64):
    # Sanity check of the check itself: stopping the gradient through one layer is caught.
    del x64
    net = MLP(2, 1, width=4, depth=1, dtype=jnp.float64, key=KEY)

    def frozen(model, x):
        first = jax.lax.stop_gradient(model.layers[0].weight)
        h = jnp.tanh(first @ x + model.layers[0].bias)
        return model.layers[1](h)

    with pytest.raises(AssertionError):
        check_grad(frozen, net, jnp.array([0.1, 0.2]))


def _per_example_loss(model, x, y):
    return (model(x) - y) ** 2


def test_grad_of_vmap_equals_vmap_of_grad():
    net = MLP(2, "scalar", width=16, depth=2, key=KEY)
    xs = jax.random.normal(jax.random.key(1), (8, 2))
    ys = jnp.sin(xs[:, 0]) * xs[:, 1]

    def batch_loss(model):
        return jnp.sum(eqx.filter_vmap(_per_example_loss, in_axes=(None, 0, 0))(model, xs, ys))

    grad_of_vmap = eqx.filter_grad(batch_loss)(net)
    per_example = eqx.filter_vmap(eqx.filter_grad(_per_example_loss), in_axes=(None, 0, 0))(
        net, xs, ys
    )
    vmap_of_grad = jax.tree.map(lambda g: jnp.sum(g, axis=0), per_example)
    assert_tree_allclose(
        eqx.filter(grad_of_vmap, eqx.is_array), eqx.filter(vmap_of_grad, eqx.is_array)
    )
    # And jit changes nothing beyond round-off.
    jitted = eqx.filter_jit(eqx.filter_grad(batch_loss))(net)
    assert_tree_allclose(eqx.filter(jitted, eqx.is_array), eqx.filter(grad_of_vmap, eqx.is_array))


def test_input_gradient_matches_closed_form():
    # depth 0, identity: y = W x + b, so dy_i/dx = W.
    net = MLP(3, 2, width=4, depth=0, activation="relu", key=KEY)
    jac = jax.jacfwd(net)(jnp.array([0.1, 0.2, 0.3]))
    assert_tree_allclose(jac, net.layers[0].weight)


def test_no_recompile_on_new_values():
    @eqx.filter_jit
    def loss(model, x):
        return jnp.mean(jax.vmap(model)(x) ** 2)

    net_a = MLP(2, 3, width=8, depth=2, key=jax.random.key(1))
    net_b = MLP(2, 3, width=8, depth=2, key=jax.random.key(2))
    x_a = jnp.ones((5, 2))
    x_b = jnp.linspace(0.0, 1.0, 10).reshape(5, 2)
    with count_compiles() as compiles:
        loss(net_a, x_a).block_until_ready()
    assert compiles.count >= 1
    with count_compiles() as compiles:
        loss(net_b, x_b).block_until_ready()
        loss(net_a, x_b).block_until_ready()
    assert compiles.count == 0
    assert_no_recompile(eqx.filter_jit(eqx.filter_grad(loss)), (net_a, x_a), (net_b, x_b))


def test_sequential_composition():
    k1, k2 = jax.random.split(KEY)
    first = MLP(2, 4, width=8, depth=1, key=k1)
    second = MLP(4, "scalar", width=8, depth=1, key=k2)
    seq = eqx.nn.Sequential([first, second])
    x = jnp.array([0.2, -0.1])
    assert_tree_allclose(seq(x), second(first(x)))


# ---------------------------------------------------------------------------------------------
# argument validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(in_size=0), ValueError, "in_size"),
        (dict(in_size=-2), ValueError, "in_size"),
        (dict(out_size="vector"), ValueError, "out_size"),
        (dict(width=0), ValueError, "width"),
        (dict(depth=-1), ValueError, "depth"),
        (dict(width=2.5), TypeError, "width"),
        (dict(depth=True), TypeError, "depth"),
        (dict(activation="swishy"), ValueError, "`activation`.*'tanh'.*'relu'"),
        (dict(final_activation="nope"), ValueError, "final_activation"),
        (dict(activation=3), TypeError, "activation"),
        (dict(initialisation="xavier"), ValueError, "initialisation.*'glorot_normal'"),
        (dict(siren_omega0=0.0), ValueError, "siren_omega0"),
        (dict(dtype=jnp.int32), TypeError, "dtype"),
        (dict(dtype=jnp.float64), ValueError, "64-bit mode"),  # x64 is off here
    ],
)
def test_bad_arguments(kwargs, error, match):
    arguments = dict(in_size=2, out_size=1, width=4, depth=2) | kwargs
    with count_compiles() as compiles, pytest.raises(error, match=match):
        MLP(**arguments, key=KEY)
    assert compiles.count == 0  # rejected before anything is traced or compiled


def test_wrong_input_shape():
    net = MLP(3, 1, width=4, depth=1, key=KEY)
    with pytest.raises(ValueError, match="`x` must have shape"):
        net(jnp.ones(2))
    with pytest.raises(ValueError, match="vmap"):
        net(jnp.ones((5, 3)))
    scalar_net = MLP("scalar", 1, width=4, depth=1, key=KEY)
    with pytest.raises(ValueError, match=r"shape \(\)"):
        scalar_net(jnp.ones(1))


# ---------------------------------------------------------------------------------------------
# activation helper
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("tanh", np.tanh),
        ("relu", lambda x: np.maximum(x, 0.0)),
        ("gelu", lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))),
        ("silu", lambda x: x / (1 + np.exp(-x))),
        ("swish", lambda x: x / (1 + np.exp(-x))),
        ("sin", np.sin),
        ("softplus", lambda x: np.log1p(np.exp(x))),
        ("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
        ("identity", lambda x: x),
    ],
)
def test_activation_by_name(name, reference):
    x = np.linspace(-3.0, 3.0, 13, dtype=np.float32)
    assert_tree_allclose(np.asarray(activation(name)(jnp.asarray(x))), reference(x))


def test_activation_callable_and_errors():
    assert activation(jnp.cos) is jnp.cos
    with pytest.raises(ValueError, match=r"`name_or_callable`.*'tanh'.*'identity'"):
        activation("Tanh")
    with pytest.raises(TypeError):
        activation(1.0)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------


def _target(x):
    return jnp.sin(jnp.pi * x) + 0.5 * x**2


def test_fits_a_smooth_function_with_adam():
    # 500 full-batch Adam steps (lr 1e-2) on 128 points of sin(pi x) + x^2/2 on [-1, 1].
    # Observed over seeds 0-5: RMSE 0.005-0.02 and max error 0.01-0.05 on a fine grid
    # (seed 0: 0.005 and 0.012); the initial RMSE is about 0.7.
    x = jnp.linspace(-1.0, 1.0, 128)
    y = _target(x)
    net = MLP("scalar", "scalar", width=32, depth=2, key=KEY)
    params, static = eqx.partition(net, eqx.is_inexact_array)
    optimiser = optax.adam(1e-2)

    def loss(p):
        model = eqx.combine(p, static)
        return jnp.mean((jax.vmap(model)(x) - y) ** 2)

    @jax.jit
    def train(p, state):
        def step(carry, _):
            p, state = carry
            value, grads = jax.value_and_grad(loss)(p)
            updates, state = optimiser.update(grads, state, p)
            return (optax.apply_updates(p, updates), state), value

        (p, _), history = jax.lax.scan(step, (p, state), None, length=500)
        return p, history

    # optax's Adam bias correction computes `decay ** count` (float ** int32), which the
    # strict promotion of the test suite rejects; allow standard promotion for training.
    with jax.numpy_dtype_promotion("standard"):
        trained, history = train(params, optimiser.init(params))
    model = eqx.combine(trained, static)
    x_test = jnp.linspace(-1.0, 1.0, 1001)
    error = jax.vmap(model)(x_test) - _target(x_test)
    rmse = float(jnp.sqrt(jnp.mean(error**2)))
    assert rmse < 0.03
    assert float(jnp.max(jnp.abs(error))) < 0.1
    assert float(history[-1]) < 1e-3 * float(history[0])
