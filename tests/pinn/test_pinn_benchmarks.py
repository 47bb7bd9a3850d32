"""pinn benchmarks at their small presets: the report keys and finite figures."""

import math

import pytest


def _run_benchmark(monkeypatch, bench, params):
    from dmech.bench import _harness

    monkeypatch.setattr(_harness, "get_benchmark", lambda name: bench)
    return _harness.run_benchmark(bench.name, params, repeats=1, log=lambda _: None)


def _finite(value):
    return isinstance(value, float) and math.isfinite(value)


@pytest.mark.slow  # about 40 s: DeepXDE's small run included
def test_burgers_benchmark_reports_errors_by_seed_and_the_peer(monkeypatch):
    from pinn._benchmarks import pinn_burgers

    report = _run_benchmark(
        monkeypatch,
        pinn_burgers,
        {"preset": "small", "seeds": "2", "budget": "1", "eval_every": "25"},
    )
    error = report["error"]
    assert set(error["rel_l2_by_seed"]) == {"0", "1"}
    assert _finite(error["rel_l2_median"]) and error["rel_l2_median"] < 1.0
    assert all(_finite(v) for v in error["rel_l2_by_seed"].values())
    assert "seconds_to_1e-2" in report and report["seconds"] > 0
    if report["peer"] is None:
        assert "DeepXDE" in report["peer_missing"]
    else:
        assert report["peer"]["name"] == "deepxde"
        assert _finite(report["peer"]["error"]["rel_l2_median"])
        assert _finite(report["speedup_vs_peer"]) and report["speedup_vs_peer"] > 0
        assert "peer_seconds_to_1e-2" in report
        # DeepXDE's L-BFGS ran (its small budget is 50 iterations) and says why it stopped
        (iterations,) = report["peer_lbfgs_iterations_by_seed"].values()
        (stop,) = report["peer_lbfgs_stop_by_seed"].values()
        assert stop in {"max_iterations", "line_search_zero_step", "converged"}
        assert iterations == 50 or stop != "max_iterations", (iterations, stop)
        assert iterations > 2, (iterations, stop)


@pytest.mark.parametrize("conditioned", ["false", "true"])
def test_meta_benchmark_reports_steps_per_initialisation(monkeypatch, conditioned):
    from pinn._benchmarks_meta import pinn_meta_burgers

    report = _run_benchmark(
        monkeypatch, pinn_meta_burgers, {"preset": "small", "conditioned": conditioned}
    )
    assert set(report["steps_to_1e-2"]) == {"reptile", "default", "transfer"}
    assert all(_finite(v) for v in report["error"].values())
    assert all(_finite(v) for v in report["initial_rel_l2_median"].values())
    held, trained = report["held_out_viscosities"], report["training_viscosities"]
    assert not set(held) & set(trained)
    assert all(0.005 / math.pi <= v <= 0.05 / math.pi for v in held)


@pytest.mark.slow
def test_burgers_inverse_benchmark_reports_the_viscosity_error(monkeypatch):
    from pinn._benchmarks import pinn_burgers_inverse

    report = _run_benchmark(
        monkeypatch, pinn_burgers_inverse, {"preset": "small", "seeds": "2", "noise": "0.1"}
    )
    assert _finite(report["error"]["viscosity_rel"])
    assert set(report["viscosity_by_seed"]) == {"0", "1"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pinn_allen_cahn", "pinn_advection"])
def test_marching_benchmarks_report_their_error(monkeypatch, name):
    from pinn import _benchmarks_marching

    report = _run_benchmark(
        monkeypatch,
        getattr(_benchmarks_marching, name),
        {"preset": "small", "seeds": "1", "first_seed": "2"},
    )
    assert _finite(report["error"]["rel_l2_median"])
    assert set(report["error"]["rel_l2_by_seed"]) == {"2"}  # one seed per process
    assert report["settings"]["windows"] == 2 and report["seconds"] > 0


def test_marching_benchmarks_reject_a_negative_first_seed(monkeypatch):
    from pinn import _benchmarks_marching

    with pytest.raises(ValueError, match="first_seed"):
        bench = _benchmarks_marching.pinn_advection
        _run_benchmark(monkeypatch, bench, {"preset": "small", "first_seed": "-1"})
