"""pinn: derivative helpers against closed forms, conditions, embeddings and architectures."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.nn import MLP, FourierFeatures
from dmech.testing import assert_tree_allclose, check_grad
from pinn._conditions import (
    HardConstraint,
    PeriodicEmbedding,
    dirichlet,
    initial,
    neumann,
    periodic,
    robin,
)
from pinn._derivatives import (
    directional_derivatives,
    divergence,
    gradient,
    hessian,
    laplacian,
    partial_derivative,
)
from pinn._networks import (
    FactorisedLinear,
    ModifiedMLP,
    PirateNet,
    random_weight_factorisation,
)
from pinn._problem import Term, term_loss


def _field(x):
    # f(x, y, t) = sin(2x) e^{y} t^3
    return jnp.sin(2 * x[0]) * jnp.exp(x[1]) * x[2] ** 3


@jax.jit
def _all_derivatives(x):
    field = lambda z: jnp.stack([z[0] * z[1], z[1] ** 2, z[2]])  # noqa: E731
    return {
        "gradient": gradient(_field, x),
        "xx": partial_derivative(_field, x, (0, 0)),
        "xt": partial_derivative(_field, x, (0, 2)),
        "ttt": partial_derivative(_field, x, (2, 2, 2)),
        "none": partial_derivative(_field, x, ()),
        "laplacian_xy": laplacian(_field, x, (0, 1)),
        "laplacian": laplacian(_field, x),
        "hessian": hessian(_field, x),
        "tower": jnp.stack(directional_derivatives(_field, x, jnp.asarray([1.0, 0, 0]), 4)),
        "divergence": divergence(field, x),
        "vector_gradient": gradient(field, x),
        "vector_laplacian": laplacian(field, x),
    }


def test_derivative_helpers_match_closed_forms(x64):
    x = jnp.asarray([0.3, -0.4, 0.7])
    d = _all_derivatives(x)
    s, c, e, t = np.sin(0.6), np.cos(0.6), np.exp(-0.4), 0.7
    np.testing.assert_allclose(
        d["gradient"], [2 * c * e * t**3, s * e * t**3, 3 * s * e * t**2], rtol=1e-14
    )
    np.testing.assert_allclose(d["xx"], -4 * s * e * t**3, rtol=1e-14)
    np.testing.assert_allclose(d["xt"], 6 * c * e * t**2, rtol=1e-14)
    np.testing.assert_allclose(d["ttt"], 6 * s * e, rtol=1e-14)
    np.testing.assert_allclose(d["none"], s * e * t**3, rtol=1e-14)
    # the spatial Laplacian (x, y) and the full one
    np.testing.assert_allclose(d["laplacian_xy"], -3 * s * e * t**3, rtol=1e-13)
    np.testing.assert_allclose(d["laplacian"], -3 * s * e * t**3 + 6 * s * e * t, rtol=1e-13)
    h = d["hessian"]
    np.testing.assert_allclose(h, h.T, rtol=1e-14)
    np.testing.assert_allclose(jnp.trace(h), d["laplacian"], rtol=1e-13)
    # the Taylor tower along e0: f(x + s e0) = sin(2(x0 + s)) e^{x1} t^3
    expected = np.asarray([s, 2 * c, -4 * s, -8 * c, 16 * s]) * e * t**3
    np.testing.assert_allclose(d["tower"], expected, rtol=1e-13)
    # a vector field: divergence of (x y, y^2, t) over (x, y, t) = y + 2y + 1
    np.testing.assert_allclose(d["divergence"], 3 * -0.4 + 1, rtol=1e-14)
    assert d["vector_gradient"].shape == (3, 3) and d["vector_laplacian"].shape == (3,)


def test_derivative_helpers_compose_with_vmap_jit_and_grad(x64):
    points = jnp.linspace(-1, 1, 12).reshape(4, 3)
    batched = jax.jit(jax.vmap(lambda y: laplacian(_field, y, (0, 1))))(points)
    one_by_one = jnp.stack([laplacian(_field, p, (0, 1)) for p in points])
    assert_tree_allclose(batched, one_by_one)
    # reverse mode through forward-over-forward: d/dx0 of the x-Laplacian = closed form
    d = jax.grad(lambda y: laplacian(_field, y, (0, 1)))(points[1])
    x0, x1, t = (float(v) for v in points[1])
    np.testing.assert_allclose(d[0], -6 * np.cos(2 * x0) * np.exp(x1) * t**3, rtol=1e-12)


def test_derivative_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="`x`"):
        gradient(_field, jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="`indices`"):
        partial_derivative(_field, jnp.zeros(3), (0, 3))
    with pytest.raises(ValueError, match="`indices`"):
        laplacian(_field, jnp.zeros(3), (0, 0))
    with pytest.raises(ValueError, match="`order`"):
        directional_derivatives(_field, jnp.zeros(3), jnp.ones(3), -1)
    with pytest.raises(ValueError, match="`direction`"):
        directional_derivatives(_field, jnp.zeros(3), jnp.ones(2), 1)


# --- conditions -------------------------------------------------------------------------------


def _solution(params, x):
    # u = a sin(x) cos(y) + b, params = (a, b)
    return params[0] * jnp.sin(x[0]) * jnp.cos(x[1]) + params[1]


def test_condition_residuals_match_closed_forms(x64):
    params = (jnp.asarray(1.5), jnp.asarray(0.25))
    x = jnp.asarray([0.4, 1.0])
    n = jnp.asarray([0.6, 0.8])
    u = 1.5 * np.sin(0.4) * np.cos(1.0) + 0.25
    du_dn = 1.5 * (np.cos(0.4) * np.cos(1.0) * 0.6 - np.sin(0.4) * np.sin(1.0) * 0.8)
    np.testing.assert_allclose(dirichlet(_solution, 0.1)(params, x), u - 0.1, rtol=1e-14)
    np.testing.assert_allclose(dirichlet(_solution, lambda y: y[0])(params, x), u - 0.4, rtol=1e-14)
    np.testing.assert_allclose(neumann(_solution, lambda y: n, 0.2)(params, x), du_dn - 0.2,
                               rtol=1e-13)  # fmt: skip
    np.testing.assert_allclose(
        robin(_solution, lambda y: n, 2.0, 3.0, 1.0)(params, x), 2 * u + 3 * du_dn - 1, rtol=1e-13
    )
    # periodic in x on [0, 2π]: zero for the 2π-periodic solution, value and slope
    r = periodic(_solution, 0, 0.0, 2 * np.pi, derivatives=2)(params, x)
    assert r.shape == (3,)
    np.testing.assert_allclose(r, 0.0, atol=1e-14)
    r = periodic(_solution, 0, 0.0, 1.0, derivatives=1)(params, x)
    np.testing.assert_allclose(
        r, [1.5 * (0 - np.sin(1.0)) * np.cos(1.0), 1.5 * (1 - np.cos(1.0)) * np.cos(1.0)],
        rtol=1e-13,
    )  # fmt: skip
    # initial condition at (x, t0 = y): u(x, y) - u0(x), with a velocity: ∂_y u(x, y) - v0
    r = initial(_solution, lambda z: z[0], velocity=0.5)(params, x)
    np.testing.assert_allclose(r, [u - 0.4, -1.5 * np.sin(0.4) * np.sin(1.0) - 0.5], rtol=1e-13)


def test_hard_constraint_and_periodic_embedding_hold_exactly(x64):
    key = jax.random.key(0)
    net = MLP(2, "scalar", 16, 2, key=key, dtype=jnp.float64)
    u = HardConstraint(net, lambda x: -jnp.sin(jnp.pi * x[0]), lambda x: (1 - x[0] ** 2) * x[1])
    points = jnp.asarray([[1.0, 0.7], [-1.0, 0.3], [0.5, 0.0]])
    values = eqx.filter_jit(lambda u, x: jax.vmap(u)(x))(u, points)
    np.testing.assert_allclose(values, [0.0, 0.0, -1.0], atol=1e-15)
    embedding = PeriodicEmbedding(2, axes=0, periods=2.0, harmonics=3)
    assert embedding.out_size == 1 + 6
    periodic_net = eqx.nn.Sequential([embedding, MLP(7, "scalar", 16, 2, key=key,
                                                     dtype=jnp.float64)])  # fmt: skip
    x = jnp.asarray([-0.3, 0.4])
    shifted = x.at[0].add(2.0)
    # the periodicity residual (value, first and second derivative) of the embedded network
    residual = periodic(lambda p, y: p(y), 0, -1.0, 1.0, derivatives=2)
    values = eqx.filter_jit(
        lambda net: (net(x), net(shifted), residual(net, x), residual(net, shifted))
    )(periodic_net)
    np.testing.assert_allclose(values[0], values[1], rtol=1e-13)
    np.testing.assert_allclose(values[2], 0.0, atol=1e-12)
    np.testing.assert_allclose(values[3], 0.0, atol=1e-12)


def test_conditions_reject_bad_input():
    # (under pytest jaxtyping/beartype names the argument first: `u` or 'u')
    with pytest.raises(TypeError, match=r"[`']u[`']"):
        dirichlet("u", 0.0)
    with pytest.raises(TypeError, match=r"[`']value[`']"):
        dirichlet(_solution, "zero")
    with pytest.raises(ValueError, match="`upper`"):
        periodic(_solution, 0, 1.0, 1.0)
    with pytest.raises(ValueError, match="`derivatives`"):
        periodic(_solution, 0, 0.0, 1.0, derivatives=-1)
    with pytest.raises(TypeError, match=r"[`']normal[`']"):
        neumann(_solution, 1.0)
    with pytest.raises(ValueError, match="`axes`"):
        PeriodicEmbedding(2, axes=2, periods=1.0)
    with pytest.raises(ValueError, match="`periods`"):
        PeriodicEmbedding(2, axes=(0, 1), periods=1.0)
    with pytest.raises(TypeError, match=r"[`']distance[`']"):
        HardConstraint(lambda x: x, 0.0, 1.0)


def test_residual_loss_gradients_match_central_differences(x64):
    """∂L/∂θ of Burgers-type residual, Neumann and periodicity losses against differences."""
    key = jax.random.key(3)
    net = MLP(2, "scalar", 8, 2, key=key, dtype=jnp.float64)
    points = jax.random.uniform(jax.random.key(4), (16, 2), jnp.float64, -1.0, 1.0)
    mask = jnp.ones(16, jnp.float64)

    def burgers(p, x):
        u, u_x, u_xx = directional_derivatives(lambda y: p(y), x, jnp.asarray([1.0, 0.0]), 2)
        u_t = partial_derivative(lambda y: p(y), x, 1)
        return u_t + u * u_x - 0.01 * u_xx

    solution = lambda p, y: p(y)  # noqa: E731
    terms = [
        Term(residual, points=points)
        for residual in (
            burgers,
            neumann(solution, lambda y: jnp.asarray([0.6, 0.8], y.dtype), 0.3),
            periodic(solution, 0, -1.0, 1.0, derivatives=1),
        )
    ]
    # the three losses at once (one set of compilations)
    check_grad(lambda p: [term_loss(term, p, points, mask)[0] for term in terms], net)


# --- architectures ----------------------------------------------------------------------------


def test_pirate_net_starts_as_a_linear_map_of_its_embedding():
    key = jax.random.key(1)
    embedding = FourierFeatures(2, 16, scale=2.0, key=key)
    net = PirateNet(2, 3, 24, 3, embedding=embedding, key=jax.random.key(2))
    x = jnp.asarray([0.2, -0.7])

    @eqx.filter_jit
    def check(net, x):
        expected = net.output.weight @ net.embedding(x) + net.output.bias
        grads = eqx.filter_grad(lambda m: jnp.sum(m(x) ** 2))(net)
        return net(x), expected, jnp.stack([b.alpha for b in grads.blocks])

    value, expected, alpha_grads = check(net, x)
    assert_tree_allclose(value, expected)
    assert all(float(b.alpha) == 0.0 for b in net.blocks)
    assert bool(jnp.all(alpha_grads != 0))  # the gates are trained
    scalar = PirateNet(2, "scalar", 8, 1, key=key)
    assert eqx.filter_eval_shape(jax.vmap(scalar), jnp.zeros((5, 2))).shape == (5,)


def test_modified_mlp_matches_its_definition():
    key = jax.random.key(5)
    net = ModifiedMLP(3, 2, 10, 2, activation="tanh", key=key)
    x = jnp.asarray([0.1, 0.2, -0.3])

    @eqx.filter_jit
    def by_hand(net, x):
        u = jnp.tanh(net.encoder_u(x))
        v = jnp.tanh(net.encoder_v(x))
        h = x
        for layer in net.layers:
            z = jnp.tanh(layer(h))
            h = z * u + (1 - z) * v
        return net.output(h)

    assert_tree_allclose(eqx.filter_jit(net)(x), by_hand(net, x))
    assert eqx.filter_eval_shape(jax.vmap(net), jnp.zeros((4, 3))).shape == (4, 2)
    with pytest.raises(ValueError, match="`x`"):
        net(jnp.zeros(2))
    with pytest.raises(ValueError, match="`depth`"):
        ModifiedMLP(3, 2, 10, 0, key=key)


def test_random_weight_factorisation_keeps_the_function():
    key = jax.random.key(6)
    nets = (MLP(2, 1, 16, 2, key=key), ModifiedMLP(2, "scalar", 16, 2, key=key),
            PirateNet(2, "scalar", 16, 1, key=key))  # fmt: skip
    factorised = tuple(
        random_weight_factorisation(net, key=jax.random.key(7), mean=1.0, std=0.1) for net in nets
    )
    x = jnp.asarray([[0.3, -0.2], [0.1, 0.9]])
    apply = eqx.filter_jit(lambda models, x: [jax.vmap(m)(x) for m in models])
    assert_tree_allclose(apply(factorised, x), apply(nets, x), rtol=1e-5, atol=1e-6)
    for model in factorised:
        layers = [
            leaf
            for leaf in jax.tree_util.tree_leaves(
                model, is_leaf=lambda n: isinstance(n, FactorisedLinear)
            )
            if isinstance(leaf, FactorisedLinear)
        ]
        assert layers and not any(
            isinstance(leaf, eqx.nn.Linear)
            for leaf in jax.tree_util.tree_leaves(
                model, is_leaf=lambda n: isinstance(n, eqx.nn.Linear)
            )
        )
        # scales drawn around e^1: the directions are the weights divided by them
        assert 1.5 < float(jnp.mean(jnp.exp(layers[0].log_scale))) < 4.0
    with pytest.raises(ValueError, match="`std`"):
        random_weight_factorisation(MLP(2, 1, 4, 1, key=key), key=key, std=-1.0)
    with pytest.raises(ValueError, match="`model`"):
        random_weight_factorisation({"a": jnp.ones(3)}, key=key)
