"""The md-lj benchmark reports its figures (small size)."""

import pytest


def _run_benchmark(monkeypatch, bench, params):
    from dmech.bench import _harness

    monkeypatch.setattr(_harness, "get_benchmark", lambda name: bench)
    return _harness.run_benchmark(bench.name, params, repeats=1, log=lambda _: None)


def test_md_lj_benchmark_reports_its_figures(monkeypatch):
    from dmech.atomistic._benchmarks import md_lj

    report = _run_benchmark(
        monkeypatch,
        md_lj,
        {"atoms": "256", "steps": "100", "observe_every": "50", "ase_steps": "2"},
    )
    assert report["atom_steps_per_second"] > 0 and report["md_steps_per_second"] > 0
    assert report["peer"]["name"] == "jax-md" and report["speedup_vs_peer"] > 0
    assert report["peer_rel_diff"] < 1e-3  # the same conserved energy per atom
    assert report["error"]["energy_drift_per_atom"] < 1e-3
    if "ase_missing" not in report:
        assert report["ase_atom_steps_per_second"] > 0 and report["speedup_vs_ase"] > 0
    with pytest.raises(ValueError, match="atoms must be 4 n"):
        _run_benchmark(monkeypatch, md_lj, {"atoms": "100"})
