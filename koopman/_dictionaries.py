r"""Dictionaries of observables for extended DMD, and kernels for kernel EDMD.

A dictionary maps one state ``x`` (shape ``(n_state,)``) to the values of ``N`` observables
``ψ(x) = (ψ_1(x), …, ψ_N(x))`` (shape ``(N,)``); EDMD approximates the Koopman operator on
their span. Every dictionary is an equinox Module (array parameters such as centres and scales
are leaves, so they can be differentiated or fitted; sizes are static), and ``jax.vmap`` maps
it over snapshots. A kernel ``k(x, y) = ⟨ψ(x), ψ(y)⟩`` stands for a dictionary too large to
write out (kernel EDMD).

Time delays are a transformation of the data rather than of one state:
:func:`delay_embedding` stacks consecutive snapshots, and any dictionary then acts on the
stacked state (``edmd(…, delays=d)`` does both).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Inexact

from dmech._checks import check_int, check_positive_scalar

__all__ = [
    "AbstractDictionary",
    "AbstractKernel",
    "Concatenate",
    "GaussianKernel",
    "HermitePolynomials",
    "Identity",
    "Monomials",
    "PolynomialKernel",
    "RadialBasis",
    "delay_embedding",
    "total_degree_exponents",
]


def total_degree_exponents(n_state: int, degree: int) -> tuple[tuple[int, ...], ...]:
    """All exponent tuples ``(a_1, …, a_n)`` with ``Σ a_i ≤ degree``, graded: the constant
    first, then degree 1 in state order (so the state itself comes right after the constant),
    then degree 2, … (lexicographically decreasing within a degree).

    There are ``C(n_state + degree, degree)`` of them.

    Args:
        n_state: the number of state variables, ≥ 1.
        degree: the largest total degree, ≥ 0.

    Returns:
        The exponents, a tuple of ``n_state``-tuples.
    """
    check_int(n_state, "n_state")
    check_int(degree, "degree", minimum=0)
    out: list[tuple[int, ...]] = []
    for total in range(degree + 1):
        grade = [
            exps
            for exps in itertools.product(range(total + 1), repeat=n_state)
            if sum(exps) == total
        ]
        out.extend(sorted(grade, reverse=True))
    return tuple(out)


class AbstractDictionary(eqx.Module):
    """A vector of observables ``ψ(x)``: ``__call__(x (n_state,)) -> (size,)``."""

    n_state: eqx.AbstractVar[int]

    @property
    def size(self) -> int:
        """The number of observables ``N``."""
        return int(
            jax.eval_shape(self, jax.ShapeDtypeStruct((self.n_state,), jnp.float32)).shape[0]
        )

    def __call__(self, x: Inexact[Array, " n_state"]) -> Inexact[Array, " size"]:
        raise NotImplementedError

    def _check_state(self, x: Any) -> jax.Array:
        x = jnp.asarray(x)
        if x.shape != (self.n_state,):
            raise ValueError(
                f"{type(self).__name__}: the state must have shape ({self.n_state},); "
                f"got {x.shape} (map over snapshots with jax.vmap)."
            )
        return x


class Identity(AbstractDictionary):
    """The state itself, ``ψ(x) = x`` (EDMD with it alone is exact DMD).

    Args:
        n_state: the state size.
    """

    n_state: int = eqx.field(static=True)

    def __init__(self, n_state: int):
        self.n_state = check_int(n_state, "n_state")

    def __call__(self, x: Inexact[Array, " n_state"]) -> Inexact[Array, " n_state"]:
        return self._check_state(x)


class Monomials(AbstractDictionary):
    r"""All monomials ``Π_i ((x_i − c_i)/s_i)^{a_i}`` of total degree ``Σ a_i ≤ degree``.

    Ordered as :func:`total_degree_exponents` (constant, then the scaled state, then higher
    degrees); ``C(n_state + degree, degree)`` observables. ``centre`` and ``scale`` (leaves)
    keep the powers of order one: set them to the data's mean and spread.

    Args:
        n_state: the state size.
        degree: the largest total degree, ≥ 1.
        centre: ``c``, shape ``(n_state,)`` (default zeros).
        scale: ``s > 0``, shape ``(n_state,)`` (default ones).
    """

    n_state: int = eqx.field(static=True)
    exponents: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    centre: Float[Array, " n_state"]
    scale: Float[Array, " n_state"]

    def __init__(
        self,
        n_state: int,
        degree: int,
        centre: Float[ArrayLike, "..."] | None = None,
        scale: Float[ArrayLike, "..."] | None = None,
    ):
        self.n_state = check_int(n_state, "n_state")
        self.exponents = total_degree_exponents(n_state, check_int(degree, "degree"))
        self.centre, self.scale = _centre_and_scale(n_state, centre, scale)

    def __call__(self, x: Inexact[Array, " n_state"]) -> Inexact[Array, " size"]:
        x = self._check_state(x)
        z = (x - self.centre.astype(x.dtype)) / self.scale.astype(x.dtype)
        powers = jnp.asarray(self.exponents, jnp.int32)  # (N, n)
        # integer powers by repeated products (exact, and no 0^0 / log problems)
        degree = max(max(e) for e in self.exponents)
        table = jnp.stack([z**k for k in range(degree + 1)])  # (degree+1, n)
        return jnp.prod(table[powers, jnp.arange(self.n_state)[None, :]], axis=1)


def _hermite_table(z: jax.Array, degree: int) -> jax.Array:
    """Probabilists' Hermite polynomials ``He_0..He_degree`` at ``z``, shape ``(degree+1, n)``:
    ``He_{k+1} = z He_k − k He_{k−1}``."""
    rows = [jnp.ones_like(z), z]
    for k in range(1, degree):
        rows.append(z * rows[k] - k * rows[k - 1])
    return jnp.stack(rows[: degree + 1])


class HermitePolynomials(AbstractDictionary):
    r"""Tensor products of probabilists' Hermite polynomials ``Π_i He_{a_i}((x_i − c_i)/s_i)``
    with total degree ``Σ a_i ≤ degree``.

    ``He`` are orthogonal under the standard normal weight, so for data spread like
    ``N(c, diag(s²))`` the Gram matrix of EDMD is close to diagonal (well conditioned); they are
    also the eigenfunctions of the Ornstein-Uhlenbeck generator. Ordered as
    :func:`total_degree_exponents`.

    Args:
        n_state: the state size.
        degree: the largest total degree, ≥ 1.
        centre: ``c``, shape ``(n_state,)`` (default zeros).
        scale: ``s > 0``, shape ``(n_state,)`` (default ones).
    """

    n_state: int = eqx.field(static=True)
    exponents: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    centre: Float[Array, " n_state"]
    scale: Float[Array, " n_state"]

    def __init__(
        self,
        n_state: int,
        degree: int,
        centre: Float[ArrayLike, "..."] | None = None,
        scale: Float[ArrayLike, "..."] | None = None,
    ):
        self.n_state = check_int(n_state, "n_state")
        self.exponents = total_degree_exponents(n_state, check_int(degree, "degree"))
        self.centre, self.scale = _centre_and_scale(n_state, centre, scale)

    def __call__(self, x: Inexact[Array, " n_state"]) -> Inexact[Array, " size"]:
        x = self._check_state(x)
        z = (x - self.centre.astype(x.dtype)) / self.scale.astype(x.dtype)
        degree = max(max(e) for e in self.exponents)
        table = _hermite_table(z, degree)
        powers = jnp.asarray(self.exponents, jnp.int32)
        return jnp.prod(table[powers, jnp.arange(self.n_state)[None, :]], axis=1)


_RBF_KINDS = ("gaussian", "thin_plate", "multiquadric", "inverse_multiquadric")


class RadialBasis(AbstractDictionary):
    r"""Radial basis functions ``ψ_j(x) = φ(‖x − c_j‖ / ε)`` about ``N`` centres.

    ======================== ==========================================
    ``kind``                 ``φ(r)``
    ======================== ==========================================
    ``"gaussian"``           ``exp(−r²)``
    ``"thin_plate"``         ``r² log r`` (0 at ``r = 0``)
    ``"multiquadric"``       ``√(1 + r²)``
    ``"inverse_multiquadric"`` ``1/√(1 + r²)``
    ======================== ==========================================

    Williams et al. (2015) use thin-plate splines about k-means centres of the data; random
    data points or a grid serve as well. Centres and ``ε`` are leaves.

    Args:
        centres: ``c_j`` as rows, shape ``(N, n_state)``.
        kind: one of the above.
        epsilon: the length scale ``ε > 0``, a scalar.
    """

    n_state: int = eqx.field(static=True)
    kind: str = eqx.field(static=True)
    centres: Float[Array, "size n_state"]
    epsilon: Float[Array, ""]

    def __init__(
        self, centres: Float[ArrayLike, "..."], kind: str = "gaussian", epsilon: Any = 1.0
    ):
        centres = jnp.asarray(centres)
        if centres.ndim != 2 or centres.shape[0] < 1 or centres.shape[1] < 1:
            raise ValueError(f"`centres` must have shape (N, n_state); got {centres.shape}.")
        if not jnp.issubdtype(centres.dtype, jnp.floating):
            raise TypeError(f"`centres` must be real floating; got {centres.dtype}.")
        if kind not in _RBF_KINDS:
            raise ValueError(f"`kind` must be one of {_RBF_KINDS}; got {kind!r}.")
        check_positive_scalar(epsilon, "epsilon")
        self.n_state = int(centres.shape[1])
        self.kind = kind
        self.centres = centres
        self.epsilon = jnp.asarray(epsilon, centres.dtype)

    def __call__(self, x: Inexact[Array, " n_state"]) -> Float[Array, " size"]:
        x = self._check_state(x)
        centres, epsilon = self.centres.astype(x.dtype), self.epsilon.astype(x.dtype)
        squared = jnp.sum((x[None, :] - centres) ** 2, axis=1) / epsilon**2
        return _radial(self.kind, squared)


def _radial(kind: str, squared: jax.Array) -> jax.Array:
    """``φ`` of the squared scaled distance (thin-plate with a derivative-safe zero)."""
    if kind == "gaussian":
        return jnp.exp(-squared)
    if kind == "multiquadric":
        return jnp.sqrt(1 + squared)
    if kind == "inverse_multiquadric":
        return 1 / jnp.sqrt(1 + squared)
    positive = squared > 0
    safe = jnp.where(positive, squared, 1.0)
    return jnp.where(positive, 0.5 * safe * jnp.log(safe), 0.0)


class Concatenate(AbstractDictionary):
    """Several dictionaries side by side, ``ψ(x) = (ψ⁽¹⁾(x), ψ⁽²⁾(x), …)``.

    Args:
        dictionaries: dictionaries of the same ``n_state``.
    """

    n_state: int = eqx.field(static=True)
    dictionaries: tuple[AbstractDictionary, ...]

    def __init__(self, dictionaries: Sequence[AbstractDictionary]):
        dictionaries = tuple(dictionaries)
        if not dictionaries or not all(isinstance(d, AbstractDictionary) for d in dictionaries):
            raise TypeError("`dictionaries` must be a non-empty sequence of dictionaries.")
        sizes = {d.n_state for d in dictionaries}
        if len(sizes) != 1:
            raise ValueError(f"`dictionaries` must share n_state; got {sorted(sizes)}.")
        self.n_state = sizes.pop()
        self.dictionaries = dictionaries

    def __call__(self, x: Inexact[Array, " n_state"]) -> Inexact[Array, " size"]:
        x = self._check_state(x)
        parts = [d(x) for d in self.dictionaries]
        dtype = jnp.result_type(*parts)
        return jnp.concatenate([p.astype(dtype) for p in parts])


# ---------------------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------------------


class AbstractKernel(eqx.Module):
    """A positive-definite kernel ``k(x, y) = ⟨ψ(x), ψ(y)⟩`` of two states."""

    def __call__(
        self, x: Float[Array, " n_state"], y: Float[Array, " n_state"]
    ) -> Float[Array, ""]:
        raise NotImplementedError

    def matrix(
        self, a: Float[Array, "n_state m"], b: Float[Array, "n_state k"]
    ) -> Float[Array, "m k"]:
        """The Gram matrix ``K_ij = k(a_i, b_j)`` of two snapshot matrices (states as columns)."""
        return jax.vmap(lambda x: jax.vmap(lambda y: self(x, y))(b.T))(a.T)


class GaussianKernel(AbstractKernel):
    r"""``k(x, y) = exp(−‖x − y‖² / σ²)`` (an infinite dictionary of Gaussian features).

    Args:
        sigma: the bandwidth ``σ > 0`` (a leaf).
    """

    sigma: Float[Array, ""]

    def __init__(self, sigma: Any = 1.0):
        check_positive_scalar(sigma, "sigma")
        self.sigma = jnp.asarray(sigma)

    def __call__(
        self, x: Float[Array, " n_state"], y: Float[Array, " n_state"]
    ) -> Float[Array, ""]:
        return jnp.exp(-jnp.sum((x - y) ** 2) / self.sigma.astype(x.dtype) ** 2)


class PolynomialKernel(AbstractKernel):
    r"""``k(x, y) = (c + xᵀy / s²)^degree``: the span of all monomials of total degree
    ``≤ degree`` (Williams, Rowley and Kevrekidis 2015), without listing them.

    Args:
        degree: the polynomial degree, ≥ 1.
        offset: ``c > 0`` (a leaf).
        scale: ``s > 0`` (a leaf).
    """

    degree: int = eqx.field(static=True)
    offset: Float[Array, ""]
    scale: Float[Array, ""]

    def __init__(self, degree: int, offset: Any = 1.0, scale: Any = 1.0):
        self.degree = check_int(degree, "degree")
        check_positive_scalar(offset, "offset")
        check_positive_scalar(scale, "scale")
        self.offset = jnp.asarray(offset)
        self.scale = jnp.asarray(scale)

    def __call__(
        self, x: Float[Array, " n_state"], y: Float[Array, " n_state"]
    ) -> Float[Array, ""]:
        dtype = x.dtype
        inner = jnp.dot(x, y) / self.scale.astype(dtype) ** 2
        return (self.offset.astype(dtype) + inner) ** self.degree


# ---------------------------------------------------------------------------------------------
# Time delays and helpers
# ---------------------------------------------------------------------------------------------


def delay_embedding(
    snapshots: Inexact[ArrayLike, "..."], delays: int
) -> Inexact[Array, "n_embedded m_embedded"]:
    r"""Stack each snapshot with the ``delays`` snapshots before it (a Hankel matrix).

    Column ``j`` of the result is ``(x_j, x_{j+1}, …, x_{j+d})`` (oldest first), so a state
    observed only partially, or dynamics with memory, become Markovian in the embedded state
    (Takens; Arbabi and Mezić 2017).

    Args:
        snapshots: states as columns, shape ``(n_state, m)``.
        delays: ``d ≥ 0``; ``d = 0`` returns the snapshots.

    Returns:
        Shape ``(n_state (d + 1), m − d)``.

    Raises:
        ValueError: for a non-matrix or fewer than ``d + 1`` snapshots.
    """
    delays = check_int(delays, "delays", minimum=0)
    snapshots = jnp.asarray(snapshots)
    if snapshots.ndim != 2 or snapshots.shape[1] <= delays:
        raise ValueError(
            f"`snapshots` must be a matrix (n_state, m) with m > delays = {delays}; "
            f"got shape {snapshots.shape}."
        )
    m = snapshots.shape[1] - delays
    return jnp.concatenate([snapshots[:, k : k + m] for k in range(delays + 1)], axis=0)


def _centre_and_scale(n_state: int, centre: Any, scale: Any) -> tuple[jax.Array, jax.Array]:
    centre = jnp.zeros(n_state) if centre is None else jnp.asarray(centre)
    scale = jnp.ones(n_state) if scale is None else jnp.asarray(scale)
    for value, name in ((centre, "centre"), (scale, "scale")):
        if value.shape != (n_state,):
            raise ValueError(f"`{name}` must have shape ({n_state},); got {value.shape}.")
    if not isinstance(scale, jax.core.Tracer) and not bool(jnp.all(scale > 0)):
        raise ValueError("`scale` must be positive.")
    return centre, scale
