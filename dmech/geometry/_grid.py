"""Structured grid: static shape and extent, cell-centred coordinates, Fourier wavenumbers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, DTypeLike

__all__ = ["Grid"]


class Grid:
    """A uniform Cartesian grid of ``shape`` cells on the box ``[lower, upper]``.

    Everything about a grid is static (hashable): its shape and its extent fix the
    discretisation, and a new grid means a new compiled program. Fields on the grid are
    arrays of shape ``shape`` (plus trailing or leading component axes), indexed ``[i, j]``
    with ``i`` along x (``indexing="ij"``). Values live at cell centres; staggered solvers
    place their face values by the offsets they document.

    Args:
        shape: cells per axis, each at least 1 (1, 2 or 3 axes).
        extent: per axis, the box length (the box then starts at 0) or a pair ``(lo, hi)``.

    Example:
        >>> grid = Grid((64, 64), (1.0, 1.0))
        >>> grid.spacing
        (0.015625, 0.015625)
    """

    __slots__ = ("lower", "shape", "upper")

    shape: tuple[int, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]

    def __init__(
        self,
        shape: Sequence[int],
        extent: Sequence[Any],
    ):
        shape = tuple(shape)
        if not 1 <= len(shape) <= 3 or any(int(n) != n or n < 1 for n in shape):
            raise ValueError(f"shape must hold 1 to 3 positive integers, got {shape}")
        extent = tuple(extent)
        if len(extent) != len(shape):
            raise ValueError(
                f"extent must have one entry per axis of shape {shape}, got {len(extent)}"
            )
        lower, upper = [], []
        for axis, entry in enumerate(extent):
            lo, hi = (0.0, entry) if np.ndim(entry) == 0 else tuple(entry)  # type: ignore[misc]
            if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
                raise ValueError(f"extent of axis {axis} must be finite and positive, got {entry}")
            lower.append(float(lo))
            upper.append(float(hi))
        object.__setattr__(self, "shape", tuple(int(n) for n in shape))
        object.__setattr__(self, "lower", tuple(lower))
        object.__setattr__(self, "upper", tuple(upper))

    def __setattr__(self, name, value):
        raise AttributeError("Grid is immutable")

    def __eq__(self, other):
        return isinstance(other, Grid) and (self.shape, self.lower, self.upper) == (
            other.shape,
            other.lower,
            other.upper,
        )

    def __hash__(self):
        return hash((self.shape, self.lower, self.upper))

    def __repr__(self):
        box = ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in zip(self.lower, self.upper, strict=True))
        return f"Grid(shape={self.shape}, box={box})"

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """The number of cells."""
        return int(np.prod(self.shape))

    @property
    def length(self) -> tuple[float, ...]:
        """The box length per axis."""
        return tuple(hi - lo for lo, hi in zip(self.lower, self.upper, strict=True))

    @property
    def spacing(self) -> tuple[float, ...]:
        """The cell size per axis."""
        return tuple(length / n for length, n in zip(self.length, self.shape, strict=True))

    def axis_centres(self, axis: int, dtype: DTypeLike = float) -> Array:
        """Cell-centre coordinates along one axis, shape ``(shape[axis],)``."""
        h = self.spacing[axis]
        return jnp.asarray(self.lower[axis] + h * (np.arange(self.shape[axis]) + 0.5), dtype)

    def axis_faces(self, axis: int, dtype: DTypeLike = float) -> Array:
        """Cell-face (node) coordinates along one axis, shape ``(shape[axis] + 1,)``."""
        n = self.shape[axis]
        return jnp.asarray(np.linspace(self.lower[axis], self.upper[axis], n + 1), dtype)

    def centres(self, dtype: DTypeLike = float) -> tuple[Array, ...]:
        """Cell-centre coordinates, one array of shape ``shape`` per axis (``ij`` order)."""
        axes = [self.axis_centres(a, dtype) for a in range(self.ndim)]
        return tuple(jnp.meshgrid(*axes, indexing="ij"))

    def periodic_points(self, dtype: DTypeLike = float) -> tuple[Array, ...]:
        """The points ``lower + i h`` (a periodic grid's nodes, the pseudo-spectral
        collocation points), one array of shape ``shape`` per axis (``ij`` order)."""
        axes = [
            jnp.asarray(self.lower[a] + self.spacing[a] * np.arange(self.shape[a]), dtype)
            for a in range(self.ndim)
        ]
        return tuple(jnp.meshgrid(*axes, indexing="ij"))

    def wavenumbers(self, dtype: DTypeLike = float, *, real: bool = True) -> tuple[Array, ...]:
        """Angular wavenumbers of the periodic box, broadcastable to the transform's shape.

        With ``real=True`` the last axis holds the ``rfft`` half spectrum (``n // 2 + 1``
        values); the others the full ``fft`` frequencies. Each array has the transform's
        number of axes with size 1 on the others; values ``2π m / L``.
        """
        return tuple(jnp.asarray(k, dtype) for k in self.wavenumbers_numpy(real=real))

    def wavenumbers_numpy(self, *, real: bool = True) -> tuple[np.ndarray, ...]:
        """:meth:`wavenumbers` as float64 NumPy arrays (for set-up work outside JAX)."""
        ks = []
        for a, (n, length) in enumerate(zip(self.shape, self.length, strict=True)):
            last = a == self.ndim - 1
            freq = np.fft.rfftfreq(n, 1.0 / n) if real and last else np.fft.fftfreq(n, 1.0 / n)
            shape = [1] * self.ndim
            shape[a] = freq.size
            ks.append((2 * np.pi / length) * freq.reshape(shape))
        return tuple(ks)
