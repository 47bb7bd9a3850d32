r"""Network architectures for physics-informed training, on ``dmech.nn``.

- :class:`ModifiedMLP`: the gated MLP of Wang, Teng and Perdikaris (2021).
- :class:`PirateNet`: residual blocks with a trainable gate $\alpha = 0$ at initialisation
  (Wang, Li, Chen and Perdikaris 2024), so the network starts as a linear map of its
  embedding.
- :func:`random_weight_factorisation`: every dense layer ``W`` of any model becomes
  $W = \operatorname{diag}(e^{s}) V$ (Wang, Wang, Perdikaris 2022), as a
  :class:`FactorisedLinear`.

The plain MLP and the random Fourier features are ``dmech.nn.MLP`` and
``dmech.nn.FourierFeatures``; compose embeddings (``pinn.PeriodicEmbedding``,
``FourierFeatures``) with ``equinox.nn.Sequential`` or pass one as ``embedding=``.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dmech._checks import check_int
from dmech._custom_types import Array, ArrayLike, DTypeLike, Float, Key, PyTree
from dmech.nn import activation as resolve_activation
from dmech.nn._misc import check_size_or_scalar, floating_dtype

__all__ = [
    "FactorisedLinear",
    "ModifiedMLP",
    "PirateNet",
    "random_weight_factorisation",
]


@functools.partial(jax.jit, static_argnames=("shapes", "dtype"))
def _glorot_weights(
    key: Key, *, shapes: tuple[tuple[int, int], ...], dtype: np.dtype
) -> tuple[Array, ...]:
    """Glorot-normal weights of shapes ``(out, in)``, one jitted draw for a whole network."""
    keys = jax.random.split(key, len(shapes))
    init = jax.nn.initializers.glorot_normal()
    return tuple(init(k, shape, dtype) for k, shape in zip(keys, shapes, strict=True))


def _dense_layers(key: Key, sizes: list[tuple[int, int]], dtype: np.dtype) -> list[eqx.nn.Linear]:
    """Dense layers ``(n_in, n_out)`` with Glorot-normal weights and zero biases (as in the
    papers); only the structure of ``equinox.nn.Linear`` is built, abstractly."""
    weights = _glorot_weights(key, shapes=tuple((o, i) for i, o in sizes), dtype=dtype)
    layers = []
    for (n_in, n_out), weight in zip(sizes, weights, strict=True):
        skeleton = eqx.filter_eval_shape(
            eqx.nn.Linear, n_in, n_out, use_bias=True, dtype=dtype, key=key
        )
        layers.append(
            eqx.tree_at(
                lambda lin: (lin.weight, lin.bias), skeleton, (weight, jnp.zeros(n_out, dtype))
            )
        )
    return layers


def _embedding_size(embedding: object, in_size: int) -> int:
    if embedding is None:
        return in_size
    if not callable(embedding):
        raise TypeError(f"`embedding` must be callable or None; got {type(embedding).__name__}.")
    size = getattr(embedding, "out_size", None)
    if size is None and isinstance(embedding, eqx.nn.Sequential):
        size = getattr(embedding.layers[-1], "out_size", None)
    if not isinstance(size, int):
        raise ValueError(
            "`embedding` must have an int `out_size` (PeriodicEmbedding, FourierFeatures or a "
            "Sequential ending in one)."
        )
    return size


def _check_point(x: ArrayLike, in_size: int) -> Array:
    x = jnp.asarray(x)
    if x.shape != (in_size,):
        raise ValueError(
            f"`x` must have shape ({in_size},); got {x.shape}. Use jax.vmap for batches."
        )
    return x


def _finish(y: Array, out_size: int | Literal["scalar"]) -> Array:
    return y[0] if out_size == "scalar" else y


class ModifiedMLP(eqx.Module):
    r"""The modified MLP of Wang, Teng and Perdikaris (2021): every hidden layer is gated
    between two encodings of the input.

    With $h_0$ the (embedded) input, $U = \sigma(W_U h_0 + b_U)$,
    $V = \sigma(W_V h_0 + b_V)$, and for $\ell = 1..L$ ($L$ = ``depth``)

    $$z_\ell = \sigma(W_\ell h_{\ell-1} + b_\ell), \qquad
    h_\ell = z_\ell \odot U + (1 - z_\ell) \odot V,$$

    the output is $W_{L+1} h_L + b_{L+1}$. Weights are Glorot-normal, biases zero.

    Attributes:
        embedding: applied to the input first (``None``: the identity).
        encoder_u, encoder_v: the two encoders ($W_U$, $W_V$).
        layers: the ``depth`` gated layers.
        output: the linear output layer.
        activation: $\sigma$.
        in_size, out_size, width, depth: as given.

    References:
        Wang, Teng and Perdikaris (2021), "Understanding and mitigating gradient flow
        pathologies in physics-informed neural networks", SIAM J. Sci. Comput. 43,
        A3055-A3081.
    """

    embedding: Callable[..., Array] | None
    encoder_u: eqx.nn.Linear
    encoder_v: eqx.nn.Linear
    layers: tuple[eqx.nn.Linear, ...]
    output: eqx.nn.Linear
    activation: Callable[[Array], Array]
    in_size: int = eqx.field(static=True)
    out_size: int | Literal["scalar"] = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int | Literal["scalar"],
        width: int,
        depth: int,
        *,
        activation: str | Callable[[Array], Array] = "tanh",
        embedding: Callable[..., Array] | None = None,
        dtype: DTypeLike | None = None,
        key: Key,
    ):
        """Args:
            in_size: the input size $d$ (input shape ``(d,)``).
            out_size: the output size, or ``"scalar"`` for output shape ``()``.
            width: neurons per hidden layer.
            depth: number of gated layers $L \\ge 1$.
            activation: a name accepted by ``dmech.nn.activation`` or a callable.
            embedding: a module applied to the input first, with an ``out_size`` (e.g.
                ``dmech.nn.FourierFeatures``, ``pinn.PeriodicEmbedding``).
            dtype: parameter dtype; ``None`` is JAX's default float.
            key: PRNG key.

        Raises:
            ValueError/TypeError: naming the argument.
        """
        self.in_size = check_int(in_size, "in_size")
        self.out_size = check_size_or_scalar(out_size, "out_size")
        self.width = check_int(width, "width")
        self.depth = check_int(depth, "depth")
        self.activation = resolve_activation(activation)
        dtype_ = floating_dtype(dtype)
        n_in = _embedding_size(embedding, self.in_size)
        n_out = 1 if self.out_size == "scalar" else self.out_size
        hidden = [(n_in, self.width)] + [(self.width, self.width)] * (self.depth - 1)
        sizes = [(n_in, self.width), (n_in, self.width), *hidden, (self.width, n_out)]
        layers = _dense_layers(key, sizes, dtype_)
        self.embedding = embedding
        self.encoder_u, self.encoder_v = layers[0], layers[1]
        self.layers = tuple(layers[2:-1])
        self.output = layers[-1]

    def __call__(self, x: Float[ArrayLike, "..."], *, key: Key | None = None) -> Array:
        """The network at one point ``x`` of shape ``(in_size,)``; output shape
        ``(out_size,)`` or ``()``."""
        del key
        h = _check_point(x, self.in_size)
        if self.embedding is not None:
            h = self.embedding(h)
        u = self.activation(self.encoder_u(h))
        v = self.activation(self.encoder_v(h))
        for layer in self.layers:
            z = self.activation(layer(h))
            h = z * u + (1 - z) * v
        return _finish(self.output(h), self.out_size)


class PirateBlock(eqx.Module):
    r"""One PirateNet residual block (see :class:`PirateNet`).

    Attributes:
        dense1, dense2, dense3: the three dense layers (embedding → width → width →
            embedding).
        alpha: the gate $\alpha$, a scalar array, zero at initialisation.
    """

    dense1: eqx.nn.Linear
    dense2: eqx.nn.Linear
    dense3: eqx.nn.Linear
    alpha: Float[Array, ""]

    def __init__(self, dense1: eqx.nn.Linear, dense2: eqx.nn.Linear, dense3: eqx.nn.Linear):
        """Args:
        dense1, dense2, dense3: the layers; the gate starts at zero.
        """
        self.dense1, self.dense2, self.dense3 = dense1, dense2, dense3
        self.alpha = jnp.zeros((), dense1.weight.dtype)

    def __call__(self, x: Array, u: Array, v: Array, activation: Callable[[Array], Array]) -> Array:
        f = activation(self.dense1(x))
        z1 = f * u + (1 - f) * v
        g = activation(self.dense2(z1))
        z2 = g * u + (1 - g) * v
        h = activation(self.dense3(z2))
        return self.alpha * h + (1 - self.alpha) * x


class PirateNet(eqx.Module):
    r"""Physics-informed residual adaptive network (Wang, Li, Chen and Perdikaris 2024).

    With $\Phi(x)$ the embedding (random Fourier features in the paper),
    $U = \sigma(W_U \Phi + b_U)$, $V = \sigma(W_V \Phi + b_V)$, and $x^{(0)} = \Phi(x)$,
    each of the $L$ blocks computes

    $$\begin{aligned}
    f &= \sigma(W_1 x^{(\ell)} + b_1), & z_1 &= f \odot U + (1 - f) \odot V,\\
    g &= \sigma(W_2 z_1 + b_2), & z_2 &= g \odot U + (1 - g) \odot V,\\
    h &= \sigma(W_3 z_2 + b_3), & x^{(\ell+1)} &= \alpha_\ell h + (1 - \alpha_\ell) x^{(\ell)},
    \end{aligned}$$

    and the output is $W x^{(L)} + b$. The gates $\alpha_\ell$ are trainable and start at
    zero, so at initialisation the network is the linear map $W\Phi(x) + b$ of its
    embedding, and depth is switched on as training needs it (the cure for the poor
    initialisation of deep PINNs that the paper identifies). The blocks' output size is the
    embedding size.

    Attributes:
        embedding: $\Phi$ (``None``: the identity).
        encoder_u, encoder_v: $W_U$, $W_V$.
        blocks: the ``depth`` :class:`PirateBlock` s.
        output: the linear output layer.
        activation: $\sigma$.
        in_size, out_size, width, depth: as given.

    References:
        Wang, Li, Chen and Perdikaris (2024), "PirateNets: physics-informed deep learning
        with residual adaptive networks", J. Mach. Learn. Res. 25(402), 1-51.
    """

    embedding: Callable[..., Array] | None
    encoder_u: eqx.nn.Linear
    encoder_v: eqx.nn.Linear
    blocks: tuple[PirateBlock, ...]
    output: eqx.nn.Linear
    activation: Callable[[Array], Array]
    in_size: int = eqx.field(static=True)
    out_size: int | Literal["scalar"] = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int | Literal["scalar"],
        width: int,
        depth: int,
        *,
        activation: str | Callable[[Array], Array] = "tanh",
        embedding: Callable[..., Array] | None = None,
        dtype: DTypeLike | None = None,
        key: Key,
    ):
        """Args:
            in_size: the input size $d$.
            out_size: the output size, or ``"scalar"``.
            width: the hidden width of the blocks (and of $U$, $V$).
            depth: the number of residual blocks $L \\ge 1$.
            activation: a name accepted by ``dmech.nn.activation`` or a callable.
            embedding: $\\Phi$, a module with an ``out_size``.
            dtype: parameter dtype.
            key: PRNG key.

        Raises:
            ValueError/TypeError: naming the argument.
        """
        self.in_size = check_int(in_size, "in_size")
        self.out_size = check_size_or_scalar(out_size, "out_size")
        self.width = check_int(width, "width")
        self.depth = check_int(depth, "depth")
        self.activation = resolve_activation(activation)
        dtype_ = floating_dtype(dtype)
        size = _embedding_size(embedding, self.in_size)
        n_out = 1 if self.out_size == "scalar" else self.out_size
        block = [(size, self.width), (self.width, self.width), (self.width, size)]
        sizes = [(size, self.width), (size, self.width), *(block * self.depth), (size, n_out)]
        layers = _dense_layers(key, sizes, dtype_)
        self.embedding = embedding
        self.encoder_u, self.encoder_v = layers[0], layers[1]
        self.blocks = tuple(PirateBlock(*layers[2 + 3 * i : 5 + 3 * i]) for i in range(self.depth))
        self.output = layers[-1]

    def features(self, x: Float[ArrayLike, "..."]) -> Array:
        """The last block's output $x^{(L)}$ at one point, shape ``(embedding size,)``: the
        output is a linear map of it (for least-squares output layers)."""
        h = _check_point(x, self.in_size)
        if self.embedding is not None:
            h = self.embedding(h)
        u = self.activation(self.encoder_u(h))
        v = self.activation(self.encoder_v(h))
        for block in self.blocks:
            h = block(h, u, v, self.activation)
        return h

    def __call__(self, x: Float[ArrayLike, "..."], *, key: Key | None = None) -> Array:
        """The network at one point ``x`` of shape ``(in_size,)``."""
        del key
        return _finish(self.output(self.features(x)), self.out_size)


class FactorisedLinear(eqx.Module):
    r"""A dense layer with random weight factorisation, $y = \operatorname{diag}(e^{s}) V x + b$.

    Each output neuron's weight vector is a trainable scale $e^{s_i}$ times a direction
    $V_i$; gradient descent on $(s, V)$ behaves like a per-neuron adaptive learning rate and
    eases training (Wang, Wang and Perdikaris 2022).

    Attributes:
        log_scale: $s$, shape ``(out,)``.
        direction: $V$, shape ``(out, in)``.
        bias: $b$, shape ``(out,)``, or ``None``.
        in_features, out_features: as in ``equinox.nn.Linear`` (``"scalar"`` allowed).

    References:
        Wang, Wang and Perdikaris (2022), "Random weight factorization improves the training
        of continuous neural representations", arXiv:2210.01274.
    """

    log_scale: Float[Array, " out"]
    direction: Float[Array, "out in"]
    bias: Float[Array, " out"] | None
    in_features: int | Literal["scalar"] = eqx.field(static=True)
    out_features: int | Literal["scalar"] = eqx.field(static=True)

    def __init__(self, linear: eqx.nn.Linear, *, mean: float, std: float, key: Key):
        """Factorise ``linear``'s weight $W = \\operatorname{diag}(e^{s}) V$ with
        $s \\sim \\mathcal N(\\mu, \\sigma^2)$ and $V = \\operatorname{diag}(e^{-s}) W$, so the
        layer computes the same function as ``linear``.

        Args:
            linear: an ``equinox.nn.Linear``.
            mean, std: $\\mu$, $\\sigma \\ge 0$.
            key: PRNG key.
        """
        weight = linear.weight
        s = mean + std * jax.random.normal(key, weight.shape[:1], weight.dtype)
        self.log_scale = s
        self.direction = weight / jnp.exp(s)[:, None]
        self.bias = linear.bias
        self.in_features = linear.in_features
        self.out_features = linear.out_features

    def weight(self) -> Array:
        """$W = \\operatorname{diag}(e^{s}) V$, shape ``(out, in)``."""
        return jnp.exp(self.log_scale)[:, None] * self.direction

    def __call__(self, x: Array, *, key: Key | None = None) -> Array:
        """As ``equinox.nn.Linear``: input shape ``(in,)`` (or ``()``), output ``(out,)``."""
        del key
        if self.in_features == "scalar":
            x = jnp.reshape(x, (1,))
        y = self.weight() @ x
        if self.bias is not None:
            y = y + self.bias
        if self.out_features == "scalar":
            y = jnp.reshape(y, ())
        return y


def random_weight_factorisation(
    model: PyTree, *, key: Key, mean: float = 1.0, std: float = 0.1
) -> PyTree:
    r"""Replace every ``equinox.nn.Linear`` in ``model`` by a :class:`FactorisedLinear`.

    The model computes the same function afterwards; only its parametrisation changes
    ($W = \operatorname{diag}(e^{s}) V$, $s \sim \mathcal N(\mu, \sigma^2)$ per neuron). The
    paper recommends $\mu = 1$ (or 0.5) and $\sigma = 0.1$.

    Args:
        model: any pytree (``dmech.nn.MLP``, :class:`ModifiedMLP`, :class:`PirateNet`...).
        key: PRNG key.
        mean: $\mu$.
        std: $\sigma \ge 0$.

    Returns:
        The model with factorised dense layers.

    Raises:
        ValueError: naming ``std`` when negative or ``model`` when it has no dense layer.

    References:
        Wang, Wang and Perdikaris (2022), arXiv:2210.01274.
    """
    if not (isinstance(std, numbers.Real) and std >= 0):
        raise ValueError(f"`std` must be a non-negative number; got {std!r}.")
    if not isinstance(mean, numbers.Real):
        raise TypeError(f"`mean` must be a number; got {type(mean).__name__}.")

    def is_linear(node: object) -> bool:
        return isinstance(node, eqx.nn.Linear)

    leaves, treedef = jax.tree_util.tree_flatten(model, is_leaf=is_linear)
    count = sum(1 for leaf in leaves if is_linear(leaf))
    if count == 0:
        raise ValueError("`model` has no equinox.nn.Linear layer to factorise.")
    linears = [leaf for leaf in leaves if is_linear(leaf)]
    factorised = iter(
        _factorise_all(linears, jax.random.split(key, count), float(mean), float(std))
    )
    new = [next(factorised) if is_linear(leaf) else leaf for leaf in leaves]
    return jax.tree_util.tree_unflatten(treedef, new)


@eqx.filter_jit
def _factorise_all(
    linears: list[eqx.nn.Linear], keys: Array, mean: float, std: float
) -> list[FactorisedLinear]:
    return [
        FactorisedLinear(linear, mean=mean, std=std, key=k)
        for linear, k in zip(linears, keys, strict=True)
    ]
