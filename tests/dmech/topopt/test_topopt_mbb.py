"""The MBB half-beam against the 88-line code (Andreassen et al. 2011) and its sensitivities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.topopt import DensityFilter, Parametrisation, cell_grid, mbb_beam, optimise, simp
from dmech.topopt._top88 import element_stiffness, top88


@pytest.mark.parametrize(
    ("filter_kind", "ft", "compliance", "iterations"),
    [("sensitivity", 1, 203.19, 94), ("density", 2, 218.80, 127)],
)
def test_mbb_matches_the_88_line_code(x64, filter_kind, ft, compliance, iterations):
    # The published setup: 60 x 20, volume fraction 0.5, p = 3, r_min = 1.5, E0 = 1,
    # Emin = 1e-9, nu = 0.3, OC with move 0.2, stop at a largest change of 0.01.
    problem = mbb_beam(60, 20, dtype=jnp.float64)
    result = optimise(
        problem,
        jnp.full(problem.mesh.num_cells, 0.5),
        volume_fraction=0.5,
        parametrisation=Parametrisation(DensityFilter(problem.mesh, 1.5), filter_kind),
    )
    assert result.converged
    assert result.objective[-1] == pytest.approx(compliance, rel=5e-3)
    assert result.iterations == iterations
    # the same design as our NumPy port of the 88-line code (its own numbering and stiffness)
    x_ref, c_ref, _ = top88(60, 20, 0.5, 3.0, 1.5, ft)
    assert len(c_ref) == iterations and c_ref[-1] == pytest.approx(compliance, rel=5e-5)
    np.testing.assert_allclose(result.objective, c_ref, rtol=1e-8)
    np.testing.assert_allclose(
        cell_grid(problem.mesh, np.asarray(result.physical)).T[::-1], x_ref, atol=1e-6
    )
    assert result.volume[-1] == pytest.approx(0.5, abs=1e-3)


def test_grad_sensitivities_equal_the_analytic_simp_sensitivities(x64):
    # dc/dρ_e = -p ρ_e^(p-1) (E0 - Emin) u_eᵀ k_e u_e for compliance under SIMP.
    problem = mbb_beam(12, 4, dtype=jnp.float64)
    rho = jnp.asarray(np.random.default_rng(0).uniform(0.2, 1.0, problem.mesh.num_cells))
    gradient = jax.grad(problem)(rho)
    u = np.asarray(problem.displacements(rho))[0]
    ue = u[problem.space.element_dofs]  # (cells, 8), nodes counter-clockwise from lower left
    # the 88-line element matrix numbers its nodes from the lower left too, counter-clockwise
    ke = element_stiffness(0.3)
    ce = np.einsum("ei,ij,ej->e", ue, ke, ue)
    expected = -3.0 * np.asarray(rho) ** 2 * (1.0 - 1e-9) * ce
    # equal to the round-off of the sparse solve
    np.testing.assert_allclose(gradient, expected, rtol=1e-9, atol=1e-12 * np.abs(expected).max())
    assert float(problem(rho)) == pytest.approx(
        float(np.sum(np.asarray(simp(rho)) * ce)), rel=1e-10
    )
