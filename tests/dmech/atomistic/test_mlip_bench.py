"""The mlip benchmarks report their figures (a small dataset, a short MD run)."""

import numpy as np
import pytest

from dmech.atomistic import reference_dataset


def _run_benchmark(monkeypatch, bench, params):
    from dmech.bench import _harness

    monkeypatch.setattr(_harness, "get_benchmark", lambda name: bench)
    return _harness.run_benchmark(bench.name, params, repeats=1, log=lambda _: None)


def test_mlip_benchmarks_reject_bad_parameters(monkeypatch):
    import dmech.atomistic._benchmarks_mlip as module

    for bench in (module.mlip_si, module.mlip_alloy):
        with pytest.raises(ValueError, match="model must be one of"):
            _run_benchmark(monkeypatch, bench, {"model": "kernel"})
        with pytest.raises(ValueError, match="md_steps a positive multiple of 100"):
            _run_benchmark(monkeypatch, bench, {"md_steps": "150"})


@pytest.mark.slow  # reference data, a fit, MD and two melts: ~110 s (the benchmark: full size)
def test_mlip_si_benchmark_reports_its_figures(monkeypatch, tmp_path):
    import dmech.atomistic._benchmarks_mlip as module

    monkeypatch.setenv("DMECH_CACHE_DIR", str(tmp_path))
    small = {"temperatures": (600.0,), "strains": (0.01,), "vacancies": (), "liquid": False,
             "frames_per_condition": 3, "sample_every": 10, "equilibration_steps": 20,
             "progress": False}  # fmt: skip
    monkeypatch.setattr(module, "reference_dataset", lambda name: reference_dataset(name, **small))
    report = _run_benchmark(monkeypatch, module.mlip_si, {"md_steps": "100", "elastic": "false"})
    error = report["error"]
    assert error["energy_mae_mev_per_atom"] < 5 and error["force_mae_mev_per_angstrom"] < 50
    assert report["md_steps_per_second"] > 0 and report["md_stable"]
    assert report["md_stable_10k"] is False  # 100 steps do not prove 10k
    assert report["train_seconds"] > 0
    # the melt: both potentials melt the crystal and sample the liquid (100 steps here)
    assert report["melt_stable"]
    assert 0 <= report["melt_rdf_max_abs_diff"] < 10
    for name in ("learned", "reference"):
        assert 2.0 < report["melt_rdf_peak_angstrom"][name] < 3.0  # Si-Si bonds: 2.35-2.5 Å
        assert np.isfinite(report["melt_diffusion_a2_per_ps"][name])
    with pytest.raises(ValueError, match="model must be one of"):
        _run_benchmark(monkeypatch, module.mlip_si, {"model": "kernel"})
