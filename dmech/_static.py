"""Hashable wrappers that let concrete numpy data be static (compile-time) jit data."""

import hashlib

import jax
import numpy as np


class StaticArray:
    """A read-only numpy array that is hashable by content, so it can be static jit data."""

    __slots__ = ("_array", "_hash")

    def __init__(self, array: np.ndarray):
        array = np.array(array, order="C", copy=True)  # the caller's array stays writeable
        array.setflags(write=False)
        self._array = array
        digest = hashlib.blake2b(array.tobytes(), digest_size=16).hexdigest()
        self._hash = hash((array.shape, array.dtype.str, digest))

    @property
    def array(self) -> np.ndarray:
        return self._array

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        if not isinstance(other, StaticArray):
            return NotImplemented
        return (
            self._hash == other._hash
            and self._array.dtype == other._array.dtype
            and bool(np.array_equal(self._array, other._array))
        )

    def __repr__(self) -> str:
        return f"StaticArray(shape={self._array.shape}, dtype={self._array.dtype})"


def is_concrete(value) -> bool:
    """Whether ``value`` is known now (not a tracer inside ``jit``/``grad``/``vmap``), so
    argument checks on its values can run before anything is compiled."""
    return not isinstance(value, jax.core.Tracer)
