"""Rank truncation of a singular value decomposition: a given rank, an energy fraction, or
Gavish and Donoho's optimal hard threshold."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

__all__ = ["optimal_hard_threshold", "svd_rank"]


def _lambda_star(beta: float) -> float:
    """``λ*(β)``, the optimal threshold coefficient for a known noise level (eq. 11)."""
    return math.sqrt(
        2.0 * (beta + 1.0) + 8.0 * beta / (beta + 1.0 + math.sqrt(beta**2 + 14 * beta + 1))
    )


def _omega_approx(beta: float) -> float:
    """``ω(β) ≈ 0.56β³ − 0.95β² + 1.82β + 1.43``, the unknown-noise coefficient (eq. 5)."""
    return 0.56 * beta**3 - 0.95 * beta**2 + 1.82 * beta + 1.43


def _concrete_singular_values(singular_values: Any, where: str) -> np.ndarray:
    if isinstance(singular_values, jax.core.Tracer):
        raise TypeError(
            f"{where}: `singular_values` is traced (inside jit/vmap/grad), but the truncation "
            "rank fixes array shapes and must be a Python int: call it outside the transform "
            "and pass the resulting int as `rank`."
        )
    s = np.asarray(singular_values)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"`singular_values` must be a non-empty vector; got shape {s.shape}.")
    if np.iscomplexobj(s) or not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ValueError("`singular_values` must be real, finite and non-negative.")
    if np.any(np.diff(s) > 1e-12 * max(float(s[0]), 1e-300)):
        raise ValueError("`singular_values` must be sorted in decreasing order.")
    return s.astype(np.float64)


def _check_shape(shape: Any, size: int) -> tuple[int, int]:
    if shape is None:
        raise ValueError('`shape` (rows, columns of the matrix) is required for rank="optimal".')
    if (
        not isinstance(shape, Sequence)
        or len(shape) != 2
        or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in shape)
    ):
        raise ValueError(f"`shape` must be two positive ints (rows, columns); got {shape!r}.")
    rows, cols = int(shape[0]), int(shape[1])
    if min(rows, cols) < size:
        raise ValueError(
            f"`shape` {shape} has min(rows, columns) = {min(rows, cols)} < {size}, the number of "
            "singular values."
        )
    return rows, cols


def optimal_hard_threshold(
    singular_values: Any,
    shape: tuple[int, int],
    *,
    noise: float | None = None,
) -> float:
    r"""Gavish and Donoho's optimal hard threshold ``τ`` for the singular values of a noisy
    low-rank matrix.

    For an ``n × m`` matrix ``X + σ Z`` (``Z`` with i.i.d. unit-variance entries), aspect ratio
    ``β = min(n, m) / max(n, m)``, the hard threshold that minimises the asymptotic mean squared
    error of the truncated SVD is

    $$\tau = \lambda_*(\beta) \sqrt{\max(n, m)}\,\sigma,\qquad
      \lambda_*(\beta) = \sqrt{2(\beta + 1)
      + \frac{8\beta}{\beta + 1 + \sqrt{\beta^2 + 14\beta + 1}}}$$

    when the noise level ``σ`` is known, and otherwise

    $$\tau = \omega(\beta)\, \sigma_\text{med},\qquad
      \omega(\beta) \approx 0.56\beta^3 - 0.95\beta^2 + 1.82\beta + 1.43,$$

    with ``σ_med`` the median singular value (the polynomial approximates
    ``λ*(β) / sqrt(μ_β)``, ``μ_β`` the median of the Marchenko-Pastur distribution).

    Args:
        singular_values: the singular values in decreasing order, shape ``(k,)``, concrete
            (not traced).
        shape: ``(rows, columns)`` of the decomposed matrix.
        noise: the noise standard deviation ``σ`` per entry, if known.

    Returns:
        The threshold ``τ`` (a Python float): keep the singular values above it.

    Raises:
        ValueError: for unsorted, negative or non-finite singular values, a bad ``shape`` or a
            negative ``noise``.
        TypeError: if the singular values are traced.

    References:
        Gavish and Donoho (2014), "The optimal hard threshold for singular values is
        4/sqrt(3)", IEEE Trans. Inf. Theory 60(8), 5040-5053.
    """
    s = _concrete_singular_values(singular_values, "optimal_hard_threshold")
    rows, cols = _check_shape(shape, s.size)
    beta = min(rows, cols) / max(rows, cols)
    if noise is not None:
        if isinstance(noise, bool) or not (math.isfinite(float(noise)) and float(noise) >= 0):
            raise ValueError(f"`noise` must be a non-negative number; got {noise!r}.")
        return _lambda_star(beta) * math.sqrt(max(rows, cols)) * float(noise)
    return _omega_approx(beta) * float(np.median(s))


def svd_rank(
    singular_values: Any,
    rank: int | float | str = "full",
    *,
    shape: tuple[int, int] | None = None,
    noise: float | None = None,
) -> int:
    r"""The truncation rank of an SVD: a given rank, an energy fraction, or the optimal hard
    threshold.

    - ``rank`` an int ``≥ 1``: ``min(rank, k)``.
    - ``rank`` a float in ``(0, 1)``: the smallest ``r`` with
      ``Σ_{i≤r} s_i² ≥ rank · Σ_i s_i²`` (the energy fraction).
    - ``rank="optimal"``: the number of singular values above Gavish and Donoho's threshold
      (:func:`optimal_hard_threshold`, known-noise form when ``noise`` is given, else the
      median form), at least 1.
    - ``rank="full"``: ``k``.

    Args:
        singular_values: decreasing singular values, shape ``(k,)``, concrete (not traced).
        rank: as above.
        shape: ``(rows, columns)`` of the decomposed matrix (needed for ``"optimal"``).
        noise: the noise standard deviation per entry, if known (``"optimal"`` only).

    Returns:
        The rank, a Python int in ``[1, k]``.

    Raises:
        ValueError: for a rank that is none of the above, naming it.
        TypeError: if the singular values are traced (the rank fixes shapes: compute it
            outside ``jit``).

    References:
        Gavish and Donoho (2014), IEEE Trans. Inf. Theory 60(8), 5040-5053.
    """
    s = _concrete_singular_values(singular_values, "svd_rank")
    if isinstance(rank, str):
        if rank == "full":
            return int(s.size)
        if rank == "optimal":
            if shape is None:
                raise ValueError(
                    '`shape` (rows, columns of the matrix) is required for rank="optimal".'
                )
            tau = optimal_hard_threshold(s, shape, noise=noise)
            return max(1, int(np.count_nonzero(s > tau)))
        raise ValueError(
            f'`rank` must be an int, a float in (0, 1), "optimal" or "full"; got {rank!r}.'
        )
    if isinstance(rank, bool):
        raise ValueError(
            f"`rank` must be an int, a float in (0, 1), 'optimal' or 'full'; got {rank!r}."
        )
    if isinstance(rank, (int, np.integer)):
        if rank < 1:
            raise ValueError(f"`rank` must be at least 1; got {rank}.")
        return int(min(int(rank), s.size))
    if isinstance(rank, (float, np.floating)):
        if not 0.0 < float(rank) < 1.0:
            raise ValueError(f"an energy `rank` must lie in (0, 1); got {rank}.")
        energy = np.cumsum(s**2) / np.sum(s**2)
        return min(int(np.searchsorted(energy, float(rank))) + 1, int(s.size))
    raise ValueError(
        f"`rank` must be an int, a float in (0, 1), 'optimal' or 'full'; got {rank!r}."
    )
