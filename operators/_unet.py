r"""U-Net field predictor in 2D and 3D: the convolutional baseline for every field surrogate."""

from __future__ import annotations

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from dmech._checks import check_int
from dmech._custom_types import Array, ArrayLike, DTypeLike, Float, Key
from dmech.nn._activation import _resolve_activation
from dmech.nn._misc import floating_dtype

from ._fno import draw_parameters, subkey

__all__ = ["UNet"]

_PADDING_MODES = {"zeros": "ZEROS", "circular": "CIRCULAR", "reflect": "REFLECT"}


def _conv(
    transpose: bool,
    spatial_dims: int,
    in_channels: int,
    out_channels: int,
    kernel: int,
    *,
    padding_mode: str,
    key: Key,
    dtype: DTypeLike,
) -> eqx.nn.Conv | eqx.nn.ConvTranspose:
    """An equinox (transposed) convolution with PyTorch's default initialisation,
    uniform on +-1/sqrt(fan_in), drawn without compiling a kernel per layer shape."""
    if transpose:
        skeleton = eqx.filter_eval_shape(
            eqx.nn.ConvTranspose,
            spatial_dims,
            in_channels,
            out_channels,
            kernel,
            stride=2,
            dtype=dtype,
            key=key,
        )
    else:
        skeleton = eqx.filter_eval_shape(
            eqx.nn.Conv,
            spatial_dims,
            in_channels,
            out_channels,
            kernel,
            padding="SAME",
            padding_mode=padding_mode,
            dtype=dtype,
            key=key,
        )
    weight_shape, bias_shape = skeleton.weight.shape, skeleton.bias.shape
    bound = 1.0 / math.sqrt(weight_shape[1] * math.prod(weight_shape[2:]))
    weight, bias = draw_parameters(
        key,
        [("uniform", weight_shape, -bound, bound), ("uniform", bias_shape, -bound, bound)],
        dtype,
    )
    return eqx.tree_at(lambda conv: (conv.weight, conv.bias), skeleton, (weight, bias))


def _max_pool(x: Array, spatial_dims: int) -> Array:
    """2x max pooling of a `(channels, *spatial)` field with even sizes."""
    shape = [x.shape[0]]
    for n in x.shape[1:]:
        shape += [n // 2, 2]
    return jnp.max(x.reshape(shape), axis=tuple(range(2, 2 + 2 * spatial_dims, 2)))


class UNet(eqx.Module):
    r"""U-Net (Ronneberger et al. 2015) mapping a field to a field on the same 2-D or 3-D grid.

    With $c_\ell$ = `base_width` $\cdot 2^\ell$ channels at level $\ell = 0, \dots, L$
    ($L$ = `levels`), every block is two 3x3 (3x3x3) convolutions with "same" padding, each
    followed by the activation:

    - encoder: block $\ell$ maps to $c_\ell$ channels, then 2x max pooling (levels $0..L-1$);
      the bottleneck block works at level $L$, on grids $2^L$ times coarser;
    - decoder: a 2x transposed convolution up to level $\ell$ ($c_{\ell+1} \to c_\ell$),
      concatenated with the encoder's level-$\ell$ output (the skip connection), then a
      block back to $c_\ell$ channels;
    - head: a 1x1 convolution to `out_channels`.

    Unlike the neural operators, a U-Net is tied to its grid spacing (its kernels span a
    fixed number of points), and its input sizes must be divisible by $2^L$ on every axis:
    that is checked, not padded.

    Attributes:
        encoder: `levels + 1` blocks, each a pair of `equinox.nn.Conv`.
        upsample: `levels` `equinox.nn.ConvTranspose` (kernel 2, stride 2), coarsest first.
        decoder: `levels` blocks, coarsest first.
        head: the 1x1 `equinox.nn.Conv`.
        activation: the activation callable.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> net = UNet(1, 1, spatial_dims=2, base_width=8, levels=3, key=jax.random.key(0))
        >>> net(jnp.zeros((1, 64, 64))).shape
        (1, 64, 64)

    References:
        Ronneberger, Fischer and Brox (2015), "U-Net: convolutional networks for biomedical
        image segmentation", MICCAI.
        Gupta and Brandstetter (2022), "Towards multi-spatiotemporal-scale generalized PDE
        modeling", arXiv:2209.15616 (U-Nets as PDE surrogates).
    """

    encoder: tuple[tuple[eqx.nn.Conv, eqx.nn.Conv], ...]
    upsample: tuple[eqx.nn.ConvTranspose, ...]
    decoder: tuple[tuple[eqx.nn.Conv, eqx.nn.Conv], ...]
    head: eqx.nn.Conv
    activation: Callable[[Array], Array]
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    spatial_dims: int = eqx.field(static=True)
    base_width: int = eqx.field(static=True)
    levels: int = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        spatial_dims: int,
        base_width: int,
        levels: int,
        activation: str | Callable[[Array], Array] = "gelu",
        padding_mode: str = "zeros",
        key: Key,
        dtype: DTypeLike | None = None,
    ):
        """Build the network.

        Args:
            in_channels: channels of the input field.
            out_channels: channels of the output field.
            spatial_dims: 2 or 3.
            base_width: channels at the finest level, $c_0$.
            levels: number of 2x down-samplings $L \\ge 0$.
            activation: a `dmech.nn.activation` name or a callable.
            padding_mode: boundary of the 3x3 convolutions: `"zeros"` (non-periodic
                domains), `"circular"` (periodic) or `"reflect"`.
            key: PRNG key.
            dtype: real floating dtype of the parameters.

        Raises:
            ValueError, TypeError: naming the argument, for non-positive sizes,
                `spatial_dims` other than 2 or 3, or an unknown activation or padding mode.
        """
        self.in_channels = check_int(in_channels, "in_channels")
        self.out_channels = check_int(out_channels, "out_channels")
        self.spatial_dims = check_int(spatial_dims, "spatial_dims")
        if self.spatial_dims not in (2, 3):
            raise ValueError(f"`spatial_dims` must be 2 or 3; got {spatial_dims!r}.")
        self.base_width = check_int(base_width, "base_width")
        self.levels = check_int(levels, "levels", minimum=0)
        self.activation = _resolve_activation(activation, "activation")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"`padding_mode` must be one of {sorted(_PADDING_MODES)}; got {padding_mode!r}."
            )
        mode = _PADDING_MODES[padding_mode]
        dtype = floating_dtype(dtype)
        d = self.spatial_dims
        widths = [self.base_width * 2**level for level in range(self.levels + 1)]
        counter = iter(range(10_000))

        def conv(cin: int, cout: int, kernel: int = 3, transpose: bool = False):
            return _conv(
                transpose, d, cin, cout, kernel, padding_mode=mode,
                key=subkey(key, next(counter)), dtype=dtype,
            )  # fmt: skip

        encoder = []
        previous = self.in_channels
        for width in widths:
            encoder.append((conv(previous, width), conv(width, width)))
            previous = width
        upsample, decoder = [], []
        for level in reversed(range(self.levels)):
            upsample.append(conv(widths[level + 1], widths[level], 2, transpose=True))
            decoder.append(
                (conv(2 * widths[level], widths[level]), conv(widths[level], widths[level]))
            )
        self.encoder = tuple(encoder)
        self.upsample = tuple(upsample)
        self.decoder = tuple(decoder)
        self.head = conv(widths[0], self.out_channels, 1)

    def __call__(self, x: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        """Predict the output field.

        Args:
            x: input field, shape `(in_channels, n_1, ..., n_d)` with every `n_j` divisible
                by `2**levels`; cast to the parameters' dtype.

        Returns:
            Shape `(out_channels, n_1, ..., n_d)`.

        Raises:
            ValueError: naming `x`, for the wrong number of axes or channels, or sizes not
                divisible by `2**levels` (at trace time).
        """
        x = jnp.asarray(x)
        if x.ndim != self.spatial_dims + 1 or x.shape[0] != self.in_channels:
            raise ValueError(
                f"`x` must have shape ({self.in_channels}, *spatial) with {self.spatial_dims} "
                f"spatial axes; got {x.shape}. Use jax.vmap for batches."
            )
        factor = 2**self.levels
        if any(n % factor for n in x.shape[1:]):
            raise ValueError(
                f"`x` must have spatial sizes divisible by 2**levels = {factor} (levels="
                f"{self.levels}); got shape {x.shape}. Pad or resample the field first."
            )
        h = x.astype(self.head.weight.dtype)

        def block(pair: tuple[eqx.nn.Conv, eqx.nn.Conv], h: Array) -> Array:
            first, second = pair
            return self.activation(second(self.activation(first(h))))

        skips = []
        for level, pair in enumerate(self.encoder):
            h = block(pair, h)
            if level < self.levels:
                skips.append(h)
                h = _max_pool(h, self.spatial_dims)
        for up, pair, skip in zip(self.upsample, self.decoder, reversed(skips), strict=True):
            h = block(pair, jnp.concatenate([up(h), skip], axis=0))
        return self.head(h)

    @property
    def dtype(self) -> jax.typing.DTypeLike:
        """Floating dtype of the parameters."""
        return self.head.weight.dtype
