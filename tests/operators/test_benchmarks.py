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
        "fno_navier_stokes": dict(n_train=2, n_test=1, resolution=16, eval_resolutions="32",
                                  solver_resolution=32, final_time=12.0, modes=4, width=4,
                                  epochs=1, batch_size=1, speed_resolution=64,
                                  solver_timing_steps=10),
    }[name]  # fmt: skip
    report = _run_benchmark(monkeypatch, tmp_path, getattr(benchmarks, name), params)
    assert np.isfinite(report["error"]["rel_l2"]) and report["surrogate_speedup_vs_solver"] > 0


def test_navier_stokes_resolutions_must_divide_the_finest():
    """The evaluation sets are subsamples of one solve: a resolution that does not divide the
    finest is refused before any data is generated."""
    from operators._benchmarks import fno_navier_stokes

    params = {**fno_navier_stokes.params, "resolution": 24, "eval_resolutions": "32"}
    with pytest.raises(ValueError, match="eval_resolutions must divide"):
        fno_navier_stokes.setup(**params)


def _tiny_problem():
    from operators._benchmarks import _fno
    from operators._benchmarks_training import TrainingProblem

    x = np.random.default_rng(0).standard_normal((8, 1, 16)).astype(np.float32)
    y = np.cumsum(x, axis=-1) / 4
    model = _fno(1, 1, 4, 4, 0.0, seed=0)
    return TrainingProblem(model, (x, y), {16: (x, y)}, 16, lambda m, v: jax.vmap(m)(v))


class _Interrupted(Exception):
    pass


def test_training_resumes_from_its_checkpoint(monkeypatch, tmp_path):
    """An interrupted timed training, started again with the same checkpoint, ends where an
    uninterrupted one does; the seconds per epoch count the epochs each process trained."""
    import json

    import equinox as eqx

    from operators import _benchmarks_training as training

    monkeypatch.setattr(training, "CHECKPOINT_EVERY_EPOCHS", 2)
    problem = _tiny_problem()
    options = dict(epochs=5, batch_size=4, seed=1)
    whole = training.train_dmech(problem, **options)

    fit = training.fit

    def interrupted_fit(*args, **kwargs):
        def stop(step, model, logs):
            if step == 3 * 2:  # epoch 3 (2 steps per epoch), after the epoch-2 checkpoint
                raise _Interrupted

        return fit(*args, callback=stop, **kwargs)

    path = tmp_path / "fno.ckpt"
    stale = {
        "dmech": {"epochs": 100, "seconds": 1e6},
        "neuraloperator": {"epochs": 1, "seconds": 1},
    }
    (tmp_path / "fno.ckpt.timing.json").write_text(json.dumps(stale))  # from an earlier run
    monkeypatch.setattr(training, "fit", interrupted_fit)
    with pytest.raises(_Interrupted):
        training.train_dmech(problem, checkpoint=path, **options)
    monkeypatch.setattr(training, "fit", fit)
    resumed = training.train_dmech(problem, checkpoint=path, **options)

    for a, b in zip(
        jax.tree.leaves(eqx.filter(whole.value, eqx.is_array)),
        jax.tree.leaves(eqx.filter(resumed.value, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    records = json.loads((tmp_path / "fno.ckpt.timing.json").read_text())
    clock = records["dmech"]  # the stale record went when the interrupted run started afresh
    assert clock["epochs"] == 3 and resumed.seconds == pytest.approx(clock["seconds"] / 3)
    assert records["neuraloperator"] == stale["neuraloperator"]  # the other library's is kept
    again = training.train_dmech(problem, checkpoint=path, **options)  # finished: no training
    assert again.seconds == resumed.seconds


def test_peer_training_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    import json

    torch = pytest.importorskip("torch")
    from operators import _benchmarks_training as training

    monkeypatch.setattr(training, "CHECKPOINT_EVERY_EPOCHS", 2)
    problem = _tiny_problem()
    options = dict(epochs=5, batch_size=4, seed=1)

    def module():
        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(16, 16), torch.nn.Unflatten(1, (1, 16))
        )

    whole = training.train_torch(module(), problem.train, **options)
    calls = {"n": 0}

    def interrupting(m, x):
        calls["n"] += 1
        if calls["n"] > 3 * 2:  # inside epoch 4, after the epoch-2 checkpoint
            raise _Interrupted
        return m(x)

    path = tmp_path / "peer.pt"
    with pytest.raises(_Interrupted):
        training.train_torch(
            module(), problem.train, checkpoint=path, predict=interrupting, **options
        )
    resumed = training.train_torch(module(), problem.train, checkpoint=path, **options)
    for a, b in zip(whole.value.parameters(), resumed.value.parameters(), strict=True):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    timing = json.loads((tmp_path / "peer.pt.timing.json").read_text())
    assert timing["neuraloperator"]["epochs"] == 3  # the resumed process trained epochs 3-5
    with pytest.raises(ValueError, match="another run"):
        training.train_torch(
            module(), problem.train, checkpoint=path, epochs=6, batch_size=4, seed=1
        )
