import json
import subprocess
import sys
import time

import numpy as np
import pytest

from dmech import cli
from dmech.bench import Benchmark, BenchmarkError, Case, Measured, Peer, _harness, run_benchmark

SCHEMA = {
    "name",
    "params",
    "seconds",
    "repeats",
    "error",
    "reference",
    "peak_memory_mb",
    "device",
    "versions",
    "peer",
    "peer_missing",
    "speedup_vs_peer",
    "peer_rel_diff",
    "compile_seconds",
}


class _EntryPoint:
    def __init__(self, name, obj):
        self.name, self.value, self._obj = name, f"tests:{name}", obj

    def load(self):
        if isinstance(self._obj, Exception):
            raise self._obj
        return self._obj


def _toy_setup(size, scale, label, with_peer):
    answer = np.arange(size) * scale

    def run():
        time.sleep(0.01)
        return answer

    peer = Peer(
        "numpy",
        np.__version__,
        run=lambda: answer * (1 + 1e-3),
        error=lambda out: {"max_abs": float(np.max(np.abs(out - answer)))},
        answer=lambda out: out,
    )
    return Case(
        run=run,
        error=lambda out: {"max_abs": float(np.max(np.abs(out - answer)))},
        reference=f"arange times scale ({label})",
        compile=lambda: time.sleep(0.05),
        answer=lambda out: out,
        figures=lambda out: {"size_seen": int(out.shape[0])},
        peer=peer if with_peer else None,
        peer_missing=None if with_peer else "no peer for this toy",
    )


TOY = Benchmark(
    "toy", "a toy", {"size": 4, "scale": 1.5, "label": "x", "with_peer": True}, _toy_setup
)


@pytest.fixture
def registry(monkeypatch):
    eps = [_EntryPoint("toy", TOY), _EntryPoint("broken", ImportError("no such module"))]
    monkeypatch.setattr(_harness.importlib.metadata, "entry_points", lambda group: eps)


def test_report_follows_the_schema(registry):
    report = run_benchmark(
        "toy", {"size": "6", "scale": "2", "with_peer": "true"}, repeats=2, log=lambda _: None
    )
    assert SCHEMA <= set(report)
    json.dumps(report)  # one JSON line
    assert report["params"] == {"size": 6, "scale": 2.0, "label": "x", "with_peer": True}
    assert report["size_seen"] == 6
    assert report["error"] == {"max_abs": 0.0}
    assert report["repeats"] == 2 and len(report["seconds_all"]) == 2
    assert report["seconds"] >= 0.01
    assert report["compile_seconds"] >= 0.05  # timed apart from the runs
    assert report["peer"]["name"] == "numpy"
    assert report["peer"]["error"]["max_abs"] == pytest.approx(10 * 1e-3)
    assert report["peer_rel_diff"] == pytest.approx(1e-3 / (1 + 1e-3))
    assert report["speedup_vs_peer"] == pytest.approx(report["peer"]["seconds"] / report["seconds"])
    assert report["peer_missing"] is None
    assert report["peak_memory_mb"] > 0


def test_missing_peer_is_said(registry):
    report = run_benchmark("toy", {"with_peer": "false"}, repeats=1, log=lambda _: None)
    assert report["peer"] is None and report["peer_missing"] == "no peer for this toy"
    assert report["speedup_vs_peer"] is None


def test_unknown_names_and_keys_list_the_valid_ones(registry):
    with pytest.raises(BenchmarkError, match=r"unknown benchmark 'nope'.*broken, toy"):
        run_benchmark("nope")
    with pytest.raises(BenchmarkError, match=r"unknown parameter 'sise'.*label, scale, size"):
        run_benchmark("toy", {"sise": "3"})
    with pytest.raises(BenchmarkError, match="size='three' is not a valid int"):
        run_benchmark("toy", {"size": "three"})
    with pytest.raises(BenchmarkError, match="failed to load"):
        run_benchmark("broken")


def test_measured_outputs_carry_their_own_time(monkeypatch):
    def setup():
        return Case(
            run=lambda: Measured(np.ones(2), seconds=123.0, compile_seconds=4.0),
            error=lambda out: {"x": float(out.sum())},
            reference="r",
        )

    bench = Benchmark("m", "m", {}, setup)
    eps = [_EntryPoint("m", bench)]
    monkeypatch.setattr(_harness.importlib.metadata, "entry_points", lambda group: eps)
    report = run_benchmark("m", repeats=3, log=lambda _: None)
    assert report["seconds"] == 123.0 and report["compile_seconds"] == 4.0
    assert report["error"] == {"x": 2.0}


def test_runs_without_warmup_are_called_once_per_repeat(monkeypatch):
    calls = []

    def run():
        calls.append(1)
        return Measured(np.ones(2), seconds=10.0 + len(calls), compile_seconds=2.0)

    def setup():
        return Case(run=run, error=lambda out: {"x": 0.0}, reference="r", warmup=False)

    bench = Benchmark("w", "w", {}, setup)
    eps = [_EntryPoint("w", bench)]
    monkeypatch.setattr(_harness.importlib.metadata, "entry_points", lambda group: eps)
    report = run_benchmark("w", repeats=1, log=lambda _: None)
    assert len(calls) == 1
    assert report["seconds"] == 11.0 and report["compile_seconds"] == 2.0
    report = run_benchmark("w", repeats=2, log=lambda _: None)
    assert len(calls) == 3 and report["seconds_all"] == [12.0, 13.0]


def test_non_finite_figures_print_as_null(monkeypatch):
    def setup():
        return Case(
            run=lambda: Measured(np.ones(2), seconds=0.5),
            error=lambda out: {"rel_l2": float("nan"), "by_size": {"8": np.float32(np.inf)}},
            reference="r",
            figures=lambda out: {"ratio": [1.0, float("-inf")], "steps": 3},
            warmup=False,
        )

    eps = [_EntryPoint("n", Benchmark("n", "n", {}, setup))]
    monkeypatch.setattr(_harness.importlib.metadata, "entry_points", lambda group: eps)
    report = run_benchmark("n", repeats=1, log=lambda _: None)
    line = json.dumps(report, allow_nan=False)  # raises on NaN or Infinity
    assert json.loads(line)["error"] == {"rel_l2": None, "by_size": {"8": None}}
    assert report["ratio"] == [1.0, None] and report["steps"] == 3


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "dmech", *args], capture_output=True, text=True, timeout=600
    )


def test_cli_lists_and_runs_the_registered_train_mlp(capsys):
    # the listing in-process (the entry points as installed); one spawn of `python -m dmech`
    # for the end-to-end run: each spawn re-imports jax and every benchmark module
    assert cli.main(["bench", "--list"]) == 0
    assert "train-mlp" in capsys.readouterr().out
    run = _cli(
        "bench",
        "train-mlp",
        "--set",
        "steps=200",
        "--set",
        "num_train=512",
        "--repeats",
        "1",
        "--no-peer",
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1  # progress goes to stderr
    report = json.loads(lines[0])
    assert SCHEMA <= set(report)
    assert report["params"]["steps"] == 200 and report["params"]["num_train"] == 512
    assert 0 < report["error"]["rel_l2"] < 1.0
    assert report["steps_per_second"] > 0


def test_cli_errors_are_clear(capsys):
    # in-process: the exit status and the message are cli.main's, the same as a spawn's
    assert cli.main(["bench", "train-mlp", "--set", "stepz=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'stepz'" in err and "steps" in err
    assert cli.main(["bench", "no-such-bench"]) == 2
    err = capsys.readouterr().err
    assert "available: " in err and "train-mlp" in err
