"""Benchmark harness: discovery through entry points, timing, the one-line JSON report."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import math
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

ENTRY_POINT_GROUP = "dmech.benchmarks"


class BenchmarkError(ValueError):
    """Unknown benchmark, unknown or malformed parameter."""


@dataclasses.dataclass(frozen=True)
class Measured:
    """An output that carries its own timing.

    A ``run`` callable returns this when the wall time of the whole call is not the quantity to
    report, for example a training run that compiles inside and reports its step time apart.
    """

    value: Any
    seconds: float
    compile_seconds: float = 0.0


@dataclasses.dataclass(frozen=True)
class Peer:
    """The same problem solved by another library, in the same process run.

    Attributes:
        name: distribution name of the peer (``"torch"``, ``"scikit-fem"``...).
        version: its installed version.
        run: solves the problem; its wall time (or :class:`Measured`) is the peer's time.
        error: error metrics of the peer's output, with the same keys as dmech's.
        answer: the array compared with dmech's answer for ``peer_rel_diff``.
        warmup: call ``run`` once, untimed, before the timed runs (see :class:`Case`).
    """

    name: str
    version: str
    run: Callable[[], Any]
    error: Callable[[Any], Mapping[str, float]]
    answer: Callable[[Any], Any] | None = None
    warmup: bool = True


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark problem, set up and ready to run.

    Attributes:
        run: the measured operation. It must block until its result is ready (call
            ``jax.block_until_ready``). It may return a :class:`Measured`.
        error: error metrics of ``run``'s output (``{"rel_l2": ...}``).
        reference: what the error is measured against.
        compile: optional ahead-of-time compilation, timed apart from the runs.
        answer: the array compared with the peer's answer.
        figures: extra keys of the report, computed from ``run``'s output.
        peer: the same problem in another library, or ``None``.
        peer_missing: why there is no peer (not installed, not applicable).
        warmup: call ``run`` once, untimed, before the timed runs (it compiles). ``False`` for
            runs that time themselves and exclude their compilation (a training run returning
            :class:`Measured`), which would otherwise be done twice.
    """

    run: Callable[[], Any]
    error: Callable[[Any], Mapping[str, float]]
    reference: str
    compile: Callable[[], Any] | None = None
    answer: Callable[[Any], Any] | None = None
    figures: Callable[[Any], Mapping[str, Any]] | None = None
    peer: Peer | None = None
    peer_missing: str | None = None
    warmup: bool = True


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """A named benchmark registered under the ``dmech.benchmarks`` entry-point group.

    Attributes:
        name: the name used on the command line (``dmech bench NAME``).
        description: one line saying what is measured.
        params: every parameter with its default; ``--set KEY=VALUE`` values are converted to
            the default's type.
        setup: ``setup(**params) -> Case``.
    """

    name: str
    description: str
    params: Mapping[str, Any]
    setup: Callable[..., Case]


def _metrics(values: Mapping[str, Any]) -> dict[str, Any]:
    """Error metrics as JSON numbers; a metric may be a map (e.g. resolution -> error)."""
    return {str(k): _metrics(v) if isinstance(v, Mapping) else float(v) for k, v in values.items()}


def available_benchmarks() -> dict[str, Benchmark | Exception]:
    """Every registered benchmark by name; one that fails to load maps to its exception."""
    found: dict[str, Benchmark | Exception] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            bench = ep.load()
            if not isinstance(bench, Benchmark):
                raise TypeError(f"{ep.value} is a {type(bench).__name__}, not a Benchmark")
            if bench.name != ep.name:
                raise ValueError(f"{ep.value} is named {bench.name!r}, registered as {ep.name!r}")
            found[ep.name] = bench
        except Exception as error:  # reported by `dmech bench --list`, never hidden
            found[ep.name] = error
    return dict(sorted(found.items()))


def get_benchmark(name: str) -> Benchmark:
    """The benchmark registered as ``name``; a clear error listing the valid names otherwise."""
    found = available_benchmarks()
    if name not in found:
        raise BenchmarkError(
            f"unknown benchmark {name!r}; available: {', '.join(found) or '(none registered)'}"
        )
    bench = found[name]
    if isinstance(bench, Exception):
        raise BenchmarkError(f"benchmark {name!r} failed to load: {bench!r}")
    return bench


def parse_overrides(bench: Benchmark, overrides: Mapping[str, str]) -> dict[str, Any]:
    """Merge ``KEY=VALUE`` strings into the defaults, converted to each default's type."""
    params = dict(bench.params)
    for key, text in overrides.items():
        if key not in params:
            raise BenchmarkError(
                f"unknown parameter {key!r} for benchmark {bench.name!r}; "
                f"valid: {', '.join(sorted(params))}"
            )
        params[key] = _convert(key, text, params[key])
    return params


def _convert(key: str, text: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError("expected true or false")
            return lowered in ("true", "1", "yes")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if isinstance(default, str):
            return text
        return json.loads(text)
    except ValueError as error:
        kind = type(default).__name__
        raise BenchmarkError(f"parameter {key}={text!r} is not a valid {kind}: {error}") from None


def run_benchmark(
    name: str,
    overrides: Mapping[str, str] | None = None,
    *,
    repeats: int = 3,
    peer: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run a benchmark and return its report (the dictionary printed as one JSON line).

    The measured operation runs ``repeats`` times after an untimed (or compile-timed) first
    call; ``seconds`` is the median. A peer, when installed, runs the same way in the same
    process; ``speedup_vs_peer`` is the ratio of the medians.
    """
    if repeats < 1:
        raise BenchmarkError(f"repeats must be >= 1, got {repeats}")
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    bench = get_benchmark(name)
    params = parse_overrides(bench, overrides or {})
    log(f"[{name}] setting up with {params}")
    case = bench.setup(**params)

    log(f"[{name}] dmech: compile and {repeats} timed run(s)")
    output, seconds, compile_seconds, all_seconds = _time(
        case.run, case.compile, repeats, case.warmup
    )
    error = _metrics(case.error(output))
    report: dict[str, Any] = {
        "name": name,
        "params": params,
        "seconds": seconds,
        "repeats": repeats,
        "compile_seconds": compile_seconds,
        "seconds_all": all_seconds,
        "error": error,
        "reference": case.reference,
        "peak_memory_mb": None,
        "device": _device_name(),
        "versions": _versions(case.peer),
        "peer": None,
        "peer_missing": case.peer_missing,
        "speedup_vs_peer": None,
        "peer_rel_diff": None,
    }
    if case.peer is not None and not peer:
        report["peer_missing"] = "peer disabled with --no-peer"
    elif case.peer is not None:
        log(f"[{name}] peer {case.peer.name} {case.peer.version}: {repeats} timed run(s)")
        p_out, p_seconds, p_compile, p_all = _time(case.peer.run, None, repeats, case.peer.warmup)
        report["peer"] = {
            "name": case.peer.name,
            "version": case.peer.version,
            "seconds": p_seconds,
            "seconds_all": p_all,
            "setup_seconds": p_compile,
            "error": _metrics(case.peer.error(p_out)),
        }
        report["speedup_vs_peer"] = p_seconds / seconds if seconds > 0 else None
        if case.answer is not None and case.peer.answer is not None:
            ours = np.asarray(case.answer(_unwrap(output)), dtype=np.float64)
            theirs = np.asarray(case.peer.answer(_unwrap(p_out)), dtype=np.float64)
            if ours.shape != theirs.shape:
                raise RuntimeError(
                    f"benchmark {name!r}: answer shapes differ, {ours.shape} vs {theirs.shape}"
                )
            scale = max(np.linalg.norm(theirs), np.finfo(np.float64).tiny)
            report["peer_rel_diff"] = float(np.linalg.norm(ours - theirs) / scale)
    if case.figures is not None:  # after the peer, so figures may use its timings too
        for key, value in case.figures(output).items():
            if key in report:
                raise RuntimeError(f"benchmark {name!r} figure {key!r} shadows a report key")
            report[key] = value
    report["peak_memory_mb"] = _peak_memory_mb()
    return _strict_json(report)


def _strict_json(value: Any) -> Any:
    """``value`` with every non-finite float (a diverged error, a zero-time ratio) as ``None``,
    so the printed line is strict JSON (``null``, never ``NaN`` or ``Infinity``)."""
    if isinstance(value, Mapping):
        return {k: _strict_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strict_json(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_strict_json(v) for v in value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _unwrap(output: Any) -> Any:
    return output.value if isinstance(output, Measured) else output


def _time(run, compile_fn, repeats, warmup=True):
    """Median wall time of ``run`` over ``repeats`` calls after one warm-up/compile call
    (none when ``warmup`` is false: the runs then report their own compile time)."""
    compile_seconds = 0.0
    if compile_fn is not None:
        t0 = time.perf_counter()
        compile_fn()
        compile_seconds = time.perf_counter() - t0
    first: Any = None
    first_seconds = 0.0
    if warmup:
        # The first call pays for tracing and compilation when there was no explicit compile step.
        t0 = time.perf_counter()
        first = run()
        first_seconds = time.perf_counter() - t0
        if isinstance(first, Measured):
            compile_seconds += first.compile_seconds
    times, output = [], first
    for _ in range(repeats):
        t0 = time.perf_counter()
        output = run()
        elapsed = time.perf_counter() - t0
        times.append(output.seconds if isinstance(output, Measured) else elapsed)
        if not warmup and isinstance(output, Measured):
            compile_seconds += output.compile_seconds / repeats
    median = statistics.median(times)
    if warmup and compile_fn is None and not isinstance(first, Measured):
        compile_seconds = max(first_seconds - median, 0.0)
    return _unwrap(output), median, compile_seconds, times


def _device_name() -> str:
    import jax

    device = jax.devices()[0]
    return "cpu" if device.platform == "cpu" else device.device_kind


def _peak_memory_mb() -> float:
    import jax

    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "peak_bytes_in_use" in stats:
            return stats["peak_bytes_in_use"] / 2**20
    # Linux reports ru_maxrss in KiB: the peak resident memory of this process.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _versions(peer: Peer | None) -> dict[str, str]:
    names = ["dmech", "jax", "jaxlib", "numpy", "equinox", "optax"]
    versions = {"python": platform.python_version()}
    for dist in names:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    if peer is not None:
        versions[peer.name] = peer.version
    return versions
