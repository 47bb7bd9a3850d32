"""pinn transfer: the one-shot least-squares output layer (against a direct lstsq on the same
features, and a Poisson problem with a new forcing solved to a stated error), fine-tuning."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.nn import MLP
from pinn._conditions import HardConstraint
from pinn._derivatives import laplacian
from pinn._domains import interval
from pinn._problem import Term
from pinn._references import poisson_source, sine_solution
from pinn._samplers import Sampler
from pinn._training import LBFGS, Adam, Reference, train
from pinn._transfer import fine_tune, least_squares_output_layer, select_leaves


def _u(params, x):
    return params(x)


def _poisson(wavenumber):
    def residual(p, x):
        return -laplacian(lambda y: _u(p, y), x) - poisson_source(x, wavenumber)

    return residual


def _trained_poisson(dtype, steps=300):
    """-u'' = f (u = sin 2πx), u(±1) = 0 built in: u = (1 - x²) N(x), N an MLP."""
    domain = interval(-1.0, 1.0)
    net = MLP(1, "scalar", 32, 2, key=jax.random.key(0), dtype=dtype)
    model = HardConstraint(net, 0.0, domain.distance)
    terms = {"pde": Term(_poisson(2.0), sampler=Sampler(domain, 64, method="sobol"))}
    result = train(
        model,
        terms,
        key=jax.random.key(1),
        adam=Adam(0),
        lbfgs=LBFGS(steps),
        eval_every=steps,
        progress=False,
    )
    return result.params


def test_least_squares_output_layer_equals_a_direct_lstsq_on_the_features(x64):
    """A = -Δ of the hidden features (times the distance), b = f: the same solve by hand."""
    model = _trained_poisson(jnp.float64, steps=50)
    x = jnp.linspace(-1, 1, 41, dtype=jnp.float64)[:, None]
    new = 3.0  # a new forcing: u = sin 3πx
    result = least_squares_output_layer(
        model, {"pde": (_poisson(new), x, 1.0)}, where=lambda u: u.network.layers[-1]
    )
    net = model.network

    def features(y):  # the last hidden layer's output and a one for the bias, times (1 - x²)
        h = y
        for layer in net.layers[:-1]:
            h = net.activation(layer(h))
        return (1 - y[0] ** 2) * jnp.concatenate([h, jnp.ones(1, h.dtype)])

    # -Δ of each feature: the Hessian's trace per output component
    lap = jax.vmap(lambda y: jnp.trace(jax.hessian(features)(y), axis1=1, axis2=2))(x)
    a = -lap / np.sqrt(x.shape[0])
    b = jax.vmap(lambda y: poisson_source(y, new))(x) / np.sqrt(x.shape[0])
    direct = np.linalg.lstsq(np.asarray(a), np.asarray(b), rcond=None)[0]
    # ravel_pytree order of an equinox Linear: weight (1, 32) then bias (1,)
    np.testing.assert_allclose(np.asarray(result.matrix), np.asarray(a), rtol=1e-10, atol=1e-10)
    # the system is ill-conditioned (features of a trained net are nearly dependent): the
    # least-squares fit A β (the projection of b) is unique, the coefficients are not
    coefficients = np.asarray(result.coefficients)
    fit, direct_fit = np.asarray(a) @ coefficients, np.asarray(a) @ direct
    assert np.linalg.norm(fit - direct_fit) < 1e-7 * np.linalg.norm(np.asarray(b))
    direct_norm = np.linalg.norm(np.asarray(a) @ direct - np.asarray(b))
    np.testing.assert_allclose(result.residual_norm, direct_norm, rtol=1e-6, atol=1e-9)
    assert result.affine_defect < 1e-10 and result.rank <= a.shape[1]


def test_least_squares_transfer_solves_a_new_poisson_forcing_in_one_shot(x64):
    """Hidden layers trained on sin 2πx, the output layer solved for sin 3πx and sin πx."""
    model = _trained_poisson(jnp.float64)
    x = jnp.asarray(np.polynomial.legendre.leggauss(128)[0][:, None])
    grid = jnp.linspace(-1, 1, 401, dtype=jnp.float64)[:, None]
    before_after = {}
    for new in (1.0, 3.0):
        solved = least_squares_output_layer(
            model, {"pde": (_poisson(new), x, 1.0)}, where=lambda u: u.network.layers[-1]
        ).params
        exact = jax.vmap(lambda y, a=new: sine_solution(y, a))(grid)
        err = lambda p, exact=exact: float(  # noqa: E731
            jnp.linalg.norm(jax.vmap(p)(grid) - exact) / jnp.linalg.norm(exact)
        )
        before_after[new] = (err(model), err(solved))
    # one solve, no training on the new forcing (errors before: about 1)
    for before, _ in before_after.values():
        assert before > 0.5
    assert before_after[1.0][1] < 1e-4, before_after
    assert before_after[3.0][1] < 2e-2, before_after


def test_least_squares_reports_a_nonlinear_residual(x64):
    model = _trained_poisson(jnp.float64, steps=5)
    x = jnp.linspace(-1, 1, 21, dtype=jnp.float64)[:, None]

    def nonlinear(p, y):  # u u'' is quadratic in the output layer
        return _u(p, y) * laplacian(lambda z: _u(p, z), y) - 1.0

    with pytest.raises(ValueError, match="not affine"):
        least_squares_output_layer(
            model, {"pde": (nonlinear, x, 1.0)}, where=lambda u: u.network.layers[-1]
        )
    with pytest.raises(ValueError, match="points"):
        least_squares_output_layer(
            model, {"pde": (_poisson(1.0), x[:, 0], 1.0)}, where=lambda u: u.network.layers[-1]
        )
    with pytest.raises(TypeError, match="problem"):
        least_squares_output_layer(model, {}, where=lambda u: u.network.layers[-1])


def test_fine_tuning_decreases_the_loss_and_keeps_frozen_layers():
    model = _trained_poisson(jnp.float32, steps=100)
    domain = interval(-1.0, 1.0)
    terms = {"pde": Term(_poisson(3.0), sampler=Sampler(domain, 64, method="sobol"))}
    grid = jnp.linspace(-1, 1, 101)[:, None]
    reference = Reference(_u, grid, jax.vmap(lambda y: sine_solution(y, 3.0))(grid))
    result = fine_tune(
        model,
        terms,
        key=jax.random.key(2),
        adam=Adam(0),
        lbfgs=LBFGS(100),
        frozen=lambda u: u.network.layers[:-1],
        reference=reference,
        eval_every=100,
        progress=False,
    )
    loss = result.history["loss"]
    # measured once: the old network's loss on the new forcing is 4.7e3
    assert loss[-1] < 1e-2 * loss[0], (loss[0], loss[-1])
    assert result.error < 0.1 * float(reference.error(model)), result.error
    for old, new in zip(model.network.layers[:-1], result.params.network.layers[:-1], strict=True):
        np.testing.assert_array_equal(np.asarray(old.weight), np.asarray(new.weight))
    assert not np.array_equal(
        np.asarray(model.network.layers[-1].weight),
        np.asarray(result.params.network.layers[-1].weight),
    )
    with pytest.raises(ValueError, match="frozen"):
        fine_tune(model, terms, key=jax.random.key(0), trainable=eqx.is_inexact_array)


def test_select_leaves_marks_only_the_selected_arrays():
    net = MLP(1, "scalar", 4, 1, key=jax.random.key(0))
    spec = select_leaves(net, lambda m: m.layers[-1])
    assert spec.layers[-1].weight is True and spec.layers[-1].bias is True
    assert spec.layers[0].weight is False
