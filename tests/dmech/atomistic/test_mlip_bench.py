"""The mlip benchmarks report their figures (a small dataset, a short MD run)."""

import equinox as eqx
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
    # the melt: the reference melts the crystal and both sample the liquid (100 steps here).
    # This small fit (crystals at 600 K only) never saw a liquid and fuses two atoms there
    # (0.99 Å when measured): reported as a collapse, not as a stable liquid
    assert report["melt_stable"] is False
    assert report["melt_blowup_step"] == {"learned": None, "reference": None}
    collapsed = report["melt_collapsed_to_angstrom"]
    assert collapsed["reference"] is None and 0 < collapsed["learned"] < 1.5
    with pytest.raises(ValueError, match="model must be one of"):
        _run_benchmark(monkeypatch, module.mlip_si, {"model": "kernel"})


def test_fused_atoms_count_as_a_collapse():
    """A learned potential with no repulsion where it saw no data can fuse atoms without
    heating up: the benchmarks flag a pair closer than 3/4 of the inner cutoff."""
    import dmech.atomistic._benchmarks_mlip as module
    from dmech.atomistic import diamond

    crystal = diamond(5.431, 2)
    assert module._collapse("silicon", crystal) is None
    fused = crystal.positions.at[1].set(crystal.positions[0] + np.array([0.0, 0.0, 0.2]))
    distance = module._collapse("silicon", eqx.tree_at(lambda s: s.positions, crystal, fused))
    assert distance == pytest.approx(0.2, rel=1e-5)
