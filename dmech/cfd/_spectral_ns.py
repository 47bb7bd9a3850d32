"""Two-dimensional incompressible Navier-Stokes on the periodic box: pseudo-spectral
vorticity-streamfunction form, 2/3 dealiasing, IMEX (Crank-Nicolson/low-storage RK) and
ETDRK4 time stepping, Kolmogorov/FNO/general forcing, linear drag and a learned-closure hook."""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Complex

from .._custom_types import Array, ArrayLike, DTypeLike, Float
from ..geometry import Grid
from ._checks import scalar_leaf
from ._rollout import check_time_step

__all__ = [
    "SpectralNavierStokes2D",
    "SpectralNavierStokes2DState",
    "taylor_green_vorticity",
    "velocity_from_vorticity",
    "vorticity_to_physical",
    "vorticity_to_spectral",
]

TIME_STEPPING = ("crank_nicolson_rk4", "crank_nicolson_rk3", "etdrk4")
FORCINGS = ("none", "kolmogorov", "fno")
CLOSURE_MODES = ("stage", "step")

# Low-storage (2N) Runge-Kutta coefficients, each stage paired with a Crank-Nicolson step of
# the linear terms over the stage's sub-interval (Canuto et al. 2007, appendix D.3):
# (A: the register's carry-over, B: the stage weight, C: the stage times, ending with 1).
# Fourth order: Carpenter and Kennedy (1994), NASA TM 109112, five stages ("solution 3").
_CARPENTER_KENNEDY_RK4 = (
    (
        Fraction(0),
        Fraction(-567301805773, 1357537059087),
        Fraction(-2404267990393, 2016746695238),
        Fraction(-3550918686646, 2091501179385),
        Fraction(-1275806237668, 842570457699),
    ),
    (
        Fraction(1432997174477, 9575080441755),
        Fraction(5161836677717, 13612068292357),
        Fraction(1720146321549, 2090206949498),
        Fraction(3134564353537, 4481467310338),
        Fraction(2277821191437, 14882151754819),
    ),
    (
        Fraction(0),
        Fraction(1432997174477, 9575080441755),
        Fraction(2526269341429, 6820363962896),
        Fraction(2006345519317, 3224310063776),
        Fraction(2802321613138, 2924317926251),
        Fraction(1),
    ),
)
# Third order: Williamson (1980), J. Comput. Phys. 35, 48-56, three stages.
_WILLIAMSON_RK3 = (
    (Fraction(0), Fraction(-5, 9), Fraction(-153, 128)),
    (Fraction(1, 3), Fraction(15, 16), Fraction(8, 15)),
    (Fraction(0), Fraction(1, 3), Fraction(3, 4), Fraction(1)),
)
_LOW_STORAGE = {"crank_nicolson_rk4": _CARPENTER_KENNEDY_RK4, "crank_nicolson_rk3": _WILLIAMSON_RK3}


# ---------------------------------------------------------------------------------------------
# Spectral set-up (NumPy, float64, static per grid)
# ---------------------------------------------------------------------------------------------


def _check_grid(grid: Any) -> Grid:
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be a dmech.geometry.Grid, got {type(grid).__name__}")
    if grid.ndim != 2 or min(grid.shape) < 4:
        raise ValueError(
            f"grid must be two-dimensional with at least 4 points per axis, got {grid}"
        )
    return grid


def _dealias_limits(grid: Grid) -> tuple[int, int]:
    """The largest kept mode index per axis, ``K = (n - 1) // 3`` (so ``3 K < n``)."""
    return tuple((n - 1) // 3 for n in grid.shape)  # type: ignore[return-value]


@functools.lru_cache(maxsize=32)
def _spectral_arrays(grid: Grid) -> dict[str, np.ndarray]:
    """Wavenumbers, the 2/3-rule mask and Parseval weights on the ``rfft2`` layout
    (read-only float64/bool NumPy arrays, cached per grid)."""
    kx, ky = grid.wavenumbers_numpy(real=True)  # (nx, 1), (1, nyh)
    nx, ny = grid.shape
    mx = np.fft.fftfreq(nx, 1.0 / nx).reshape(nx, 1)
    my = np.fft.rfftfreq(ny, 1.0 / ny).reshape(1, -1)
    cut_x, cut_y = _dealias_limits(grid)
    mask = (np.abs(mx) <= cut_x) & (np.abs(my) <= cut_y)
    mask[0, 0] = False  # the mean vorticity of a periodic velocity is zero
    k2 = kx**2 + ky**2
    inv_k2 = np.where(k2 > 0, 1.0 / np.where(k2 > 0, k2, 1.0), 0.0)
    # Parseval on the half spectrum: the columns that stand for two conjugate modes count twice
    weight = np.full(my.shape, 2.0)
    weight[0, 0] = 1.0
    if ny % 2 == 0:
        weight[0, -1] = 1.0
    shape = (nx, my.size)
    arrays = {
        "kx": kx,
        "ky": ky,
        "k2": k2,
        "inv_k2": inv_k2,
        "mask": mask,
        "weight": weight / float(grid.size) ** 2,
    }
    out = {}
    for name, value in arrays.items():
        value = np.array(np.broadcast_to(value, shape))
        value.setflags(write=False)
        out[name] = value
    return out


# ---------------------------------------------------------------------------------------------
# Conversions
# ---------------------------------------------------------------------------------------------


def vorticity_to_spectral(
    vorticity: Float[ArrayLike, "..."], grid: Grid, *, dealias: bool = True
) -> Complex[Array, "..."]:
    r"""The solver's Fourier representation of a vorticity field given at the grid points.

    ``ω̂ = rfft2(ω)`` over the last two axes (unnormalised: ``ω̂_m = Σ_j ω_j e^{-2πi m·j/n}``),
    on the half spectrum ``(nx, ny // 2 + 1)``. With ``dealias=True`` (what the solver's
    state holds) the modes beyond the 2/3 rule, ``|m_x| > (nx - 1) // 3`` or
    ``|m_y| > (ny - 1) // 3``, and the mean are set to zero.

    Args:
        vorticity: values at ``grid.periodic_points()``, shape ``(..., nx, ny)``, 1/s.
        grid: the periodic two-dimensional grid.
        dealias: apply the 2/3-rule mask and remove the mean.

    Returns:
        Complex array of shape ``(..., nx, ny // 2 + 1)`` (complex64 for float32 input,
        complex128 for float64).
    """
    grid = _check_grid(grid)
    vorticity = jnp.asarray(vorticity)
    if vorticity.shape[-2:] != grid.shape:
        raise ValueError(
            f"vorticity must have trailing shape {grid.shape}, got shape {vorticity.shape}"
        )
    if not jnp.issubdtype(vorticity.dtype, jnp.floating):
        vorticity = vorticity.astype(jnp.result_type(float))
    hat = jnp.fft.rfftn(vorticity, axes=(-2, -1))
    if dealias:
        mask = _like(_spectral_arrays(grid)["mask"], hat)
        hat = jnp.where(mask, hat, jnp.zeros((), hat.dtype))
    return hat


def vorticity_to_physical(
    vorticity_hat: Complex[ArrayLike, "..."] | SpectralNavierStokes2DState, grid: Grid
) -> Float[Array, "..."]:
    r"""The vorticity at the grid points from its Fourier coefficients (or from a state).

    ``ω = irfft2(ω̂)`` over the last two axes, the inverse of :func:`vorticity_to_spectral`.

    Args:
        vorticity_hat: coefficients of shape ``(..., nx, ny // 2 + 1)``, or a
            :class:`SpectralNavierStokes2DState`.
        grid: the periodic two-dimensional grid.

    Returns:
        Real array of shape ``(..., nx, ny)``, 1/s, at ``grid.periodic_points()``.
    """
    grid = _check_grid(grid)
    if isinstance(vorticity_hat, SpectralNavierStokes2DState):
        vorticity_hat = vorticity_hat.vorticity_hat
    vorticity_hat = jnp.asarray(vorticity_hat)
    _check_half_spectrum(vorticity_hat, grid, "vorticity_hat")
    return jnp.fft.irfftn(vorticity_hat, s=grid.shape, axes=(-2, -1))


def velocity_from_vorticity(vorticity: Float[ArrayLike, "..."], grid: Grid) -> Float[Array, "..."]:
    r"""The periodic, divergence-free velocity with zero mean whose curl is ``vorticity``.

    Biot-Savart in Fourier space: the streamfunction solves ``-Δψ = ω`` (``ψ̂ = ω̂/|k|²``,
    zero mean) and ``u = ∇^⊥ψ = (∂ψ/∂y, -∂ψ/∂x)``, so that ``∂v/∂x - ∂u/∂y = ω`` for a
    zero-mean ``ω`` (the mean of ``ω`` is ignored: no periodic velocity carries it).

    Args:
        vorticity: values at ``grid.periodic_points()``, shape ``(..., nx, ny)``, 1/s.
        grid: the periodic two-dimensional grid (box lengths in m).

    Returns:
        The velocity ``(u, v)`` stacked on a new axis: shape ``(..., 2, nx, ny)``, m/s.
    """
    hat = vorticity_to_spectral(vorticity, grid, dealias=False)
    return _velocity_from_hat(hat, grid)


def _velocity_from_hat(hat: Array, grid: Grid) -> Array:
    arrays = _spectral_arrays(grid)
    dtype = hat.dtype
    to_u = _like(1j * arrays["ky"] * arrays["inv_k2"], hat, dtype)
    to_v = _like(-1j * arrays["kx"] * arrays["inv_k2"], hat, dtype)
    hats = jnp.stack([to_u * hat, to_v * hat], axis=-3)
    return jnp.fft.irfftn(hats, s=grid.shape, axes=(-2, -1))


def _max_speed_numpy(vorticity: np.ndarray, grid: Grid) -> float:
    """``max|u|`` of the dealiased velocity of concrete vorticity fields (NumPy, float64)."""
    arrays = _spectral_arrays(grid)
    hat = np.where(arrays["mask"], np.fft.rfftn(vorticity, axes=(-2, -1)), 0.0)
    u = np.fft.irfftn(1j * arrays["ky"] * arrays["inv_k2"] * hat, s=grid.shape, axes=(-2, -1))
    v = np.fft.irfftn(-1j * arrays["kx"] * arrays["inv_k2"] * hat, s=grid.shape, axes=(-2, -1))
    return float(np.sqrt(np.max(u**2 + v**2))) if u.size else 0.0


def _like(constant: np.ndarray, array: Array, dtype: Any = None) -> Array:
    """A constant of the half spectrum's shape, with leading 1s to ``array``'s rank (the
    tests forbid implicit rank promotion)."""
    shape = (1,) * (array.ndim - constant.ndim) + constant.shape
    return jnp.asarray(constant.reshape(shape), dtype)


def taylor_green_vorticity(
    grid: Grid,
    *,
    time: float = 0.0,
    viscosity: float = 0.0,
    drag: float = 0.0,
    wavenumber: int = 1,
    amplitude: float = 1.0,
    dtype: DTypeLike | None = None,
) -> Float[Array, "nx ny"]:
    r"""The Taylor-Green vortex: an exact solution of the 2D Navier-Stokes equations.

    With ``k_x = 2π m / L_x``, ``k_y = 2π m / L_y`` (``m`` = ``wavenumber``) the velocity
    ``u = A sin(k_x x) cos(k_y y) g(t)``, ``v = -A (k_x/k_y) cos(k_x x) sin(k_y y) g(t)`` has
    vorticity

    .. math:: ω = A \frac{k_x^2 + k_y^2}{k_y} \sin(k_x x) \sin(k_y y)\, g(t),
       \qquad g(t) = e^{-(ν (k_x^2 + k_y^2) + α) t},

    a streamfunction proportional to ``ω``, so the advection ``u·∇ω`` vanishes and the flow
    decays at the viscous rate (``exp(-2νk²t)`` on a square box, ``k = k_x = k_y``) and the
    drag rate ``α``.

    Args:
        grid: the periodic two-dimensional grid.
        time: the time ``t`` ≥ 0, s.
        viscosity: the kinematic viscosity ``ν`` ≥ 0, m²/s.
        drag: the linear drag ``α`` ≥ 0, 1/s.
        wavenumber: the mode number ``m`` ≥ 1 (the number of periods across the box).
        amplitude: the velocity amplitude ``A``, m/s.
        dtype: floating dtype; default JAX's default float (float32, float64 under x64).

    Returns:
        The vorticity at ``grid.periodic_points()``, shape ``grid.shape``, 1/s.

    References:
        Taylor and Green (1937), "Mechanism of the production of small eddies from large
        ones", Proc. R. Soc. Lond. A 158, 499-521.
    """
    grid = _check_grid(grid)
    if isinstance(wavenumber, bool) or int(wavenumber) != wavenumber or wavenumber < 1:
        raise ValueError(f"wavenumber must be a positive integer, got {wavenumber!r}")
    for name, value in (("time", time), ("viscosity", viscosity), ("drag", drag)):
        if not float(value) >= 0:
            raise ValueError(f"{name} must be non-negative, got {value}")
    dtype = jnp.result_type(float) if dtype is None else dtype
    x, y = _points_numpy(grid)
    kx, ky = (2 * np.pi * wavenumber / length for length in grid.length)
    rate = viscosity * (kx**2 + ky**2) + drag
    omega = amplitude * (kx**2 + ky**2) / ky * np.sin(kx * x) * np.sin(ky * y)
    return jnp.asarray(omega * np.exp(-rate * time), dtype)


def _check_half_spectrum(hat: Array, grid: Grid, name: str) -> None:
    expected = (grid.shape[0], grid.shape[1] // 2 + 1)
    if hat.shape[-2:] != expected:
        raise ValueError(f"{name} must have trailing shape {expected}, got shape {hat.shape}")
    if not jnp.issubdtype(hat.dtype, jnp.complexfloating):
        raise ValueError(f"{name} must be complex (rfft2 coefficients), got {hat.dtype}")


# ---------------------------------------------------------------------------------------------
# ETDRK4 coefficients
# ---------------------------------------------------------------------------------------------

_PHI_TAYLOR_TERMS = 18  # |z| < 1: the first omitted term is below 1/21! ≈ 2e-20


def _phi1(z: Array) -> Array:
    """``φ_1(z) = (e^z - 1)/z`` (``expm1`` keeps it accurate near zero; ``φ_1(0) = 1``)."""
    zero = z == 0
    safe = jnp.where(zero, jnp.ones_like(z), z)
    return jnp.where(zero, jnp.ones_like(z), jnp.expm1(safe) / safe)


def _phi_functions(z: Array) -> tuple[Array, Array, Array]:
    r"""``φ_1, φ_2, φ_3`` of a real argument, ``φ_k(z) = Σ_j z^j / (j + k)!``.

    For ``|z| < 1`` a Taylor series of ``φ_3`` and the recurrence ``φ_k = z φ_{k+1} + 1/k!``
    downwards (multiplying by ``|z| < 1`` does not amplify errors); otherwise upwards,
    ``φ_{k+1} = (φ_k - 1/k!)/z`` from ``φ_1 = expm1(z)/z`` (no cancellation there). Each
    branch sees only arguments it is accurate for, so derivatives stay finite.
    """
    small = jnp.abs(z) < 1
    zs = jnp.where(small, z, jnp.zeros_like(z))
    zb = jnp.where(small, jnp.ones_like(z), z)
    phi3_small = jnp.full_like(z, 1.0 / math.factorial(_PHI_TAYLOR_TERMS + 3))
    for j in range(_PHI_TAYLOR_TERMS - 1, -1, -1):
        phi3_small = phi3_small * zs + 1.0 / math.factorial(j + 3)
    phi2_small = zs * phi3_small + 0.5
    phi1_big = jnp.expm1(zb) / zb
    phi2_big = (phi1_big - 1.0) / zb
    phi3_big = (phi2_big - 0.5) / zb
    return (
        jnp.where(small, zs * phi2_small + 1.0, phi1_big),
        jnp.where(small, phi2_small, phi2_big),
        jnp.where(small, phi3_small, phi3_big),
    )


# ---------------------------------------------------------------------------------------------
# State and solver
# ---------------------------------------------------------------------------------------------


class SpectralNavierStokes2DState(eqx.Module):
    """The state of :class:`SpectralNavierStokes2D`: the vorticity in Fourier space.

    Attributes:
        vorticity_hat: ``rfft2`` of the vorticity at ``grid.periodic_points()``
            (unnormalised, as :func:`vorticity_to_spectral`), shape ``(nx, ny // 2 + 1)``
            (with leading batch axes when :meth:`SpectralNavierStokes2D.init` got a batch),
            complex64 or complex128. Modes beyond the 2/3 rule and the mean are zero and stay
            zero. :func:`vorticity_to_physical` returns the field at the grid points.
        time: the simulated time, s, a scalar (or the batch shape) of the real dtype.
    """

    vorticity_hat: Complex[Array, "..."]
    time: Float[Array, "..."]


class SpectralNavierStokes2D(eqx.Module):
    r"""2D incompressible Navier-Stokes on the periodic box, pseudo-spectral in
    vorticity-streamfunction form.

    On ``[0, L_x) × [0, L_y)`` (periodic; ``grid.lower`` shifts it) the vorticity
    ``ω = ∂v/∂x - ∂u/∂y`` obeys

    .. math:: ∂_t ω + u·∇ω = ν Δω - α ω + A f + c(ω), \qquad u = ∇^⊥ψ = (∂_yψ, -∂_xψ),
       \qquad -Δψ = ω,

    with viscosity ``ν``, linear drag ``α``, a forcing ``f`` of amplitude ``A`` and an
    optional learned closure ``c``. Space is Fourier-Galerkin: the state holds the ``rfft2``
    coefficients of ``ω`` (:class:`SpectralNavierStokes2DState`); derivatives and the
    streamfunction are products with ``i k`` and ``1/|k|²``; the advection is formed at
    the grid points in Basdevant's (1983) form ``u·∇ω = (∂_x² - ∂_y²)(uv) + ∂_x∂_y(v² - u²)``
    (two inverse transforms, ``u`` and ``v``, and two forward ones per evaluation, against
    five for ``u ∂_xω + v ∂_yω``), and dealiased by the 2/3 rule (Orszag 1971): only
    modes ``|m_x| ≤ (n_x - 1) // 3`` and ``|m_y| ≤ (n_y - 1) // 3`` are kept, so products of
    kept modes alias only onto discarded ones and the semi-discrete system conserves energy
    and enstrophy exactly when ``ν = α = 0`` and nothing forces it. The mean vorticity is
    zero (no periodic velocity carries one).

    Time stepping (``time_stepping``, static):

    - ``"crank_nicolson_rk4"`` (default): the five-stage low-storage RK4 of Carpenter and
      Kennedy (1994) for the explicit terms (advection, forcing, closure), each stage
      paired with a Crank-Nicolson step of the linear terms ``L = -ν|k|² - α`` over the
      stage's sub-interval (Canuto et al. 2007, appendix D.3; the scheme of jax-cfd's
      ``crank_nicolson_rk4``). Fourth order for the explicit part, second order once
      ``L`` matters; unconditionally stable for ``L``.
    - ``"crank_nicolson_rk3"``: the same construction on Williamson's three-stage RK3.
    - ``"etdrk4"``: exponential time differencing RK4 (Cox and Matthews 2002): the linear
      part is integrated exactly, the rest to fourth order; ``φ``-functions by a Taylor
      series near zero (Kassam and Trefethen 2005 discuss the cancellation this avoids).

    The explicit part is advective: its stability needs the CFL number
    ``C = max|u| Δt / min(Δx, Δy)`` below a limit of order one (the dealiased derivative
    reaches ``|k| ≈ 2π/(3Δx)`` per axis, against the schemes' stability intervals on the
    imaginary axis). Measured blow-up thresholds, for an inviscid 64² flow whose fastest
    point moves diagonally (float32): ``C ≈ 1.5`` for ``"crank_nicolson_rk4"``, ``0.7`` for
    ``"crank_nicolson_rk3"`` and ``1.15`` for ``"etdrk4"``. ``max_cfl`` (default 0.5, below
    all three) is the documented limit: :meth:`init` raises a ValueError when the initial
    field exceeds it, and every :meth:`step` reports ``aux["stable"] = C ≤ max_cfl`` for the
    state it starts from (:func:`~dmech.cfd.rollout` then names the step).

    Forcing (``forcing``, static kind, amplitude an array leaf):

    - ``"kolmogorov"``: the body force ``A sin(k y) e_x`` with ``k = 2π m / L_y``
      (``m`` = ``forcing_wavenumber``), i.e. ``f = -k cos(k y)`` in the vorticity equation
      (Kochkov et al. 2021 use ``A = 1``, ``m = 4`` on ``[0, 2π)²``, ``ν = 10⁻³``,
      ``α = 0.1``);
    - ``"fno"``: ``f = sin(2π(x/L_x + y/L_y)) + cos(2π(x/L_x + y/L_y))`` with default
      ``A = 0.1``: on the unit torus the forcing of Li et al. (2021);
    - an array of shape ``grid.shape``: a general vorticity forcing at the grid points
      (an array leaf, differentiable);
    - ``"none"``.

    ``viscosity``, ``drag``, ``forcing_amplitude`` (and a forcing field) are array leaves:
    ``jax.grad`` reaches them and new values never recompile. The grid, ``dt``, the kinds
    and ``max_cfl`` are static. ``closure`` is any callable ``ω -> c(ω)`` on fields of shape
    ``grid.shape`` at the grid points (an equinox Module such as a small CNN: its arrays
    are leaves too); its output is dealiased (2/3 rule) and enters as ``closure_mode``
    (static) says:

    - ``"stage"`` (default): added to the explicit tendency at every Runge-Kutta stage, a
      term of the continuous equation (the target of :func:`~dmech.cfd.subgrid_correction`);
      one closure evaluation per stage.
    - ``"step"``: one evaluation per step, after the solver's update ``Φ``:
      ``ω_{n+1} = Φ(ω_n) + Δt c(Φ(ω_n))``, the learned correction of Kochkov et al. (2021).
      A closure costs a fraction of a coarse step only this way: with five RK4 (three RK3)
      stages, ``"stage"`` calls it five (three) times per step.

    Attributes:
        grid: the periodic two-dimensional grid (static).
        dt: the time step, s (static).
        viscosity: ``ν``, m²/s, a scalar array (``0`` gives the Euler equations).
        drag: ``α``, 1/s, a scalar array.
        forcing_amplitude: ``A``, a scalar array.
        forcing_field: the unit vorticity forcing ``f`` at the grid points, shape
            ``grid.shape`` (``None`` without forcing).
        forcing: the forcing kind: ``"none"``, ``"kolmogorov"``, ``"fno"`` or ``"field"``.
        forcing_wavenumber: Kolmogorov's ``m`` (static).
        time_stepping: the scheme (static).
        max_cfl: the CFL limit of ``aux["stable"]`` and :meth:`init` (static).
        closure: the learned correction ``ω -> dω/dt`` or ``None``.
        closure_mode: where the closure enters, ``"stage"`` or ``"step"`` (static).

    Example:
        >>> grid = Grid((256, 256), (2 * np.pi, 2 * np.pi))
        >>> solver = SpectralNavierStokes2D(grid, viscosity=1e-3, drag=0.1, dt=1e-3,
        ...                                 forcing="kolmogorov", forcing_wavenumber=4)
        >>> w0 = gaussian_random_field(jax.random.key(0), grid, alpha=2.5, tau=7.0)
        >>> result = rollout(solver.step, solver.init(w0), 1000, every=100,
        ...                  observe=solver.vorticity)

    References:
        Canuto, Hussaini, Quarteroni and Zang (2007), "Spectral Methods: Evolution to Complex
        Geometries and Applications to Fluid Dynamics", Springer (appendix D.3).
        Basdevant (1983), "Technical improvements for direct numerical simulation of
        homogeneous three-dimensional turbulence", J. Comput. Phys. 50, 209-214.
        Carpenter and Kennedy (1994), "Fourth-order 2N-storage Runge-Kutta schemes",
        NASA TM 109112.
        Cox and Matthews (2002), "Exponential time differencing for stiff systems",
        J. Comput. Phys. 176, 430-455.
        Kassam and Trefethen (2005), "Fourth-order time-stepping for stiff PDEs",
        SIAM J. Sci. Comput. 26, 1214-1233.
        Orszag (1971), "On the elimination of aliasing in finite-difference schemes by
        filtering high-wavenumber components", J. Atmos. Sci. 28, 1074.
        Williamson (1980), "Low-storage Runge-Kutta schemes", J. Comput. Phys. 35, 48-56.
        Kochkov et al. (2021), "Machine learning-accelerated computational fluid dynamics",
        PNAS 118, e2101784118.
        Li et al. (2021), "Fourier neural operator for parametric partial differential
        equations", ICLR.
    """

    grid: Grid = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    viscosity: Float[Array, ""]
    drag: Float[Array, ""]
    forcing_amplitude: Float[Array, ""]
    forcing_field: Float[Array, "nx ny"] | None
    closure: Callable[..., Any] | None
    forcing: str = eqx.field(static=True)
    forcing_wavenumber: int = eqx.field(static=True)
    time_stepping: str = eqx.field(static=True)
    max_cfl: float = eqx.field(static=True)
    closure_mode: str = eqx.field(static=True)

    def __init__(
        self,
        grid: Grid,
        *,
        viscosity: float | Float[ArrayLike, ""],
        dt: float,
        drag: float | Float[ArrayLike, ""] = 0.0,
        forcing: str | Float[ArrayLike, "..."] = "none",
        forcing_amplitude: float | Float[ArrayLike, ""] | None = None,
        forcing_wavenumber: int = 4,
        time_stepping: str = "crank_nicolson_rk4",
        max_cfl: float = 0.5,
        closure: Callable[..., Any] | None = None,
        closure_mode: str = "stage",
        dtype: DTypeLike | None = None,
    ):
        """Args:
        grid: the periodic two-dimensional grid, at least 4 points per axis.
        viscosity: ``ν ≥ 0``, m²/s.
        dt: the time step ``> 0``, s.
        drag: ``α ≥ 0``, 1/s.
        forcing: ``"none"``, ``"kolmogorov"``, ``"fno"``, or a vorticity forcing field of
            shape ``grid.shape`` (1/s², at the grid points).
        forcing_amplitude: ``A``; default 1 (0.1 for ``"fno"``).
        forcing_wavenumber: Kolmogorov's mode number ``m ≥ 1``.
        time_stepping: ``"crank_nicolson_rk4"``, ``"crank_nicolson_rk3"`` or ``"etdrk4"``.
        max_cfl: the CFL limit ``> 0`` of ``aux["stable"]`` and of :meth:`init`.
        closure: ``ω -> correction to dω/dt``, both of shape ``grid.shape``, or ``None``.
        closure_mode: ``"stage"`` (the closure at every Runge-Kutta stage) or ``"step"``
            (once per step, after the update).
        dtype: the real dtype of the parameters and the state; default the dtype of an
            array ``viscosity``, else JAX's default float (float32, float64 under x64).

        Raises:
            ValueError: naming the argument: a grid that is not 2D, negative viscosity or
                drag, a non-positive dt or max_cfl, an unknown kind, a forcing field of
                the wrong shape, a bad wavenumber, a 64-bit dtype with x64 off.
            TypeError: a grid that is not a Grid, a closure that is not callable.
        """
        grid = _check_grid(grid)
        if dtype is None:
            dtype = (
                jnp.asarray(viscosity).dtype
                if isinstance(viscosity, jax.Array | np.ndarray)
                and jnp.issubdtype(jnp.asarray(viscosity).dtype, jnp.floating)
                else jnp.result_type(float)
            )
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(f"dtype must be a real floating dtype, got {dtype}")
        dtype = jnp.dtype(dtype)
        if dtype.itemsize == 8 and jnp.result_type(float) != jnp.float64:
            raise ValueError(
                f"dtype {dtype} needs JAX's 64-bit mode (jax.enable_x64(True)); it is off"
            )
        if isinstance(dt, jax.Array | np.ndarray) or not isinstance(dt, int | float):
            raise TypeError(f"dt must be a Python float (static), got {type(dt).__name__}")
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be positive and finite, got {dt}")
        if not (isinstance(max_cfl, int | float) and math.isfinite(max_cfl) and max_cfl > 0):
            raise ValueError(f"max_cfl must be a positive float, got {max_cfl!r}")
        if time_stepping not in TIME_STEPPING:
            raise ValueError(f"time_stepping must be one of {TIME_STEPPING}, got {time_stepping!r}")
        if (
            isinstance(forcing_wavenumber, bool)
            or int(forcing_wavenumber) != forcing_wavenumber
            or forcing_wavenumber < 1
        ):
            raise ValueError(
                f"forcing_wavenumber must be a positive integer, got {forcing_wavenumber!r}"
            )
        if closure is not None and not callable(closure):
            raise TypeError(f"closure must be callable or None, got {type(closure).__name__}")
        if closure_mode not in CLOSURE_MODES:
            raise ValueError(f"closure_mode must be one of {CLOSURE_MODES}, got {closure_mode!r}")
        viscosity = scalar_leaf(viscosity, "viscosity", dtype, non_negative=True)
        drag = scalar_leaf(drag, "drag", dtype, non_negative=True)

        if isinstance(forcing, str):
            if forcing not in FORCINGS:
                raise ValueError(
                    f"forcing must be one of {FORCINGS} or an array of shape {grid.shape}, "
                    f"got {forcing!r}"
                )
            kind = forcing
            field = (
                None
                if kind == "none"
                else jnp.asarray(_forcing_shape(grid, kind, int(forcing_wavenumber)), dtype)
            )
        else:
            field = jnp.asarray(forcing)
            if field.shape != grid.shape:
                raise ValueError(
                    f"forcing must be an array of shape {grid.shape} (a vorticity forcing at "
                    f"the grid points), got shape {field.shape}"
                )
            if not jnp.issubdtype(field.dtype, jnp.floating) and not jnp.issubdtype(
                field.dtype, jnp.integer
            ):
                raise ValueError(f"forcing must be a real array, got dtype {field.dtype}")
            field = field.astype(dtype)
            kind = "field"
        if forcing_amplitude is None:
            forcing_amplitude = 0.1 if kind == "fno" else 1.0
        amplitude = scalar_leaf(forcing_amplitude, "forcing_amplitude", dtype)

        self.grid = grid
        self.dt = float(dt)
        self.viscosity = viscosity
        self.drag = drag
        self.forcing_amplitude = amplitude
        self.forcing_field = field
        self.closure = closure
        self.forcing = kind
        self.forcing_wavenumber = int(forcing_wavenumber)
        self.time_stepping = time_stepping
        self.max_cfl = float(max_cfl)
        self.closure_mode = closure_mode

    # --- set-up ------------------------------------------------------------------------------

    def with_closure(
        self, closure: Callable[..., Any] | None, closure_mode: str | None = None
    ) -> SpectralNavierStokes2D:
        """The same solver with another closure (``None`` removes it) and, optionally,
        another ``closure_mode``; everything else (arrays included) is shared.

        Raises:
            TypeError: a closure that is not callable.
            ValueError: an unknown ``closure_mode``.
        """
        if closure is not None and not callable(closure):
            raise TypeError(f"closure must be callable or None, got {type(closure).__name__}")
        mode = self.closure_mode if closure_mode is None else closure_mode
        if mode not in CLOSURE_MODES:
            raise ValueError(f"closure_mode must be one of {CLOSURE_MODES}, got {mode!r}")
        new = copy.copy(self)
        object.__setattr__(new, "closure", closure)
        object.__setattr__(new, "closure_mode", mode)
        return new

    @property
    def dtype(self) -> Any:
        """The real dtype of the state and the parameters."""
        return self.viscosity.dtype

    def init(
        self, vorticity: Float[ArrayLike, "..."], time: float | Float[ArrayLike, ""] = 0.0
    ) -> SpectralNavierStokes2DState:
        r"""The state for an initial vorticity given at the grid points.

        The field is cast to the solver's dtype, transformed, dealiased (2/3 rule) and its
        mean removed. For a concrete field the CFL number ``max|u| dt / min(Δx, Δy)`` of
        its velocity must not exceed ``max_cfl``.

        Args:
            vorticity: ``ω₀`` at ``grid.periodic_points()``, shape ``(..., nx, ny)``, 1/s
                (e.g. :func:`~dmech.cfd.gaussian_random_field`,
                :func:`taylor_green_vorticity`); leading axes make a batch (step it with
                ``jax.vmap(solver.step)``).
            time: the initial time, s.

        Returns:
            A :class:`SpectralNavierStokes2DState`.

        Raises:
            ValueError: the field has the wrong shape, is not finite, or its CFL number
                exceeds ``max_cfl`` (naming dt and the limit).
        """
        concrete = not isinstance(vorticity, jax.core.Tracer)
        vorticity = jnp.asarray(vorticity)
        if vorticity.ndim < 2 or vorticity.shape[-2:] != self.grid.shape:
            raise ValueError(
                f"vorticity must have shape (..., {self.grid.shape[0]}, {self.grid.shape[1]}), "
                f"got shape {vorticity.shape}"
            )
        if not (
            jnp.issubdtype(vorticity.dtype, jnp.floating)
            or jnp.issubdtype(vorticity.dtype, jnp.integer)
        ):
            raise ValueError(f"vorticity must be real, got dtype {vorticity.dtype}")
        if concrete:
            # checked in NumPy: no compilation, and also while a caller traces with a
            # concrete initial field
            values = np.asarray(vorticity, np.float64)
            if not np.all(np.isfinite(values)):
                raise ValueError("vorticity must be finite")
            speed = _max_speed_numpy(values, self.grid)
            if speed > 0:
                limit = self.max_cfl * min(self.grid.spacing) / speed
                check_time_step(
                    self.dt,
                    limit,
                    f"advective CFL (max_cfl = {self.max_cfl:g} at the initial max|u| = "
                    f"{speed:.4g}, min spacing {min(self.grid.spacing):.4g}); lower dt or "
                    "raise max_cfl",
                )
        hat = vorticity_to_spectral(vorticity.astype(self.dtype), self.grid)
        time = jnp.broadcast_to(jnp.asarray(time, self.dtype), vorticity.shape[:-2])
        return SpectralNavierStokes2DState(vorticity_hat=hat, time=time)

    # --- diagnostics -------------------------------------------------------------------------

    def vorticity(self, state: SpectralNavierStokes2DState) -> Float[Array, "..."]:
        """The vorticity at the grid points, shape ``(..., nx, ny)``, 1/s."""
        return vorticity_to_physical(state.vorticity_hat, self.grid)

    def velocity(self, state: SpectralNavierStokes2DState) -> Float[Array, "..."]:
        """The velocity ``(u, v)`` at the grid points, shape ``(..., 2, nx, ny)``, m/s."""
        return _velocity_from_hat(state.vorticity_hat, self.grid)

    def energy(self, state: SpectralNavierStokes2DState) -> Float[Array, "..."]:
        r"""The kinetic energy per unit area, ``E = ½⟨|u|²⟩ = ½ Σ_k |ω̂_k|²/|k|² / (n_x n_y)²``
        (Parseval), m²/s²; shape: the state's batch shape."""
        return self._quadratic(state.vorticity_hat, "energy")

    def enstrophy(self, state: SpectralNavierStokes2DState) -> Float[Array, "..."]:
        r"""The enstrophy per unit area, ``Z = ½⟨ω²⟩``, 1/s²; shape: the batch shape."""
        return self._quadratic(state.vorticity_hat, "enstrophy")

    def _quadratic(self, hat: Array, which: str) -> Array:
        arrays = _spectral_arrays(self.grid)
        weight = arrays["weight"] * (arrays["inv_k2"] if which == "energy" else 1.0)
        power = jnp.real(hat) ** 2 + jnp.imag(hat) ** 2
        return 0.5 * jnp.sum(power * _like(weight, power, power.dtype), axis=(-2, -1))

    # --- time stepping -----------------------------------------------------------------------

    def step(
        self, state: SpectralNavierStokes2DState
    ) -> tuple[SpectralNavierStokes2DState, dict[str, Array]]:
        r"""Advance one time step ``dt``.

        Args:
            state: a single (unbatched) state; ``jax.vmap`` this method for a batch.

        Returns:
            ``(new_state, aux)``; ``aux`` describes the state the step started from:
            ``"stable"`` (bool: ``cfl ≤ max_cfl``), ``"cfl"`` (``max|u| dt / min(Δx, Δy)``),
            ``"energy"`` (``½⟨|u|²⟩``, m²/s²) and ``"enstrophy"`` (``½⟨ω²⟩``, 1/s²).
        """
        hat = state.vorticity_hat
        _check_half_spectrum(hat, self.grid, "state.vorticity_hat")
        if hat.ndim != 2:
            raise ValueError(
                f"step takes one state; got vorticity_hat of shape {hat.shape}: use "
                "jax.vmap(solver.step) for a batch"
            )
        forcing_hat = self._forcing_hat()
        if self.time_stepping == "etdrk4":
            new, speed2 = self._etdrk4(hat, forcing_hat)
        else:
            new, speed2 = self._low_storage_cn(hat, forcing_hat)
        if self.closure is not None and self.closure_mode == "step":
            field = jnp.fft.irfftn(new, s=self.grid.shape)
            new = new + jnp.asarray(self.dt, new.dtype) * self._closure_hat(field)
        cfl = jnp.sqrt(speed2) * (self.dt / min(self.grid.spacing))
        aux = {
            "stable": cfl <= self.max_cfl,
            "cfl": cfl,
            "energy": self._quadratic(hat, "energy"),
            "enstrophy": self._quadratic(hat, "enstrophy"),
        }
        dt = jnp.asarray(self.dt, state.time.dtype)
        return SpectralNavierStokes2DState(vorticity_hat=new, time=state.time + dt), aux

    def _linear(self) -> Array:
        """``L = -ν|k|² - α`` on the half spectrum (real)."""
        k2 = jnp.asarray(_spectral_arrays(self.grid)["k2"], self.dtype)
        return -self.viscosity * k2 - self.drag

    def _forcing_hat(self) -> Array | None:
        if self.forcing_field is None:
            return None
        return self._dealias(jnp.fft.rfftn(self.forcing_amplitude * self.forcing_field))

    def _dealias(self, hat: Array) -> Array:
        mask = jnp.asarray(_spectral_arrays(self.grid)["mask"])
        return jnp.where(mask, hat, jnp.zeros((), hat.dtype))

    def _explicit(self, hat: Array, forcing_hat: Array | None) -> tuple[Array, Array]:
        r"""The explicit tendency ``-u·∇ω + A f + c(ω)`` (dealiased) and ``max|u|²``.

        The advection in Basdevant's (1983) form: for a divergence-free ``u``,
        ``u·∇ω = ∇×((u·∇)u) = (∂_x² - ∂_y²)(uv) + ∂_x∂_y(v² - u²)``, so two inverse
        transforms (``u``, ``v``) and two forward ones (``uv``, ``v² - u²``) suffice, against
        five for ``u ∂_xω + v ∂_yω``. With the 2/3 rule both are the exact Galerkin
        projection of the same product: they differ by round-off only.
        """
        arrays = _spectral_arrays(self.grid)
        cdtype = hat.dtype
        kx, ky, inv_k2, mask = arrays["kx"], arrays["ky"], arrays["inv_k2"], arrays["mask"]
        multipliers = [1j * ky * inv_k2, -1j * kx * inv_k2]  # u = ∂ψ/∂y, v = -∂ψ/∂x
        staged = self.closure is not None and self.closure_mode == "stage"
        if staged:
            multipliers.append(np.ones(kx.shape))  # ω itself
        factors = jnp.asarray(np.stack(multipliers), cdtype)
        fields = jnp.fft.irfftn(factors * hat[None], s=self.grid.shape, axes=(-2, -1))
        u, v = fields[0], fields[1]
        products = jnp.fft.rfftn(jnp.stack([u * v, v * v - u * u]), axes=(-2, -1))
        # -u·∇ω = -(-(kx² - ky²)(uv)^ - kx ky (v² - u²)^), dealiased
        to_tendency = jnp.asarray(
            np.stack([np.where(mask, kx**2 - ky**2, 0.0), np.where(mask, kx * ky, 0.0)]), cdtype
        )
        tendency = to_tendency[0] * products[0] + to_tendency[1] * products[1]
        if forcing_hat is not None:
            tendency = tendency + forcing_hat
        if staged:
            tendency = tendency + self._closure_hat(fields[2])
        return tendency, jnp.max(u * u + v * v)

    def _closure_hat(self, vorticity: Array) -> Array:
        """The closure's output at a vorticity field (grid points), transformed and
        dealiased."""
        assert self.closure is not None
        correction = jnp.asarray(self.closure(vorticity))
        if correction.shape != self.grid.shape:
            raise ValueError(
                f"closure must return a field of shape {self.grid.shape}, got shape "
                f"{correction.shape}"
            )
        return self._dealias(jnp.fft.rfftn(correction.astype(vorticity.dtype)))

    def _low_storage_cn(self, hat: Array, forcing_hat: Array | None) -> tuple[Array, Array]:
        carry, weights, times = _LOW_STORAGE[self.time_stepping]
        cdtype = hat.dtype
        linear = self._linear()
        dt = self.dt
        register = None
        speed2 = None
        for stage in range(len(weights)):
            tendency, stage_speed2 = self._explicit(hat, forcing_hat)
            if speed2 is None:
                speed2 = stage_speed2
            if register is None:
                register = tendency
            else:
                register = tendency + jnp.asarray(float(carry[stage]), cdtype) * register
            mu = 0.5 * dt * float(times[stage + 1] - times[stage])
            explicit = (1.0 + mu * linear).astype(cdtype)
            implicit = (1.0 / (1.0 - mu * linear)).astype(cdtype)
            gamma = jnp.asarray(float(weights[stage]) * dt, cdtype)
            hat = implicit * (explicit * hat + gamma * register)
        assert speed2 is not None
        return hat, speed2

    def _etdrk4(self, hat: Array, forcing_hat: Array | None) -> tuple[Array, Array]:
        cdtype = hat.dtype
        dt = self.dt
        z = dt * self._linear()
        phi1_half = _phi1(0.5 * z)
        phi1, phi2, phi3 = _phi_functions(z)
        e = jnp.exp(z).astype(cdtype)
        e_half = jnp.exp(0.5 * z).astype(cdtype)
        q = (0.5 * dt * phi1_half).astype(cdtype)
        f1 = (dt * (phi1 - 3.0 * phi2 + 4.0 * phi3)).astype(cdtype)
        f2 = (dt * (phi2 - 2.0 * phi3)).astype(cdtype)
        f3 = (dt * (4.0 * phi3 - phi2)).astype(cdtype)
        n_u, speed2 = self._explicit(hat, forcing_hat)
        a = e_half * hat + q * n_u
        n_a, _ = self._explicit(a, forcing_hat)
        b = e_half * hat + q * n_a
        n_b, _ = self._explicit(b, forcing_hat)
        c = e_half * a + q * (2.0 * n_b - n_u)
        n_c, _ = self._explicit(c, forcing_hat)
        new = e * hat + f1 * n_u + 2.0 * f2 * (n_a + n_b) + f3 * n_c
        return new, speed2


def _forcing_shape(grid: Grid, kind: str, wavenumber: int) -> np.ndarray:
    """The unit vorticity forcing of a named kind at the grid points (float64)."""
    x, y = _points_numpy(grid)
    lx, ly = grid.length
    if kind == "kolmogorov":
        k = 2 * np.pi * wavenumber / ly
        return -k * np.cos(k * y)  # the curl of sin(k y) e_x
    phase = 2 * np.pi * (x / lx + y / ly)
    return np.sin(phase) + np.cos(phase)


def _points_numpy(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """``grid.periodic_points()`` in float64 NumPy (independent of JAX's x64 mode)."""
    axes = [
        lo + h * np.arange(n) for lo, h, n in zip(grid.lower, grid.spacing, grid.shape, strict=True)
    ]
    x, y = np.meshgrid(*axes, indexing="ij")
    return x, y
