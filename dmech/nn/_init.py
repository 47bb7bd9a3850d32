"""Weight initialisation schemes for dense layers (weights of shape `(out, in)`)."""

import functools
import math
from typing import Literal

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .._custom_types import Array, Key

INITIALISATIONS: tuple[str, ...] = (
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "siren",
)

# Standard deviation of a standard normal truncated to [-2, 2]; dividing by it gives unit
# variance (as in jax.nn.initializers.variance_scaling).
_TRUNCATED_NORMAL_STD = 0.87962566103423978


def weight_std(
    scheme: str,
    shape: tuple[int, int],
    *,
    layer: Literal["first", "hidden", "last"],
    omega0: float,
) -> float:
    """Standard deviation of the weights of one `(out, in)` layer under `scheme`."""
    fan_out, fan_in = shape
    if scheme == "glorot_normal" or scheme == "glorot_uniform":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "he_normal" or scheme == "he_uniform":
        return math.sqrt(2.0 / fan_in)
    if scheme == "lecun_normal":
        return math.sqrt(1.0 / fan_in)
    if scheme == "siren":
        if layer == "first":
            bound = omega0 / fan_in
        elif layer == "hidden":
            bound = math.sqrt(6.0 / fan_in)
        else:
            bound = math.sqrt(6.0 / fan_in) / omega0
        return bound / math.sqrt(3.0)  # U(-a, a) has standard deviation a / sqrt(3)
    raise ValueError(f"unknown initialisation {scheme!r}")


@functools.partial(jax.jit, static_argnames=("scheme", "shapes", "dtype", "omega0"))
def init_dense_layers(
    key: Key,
    *,
    scheme: str,
    shapes: tuple[tuple[int, int], ...],
    dtype: np.dtype,
    omega0: float,
) -> tuple[tuple[Array, Array], ...]:
    """`(weight, bias)` for a chain of dense layers: weights of the given `(out, in)` shapes
    drawn with `scheme`, biases zero.

    One unit-variance draw (uniform on [-sqrt 3, sqrt 3], or a normal truncated at two
    standard deviations and rescaled) is cut into the layers and scaled per layer, and the
    whole is jitted: one small compilation per configuration.
    """
    sizes = [fan_out * fan_in for fan_out, fan_in in shapes]
    total = sum(sizes)
    if scheme.endswith("uniform") or scheme == "siren":
        root3 = math.sqrt(3.0)
        unit = jr.uniform(key, (total,), dtype=dtype, minval=-root3, maxval=root3)
    else:
        unit = jr.truncated_normal(key, -2.0, 2.0, (total,), dtype=dtype)
        unit = unit / _TRUNCATED_NORMAL_STD
    params = []
    start = 0
    for i, (shape, size) in enumerate(zip(shapes, sizes, strict=True)):
        position: Literal["first", "hidden", "last"]
        if i == len(shapes) - 1:
            position = "last"
        elif i == 0:
            position = "first"
        else:
            position = "hidden"
        std = weight_std(scheme, shape, layer=position, omega0=omega0)
        weight = std * jnp.reshape(unit[start : start + size], shape)
        start += size
        params.append((weight, jnp.zeros(shape[:1], dtype=dtype)))
    return tuple(params)
