"""Shape and type aliases shared by dmech's public signatures (checked under pytest only)."""

from typing import TypeAlias

import jax
import numpy as np
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, PyTree

Scalar: TypeAlias = Float[Array, ""]
ScalarLike: TypeAlias = float | Float[ArrayLike, ""]
RealArray: TypeAlias = Float[Array, "..."]
IntArray: TypeAlias = Int[Array, "..."]
Key: TypeAlias = PRNGKeyArray
NumpyArray: TypeAlias = np.ndarray
Device: TypeAlias = jax.Device

__all__ = [
    "Array",
    "ArrayLike",
    "Bool",
    "DTypeLike",
    "Device",
    "Float",
    "Int",
    "IntArray",
    "Key",
    "NumpyArray",
    "PyTree",
    "RealArray",
    "Scalar",
    "ScalarLike",
]
