r"""Deep operator networks: the unstacked DeepONet and the POD-DeepONet.

The contract shared by both (Lu et al. 2021, 2022):

- the input function $u$ is seen only through its values at $m$ *sensor* locations
  $x_1, \dots, x_m$, fixed once and shared by every sample (the same points, in the same
  order, in training and in use): `u` is the vector `(u(x_1), ..., u(x_m))`, shape
  `(num_sensors,)` (flatten a field sampled on a grid);
- the output $G(u)$ is evaluated at query points $y$: any points for the DeepONet (one
  point per call, `jax.vmap` over many, or `DeepONet.evaluate` for a batch sharing one
  `u`), the fixed training output points for the POD-DeepONet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dmech._checks import check_int
from dmech._custom_types import Array, ArrayLike, DTypeLike, Float, Key
from dmech.nn import MLP
from dmech.nn._misc import check_size_or_scalar, floating_dtype

from ._fno import subkey

__all__ = ["DeepONet", "PODBasis", "PODDeepONet", "mlp_deeponet", "pod_basis"]


def _output_size(
    net: Callable[[Array], Array], shape: tuple[int, ...], dtype: np.dtype, name: str
) -> int:
    try:
        out = eqx.filter_eval_shape(net, jax.ShapeDtypeStruct(shape, dtype))
    except Exception as error:  # the net's own message says why
        raise ValueError(
            f"`{name}` cannot be applied to an input of shape {shape}: {error}"
        ) from None
    if not hasattr(out, "shape") or len(out.shape) != 1:
        raise ValueError(
            f"`{name}` must map an input of shape {shape} to a vector; it returns "
            f"{getattr(out, 'shape', type(out).__name__)}."
        )
    return int(out.shape[0])


def _check_vector(
    value: object, size: int | Literal["scalar"], argname: str, dtype: np.dtype
) -> Array:
    value = jnp.asarray(value)
    expected = () if size == "scalar" else (size,)
    if value.shape != expected:
        raise ValueError(
            f"`{argname}` must have shape {expected}; got {value.shape}. Use jax.vmap for batches."
        )
    return value.astype(dtype)


class DeepONet(eqx.Module):
    r"""Unstacked deep operator network (Lu et al. 2021).

    $$G(u)(y)_j = \sum_{k=1}^{p} b_{jk}(u(x_1), \dots, u(x_m))\, t_{jk}(y) + b_{0,j},
    \qquad j = 1, \dots, n_\text{out},$$

    with one branch net $b$ on the sensor values and one trunk net $t$ on the query point,
    each returning $n_\text{out}\,p$ numbers read as $n_\text{out}$ groups of $p$ (several
    outputs by splitting both the branch and the trunk outputs, one of the strategies of
    Lu et al. 2022, section 3.1.2), and a trained bias $b_0 \in \mathbb{R}^{n_\text{out}}$.

    Contract: the sensors $x_1..x_m$ are fixed and shared by all samples; the query points
    $y$ are arbitrary. `model(u, y)` evaluates one point; batch over points with
    `jax.vmap(model, in_axes=(None, 0))(u, ys)` (the branch is evaluated once) or
    `model.evaluate(u, ys)`, and over samples with another `jax.vmap`.

    Attributes:
        branch: maps `(num_sensors,)` to `(num_outputs * latent_size,)`.
        trunk: maps `(query_size,)` (or `()` for `query_size="scalar"`) to
            `(num_outputs * latent_size,)`.
        bias: $b_0$, shape `(num_outputs,)`, initialised to zero.
        num_sensors, query_size, num_outputs, latent_size: the sizes.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> model = mlp_deeponet(100, "scalar", latent_size=40, width=40, depth=2,
        ...                      key=jax.random.key(0))
        >>> model(jnp.zeros(100), 0.5).shape
        (1,)
        >>> model.evaluate(jnp.zeros(100), jnp.linspace(0, 1, 7)).shape
        (7, 1)

    References:
        Lu, Jin, Pang, Zhang and Karniadakis (2021), "Learning nonlinear operators via
        DeepONet based on the universal approximation theorem of operators", Nature
        Machine Intelligence 3, 218-229.
        Lu et al. (2022), "A comprehensive and fair comparison of two neural operators (with
        practical extensions) based on FAIR data", CMAME 393, 114778.
    """

    branch: Callable[[Array], Array]
    trunk: Callable[[Array], Array]
    bias: Array
    num_sensors: int = eqx.field(static=True)
    query_size: int | Literal["scalar"] = eqx.field(static=True)
    num_outputs: int = eqx.field(static=True)
    latent_size: int = eqx.field(static=True)

    def __init__(
        self,
        branch: Callable[[Array], Array],
        trunk: Callable[[Array], Array],
        *,
        num_sensors: int,
        query_size: int | str,
        num_outputs: int = 1,
        dtype: DTypeLike | None = None,
    ):
        """Combine a branch and a trunk net.

        Args:
            branch: a callable Module, `(num_sensors,) -> (num_outputs * p,)`.
            trunk: a callable Module, `(query_size,) -> (num_outputs * p,)` (input shape `()`
                if `query_size="scalar"`).
            num_sensors: $m$, the number of sensor values.
            query_size: dimension of a query point, or `"scalar"`.
            num_outputs: $n_\\text{out}$, the number of output components.
            dtype: dtype of the bias and of the inputs the nets are checked with.

        Raises:
            ValueError: naming `branch` or `trunk` if they do not map those shapes to
                vectors of the same length divisible by `num_outputs`; naming a size
                argument if it is not positive.
        """
        self.num_sensors = check_int(num_sensors, "num_sensors")
        self.query_size = check_size_or_scalar(query_size, "query_size")
        self.num_outputs = check_int(num_outputs, "num_outputs")
        dtype = floating_dtype(dtype)
        branch_size = _output_size(branch, (self.num_sensors,), dtype, "branch")
        query_shape = () if self.query_size == "scalar" else (self.query_size,)
        trunk_size = _output_size(trunk, query_shape, dtype, "trunk")
        if branch_size != trunk_size or branch_size % self.num_outputs:
            raise ValueError(
                f"`branch` and `trunk` must return vectors of the same length, a multiple of "
                f"num_outputs={self.num_outputs}; got {branch_size} and {trunk_size}."
            )
        self.latent_size = branch_size // self.num_outputs
        self.branch = branch
        self.trunk = trunk
        self.bias = jnp.zeros((self.num_outputs,), dtype)

    def _branch_coefficients(self, u: ArrayLike) -> Array:
        u = _check_vector(u, self.num_sensors, "u", self.bias.dtype)
        return self.branch(u).reshape(self.num_outputs, self.latent_size)

    def _trunk_basis(self, y: Array) -> Array:
        return self.trunk(y).reshape(self.num_outputs, self.latent_size)

    def __call__(
        self, u: Float[ArrayLike, "..."], y: Float[ArrayLike, "..."]
    ) -> Float[Array, "..."]:
        """Evaluate $G(u)(y)$ at one query point.

        Args:
            u: sensor values, shape `(num_sensors,)`.
            y: one query point, shape `(query_size,)` or `()` for `query_size="scalar"`.

        Returns:
            Shape `(num_outputs,)`.

        Raises:
            ValueError: naming `u` or `y` for a wrong shape (at trace time).
        """
        y = _check_vector(y, self.query_size, "y", self.bias.dtype)
        coefficients = self._branch_coefficients(u)
        return jnp.sum(coefficients * self._trunk_basis(y), axis=-1) + self.bias

    def evaluate(
        self, u: Float[ArrayLike, "..."], ys: Float[ArrayLike, "..."]
    ) -> Float[Array, "..."]:
        """Evaluate $G(u)$ at many query points, with the branch net run once.

        Args:
            u: sensor values, shape `(num_sensors,)`.
            ys: query points, shape `(num_points, query_size)` (or `(num_points,)` for
                `query_size="scalar"`).

        Returns:
            Shape `(num_points, num_outputs)`.

        Raises:
            ValueError: naming `u` or `ys` for a wrong shape.
        """
        ys = jnp.asarray(ys)
        point_shape = () if self.query_size == "scalar" else (self.query_size,)
        if ys.ndim != len(point_shape) + 1 or ys.shape[1:] != point_shape:
            raise ValueError(f"`ys` must have shape (num_points, *{point_shape}); got {ys.shape}.")
        coefficients = self._branch_coefficients(u)
        basis = jax.vmap(self._trunk_basis)(ys.astype(self.bias.dtype))
        return jnp.einsum("jk,njk->nj", coefficients, basis) + self.bias[None, :]


def mlp_deeponet(
    num_sensors: int,
    query_size: int | str,
    *,
    latent_size: int,
    width: int,
    depth: int,
    num_outputs: int = 1,
    activation: str | Callable[[Array], Array] = "relu",
    key: Key,
    dtype: DTypeLike | None = None,
) -> DeepONet:
    """An unstacked `DeepONet` with fully connected branch and trunk nets (`dmech.nn.MLP`).

    Both nets have `depth` hidden layers of `width` neurons and `num_outputs * latent_size`
    outputs; as in Lu et al. (2021) (and DeepXDE) the trunk's last layer is followed by the
    activation too, the branch's is linear. Their antiderivative example uses 100 sensors,
    `width=40`, `depth=1` with `latent_size=40`, ReLU, Adam at 1e-3.

    Args:
        num_sensors: number of sensor values $m$.
        query_size: dimension of the query points, or `"scalar"`.
        latent_size: $p$, basis functions per output.
        width, depth: hidden layers of each net.
        num_outputs: output components.
        activation: hidden activation (a `dmech.nn.activation` name or callable).
        key: PRNG key.
        dtype: parameter dtype.

    Returns:
        A `DeepONet`.
    """
    latent = check_int(latent_size, "latent_size") * check_int(num_outputs, "num_outputs")
    branch = MLP(
        num_sensors, latent, width, depth, activation=activation, key=subkey(key, 0), dtype=dtype
    )
    trunk = MLP(
        query_size,
        latent,
        width,
        depth,
        activation=activation,
        final_activation=activation,
        key=subkey(key, 1),
        dtype=dtype,
    )
    return DeepONet(
        branch,
        trunk,
        num_sensors=num_sensors,
        query_size=query_size,
        num_outputs=num_outputs,
        dtype=dtype,
    )


class PODBasis(eqx.Module):
    r"""Proper orthogonal decomposition of training outputs: mean and leading modes.

    Attributes:
        mean: $\phi_0$, the mean output, shape `(num_points,)`.
        modes: $\phi_1..\phi_p$, shape `(num_modes, num_points)`, orthogonal with
            $\frac{1}{n}\sum_y \phi_k(y)\phi_l(y) = \delta_{kl}$ (unit root mean square, so
            coefficients have the units and size of the outputs).
        singular_values: of the centred data matrix, shape `(num_modes,)`, decreasing.
    """

    mean: Array
    modes: Array
    singular_values: Array

    @property
    def num_modes(self) -> int:
        """Number of retained modes $p$."""
        return int(self.modes.shape[0])


def pod_basis(outputs: Float[ArrayLike, "..."], num_modes: int) -> PODBasis:
    r"""The POD basis of training outputs, for `PODDeepONet`.

    With the outputs as rows of $V \in \mathbb{R}^{N \times n}$ (sample $i$ at the $n$ output
    points), $\phi_0 = \frac1N \sum_i V_i$ and the thin SVD $V - \mathbf 1 \phi_0^\top =
    U \Sigma W^\top$, the modes are the first `num_modes` right singular vectors scaled by
    $\sqrt n$.

    Args:
        outputs: training outputs, shape `(num_samples, num_points)` (flatten grids and
            output components into the second axis).
        num_modes: $p$, at most `min(num_samples, num_points)`.

    Returns:
        A `PODBasis`.

    Raises:
        ValueError: naming `outputs` if it is not two-dimensional, or `num_modes` if it
            exceeds the rank bound.

    References:
        Lu et al. (2022), "A comprehensive and fair comparison of two neural operators (with
        practical extensions) based on FAIR data", CMAME 393, 114778, section 3.1.1.
    """
    outputs = jnp.asarray(outputs)
    if outputs.ndim != 2:
        raise ValueError(
            f"`outputs` must have shape (num_samples, num_points); got {outputs.shape}."
        )
    num_modes = check_int(num_modes, "num_modes")
    if num_modes > min(outputs.shape):
        raise ValueError(
            f"`num_modes` must be at most min(num_samples, num_points) = {min(outputs.shape)}; "
            f"got {num_modes}."
        )
    mean = jnp.mean(outputs, axis=0)
    _, singular_values, vt = jnp.linalg.svd(outputs - mean[None, :], full_matrices=False)
    scale = jnp.sqrt(jnp.asarray(outputs.shape[1], outputs.dtype))
    return PODBasis(mean, scale * vt[:num_modes], singular_values[:num_modes])


class PODDeepONet(eqx.Module):
    r"""POD-DeepONet (Lu et al. 2022): the trunk net replaced by POD modes of the training data.

    $$G(u)(y_j) = \phi_0(y_j) + \sum_{k=1}^{p} b_k(u(x_1), \dots, u(x_m))\, \phi_k(y_j),$$

    evaluated at the fixed output points $y_j$ of the training data, with the modes
    $\phi_k$ and mean $\phi_0$ from `pod_basis`. The basis is data, not a parameter: its
    gradient is stopped, so optimisers leave it unchanged.

    Contract: fixed sensors as for `DeepONet`; the outputs live on the training output
    points only (interpolate the modes to evaluate elsewhere).

    Attributes:
        branch: maps `(num_sensors,)` to `(num_modes,)`.
        basis: the `PODBasis`.
        num_sensors: $m$.

    References:
        Lu et al. (2022), "A comprehensive and fair comparison of two neural operators (with
        practical extensions) based on FAIR data", CMAME 393, 114778.
    """

    branch: Callable[[Array], Array]
    basis: PODBasis
    num_sensors: int = eqx.field(static=True)

    def __init__(self, branch: Callable[[Array], Array], basis: PODBasis, *, num_sensors: int):
        """Combine a branch net with a POD basis.

        Args:
            branch: a callable Module, `(num_sensors,) -> (basis.num_modes,)`.
            basis: from `pod_basis`.
            num_sensors: $m$.

        Raises:
            ValueError: naming `branch` if its output length is not the number of modes.
        """
        self.num_sensors = check_int(num_sensors, "num_sensors")
        size = _output_size(branch, (self.num_sensors,), np.dtype(basis.mean.dtype), "branch")
        if size != basis.num_modes:
            raise ValueError(
                f"`branch` must return {basis.num_modes} coefficients (one per POD mode); "
                f"it returns {size}."
            )
        self.branch = branch
        self.basis = basis

    def __call__(self, u: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        """Evaluate $G(u)$ at the output points.

        Args:
            u: sensor values, shape `(num_sensors,)`.

        Returns:
            Shape `(num_points,)`.

        Raises:
            ValueError: naming `u` for a wrong shape.
        """
        dtype = self.basis.mean.dtype
        u = _check_vector(u, self.num_sensors, "u", dtype)
        basis = jax.lax.stop_gradient(self.basis)
        return basis.mean + self.branch(u).astype(dtype) @ basis.modes
