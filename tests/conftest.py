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
    """Run the test body with float64 enabled (solver verification); restored afterwards.

    Set process-wide, not with the thread-local ``jax.enable_x64`` context: host callbacks
    (the SuperLU solve) run on XLA's threads and must see the same setting."""
    before = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)
