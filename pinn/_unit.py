r"""Points in the unit cube $[0, 1)^q$: uniform, Latin hypercube and Sobol, from a PRNG key.

Every generator is a pure function of its key with static sizes, so it runs inside
``jax.jit`` (a new key per training step resamples the points).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dmech._custom_types import Array, Key

UNIT_METHODS: tuple[str, ...] = ("uniform", "lhs", "sobol")

_SOBOL_SEED = 20240101  # fixed: the base sequence is part of the method, not of the key


@functools.lru_cache(maxsize=64)
def sobol_base(n: int, dim: int) -> np.ndarray:
    """The first ``n`` points of a scrambled Sobol sequence in ``dim`` dimensions (float64,
    generated on the host once per size with ``scipy.stats.qmc.Sobol``, read-only)."""
    from scipy.stats import qmc

    m = max(0, math.ceil(math.log2(n)))
    points = qmc.Sobol(d=dim, scramble=True, seed=_SOBOL_SEED).random_base2(m)[:n]
    points = np.ascontiguousarray(points)
    points.setflags(write=False)
    return points


def check_method(method: object, argname: str = "method") -> str:
    if method not in UNIT_METHODS:
        valid = ", ".join(repr(m) for m in UNIT_METHODS)
        raise ValueError(f"`{argname}` must be one of {valid}; got {method!r}.")
    return str(method)


def unit_cube_points(key: Key, n: int, dim: int, method: str, dtype: Any) -> Array:
    r"""``n`` points in $[0, 1)^{dim}$, shape ``(n, dim)``, in ``dtype``.

    - ``"uniform"``: independent uniform draws.
    - ``"lhs"``: Latin hypercube, $u_{ij} = (\pi_j(i) + \xi_{ij}) / n$ with an independent
      random permutation $\pi_j$ per coordinate and $\xi \sim U[0, 1)$ (McKay, Beckman and
      Conover 1979): every one-dimensional projection has one point per stratum.
    - ``"sobol"``: the first ``n`` points of a fixed scrambled Sobol sequence (Sobol 1967;
      Owen scrambling, generated on the host once) shifted by a uniform random vector modulo
      one (Cranley and Patterson 1976), so each key gives another low-discrepancy set.
    """
    if dim == 0:
        return jnp.zeros((n, 0), dtype)
    if method == "uniform":
        return jax.random.uniform(key, (n, dim), dtype)
    if method == "lhs":
        perm_key, jitter_key = jax.random.split(key)
        ranks = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(perm_key, dim))
        jitter = jax.random.uniform(jitter_key, (n, dim), dtype)
        return (ranks.T.astype(dtype) + jitter) / n
    if method == "sobol":
        base = jnp.asarray(sobol_base(n, dim), dtype)
        shift = jax.random.uniform(key, (1, dim), dtype)
        points = base + shift
        return points - jnp.floor(points)
    raise ValueError(f"unknown method {method!r}")
