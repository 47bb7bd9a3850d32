"""Random Fourier feature embedding."""

import functools
import math
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .._checks import check_int, check_positive_float
from .._custom_types import Array, ArrayLike, DTypeLike, Float, Key, ScalarLike
from ._misc import check_input, check_size_or_scalar, floating_dtype, size_as_int


@functools.partial(jax.jit, static_argnames=("shape", "dtype"))
def _draw_frequencies(
    key: Key, scale: ScalarLike, *, shape: tuple[int, int], dtype: np.dtype
) -> Array:
    return jnp.asarray(scale, dtype=dtype) * jr.normal(key, shape, dtype=dtype)


class FourierFeatures(eqx.Module):
    r"""Random Fourier feature embedding $\gamma(x) = [\cos(2\pi B x), \sin(2\pi B x)]$.

    The frequency matrix $B \in \mathbb{R}^{m \times d}$ ($m$ = `num_features`,
    $d$ = `in_size`) is drawn once, $B_{ij} \sim \mathcal{N}(0, s^2)$ with $s$ = `scale`.
    The output concatenates the $m$ cosines and then the $m$ sines, shape `(2 m,)`. A larger
    `scale` lets a downstream MLP fit higher frequencies (the spectral bias remedy of
    Tancik et al.).

    With `trainable=False` (default) $B$ is a fixed embedding: it is wrapped in
    `jax.lax.stop_gradient` when called, so its gradient is exactly zero and optimisers
    leave it alone. With `trainable=True` it is an ordinary parameter.

    Attributes:
        frequencies: $B$, shape `(num_features, in_size)` (`(num_features, 1)` when
            `in_size="scalar"`).
        in_size, num_features, trainable: as given to `__init__`.
        out_size: `2 * num_features`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from dmech.nn import FourierFeatures, MLP
        >>> k1, k2 = jax.random.split(jax.random.key(0))
        >>> ff = FourierFeatures(2, 64, scale=10.0, key=k1)
        >>> net = MLP(ff.out_size, 1, width=64, depth=2, key=k2)
        >>> net(ff(jnp.zeros(2))).shape
        (1,)

    References:
        Tancik et al. (2020), "Fourier features let networks learn high frequency functions
        in low dimensional domains", NeurIPS.
        Rahimi and Recht (2007), "Random features for large-scale kernel machines", NIPS.
    """

    frequencies: Float[Array, "num_features in_features"]
    in_size: int | Literal["scalar"] = eqx.field(static=True)
    num_features: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    trainable: bool = eqx.field(static=True)

    def __init__(
        self,
        in_size: int | str,
        num_features: int,
        *,
        scale: float | int = 1.0,
        trainable: bool = False,
        dtype: DTypeLike | None = None,
        key: Key,
    ):
        """Draw the frequency matrix.

        Args:
            in_size: input size $d$ (input shape `(in_size,)`), or `"scalar"` for input
                shape `()`.
            num_features: number $m$ of frequencies; the output has `2 * num_features`
                entries.
            scale: standard deviation $s > 0$ of the frequencies, in cycles per unit of
                the input.
            trainable: whether $B$ receives gradients.
            dtype: floating dtype of $B$; `None` is JAX's default float dtype.
            key: PRNG key for $B$.

        Raises:
            ValueError: naming the argument, for a non-positive size or `scale`, or a string
                `in_size` other than `"scalar"`.
            TypeError: naming the argument, for a size that is not an int, a non-bool
                `trainable`, or a `dtype` that is not a real floating dtype.
            ValueError: for a 64-bit `dtype` while JAX's 64-bit mode is off.
        """
        in_size = check_size_or_scalar(in_size, "in_size")
        num_features = check_int(num_features, "num_features")
        scale = check_positive_float(scale, "scale")
        if not isinstance(trainable, bool):
            raise TypeError(f"`trainable` must be a bool; got {trainable!r}.")
        dtype = floating_dtype(dtype)
        shape = (num_features, size_as_int(in_size))
        self.frequencies = _draw_frequencies(key, scale, shape=shape, dtype=dtype)
        self.in_size = in_size
        self.num_features = num_features
        self.out_size = 2 * num_features
        self.trainable = trainable

    def __call__(
        self, x: Float[ArrayLike, "..."], *, key: Key | None = None
    ) -> Float[Array, " out_size"]:
        r"""Embed one input.

        Args:
            x: input of shape `(in_size,)`, or `()` if `in_size="scalar"`; use `jax.vmap`
                for a batch.
            key: ignored; accepted for compatibility with `equinox.nn.Sequential`.

        Returns:
            $[\cos(2\pi B x), \sin(2\pi B x)]$, shape `(2 * num_features,)`.

        Raises:
            ValueError: if `x` has the wrong shape (at trace time).
        """
        del key
        x = check_input(x, self.in_size)
        frequencies = self.frequencies
        if not self.trainable:
            frequencies = jax.lax.stop_gradient(frequencies)
        phase = (2 * math.pi) * (frequencies @ jnp.reshape(x, (-1,)))
        return jnp.concatenate([jnp.cos(phase), jnp.sin(phase)])
