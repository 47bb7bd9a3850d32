r"""Inverse problems: unknown PDE coefficients as trainable leaves, noisy observations.

An unknown coefficient is a leaf of ``params`` next to the network, e.g.
``params = {"u": network, "C": PositiveParameter(2.0)}``; the residual reads
``params["C"].value`` and :func:`pinn.train` fits network and coefficient together. A
positive coefficient is parametrised by its logarithm, so it stays positive and its scale is
learnt in relative terms.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dmech._custom_types import Array, ArrayLike, DTypeLike, Float, Key

__all__ = ["PositiveParameter", "noisy_observations", "observation_residual"]


class PositiveParameter(eqx.Module):
    r"""A positive scalar coefficient stored as its logarithm: $C = e^{s}$, $s$ trainable.

    Attributes:
        log_value: $s = \log C$, a scalar array.

    Example:
        >>> params = {"u": net, "C": PositiveParameter(2.0)}
        >>> params["C"].value
        Array(2., dtype=float32)
    """

    log_value: Float[Array, ""]

    def __init__(self, value: float, *, dtype: DTypeLike | None = None):
        """Args:
            value: the initial value $C_0 > 0$.
            dtype: the dtype of $s$ (default: JAX's default float).

        Raises:
            ValueError: naming ``value`` when it is not a positive finite number.
        """
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"`value` must be a positive number; got {value!r}.")
        if not (math.isfinite(float(value)) and value > 0):
            raise ValueError(f"`value` must be a positive number; got {value!r}.")
        resolved = np.dtype(jax.dtypes.canonicalize_dtype(float if dtype is None else dtype))
        self.log_value = jnp.asarray(math.log(float(value)), resolved)

    @property
    def value(self) -> Array:
        """$C = e^{s}$, a scalar."""
        return jnp.exp(self.log_value)


def observation_residual(u: Callable[[Any, Array], Array]) -> Callable[[Any, Any], Array]:
    r"""The data misfit $r(\theta, (x, y)) = u(\theta, x) - y$ of one observation, for a
    :class:`pinn.Term` with ``points=(x_obs, y_obs)``.

    Args:
        u: the solution ``u(params, x)``.

    Returns:
        ``r(params, (x, y))``.
    """
    if not callable(u):
        raise TypeError(f"`u` must be callable; got {type(u).__name__}.")

    def residual(params: Any, observation: tuple[Array, Array]) -> Array:
        x, y = observation
        value = u(params, x)
        return value - jnp.reshape(y, jnp.shape(value)).astype(value.dtype)

    return residual


def noisy_observations(
    key: Key, values: Float[ArrayLike, "n ..."], noise: float
) -> Float[Array, "n ..."]:
    r"""Observations with Gaussian noise relative to the data's spread,
    $y = u + \eta\,\operatorname{std}(u)\,\xi$, $\xi \sim \mathcal N(0, 1)$ (the convention of
    Raissi et al. 2019: ``noise=0.01`` is "1 % noise").

    Args:
        key: PRNG key.
        values: the exact values $u$, shape ``(n, ...)``.
        noise: $\eta \ge 0$.

    Returns:
        $y$, of the shape and dtype of ``values``.

    Raises:
        ValueError: naming ``noise`` when negative or not finite.
    """
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real):
        raise ValueError(f"`noise` must be a non-negative number; got {noise!r}.")
    if not (math.isfinite(float(noise)) and noise >= 0):
        raise ValueError(f"`noise` must be a non-negative number; got {noise!r}.")
    values = jnp.asarray(values)
    if not jnp.issubdtype(values.dtype, jnp.floating):
        raise TypeError(f"`values` must be a floating array; got dtype {values.dtype}.")
    scale = jnp.asarray(noise, values.dtype) * jnp.std(values)
    return values + scale * jax.random.normal(key, values.shape, values.dtype)
