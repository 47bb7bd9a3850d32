"""Argument checks shared by the network blocks (run eagerly, before anything is traced)."""

import numbers
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_int
from .._custom_types import DTypeLike


def check_size_or_scalar(value: object, argname: str) -> int | Literal["scalar"]:
    """Return `value` as a positive Python int, or the string "scalar"."""
    if isinstance(value, str):
        if value == "scalar":
            return "scalar"
        raise ValueError(f'`{argname}` must be a positive int or "scalar"; got {value!r}.')
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f'`{argname}` must be a positive int or "scalar"; got {type(value).__name__}.'
        )
    return check_int(value, argname)


def floating_dtype(dtype: DTypeLike | None, argname: str = "dtype") -> np.dtype:
    """Resolve `dtype` (None: JAX's default float dtype), requiring a real floating dtype."""
    if dtype is None:
        return np.dtype(jax.dtypes.canonicalize_dtype(float))
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"`{argname}` must be a floating dtype; got {dtype!r}.") from None
    if not jnp.issubdtype(resolved, jnp.floating):
        raise TypeError(f"`{argname}` must be a real floating dtype; got {resolved}.")
    if np.dtype(jax.dtypes.canonicalize_dtype(resolved)) != resolved:
        raise ValueError(
            f"`{argname}` {resolved} needs 64-bit mode, which is off: enable it "
            "(jax.config.update('jax_enable_x64', True) or jax.enable_x64(True)) or pass "
            "a 32-bit dtype."
        )
    return resolved


def size_as_int(size: int | Literal["scalar"]) -> int:
    return 1 if size == "scalar" else size


def check_input(x: object, in_size: int | Literal["scalar"]) -> jax.Array:
    """``x`` as an array of the shape a layer with ``in_size`` takes (trace-time check)."""
    x = jnp.asarray(x)
    expected = () if in_size == "scalar" else (in_size,)
    if x.shape != expected:
        raise ValueError(
            f"`x` must have shape {expected} (in_size={in_size!r}); got {x.shape}. "
            "Use jax.vmap for batches."
        )
    return x
