"""Activation functions looked up by name."""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from .._custom_types import Array


def _identity(x: Array) -> Array:
    return x


_ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "sin": jnp.sin,
    "softplus": jax.nn.softplus,
    "sigmoid": jax.nn.sigmoid,
    "identity": _identity,
}


def _resolve_activation(value: object, argname: str) -> Callable[[Array], Array]:
    """Turn a name or callable into a callable, naming `argname` in any error."""
    if isinstance(value, str):
        try:
            return _ACTIVATIONS[value]
        except KeyError:
            valid = ", ".join(repr(k) for k in _ACTIVATIONS)
            raise ValueError(
                f"`{argname}` must be one of {valid} or a callable; got {value!r}."
            ) from None
    if callable(value):
        return value  # pyright: ignore[reportReturnType]
    raise TypeError(
        f"`{argname}` must be an activation name (str) or a callable; got {type(value).__name__}."
    )


def activation(name_or_callable: str | Callable[[Array], Array]) -> Callable[[Array], Array]:
    r"""Return the activation function with this name (or the callable itself).

    Every activation acts elementwise, $\sigma: \mathbb{R} \to \mathbb{R}$, applied to
    each entry of its array argument.

    | name | $\sigma(x)$ |
    |---|---|
    | `"tanh"` | $\tanh x$ |
    | `"relu"` | $\max(x, 0)$ |
    | `"gelu"` | $x\,\Phi(x)$, tanh approximation (`jax.nn.gelu` default) |
    | `"silu"`, `"swish"` | $x / (1 + e^{-x})$ |
    | `"sin"` | $\sin x$ (SIREN) |
    | `"softplus"` | $\log(1 + e^x)$ |
    | `"sigmoid"` | $1 / (1 + e^{-x})$ |
    | `"identity"` | $x$ |

    Args:
        name_or_callable: one of the names above, or any callable mapping an array to an
            array of the same shape (returned unchanged).

    Returns:
        The activation function, mapping an array of any shape to one of the same shape and
        dtype.

    Raises:
        ValueError: if the name is not one of the names above (the message lists them).
        TypeError: if the argument is neither a string nor a callable.

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.nn import activation
        >>> activation("relu")(jnp.array([-1.0, 2.0]))
        Array([0., 2.], dtype=float32)

    References:
        Hendrycks and Gimpel (2016), "Gaussian error linear units (GELUs)", arXiv:1606.08415.
        Ramachandran, Zoph and Le (2017), "Searching for activation functions",
        arXiv:1710.05941.
        Sitzmann et al. (2020), "Implicit neural representations with periodic activation
        functions", NeurIPS.
    """
    return _resolve_activation(name_or_callable, "name_or_callable")
