"""Multi-layer perceptron with named activations and initialisation schemes."""

import itertools
from collections.abc import Callable
from typing import Literal

import equinox as eqx

from .._checks import check_int, check_positive_float
from .._custom_types import Array, ArrayLike, DTypeLike, Float, Key
from ._activation import _identity, _resolve_activation
from ._init import INITIALISATIONS, init_dense_layers
from ._misc import check_input, check_size_or_scalar, floating_dtype, size_as_int


class MLP(eqx.Module):
    r"""Multi-layer perceptron (fully connected feed-forward network).

    With $L$ = `depth` hidden layers of `width` neurons,

    $$h_0 = x,\quad h_\ell = \sigma(W_\ell h_{\ell-1} + b_\ell)\ (\ell = 1..L),\quad
    y = \sigma_\text{out}(W_{L+1} h_L + b_{L+1}),$$

    with $\sigma$ = `activation` and $\sigma_\text{out}$ = `final_activation` applied
    elementwise. `depth=0` is a single affine layer. The layers are `equinox.nn.Linear`
    whose weights are drawn with the chosen scheme and whose biases start at zero:

    | `initialisation` | weight distribution, $n_\text{in}$/$n_\text{out}$ = fan in/out |
    |---|---|
    | `"glorot_normal"` | truncated normal, $\operatorname{Var} = 2/(n_\text{in}+n_\text{out})$ |
    | `"glorot_uniform"` | $U(-a, a)$, $a = \sqrt{6/(n_\text{in}+n_\text{out})}$ |
    | `"he_normal"` | truncated normal, $\operatorname{Var} = 2/n_\text{in}$ |
    | `"he_uniform"` | $U(-a, a)$, $a = \sqrt{6/n_\text{in}}$ |
    | `"lecun_normal"` | truncated normal, $\operatorname{Var} = 1/n_\text{in}$ |
    | `"siren"` | see below |

    (The truncated normals are rescaled so that the variance is exactly as stated, as in
    `jax.nn.initializers.variance_scaling`.)

    `"siren"` is the scheme of Sitzmann et al. (2020) for `activation="sin"`, with their
    frequency factor $\omega_0$ (= `siren_omega0`, default 30) folded into the weights. The
    paper's network $\sin(\omega_0 (W x + b))$ with first-layer $W \sim U(-1/n_\text{in},
    1/n_\text{in})$ and hidden $W \sim U(-\sqrt{6/n_\text{in}}/\omega_0,
    \sqrt{6/n_\text{in}}/\omega_0)$ is the same function as $\sin(W' x + b')$ with
    $W' = \omega_0 W$, so here

    - first layer: $W \sim U(-\omega_0/n_\text{in}, \omega_0/n_\text{in})$;
    - hidden layers: $W \sim U(-\sqrt{6/n_\text{in}}, \sqrt{6/n_\text{in}})$;
    - output layer (linear, no $\omega_0$ in the paper either):
      $W \sim U(-\sqrt{6/n_\text{in}}/\omega_0, \sqrt{6/n_\text{in}}/\omega_0)$.

    The function at initialisation matches the paper's; under a scale-free optimiser such
    as Adam the folded weights take steps $\omega_0$ times smaller in effect than the paper's
    parametrisation, so a larger learning rate may be wanted.

    The activations are fields holding callables, so transform the network with
    `equinox.filter_jit`/`equinox.filter_grad` (or split off its arrays with
    `equinox.partition` before plain `jax.jit`), as for any equinox Module.

    Attributes:
        layers: the `depth + 1` affine layers, a tuple of `equinox.nn.Linear`.
        activation, final_activation: the elementwise activation callables.
        in_size, out_size, width, depth, initialisation: as given to `__init__`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from dmech.nn import MLP
        >>> net = MLP(2, "scalar", width=32, depth=3, key=jax.random.key(0))
        >>> net(jnp.zeros(2)).shape
        ()
        >>> jax.vmap(net)(jnp.zeros((5, 2))).shape
        (5,)

    References:
        Glorot and Bengio (2010), "Understanding the difficulty of training deep feedforward
        neural networks", AISTATS.
        He et al. (2015), "Delving deep into rectifiers", ICCV.
        LeCun et al. (1998), "Efficient backprop", in Neural Networks: Tricks of the Trade.
        Sitzmann et al. (2020), "Implicit neural representations with periodic activation
        functions", NeurIPS.
    """

    layers: tuple[eqx.nn.Linear, ...]
    activation: Callable[[Array], Array]
    final_activation: Callable[[Array], Array]
    in_size: int | Literal["scalar"] = eqx.field(static=True)
    out_size: int | Literal["scalar"] = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    initialisation: str = eqx.field(static=True)

    def __init__(
        self,
        in_size: int | str,
        out_size: int | str,
        width: int,
        depth: int,
        *,
        activation: str | Callable[[Array], Array] = "tanh",
        final_activation: str | Callable[[Array], Array] | None = None,
        initialisation: str = "glorot_normal",
        siren_omega0: float | int = 30.0,
        dtype: DTypeLike | None = None,
        key: Key,
    ):
        r"""Build the network.

        Args:
            in_size: input size $n_\text{in}$ (input shape `(in_size,)`), or `"scalar"`
                for input shape `()`.
            out_size: output size (output shape `(out_size,)`), or `"scalar"` for output
                shape `()`.
            width: neurons per hidden layer, a positive int.
            depth: number of hidden layers, a non-negative int (`0`: one affine layer).
            activation: hidden-layer activation, a name accepted by
                [`dmech.nn.activation`][] or a callable.
            final_activation: output activation, likewise; `None` is the identity.
            initialisation: weight scheme, one of `"glorot_normal"`, `"glorot_uniform"`,
                `"he_normal"`, `"he_uniform"`, `"lecun_normal"`, `"siren"`.
            siren_omega0: the SIREN frequency factor $\omega_0 > 0$, used only by
                `initialisation="siren"`.
            dtype: floating dtype of the parameters; `None` is JAX's default float dtype
                (float32, or float64 when x64 is enabled).
            key: PRNG key for the weights.

        Raises:
            ValueError: naming the argument, for a non-positive size, a string size other
                than `"scalar"`, an unknown activation or initialisation name, or a
                non-positive `siren_omega0`.
            TypeError: naming the argument, for a size that is not an int, an activation
                that is neither a name nor a callable, or a `dtype` that is not a real
                floating dtype.
            ValueError: for a 64-bit `dtype` while JAX's 64-bit mode is off (rather than
                silently truncating to 32 bits).
        """
        in_size = check_size_or_scalar(in_size, "in_size")
        out_size = check_size_or_scalar(out_size, "out_size")
        width = check_int(width, "width")
        depth = check_int(depth, "depth", minimum=0)
        activation_fn = _resolve_activation(activation, "activation")
        final_activation_fn: Callable[[Array], Array]
        if final_activation is None:
            final_activation_fn = _identity
        else:
            final_activation_fn = _resolve_activation(final_activation, "final_activation")
        if initialisation not in INITIALISATIONS:
            valid = ", ".join(repr(name) for name in INITIALISATIONS)
            raise ValueError(f"`initialisation` must be one of {valid}; got {initialisation!r}.")
        omega0 = check_positive_float(siren_omega0, "siren_omega0")
        dtype = floating_dtype(dtype)

        sizes = [in_size, *([width] * depth), out_size]
        shapes = tuple(
            (size_as_int(n_out), size_as_int(n_in)) for n_in, n_out in itertools.pairwise(sizes)
        )
        params = init_dense_layers(
            key, scheme=initialisation, shapes=shapes, dtype=dtype, omega0=omega0
        )
        layers = []
        for (n_in, n_out), (weight, bias) in zip(itertools.pairwise(sizes), params, strict=True):
            # Only the structure of equinox's Linear is wanted: build it abstractly (no
            # random numbers drawn) and put the weights in.
            skeleton = eqx.filter_eval_shape(
                eqx.nn.Linear, n_in, n_out, use_bias=True, dtype=dtype, key=key
            )
            layers.append(eqx.tree_at(lambda lin: (lin.weight, lin.bias), skeleton, (weight, bias)))

        self.layers = tuple(layers)
        self.activation = activation_fn
        self.final_activation = final_activation_fn
        self.in_size = in_size
        self.out_size = out_size
        self.width = width
        self.depth = depth
        self.initialisation = initialisation

    def __call__(
        self, x: Float[ArrayLike, "..."], *, key: Key | None = None
    ) -> Float[Array, "..."]:
        """Evaluate the network on one input.

        Args:
            x: input of shape `(in_size,)`, or `()` if `in_size="scalar"`. Use `jax.vmap`
                for a batch.
            key: ignored; accepted for compatibility with `equinox.nn.Sequential`.

        Returns:
            Output of shape `(out_size,)`, or `()` if `out_size="scalar"`, in the dtype of
            the parameters.

        Raises:
            ValueError: if `x` has the wrong shape (at trace time).
        """
        del key
        x = check_input(x, self.in_size)
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.final_activation(self.layers[-1](x))
