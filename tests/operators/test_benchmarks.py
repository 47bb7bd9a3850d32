"""Tests of the operator benchmarks (operators/_benchmarks.py, _benchmarks_training.py): each
runs at a tiny size through the harness without being registered; the neuraloperator peer
starts from our initial weights and computes the same function there."""

import jax
import numpy as np
import pytest


def _run_benchmark(monkeypatch, tmp_path, bench, params):
    from dmech.bench import _harness

    monkeypatch.setenv("DMECH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_harness, "get_benchmark", lambda name: bench)
    return _harness.run_benchmark(
        bench.name, {k: str(v) for k, v in params.items()}, repeats=1, log=lambda _: None
    )


def test_peer_twin_computes_the_same_function_at_initialisation():
    pytest.importorskip("neuralop")
    import torch

    from operators._benchmarks import _fno, _fno_peer_factory

    model = _fno(1, 2, 4, 8, 0.0, seed=0)
    peer = _fno_peer_factory(model, 0.0)()
    x = np.random.default_rng(0).standard_normal((2, 1, 16, 16)).astype(np.float32)
    ours = np.asarray(jax.vmap(model)(x))
    with torch.no_grad():
        theirs = peer(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5 * np.abs(ours).max())


@pytest.mark.slow
def test_fno_darcy_benchmark_reports_every_key(monkeypatch, tmp_path):
    from operators._benchmarks import fno_darcy

    params = dict(n_train=4, n_test=2, resolution=15, eval_resolutions="29",
                  solver_resolution=29, modes=4, width=8, epochs=2, batch_size=2)  # fmt: skip
    report = _run_benchmark(monkeypatch, tmp_path, fno_darcy, params)
    assert set(report["rel_l2_by_resolution"]) == {"15", "29"}
    assert report["error"]["rel_l2"] == report["rel_l2_by_resolution"]["15"]
    assert 0 < report["error"]["rel_l2"] < 2 and np.isfinite(
        report["error"]["rel_l2_by_resolution"]["29"]
    )
    assert report["seconds_per_epoch"] > 0 and report["inference_seconds_per_sample"] > 0
    assert report["surrogate_speedup_vs_solver"] > 0 and report["epochs"] == 2
    if report["peer"] is None:
        assert "not installed" in report["peer_missing"]
    else:
        assert report["peer"]["name"] == "neuraloperator"
        assert np.isfinite(report["peer"]["error"]["rel_l2"])
        assert report["speedup_vs_peer"] > 0 and report["peer_seconds_per_epoch"] > 0


@pytest.mark.slow
def test_unet_elasticity_benchmark_has_no_peer(monkeypatch, tmp_path):
    from operators._benchmarks import unet_elasticity

    params = dict(n_train=4, n_test=2, resolution=16, width=4, levels=2, epochs=2, batch_size=2)
    report = _run_benchmark(monkeypatch, tmp_path, unet_elasticity, params)
    assert report["peer"] is None and "no peer" in report["peer_missing"]
    assert list(report["rel_l2_by_resolution"]) == ["16"]
    assert 0 < report["error"]["rel_l2"] < 5 and report["solver_seconds_per_sample"] > 0


def test_bad_resolutions_are_named():
    from operators._benchmarks_training import parse_resolutions

    assert parse_resolutions("141, 211") == (141, 211)
    with pytest.raises(ValueError, match="eval_resolutions"):
        parse_resolutions("85,x")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fno_burgers", "deeponet_burgers", "fno_navier_stokes"])
def test_other_benchmarks_run(monkeypatch, tmp_path, name):
    import operators._benchmarks as benchmarks

    params = {
        "fno_burgers": dict(n_train=4, n_test=2, resolution=64, eval_resolutions="128",
                            solver_resolution=128, modes=8, width=8, epochs=1, batch_size=2),
        "deeponet_burgers": dict(n_train=4, n_test=2, resolution=32, eval_resolutions="128",
                                 solver_resolution=128, latent_size=8, width=8, epochs=1,
                                 batch_size=2),
        "fno_navier_stokes": dict(n_train=2, n_test=1, resolution=32, eval_resolutions="",
                                  solver_resolution=32, final_time=12.0, modes=4, width=4,
                                  epochs=1, batch_size=1, speed_resolution=64,
                                  solver_timing_steps=10),
    }[name]  # fmt: skip
    report = _run_benchmark(monkeypatch, tmp_path, getattr(benchmarks, name), params)
    assert np.isfinite(report["error"]["rel_l2"]) and report["surrogate_speedup_vs_solver"] > 0
