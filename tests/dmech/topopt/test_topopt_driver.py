"""The driver: heat conduction against the 88-line code, passive regions, beta continuation,
several load cases, and checkpoint/resume."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.data import DataFileError
from dmech.topopt import (
    ComplianceProblem,
    DensityFilter,
    Parametrisation,
    cantilever,
    cell_grid,
    heat_sink,
    mbb_beam,
    optimise,
)
from dmech.topopt._top88 import heat_element_conductivity, top88


@pytest.mark.parametrize(("filter_kind", "ft"), [("sensitivity", 1), ("density", 2)])
def test_heat_sink_matches_the_88_line_heat_variant(x64, filter_kind, ft):
    # Section 5.3 of the 88-line paper: 40 x 40, volume 0.4, p = 3, r_min = 1.2,
    # κ_min = 1e-3, a source of 0.01 at every node, the sink on the middle of the left edge.
    problem = heat_sink(40, 40, dtype=jnp.float64)
    result = optimise(
        problem,
        jnp.full(problem.mesh.num_cells, 0.4),
        volume_fraction=0.4,
        parametrisation=Parametrisation(DensityFilter(problem.mesh, 1.2), filter_kind),
    )
    x_ref, c_ref, _ = top88(40, 40, 0.4, 3.0, 1.2, ft, emin=1e-3, problem="heat")
    assert result.converged and result.iterations == len(c_ref)
    np.testing.assert_allclose(result.objective, c_ref, rtol=1e-8)
    np.testing.assert_allclose(
        cell_grid(problem.mesh, np.asarray(result.physical)).T[::-1], x_ref, atol=1e-6
    )


def test_thermal_sensitivities_equal_the_analytic_ones(x64):
    # dc/dρ_e = -p ρ_e^(p-1) (κ0 - κmin) T_eᵀ k_e T_e
    problem = heat_sink(8, 6, dtype=jnp.float64)
    rho = jnp.asarray(np.random.default_rng(0).uniform(0.2, 1.0, problem.mesh.num_cells))
    t = np.asarray(problem.temperatures(rho))[0][problem.space.element_dofs]
    ce = np.einsum("ei,ij,ej->e", t, heat_element_conductivity(), t)
    expected = -3.0 * np.asarray(rho) ** 2 * (1.0 - 1e-3) * ce
    np.testing.assert_allclose(jax.grad(problem)(rho), expected, rtol=1e-10, atol=1e-14)


def test_passive_regions_stay_solid_and_void(x64):
    # the 99-line code's passive example: a cantilever with a circular hole
    problem = cantilever(30, 20, dtype=jnp.float64)
    centroids = np.asarray(problem.mesh.points)[np.asarray(problem.mesh.cells)].mean(axis=1)
    void = np.hypot(centroids[:, 0] - 10, centroids[:, 1] - 10) < 5
    solid = centroids[:, 0] > 28  # a solid strip under the load
    parametrisation = Parametrisation(
        DensityFilter(problem.mesh, 1.5), "density", solid=solid, void=void
    )
    result = optimise(
        problem,
        jnp.full(problem.mesh.num_cells, 0.5),
        volume_fraction=0.5,
        parametrisation=parametrisation,
        max_iterations=60,
    )
    physical = np.asarray(result.physical)
    np.testing.assert_array_equal(physical[void], 0.0)
    np.testing.assert_array_equal(physical[solid], 1.0)
    np.testing.assert_array_equal(np.asarray(result.design)[void], 0.0)
    assert result.volume[-1] == pytest.approx(0.5, abs=2e-3)
    assert result.objective[-1] < 0.5 * result.objective[0]


def test_beta_continuation_sharpens_the_design(x64):
    problem = mbb_beam(30, 10, dtype=jnp.float64)
    x0 = jnp.full(problem.mesh.num_cells, 0.5)

    def grayness(rho):  # 0 for a black-and-white design, 1 for all 0.5
        return float(np.mean(4 * rho * (1 - rho)))

    common = dict(volume_fraction=0.5, max_iterations=150)
    plain = optimise(
        problem, x0, parametrisation=Parametrisation(DensityFilter(problem.mesh, 1.5)), **common
    )
    projected = optimise(
        problem,
        x0,
        parametrisation=Parametrisation(DensityFilter(problem.mesh, 1.5), eta=0.5),
        betas=(1.0, 2.0, 4.0, 8.0, 16.0),
        iterations_per_beta=25,
        **common,
    )
    assert np.all(np.diff(projected.beta) >= 0) and projected.beta[-1] == 16.0
    assert grayness(np.asarray(projected.physical)) < 0.5 * grayness(np.asarray(plain.physical))
    assert projected.volume[-1] == pytest.approx(0.5, abs=5e-3)


def test_objective_rule_stops_a_run_whose_change_never_falls(x64):
    # OC with a sharp projection: a few cells keep swinging by the move limit, so the
    # largest-change rule never fires; the objective rule ends the run once it is flat
    problem = mbb_beam(30, 10, dtype=jnp.float64)
    parametrisation = Parametrisation(DensityFilter(problem.mesh, 1.5), eta=0.5)
    common = dict(volume_fraction=0.5, parametrisation=parametrisation, betas=(8.0,))
    x0 = jnp.full(problem.mesh.num_cells, 0.5)
    budget = optimise(problem, x0, max_iterations=120, **common)
    assert budget.reason == "max_iterations" and not budget.converged
    assert np.all(budget.change[-20:] > 0.01)
    stalled = optimise(problem, x0, max_iterations=120, objective_tol=1e-3, **common)
    assert stalled.reason == "objective" and stalled.converged
    k = stalled.iterations
    assert k < 120
    # the same iterations as the run without the rule, stopped at the first window that
    # meets it
    np.testing.assert_allclose(stalled.objective, budget.objective[:k], rtol=1e-12)
    means = np.convolve(budget.objective, np.full(5, 0.2), mode="valid")  # means[i]: i..i+4
    stalled_at = np.abs(means[5:] - means[:-5]) <= 1e-3 * means[5:]  # [i]: ends at i + 9
    assert stalled_at[k - 10] and not np.any(stalled_at[: k - 10])
    with pytest.raises(ValueError, match="objective_tol"):
        optimise(problem, x0, objective_tol=-1.0, **common)
    with pytest.raises(ValueError, match="objective_window"):
        optimise(problem, x0, objective_tol=1e-3, objective_window=0, **common)


def test_two_load_cases_give_a_symmetric_design(x64):
    # the 88-line paper's section 5.2: a cantilever with loads up and down at the two right
    # corners, two load cases: the compliance is their sum and the design is symmetric
    base = cantilever(20, 10, dtype=jnp.float64)
    loads = np.zeros((2, base.space.num_dofs))
    points = np.asarray(base.mesh.points)
    top = int(np.argmin(np.hypot(points[:, 0] - 20, points[:, 1] - 10)))
    bottom = int(np.argmin(np.hypot(points[:, 0] - 20, points[:, 1])))
    loads[0, 2 * top + 1], loads[1, 2 * bottom + 1] = -1.0, 1.0
    problem = ComplianceProblem(base.space, base.dirichlet, jnp.asarray(loads), 0.3)
    rho = jnp.asarray(np.random.default_rng(1).uniform(0.3, 1.0, base.mesh.num_cells))
    single = [
        ComplianceProblem(base.space, base.dirichlet, jnp.asarray(loads[i : i + 1]), 0.3)(rho)
        for i in range(2)
    ]
    assert float(problem(rho)) == pytest.approx(float(single[0] + single[1]), rel=1e-12)
    result = optimise(
        problem,
        jnp.full(base.mesh.num_cells, 0.4),
        volume_fraction=0.4,
        parametrisation=Parametrisation(DensityFilter(base.mesh, 1.5)),
        max_iterations=40,
    )
    image = cell_grid(base.mesh, np.asarray(result.physical)).T[::-1]
    np.testing.assert_allclose(image, image[::-1], atol=1e-6)


def test_checkpoint_resume_continues_the_same_run(x64, tmp_path):
    problem = mbb_beam(20, 8, dtype=jnp.float64)
    x0 = jnp.full(problem.mesh.num_cells, 0.5)
    parametrisation = Parametrisation(DensityFilter(problem.mesh, 1.5))
    kwargs = dict(volume_fraction=0.5, parametrisation=parametrisation, tol=1e-9)
    whole = optimise(problem, x0, max_iterations=30, **kwargs)
    path = tmp_path / "mbb.dmech"
    first = optimise(problem, x0, max_iterations=17, checkpoint=path, checkpoint_every=5, **kwargs)
    assert first.iterations == 17 and path.exists()
    resumed = optimise(problem, x0, max_iterations=30, checkpoint=path, **kwargs)
    assert resumed.iterations == 30
    np.testing.assert_allclose(resumed.objective, whole.objective, rtol=1e-12)
    np.testing.assert_allclose(resumed.design, whole.design, rtol=1e-12)
    # a finished run read back from its checkpoint is returned as it was
    converged = optimise(problem, x0, max_iterations=30, checkpoint=tmp_path / "c.dmech", **{
        **kwargs, "tol": 0.2})  # fmt: skip
    again = optimise(problem, x0, max_iterations=30, checkpoint=tmp_path / "c.dmech", **{
        **kwargs, "tol": 0.2})  # fmt: skip
    assert converged.converged and again.converged and again.iterations == converged.iterations
    assert again.reason == converged.reason == "change"
    np.testing.assert_array_equal(again.physical, converged.physical)
    # a checkpoint of another problem is refused, naming what differs
    with pytest.raises(DataFileError, match="volume_fraction"):
        optimise(
            problem, x0, max_iterations=30, checkpoint=path, **{**kwargs, "volume_fraction": 0.4}
        )
