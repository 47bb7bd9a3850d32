r"""Collocation samplers: uniform, Latin hypercube, Sobol, and residual-based adaptive ones.

A sampler is static configuration. The training loop keeps its points as state
``(points, mask)``: ``points`` of shape ``(num_points, dim)`` and a ``mask`` of shape
``(num_points,)`` (one for a point in use, zero for a free slot of a growing set); a term's loss
is the masked mean of its squared residual. ``init(key, dtype)`` draws the first set and
``resample(key, points, mask, residual_size)`` the next, every ``every`` steps (``every=1``:
a new set every step, inside the jitted loop with a new key per step; ``None``: one fixed
set). ``residual_size(points) -> (m,)`` gives the residual magnitude at the current
parameters, which only the adaptive samplers use.
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from dmech._checks import check_int
from dmech._custom_types import Array, DTypeLike, Key

from ._domains import AbstractDomain
from ._unit import check_method

__all__ = [
    "AbstractSampler",
    "ResidualAdaptiveSampler",
    "ResidualRefinementSampler",
    "Sampler",
]

ResidualSize = Callable[[Array], Array]


def _every(value: object) -> int | None:
    return None if value is None else check_int(value, "every")


def _check_domain(domain: object, where: object) -> tuple[AbstractDomain, str]:
    if not isinstance(domain, AbstractDomain):
        raise TypeError(f"`domain` must be a pinn domain; got {type(domain).__name__}.")
    if where not in domain.regions:
        valid = ", ".join(repr(r) for r in domain.regions)
        raise ValueError(f"`where` must be one of {valid} for this domain; got {where!r}.")
    return domain, str(where)


def _non_negative(value: object, argname: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{argname}` must be a number; got {type(value).__name__}.")
    number = float(value)
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"`{argname}` must be finite and non-negative; got {number}.")
    return number


class AbstractSampler(eqx.Module):
    """Where a term's collocation points come from (see the module docstring)."""

    @property
    @abc.abstractmethod
    def num_points(self) -> int:
        """The length of the points array (capacity for a growing set)."""

    @property
    @abc.abstractmethod
    def resample_every(self) -> int | None:
        """Steps between resamples, or ``None`` for a fixed set."""

    @property
    def needs_residual(self) -> bool:
        """Whether ``resample`` uses the residual (then the loop evaluates it)."""
        return False

    @abc.abstractmethod
    def init(self, key: Key, dtype: DTypeLike) -> tuple[Array, Array]:
        """The first ``(points, mask)``."""

    @abc.abstractmethod
    def resample(
        self, key: Key, points: Array, mask: Array, residual_size: ResidualSize
    ) -> tuple[Array, Array]:
        """The next ``(points, mask)``."""


class Sampler(AbstractSampler):
    r"""Points drawn from a region of a domain: uniform, Latin hypercube or Sobol.

    Attributes:
        domain: a :class:`pinn.AbstractDomain`.
        n: the number of points.
        where: the region (``"interior"``, ``"boundary"``, ``"initial"``).
        method: ``"uniform"``, ``"lhs"`` (Latin hypercube; McKay, Beckman and Conover 1979)
            or ``"sobol"`` (a scrambled Sobol sequence with a random shift per draw).
        every: draw a new set every this many steps (1: every step); ``None``: one fixed
            set.

    Example:
        >>> sampler = Sampler(SpaceTime(interval(-1, 1), 0, 1), 2048, method="sobol", every=1)
    """

    domain: AbstractDomain
    n: int = eqx.field(static=True)
    where: str = eqx.field(static=True)
    method: str = eqx.field(static=True)
    every: int | None = eqx.field(static=True)

    def __init__(
        self,
        domain: AbstractDomain,
        n: int,
        *,
        where: str = "interior",
        method: str = "uniform",
        every: int | None = None,
    ):
        """Raises:
        ValueError/TypeError: naming the argument (``domain``, ``n``, ``where``, ``method``,
            ``every``).
        """
        self.domain, self.where = _check_domain(domain, where)
        self.n = check_int(n, "n")
        self.method = check_method(method)
        self.every = _every(every)

    @property
    def num_points(self) -> int:
        return self.n

    @property
    def resample_every(self) -> int | None:
        return self.every

    def init(self, key: Key, dtype: DTypeLike) -> tuple[Array, Array]:
        points = self.domain.sample(key, self.n, where=self.where, method=self.method, dtype=dtype)
        return points, jnp.ones(self.n, dtype)

    def resample(
        self, key: Key, points: Array, mask: Array, residual_size: ResidualSize
    ) -> tuple[Array, Array]:
        del residual_size
        return self.init(key, points.dtype)[0], mask


def _residual_density(size: Array, k: float, c: float) -> Array:
    r"""$p \propto \varepsilon^k / \operatorname{mean}(\varepsilon^k) + c$, normalised."""
    power = size**k
    mean = jnp.mean(power)
    density = power / jnp.where(mean > 0, mean, 1) + c
    density = jnp.where(jnp.isfinite(density), density, 0)
    total = jnp.sum(density)
    uniform = jnp.full_like(density, 1 / density.shape[0])
    return jnp.where(total > 0, density / jnp.where(total > 0, total, 1), uniform)


class ResidualAdaptiveSampler(AbstractSampler):
    r"""Residual-based adaptive distribution (RAD; Wu, Zhu, Tan, Kartha and Lu 2023).

    Every ``every`` steps ``num_candidates`` points are drawn from the region (``method``)
    and ``n`` of them are chosen without replacement with probability

    $$p(x) \propto \frac{\varepsilon(x)^k}{\operatorname{E}[\varepsilon^k]} + c,$$

    $\varepsilon = |r(x)|$ at the current parameters; ``k = 1, c = 1`` is the paper's robust
    default (``c → ∞`` is uniform sampling, ``k`` large concentrates on the largest
    residuals). The first set is drawn by ``method``.

    Attributes:
        domain, where, method: the region and the candidate method.
        n: the number of training points.
        num_candidates: the dense candidate set per resample (``≥ n``).
        k, c: the exponent and the uniform floor.
        every: steps between resamples.

    References:
        Wu, Zhu, Tan, Kartha and Lu (2023), "A comprehensive study of non-adaptive and
        residual-based adaptive sampling for physics-informed neural networks", Comput.
        Methods Appl. Mech. Engrg. 403, 115671.
    """

    domain: AbstractDomain
    n: int = eqx.field(static=True)
    num_candidates: int = eqx.field(static=True)
    k: float = eqx.field(static=True)
    c: float = eqx.field(static=True)
    where: str = eqx.field(static=True)
    method: str = eqx.field(static=True)
    every: int = eqx.field(static=True)

    def __init__(
        self,
        domain: AbstractDomain,
        n: int,
        *,
        num_candidates: int | None = None,
        k: float = 1.0,
        c: float = 1.0,
        every: int = 1000,
        where: str = "interior",
        method: str = "uniform",
    ):
        """Raises:
        ValueError/TypeError: naming the argument (``num_candidates < n`` included).
        """
        self.domain, self.where = _check_domain(domain, where)
        self.n = check_int(n, "n")
        candidates = 10 * self.n if num_candidates is None else num_candidates
        self.num_candidates = check_int(candidates, "num_candidates")
        if self.num_candidates < self.n:
            raise ValueError(
                f"`num_candidates` must be at least n = {self.n}; got {self.num_candidates}."
            )
        self.k = _non_negative(k, "k")
        self.c = _non_negative(c, "c")
        self.every = check_int(every, "every")
        self.method = check_method(method)

    @property
    def num_points(self) -> int:
        return self.n

    @property
    def resample_every(self) -> int | None:
        return self.every

    @property
    def needs_residual(self) -> bool:
        return True

    def init(self, key: Key, dtype: DTypeLike) -> tuple[Array, Array]:
        points = self.domain.sample(key, self.n, where=self.where, method=self.method, dtype=dtype)
        return points, jnp.ones(self.n, dtype)

    def resample(
        self, key: Key, points: Array, mask: Array, residual_size: ResidualSize
    ) -> tuple[Array, Array]:
        candidate_key, choice_key = jax.random.split(key)
        candidates = self.domain.sample(
            candidate_key, self.num_candidates, where=self.where, method=self.method,
            dtype=points.dtype,
        )  # fmt: skip
        p = _residual_density(jax.lax.stop_gradient(residual_size(candidates)), self.k, self.c)
        index = jax.random.choice(choice_key, self.num_candidates, (self.n,), replace=False, p=p)
        return candidates[index], mask


class ResidualRefinementSampler(AbstractSampler):
    r"""Residual-based adaptive refinement with distribution (RAR-D; Wu et al. 2023).

    Starts from ``n`` points drawn by ``method``; every ``every`` steps it draws
    ``num_candidates`` candidates and *adds* ``num_added`` of them, chosen with the RAD
    probability $p \propto \varepsilon^k/\operatorname{E}[\varepsilon^k] + c$, until
    ``max_rounds`` additions (the set then stays fixed). The set lives in a buffer of fixed
    capacity ``n + num_added * max_rounds`` with a mask, so no step recompiles.

    Attributes:
        domain, where, method: the region and the method.
        n: the initial number of points.
        num_added: points added per round.
        max_rounds: the number of rounds.
        num_candidates, k, c: as in :class:`ResidualAdaptiveSampler`.
        every: steps between rounds.

    References:
        Wu, Zhu, Tan, Kartha and Lu (2023), Comput. Methods Appl. Mech. Engrg. 403, 115671.
    """

    domain: AbstractDomain
    n: int = eqx.field(static=True)
    num_added: int = eqx.field(static=True)
    max_rounds: int = eqx.field(static=True)
    num_candidates: int = eqx.field(static=True)
    k: float = eqx.field(static=True)
    c: float = eqx.field(static=True)
    where: str = eqx.field(static=True)
    method: str = eqx.field(static=True)
    every: int = eqx.field(static=True)

    def __init__(
        self,
        domain: AbstractDomain,
        n: int,
        *,
        num_added: int,
        max_rounds: int,
        num_candidates: int | None = None,
        k: float = 2.0,
        c: float = 0.0,
        every: int = 1000,
        where: str = "interior",
        method: str = "uniform",
    ):
        """Raises:
        ValueError/TypeError: naming the argument.
        """
        self.domain, self.where = _check_domain(domain, where)
        self.n = check_int(n, "n")
        self.num_added = check_int(num_added, "num_added")
        self.max_rounds = check_int(max_rounds, "max_rounds")
        candidates = 10 * self.num_added if num_candidates is None else num_candidates
        self.num_candidates = check_int(candidates, "num_candidates")
        if self.num_candidates < self.num_added:
            raise ValueError(
                f"`num_candidates` must be at least num_added = {self.num_added}; got "
                f"{self.num_candidates}."
            )
        self.k = _non_negative(k, "k")
        self.c = _non_negative(c, "c")
        self.every = check_int(every, "every")
        self.method = check_method(method)

    @property
    def num_points(self) -> int:
        return self.n + self.num_added * self.max_rounds

    @property
    def resample_every(self) -> int | None:
        return self.every

    @property
    def needs_residual(self) -> bool:
        return True

    def init(self, key: Key, dtype: DTypeLike) -> tuple[Array, Array]:
        first = self.domain.sample(key, self.n, where=self.where, method=self.method, dtype=dtype)
        spare = self.num_points - self.n
        points = jnp.concatenate([first, jnp.broadcast_to(first[:1], (spare, first.shape[1]))])
        mask = jnp.concatenate([jnp.ones(self.n, dtype), jnp.zeros(spare, dtype)])
        return points, mask

    def resample(
        self, key: Key, points: Array, mask: Array, residual_size: ResidualSize
    ) -> tuple[Array, Array]:
        candidate_key, choice_key = jax.random.split(key)
        candidates = self.domain.sample(
            candidate_key, self.num_candidates, where=self.where, method=self.method,
            dtype=points.dtype,
        )  # fmt: skip
        p = _residual_density(jax.lax.stop_gradient(residual_size(candidates)), self.k, self.c)
        index = jax.random.choice(
            choice_key, self.num_candidates, (self.num_added,), replace=False, p=p
        )
        count = jnp.sum(mask).astype(jnp.int32)
        full = count + self.num_added > self.num_points
        position = jnp.where(full, self.num_points, count + jnp.arange(self.num_added))
        points = points.at[position].set(candidates[index], mode="drop")
        mask = mask.at[position].set(1, mode="drop")
        return points, mask
