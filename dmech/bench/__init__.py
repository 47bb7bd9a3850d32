"""The benchmark harness behind ``dmech bench``.

A package registers a :class:`Benchmark` under the ``dmech.benchmarks`` entry-point group;
``dmech bench NAME`` sets it up, times it (compilation apart, median over repeats), runs the
peer library on the same problem when it is installed, and prints one JSON line.
"""

from ._harness import Benchmark as Benchmark
from ._harness import BenchmarkError as BenchmarkError
from ._harness import Case as Case
from ._harness import Measured as Measured
from ._harness import Peer as Peer
from ._harness import available_benchmarks as available_benchmarks
from ._harness import get_benchmark as get_benchmark
from ._harness import parse_overrides as parse_overrides
from ._harness import run_benchmark as run_benchmark

__all__ = [
    "Benchmark",
    "BenchmarkError",
    "Case",
    "Measured",
    "Peer",
    "available_benchmarks",
    "get_benchmark",
    "parse_overrides",
    "run_benchmark",
]
