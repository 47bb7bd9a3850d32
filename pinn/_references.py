r"""Reference solutions for the PINN benchmark problems (our own solvers and closed forms).

- Burgers ($\nu = 0.01/\pi$, $u_0 = -\sin\pi x$ on $[-1, 1]$): the Cole-Hopf formula with
  Gauss-Hermite quadrature, ``dmech.cfd.burgers_cole_hopf``, on the usual grid by
  :func:`burgers_reference`.
- Allen-Cahn ($u_t - 10^{-4}u_{xx} + 5u^3 - 5u = 0$, $u_0 = x^2\cos\pi x$, periodic on
  $[-1, 1]$): Fourier pseudo-spectral in space, ETDRK4 in time, :func:`allen_cahn_reference`.
- Advection $u_t + c u_x = 0$ with periodic $u_0$: exactly $u_0(x - ct)$,
  :func:`advection_solution`.
- Poisson and Helmholtz with $u = \prod_i \sin(a_i \pi x_i)$: :func:`sine_solution`,
  :func:`poisson_source`, :func:`helmholtz_source`.
- The diffusion inverse problem $u_t = C u_{xx} - e^{-t}(\sin\pi x - \pi^2\sin\pi x)$, $C = 1$:
  $u = e^{-t}\sin\pi x$, :func:`diffusion_solution`, :func:`diffusion_source`.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from dmech._checks import check_int, check_positive_float
from dmech._custom_types import Array, ArrayLike, DTypeLike, Float
from dmech.cfd import burgers_cole_hopf
from dmech.cfd._burgers import _etdrk4_series

__all__ = [
    "advection_solution",
    "allen_cahn_reference",
    "burgers_reference",
    "diffusion_solution",
    "diffusion_source",
    "helmholtz_source",
    "poisson_source",
    "sine_solution",
    "space_time_points",
]


def _dtype(dtype: DTypeLike | None) -> np.dtype:
    resolved = np.dtype(jax.dtypes.canonicalize_dtype(float if dtype is None else dtype))
    if not jnp.issubdtype(resolved, jnp.floating):
        raise TypeError(f"`dtype` must be a real floating dtype; got {resolved}.")
    return resolved


def space_time_points(x: Float[ArrayLike, " nx"], t: Float[ArrayLike, " nt"]) -> Array:
    """The points ``(x_i, t_j)`` of a space-time grid, shape ``(nt * nx, 2)``, time-major
    (the order of ``u.reshape(-1)`` for ``u`` of shape ``(nt, nx)``)."""
    x = jnp.asarray(x)
    t = jnp.asarray(t, x.dtype)
    tt, xx = jnp.meshgrid(t, x, indexing="ij")
    return jnp.stack([xx.reshape(-1), tt.reshape(-1)], axis=1)


def burgers_reference(
    nu: float = 0.01 / math.pi,
    *,
    num_x: int = 256,
    num_t: int = 100,
    t_final: float = 0.99,
    dtype: DTypeLike | None = None,
) -> tuple[Array, Array, Array]:
    r"""The viscous Burgers benchmark on a grid, by the Cole-Hopf formula.

    $u_t + u u_x = \nu u_{xx}$ on $[-1, 1]$, $u(\pm1, t) = 0$, $u_0 = -\sin\pi x$, evaluated
    by ``dmech.cfd.burgers_cole_hopf`` (Gauss-Hermite quadrature, 256 nodes: float64
    round-off for $t/\nu \le 1000$). The default grid is Raissi et al.'s (256 points in $x$
    including both ends, 100 times in $[0, 0.99]$).

    Args:
        nu: the viscosity $\nu > 0$.
        num_x: points in $x$ (``linspace(-1, 1, num_x)``).
        num_t: times (``linspace(0, t_final, num_t)``).
        t_final: the last time.
        dtype: the dtype of the result (default: JAX's default float).

    Returns:
        ``(x, t, u)``: shapes ``(num_x,)``, ``(num_t,)`` and ``(num_t, num_x)``.

    References:
        Raissi, Perdikaris and Karniadakis (2019), J. Comput. Phys. 378, 686-707.
        Cole (1951), Quart. Appl. Math. 9, 225-236.
    """
    nu = check_positive_float(nu, "nu")
    num_x = check_int(num_x, "num_x")
    num_t = check_int(num_t, "num_t")
    t_final = check_positive_float(t_final, "t_final")
    dtype_ = _dtype(dtype)
    x = jnp.linspace(-1.0, 1.0, num_x, dtype=dtype_)
    t = jnp.linspace(0.0, t_final, num_t, dtype=dtype_)
    u = burgers_cole_hopf(x[None, :], t[:, None], jnp.asarray(nu, dtype_))
    return x, t, u


def allen_cahn_reference(
    *,
    num_x: int = 512,
    num_t: int = 201,
    t_final: float = 1.0,
    steps: int = 20_000,
    diffusion: float = 1e-4,
    reaction: float = 5.0,
    initial: Callable[[Array], Array] | None = None,
    dtype: DTypeLike | None = None,
) -> tuple[Array, Array, Array]:
    r"""The Allen-Cahn benchmark by Fourier pseudo-spectral collocation and ETDRK4.

    Solves $u_t = d\,u_{xx} + \rho(u - u^3)$ ($d$ = ``diffusion`` = $10^{-4}$,
    $\rho$ = ``reaction`` = 5) on the periodic interval $[-1, 1)$ from
    $u_0 = x^2\cos\pi x$. In Fourier space $\hat u_t = L\hat u + N(u)$ with the linear part
    $L_k = \rho - d k^2$ integrated exactly and $N = -\rho\,\mathcal F(u^3)$ by the
    fourth-order exponential Runge-Kutta scheme of Cox and Matthews (2002); the φ-function
    coefficients are ``dmech.cfd``'s (Taylor series near zero, closed forms elsewhere: no
    cancellation, as in Kassam and Trefethen 2005). The cubic term is not dealiased (its
    spectrum is resolved at 512 points; the reference of Raissi et al. used the same
    resolution with Chebfun). Fourth order in the time step (measured in the tests).

    Args:
        num_x: grid points on $[-1, 1)$ (``x = -1 + 2i/num_x``).
        num_t: output times, ``linspace(0, t_final, num_t)``.
        t_final: the final time.
        steps: ETDRK4 steps in total, a multiple of ``num_t - 1``.
        diffusion, reaction: $d > 0$, $\rho$.
        initial: $u_0$ as a function of the points (default $x^2\cos\pi x$).
        dtype: the dtype of the solve (float64 for a reference: enable x64).

    Returns:
        ``(x, t, u)``: shapes ``(num_x,)``, ``(num_t,)`` and ``(num_t, num_x)``.

    Raises:
        ValueError: naming the argument, e.g. ``steps`` not a multiple of ``num_t - 1``.

    References:
        Cox and Matthews (2002), "Exponential time differencing for stiff systems",
        J. Comput. Phys. 176, 430-455. Kassam and Trefethen (2005), "Fourth-order
        time-stepping for stiff PDEs", SIAM J. Sci. Comput. 26, 1214-1233. Raissi,
        Perdikaris and Karniadakis (2019), J. Comput. Phys. 378, 686-707.
    """
    num_x = check_int(num_x, "num_x")
    num_t = check_int(num_t, "num_t")
    steps = check_int(steps, "steps")
    t_final = check_positive_float(t_final, "t_final")
    diffusion = check_positive_float(diffusion, "diffusion")
    if isinstance(reaction, bool) or not isinstance(reaction, numbers.Real):
        raise ValueError(f"`reaction` must be a number; got {reaction!r}.")
    if num_t > 1 and steps % (num_t - 1):
        raise ValueError(f"`steps` must be a multiple of num_t - 1 = {num_t - 1}; got {steps}.")
    if num_x < 4:
        raise ValueError(f"`num_x` must be at least 4; got {num_x}.")
    if initial is not None and not callable(initial):
        raise TypeError(f"`initial` must be callable; got {type(initial).__name__}.")
    dtype_ = _dtype(dtype)
    x = jnp.asarray(-1.0 + 2.0 * np.arange(num_x) / num_x, dtype_)
    u0 = x**2 * jnp.cos(math.pi * x) if initial is None else jnp.asarray(initial(x), dtype_)
    per_output = steps // max(num_t - 1, 1)
    u = _allen_cahn_solve(
        u0,
        jnp.asarray(t_final / steps, dtype_),
        jnp.asarray(diffusion, dtype_),
        jnp.asarray(reaction, dtype_),
        jnp.asarray(per_output, jnp.int32),
        num_t=num_t,
    )
    t = jnp.linspace(0.0, t_final, num_t, dtype=dtype_)
    return x, t, u


@functools.partial(jax.jit, static_argnames=("num_t",))
def _allen_cahn_solve(
    u0: Array, h: Array, diffusion: Array, reaction: Array, per_output: Array, *, num_t: int
) -> Array:
    """ETDRK4 for Allen-Cahn from ``u0`` (shape ``(n,)``), ``per_output`` steps of length
    ``h`` between the ``num_t`` outputs (a dynamic count: one compilation per shape)."""
    num_x = u0.shape[0]
    dtype = u0.dtype
    cdtype = jnp.complex128 if dtype == jnp.float64 else jnp.complex64
    k = jnp.asarray(np.pi * np.fft.rfftfreq(num_x, 1.0 / num_x), dtype)  # 2π m / L, L = 2
    linear = reaction - diffusion * k * k
    # the coefficients for a unit step scaled by h (Q, f1, f2, f3 are h times φ-combinations)
    e, e2, *unit = _etdrk4_series(h * linear, 1.0)
    e, e2 = e.astype(cdtype), e2.astype(cdtype)
    q, f1, f2, f3 = ((h * c).astype(cdtype) for c in unit)
    rho = reaction.astype(cdtype)

    def nonlinear(v_hat: Array) -> Array:
        u = jnp.fft.irfft(v_hat, n=num_x).astype(dtype)
        return -rho * jnp.fft.rfft(u * u * u).astype(cdtype)

    def step(_: Array, v: Array) -> Array:
        nv = nonlinear(v)
        a = e2 * v + q * nv
        na = nonlinear(a)
        b = e2 * v + q * na
        nb = nonlinear(b)
        c = e2 * a + q * (2 * nb - nv)
        nc = nonlinear(c)
        return e * v + f1 * nv + 2 * f2 * (na + nb) + f3 * nc

    def output(v: Array, _: None) -> tuple[Array, Array]:
        v = jax.lax.fori_loop(0, per_output, step, v)
        return v, v

    v0 = jnp.fft.rfft(u0).astype(cdtype)
    _, vs = jax.lax.scan(output, v0, None, length=num_t - 1)
    v_all = jnp.concatenate([v0[None], vs])
    return jnp.fft.irfft(v_all, n=num_x, axis=-1).astype(dtype)


def advection_solution(
    x: Float[ArrayLike, "..."],
    t: Float[ArrayLike, "..."],
    speed: float,
    initial: Callable[[Array], Array] = jnp.sin,
) -> Array:
    r"""The exact solution $u(x, t) = u_0(x - ct)$ of $u_t + c u_x = 0$ (periodic $u_0$).

    Args:
        x, t: positions and times, broadcastable.
        speed: $c$.
        initial: $u_0$ (default $\sin$, the $2\pi$-periodic benchmark of Krishnapriyan et al.
            2021 with $c = 50$).

    Returns:
        $u$ with the broadcast shape.
    """
    x = jnp.asarray(x)
    t = jnp.asarray(t, x.dtype)
    return initial(x - jnp.asarray(speed, x.dtype) * t)


def _wavenumbers(wavenumbers: object, dim: int) -> tuple[float, ...]:
    if isinstance(wavenumbers, numbers.Real) and not isinstance(wavenumbers, bool):
        wavenumbers = (wavenumbers,)
    if not isinstance(wavenumbers, Sequence) or len(wavenumbers) != dim:
        raise ValueError(
            f"`wavenumbers` must give one number per coordinate ({dim}); got {wavenumbers!r}."
        )
    return tuple(float(a) for a in wavenumbers)


def sine_solution(x: Float[ArrayLike, " d"], wavenumbers: float | Sequence[float]) -> Array:
    r"""$u(x) = \prod_i \sin(a_i \pi x_i)$ at one point ``x`` of shape ``(d,)``: zero on the
    boundary of $[-1, 1]^d$ (and of $[0, 1]^d$) for integer $a_i$.

    With $a = (1, 4)$ it is the Helmholtz benchmark of Wang, Teng and Perdikaris (2021).
    """
    x = jnp.asarray(x)
    a = jnp.asarray(_wavenumbers(wavenumbers, x.shape[0]), x.dtype)
    return jnp.prod(jnp.sin(math.pi * a * x))


def poisson_source(x: Float[ArrayLike, " d"], wavenumbers: float | Sequence[float]) -> Array:
    r"""$f = -\Delta u = \pi^2 \lVert a\rVert^2 u$ for $u$ = :func:`sine_solution`."""
    x = jnp.asarray(x)
    a = jnp.asarray(_wavenumbers(wavenumbers, x.shape[0]), x.dtype)
    return math.pi**2 * jnp.sum(a * a) * sine_solution(x, wavenumbers)


def helmholtz_source(
    x: Float[ArrayLike, " d"], wavenumbers: float | Sequence[float], k: float
) -> Array:
    r"""$q = \Delta u + k^2 u = (k^2 - \pi^2 \lVert a\rVert^2)\,u$ for $u$ =
    :func:`sine_solution` (the right-hand side of $\Delta u + k^2 u = q$)."""
    x = jnp.asarray(x)
    a = jnp.asarray(_wavenumbers(wavenumbers, x.shape[0]), x.dtype)
    factor = jnp.asarray(k, x.dtype) ** 2 - math.pi**2 * jnp.sum(a * a)
    return factor * sine_solution(x, wavenumbers)


def diffusion_solution(x: Float[ArrayLike, " 2"]) -> Array:
    r"""$u = e^{-t}\sin\pi x$ at one point ``(x, t)``."""
    x = jnp.asarray(x)
    return jnp.exp(-x[1]) * jnp.sin(math.pi * x[0])


def diffusion_source(x: Float[ArrayLike, " 2"]) -> Array:
    r"""$f = -e^{-t}(\sin\pi x - \pi^2\sin\pi x)$ at one point ``(x, t)``: the source of
    $u_t = C u_{xx} + f$ whose solution for $C = 1$ is :func:`diffusion_solution`
    (the inverse problem of DeepXDE's documentation)."""
    x = jnp.asarray(x)
    s = jnp.sin(math.pi * x[0])
    return -jnp.exp(-x[1]) * (s - math.pi**2 * s)
