"""pinn: gradient-norm, NTK and causal weights against direct computations on a tiny network."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from dmech.nn import MLP
from pinn._conditions import dirichlet
from pinn._derivatives import laplacian
from pinn._domains import interval
from pinn._problem import CausalWeighting, Term, causal_weights, term_loss
from pinn._samplers import Sampler
from pinn._training import Adam, train
from pinn._weighting import (
    GradientNormWeighting,
    NTKWeighting,
    gradient_norm_weights,
    ntk_traces,
    ntk_weights,
)


def _tiny_problem():
    net = MLP(1, "scalar", 5, 1, key=jax.random.key(0), dtype=jnp.float64)

    def u(p, x):
        return p(x)

    def pde(p, x):
        return laplacian(lambda y: u(p, y), x) + jnp.sin(3 * x[0])

    terms = {
        "pde": Term(pde, points=jnp.linspace(-1, 1, 7, dtype=jnp.float64)[:, None]),
        "bc": Term(dirichlet(u, 0.5), points=jnp.asarray([[-1.0], [1.0]], jnp.float64)),
    }
    points = {k: t.points for k, t in terms.items()}
    masks = {k: jnp.ones(t.num_points(), jnp.float64) for k, t in terms.items()}
    return net, terms, points, masks


def _direct(net):
    """Per-term losses and per-point residuals written out by hand on the flat parameters."""
    flat, unravel = ravel_pytree(eqx.filter(net, eqx.is_inexact_array))
    static = eqx.filter(net, eqx.is_inexact_array, inverse=True)
    x_pde = np.linspace(-1, 1, 7)
    x_bc = np.asarray([-1.0, 1.0])

    def model(theta, x):
        return eqx.combine(unravel(theta), static)(jnp.reshape(x, (1,)))

    def r_pde(theta, x):
        second = jax.grad(jax.grad(lambda s: model(theta, s)))(x)
        return second + jnp.sin(3 * x)

    def r_bc(theta, x):
        return model(theta, x) - 0.5

    losses = {
        "pde": lambda th: jnp.mean(jnp.stack([r_pde(th, x) for x in x_pde]) ** 2),
        "bc": lambda th: jnp.mean(jnp.stack([r_bc(th, x) for x in x_bc]) ** 2),
    }
    residuals = {"pde": (r_pde, x_pde), "bc": (r_bc, x_bc)}
    return flat, losses, residuals


def test_gradient_norm_and_ntk_weights_match_a_direct_computation(x64):
    net, terms, points, masks = _tiny_problem()
    flat, losses, residuals = _direct(net)
    norms = {k: float(jnp.linalg.norm(jax.jit(jax.grad(f))(flat))) for k, f in losses.items()}
    expected = {k: sum(norms.values()) / v for k, v in norms.items()}
    spec = eqx.is_inexact_array
    got = eqx.filter_jit(lambda n: GradientNormWeighting().target(terms, n, points, masks, spec))(
        net
    )
    for k in terms:
        np.testing.assert_allclose(float(got[k]), expected[k], rtol=1e-10)
    # the trace of each term's NTK: mean over points of |∂r/∂θ|²
    per_point = {  # |∂r/∂θ|² at each point
        k: np.asarray(jax.jit(jax.vmap(jax.grad(r), (None, 0)))(flat, jnp.asarray(xs)) ** 2).sum(1)
        for k, (r, xs) in residuals.items()
    }
    traces = {k: np.mean(v) for k, v in per_point.items()}
    got_traces = eqx.filter_jit(lambda n: ntk_traces(terms, n, points, masks, spec))(net)
    for k in terms:
        np.testing.assert_allclose(float(got_traces[k]), traces[k], rtol=1e-10)
    weights = ntk_weights(got_traces)
    for k in terms:
        np.testing.assert_allclose(float(weights[k]), sum(traces.values()) / traces[k], rtol=1e-10)
    # NTKWeighting on a subset of points uses the first num_points of each set
    sub = eqx.filter_jit(
        lambda n: NTKWeighting(num_points=2).target(terms, n, points, masks, spec)
    )(net)
    first_two = {k: np.mean(v[:2]) for k, v in per_point.items()}
    np.testing.assert_allclose(
        float(sub["pde"]), sum(first_two.values()) / first_two["pde"], rtol=1e-10
    )
    # a term whose gradient vanishes gets the largest weight of the others
    zero = gradient_norm_weights({"a": jnp.zeros(3), "b": jnp.asarray([3.0, 4.0, 0.0])})
    assert float(zero["b"]) == 1.0 and float(zero["a"]) == 1.0
    with pytest.raises(ValueError, match="`gradients`"):
        gradient_norm_weights({})


def test_causal_weights_match_a_direct_computation(x64):
    causal = CausalWeighting(num_chunks=4, epsilon=2.0, t0=0.0, t1=1.0)
    times = np.asarray([0.05, 0.1, 0.3, 0.45, 0.6, 0.62, 0.7, 0.95, 1.0])
    points = jnp.stack([jnp.zeros(9), jnp.asarray(times)], axis=1)
    term = Term(lambda p, x: p["a"] * (1 + x[1] ** 2), points=points, causal=causal)
    params = {"a": jnp.asarray(0.7)}
    loss_and_grad = jax.jit(
        jax.value_and_grad(lambda p: term_loss(term, p, points, jnp.ones(9)), has_aux=True)
    )
    (loss, last), grad = loss_and_grad(params)
    chunks = [[0, 1], [2, 3], [4, 5, 6], [7, 8]]  # t = 1 falls in the last chunk
    squared = (0.7 * (1 + times**2)) ** 2
    chunk_losses = np.asarray([squared[c].mean() for c in chunks])
    weights = np.exp(-2.0 * np.concatenate([[0.0], np.cumsum(chunk_losses)[:-1]]))
    np.testing.assert_allclose(causal_weights(jnp.asarray(chunk_losses), 2.0), weights, rtol=1e-14)
    np.testing.assert_allclose(loss, np.mean(weights * chunk_losses), rtol=1e-14)
    np.testing.assert_allclose(last, weights[-1], rtol=1e-14)
    # no gradient through the weights: dL/da = mean(w_k dL_k/da) with w held fixed
    grad = grad["a"]
    expected = np.mean(weights * np.asarray([(2 * squared / 0.7)[c].mean() for c in chunks]))
    np.testing.assert_allclose(grad, expected, rtol=1e-13)
    with pytest.raises(ValueError, match="`epsilon`"):
        CausalWeighting(4, 0.0, 0.0, 1.0)


def test_training_updates_weights_every_k_steps_with_momentum():
    net = MLP(1, "scalar", 8, 1, key=jax.random.key(0))

    def u(p, x):
        return p(x)

    domain = interval(-1.0, 1.0)
    terms = {
        "pde": Term(
            lambda p, x: laplacian(lambda y: u(p, y), x) + jnp.sin(3 * x[0]),
            sampler=Sampler(domain, 16),
        ),
        "bc": Term(dirichlet(u, 0.5), sampler=Sampler(domain, 2, where="boundary"), weight=3.0),
    }
    weighting = GradientNormWeighting(every=3, momentum=0.25)
    result = train(net, terms, key=jax.random.key(1), adam=Adam(4, 1e-3), weighting=weighting,
                   eval_every=4)  # fmt: skip
    points = result.points
    masks = {k: jnp.ones(t.num_points()) for k, t in terms.items()}
    target = eqx.filter_jit(weighting.target)(terms, net, points, masks, eqx.is_inexact_array)
    history = result.history
    for name, start in (("pde", 1.0), ("bc", 3.0)):
        expected = 0.25 * start + 0.75 * float(target[name])
        np.testing.assert_allclose(history[f"weight/{name}"][:3], expected, rtol=1e-5)
        assert history[f"weight/{name}"][3] != history[f"weight/{name}"][2]  # step 3
