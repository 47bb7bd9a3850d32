r"""Canonical small systems with known Koopman spectra, and their trajectories.

Each system is an equinox Module ``f(x) -> dx/dt`` (parameters are leaves). Where the Koopman
spectrum is known in closed form, ``koopman_eigenvalues`` returns it (continuous time), so
EDMD can be checked against it:

- a linear system ``ẋ = A x``: the eigenvalues of the monomials of degree ``p`` are all sums
  of ``p`` eigenvalues of ``A``;
- the slow-manifold system ``ẋ₁ = μ x₁``, ``ẋ₂ = λ (x₂ − x₁²)``: ``(x₁, x₂, x₁²)`` spans an
  invariant subspace with eigenvalues ``μ, λ, 2μ``; in general ``iμ + jλ``;
- the pendulum, Duffing oscillator and Van der Pol oscillator: continuous spectra or limit
  cycles, no closed form (the test cases for EDMD and the deep Koopman autoencoder).

:func:`trajectories` integrates any of them (or any ``f``) with diffrax's adaptive Tsit5.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Complex, Float

from dmech._checks import check_int, check_positive_scalar

__all__ = [
    "Duffing",
    "LinearSystem",
    "Pendulum",
    "SlowManifold",
    "VanDerPol",
    "trajectories",
]


class LinearSystem(eqx.Module):
    r"""``ẋ = A x``.

    Args:
        matrix: ``A``, shape ``(n, n)``, real.
    """

    matrix: Float[Array, "n n"]

    def __init__(self, matrix: Float[ArrayLike, "..."]):
        matrix = jnp.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 1:
            raise ValueError(f"`matrix` must be square; got shape {matrix.shape}.")
        self.matrix = matrix

    def __call__(self, x: Float[Array, " n"]) -> Float[Array, " n"]:
        return self.matrix.astype(x.dtype) @ x

    def koopman_eigenvalues(self, degree: int) -> Complex[Array, " k"]:
        """The Koopman eigenvalues of the monomials of degree ``1..degree``: all sums of
        ``p ≤ degree`` eigenvalues of ``A`` (with repetition), sorted by real part."""
        check_int(degree, "degree")
        base = np.linalg.eigvals(np.asarray(self.matrix, np.float64))
        sums = [
            sum(combo)
            for p in range(1, degree + 1)
            for combo in itertools.combinations_with_replacement(base, p)
        ]
        return jnp.asarray(sorted(sums, key=lambda z: (z.real, z.imag)))


class SlowManifold(eqx.Module):
    r"""``ẋ₁ = μ x₁``, ``ẋ₂ = λ (x₂ − x₁²)`` (Brunton, Brunton, Proctor and Kutz 2016).

    For ``λ < μ < 0`` trajectories fall fast onto the slow manifold ``x₂ = λ x₁²/(λ − 2μ)``.
    ``(y₁, y₂, y₃) = (x₁, x₂, x₁²)`` obeys the linear system
    ``ẏ = [[μ, 0, 0], [0, λ, −λ], [0, 0, 2μ]] y``: a finite invariant subspace of the Koopman
    operator with eigenvalues ``μ, λ, 2μ``.

    Args:
        mu: ``μ`` (default −0.05).
        lam: ``λ`` (default −1).
    """

    mu: Float[Array, ""]
    lam: Float[Array, ""]

    def __init__(self, mu: Any = -0.05, lam: Any = -1.0):
        self.mu = jnp.asarray(mu)
        self.lam = jnp.asarray(lam)

    def __call__(self, x: Float[Array, " 2"]) -> Float[Array, " 2"]:
        mu, lam = self.mu.astype(x.dtype), self.lam.astype(x.dtype)
        return jnp.stack([mu * x[0], lam * (x[1] - x[0] ** 2)])

    def koopman_eigenvalues(self, degree: int = 2) -> Float[Array, " k"]:
        """``iμ + jλ`` for ``1 ≤ i + j ≤ degree`` (``i, j ≥ 0``), sorted decreasing."""
        check_int(degree, "degree")
        mu, lam = float(self.mu), float(self.lam)
        values = {
            i * mu + j * lam
            for i in range(degree + 1)
            for j in range(degree + 1)
            if 1 <= i + j <= degree
        }
        return jnp.asarray(sorted(values, reverse=True))


class Pendulum(eqx.Module):
    r"""The undamped pendulum ``ẋ₁ = x₂``, ``ẋ₂ = −sin x₁`` (Lusch, Kutz and Brunton 2018).

    Its frequency falls with amplitude (a continuous Koopman spectrum): the test case for the
    deep Koopman autoencoder's auxiliary network. ``energy(x) = x₂²/2 − cos x₁`` is conserved.

    Args:
        damping: ``c ≥ 0`` in ``ẋ₂ = −sin x₁ − c x₂`` (default 0).
    """

    damping: Float[Array, ""]

    def __init__(self, damping: Any = 0.0):
        self.damping = jnp.asarray(damping)

    def __call__(self, x: Float[Array, " 2"]) -> Float[Array, " 2"]:
        return jnp.stack([x[1], -jnp.sin(x[0]) - self.damping.astype(x.dtype) * x[1]])

    @staticmethod
    def energy(x: Float[Array, "2 ..."]) -> Float[Array, "..."]:
        """``x₂²/2 − cos x₁`` (states along the first axis)."""
        return 0.5 * x[1] ** 2 - jnp.cos(x[0])


class Duffing(eqx.Module):
    r"""The Duffing oscillator ``ẋ₁ = x₂``, ``ẋ₂ = −δ x₂ − x₁ (β + α x₁²)``.

    The defaults ``δ = 0.5``, ``β = −1``, ``α = 1`` are Williams, Kevrekidis and Rowley's
    (2015) unforced double well: two stable foci at ``x₁ = ±1`` whose basins EDMD's leading
    eigenfunctions separate.

    Args:
        delta: damping ``δ``.
        beta: linear stiffness ``β``.
        alpha: cubic stiffness ``α``.
    """

    delta: Float[Array, ""]
    beta: Float[Array, ""]
    alpha: Float[Array, ""]

    def __init__(self, delta: Any = 0.5, beta: Any = -1.0, alpha: Any = 1.0):
        self.delta, self.beta, self.alpha = map(jnp.asarray, (delta, beta, alpha))

    def __call__(self, x: Float[Array, " 2"]) -> Float[Array, " 2"]:
        delta, beta, alpha = (p.astype(x.dtype) for p in (self.delta, self.beta, self.alpha))
        return jnp.stack([x[1], -delta * x[1] - x[0] * (beta + alpha * x[0] ** 2)])


class VanDerPol(eqx.Module):
    r"""The Van der Pol oscillator ``ẋ₁ = x₂``, ``ẋ₂ = μ (1 − x₁²) x₂ − x₁``: a limit cycle
    whose Koopman eigenvalues on the cycle are ``i k ω₀`` (``ω₀`` its angular frequency).

    Args:
        mu: ``μ > 0`` (default 1).
    """

    mu: Float[Array, ""]

    def __init__(self, mu: Any = 1.0):
        self.mu = jnp.asarray(mu)

    def __call__(self, x: Float[Array, " 2"]) -> Float[Array, " 2"]:
        mu = self.mu.astype(x.dtype)
        return jnp.stack([x[1], mu * (1 - x[0] ** 2) * x[1] - x[0]])


def trajectories(
    system: Callable[[jax.Array], jax.Array],
    x0: Float[ArrayLike, "..."],
    dt: Any,
    steps: int,
    *,
    rtol: float | None = None,
    atol: float | None = None,
) -> Float[Array, "batch n_state time"]:
    r"""Integrate ``ẋ = f(x)`` from each initial state and sample every ``dt``.

    Adaptive Tsit5 (diffrax) with a PID step-size controller; the samples come from the
    solver's dense output, so ``dt`` does not constrain the internal step. Differentiable with
    respect to ``x0`` and the system's parameters.

    Args:
        system: ``f``, a state ``(n_state,)`` to its derivative (one of this module's systems
            or any function).
        x0: initial states, shape ``(n_state,)`` or ``(batch, n_state)``.
        dt: the sampling interval.
        steps: the number of intervals; ``steps + 1`` samples including ``x0``.
        rtol: relative tolerance (default 1e-10 in float64, 1e-6 in float32).
        atol: absolute tolerance (default ``rtol``).

    Returns:
        Shape ``(batch, n_state, steps + 1)`` (``batch = 1`` for a single ``x0``): snapshots
        as columns, ready for :func:`~koopman.edmd` and the DMD family.

    Raises:
        ValueError: for a non-positive ``dt`` or ``steps``, or ``x0`` not of rank 1 or 2.
        RuntimeError: if the solver fails (a blow-up or too many steps).
    """
    check_positive_scalar(dt, "dt")
    steps = check_int(steps, "steps")
    x0 = jnp.asarray(x0)
    if x0.ndim == 1:
        x0 = x0[None]
    if x0.ndim != 2 or x0.shape[1] < 1:
        raise ValueError(f"`x0` must have shape (n_state,) or (batch, n_state); got {x0.shape}.")
    if not jnp.issubdtype(x0.dtype, jnp.floating):
        x0 = x0.astype(jnp.result_type(float))
    dtype = x0.dtype
    if rtol is None:
        rtol = 1e-10 if dtype == jnp.float64 else 1e-6
    atol = rtol if atol is None else atol
    times = jnp.asarray(dt, dtype) * jnp.arange(steps + 1, dtype=dtype)
    return _integrate(system, x0, times, float(rtol), float(atol))


@eqx.filter_jit
def _integrate(
    system: Callable[[jax.Array], jax.Array],
    x0: jax.Array,
    times: jax.Array,
    rtol: float,
    atol: float,
) -> jax.Array:
    """Compiled once per system type, shapes and tolerances (the system's parameters are
    traced leaves), not once per call."""
    term = diffrax.ODETerm(lambda t, x, args: args(x))
    controller = diffrax.PIDController(rtol=rtol, atol=atol)

    def solve(start: jax.Array) -> jax.Array:
        solution = diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            t0=times[0],
            t1=times[-1],
            dt0=(times[1] - times[0]) / 4,
            y0=start,
            args=system,
            saveat=diffrax.SaveAt(ts=times),
            stepsize_controller=controller,
            max_steps=100_000,
        )
        assert solution.ys is not None
        return solution.ys.T

    return jax.vmap(solve)(x0)
