"""Shared fixtures. Mistakes are loud: strict dtype promotion, rank promotion raises, two fake
CPU devices (unless the caller chose a count), warnings are errors (pyproject.toml)."""

import os

_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
    os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=2").strip()

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
    """Run the test body with float64 enabled (solver verification); restored afterwards."""
    with jax.enable_x64(True):
        yield
