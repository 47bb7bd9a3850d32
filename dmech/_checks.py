"""Argument checks shared by every package. Each runs eagerly, before anything is traced,
and names the argument it rejects: a value of the wrong kind raises `TypeError`, a value of
the right kind out of range raises `ValueError`."""

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from ._custom_types import ArrayLike


def check_int(value: object, argname: str, *, minimum: int = 1) -> int:
    """Return ``value`` as a Python int, requiring an integer (not a bool) ``>= minimum``."""
    if minimum == 1:
        expected = "a positive int"
    elif minimum == 0:
        expected = "a non-negative int"
    else:
        expected = f"an int >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{argname}` must be {expected}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{argname}` must be {expected}; got {value}.")
    return int(value)


def check_positive_float(
    value: object, argname: str, *, allow_zero: bool = False, upper: float = math.inf
) -> float:
    """Return ``value`` as a Python float, requiring a finite real number ``> 0`` (``>= 0``
    with ``allow_zero``) and at most ``upper``. A concrete 0-d real array counts as a number;
    a tracer does not (the check needs the value)."""
    kind = "a non-negative number" if allow_zero else "a positive number"
    bound = "" if math.isinf(upper) else f" at most {upper}"
    real_array = (
        isinstance(value, np.ndarray | jax.Array)
        and not isinstance(value, jax.core.Tracer)
        and value.shape == ()
        and (jnp.issubdtype(value.dtype, jnp.floating) or jnp.issubdtype(value.dtype, jnp.integer))
    )
    if not real_array and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise TypeError(f"`{argname}` must be {kind}{bound}; got {value!r}.")
    number = float(value)  # type: ignore[arg-type]
    low = number >= 0 if allow_zero else number > 0
    if not (math.isfinite(number) and low and number <= upper):
        raise ValueError(f"`{argname}` must be finite and {kind}{bound}; got {number}.")
    return number


def check_positive_scalar(value: ArrayLike, argname: str) -> None:
    """Require ``value`` (a number or an array, possibly traced) to be a scalar; when its value
    is known (not a tracer), also finite and positive."""
    if jnp.shape(value) != ():
        raise ValueError(f"`{argname}` must be a scalar; got shape {jnp.shape(value)}.")
    if not isinstance(value, jax.core.Tracer):
        number = float(np.asarray(value))
        if not (math.isfinite(number) and number > 0):
            raise ValueError(f"`{argname}` must be finite and positive; got {number}.")
