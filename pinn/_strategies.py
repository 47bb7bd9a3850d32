r"""Training strategies over sequences of problems: time-marching windows and curricula.

- :func:`train_time_marching` splits $[t_0, t_1]$ into windows and trains one network per
  window in order, the initial condition of each window being the previous window's
  prediction at its start (Wight and Zhao 2020; Mattey and Ghosh 2022; Wang, Sankaran and
  Perdikaris 2024). Each window starts from the previous window's parameters.
- :func:`train_curriculum` trains on a sequence of problems (e.g. an advection speed
  rising to its target, Krishnapriyan et al. 2021), each started from the previous
  solution's parameters.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from dmech._custom_types import Array, Float, Key, PyTree

from ._problem import Term
from ._training import TrainResult, train

__all__ = ["TimeMarchingResult", "train_curriculum", "train_time_marching"]


def _check_make_terms(make_terms: object) -> Callable[..., Mapping[str, Term]]:
    if not callable(make_terms):
        raise TypeError(f"`make_terms` must be callable; got {type(make_terms).__name__}.")
    return make_terms


@dataclasses.dataclass(frozen=True)
class TimeMarchingResult:
    """What :func:`train_time_marching` returns.

    Attributes:
        windows: the window boundaries $t_0 < \\dots < t_K$.
        results: one :class:`pinn.TrainResult` per window.
        solution: the ``u(params, x)`` the windows were trained with.
    """

    windows: tuple[float, ...]
    results: tuple[TrainResult, ...]
    solution: Callable[[Any, Array], Array]

    @property
    def params(self) -> tuple[PyTree, ...]:
        """The trained parameters of each window."""
        return tuple(r.params for r in self.results)

    def __call__(self, x: Float[Array, " d"]) -> Array:
        """The piecewise solution at one space-time point ``x = (x..., t)`` (time last): the
        window containing ``t`` (the first window before $t_0$, the last after $t_K$)."""
        t = x[-1]
        values = jnp.stack([self.solution(p, x) for p in self.params])
        inner = jnp.asarray(self.windows[1:-1], x.dtype)
        index = jnp.sum((t >= inner).astype(jnp.int32))
        return values[index]


def train_time_marching(
    make_terms: Callable[[float, float, Callable[[Array], Array] | None], Mapping[str, Term]],
    params: PyTree,
    solution: Callable[[Any, Array], Array],
    windows: Sequence[float],
    *,
    key: Key,
    **train_options: Any,
) -> TimeMarchingResult:
    r"""Train one network per time window, in order, each from the previous one.

    For window $k$, $[t_k, t_{k+1}]$, ``make_terms(t_k, t_{k+1}, previous)`` builds its terms,
    ``previous`` being ``None`` for the first window and otherwise the map from spatial
    coordinates ``x[:-1]`` (shape ``(d - 1,)``) to the previous window's prediction at
    $(x, t_k)$ (the initial condition to impose). Training starts from the previous window's
    parameters.

    Args:
        make_terms: builds the terms of a window.
        params: the initial parameters.
        solution: ``u(params, x)`` at a space-time point (time last).
        windows: the boundaries $t_0 < t_1 < \dots < t_K$, $K \ge 1$.
        key: PRNG key (folded with the window index).
        **train_options: passed to :func:`pinn.train` for every window (``adam``,
            ``lbfgs``, ``weighting``...; no ``checkpoint``).

    Returns:
        A :class:`TimeMarchingResult`, callable as the piecewise solution.

    Raises:
        ValueError/TypeError: naming the argument.

    References:
        Wight and Zhao (2020), "Solving Allen-Cahn and Cahn-Hilliard equations using the
        adaptive physics informed neural networks", arXiv:2007.04542.
    """
    make_terms = _check_make_terms(make_terms)
    if not callable(solution):
        raise TypeError(f"`solution` must be callable; got {type(solution).__name__}.")
    bounds = tuple(float(w) for w in windows)
    if len(bounds) < 2 or any(not math.isfinite(w) for w in bounds):
        raise ValueError(f"`windows` must hold at least two finite times; got {windows!r}.")
    if any(b <= a for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"`windows` must increase strictly; got {windows!r}.")
    if "checkpoint" in train_options:
        raise ValueError("`checkpoint` is not supported per window; train windows yourself.")
    results: list[TrainResult] = []
    previous: Callable[[Array], Array] | None = None
    for k, (start, end) in enumerate(itertools.pairwise(bounds)):
        terms = make_terms(start, end, previous)
        result = train(params, terms, key=jax.random.fold_in(key, k), **train_options)
        results.append(result)
        params = result.params
        previous = _initial_from(solution, result.params, start=end)
    return TimeMarchingResult(bounds, tuple(results), solution)


def _initial_from(
    solution: Callable[[Any, Array], Array], params: PyTree, *, start: float
) -> Callable[[Array], Array]:
    def previous(x: Array) -> Array:
        point = jnp.concatenate([x, jnp.full((1,), start, x.dtype)])
        return jax.lax.stop_gradient(solution(params, point))

    return previous


def train_curriculum(
    make_terms: Callable[[Any], Mapping[str, Term]],
    params: PyTree,
    values: Sequence[Any],
    *,
    key: Key,
    **train_options: Any,
) -> list[TrainResult]:
    r"""Train on a sequence of problems, each from the previous one's parameters.

    ``make_terms(value)`` builds the terms for each of ``values`` in order (e.g. advection
    speeds ``1, 10, 30, 50``); the last result solves the target problem.

    Args:
        make_terms: builds the terms for one value.
        params: the initial parameters.
        values: the curriculum, at least one value.
        key: PRNG key (folded with the stage index).
        **train_options: passed to :func:`pinn.train` for every stage.

    Returns:
        One :class:`pinn.TrainResult` per value.

    References:
        Krishnapriyan, Gholami, Zhe, Kirby and Mahoney (2021), "Characterizing possible
        failure modes in physics-informed neural networks", NeurIPS.
    """
    make_terms = _check_make_terms(make_terms)
    if isinstance(values, str) or not isinstance(values, Sequence) or not len(values):
        raise ValueError(f"`values` must be a non-empty sequence; got {values!r}.")
    if "checkpoint" in train_options:
        raise ValueError("`checkpoint` is not supported per stage; train stages yourself.")
    results: list[TrainResult] = []
    for i, value in enumerate(values):
        result = train(params, make_terms(value), key=jax.random.fold_in(key, i), **train_options)
        results.append(result)
        params = result.params
    return results
