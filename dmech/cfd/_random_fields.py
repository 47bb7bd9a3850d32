"""Gaussian random fields on periodic grids (initial conditions and coefficient fields)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, DTypeLike, Float, Key
from ..geometry import Grid

__all__ = ["gaussian_random_field"]


def gaussian_random_field(
    key: Key,
    grid: Grid,
    *,
    alpha: float,
    tau: float,
    sigma: float | None = None,
    mean: float = 0.0,
    batch: tuple[int, ...] = (),
    dtype: DTypeLike = jnp.float32,
) -> Float[Array, "..."]:
    r"""Samples of the Gaussian measure ``N(mean, σ² (-Δ + τ² I)^{-α})`` on the periodic box.

    The Karhunen-Loève expansion on the torus of side ``L``: the Fourier mode with angular
    wavevector ``k`` (components ``2π m / L``) has standard deviation
    ``σ (|k|² + τ²)^{-α/2}``; the mean mode is zero, so every sample has spatial mean
    ``mean``. Sampled by filtering white noise on the grid (exact for the modes the grid
    resolves). The neural-operator literature (Li et al. 2021) uses ``α = 2.5``, ``τ = 7``,
    ``σ = τ^{α - d/2}`` on the unit torus for Navier-Stokes vorticity, and ``α = 2``,
    ``τ = 5``, ``σ = 25`` for Burgers initial data.

    Args:
        key: a PRNG key.
        grid: the periodic grid (its ``periodic_points`` are the sample locations).
        alpha: the smoothness exponent (``α > d/2`` for a continuous field).
        tau: the inverse length scale ``τ > 0``.
        sigma: the amplitude; default ``τ^{α - d/2}`` (so the field is of order one).
        mean: the spatial mean of every sample.
        batch: leading batch shape of independent samples.
        dtype: the floating dtype of the result (and of the white noise: the same key gives
            different samples in float32 and float64; draw in one and cast to compare).

    Returns:
        An array of shape ``batch + grid.shape``.

    Example:
        >>> w0 = gaussian_random_field(jax.random.key(0), Grid((64, 64), (1, 1)),
        ...                            alpha=2.5, tau=7.0)
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    if not tau > 0:
        raise ValueError(f"tau must be positive, got {tau}")
    if sigma is not None and not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype must be a floating dtype, got {dtype}")
    d = grid.ndim
    sigma = tau ** (alpha - 0.5 * d) if sigma is None else sigma
    axes = tuple(range(-d, 0))
    k2 = sum(k**2 for k in grid.wavenumbers_numpy())
    spectrum = sigma * (k2 + tau**2) ** (-alpha / 2)
    spectrum[(0,) * d] = 0.0
    noise = jax.random.normal(key, tuple(batch) + grid.shape, dtype)
    # white noise -> Hermitian coefficients of variance N; scaled by sqrt(N), each mode gets
    # the continuous expansion's variance
    coefficients = jnp.fft.rfftn(noise, axes=axes)
    scale = jnp.asarray(spectrum * np.sqrt(grid.size), coefficients.dtype)
    coefficients = coefficients * scale.reshape((1,) * len(batch) + scale.shape)
    field = jnp.fft.irfftn(coefficients, s=grid.shape, axes=axes)
    return (field + mean).astype(dtype)
