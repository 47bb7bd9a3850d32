import pytest

from dmech.bench import run_benchmark

KEYS = {
    "dofs",
    "assembly_seconds",
    "solve_seconds",
    "adjoint_seconds",
    "adjoint_over_forward",
    "peer_rel_diff",
    "speedup_vs_peer",
    "peak_memory_mb",
}


@pytest.mark.parametrize(
    ("name", "dofs"), [("fem-elasticity-2d", "800"), ("fem-elasticity-3d", "600")]
)
def test_fem_benchmarks_report_their_figures_and_agree_with_scikit_fem(name, dofs):
    pytest.importorskip("skfem", reason="scikit-fem is in the test extra")
    report = run_benchmark(name, {"dofs": dofs}, repeats=1, log=lambda _: None)
    assert KEYS <= set(report)
    assert report["peer"]["name"] == "scikit-fem"
    assert report["peer_rel_diff"] < 1e-8  # the same answer as scikit-fem on the same mesh
    assert report["error"]["relative_residual"] < 1e-10
    assert report["peer"]["error"]["relative_residual"] < 1e-10
    assert 0.5 * int(dofs) < report["dofs"] < 2 * int(dofs)
    # The timed gradient factorised once: its adjoint solve reused the forward's factors.
    assert report["adjoint_factorisations"] == 1
    assert report["forward_seconds"] <= report["assembly_seconds"] + report["solve_seconds"] + 1e-9


def test_hyperelastic_benchmark_agrees_with_scikit_fem_newton():
    pytest.importorskip("skfem", reason="scikit-fem is in the test extra")
    report = run_benchmark(
        "fem-hyperelastic-3d", {"dofs": "600", "solver": "superlu"}, repeats=1, log=lambda _: None
    )
    assert KEYS <= set(report)
    assert report["peer_rel_diff"] < 1e-8  # the same Newton solution on the same mesh
    assert report["newton_iterations"] == report["peer_newton_iterations"]
    assert report["error"]["tip_deflection"] < -0.1  # a large deflection
