"""pinn: training (Adam, L-BFGS, checkpoints), hard-constrained Poisson and Helmholtz, inverse
problems, strategies, argument checks."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.nn import MLP
from pinn._conditions import HardConstraint, dirichlet, initial
from pinn._derivatives import laplacian, partial_derivative
from pinn._domains import SpaceTime, interval, rectangle
from pinn._inverse import PositiveParameter, noisy_observations, observation_residual
from pinn._networks import ModifiedMLP
from pinn._problem import Term
from pinn._references import (
    diffusion_solution,
    diffusion_source,
    helmholtz_source,
    poisson_source,
    sine_solution,
    space_time_points,
)
from pinn._samplers import ResidualAdaptiveSampler, Sampler
from pinn._strategies import train_curriculum, train_time_marching
from pinn._training import LBFGS, STOP_REASONS, Adam, Reference, train


def _u(params, x):
    return params(x)


def test_poisson_1d_with_a_hard_constraint_reaches_its_stated_error(x64):
    """-u'' = f on [-1, 1], u = sin(2πx), u(±1) = 0 built in: u = (1 - x²) N(x)."""
    domain = interval(-1.0, 1.0)
    net = MLP(1, "scalar", 32, 2, key=jax.random.key(0), dtype=jnp.float64)
    model = HardConstraint(net, 0.0, domain.distance)

    def residual(p, x):
        return -laplacian(lambda y: _u(p, y), x) - poisson_source(x, 2.0)

    x = jnp.linspace(-1, 1, 201, dtype=jnp.float64)[:, None]
    reference = Reference(_u, x, jax.vmap(lambda y: sine_solution(y, 2.0))(x))
    terms = {"pde": Term(residual, sampler=Sampler(domain, 64, method="sobol"))}
    result = train(model, terms, key=jax.random.key(1), adam=Adam(0), lbfgs=LBFGS(2000),
                   reference=reference, eval_every=100)  # fmt: skip
    # float64: in float32 L-BFGS stops where no step decreases the rounded loss, after 170 to
    # 400 iterations depending on the CPU's rounding (errors 1e-4 to 8e-4 over network seeds).
    # Measured in float64: 3.4e-5, 7.9e-5, 8.1e-5 for network seeds 0, 1, 2
    assert result.error < 3e-4, result.error
    assert result.stop_reason in STOP_REASONS and result.lbfgs_iterations > 100
    history = result.history
    assert history["loss"].shape == (result.lbfgs_iterations,)
    assert np.all(history["phase"] == 1) and np.all(np.diff(history["seconds"]) >= 0)
    assert history["rel_l2"][-1] == result.error


def test_helmholtz_2d_with_a_hard_constraint_reaches_its_stated_error(x64):
    """Δu + u = q on [-1, 1]², u = sin(πx) sin(4πy) (Wang, Teng and Perdikaris 2021), with
    u = 0 on the boundary built in (u = d N, d the box's distance function)."""
    domain = rectangle((-1.0, -1.0), (1.0, 1.0))
    net = ModifiedMLP(2, "scalar", 32, 2, key=jax.random.key(0), dtype=jnp.float64)
    model = HardConstraint(net, 0.0, domain.distance)

    def residual(p, x):
        return laplacian(lambda y: _u(p, y), x) + _u(p, x) - helmholtz_source(x, (1.0, 4.0), 1.0)

    g = jnp.linspace(-1, 1, 51, dtype=jnp.float64)
    x = jnp.stack(jnp.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    reference = Reference(_u, x, jax.vmap(lambda y: sine_solution(y, (1.0, 4.0)))(x))
    terms = {"pde": Term(residual, sampler=Sampler(domain, 256, method="sobol"))}
    result = train(model, terms, key=jax.random.key(1), adam=Adam(0), lbfgs=LBFGS(1500),
                   reference=reference, eval_every=500)  # fmt: skip
    # measured (float64): 5.9e-3 and 3.7e-3 for network seeds 0 and 1
    assert result.error < 2e-2, result.error


def test_lbfgs_reports_why_it_stopped_and_redraws_points_between_rounds(x64):
    """A least-squares fit with an exact solution (data and the equation y'' = -1) stops at
    its gradient tolerance; with a smaller budget, at the budget; in rounds, with new
    residual-adaptive points for the equation after each."""
    x = jnp.linspace(-1, 1, 32, dtype=jnp.float64)[:, None]
    y = 1.0 + 2.0 * x[:, 0] - 0.5 * x[:, 0] ** 2
    params = {"c": jnp.zeros(3, jnp.float64)}

    def model(p, x):
        return p["c"][0] + p["c"][1] * x[0] + p["c"][2] * x[0] ** 2

    def equation(p, x):
        return partial_derivative(lambda z: model(p, z), x, (0, 0)) + 1.0

    sampler = ResidualAdaptiveSampler(interval(-1.0, 1.0), 8, num_candidates=64, every=10)
    terms = {
        "data": Term(observation_residual(model), points=(x, y)),
        "equation": Term(equation, sampler=sampler),
    }
    options = {"key": jax.random.key(0), "adam": Adam(0), "eval_every": 50}
    result = train(params, terms, lbfgs=LBFGS(100, gradient_tolerance=1e-10), **options)
    assert result.stop_reason == "gradient_tolerance", result.stop_message
    np.testing.assert_allclose(result.params["c"], [1.0, 2.0, -0.5], atol=1e-8)
    short = train(params, terms, lbfgs=LBFGS(2, gradient_tolerance=1e-10), **options)
    assert short.stop_reason == "max_iterations" and short.lbfgs_iterations == 2
    assert "budget" in short.stop_message
    start = short.points["equation"]
    rounds = train(params, terms, lbfgs=LBFGS(6, gradient_tolerance=1e-10, resample_every=2),
                   **options)  # fmt: skip
    assert rounds.stop_reason == "max_iterations" and rounds.lbfgs_iterations == 6
    assert not np.allclose(rounds.points["equation"], start)  # redrawn after rounds 1 and 2
    np.testing.assert_array_equal(rounds.points["data"][0], x)


def test_training_resumes_from_a_checkpoint_exactly(tmp_path):
    domain = interval(0.0, 1.0)
    net = MLP(1, "scalar", 8, 1, key=jax.random.key(0))

    def residual(p, x):
        return partial_derivative(lambda y: _u(p, y), x, 0) - jnp.cos(x[0])

    terms = {
        "ode": Term(residual, sampler=Sampler(domain, 16, every=1)),
        "bc": Term(dirichlet(_u, 0.0), points=jnp.zeros((1, 1))),
    }
    options = {"key": jax.random.key(3), "adam": Adam(40, 1e-2), "eval_every": 10}
    straight = train(net, terms, **options)

    class Interrupt(Exception):
        pass

    def stop_at_20(step, params, logs):
        if step == 20:
            raise Interrupt

    path = tmp_path / "run.dmech"
    with pytest.raises(Interrupt):
        train(net, terms, checkpoint=path, checkpoint_every=20, callback=stop_at_20, **options)
    resumed = train(net, terms, checkpoint=path, checkpoint_every=20, **options)
    assert resumed.resumed_from == 20
    for a, b in zip(jax.tree_util.tree_leaves(eqx.filter(straight.params, eqx.is_array)),
                    jax.tree_util.tree_leaves(eqx.filter(resumed.params, eqx.is_array)),
                    strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(straight.history["loss"], resumed.history["loss"])
    # the run stops between chunks at its time limit or its target error, and says so
    timed = train(net, terms, time_limit=1e-9, **options)
    assert timed.stop_reason == "time_limit" and timed.adam_steps == 10
    x = jnp.linspace(0, 1, 11)[:, None]
    reference = Reference(_u, x, jnp.sin(x[:, 0]))
    targeted = train(net, terms, reference=reference, target_error=10.0, **options)
    assert targeted.stop_reason == "target_error" and targeted.adam_steps == 10
    assert targeted.history["rel_l2"].shape == (1,)


def test_train_rejects_bad_input():
    net = MLP(1, "scalar", 4, 1, key=jax.random.key(0))
    term = Term(dirichlet(_u, 0.0), points=jnp.zeros((2, 1)))
    key = jax.random.key(0)
    with pytest.raises(TypeError, match="terms"):
        train(net, {}, key=key)
    with pytest.raises(TypeError, match="terms"):
        train(net, {"a": 1.0}, key=key)
    with pytest.raises(ValueError, match="`steps`"):
        Adam(-1)
    with pytest.raises(ValueError, match="`decay_rate`"):
        Adam(10, decay_rate=2.0)
    with pytest.raises(ValueError, match="`max_iterations`"):
        LBFGS(-5)
    with pytest.raises(ValueError, match="`target_error`"):
        train(net, {"a": term}, key=key, target_error=1e-3)
    with pytest.raises(ValueError, match="`checkpoint`"):
        train(net, {"a": term}, key=key, checkpoint="x.dmech")
    with pytest.raises(ValueError, match="`eval_every`"):
        train(net, {"a": term}, key=key, eval_every=0)
    with pytest.raises(ValueError, match="`trainable`"):
        train(net, {"a": term}, key=key, trainable=lambda leaf: False)
    with pytest.raises(ValueError, match="sampler"):
        Term(dirichlet(_u, 0.0))
    with pytest.raises(ValueError, match="`points`"):
        Term(dirichlet(_u, 0.0), points=(jnp.zeros((2, 1)), jnp.zeros(3)))
    with pytest.raises(ValueError, match="`weight`"):
        Term(dirichlet(_u, 0.0), points=jnp.zeros((2, 1)), weight=0.0)
    with pytest.raises(ValueError, match="`value`"):
        PositiveParameter(-1.0)
    with pytest.raises(ValueError, match="`noise`"):
        noisy_observations(key, jnp.ones(3), -0.1)


def _diffusion_inverse(noise, steps, lbfgs, seed=0):
    """u_t = C u_xx - e^{-t}(sin πx - π² sin πx) on [-1, 1] × [0, 1], u = e^{-t} sin πx, from
    observations of u; C unknown (true 1, start 2), log-parametrised."""
    domain = SpaceTime(interval(-1.0, 1.0), 0.0, 1.0)
    params = {
        "u": MLP(2, "scalar", 32, 3, key=jax.random.key(seed)),
        "C": PositiveParameter(2.0),
    }

    def u(p, x):
        return p["u"](x)

    def pde(p, x):
        f = lambda y: u(p, y)  # noqa: E731
        u_t = partial_derivative(f, x, 1)
        u_xx = partial_derivative(f, x, (0, 0))
        return u_t - p["C"].value * u_xx - diffusion_source(x)

    obs_x = domain.sample(jax.random.key(100 + seed), 400, method="lhs")
    obs_u = jax.vmap(diffusion_solution)(obs_x)
    obs_u = noisy_observations(jax.random.key(200 + seed), obs_u, noise)
    terms = {
        "pde": Term(pde, sampler=Sampler(domain, 1000, method="sobol")),
        "ic": Term(initial(u, lambda x: jnp.sin(jnp.pi * x[0])),
                   sampler=Sampler(domain, 100, where="initial")),
        "bc": Term(dirichlet(u, 0.0), sampler=Sampler(domain, 100, where="boundary")),
        "data": Term(observation_residual(u), points=(obs_x, obs_u)),
    }  # fmt: skip
    grid = space_time_points(jnp.linspace(-1, 1, 41), jnp.linspace(0, 1, 21))
    reference = Reference(u, grid, jax.vmap(diffusion_solution)(grid))
    return train(params, terms, key=jax.random.key(seed), adam=Adam(steps, 2e-3),
                 lbfgs=LBFGS(lbfgs), reference=reference, eval_every=500)  # fmt: skip


@pytest.mark.slow
def test_diffusion_inverse_problem_recovers_the_coefficient():
    result = _diffusion_inverse(noise=0.01, steps=2000, lbfgs=1000)
    estimate = float(result.params["C"].value)
    # measured: C = 0.99882 (1 % noise), relative L2 error of u 1.7e-3
    assert abs(estimate - 1.0) < 0.01, estimate
    assert result.error < 1e-2


@pytest.mark.slow
def test_time_marching_and_curriculum_run_in_order():
    """u_t = -λ u, u(0) = 1 (x a dummy coordinate) by two time windows, and a curriculum in λ."""
    space = interval(0.0, 1.0)

    def make_terms(t0, t1, previous, rate=1.0):
        domain = SpaceTime(space, t0, t1)

        def ode(p, x):
            return partial_derivative(lambda y: _u(p, y), x, 1) + rate * _u(p, x)

        start = 1.0 if previous is None else previous
        return {
            "ode": Term(ode, sampler=Sampler(domain, 64, method="sobol")),
            "ic": Term(initial(_u, start), sampler=Sampler(domain, 16, where="initial")),
        }

    net = MLP(2, "scalar", 16, 2, key=jax.random.key(0))
    marching = train_time_marching(make_terms, net, _u, [0.0, 0.5, 1.0], key=jax.random.key(1),
                                   adam=Adam(0), lbfgs=LBFGS(300))  # fmt: skip
    t = jnp.linspace(0, 1, 11)
    values = jax.vmap(marching)(jnp.stack([0.5 * jnp.ones(11), t], 1))
    np.testing.assert_allclose(values, jnp.exp(-t), atol=3e-4)  # measured 2.8e-5
    stages = train_curriculum(lambda rate: make_terms(0.0, 1.0, None, rate), net, [0.5, 2.0],
                              key=jax.random.key(2), adam=Adam(0), lbfgs=LBFGS(300))  # fmt: skip
    final = jax.vmap(lambda x: _u(stages[-1].params, x))(jnp.stack([0.5 * jnp.ones(11), t], 1))
    np.testing.assert_allclose(final, jnp.exp(-2 * t), atol=3e-4)  # measured 1.5e-5


def test_adam_schedule_warms_up_then_decays_exponentially():
    schedule = Adam(100, 1e-3, warmup_steps=10, decay_rate=0.5, decay_steps=20).schedule()
    steps = np.asarray([0, 5, 10, 30, 50])
    values = np.asarray([float(schedule(s)) for s in steps])
    np.testing.assert_allclose(values, [0.0, 5e-4, 1e-3, 5e-4, 2.5e-4], rtol=1e-6)
    assert float(Adam(10, 2e-3).schedule()(0)) == pytest.approx(2e-3)
