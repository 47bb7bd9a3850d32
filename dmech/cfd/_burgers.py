r"""One-dimensional viscous Burgers solvers: pseudo-spectral ETDRK4 (periodic) and finite
volumes (periodic or Dirichlet).

Both solve

$$\partial_t u + \partial_x\!\left(\tfrac12 u^2\right) = ν\,\partial_{xx} u$$

on a one-dimensional :class:`~dmech.geometry.Grid`, follow the ``init``/``step`` protocol of
:mod:`dmech.cfd` and keep the viscosity (and Dirichlet values) as array leaves.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_positive_float
from .._custom_types import Array, ArrayLike, Float, ScalarLike
from .._static import is_concrete
from ..geometry import Grid
from ._checks import scalar_leaf
from ._rollout import check_time_step

__all__ = ["BurgersState", "FiniteVolumeBurgers", "SpectralBurgers"]


class BurgersState(eqx.Module):
    """The state of a Burgers solver.

    Attributes:
        u: the velocity, shape ``(..., n)`` (leading batch axes allowed): point values at
            :meth:`Grid.periodic_points <dmech.geometry.Grid.periodic_points>` for
            :class:`SpectralBurgers`, cell averages for :class:`FiniteVolumeBurgers`.
        t: the time, a scalar of the dtype of ``u``.
    """

    u: Float[Array, "... n"]
    t: Float[Array, ""]


# --- shared argument checks ---------------------------------------------------------------------


def _check_grid(grid: Any, minimum: int, who: str) -> Grid:
    if not isinstance(grid, Grid):
        raise TypeError(f"{who}: grid must be a dmech.geometry.Grid, got {type(grid).__name__}")
    if grid.ndim != 1:
        raise ValueError(f"{who}: grid must be one-dimensional, got shape {grid.shape}")
    if grid.shape[0] < minimum:
        raise ValueError(f"{who}: grid needs at least {minimum} cells, got {grid.shape[0]}")
    return grid


def _check_dt(dt: Any) -> float:
    if isinstance(dt, jax.core.Tracer) or np.ndim(dt) != 0:
        raise ValueError(
            "dt must be a concrete Python float (it is static: a new dt compiles anew), "
            f"got {type(dt).__name__}"
        )
    dt = float(np.asarray(dt))
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be positive and finite, got {dt}")
    return dt


def _as_field(u0: Any, n: int, who: str) -> Array:
    u0 = jnp.asarray(u0)
    if u0.ndim < 1 or u0.shape[-1] != n:
        raise ValueError(f"{who}: u0 must have shape (..., {n}), got {u0.shape}")
    if not jnp.issubdtype(u0.dtype, jnp.floating):
        raise ValueError(f"{who}: u0 must be a floating array, got dtype {u0.dtype}")
    return u0


def _complex_dtype(dtype: Any) -> Any:
    """The complex dtype whose real part is ``dtype`` (float64 -> complex128, else complex64)."""
    return jnp.complex128 if jnp.dtype(dtype) == jnp.float64 else jnp.complex64


def _expand(constant: Array, ndim: int) -> Array:
    """Reshape a per-mode or per-cell constant of shape ``(m,)`` to broadcast against a field
    with ``ndim`` axes (leading batch axes), without implicit rank promotion."""
    return constant.reshape((1,) * (ndim - 1) + constant.shape)


# --- φ-functions for ETDRK4 ------------------------------------------------------------------

_SERIES_DEGREE = 24  # |z| ≤ 2: the first neglected term of φ₃ is below 2²⁵/28! ≈ 1e-22
_SERIES_RADIUS = 2.0


def _etdrk4_series(z: Array, h: float) -> tuple[Array, ...]:
    r"""``E = e^z, E₂ = e^{z/2}, Q, f₁, f₂, f₃`` of Cox and Matthews' ETDRK4 for real
    ``z = hL``, accurate to a few ulps everywhere.

    With ``φ_k(z) = Σ_j z^j / (j + k)!``: ``Q = h φ₁(z/2)/2``, ``f₁ = h(φ₁ - 3φ₂ + 4φ₃)``,
    ``f₂ = h(φ₂ - 2φ₃)``, ``f₃ = h(4φ₃ - φ₂)``. For ``|z| ≤ 2`` the Taylor series of ``φ₃``
    (degree 24, Horner) and the recurrence ``φ_k = 1/k! + z φ_{k+1}``, which do not cancel
    there; for ``|z| > 2`` Kassam and Trefethen's closed forms, e.g.
    ``f₁ = h(-4 - z + e^z(4 - 3z + z²))/z³``, which lose at most about four bits at
    ``|z| = 2`` and nothing as ``|z|`` grows (where the φ-combinations would cancel to
    ``O(1/z²)``). Both branches see only safe arguments, so derivatives are finite everywhere
    (``z = 0`` included).
    """
    small = jnp.abs(z) <= _SERIES_RADIUS
    zs = jnp.where(small, z, 0)
    phi3 = jnp.full_like(z, 1 / math.factorial(_SERIES_DEGREE + 3))
    for j in range(_SERIES_DEGREE - 1, -1, -1):
        phi3 = phi3 * zs + 1 / math.factorial(j + 3)
    phi2 = 0.5 + zs * phi3
    phi1 = 1 + zs * phi2
    zl = jnp.where(small, _SERIES_RADIUS + 1, z)
    ez = jnp.exp(zl)
    cube = zl**3
    large = (
        jnp.expm1(zl / 2) / zl,
        (-4 - zl + ez * (4 - 3 * zl + zl * zl)) / cube,
        (2 + zl + ez * (zl - 2)) / cube,
        (-4 - 3 * zl - zl * zl + ez * (4 - zl)) / cube,
    )
    # Q from φ₁(z/2): its series (|z/2| ≤ 1) by the same Horner scheme
    half = zs / 2
    phi1_half = jnp.full_like(z, 1 / math.factorial(_SERIES_DEGREE + 1))
    for j in range(_SERIES_DEGREE - 1, -1, -1):
        phi1_half = phi1_half * half + 1 / math.factorial(j + 1)
    series = (
        0.5 * phi1_half,
        phi1 - 3 * phi2 + 4 * phi3,
        phi2 - 2 * phi3,
        4 * phi3 - phi2,
    )
    q, f1, f2, f3 = (h * jnp.where(small, s, b) for s, b in zip(series, large, strict=True))
    return jnp.exp(z), jnp.exp(z / 2), q, f1, f2, f3


def _etdrk4_contour(z: Array, h: float, points: int = 32) -> tuple[Array, ...]:
    r"""The same coefficients by Kassam and Trefethen's contour integral: the mean of each
    φ-combination over ``points`` points of the upper half of the unit circle centred at
    ``z`` (real ``z``: the lower half contributes the complex conjugate)."""
    dtype = z.dtype
    cdtype = _complex_dtype(dtype)
    roots = np.exp(1j * np.pi * (np.arange(1, points + 1) - 0.5) / points)
    lr = z.astype(cdtype)[..., None] + jnp.asarray(roots, cdtype).reshape((1,) * z.ndim + (-1,))
    e = jnp.exp(lr)

    def mean(values):
        return jnp.real(jnp.mean(values, axis=-1)).astype(dtype)

    q = h * mean(jnp.expm1(lr / 2) / lr)
    f1 = h * mean((-4 - lr + e * (4 - 3 * lr + lr**2)) / lr**3)
    f2 = h * mean((2 + lr + e * (lr - 2)) / lr**3)
    f3 = h * mean((-4 - 3 * lr - lr**2 + e * (4 - lr)) / lr**3)
    return jnp.exp(z), jnp.exp(z / 2), q, f1, f2, f3


# --- pseudo-spectral ETDRK4 -------------------------------------------------------------------


class SpectralBurgers(eqx.Module):
    r"""Periodic viscous Burgers by Fourier pseudo-spectral collocation and ETDRK4.

    In Fourier space, with ``û_m`` the ``rfft`` of the values at the grid's
    :meth:`~dmech.geometry.Grid.periodic_points` and ``k_m = 2π m / L``,

    $$\frac{d\hat u_m}{dt} = L_m \hat u_m + N_m(\hat u),\qquad L_m = -ν k_m^2,\qquad
    N_m(\hat u) = -\tfrac{i k_m}{2}\,\mathcal P\,\mathcal F\!\left[(\mathcal F^{-1}\hat u)^2
    \right]_m,$$

    where ``𝒫`` is Orszag's 2/3 rule (modes with ``3|m| ≥ n`` set to zero, the Nyquist mode
    always), so the quadratic term is alias-free. The stiff linear part is integrated
    exactly by exponential time differencing, fourth order (ETDRK4, Cox and Matthews 2002):

    $$\begin{aligned}
    a &= E_2 \hat u + Q\,N(\hat u), \quad b = E_2 \hat u + Q\,N(a), \quad
    c = E_2 a + Q\,(2N(b) - N(\hat u)),\\
    \hat u^{+} &= E \hat u + f_1 N(\hat u) + 2 f_2 (N(a) + N(b)) + f_3 N(c),
    \end{aligned}$$

    with ``E = e^{hL}``, ``E₂ = e^{hL/2}``, ``Q = h φ₁(hL/2)/2``,
    ``f₁ = h(φ₁ - 3φ₂ + 4φ₃)``, ``f₂ = h(φ₂ - 2φ₃)``, ``f₃ = h(4φ₃ - φ₂)`` at ``z = hL``
    (``φ_k(z) = Σ_j z^j/(j+k)!``). The φ-functions suffer cancellation near ``z = 0`` in
    their closed forms; ``phi="series"`` (default) evaluates them by Taylor series for
    ``|z| ≤ 2`` and by the closed forms of the combinations elsewhere (a few ulps everywhere,
    real arithmetic),
    ``phi="contour"`` by the contour integral of Kassam and Trefethen (2005) over 32 points
    of the upper half circle of radius one (more work, in complex arithmetic). They are
    computed from ``ν`` inside every step, so ``jax.grad`` reaches ``ν`` and a new ``ν``
    never recompiles.

    The time step is bounded by advection only (diffusion is exact): a step is reported
    unstable when the advective CFL number ``max|u| dt / dx`` of the state it starts from
    exceeds ``max_cfl``. The default is the inviscid bound: ETDRK4 is RK4 on undamped modes,
    stable for ``|λ dt| ≤ 2√2`` on the imaginary axis, and the advective eigenvalues reach
    ``max|u| k_max`` with ``k_max dx = 2π/3`` (dealiased) or ``π``, so
    ``max_cfl = 2√2 / (k_max dx)``: 1.35 (or 0.90). Viscosity damps the largest
    wavenumbers and extends the region (``ν = 0.1`` on 8192 points ran stably at CFL 8).
    By the maximum principle ``max|u|`` never grows, so giving ``max_speed ≥ max|u₀|``
    checks the whole run at construction.

    Args:
        grid: a one-dimensional periodic grid of ``n ≥ 4`` points (period ``grid.length``).
        nu: the kinematic viscosity ``ν > 0`` (length² / time), a scalar; an array leaf.
        dt: the time step (time), a static float.
        dealias: apply the 2/3 rule (default); without it only the Nyquist mode is dropped.
        max_cfl: the largest advective CFL number ``max|u| dt/dx`` a step accepts; default
            the inviscid bound above.
        max_speed: a bound on ``|u|``; when given, ``dt`` is checked against
            ``max_cfl dx / max_speed`` now (a ValueError before anything compiles).
        phi: ``"series"`` or ``"contour"``, how the φ-functions are evaluated.

    Example:
        >>> grid = Grid((128,), ((-1.0, 1.0),))
        >>> solver = SpectralBurgers(grid, nu=0.1, dt=1e-3)
        >>> (x,) = grid.periodic_points()
        >>> result = rollout(solver.step, solver.init(-jnp.sin(jnp.pi * x)), 1000)

    References:
        Cox and Matthews (2002), "Exponential time differencing for stiff systems", J.
        Comput. Phys. 176, 430-455. Kassam and Trefethen (2005), "Fourth-order time-stepping
        for stiff PDEs", SIAM J. Sci. Comput. 26, 1214-1233. Orszag (1971), "On the
        elimination of aliasing in finite-difference schemes by filtering high-wavenumber
        components", J. Atmos. Sci. 28, 1074.
    """

    grid: Grid = eqx.field(static=True)
    nu: Float[Array, ""]
    dt: float = eqx.field(static=True)
    dealias: bool = eqx.field(static=True)
    max_cfl: float = eqx.field(static=True)
    phi: str = eqx.field(static=True)

    def __init__(
        self,
        grid: Grid,
        nu: ScalarLike,
        dt: float,
        *,
        dealias: bool = True,
        max_cfl: float | None = None,
        max_speed: float | None = None,
        phi: str = "series",
    ):
        self.grid = _check_grid(grid, 4, "SpectralBurgers")
        self.nu = scalar_leaf(nu, "nu", positive=True)
        self.dt = _check_dt(dt)
        self.dealias = bool(dealias)
        cfl = None if max_cfl is None else check_positive_float(max_cfl, "max_cfl")
        if cfl is None:
            cfl = 2 * math.sqrt(2) / (2 * math.pi / 3 if self.dealias else math.pi)
        self.max_cfl = cfl
        if phi not in ("series", "contour"):
            raise ValueError(f"phi must be 'series' or 'contour', got {phi!r}")
        self.phi = phi
        speed = None if max_speed is None else check_positive_float(max_speed, "max_speed")
        if speed is not None:
            check_time_step(self.dt, cfl * grid.spacing[0] / speed, "advective CFL")

    def _mask(self) -> np.ndarray:
        n = self.grid.shape[0]
        m = np.arange(n // 2 + 1)
        keep = 3 * m < n if self.dealias else np.ones(m.size, bool)
        if n % 2 == 0:
            keep[-1] = False  # the Nyquist mode: its derivative is not real
        return keep

    def init(self, u0: Float[ArrayLike, "... n"]) -> BurgersState:
        """The state at ``t = 0``: ``u0`` projected onto the retained Fourier modes.

        Args:
            u0: the velocity at the grid's periodic points, shape ``(..., n)`` (leading
                batch axes allowed); its dtype is the dtype of the solve.

        Returns:
            A :class:`BurgersState` with ``t = 0``.
        """
        n = self.grid.shape[0]
        u0 = _as_field(u0, n, "SpectralBurgers.init")
        mask = _expand(jnp.asarray(self._mask()), u0.ndim)
        u_hat = jnp.fft.rfft(u0, axis=-1)
        u = jnp.fft.irfft(jnp.where(mask, u_hat, 0), n=n, axis=-1).astype(u0.dtype)
        return BurgersState(u=u, t=jnp.zeros((), u0.dtype))

    def coefficients(self, dtype: Any) -> tuple[Array, ...]:
        """The ETDRK4 coefficients ``(E, E₂, Q, f₁, f₂, f₃)`` per retained mode, shape
        ``(n // 2 + 1,)`` each, in ``dtype`` (real), computed from ``ν``."""
        k = self.grid.wavenumbers_numpy()[0]
        z = -(self.nu.astype(dtype) * self.dt) * jnp.asarray(k**2, dtype)
        if self.phi == "series":
            return _etdrk4_series(z, self.dt)
        return _etdrk4_contour(z, self.dt)

    def step(self, state: BurgersState) -> tuple[BurgersState, dict[str, Array]]:
        """Advance one ETDRK4 step of length ``dt``.

        Args:
            state: the current :class:`BurgersState`.

        Returns:
            ``(state, aux)``: the state at ``t + dt``; ``aux["cfl"]``, the advective CFL
            number ``max|u| dt / dx`` of the state the step started from (shape of the batch
            axes), and ``aux["stable"]``, whether it is at most ``max_cfl``.
        """
        u = state.u
        n = self.grid.shape[0]
        dtype = u.dtype
        cdtype = _complex_dtype(dtype)
        e, e2, q, f1, f2, f3 = (_expand(c.astype(cdtype), u.ndim) for c in self.coefficients(dtype))
        k = self.grid.wavenumbers_numpy()[0]
        derivative = _expand(jnp.asarray(np.where(self._mask(), -0.5j * k, 0), cdtype), u.ndim)

        def nonlinear(values):
            return derivative * jnp.fft.rfft(values * values, axis=-1)

        def physical(v_hat):
            return jnp.fft.irfft(v_hat, n=n, axis=-1).astype(dtype)

        v = jnp.fft.rfft(u, axis=-1)
        nv = nonlinear(u)
        a = e2 * v + q * nv
        na = nonlinear(physical(a))
        b = e2 * v + q * na
        nb = nonlinear(physical(b))
        c = e2 * a + q * (2 * nb - nv)
        nc = nonlinear(physical(c))
        v = e * v + f1 * nv + 2 * f2 * (na + nb) + f3 * nc
        new = BurgersState(u=physical(v), t=state.t + jnp.asarray(self.dt, dtype))
        cfl = jnp.max(jnp.abs(u), axis=-1) * (self.dt / self.grid.spacing[0])
        return new, {"cfl": cfl, "stable": cfl <= self.max_cfl}


# --- finite volumes ---------------------------------------------------------------------------

_GHOSTS = {"muscl": 2, "weno5": 3}
_WENO_EPS = 1e-6


def _minmod(a: Array, b: Array) -> Array:
    return 0.5 * (jnp.sign(a) + jnp.sign(b)) * jnp.minimum(jnp.abs(a), jnp.abs(b))


def _muscl(padded: Array, limiter: str, ghosts: int, n: int) -> tuple[Array, Array]:
    """Left and right states at the ``n + 1`` faces from limited linear reconstruction."""
    du = jnp.diff(padded, axis=-1)  # du[j] = u[j+1] - u[j] on the padded cells
    back, fwd = du[..., :-1], du[..., 1:]  # per padded cell 1 .. len-2
    if limiter == "minmod":
        slope = _minmod(back, fwd)
    else:  # monotonised central (van Leer 1977)
        slope = _minmod(_minmod(2 * back, 2 * fwd), 0.5 * (back + fwd))
    interior = padded[..., 1:-1]
    left_values = interior + 0.5 * slope  # at the right face of each cell
    right_values = interior - 0.5 * slope  # at its left face
    # face f (0..n) lies between padded cells ghosts-1+f and ghosts+f
    first = ghosts - 2
    return left_values[..., first : first + n + 1], right_values[..., first + 1 : first + n + 2]


def _weno5_side(um2: Array, um1: Array, u0: Array, up1: Array, up2: Array) -> Array:
    """WENO5-JS value at the right face of the cell ``u0`` from five cell averages."""
    p0 = (2 * um2 - 7 * um1 + 11 * u0) / 6
    p1 = (-um1 + 5 * u0 + 2 * up1) / 6
    p2 = (2 * u0 + 5 * up1 - up2) / 6
    b0 = 13 / 12 * (um2 - 2 * um1 + u0) ** 2 + 0.25 * (um2 - 4 * um1 + 3 * u0) ** 2
    b1 = 13 / 12 * (um1 - 2 * u0 + up1) ** 2 + 0.25 * (um1 - up1) ** 2
    b2 = 13 / 12 * (u0 - 2 * up1 + up2) ** 2 + 0.25 * (3 * u0 - 4 * up1 + up2) ** 2
    a0 = 0.1 / (_WENO_EPS + b0) ** 2
    a1 = 0.6 / (_WENO_EPS + b1) ** 2
    a2 = 0.3 / (_WENO_EPS + b2) ** 2
    return (a0 * p0 + a1 * p1 + a2 * p2) / (a0 + a1 + a2)


def _weno5(padded: Array, ghosts: int, n: int) -> tuple[Array, Array]:
    """Left and right states at the ``n + 1`` faces by fifth-order WENO (Jiang and Shu)."""

    def cells(offset):  # padded cells ghosts-1+f+offset for faces f = 0..n
        start = ghosts - 1 + offset
        return padded[..., start : start + n + 1]

    left = _weno5_side(cells(-2), cells(-1), cells(0), cells(1), cells(2))
    right = _weno5_side(cells(3), cells(2), cells(1), cells(0), cells(-1))
    return left, right


def _numerical_flux(a: Array, b: Array, kind: str) -> Array:
    """Upwind flux of ``f(u) = u²/2`` between the left state ``a`` and the right state ``b``."""
    if kind == "godunov":  # exact Riemann solution for the convex flux (minimum at u = 0)
        return 0.5 * jnp.maximum(jnp.maximum(a, 0) ** 2, jnp.minimum(b, 0) ** 2)
    if kind == "engquist-osher":
        return 0.5 * (jnp.maximum(a, 0) ** 2 + jnp.minimum(b, 0) ** 2)
    speed = jnp.maximum(jnp.abs(a), jnp.abs(b))  # Rusanov (local Lax-Friedrichs)
    return 0.25 * (a * a + b * b) - 0.5 * speed * (b - a)


class FiniteVolumeBurgers(eqx.Module):
    r"""Viscous Burgers by conservative finite volumes with SSP-RK3, for shocks.

    On cells of width ``h`` with averages ``ū_i``,

    $$\frac{d\bar u_i}{dt} = -\frac{F_{i+1/2} - F_{i-1/2}}{h},\qquad
    F_{i+1/2} = \hat f\big(u^-_{i+1/2}, u^+_{i+1/2}\big) - ν\,(\partial_x u)_{i+1/2},$$

    with face states ``u^∓`` reconstructed from the averages, ``f̂`` an upwind flux of
    ``f(u) = u²/2`` (``"godunov"``, the exact Riemann solution
    ``f̂ = max(f(max(u⁻, 0)), f(min(u⁺, 0)))``; ``"engquist-osher"``; ``"rusanov"``), and a
    central viscous flux. ``reconstruction="muscl"``: limited piecewise-linear states
    (``limiter`` ``"mc"``, monotonised central, or ``"minmod"``) with the second-order
    viscous flux ``(ū_{i+1} - ū_i)/h``: second order where smooth. ``"weno5"``: fifth-order
    WENO-JS states (Jiang and Shu 1996) with the fourth-order viscous flux
    ``(ū_{i-1} - 15ū_i + 15ū_{i+1} - ū_{i+2})/(12h)``: fourth order in space where smooth.
    Time stepping is the three-stage SSP Runge-Kutta method of Shu and Osher (1988).

    Boundaries: ``"periodic"``, or ``"dirichlet"`` with values ``left`` at ``grid.lower``
    and ``right`` at ``grid.upper`` (array leaves), imposed by odd reflection about the
    wall value in the ghost cells, ``ū_{-j} = 2g - ū_{j-1}`` (exact for solutions odd about
    the wall, such as the sine benchmark; second order otherwise).

    Stability: with ``λ`` the largest eigenvalue of the viscous stencil (``4/h²`` or
    ``16/(3h²)``), a step of length ``dt`` from a state with ``max|u| = s`` is stable when
    ``s dt/(C h) + ν λ dt / 2 ≤ 1`` (the advective CFL number over ``max_cfl = C`` plus the
    diffusion number over its forward-Euler limit; ``aux["stable"]``). Given
    ``max_speed`` (a bound on ``|u|`` and the wall values), ``dt`` is checked at construction.

    Args:
        grid: a one-dimensional grid of cells (at least ``6`` cells).
        nu: the viscosity ``ν > 0`` (length² / time), a scalar; an array leaf.
        dt: the time step (time), a static float.
        boundary: ``"periodic"`` or ``"dirichlet"``.
        left, right: the Dirichlet values at ``grid.lower`` and ``grid.upper`` (velocity),
            scalars (``"dirichlet"`` only; default 0); array leaves.
        reconstruction: ``"muscl"`` (default) or ``"weno5"``.
        flux: ``"godunov"`` (default), ``"engquist-osher"`` or ``"rusanov"``.
        limiter: the MUSCL slope limiter, ``"mc"`` (default) or ``"minmod"``.
        max_cfl: the advective CFL number ``C`` allowed (default 0.5).
        max_speed: a bound on ``|u|`` for the check of ``dt`` at construction.

    Example:
        >>> grid = Grid((400,), ((-1.0, 1.0),))
        >>> solver = FiniteVolumeBurgers(grid, nu=0.01 / jnp.pi, dt=1e-3,
        ...                              boundary="dirichlet", max_speed=1.0)
        >>> (x,) = grid.centres()
        >>> result = rollout(solver.step, solver.init(-jnp.sin(jnp.pi * x)), 1000)

    References:
        LeVeque (2002), "Finite Volume Methods for Hyperbolic Problems", Cambridge, ch. 6
        and 12. Jiang and Shu (1996), "Efficient implementation of weighted ENO schemes", J.
        Comput. Phys. 126, 202-228. Shu and Osher (1988), J. Comput. Phys. 77, 439-471.
    """

    grid: Grid = eqx.field(static=True)
    nu: Float[Array, ""]
    dt: float = eqx.field(static=True)
    boundary: str = eqx.field(static=True)
    left: Float[Array, ""] | None
    right: Float[Array, ""] | None
    reconstruction: str = eqx.field(static=True)
    flux: str = eqx.field(static=True)
    limiter: str = eqx.field(static=True)
    max_cfl: float = eqx.field(static=True)

    def __init__(
        self,
        grid: Grid,
        nu: ScalarLike,
        dt: float,
        *,
        boundary: str = "periodic",
        left: ScalarLike | None = None,
        right: ScalarLike | None = None,
        reconstruction: str = "muscl",
        flux: str = "godunov",
        limiter: str = "mc",
        max_cfl: float = 0.5,
        max_speed: float | None = None,
    ):
        self.grid = _check_grid(grid, 6, "FiniteVolumeBurgers")
        self.nu = scalar_leaf(nu, "nu", positive=True)
        self.dt = _check_dt(dt)
        for name, value, options in (
            ("boundary", boundary, ("periodic", "dirichlet")),
            ("reconstruction", reconstruction, tuple(_GHOSTS)),
            ("flux", flux, ("godunov", "engquist-osher", "rusanov")),
            ("limiter", limiter, ("mc", "minmod")),
        ):
            if value not in options:
                raise ValueError(f"{name} must be one of {options}, got {value!r}")
        self.boundary = boundary
        self.reconstruction = reconstruction
        self.flux = flux
        self.limiter = limiter
        if boundary == "periodic":
            if left is not None or right is not None:
                raise ValueError("left and right are Dirichlet values: use boundary='dirichlet'")
            self.left = self.right = None
        else:
            self.left = scalar_leaf(0.0 if left is None else left, "left", positive=False)
            self.right = scalar_leaf(0.0 if right is None else right, "right", positive=False)
        cfl = None if max_cfl is None else check_positive_float(max_cfl, "max_cfl")
        assert cfl is not None
        self.max_cfl = cfl
        speed = None if max_speed is None else check_positive_float(max_speed, "max_speed")
        if is_concrete(self.nu):
            nu_value = float(np.asarray(self.nu))
            if speed is not None:
                walls = [float(np.abs(np.asarray(v))) for v in (self.left, self.right)
                         if v is not None and is_concrete(v)]  # fmt: skip
                if walls and max(walls) > speed:
                    raise ValueError(
                        f"max_speed = {speed} is below the Dirichlet value {max(walls)}"
                    )
            limit = 1.0 / self._rate(speed or 0.0, nu_value)
            what = "advection-diffusion" if speed is not None else "diffusion"
            check_time_step(self.dt, limit, f"{what} (SSP-RK3 with max_cfl={cfl})")

    def _viscous_eigenvalue(self) -> float:
        """The largest eigenvalue of the viscous stencil, times h²."""
        return 16 / 3 if self.reconstruction == "weno5" else 4.0

    def _rate(self, speed: Any, nu: Any) -> Any:
        """``1 / dt_max``: the advective and diffusive rates added (forward-Euler limit)."""
        h = self.grid.spacing[0]
        return speed / (self.max_cfl * h) + nu * self._viscous_eigenvalue() / (2 * h * h)

    def init(self, u0: Float[ArrayLike, "... n"]) -> BurgersState:
        """The state at ``t = 0``.

        Args:
            u0: cell averages of the initial velocity, shape ``(..., n)`` (values at the cell
                centres are a second-order approximation); its dtype is the dtype of the solve.

        Returns:
            A :class:`BurgersState` with ``t = 0``.
        """
        u0 = _as_field(u0, self.grid.shape[0], "FiniteVolumeBurgers.init")
        return BurgersState(u=u0, t=jnp.zeros((), u0.dtype))

    def _pad(self, u: Array) -> Array:
        g = _GHOSTS[self.reconstruction]
        if self.boundary == "periodic":
            return jnp.concatenate([u[..., -g:], u, u[..., :g]], axis=-1)
        assert self.left is not None and self.right is not None
        left = self.left.astype(u.dtype)
        right = self.right.astype(u.dtype)
        ghosts_left = 2 * left - jnp.flip(u[..., :g], axis=-1)
        ghosts_right = 2 * right - jnp.flip(u[..., -g:], axis=-1)
        return jnp.concatenate([ghosts_left, u, ghosts_right], axis=-1)

    def rhs(self, u: Float[Array, "... n"]) -> Float[Array, "... n"]:
        """The semi-discrete right-hand side ``dū/dt = -(F_{i+1/2} - F_{i-1/2})/h``."""
        n = self.grid.shape[0]
        h = self.grid.spacing[0]
        g = _GHOSTS[self.reconstruction]
        padded = self._pad(u)
        if self.reconstruction == "weno5":
            a, b = _weno5(padded, g, n)

            def cells(offset):
                return padded[..., g - 1 + offset : g + offset + n]

            gradient = (cells(-1) - 15 * cells(0) + 15 * cells(1) - cells(2)) / (12 * h)
        else:
            a, b = _muscl(padded, self.limiter, g, n)
            gradient = (padded[..., g : g + n + 1] - padded[..., g - 1 : g + n]) / h
        flux = _numerical_flux(a, b, self.flux) - self.nu.astype(u.dtype) * gradient
        return -(flux[..., 1:] - flux[..., :-1]) / h

    def step(self, state: BurgersState) -> tuple[BurgersState, dict[str, Array]]:
        """Advance one SSP-RK3 step of length ``dt``.

        Args:
            state: the current :class:`BurgersState`.

        Returns:
            ``(state, aux)``: the state at ``t + dt``; ``aux["cfl"]`` (``max|u| dt/h`` of the
            state the step started from, the wall values included; shape of the batch
            axes), ``aux["diffusion_number"]`` (``ν dt / h²``), ``aux["mass"]`` (``∫u dx``
            of the new state) and ``aux["stable"]`` (the combined limit above holds).
        """
        u = state.u
        dt = jnp.asarray(self.dt, u.dtype)
        u1 = u + dt * self.rhs(u)
        u2 = 0.75 * u + 0.25 * (u1 + dt * self.rhs(u1))
        new = u / 3 + (2 / 3) * (u2 + dt * self.rhs(u2))
        speed = jnp.max(jnp.abs(u), axis=-1)
        if self.left is not None and self.right is not None:
            walls = jnp.maximum(jnp.abs(self.left), jnp.abs(self.right)).astype(u.dtype)
            speed = jnp.maximum(speed, walls)
        h = self.grid.spacing[0]
        nu = self.nu.astype(u.dtype)
        aux = {
            "cfl": speed * (self.dt / h),
            "diffusion_number": nu * (self.dt / h**2),
            "mass": h * jnp.sum(new, axis=-1),
            "stable": self.dt * self._rate(speed, nu) <= 1,
        }
        return BurgersState(u=new, t=state.t + dt), aux
