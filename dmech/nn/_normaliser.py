"""Affine standardisation with fixed statistics."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, ArrayLike, Float, Key


class Normaliser(eqx.Module):
    r"""Affine standardisation $y = (x - \mu) / s$ with fixed statistics $\mu$ and $s$.

    $\mu$ (`mean`) and $s$ (`std`) are statistics of a data set, not parameters: both
    `__call__` and `inverse` wrap them in `jax.lax.stop_gradient`, so their gradients are
    exactly zero and an optimiser leaves them unchanged. Gradients with respect to the
    input flow as usual ($\partial y / \partial x = 1/s$).

    The normaliser acts on one example whose shape equals `mean.shape`; use `jax.vmap`
    for a batch (broadcasting across ranks is deliberately not done).

    Attributes:
        mean: $\mu$, any shape.
        std: $s > 0$, the same shape and dtype as `mean`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from dmech.nn import Normaliser
        >>> data = jnp.array([[0.0, 5.0], [2.0, 5.0], [4.0, 5.0]])
        >>> norm = Normaliser.fit(data)
        >>> jax.vmap(norm)(data)[:, 0]
        Array([-1.2247448,  0.       ,  1.2247448], dtype=float32)
        >>> bool(jnp.allclose(jax.vmap(norm.inverse)(jax.vmap(norm)(data)), data))
        True
    """

    mean: Float[Array, "*shape"]
    std: Float[Array, "*shape"]

    def __init__(self, mean: Float[ArrayLike, "..."], std: Float[ArrayLike, "..."]):
        r"""Build from given statistics (see `Normaliser.fit` to compute them from data).

        Args:
            mean: the offset $\mu$, any shape.
            std: the scale $s$, the same shape as `mean`, positive.

        Raises:
            ValueError: if `mean` and `std` differ in shape.
            TypeError: if they are not floating arrays of the same dtype.
        """
        mean = jnp.asarray(mean)
        std = jnp.asarray(std)
        for name, value in (("mean", mean), ("std", std)):
            if not jnp.issubdtype(value.dtype, jnp.floating):
                raise TypeError(f"`{name}` must be a floating array; got dtype {value.dtype}.")
        if mean.shape != std.shape:
            raise ValueError(
                f"`mean` and `std` must have the same shape; got {mean.shape} and {std.shape}."
            )
        if mean.dtype != std.dtype:
            raise TypeError(
                f"`mean` and `std` must have the same dtype; got {mean.dtype} and {std.dtype}."
            )
        self.mean = mean
        self.std = std

    @classmethod
    def fit(
        cls,
        data: Float[ArrayLike, "..."],
        axis: int | tuple[int, ...] = 0,
        eps: float | int | None = None,
    ) -> "Normaliser":
        r"""Standardise with the mean and standard deviation of `data` along `axis`.

        $$\mu = \operatorname{mean}(x), \qquad
        s = \max\bigl(\operatorname{std}(x), \varepsilon\bigr),$$

        both reduced over `axis` (population standard deviation, `ddof=0`), computed about
        the first sample (shifted data), so a constant column has exactly zero standard
        deviation and maps exactly to zero. The floor $\varepsilon$ keeps such columns from
        dividing by zero. By default $\varepsilon = 10\,\epsilon_\text{mach} (1 + |\mu|)$
        elementwise, with $\epsilon_\text{mach}$ the machine epsilon of `data`'s dtype:
        variation below it is round-off, not signal. Give `eps` for a fixed floor.

        Args:
            data: samples, a floating array; `axis` indexes the samples.
            axis: the sample axis or axes reduced over; the remaining axes give the shape
                of one example (of `mean` and `std`).
            eps: fixed floor $\varepsilon > 0$ for `std`, or `None` for the default above.

        Returns:
            The `Normaliser`, with `mean` and `std` in `data`'s dtype.

        Raises:
            TypeError: if `data` is not floating.
            ValueError: if `axis` is out of range or `eps` is not positive.
        """
        data = jnp.asarray(data)
        if not jnp.issubdtype(data.dtype, jnp.floating):
            raise TypeError(f"`data` must be a floating array; got dtype {data.dtype}.")
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        for a in axes:
            if not -data.ndim <= a < data.ndim:
                raise ValueError(f"`axis` {axis} is out of range for data of shape {data.shape}.")
        if eps is not None and not (np.isfinite(eps) and eps > 0):
            raise ValueError(f"`eps` must be positive and finite; got {eps}.")
        # Shift by the first sample before reducing: exact for constant columns (zero std,
        # mean equal to the value) and less cancellation when |mean| >> std.
        axes = tuple(a % data.ndim for a in axes)
        first = tuple(slice(0, 1) if a in axes else slice(None) for a in range(data.ndim))
        shift = data[first]
        centred = data - shift
        mean = jnp.squeeze(shift, axis=axes) + jnp.mean(centred, axis=axes)
        std = jnp.std(centred, axis=axes)
        if eps is None:
            floor = 10 * float(jnp.finfo(data.dtype).eps) * (1 + jnp.abs(mean))
        else:
            floor = jnp.full_like(std, eps)
        return cls(mean, jnp.maximum(std, floor))

    def __call__(
        self, x: Float[ArrayLike, "*shape"], *, key: Key | None = None
    ) -> Float[Array, "*shape"]:
        r"""Standardise one example, $y = (x - \mu)/s$.

        Args:
            x: an example of shape `mean.shape`.
            key: ignored; accepted for compatibility with `equinox.nn.Sequential`.

        Returns:
            $y$, the same shape.

        Raises:
            ValueError: if `x` does not have shape `mean.shape` (at trace time).
        """
        del key
        x = self._check(x, "x")
        mean = jax.lax.stop_gradient(self.mean)
        std = jax.lax.stop_gradient(self.std)
        return (x - mean) / std

    def inverse(self, y: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        r"""Undo the standardisation, $x = s\,y + \mu$.

        Args:
            y: a standardised example of shape `mean.shape`.

        Returns:
            $x$, the same shape.

        Raises:
            ValueError: if `y` does not have shape `mean.shape` (at trace time).
        """
        y = self._check(y, "y")
        mean = jax.lax.stop_gradient(self.mean)
        std = jax.lax.stop_gradient(self.std)
        return y * std + mean

    def _check(self, value: ArrayLike, name: str) -> Array:
        value = jnp.asarray(value)
        if value.shape != self.mean.shape:
            raise ValueError(
                f"`{name}` must have shape {self.mean.shape} (one example; use jax.vmap for "
                f"a batch); got {value.shape}."
            )
        return value
