r"""Fourier neural operators: spectral convolution, FNO (1D/2D/3D), factorised FNO, rollouts.

Every model here takes one unbatched field with the channels first, `(channels, *spatial)`,
and returns one field on the same grid; batch with `jax.vmap`. The spectral weights act on
Fourier modes, not grid points, so one set of weights applies at any resolution that
resolves the retained modes (at least `2 * modes` points per axis).

References:
    Li et al. (2021), "Fourier neural operator for parametric partial differential
    equations", ICLR.
    Tran, Mathews, Xie and Ong (2023), "Factorized Fourier neural operators", ICLR.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from dmech._checks import check_int
from dmech._custom_types import Array, ArrayLike, DTypeLike, Float, Key
from dmech.nn._activation import _resolve_activation
from dmech.nn._misc import floating_dtype

__all__ = [
    "FNO",
    "FactorizedFNO",
    "FactorizedSpectralConv",
    "SpectralConv",
    "published_fno",
    "repeat_in_time",
    "rollout_fno",
]

Positional = Literal["closed", "periodic"]


# ---------------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------------


def _check_modes(
    modes: object, spatial_dims: int | None, argname: str = "modes"
) -> tuple[int, ...]:
    """`modes` as a tuple of positive ints, one per spatial axis (an int is repeated)."""
    if isinstance(modes, numbers.Integral) and not isinstance(modes, bool):
        if spatial_dims is None:
            spatial_dims = 1
        modes = (int(modes),) * spatial_dims
    if not isinstance(modes, Sequence) or isinstance(modes, str):
        raise TypeError(f"`{argname}` must be an int or a tuple of ints; got {modes!r}.")
    result = tuple(check_int(m, f"{argname}[{i}]") for i, m in enumerate(modes))
    if not 1 <= len(result) <= 3:
        raise ValueError(f"`{argname}` must have 1, 2 or 3 entries (spatial axes); got {modes!r}.")
    if spatial_dims is not None and len(result) != spatial_dims:
        raise ValueError(
            f"`{argname}` has {len(result)} entries but spatial_dims={spatial_dims}; got {modes!r}."
        )
    return result


def _check_spatial_dims(spatial_dims: object) -> int:
    value = check_int(spatial_dims, "spatial_dims")
    if value not in (1, 2, 3):
        raise ValueError(f"`spatial_dims` must be 1, 2 or 3; got {value}.")
    return value


def _check_positional(positional: object) -> Positional | None:
    if positional is True:
        return "closed"
    if positional is False or positional is None:
        return None
    if positional in ("closed", "periodic"):
        return positional  # type: ignore[return-value]
    raise ValueError(
        f"`positional` must be True, False, 'closed' or 'periodic'; got {positional!r}."
    )


def _check_padding(padding: object, spatial_dims: int) -> tuple[int | float, ...]:
    """Per-axis padding: an int (grid points) or a float in [0, 1) (fraction of the size)."""
    entries = padding if isinstance(padding, Sequence) else (padding,) * spatial_dims
    if len(entries) != spatial_dims:
        raise ValueError(
            f"`padding` must be one value or {spatial_dims} values (one per spatial axis); "
            f"got {padding!r}."
        )
    result: list[int | float] = []
    for value in entries:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"`padding` entries must be ints or floats; got {padding!r}.")
        if isinstance(value, numbers.Integral):
            if value < 0:
                raise ValueError(f"`padding` entries must be >= 0; got {padding!r}.")
            result.append(int(value))
        else:
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(
                    f"`padding` fractions must lie in [0, 1); got {padding!r} (an int pads "
                    "that many grid points)."
                )
            result.append(float(value))
    return tuple(result)


def _padding_points(padding: tuple[int | float, ...], spatial: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(
        p if isinstance(p, int) else round(p * n) for p, n in zip(padding, spatial, strict=True)
    )


def _check_field(
    x: object,
    *,
    channels: int,
    modes: tuple[int, ...] | None,
    spatial_dims: int,
    argname: str = "x",
    what: str = "",
) -> jax.Array:
    """`x` as an array of shape `(channels, *spatial)` resolving `modes` (trace-time check)."""
    x = jnp.asarray(x)
    if x.ndim != spatial_dims + 1:
        raise ValueError(
            f"`{argname}` must have shape (channels, *spatial) with {spatial_dims} spatial "
            f"axes{what}; got shape {x.shape}. Use jax.vmap for batches."
        )
    if x.shape[0] != channels:
        raise ValueError(
            f"`{argname}` must have {channels} channels (axis 0){what}; got shape {x.shape}."
        )
    if modes is not None:
        for axis, (n, m) in enumerate(zip(x.shape[1:], modes, strict=True)):
            if n < 2 * m:
                raise ValueError(
                    f"`{argname}` has {n} points on spatial axis {axis}, fewer than "
                    f"2 * modes = {2 * m} needed to resolve the retained Fourier modes{what}; "
                    f"got shape {x.shape}."
                )
    return x


def _grid_coordinates(
    spatial: tuple[int, ...], kind: Positional, dtype: np.dtype
) -> Float[Array, "..."]:
    """Coordinates on [0, 1] of every grid point, shape `(len(spatial), *spatial)`."""
    axes = []
    for n in spatial:
        if kind == "closed":
            axes.append(jnp.linspace(0.0, 1.0, n, dtype=dtype))
        else:
            axes.append(jnp.arange(n, dtype=dtype) / jnp.asarray(n, dtype))
    return jnp.stack(jnp.meshgrid(*axes, indexing="ij"), axis=0)


# ---------------------------------------------------------------------------------------------
# parameter initialisation
# ---------------------------------------------------------------------------------------------

_MIN_BUCKET = 1 << 14


def subkey(key: Key, index: int) -> Key:
    """The `index`-th independent key derived from `key` (`jax.random.fold_in`).

    Used instead of `jax.random.split(key, n)[i]`, which compiles anew for every `n` and
    every index pattern when run eagerly.
    """
    return jr.fold_in(key, index)


def draw_parameters(
    key: Key,
    specs: Sequence[tuple[str, tuple[int, ...], float, float]],
    dtype: DTypeLike,
) -> list[Array]:
    """Random parameter arrays from one uniform and one normal draw of a bucketed size.

    Each spec is `("uniform", shape, low, high)` (uniform on `[low, high)`) or
    `("normal", shape, mean, std)`. XLA compiles a random-number kernel per distinct shape,
    which made building a model cost a compilation per layer shape (about 0.2 s each on a
    CPU); here the numbers come from flat draws whose sizes are rounded up to a power of two
    (at least 2**14), so building models of any size reuses a handful of compiled kernels.
    The result is a deterministic function of `key`, the specs and the dtype.
    """
    sizes = [math.prod(shape) for _, shape, _, _ in specs]
    dtype = np.dtype(dtype)
    for kind, *_ in specs:
        if kind not in ("uniform", "normal"):
            raise ValueError(f"unknown distribution {kind!r}")
    # Under a trace (eqx.filter_eval_shape, a vmapped constructor) the numbers stay abstract;
    # eagerly they are cut up in NumPy, which compiles nothing.
    traced = isinstance(key, jax.core.Tracer)
    flat: dict[str, Array | np.ndarray] = {}
    for index, kind in enumerate(("uniform", "normal")):
        total = sum(n for (k, *_), n in zip(specs, sizes, strict=True) if k == kind)
        if total:
            bucket = max(_MIN_BUCKET, 1 << (total - 1).bit_length())
            sample = jr.uniform if kind == "uniform" else jr.normal
            drawn = sample(subkey(key, index), (bucket,), dtype)
            flat[kind] = drawn if traced else np.asarray(drawn).astype(np.float64)
    offsets = dict.fromkeys(flat, 0)
    arrays = []
    for (kind, shape, a, b), n in zip(specs, sizes, strict=True):
        values = flat[kind][offsets[kind] : offsets[kind] + n]
        offsets[kind] += n
        values = a + (b - a) * values if kind == "uniform" else a + b * values
        arrays.append(jnp.asarray(values.reshape(shape).astype(dtype)))
    return arrays


# ---------------------------------------------------------------------------------------------
# pointwise layers
# ---------------------------------------------------------------------------------------------


class Pointwise(eqx.Module):
    r"""A pointwise (1x1) affine map of the channels of a field: $y(x) = W v(x) + b$.

    Initialised as PyTorch's `Linear`/`Conv1d` (and the FNO reference code): weight and bias
    uniform on $[-1/\sqrt{n_\text{in}}, 1/\sqrt{n_\text{in}}]$.

    Attributes:
        weight: shape `(out_channels, in_channels)`.
        bias: shape `(out_channels,)`.
    """

    weight: Array
    bias: Array
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, *, key: Key, dtype: DTypeLike):
        self.in_channels = check_int(in_channels, "in_channels")
        self.out_channels = check_int(out_channels, "out_channels")
        bound = 1.0 / math.sqrt(self.in_channels)
        self.weight, self.bias = draw_parameters(
            key,
            [
                ("uniform", (self.out_channels, self.in_channels), -bound, bound),
                ("uniform", (self.out_channels,), -bound, bound),
            ],
            dtype,
        )

    def __call__(self, x: Float[Array, "..."]) -> Float[Array, "..."]:
        """Map a field `(in_channels, *spatial)` to `(out_channels, *spatial)`."""
        y = jnp.tensordot(self.weight, x, axes=((1,), (0,)))
        return y + self.bias.reshape((self.out_channels,) + (1,) * (x.ndim - 1))


def _pointwise_stack(sizes: Sequence[int], *, key: Key, dtype: np.dtype) -> tuple[Pointwise, ...]:
    return tuple(
        Pointwise(n_in, n_out, key=subkey(key, i), dtype=dtype)
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes))
    )


# Points per block of a pointwise stack with hidden layers (see `_apply_stack`).
_STACK_BLOCK_POINTS = 4096


def _apply_stack(layers: tuple[Pointwise, ...], x: Array, act: Callable[[Array], Array]) -> Array:
    """Affine layers with `act` between them (none after the last).

    A stack with hidden layers (the 128-channel projection) is applied to blocks of
    `_STACK_BLOCK_POINTS` points in turn, so its hidden activations stay in cache instead of
    making a round trip through memory per layer: the forward pass of the paper's 2-D
    Navier-Stokes FNO at 256^2 took 1.34x less time on one CPU core (training steps at 85^2
    unchanged). Every point is independent, so the result is the same.
    """
    points = math.prod(x.shape[1:])
    if len(layers) == 1 or points <= 2 * _STACK_BLOCK_POINTS:
        for layer in layers[:-1]:
            x = act(layer(x))
        return layers[-1](x)
    blocks = -(-points // _STACK_BLOCK_POINTS)
    flat = jnp.pad(
        x.reshape(x.shape[0], points), ((0, 0), (0, blocks * _STACK_BLOCK_POINTS - points))
    )
    flat = flat.reshape(x.shape[0], blocks, _STACK_BLOCK_POINTS).swapaxes(0, 1)
    out = jax.lax.map(lambda block: _apply_stack(layers, block, act), flat)
    out = out.swapaxes(0, 1).reshape(out.shape[1], blocks * _STACK_BLOCK_POINTS)[:, :points]
    return out.reshape(out.shape[0], *x.shape[1:])


# ---------------------------------------------------------------------------------------------
# spectral convolutions
# ---------------------------------------------------------------------------------------------


# Truncated DFTs as matrix products. The layers need only the few retained modes, so instead
# of full FFTs followed by a gather (and zero-filled inverse FFTs), each axis is transformed
# by its n x 2m (or n x m) DFT matrix, built at trace time from the static grid size: exact
# to rounding, differentiable as a matmul, and on one CPU core 1.6x (64^2) to 7x (421^2)
# faster than rfftn/irfftn for 12 modes (scratch timing, forward and gradient alike).
_EXACT = jax.lax.Precision.HIGHEST


def _signed_frequencies(m: int) -> np.ndarray:
    """Retained frequencies of an axis other than the last: `0 ... m-1, -m ... -1`."""
    return np.concatenate([np.arange(m), np.arange(-m, 0)])


def _rdft_last(x: Array, m: int) -> Array:
    """Real DFT along the last axis, frequencies `0 ... m-1` only (complex, `(..., m)`)."""
    n = x.shape[-1]
    angle = 2 * np.pi * np.outer(np.arange(n), np.arange(m)) / n
    matrix = np.concatenate([np.cos(angle), -np.sin(angle)], axis=1).astype(x.dtype)
    both = jnp.matmul(x, matrix, precision=_EXACT)
    return jax.lax.complex(both[..., :m], both[..., m:])


def _irdft_last(spectrum: Array, n: int) -> Array:
    r"""Real inverse of `_rdft_last` onto `n` points: $\frac1n \sum_k c_k \operatorname{Re}
    (\hat y_k e^{2\pi i k x / n})$ with $c_0 = 1$, $c_{k>0} = 2$ (the imaginary part of
    the mean mode drops out, as it does for `irfft`)."""
    m = spectrum.shape[-1]
    k = np.arange(m)
    weight = np.where(k == 0, 1.0, 2.0)[:, None] / n
    angle = 2 * np.pi * np.outer(k, np.arange(n)) / n
    matrix = np.concatenate([weight * np.cos(angle), -weight * np.sin(angle)], axis=0)
    both = jnp.concatenate([jnp.real(spectrum), jnp.imag(spectrum)], axis=-1)
    return jnp.matmul(both, matrix.astype(both.dtype), precision=_EXACT)


def _dft_axis(spectrum: Array, axis: int, m: int, n: int | None = None) -> Array:
    """Complex DFT along `axis` onto frequencies `0 ... m-1, -m ... -1`; with `n`, the
    inverse of that: from those `2 m` frequencies back to `n` points (divided by `n`)."""
    if n is None:
        points = spectrum.shape[axis]
        matrix = np.exp(-2j * np.pi * np.outer(_signed_frequencies(m), np.arange(points)) / points)
    else:
        matrix = np.exp(2j * np.pi * np.outer(np.arange(n), _signed_frequencies(m)) / n) / n
    moved = jnp.moveaxis(spectrum, axis, 0)
    out = jnp.tensordot(matrix.astype(spectrum.dtype), moved, axes=1, precision=_EXACT)
    return jnp.moveaxis(out, 0, axis)


def _retained_block(shape_modes: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of the retained spectrum: `2 m` on every axis but the last (both signs), `m` on it."""
    return (*(2 * m for m in shape_modes[:-1]), shape_modes[-1])


class SpectralConv(eqx.Module):
    r"""Spectral convolution of the Fourier neural operator, in 1, 2 or 3 dimensions.

    On a periodic grid of $N = n_1 \cdots n_d$ points, with the real DFT
    $\hat v(k) = \sum_x v(x)\, e^{-2\pi i\, k\cdot x / n}$ ($k \cdot x / n = \sum_j
    k_j x_j / n_j$),

    $$\hat y_o(k) = \sum_i R_{oi}(k)\, \hat v_i(k) \quad (k \in K),\qquad
    y = \operatorname{irfft}_n(\hat y),$$

    with $\hat y(k) = 0$ outside the retained set $K = \{k : -m_j \le k_j < m_j \ (j < d),\
    0 \le k_d < m_d\}$: the low modes of the half spectrum `rfftn` returns, with both signs
    of the frequency on every axis but the last (the "corner blocks" of Li et al. 2021).
    Written out, the output is the real trigonometric polynomial

    $$y_o(x) = \frac{1}{N} \sum_{k \in K} c_{k_d}\, \operatorname{Re}\Big(\hat y_o(k)\,
    e^{2\pi i\, k\cdot x / n}\Big),\qquad c_0 = 1,\ c_{k_d > 0} = 2.$$

    Only the retained modes are computed: each axis is transformed by its truncated DFT matrix
    (a matrix product), not by a full FFT followed by a gather; for the few modes an FNO
    keeps this is several times cheaper and equal to rounding.

    The weights $R(k) \in \mathbb{C}^{o \times i}$ belong to modes, not grid points, so the
    same layer applies at any resolution with $n_j \ge 2 m_j$ points per axis (then the
    Nyquist mode of the last axis is never retained), and a band-limited input sampled at
    two such resolutions gives samples of the same output function.

    The weights are stored as two real arrays (real and imaginary parts) so that optax,
    float64 checks and `equinox.is_inexact_array` treat them as ordinary parameters. They
    are initialised as in the reference code of Li et al. (2021): both parts uniform on
    $[0, 1/(n_\text{in} n_\text{out}))$.

    Attributes:
        weight_real, weight_imag: shape `(out_channels, in_channels, 2 m_1, ..., 2 m_{d-1},
            m_d)`; along each axis but the last, index `j < m` is frequency `j` and index
            `j >= m` is frequency `j - 2 m` (so `-m ... -1`).
        in_channels, out_channels, modes: as given.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> conv = SpectralConv(3, 5, (8, 6), key=jax.random.key(0))
        >>> conv(jnp.ones((3, 32, 24))).shape
        (5, 32, 24)

    References:
        Li et al. (2021), "Fourier neural operator for parametric partial differential
        equations", ICLR, section 4 and the released code.
    """

    weight_real: Array
    weight_imag: Array
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    modes: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: int | Sequence[int],
        *,
        key: Key,
        dtype: DTypeLike | None = None,
    ):
        """Build the layer.

        Args:
            in_channels: channels of the input field, a positive int.
            out_channels: channels of the output field, a positive int.
            modes: retained modes per spatial axis, a tuple of 1 to 3 positive ints (its
                length is the number of spatial axes); an int means one axis.
            key: PRNG key for the weights.
            dtype: real floating dtype of the weights; `None` is JAX's default.

        Raises:
            ValueError, TypeError: naming the argument, for a non-positive or non-int size,
                a `modes` of the wrong length, or a dtype that is not real floating.
        """
        self.in_channels = check_int(in_channels, "in_channels")
        self.out_channels = check_int(out_channels, "out_channels")
        self.modes = _check_modes(modes, None)
        dtype = floating_dtype(dtype)
        shape = (self.out_channels, self.in_channels, *_retained_block(self.modes))
        scale = 1.0 / (self.in_channels * self.out_channels)
        self.weight_real, self.weight_imag = draw_parameters(
            key, [("uniform", shape, 0.0, scale)] * 2, dtype
        )

    @property
    def spatial_dims(self) -> int:
        """Number of spatial axes, `len(modes)`."""
        return len(self.modes)

    def weight(self) -> Array:
        """The complex weights $R$, shape `(out_channels, in_channels, *retained)`."""
        return jax.lax.complex(self.weight_real, self.weight_imag)

    def __call__(self, x: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        """Apply the spectral convolution to one field.

        Args:
            x: field of shape `(in_channels, n_1, ..., n_d)` with `n_j >= 2 * modes[j]`,
                values on a periodic grid; cast to the dtype of the weights.

        Returns:
            Field of shape `(out_channels, n_1, ..., n_d)`, in the dtype of the weights.

        Raises:
            ValueError: naming `x`, for the wrong number of axes or channels, or too few
                points for the retained modes (at trace time).
        """
        x = _check_field(
            x, channels=self.in_channels, modes=self.modes, spatial_dims=self.spatial_dims
        ).astype(self.weight_real.dtype)
        spatial = x.shape[1:]
        # The retained modes only: the last axis first (it shrinks the data most), then the
        # others; the inverse in the opposite order, ending with the real last axis.
        kept = _rdft_last(x, self.modes[-1])
        for axis, m in enumerate(self.modes[:-1], start=1):
            kept = _dft_axis(kept, axis, m)
        mixed = jnp.einsum("oi...,i...->o...", self.weight(), kept)
        for axis, m in enumerate(self.modes[:-1], start=1):
            mixed = _dft_axis(mixed, axis, m, spatial[axis - 1])
        return _irdft_last(mixed, spatial[-1])


class FactorizedSpectralConv(eqx.Module):
    r"""Separable spectral convolution of the factorised FNO (F-FNO): one 1-D transform per axis.

    $$K(v) = \sum_{j=1}^{d} \operatorname{irfft}_j\big(R_j \cdot \operatorname{rfft}_j(v)
    \big),\qquad (R_j \cdot \hat v)_o(k) = \sum_i R_{j,oi}(k)\, \hat v_i(k)\ (0 \le k < m_j),$$

    where $\operatorname{rfft}_j$ is the real DFT along spatial axis $j$ only and the modes
    $k \ge m_j$ are zeroed. The weights cost $\sum_j m_j$ instead of $\prod_j m_j$ per channel
    pair. Like `SpectralConv` it applies at any resolution with `n_j >= 2 * modes[j]`.

    Weights are stored as real and imaginary parts, initialised normal with standard
    deviation $\sqrt{1/(m_j (n_\text{in} + n_\text{out}))}$ per part (the Glorot scale of the
    authors' code).

    Attributes:
        weight_real, weight_imag: tuples of `d` arrays, shape `(out_channels, in_channels,
            m_j)`.

    References:
        Tran, Mathews, Xie and Ong (2023), "Factorized Fourier neural operators", ICLR,
        section 3.
    """

    weight_real: tuple[Array, ...]
    weight_imag: tuple[Array, ...]
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    modes: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: int | Sequence[int],
        *,
        key: Key,
        dtype: DTypeLike | None = None,
    ):
        """Build the layer (arguments as for `SpectralConv`)."""
        self.in_channels = check_int(in_channels, "in_channels")
        self.out_channels = check_int(out_channels, "out_channels")
        self.modes = _check_modes(modes, None)
        dtype = floating_dtype(dtype)
        specs = []
        for m in self.modes:
            std = math.sqrt(1.0 / (m * (self.in_channels + self.out_channels)))
            shape = (self.out_channels, self.in_channels, m)
            specs += [("normal", shape, 0.0, std), ("normal", shape, 0.0, std)]
        arrays = draw_parameters(key, specs, dtype)
        self.weight_real = tuple(arrays[0::2])
        self.weight_imag = tuple(arrays[1::2])

    @property
    def spatial_dims(self) -> int:
        """Number of spatial axes, `len(modes)`."""
        return len(self.modes)

    def __call__(self, x: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        """Apply to a field of shape `(in_channels, n_1, ..., n_d)`, `n_j >= 2 * modes[j]`.

        Returns:
            Field of shape `(out_channels, n_1, ..., n_d)` in the dtype of the weights.

        Raises:
            ValueError: naming `x`, for the wrong shape or too few points (at trace time).
        """
        x = _check_field(
            x, channels=self.in_channels, modes=self.modes, spatial_dims=self.spatial_dims
        ).astype(self.weight_real[0].dtype)
        out = None
        for j, m in enumerate(self.modes):
            axis = j + 1
            n = x.shape[axis]
            spectrum = _rdft_last(jnp.moveaxis(x, axis, -1), m)
            weight = jax.lax.complex(self.weight_real[j], self.weight_imag[j])
            mixed = jnp.einsum("oim,i...m->o...m", weight, spectrum)
            term = _irdft_last(mixed, n)
            term = jnp.moveaxis(term, -1, axis)
            out = term if out is None else out + term
        assert out is not None
        return out


# ---------------------------------------------------------------------------------------------
# FNO
# ---------------------------------------------------------------------------------------------


def _lift_and_pad(
    x: Array,
    *,
    lifting: tuple[Pointwise, ...],
    act: Callable[[Array], Array],
    positional: Positional | None,
    padding: tuple[int | float, ...],
) -> tuple[Array, tuple[int, ...]]:
    spatial = x.shape[1:]
    if positional is not None:
        x = jnp.concatenate([x, _grid_coordinates(spatial, positional, x.dtype)], axis=0)
    x = _apply_stack(lifting, x, act)
    pads = _padding_points(padding, spatial)
    if any(pads):
        x = jnp.pad(x, [(0, 0)] + [(0, p) for p in pads])
    return x, spatial


def _crop(x: Array, spatial: tuple[int, ...]) -> Array:
    return x[(slice(None), *(slice(0, n) for n in spatial))]


class FNO(eqx.Module):
    r"""Fourier neural operator (Li et al. 2021) on a 1-, 2- or 3-D grid.

    With the input field $a(x)$ ($n_\text{in}$ channels), optionally followed by the grid
    coordinates $x \in [0,1]^d$ as $d$ more channels,

    $$v_0 = P(a, x),\qquad v_{\ell+1} = \sigma\big(\mathcal K_\ell v_\ell + W_\ell v_\ell
    + b_\ell\big)\ (\ell < L-1),\qquad v_L = \mathcal K_{L-1} v_{L-1} + W_{L-1} v_{L-1}
    + b_{L-1},\qquad u = Q(v_L),$$

    where $P$ (lifting) and $Q$ (projection) act pointwise (affine maps, or small MLPs),
    $\mathcal K_\ell$ is a `SpectralConv` and $W_\ell$ a pointwise linear skip. With
    `padding`, $v_0$ is zero-padded at the end of every spatial axis before the Fourier
    layers and cropped back before $Q$: the spectral convolution assumes periodicity, and
    the padding gives a non-periodic solution room to leave the box.

    The published architectures (Li et al. 2021 and the authors' released scripts) are
    built by `published_fno`; in short, four Fourier layers, GELU, a linear lifting and a
    projection with 128 hidden channels, and

    | problem | `spatial_dims` | `modes` | `width` | `padding` |
    |---|---|---|---|---|
    | Burgers 1D | 1 | 16 | 64 | 0 |
    | Darcy 2D | 2 | 12 | 32 | 9 points |
    | Navier-Stokes FNO-2D (recurrent) | 2 | 12 | 20 | 0 |
    | Navier-Stokes FNO-3D (space-time) | 3 | 8 | 20 | 6 points on time only |

    Resolution: all weights act on modes or pointwise, so one model applies to inputs of any
    size with at least `2 * modes` points per axis. Positional features are recomputed from
    the input's size. A padding given in points covers a different physical length at
    another resolution; give it as a fraction (a float) for zero-shot transfer.

    Attributes:
        lifting: pointwise affine layers $P$.
        spectral: the `depth` `SpectralConv` layers.
        skips: the `depth` pointwise linear skips $W_\ell$ (with bias $b_\ell$).
        projection: pointwise affine layers $Q$.
        activation: $\sigma$.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = FNO(1, 1, modes=16, width=64, depth=4, spatial_dims=1,
        ...             key=jax.random.key(0))
        >>> model(jnp.zeros((1, 256))).shape
        (1, 256)
        >>> model(jnp.zeros((1, 1024))).shape  # same weights, finer grid
        (1, 1024)

    References:
        Li et al. (2021), "Fourier neural operator for parametric partial differential
        equations", ICLR.
    """

    lifting: tuple[Pointwise, ...]
    spectral: tuple[SpectralConv, ...]
    skips: tuple[Pointwise, ...]
    projection: tuple[Pointwise, ...]
    activation: Callable[[Array], Array]
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    modes: tuple[int, ...] = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    spatial_dims: int = eqx.field(static=True)
    positional: Positional | None = eqx.field(static=True)
    padding: tuple[int | float, ...] = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        modes: int | Sequence[int],
        width: int,
        depth: int,
        spatial_dims: int,
        positional: bool | str = True,
        padding: int | float | Sequence[int | float] = 0,
        activation: str | Callable[[Array], Array] = "gelu",
        lifting_width: int | None = None,
        projection_width: int = 128,
        key: Key,
        dtype: DTypeLike | None = None,
    ):
        """Build the network.

        Args:
            in_channels: channels of the input field (without the positional features).
            out_channels: channels of the output field.
            modes: retained Fourier modes per spatial axis (an int is used on every axis).
            width: channels of the hidden fields $v_\\ell$.
            depth: number of Fourier layers $L$.
            spatial_dims: 1, 2 or 3.
            positional: append the grid coordinates on [0, 1] as channels: `True` or
                `"closed"` for `linspace(0, 1, n)` (end points included, as the reference
                code), `"periodic"` for `arange(n) / n` (a periodic grid, so subsampling
                keeps coordinates), `False` for none.
            padding: zero padding at the end of each spatial axis, one value or one per axis:
                an int is a number of grid points, a float in [0, 1) a fraction of the axis.
            activation: $\\sigma$, a name accepted by `dmech.nn.activation` or a callable
                (note that dmech's `"gelu"` is the tanh approximation; PyTorch's default is
                the exact erf form).
            lifting_width: `None` for an affine lifting (the paper's), or the hidden width
                of a two-layer pointwise MLP.
            projection_width: hidden width of the two-layer projection (128 in the paper).
            key: PRNG key for the weights.
            dtype: real floating dtype of the parameters; `None` is JAX's default.

        Raises:
            ValueError, TypeError: naming the argument, for non-positive sizes, `modes` of
                the wrong length, an unknown activation or positional kind, or bad padding.
        """
        self.in_channels = check_int(in_channels, "in_channels")
        self.out_channels = check_int(out_channels, "out_channels")
        self.spatial_dims = _check_spatial_dims(spatial_dims)
        self.modes = _check_modes(modes, self.spatial_dims)
        self.width = check_int(width, "width")
        self.depth = check_int(depth, "depth")
        self.positional = _check_positional(positional)
        self.padding = _check_padding(padding, self.spatial_dims)
        self.activation = _resolve_activation(activation, "activation")
        projection_width = check_int(projection_width, "projection_width")
        dtype = floating_dtype(dtype)

        lift_in = self.in_channels + (self.spatial_dims if self.positional else 0)
        lift_sizes = (
            [lift_in, self.width]
            if lifting_width is None
            else [lift_in, check_int(lifting_width, "lifting_width"), self.width]
        )
        self.lifting = _pointwise_stack(lift_sizes, key=subkey(key, 0), dtype=dtype)
        self.spectral = tuple(
            SpectralConv(self.width, self.width, self.modes, key=subkey(key, 1 + i), dtype=dtype)
            for i in range(self.depth)
        )
        self.skips = tuple(
            Pointwise(self.width, self.width, key=subkey(key, 1 + self.depth + i), dtype=dtype)
            for i in range(self.depth)
        )
        self.projection = _pointwise_stack(
            [self.width, projection_width, self.out_channels],
            key=subkey(key, 1 + 2 * self.depth),
            dtype=dtype,
        )

    @property
    def dtype(self) -> np.dtype:
        """Floating dtype of the parameters."""
        return np.dtype(self.skips[0].weight.dtype)

    def __call__(self, x: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        """Evaluate the operator on one input field.

        Args:
            x: input field of shape `(in_channels, n_1, ..., n_d)`, `n_j >= 2 * modes[j]`,
                sampled on a uniform grid of the unit box; cast to the parameters' dtype.

        Returns:
            Output field of shape `(out_channels, n_1, ..., n_d)` on the same grid.

        Raises:
            ValueError: naming `x`, for the wrong number of axes or channels, or too few
                points for the retained modes (at trace time, before compiling).
        """
        x = _check_field(
            x, channels=self.in_channels, modes=self.modes, spatial_dims=self.spatial_dims
        ).astype(self.dtype)
        v, spatial = _lift_and_pad(
            x,
            lifting=self.lifting,
            act=self.activation,
            positional=self.positional,
            padding=self.padding,
        )
        for layer, (conv, skip) in enumerate(zip(self.spectral, self.skips, strict=True)):
            v = conv(v) + skip(v)
            if layer < self.depth - 1:
                v = self.activation(v)
        v = _crop(v, spatial)
        return _apply_stack(self.projection, v, self.activation)


class FactorizedFNO(eqx.Module):
    r"""Factorised Fourier neural operator (F-FNO, Tran et al. 2023).

    $$v_0 = P(a, x),\qquad v_{\ell+1} = v_\ell + W_{2,\ell}\,\sigma\big(W_{1,\ell}\,
    \mathcal K_\ell(v_\ell) + b_{1,\ell}\big) + b_{2,\ell},\qquad u = Q(v_L),$$

    with $\mathcal K_\ell$ a `FactorizedSpectralConv` (one 1-D spectral convolution per axis,
    summed) and a two-layer pointwise feed-forward of hidden width `ff_factor * width` inside
    the residual branch (the residual connection comes after the feed-forward, which is what
    lets F-FNOs train deep). With `share_weights=True` all layers use the same spectral
    weights $\mathcal K_\ell = \mathcal K$ (the paper's "F-FNO (shared)"; the feed-forwards
    stay per layer). Lifting, projection, positional features and padding as in `FNO`.

    Attributes:
        lifting, projection: pointwise affine layers.
        spectral: `depth` `FactorizedSpectralConv` layers, or one when shared.
        feedforward: `depth` pairs of pointwise layers `(W_1, W_2)`.
        activation: $\sigma$ (ReLU by default, as in the authors' code).

    References:
        Tran, Mathews, Xie and Ong (2023), "Factorized Fourier neural operators", ICLR.
    """

    lifting: tuple[Pointwise, ...]
    spectral: tuple[FactorizedSpectralConv, ...]
    feedforward: tuple[tuple[Pointwise, Pointwise], ...]
    projection: tuple[Pointwise, ...]
    activation: Callable[[Array], Array]
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    modes: tuple[int, ...] = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    spatial_dims: int = eqx.field(static=True)
    share_weights: bool = eqx.field(static=True)
    positional: Positional | None = eqx.field(static=True)
    padding: tuple[int | float, ...] = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        modes: int | Sequence[int],
        width: int,
        depth: int,
        spatial_dims: int,
        share_weights: bool = False,
        ff_factor: int = 4,
        positional: bool | str = True,
        padding: int | float | Sequence[int | float] = 0,
        activation: str | Callable[[Array], Array] = "relu",
        projection_width: int = 128,
        key: Key,
        dtype: DTypeLike | None = None,
    ):
        """Build the network (arguments as for `FNO`, plus the two below).

        Args:
            share_weights: one set of spectral weights for all layers.
            ff_factor: hidden width of each feed-forward, in multiples of `width`.

        Raises:
            ValueError, TypeError: naming the argument, as for `FNO`.
        """
        self.in_channels = check_int(in_channels, "in_channels")
        self.out_channels = check_int(out_channels, "out_channels")
        self.spatial_dims = _check_spatial_dims(spatial_dims)
        self.modes = _check_modes(modes, self.spatial_dims)
        self.width = check_int(width, "width")
        self.depth = check_int(depth, "depth")
        if not isinstance(share_weights, bool):
            raise TypeError(f"`share_weights` must be a bool; got {share_weights!r}.")
        self.share_weights = share_weights
        hidden = self.width * check_int(ff_factor, "ff_factor")
        self.positional = _check_positional(positional)
        self.padding = _check_padding(padding, self.spatial_dims)
        self.activation = _resolve_activation(activation, "activation")
        projection_width = check_int(projection_width, "projection_width")
        dtype = floating_dtype(dtype)

        lift_in = self.in_channels + (self.spatial_dims if self.positional else 0)
        self.lifting = _pointwise_stack([lift_in, self.width], key=subkey(key, 0), dtype=dtype)
        num_spectral = 1 if share_weights else self.depth
        self.spectral = tuple(
            FactorizedSpectralConv(
                self.width, self.width, self.modes, key=subkey(key, 1 + i), dtype=dtype
            )
            for i in range(num_spectral)
        )
        ff = 1 + self.depth
        self.feedforward = tuple(
            (
                Pointwise(self.width, hidden, key=subkey(key, ff + 2 * i), dtype=dtype),
                Pointwise(hidden, self.width, key=subkey(key, ff + 2 * i + 1), dtype=dtype),
            )
            for i in range(self.depth)
        )
        self.projection = _pointwise_stack(
            [self.width, projection_width, self.out_channels],
            key=subkey(key, 1 + 3 * self.depth),
            dtype=dtype,
        )

    @property
    def dtype(self) -> np.dtype:
        """Floating dtype of the parameters."""
        return np.dtype(self.lifting[0].weight.dtype)

    def __call__(self, x: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        """Evaluate on one input field of shape `(in_channels, n_1, ..., n_d)`.

        Returns:
            Output field of shape `(out_channels, n_1, ..., n_d)`.

        Raises:
            ValueError: naming `x`, as for `FNO`.
        """
        x = _check_field(
            x, channels=self.in_channels, modes=self.modes, spatial_dims=self.spatial_dims
        ).astype(self.dtype)
        v, spatial = _lift_and_pad(
            x,
            lifting=self.lifting,
            act=self.activation,
            positional=self.positional,
            padding=self.padding,
        )
        for layer, (w1, w2) in enumerate(self.feedforward):
            conv = self.spectral[0 if self.share_weights else layer]
            v = v + w2(self.activation(w1(conv(v))))
        v = _crop(v, spatial)
        return _apply_stack(self.projection, v, self.activation)


# ---------------------------------------------------------------------------------------------
# the published configurations, and Navier-Stokes in time
# ---------------------------------------------------------------------------------------------

_PUBLISHED: dict[str, tuple[int, int, int, int, int | tuple[int, ...]]] = {
    # problem: (in_channels, spatial_dims, modes, width, padding)
    "burgers": (1, 1, 16, 64, 0),
    "darcy": (1, 2, 12, 32, 9),
    "navier_stokes_2d": (10, 2, 12, 20, 0),
    "navier_stokes_3d": (10, 3, 8, 20, (0, 0, 6)),
}


def published_fno(
    problem: str,
    *,
    key: Key,
    in_channels: int | None = None,
    dtype: DTypeLike | None = None,
) -> FNO:
    """The FNO of Li et al. (2021) for one of their benchmark problems.

    Four Fourier layers, GELU, positional features on `linspace(0, 1, n)`, an affine lifting
    and a projection with 128 hidden channels, one output channel, and per problem (the
    paper's section 5 and the released scripts `fourier_1d.py`, `fourier_2d.py`,
    `fourier_2d_time.py`, `fourier_3d.py`):

    | `problem` | input shape | `modes` | `width` | `padding` |
    |---|---|---|---|---|
    | `"burgers"` | $u_0(x)$: `(1, n)` | 16 | 64 | none (periodic) |
    | `"darcy"` | $a(x, y)$: `(1, n, n)` | 12 | 32 | 9 points per axis |
    | `"navier_stokes_2d"` | last 10 snapshots: `(10, n, n)` | 12 | 20 | none (periodic) |
    | `"navier_stokes_3d"` | 10 snapshots x T: `(10, n, n, T)` | 8 | 20 | 6 points, time only |

    FNO-2D predicts one step and is rolled out with `rollout_fno`; FNO-3D takes the first
    10 snapshots repeated along the output time axis (`repeat_in_time`) and returns the
    whole trajectory `(1, n, n, T)` at once.

    Train them as the paper does with `operators.relative_l2_loss` and
    `operators.step_decay_adam` (Adam, learning rate 1e-3 halved every 100 epochs,
    weight decay 1e-4, 500 epochs, batch 20).

    Args:
        problem: `"burgers"`, `"darcy"`, `"navier_stokes_2d"` or `"navier_stokes_3d"`.
        key: PRNG key for the weights.
        in_channels: override the number of input channels (for example another number of
            input snapshots for Navier-Stokes); default as in the table.
        dtype: real floating dtype of the parameters.

    Returns:
        An `FNO`.

    Raises:
        ValueError: for an unknown `problem` (the message lists the known ones).

    References:
        Li et al. (2021), "Fourier neural operator for parametric partial differential
        equations", ICLR, section 5.
    """
    if problem not in _PUBLISHED:
        raise ValueError(f"`problem` must be one of {sorted(_PUBLISHED)}; got {problem!r}.")
    channels, dims, modes, width, padding = _PUBLISHED[problem]
    return FNO(
        channels if in_channels is None else in_channels,
        1,
        modes=modes,
        width=width,
        depth=4,
        spatial_dims=dims,
        positional=True,
        padding=padding,
        activation="gelu",
        projection_width=128,
        key=key,
        dtype=dtype,
    )


def rollout_fno(
    model: Callable[[Array], Array],
    w_in: Float[ArrayLike, "..."],
    steps: int,
    *,
    checkpoint: bool = False,
    unroll: bool = False,
) -> Float[Array, "..."]:
    r"""Roll a one-step (or k-step) field predictor out autoregressively in time.

    With the window $W_0 = (w_{t-T+1}, \dots, w_t)$ of the last $T$ snapshots as channels,
    each call predicts the next $k$ snapshots, $(w_{t+1}, \dots, w_{t+k}) =
    \text{model}(W)$, and the window slides: $W \leftarrow$ the last $T$ of $(W, w_{t+1..t+k})$.
    This is the recurrent FNO-2D of Li et al. (2021) for Navier-Stokes (T = 10, k = 1).
    Fully differentiable: train through the rollout (the paper's loss sums the error of
    every step); `checkpoint=True` rematerialises each call in the backward pass
    (`jax.checkpoint`) to bound memory in long rollouts.

    Args:
        model: maps a window `(T, *spatial)` to `(k, *spatial)` (an `FNO` with
            `in_channels=T`, `out_channels=k`, or any such callable).
        w_in: the initial window, shape `(T, *spatial)` (oldest first).
        steps: number of snapshots to predict, a positive int (`ceil(steps / k)` calls).
        checkpoint: rematerialise each model call in reverse mode.
        unroll: write the calls out one after another instead of a loop: faster to run
            (the Navier-Stokes FNO-2D's 5-step rollout at 256² on one CPU core, 0.198 s
            against 0.242 s in a loop), slower to compile; for short rollouts.

    Returns:
        The predicted snapshots, shape `(steps, *spatial)`.

    Raises:
        ValueError: naming `steps` or `w_in`, for a non-positive step count, a window with
            no spatial axes, or a model whose output does not fit the window.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = published_fno("navier_stokes_2d", key=jax.random.key(0))
        >>> rollout_fno(model, jnp.zeros((10, 64, 64)), steps=5).shape
        (5, 64, 64)
    """
    steps = check_int(steps, "steps")
    w_in = jnp.asarray(w_in)
    if w_in.ndim < 2:
        raise ValueError(
            "`w_in` must have shape (T, *spatial) with at least one spatial axis; got "
            f"{w_in.shape}."
        )
    out_shape = eqx.filter_eval_shape(model, w_in)
    if out_shape.ndim != w_in.ndim or out_shape.shape[1:] != w_in.shape[1:]:
        raise ValueError(
            f"`model` must map the window `w_in` of shape {w_in.shape} to (k, "
            f"{', '.join(map(str, w_in.shape[1:]))}); it returns {out_shape.shape}."
        )
    k = out_shape.shape[0]
    window_size = w_in.shape[0]
    calls = -(-steps // k)

    def one_call(window: Array) -> Array:
        return model(window)

    call = jax.checkpoint(one_call) if checkpoint else one_call

    def body(window: Array, _: None) -> tuple[Array, Array]:
        new = call(window).astype(window.dtype)
        window = jnp.concatenate([window, new], axis=0)[-window_size:]
        return window, new

    _, predicted = jax.lax.scan(
        body, w_in.astype(out_shape.dtype), None, length=calls, unroll=bool(unroll)
    )
    predicted = predicted.reshape((calls * k, *w_in.shape[1:]))
    return predicted[:steps]


def repeat_in_time(w_in: Float[ArrayLike, "..."], num_times: int) -> Float[Array, "..."]:
    """The space-time input of FNO-3D: the input snapshots repeated along a new time axis.

    Li et al. (2021) feed FNO-3D the first T snapshots as channels, constant along the
    output time axis, and let the network (with positional features) produce the whole
    trajectory at once: input `(T, nx, ny, num_times)`, output `(1, nx, ny, num_times)`.

    Args:
        w_in: snapshots, shape `(T, *spatial)`.
        num_times: number of output times, a positive int.

    Returns:
        Array of shape `(T, *spatial, num_times)`.

    Raises:
        ValueError: naming `num_times` if it is not positive.
    """
    num_times = check_int(num_times, "num_times")
    w_in = jnp.asarray(w_in)
    return jnp.broadcast_to(w_in[..., None], (*w_in.shape, num_times))
