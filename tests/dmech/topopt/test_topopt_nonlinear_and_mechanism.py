"""Designs beyond linear compliance: a hyperelastic (large deformation) cantilever, the force
inverter with MMA, and a user-defined constraint."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.testing import check_grad
from dmech.topopt import (
    ComplianceProblem,
    DensityFilter,
    HyperelasticComplianceProblem,
    Parametrisation,
    cantilever,
    optimise,
)
from dmech.topopt._problems import _SOFT_SIMP


def _cantilever_pair(nelx, nely, load):
    base = cantilever(nelx, nely, dtype=jnp.float64)
    hyper = HyperelasticComplianceProblem(base.space, base.dirichlet, base.loads[0] * load, 0.3)
    linear = ComplianceProblem(
        base.space, base.dirichlet, base.loads * load, 0.3, _SOFT_SIMP, plane="strain"
    )
    return base, hyper, linear


def test_hyperelastic_compliance_tends_to_the_linear_one_and_has_exact_gradients(x64):
    base, hyper, linear = _cantilever_pair(6, 3, 1e-5)
    rho = jnp.asarray(np.random.default_rng(0).uniform(0.3, 1.0, base.mesh.num_cells))
    # small loads: the neo-Hookean solid is the linear plane-strain solid with E and ν
    assert float(hyper(rho)) == pytest.approx(float(linear(rho)), rel=1e-4)
    expected = np.asarray(jax.grad(linear)(rho))
    np.testing.assert_allclose(
        jax.grad(hyper)(rho), expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max()
    )
    _, hyper, _ = _cantilever_pair(6, 3, 0.05)  # large deflection: stiffening
    check_grad(hyper, rho, mode="reverse")


def test_hyperelastic_design_beats_the_linear_design_at_large_deformation(x64):
    base, hyper, linear = _cantilever_pair(24, 8, 0.02)
    parametrisation = Parametrisation(DensityFilter(base.mesh, 1.5))
    designs = {}
    for name, problem in (("linear", linear), ("hyper", hyper)):
        result = optimise(
            problem,
            jnp.full(base.mesh.num_cells, 0.5),
            volume_fraction=0.5,
            parametrisation=parametrisation,
            max_iterations=30,
        )
        assert result.volume[-1] == pytest.approx(0.5, abs=1e-3)
        designs[name] = result.physical
    # judged by the large-deformation end compliance, the design that knew about it wins
    assert float(hyper(designs["hyper"])) < 0.95 * float(hyper(designs["linear"]))
