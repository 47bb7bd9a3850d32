r"""Recover a Darcy coefficient field from sparse pressure observations, through a trained
surrogate (an FNO) or through the finite-element solver, by gradient descent on a smooth
parametrisation of the coefficient.

The coefficient of the Darcy dataset is two-valued, ``a = high`` where a Gaussian field
``g`` is non-negative and ``low`` elsewhere. The search variable is the vector ``ξ`` of the
first ``modes × modes`` coefficients of ``g``'s cosine (Karhunen-Loève) expansion
(:func:`operators.neumann_gaussian_random_field`), and the threshold is smoothed:

.. math:: a_ξ(x) = \mathrm{low} + (\mathrm{high} - \mathrm{low})\, σ\big(g_ξ(x) / ε\big),
   \qquad g_ξ = \sum_{k, l < m} λ_{kl}^{1/2} ξ_{kl} φ_k φ_l,

with ``σ`` the logistic function and ``ε`` = `smoothing`. The objective is the relative
misfit of the observed pressures plus a Gaussian prior on ``ξ``:

.. math:: J(ξ) = \frac{\sum_j (u_ξ(x_j) - d_j)^2}{\sum_j d_j^2}
   + β\, \frac{1}{m^2} \sum_{kl} ξ_{kl}^2 ,

minimised by Adam. ``u_ξ`` comes from any differentiable forward map: a trained FNO
(:func:`fno_darcy_forward`) or :func:`operators.solve_darcy` (:func:`fe_darcy_forward`,
differentiated by its adjoint solve).

References:
    Li et al. (2021), "Fourier neural operator for parametric partial differential
    equations", ICLR, section 5.5 (Bayesian inverse problem with an FNO surrogate).
    Stuart (2010), "Inverse problems: a Bayesian perspective", Acta Numerica 19.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from dmech._custom_types import Array, ArrayLike, Float, Int
from dmech.cfd._checks import positive_float, positive_int

from ._darcy import DARCY_HIGH, DARCY_LOW, _cosine_basis, solve_darcy

__all__ = [
    "DarcyInverseResult",
    "coefficient_from_latent",
    "fe_darcy_forward",
    "fno_darcy_forward",
    "recover_darcy_coefficient",
]


def _amplitudes(modes: int, alpha: float, tau: float) -> np.ndarray:
    """``σ (π² (k² + l²) + τ²)^{-α/2}`` for ``k, l < modes``, the constant mode zeroed (the
    spectrum of the dataset's field, ``σ = τ^{α-1}``)."""
    k = np.arange(modes)
    eigen = np.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2)
    amplitudes = tau ** (alpha - 1.0) * (eigen + tau**2) ** (-alpha / 2)
    amplitudes[0, 0] = 0.0
    return amplitudes


def coefficient_from_latent(
    latent: Float[ArrayLike, "..."],
    cells: int,
    *,
    where: str = "nodes",
    smoothing: float = 0.05,
    high: float = DARCY_HIGH,
    low: float = DARCY_LOW,
    alpha: float = 2.0,
    tau: float = 3.0,
) -> Float[Array, "..."]:
    r"""The smoothed two-valued coefficient ``a_ξ`` of a latent vector ``ξ`` (see the module).

    With ``ξ`` a standard normal sample and ``smoothing → 0`` this is the dataset's
    coefficient (truncated to ``modes²`` terms of the expansion).

    Args:
        latent: ``ξ``, shape ``(modes, modes)``, ``modes ≤ cells``.
        cells: squares per axis of the grid.
        where: ``"nodes"`` (``(cells + 1)²`` values, the FNO's input) or ``"cells"``
            (``cells²`` values, the FE solve's coefficient per element).
        smoothing: ``ε > 0``, the width of the smoothed threshold in units of ``g``.
        high, low: the coefficient's two values.
        alpha, tau: the Gaussian field's parameters.

    Returns:
        ``a_ξ`` in the latent's dtype, shape ``(cells + 1, cells + 1)`` or ``(cells, cells)``.

    Raises:
        ValueError: naming the argument.
    """
    latent = jnp.asarray(latent)
    cells = positive_int(cells, "cells")
    if latent.ndim != 2 or latent.shape[0] != latent.shape[1] or latent.shape[0] > cells:
        raise ValueError(
            f"latent must have shape (modes, modes), modes <= cells; got {latent.shape}"
        )
    if where not in ("nodes", "cells"):
        raise ValueError(f"where must be 'nodes' or 'cells', got {where!r}")
    smoothing = positive_float(smoothing, "smoothing")
    modes = latent.shape[0]
    dtype = latent.dtype
    basis = jnp.asarray(_cosine_basis(cells, where)[:, :modes], dtype)
    amplitudes = jnp.asarray(_amplitudes(modes, alpha, tau), dtype)
    g = basis @ (amplitudes * latent) @ basis.T
    weight = jax.nn.sigmoid(g / jnp.asarray(smoothing, dtype))
    return jnp.asarray(low, dtype) + jnp.asarray(high - low, dtype) * weight


def fe_darcy_forward(cells: int, **kwargs: Any) -> Callable[[Array], Array]:
    """``ξ ↦ u`` at the ``(cells + 1)²`` nodes by :func:`operators.solve_darcy` on the
    coefficient :func:`coefficient_from_latent` gives per element (``where="cells"``);
    keyword arguments go to :func:`coefficient_from_latent`."""

    def forward(latent: Array) -> Array:
        return solve_darcy(coefficient_from_latent(latent, cells, where="cells", **kwargs))

    return forward


def fno_darcy_forward(
    model: Callable[[Array], Array],
    cells: int,
    *,
    input_mean: float,
    input_std: float,
    output_scale: float,
    **kwargs: Any,
) -> Callable[[Array], Array]:
    """``ξ ↦ u`` at the ``(cells + 1)²`` nodes by a trained surrogate: ``model`` maps the
    normalised coefficient ``(1, n, n)`` (``(a - input_mean) / input_std`` at the nodes) to
    ``u / output_scale`` ``(1, n, n)``, ``n = cells + 1`` (the normalisation of the
    ``fno-darcy`` benchmark); keyword arguments go to :func:`coefficient_from_latent`."""

    def forward(latent: Array) -> Array:
        a = coefficient_from_latent(latent, cells, where="nodes", **kwargs)
        x = ((a - input_mean) / input_std)[None]
        return model(x)[0].astype(latent.dtype) * output_scale

    return forward


class DarcyInverseResult(eqx.Module):
    """What :func:`recover_darcy_coefficient` returns.

    Attributes:
        latent: the recovered ``ξ``, ``(modes, modes)``.
        objective: ``J`` at every iteration, ``(steps,)``.
        misfit: the relative data misfit at the end (without the prior term).
        seconds: wall time of the iterations (compilation excluded).
        compile_seconds: wall time of compiling the step.
    """

    latent: Array
    objective: Array
    misfit: Array
    seconds: float = eqx.field(static=True)
    compile_seconds: float = eqx.field(static=True)


def recover_darcy_coefficient(
    forward: Callable[[Array], Array],
    observed: Float[ArrayLike, "..."],
    observed_index: Int[ArrayLike, "..."],
    *,
    modes: int,
    steps: int = 300,
    learning_rate: float = 0.05,
    prior_weight: float = 1e-3,
    initial: Float[ArrayLike, "..."] | None = None,
    dtype: Any = jnp.float32,
) -> DarcyInverseResult:
    r"""Minimise ``J(ξ)`` (see the module docstring) by ``steps`` Adam iterations.

    Args:
        forward: ``ξ (modes, modes) ↦ u``, the pressure on the nodes ``(n, n)``,
            differentiable (:func:`fno_darcy_forward`, :func:`fe_darcy_forward`).
        observed: the observed pressures ``d_j``, shape ``(num_observations,)``.
        observed_index: their flat node indices in ``u.reshape(-1)``, ``(num_observations,)``.
        modes: the latent's size per axis.
        steps: Adam iterations.
        learning_rate: Adam's step.
        prior_weight: ``β ≥ 0``.
        initial: the starting ``ξ`` (default zeros: ``a`` the mean of the two values).
        dtype: the floating dtype of the iteration.

    Returns:
        A :class:`DarcyInverseResult`.

    Raises:
        ValueError: naming the argument (shapes, sizes); FloatingPointError if the objective
            becomes non-finite.
    """
    modes = positive_int(modes, "modes")
    steps = positive_int(steps, "steps")
    learning_rate = positive_float(learning_rate, "learning_rate")
    if not prior_weight >= 0:
        raise ValueError(f"prior_weight must be >= 0, got {prior_weight!r}")
    observed = jnp.asarray(observed, dtype)
    observed_index = jnp.asarray(observed_index)
    if observed.ndim != 1 or observed_index.shape != observed.shape:
        raise ValueError(
            "observed and observed_index must be vectors of the same length; got "
            f"{observed.shape} and {observed_index.shape}"
        )
    latent = jnp.zeros((modes, modes), dtype) if initial is None else jnp.asarray(initial, dtype)
    if latent.shape != (modes, modes):
        raise ValueError(f"initial must have shape ({modes}, {modes}), got {latent.shape}")
    scale = jnp.sum(observed**2)

    def misfit(xi: Array) -> Array:
        predicted = forward(xi).reshape(-1)[observed_index]
        return jnp.sum((predicted - observed) ** 2) / scale

    def objective(xi: Array) -> Array:
        return misfit(xi) + prior_weight * jnp.mean(xi**2)

    optimiser = optax.adam(learning_rate)

    @jax.jit
    def step(xi: Array, opt_state: Any) -> tuple[Array, Any, Array]:
        value, grad = jax.value_and_grad(objective)(xi)
        # optax mixes int32 step counts with Python floats: standard promotion, scoped here
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = optimiser.update(grad, opt_state, xi)
        return optax.apply_updates(xi, updates), opt_state, value

    with jax.numpy_dtype_promotion("standard"):
        opt_state = optimiser.init(latent)
    start = time.perf_counter()
    compiled = step.lower(latent, opt_state).compile()
    compile_seconds = time.perf_counter() - start
    values = []
    start = time.perf_counter()
    for _ in range(steps):
        latent, opt_state, value = compiled(latent, opt_state)
        values.append(value)
    history = np.asarray(jnp.stack(values))
    seconds = time.perf_counter() - start
    if not np.all(np.isfinite(history)):
        raise FloatingPointError("recover_darcy_coefficient: the objective became non-finite")
    return DarcyInverseResult(
        latent=latent,
        objective=jnp.asarray(history),
        misfit=misfit(latent),
        seconds=seconds,
        compile_seconds=compile_seconds,
    )
