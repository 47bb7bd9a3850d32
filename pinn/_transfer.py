r"""Transfer learning for PINNs: a one-shot least-squares output layer, and fine-tuning.

**Least squares (linear PDEs).** With the hidden layers frozen, a network's output is linear
in its last layer's weights $\beta$, $u(x) = \sum_j \beta_j \varphi_j(x) + \beta_0$, so for a
linear operator $\mathcal L$ and linear boundary operator $\mathcal B$ every residual is
affine in $\beta$: $r_i(\beta) = A_i\beta - b_i$ with $(A_i)_{nj} = \mathcal L\varphi_j(x_n)$.
A new forcing or boundary condition is then solved in one shot by the weighted linear least
squares problem

$$\min_\beta \sum_i \frac{\lambda_i}{n_i} \lVert A_i\beta - b_i\rVert^2$$

(Desai, Mattheakis, Joy, Protopapas and Roberts 2022: "one-shot transfer learning of PINNs").
:func:`least_squares_output_layer` builds $A$ as the Jacobian of the residuals with respect to
the selected leaves (exact for affine residuals; any network, hard constraints included, as
long as the residual is affine in those leaves) and $b = A\beta_0 - r(\beta_0)$ at the
current leaves $\beta_0$, and solves by an SVD-based least-squares solve. The residual at the
solution is
evaluated again, so a residual that is not affine in $\beta$ is reported (``affine_defect``).

**Fine-tuning.** :func:`fine_tune` continues training a trained network on a new problem
(:func:`pinn.train`), optionally with some of its leaves frozen.

References:
    Desai, Mattheakis, Joy, Protopapas and Roberts (2022), "One-shot transfer learning of
    physics-informed neural networks", ICML AI4Science workshop, arXiv:2110.11286.
    Goswami, Anitescu, Chakraborty and Rabczuk (2020), "Transfer learning enhanced
    physics informed neural network for phase-field modeling of fracture", Theor. Appl.
    Fract. Mech. 106, 102447.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from dmech._custom_types import Array, ArrayLike, Float, Key, PyTree

from ._problem import Term
from ._training import TrainResult, train

__all__ = ["LeastSquaresResult", "fine_tune", "least_squares_output_layer", "select_leaves"]


def select_leaves(params: PyTree, where: Callable[[PyTree], Any]) -> PyTree:
    """An equinox filter spec: ``True`` at the inexact array leaves of the subtrees that
    ``where(params)`` returns, ``False`` elsewhere.

    Args:
        params: the pytree.
        where: selects a node or a tuple of nodes (as for ``equinox.tree_at``).

    Returns:
        A pytree of bools of the structure of ``params``.
    """
    if not callable(where):
        raise TypeError(f"`where` must be callable; got {type(where).__name__}.")
    spec = jax.tree_util.tree_map(lambda _: False, params)
    selected = where(params)
    nodes = selected if isinstance(selected, tuple | list) else (selected,)
    flags = tuple(jax.tree_util.tree_map(eqx.is_inexact_array, node) for node in nodes)
    replacement = flags if isinstance(selected, tuple | list) else flags[0]
    return eqx.tree_at(where, spec, replace=replacement)


@dataclasses.dataclass(frozen=True)
class LeastSquaresResult:
    """What :func:`least_squares_output_layer` returns.

    Attributes:
        params: ``params`` with the selected leaves solved.
        coefficients: the solved leaves as one vector, shape ``(p,)``.
        matrix: the weighted least-squares matrix $A$, shape ``(rows, p)``.
        rhs: the weighted right-hand side $b$, shape ``(rows,)``.
        residual_norm: $\\lVert A\\beta - b\\rVert_2$ at the solution.
        rank: the numerical rank of $A$.
        affine_defect: the largest difference between the residuals recomputed at the
            solution and $A\\beta - b$, relative to $\\lVert b\\rVert_\\infty$ (round-off for an
            affine residual).
    """

    params: PyTree
    coefficients: Float[Array, " p"]
    matrix: Float[Array, "rows p"]
    rhs: Float[Array, " rows"]
    residual_norm: float
    rank: int
    affine_defect: float


def _weighted_residuals(
    problem: Mapping[str, tuple[Callable[[Any, Array], Array], Array, float]],
    params: PyTree,
) -> Array:
    parts = []
    for residual, points, weight in problem.values():
        values = jax.vmap(residual, in_axes=(None, 0))(params, points)
        values = jnp.reshape(values, (-1,))
        scale = jnp.sqrt(jnp.asarray(weight / points.shape[0], values.dtype))
        parts.append(scale * values)
    return jnp.concatenate(parts)


def least_squares_output_layer(
    params: PyTree,
    problem: Mapping[str, tuple[Callable[[Any, Array], Array], Float[ArrayLike, "..."], float]],
    *,
    where: Callable[[PyTree], Any],
    rcond: float | None = None,
    affine_tolerance: float | None = None,
) -> LeastSquaresResult:
    r"""Solve the leaves that ``where`` selects (a network's output layer) by linear least
    squares, the others frozen (see the module docstring).

    Args:
        params: the trained parameters (e.g. a :class:`pinn.HardConstraint` around an MLP).
        problem: ``{name: (residual, points, weight)}``: ``residual(params, x)`` of one
            point, affine in the selected leaves; ``points`` of shape ``(n, d)``; the
            weight $\lambda > 0$.
        where: selects the solved leaves, e.g. ``lambda u: u.network.layers[-1]``.
        rcond: the relative cut-off of small singular values (``jnp.linalg.lstsq``'s).
        affine_tolerance: raise when ``affine_defect`` exceeds this (``None``: 1e-3 in
            float32, 1e-8 in float64).

    Returns:
        A :class:`LeastSquaresResult`.

    Raises:
        ValueError/TypeError: naming the argument (an empty problem, points not ``(n, d)``,
            a non-positive weight, no selected leaf); ``ValueError`` when the residual is
            not affine in the selected leaves (``affine_defect`` above the tolerance).
    """
    if not isinstance(problem, Mapping) or not problem:
        raise TypeError("`problem` must be a non-empty mapping {name: (residual, points, w)}.")
    checked: dict[str, tuple[Callable[[Any, Array], Array], Array, float]] = {}
    for name, entry in problem.items():
        if not (isinstance(entry, tuple) and len(entry) == 3 and callable(entry[0])):
            raise TypeError(f"`problem[{name!r}]` must be (residual, points, weight).")
        residual, points, weight = entry
        points = jnp.asarray(points)
        if points.ndim != 2 or points.shape[0] == 0:
            raise ValueError(f"`problem[{name!r}]` points must be (n, d); got {points.shape}.")
        if not (isinstance(weight, numbers.Real) and math.isfinite(weight) and weight > 0):
            raise ValueError(f"`problem[{name!r}]` weight must be positive; got {weight!r}.")
        checked[name] = (residual, points, float(weight))
    spec = select_leaves(params, where)
    selected, rest = eqx.partition(params, spec)
    if not jax.tree_util.tree_leaves(selected):
        raise ValueError("`where` selects no array leaves of `params`.")
    flat, unravel = ravel_pytree(selected)
    result = _solve(checked, rest, unravel, flat, rcond)
    coefficients, matrix, rhs, rank, defect = result
    tolerance = affine_tolerance
    if tolerance is None:
        tolerance = 1e-8 if flat.dtype == jnp.float64 else 1e-3
    defect = float(defect)
    if not defect <= tolerance:
        raise ValueError(
            f"the residual is not affine in the selected leaves (defect {defect:.2e} > "
            f"{tolerance:.1e}): least squares applies to linear PDEs and conditions only."
        )
    solved = eqx.combine(unravel(coefficients), rest)
    norm = float(jnp.linalg.norm(matrix @ coefficients - rhs))
    return LeastSquaresResult(solved, coefficients, matrix, rhs, norm, int(rank), defect)


@eqx.filter_jit
def _solve(problem, rest, unravel, flat, rcond):  # type: ignore[no-untyped-def]
    def residuals(theta: Array) -> Array:
        return _weighted_residuals(problem, eqx.combine(unravel(theta), rest))

    # linearised at the current leaves θ0: r(θ) = r(θ0) + A (θ - θ0) = A θ - b (exact when
    # affine; at θ0 rather than zero, so that a quadratic residual shows its defect)
    offset = residuals(flat)
    matrix = jax.jacfwd(residuals)(flat)
    rhs = matrix @ flat - offset
    coefficients, _, rank, _ = jnp.linalg.lstsq(matrix, rhs, rcond=rcond)
    recomputed = residuals(coefficients)
    scale = jnp.maximum(jnp.max(jnp.abs(rhs)), jnp.finfo(rhs.dtype).tiny)
    defect = jnp.max(jnp.abs(recomputed - (matrix @ coefficients - rhs))) / scale
    return coefficients, matrix, rhs, rank, defect


def fine_tune(
    params: PyTree,
    terms: Mapping[str, Term],
    *,
    key: Key,
    frozen: Callable[[PyTree], Any] | None = None,
    **train_options: Any,
) -> TrainResult:
    r"""Fine-tune trained parameters on a new problem: :func:`pinn.train` from ``params``,
    with the subtrees that ``frozen`` selects held fixed.

    Args:
        params: the trained parameters.
        terms: the new problem's terms.
        key: PRNG key.
        frozen: selects the frozen subtrees (e.g. ``lambda u: u.network.layers[:-1]``:
            the hidden layers), or ``None`` (all inexact leaves train).
        **train_options: passed to :func:`pinn.train` (``adam``, ``lbfgs``, ``reference``...;
            not ``trainable``).

    Returns:
        A :class:`pinn.TrainResult`.

    Raises:
        ValueError/TypeError: naming the argument.

    References:
        Goswami, Anitescu, Chakraborty and Rabczuk (2020), Theor. Appl. Fract. Mech. 106,
        102447.
    """
    if "trainable" in train_options:
        raise ValueError("give `frozen` (the fixed subtrees), not `trainable`.")
    trainable: Any = eqx.is_inexact_array
    if frozen is not None:
        fixed = select_leaves(params, frozen)
        trainable = jax.tree_util.tree_map(
            lambda leaf, f: eqx.is_inexact_array(leaf) and not f, params, fixed
        )
    return train(params, terms, key=key, trainable=trainable, **train_options)
