"""Shared fixtures. Mistakes are loud: strict dtype promotion, rank promotion raises, two fake
CPU devices (unless the caller chose a count), warnings are errors (pyproject.toml).

The tests' programs are small, so compiling them costs more than running them: LLVM's
optimisation level is lowered (unless the caller chose one). On a 2-core CPU that cut the default
run from 1924 s to 1602 s and the CFD notebook by 30 %, while the one training-heavy test (the
CFD closure) became 3x slower. XLA's graph-level passes (fusion, layout) are unchanged; the
notebooks' kernels inherit the flags."""

import gc
import os

_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
    _flags += " --xla_force_host_platform_device_count=2"
if "xla_backend_optimization_level" not in _flags:
    _flags += " --xla_backend_optimization_level=0"
os.environ["XLA_FLAGS"] = _flags.strip()

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
    """Run the test body with float64 enabled (solver verification); restored afterwards."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module. jit caches live for the process, so
    an xdist worker otherwise grows through the whole run (to ~6 GiB each by the last modules,
    measured); compiling a large program late in the run then has the least memory left."""
    yield
    jax.clear_caches()
    gc.collect()
