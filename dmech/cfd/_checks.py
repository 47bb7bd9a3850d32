"""Argument checks shared by dmech.cfd's solvers and generators: each names the argument and
runs on concrete values before anything is compiled."""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
import numpy as np

from .._custom_types import Array
from .._static import is_concrete


def positive_int(value: Any, name: str) -> int:
    """``value`` as a Python int ``≥ 1`` (bools refused)."""
    try:
        ok = not isinstance(value, bool) and int(value) == value and value >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def positive_float(value: Any, name: str) -> float:
    """``value`` as a finite Python float ``> 0``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive float, got {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be positive and finite, got {number}")
    return number


def scalar_leaf(
    value: Any,
    name: str,
    dtype: Any = None,
    *,
    positive: bool = False,
    non_negative: bool = False,
) -> Array:
    """A scalar parameter as a strongly typed array leaf (so weak and strong Python inputs
    compile once), cast to ``dtype`` (default: its own float dtype, JAX's default float for
    integers); a concrete value must be finite, and positive or non-negative if asked."""
    array = jnp.asarray(value)
    if array.shape != ():
        raise ValueError(f"{name} must be a scalar, got shape {array.shape}")
    if not (jnp.issubdtype(array.dtype, jnp.floating) or jnp.issubdtype(array.dtype, jnp.integer)):
        raise ValueError(f"{name} must be real, got dtype {array.dtype}")
    if dtype is None:
        floating = jnp.issubdtype(array.dtype, jnp.floating)
        dtype = array.dtype if floating else jnp.result_type(float)
    if is_concrete(array):
        number = float(np.asarray(array))
        if not math.isfinite(number):
            raise ValueError(f"{name} must be finite, got {number}")
        if positive and not number > 0:
            raise ValueError(f"{name} must be positive and finite, got {number}")
        if non_negative and number < 0:
            raise ValueError(f"{name} must be non-negative, got {number}")
    return array.astype(dtype)
