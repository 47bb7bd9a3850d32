"""pinn meta-learning: Reptile learns an initialisation that adapts faster to a held-out task
of a family than the default one; the inner loop equals a hand-written optax loop; runs are
functions of their key."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dmech.nn import MLP
from pinn._conditions import HardConstraint
from pinn._derivatives import laplacian
from pinn._meta import Reptile, adapt, reptile

POINTS = jnp.linspace(-1.0, 1.0, 32)[:, None]


def _family_loss(model, amplitude):
    """-u'' = a π² sin πx on [-1, 1], u(±1) = 0 built in (u = a sin πx)."""

    def residual(x):
        source = amplitude * jnp.pi**2 * jnp.sin(jnp.pi * x[0])
        return -laplacian(model, x) - source

    values = jax.vmap(residual)(POINTS)
    return jnp.mean(values**2)


def _model(seed=0):
    net = MLP(1, "scalar", 16, 1, key=jax.random.key(seed))
    return HardConstraint(net, 0.0, lambda x: 1 - x[0] ** 2)


def _sample(key):  # training tasks: a in [1, 2]
    return jax.random.uniform(key, (), minval=1.0, maxval=2.0)


def test_reptile_initialisation_adapts_faster_to_a_held_out_task():
    model = _model()
    config = Reptile(inner_steps=5, inner_learning_rate=1e-2, outer_step_size=0.5)
    result = reptile(
        model, _family_loss, _sample, key=jax.random.key(1), outer_steps=150, config=config
    )
    held_out = jnp.asarray(1.37)
    k = 5
    losses = {}
    for name, init in (("reptile", result.params), ("default", model)):
        _, history = adapt(init, _family_loss, held_out, steps=k + 1, optimizer=optax.adam(1e-2))
        losses[name] = float(history[-1])  # the loss after k steps
    # the margin: at least 20x lower after k steps (seeded)
    assert losses["reptile"] < 0.05 * losses["default"], losses
    before, after = result.history["loss_before"], result.history["loss_after"]
    assert before.shape == (150,) and np.all(np.isfinite(after))
    # measured: the mean task loss at the start of the inner loops falls 6x (49 -> 7.6)
    assert np.mean(before[-20:]) < 0.3 * np.mean(before[:20])


def test_reptile_is_a_function_of_its_key():
    config = Reptile(inner_steps=2, inner_learning_rate=1e-2, tasks_per_step=2)
    a = reptile(
        _model(),
        _family_loss,
        _sample,
        key=jax.random.key(3),
        outer_steps=6,
        config=config,
        steps_per_call=4,
    )
    b = reptile(
        _model(),
        _family_loss,
        _sample,
        key=jax.random.key(3),
        outer_steps=6,
        config=config,
        steps_per_call=6,
    )
    np.testing.assert_array_equal(a.history["loss_after"], b.history["loss_after"])
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_one_outer_step_moves_the_initialisation_by_epsilon_towards_the_adapted_weights():
    model = _model()
    config = Reptile(
        inner_steps=3,
        inner_learning_rate=1e-2,
        outer_step_size=0.25,
        inner_optimizer="sgd",
        anneal=False,
    )
    key = jax.random.key(4)
    result = reptile(model, _family_loss, _sample, key=key, outer_steps=1, config=config)
    # the task the first outer step drew, and the inner loop by hand (plain SGD)
    task = _sample(jax.random.split(jax.random.fold_in(key, 0), 1)[0])
    diff, static = eqx.partition(model, eqx.is_inexact_array)
    for _ in range(3):
        grads = jax.grad(lambda d: _family_loss(eqx.combine(d, static), task))(diff)
        diff = jax.tree.map(lambda p, g: p - 1e-2 * g, diff, grads)
    arrays = lambda m: jax.tree.leaves(eqx.filter(m, eqx.is_inexact_array))  # noqa: E731
    for theta, phi, new in zip(arrays(model), arrays(diff), arrays(result.params), strict=True):
        np.testing.assert_allclose(
            np.asarray(new), np.asarray(theta + 0.25 * (phi - theta)), rtol=1e-5, atol=1e-6
        )


def test_reptile_checks_its_arguments():
    with pytest.raises(ValueError, match="inner_steps"):
        Reptile(inner_steps=0)
    with pytest.raises(ValueError, match="outer_step_size"):
        Reptile(outer_step_size=1.5)
    with pytest.raises(ValueError, match="inner_optimizer"):
        Reptile(inner_optimizer="lbfgs")
    with pytest.raises(ValueError, match="outer_steps"):
        reptile(_model(), _family_loss, _sample, key=jax.random.key(0), outer_steps=0)
    with pytest.raises(TypeError, match="task_loss"):
        reptile(_model(), None, _sample, key=jax.random.key(0), outer_steps=1)
