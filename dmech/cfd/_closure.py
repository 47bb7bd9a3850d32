"""Learned closures for the periodic pseudo-spectral Navier-Stokes solver: Fourier
resampling, the filtered-DNS training data (a priori subgrid terms and a posteriori
trajectories) and the losses that train a closure, the unrolled one differentiating through
the coarse solver (solver in the loop)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, ArrayLike, Float
from ..geometry import Grid
from ._checks import positive_int
from ._rollout import rollout
from ._spectral_ns import (
    SpectralNavierStokes2D,
    _check_grid,
    _spectral_arrays,
    vorticity_to_spectral,
)

__all__ = [
    "ClosureData",
    "a_posteriori_loss",
    "a_priori_loss",
    "closure_training_data",
    "downsample",
    "subgrid_correction",
    "trajectory_windows",
    "upsample",
    "vorticity_correlation",
]


# ---------------------------------------------------------------------------------------------
# Fourier resampling
# ---------------------------------------------------------------------------------------------


def _resample_hat(hat: Array, source: tuple[int, ...], target: tuple[int, ...]) -> Array:
    """Move ``rfft2`` coefficients (unnormalised) from a grid of shape ``source`` to one of
    shape ``target``: the modes ``|m| < min(n_source, n_target) / 2`` per axis are kept (so the
    Nyquist mode of the smaller grid, which has no unique real continuation, is dropped),
    the others set to zero, and the coefficients rescaled by the ratio of the point counts
    so that the field's values are preserved."""
    k0 = (min(source[0], target[0]) - 1) // 2
    k1 = (min(source[1], target[1]) - 1) // 2
    out = jnp.zeros((*hat.shape[:-2], target[0], target[1] // 2 + 1), hat.dtype)
    out = out.at[..., : k0 + 1, : k1 + 1].set(hat[..., : k0 + 1, : k1 + 1])
    if k0 > 0:
        out = out.at[..., target[0] - k0 :, : k1 + 1].set(hat[..., source[0] - k0 :, : k1 + 1])
    scale = (target[0] * target[1]) / (source[0] * source[1])
    return out * jnp.asarray(scale, hat.dtype)


def _check_pair(grid: Any, other: Any, names: tuple[str, str], coarser: bool) -> None:
    grid, other = _check_grid(grid), _check_grid(other)
    if (grid.lower, grid.upper) != (other.lower, other.upper):
        raise ValueError(
            f"{names[1]} must cover the same box as {names[0]}: got {other} and {grid}"
        )
    fits = all(
        (b <= a) if coarser else (b >= a) for a, b in zip(grid.shape, other.shape, strict=True)
    )
    if not fits:
        relation = "at most" if coarser else "at least"
        raise ValueError(
            f"{names[1]} must have {relation} as many points per axis as {names[0]}: got "
            f"{other.shape} and {grid.shape}"
        )


def _resample(field: Any, grid: Grid, target: Grid, name: str) -> Array:
    field = jnp.asarray(field)
    if field.ndim < 2 or field.shape[-2:] != grid.shape:
        raise ValueError(f"{name} must have trailing shape {grid.shape}, got shape {field.shape}")
    if not jnp.issubdtype(field.dtype, jnp.floating):
        field = field.astype(jnp.result_type(float))
    hat = jnp.fft.rfftn(field, axes=(-2, -1))
    hat = _resample_hat(hat, grid.shape, target.shape)
    return jnp.fft.irfftn(hat, s=target.shape, axes=(-2, -1))


def downsample(
    field: Float[ArrayLike, "..."], grid: Grid, coarse_grid: Grid
) -> Float[Array, "..."]:
    r"""A periodic field on a coarser grid by Fourier truncation (a sharp spectral cut-off).

    With ``f_j = (1/N) Σ_m f̂_m e^{2πi m·j/n}`` on the fine grid (``N = n_x n_y`` points),
    the coarse field is the trigonometric polynomial of the modes the coarse grid resolves,
    ``|m_x| < n'_x/2`` and ``|m_y| < n'_y/2``, sampled at the coarse grid's
    ``periodic_points``:

    .. math:: \bar f = \mathcal{F}^{-1}_{n'} \big[\mathbb{1}_{|m| < n'/2}\, (N'/N)\, \hat f\big].

    This is the sharp cut-off filter of large-eddy simulation (Pope 2000, section 13.2)
    followed by exact sampling: the coarse values carry no aliasing, and
    ``upsample(downsample(f))`` is the filtered field on the fine grid. The Nyquist mode of
    an even coarse grid (``|m| = n'/2``) is dropped: only its cosine part would be
    representable.

    Args:
        field: values at ``grid.periodic_points()``, shape ``(..., n_x, n_y)``.
        grid: the fine periodic two-dimensional grid.
        coarse_grid: the target grid: the same box, at most as many points per axis.

    Returns:
        The filtered field at ``coarse_grid.periodic_points()``, shape
        ``(..., n'_x, n'_y)``, of ``field``'s floating dtype.

    Example:
        >>> fine, coarse = Grid((128, 128), (2 * np.pi,) * 2), Grid((32, 32), (2 * np.pi,) * 2)
        >>> w = gaussian_random_field(jax.random.key(0), fine, alpha=2.5, tau=7.0)
        >>> downsample(w, fine, coarse).shape
        (32, 32)

    References:
        Pope (2000), "Turbulent Flows", Cambridge University Press, section 13.2.
    """
    _check_pair(grid, coarse_grid, ("grid", "coarse_grid"), coarser=True)
    return _resample(field, grid, coarse_grid, "field")


def upsample(field: Float[ArrayLike, "..."], grid: Grid, fine_grid: Grid) -> Float[Array, "..."]:
    r"""A periodic field on a finer grid by zero padding of its Fourier coefficients.

    The trigonometric interpolant of the coarse values (modes ``|m| < n/2``; the Nyquist
    mode of an even grid is dropped, as in :func:`downsample`), evaluated at
    ``fine_grid.periodic_points()``: spectral interpolation, exact for fields without
    Nyquist content, and the right inverse of :func:`downsample`
    (``downsample(upsample(f)) = f`` for such fields).

    Args:
        field: values at ``grid.periodic_points()``, shape ``(..., n_x, n_y)``.
        grid: the coarse periodic two-dimensional grid.
        fine_grid: the target grid: the same box, at least as many points per axis.

    Returns:
        The interpolated field, shape ``(..., n'_x, n'_y)``, of ``field``'s floating dtype.

    References:
        Boyd (2001), "Chebyshev and Fourier Spectral Methods", Dover, section 10.2.
    """
    _check_pair(grid, fine_grid, ("grid", "fine_grid"), coarser=False)
    return _resample(field, grid, fine_grid, "field")


# ---------------------------------------------------------------------------------------------
# Subgrid terms
# ---------------------------------------------------------------------------------------------


def _tendency_hat(solver: SpectralNavierStokes2D, hat: Array) -> Array:
    """The solver's full right-hand side ``dω̂/dt`` (advection, forcing, a ``"stage"``
    closure, viscosity and drag; dealiased) at one state's coefficients ``hat``, shape
    ``(n_x, n_y//2 + 1)``."""
    explicit, _ = solver._explicit(hat, solver._forcing_hat())
    return explicit + solver._linear().astype(hat.dtype) * hat


def _filtered_pair(
    fine: SpectralNavierStokes2D, coarse: SpectralNavierStokes2D, hat: Array
) -> tuple[Array, Array]:
    """``(ω̄, c)`` at the coarse grid points from one fine state's coefficients."""
    mask = jnp.asarray(_spectral_arrays(coarse.grid)["mask"])
    zero = jnp.zeros((), hat.dtype)

    def restrict(h):
        return jnp.where(mask, _resample_hat(h, fine.grid.shape, coarse.grid.shape), zero)

    filtered = restrict(hat)
    fine_rate = restrict(_tendency_hat(fine, hat))
    coarse_rate = _tendency_hat(coarse.with_closure(None), filtered)
    correction = jnp.where(mask, fine_rate - coarse_rate, zero)
    fields = jnp.fft.irfftn(jnp.stack([filtered, correction]), s=coarse.grid.shape, axes=(-2, -1))
    return fields[0], fields[1]


def _check_solvers(fine: Any, coarse: Any) -> None:
    for name, solver in (("fine_solver", fine), ("coarse_solver", coarse)):
        if not isinstance(solver, SpectralNavierStokes2D):
            raise TypeError(f"{name} must be a SpectralNavierStokes2D, got {type(solver).__name__}")
    _check_pair(fine.grid, coarse.grid, ("fine_solver.grid", "coarse_solver.grid"), coarser=True)
    if fine.dtype != coarse.dtype:
        raise ValueError(
            f"fine_solver and coarse_solver must share a dtype, got {fine.dtype} and {coarse.dtype}"
        )


def subgrid_correction(
    fine_solver: SpectralNavierStokes2D,
    coarse_solver: SpectralNavierStokes2D,
    vorticity: Float[ArrayLike, "..."],
) -> tuple[Float[Array, "..."], Float[Array, "..."]]:
    r"""The a priori closure target: filtered vorticity and the subgrid term it misses.

    With ``G`` the sharp spectral cut-off to the modes the coarse solver keeps (Fourier
    truncation to its 2/3-rule set ``|m_x| ≤ (n'_x - 1) // 3``, ``|m_y| ≤ (n'_y - 1) // 3``,
    mean removed) and ``F``, ``F̄`` the fine and coarse solvers' right-hand sides
    (``∂_t ω = F(ω)``: advection, viscosity, drag, forcing),

    .. math:: \bar ω = G ω, \qquad c = G F(ω) - \bar F(\bar ω),

    so a coarse model ``∂_t \bar ω = \bar F(\bar ω) + c(\bar ω)`` with this ``c`` follows
    the filtered fine solution exactly. When both solvers share ``ν``, ``α`` and a forcing
    the coarse grid resolves, the linear terms commute with ``G`` and ``c`` is the subgrid
    advection ``-G(u·∇ω) + \bar u·∇\bar ω`` (the divergence of the subfilter vorticity
    flux; Pope 2000, ch. 13). The coarse solver's own closure is ignored (``c`` is what a
    closure must supply); the fine solver's right-hand side is its full one.

    Args:
        fine_solver: the resolved (DNS) solver.
        coarse_solver: the coarse solver: the same box and dtype, at most as many points.
        vorticity: fine vorticity at ``fine_solver.grid.periodic_points()``, shape
            ``(..., n_x, n_y)``, 1/s (it is dealiased by the fine solver's 2/3 rule first).

    Returns:
        ``(filtered, correction)``: ``ω̄`` (1/s) and ``c`` (1/s²) at the coarse grid points,
        each of shape ``(..., n'_x, n'_y)``.

    References:
        Pope (2000), "Turbulent Flows", Cambridge University Press, chapter 13.
        Kochkov et al. (2021), "Machine learning-accelerated computational fluid dynamics",
        PNAS 118, e2101784118.
    """
    _check_solvers(fine_solver, coarse_solver)
    vorticity = jnp.asarray(vorticity)
    if vorticity.ndim < 2 or vorticity.shape[-2:] != fine_solver.grid.shape:
        raise ValueError(
            f"vorticity must have trailing shape {fine_solver.grid.shape}, got shape "
            f"{vorticity.shape}"
        )
    batch = vorticity.shape[:-2]
    flat = vorticity.reshape(-1, *fine_solver.grid.shape).astype(fine_solver.dtype)
    hats = vorticity_to_spectral(flat, fine_solver.grid)
    filtered, correction = _pairs(fine_solver, coarse_solver, hats)
    shape = (*batch, *coarse_solver.grid.shape)
    return filtered.reshape(shape), correction.reshape(shape)


@eqx.filter_jit
def _pairs(fine, coarse, hats):
    return jax.vmap(lambda h: _filtered_pair(fine, coarse, h))(hats)


# ---------------------------------------------------------------------------------------------
# Training data
# ---------------------------------------------------------------------------------------------


class ClosureData(eqx.Module):
    """Filtered fine trajectories and their subgrid terms (:func:`closure_training_data`).

    Attributes:
        vorticity: the filtered fine vorticity ``ω̄`` at the coarse grid points, shape
            ``(batch, snapshots, n'_x, n'_y)``, 1/s: the a priori inputs and the
            a posteriori targets (:func:`trajectory_windows`, :func:`a_posteriori_loss`).
        correction: the subgrid term ``c`` at the same snapshots (see
            :func:`subgrid_correction`), same shape, 1/s²: the a priori targets.
        time: the snapshot times, shape ``(snapshots,)``, s.
        coarse_steps: coarse time steps between consecutive snapshots (static), the
            ``steps_between`` of :func:`a_posteriori_loss`.
    """

    vorticity: Float[Array, "batch snapshots nx ny"]
    correction: Float[Array, "batch snapshots nx ny"]
    time: Float[Array, " snapshots"]
    coarse_steps: int = eqx.field(static=True)


def _steps_in(interval: float, dt: float, name: str, solver_name: str) -> int:
    steps = round(interval / dt)
    if steps < 1 or abs(steps * dt - interval) > 1e-9 * max(1.0, abs(interval)):
        raise ValueError(
            f"{name} ({interval:g} s) must be a positive multiple of {solver_name}.dt ({dt:g} s)"
        )
    return steps


def closure_training_data(
    fine_solver: SpectralNavierStokes2D,
    coarse_solver: SpectralNavierStokes2D,
    initial_vorticity: Float[ArrayLike, "..."],
    *,
    snapshots: int,
    snapshot_interval: float,
    warmup: float = 0.0,
) -> ClosureData:
    r"""Filtered fine-grid trajectories for training a closure of a coarse solver.

    Each fine initial field (e.g. :func:`~dmech.cfd.gaussian_random_field` samples, fixed
    seeds) is advanced by the fine solver (:func:`~dmech.cfd.rollout` of its vmapped
    ``step``, with blow-up and CFL detection) for ``warmup`` seconds, then for
    ``(snapshots - 1) · snapshot_interval``; at each snapshot the state is filtered to the
    coarse solver's resolved modes and its subgrid term computed
    (:func:`subgrid_correction`):

    - a priori training fits ``closure(ω̄) ≈ c`` on the pairs (:func:`a_priori_loss`);
    - a posteriori training unrolls the coarse solver with the closure between snapshots
      and matches the filtered trajectory (:func:`a_posteriori_loss`, the
      solver-in-the-loop approach of Um et al. 2020 and Kochkov et al. 2021).

    ``snapshot_interval`` must be a multiple of both solvers' ``dt`` (and ``warmup`` of the
    fine one), so the a posteriori targets fall on coarse time steps.

    Args:
        fine_solver: the resolved solver (its forcing, viscosity and drag define the flow).
        coarse_solver: the solver to be corrected: the same box and dtype, a coarser grid.
        initial_vorticity: fine initial fields, shape ``(batch, n_x, n_y)`` (or
            ``(n_x, n_y)`` for one), 1/s.
        snapshots: the number of snapshots per trajectory, ≥ 1 (the first at ``warmup``).
        snapshot_interval: seconds between snapshots.
        warmup: seconds of fine simulation before the first snapshot (spin-up to the
            statistically steady state of a forced flow), a multiple of the fine ``dt``.

    Returns:
        A :class:`ClosureData` (batch axis 1 for a single initial field).

    Raises:
        ValueError: mismatched solvers or shapes, intervals that are not multiples of the
            time steps, an initial field above the fine solver's CFL limit.
        FloatingPointError: the fine rollout blew up or broke its CFL limit (naming the
            step).

    Example:
        >>> flow = dict(viscosity=2e-3, drag=0.1, forcing="kolmogorov", forcing_wavenumber=4)
        >>> fine = SpectralNavierStokes2D(Grid((128, 128), (2 * np.pi,) * 2), dt=0.004, **flow)
        >>> coarse = SpectralNavierStokes2D(Grid((32, 32), (2 * np.pi,) * 2), dt=0.016, **flow)
        >>> w0 = gaussian_random_field(jax.random.key(0), fine.grid, alpha=2.5, tau=7.0,
        ...                            batch=(8,))
        >>> data = closure_training_data(fine, coarse, w0, snapshots=101,
        ...                              snapshot_interval=0.032, warmup=10.0)
        >>> data.vorticity.shape, data.coarse_steps
        ((8, 101, 32, 32), 2)

    References:
        Um, Brand, Fei, Holl and Thuerey (2020), "Solver-in-the-loop: learning from
        differentiable physics to interact with iterative PDE-solvers", NeurIPS.
        Kochkov et al. (2021), "Machine learning-accelerated computational fluid dynamics",
        PNAS 118, e2101784118.
    """
    _check_solvers(fine_solver, coarse_solver)
    snapshots = positive_int(snapshots, "snapshots")
    fine_steps = _steps_in(snapshot_interval, fine_solver.dt, "snapshot_interval", "fine_solver")
    coarse_steps = _steps_in(
        snapshot_interval, coarse_solver.dt, "snapshot_interval", "coarse_solver"
    )
    if not warmup >= 0:
        raise ValueError(f"warmup must be non-negative, got {warmup}")
    warm_steps = 0 if warmup == 0 else _steps_in(warmup, fine_solver.dt, "warmup", "fine_solver")
    w0 = jnp.asarray(initial_vorticity)
    if w0.ndim == 2:
        w0 = w0[None]
    if w0.ndim != 3 or w0.shape[-2:] != fine_solver.grid.shape:
        raise ValueError(
            f"initial_vorticity must have shape (batch, {fine_solver.grid.shape[0]}, "
            f"{fine_solver.grid.shape[1]}), got shape {jnp.shape(initial_vorticity)}"
        )
    state = fine_solver.init(w0)  # checks every field's CFL number
    step = jax.vmap(fine_solver.step)
    if warm_steps:
        state = rollout(step, state, warm_steps, every=warm_steps, checkpoint=False).state

    def observe(state):
        return _pairs(fine_solver, coarse_solver, state.vorticity_hat)

    first = observe(state)
    if snapshots > 1:
        later = rollout(
            step,
            state,
            (snapshots - 1) * fine_steps,
            every=fine_steps,
            observe=observe,
            checkpoint=False,
        ).trajectory
        pairs = [jnp.concatenate([a[None], b], axis=0) for a, b in zip(first, later, strict=True)]
    else:
        pairs = [a[None] for a in first]
    filtered, correction = (jnp.moveaxis(p, 0, 1) for p in pairs)
    start = warm_steps * fine_solver.dt
    times = start + snapshot_interval * np.arange(snapshots)
    return ClosureData(
        vorticity=filtered,
        correction=correction,
        time=jnp.asarray(times, fine_solver.dtype),
        coarse_steps=coarse_steps,
    )


def trajectory_windows(
    trajectories: Float[ArrayLike, "..."], length: int, *, stride: int = 1
) -> Float[Array, "..."]:
    """Overlapping windows of ``length`` consecutive snapshots, the a posteriori samples.

    Args:
        trajectories: shape ``(batch, snapshots, ...)`` (e.g. ``ClosureData.vorticity``).
        length: snapshots per window, ``2 ≤ length ≤ snapshots``.
        stride: snapshots between the starts of consecutive windows.

    Returns:
        Shape ``(batch · windows, length, ...)`` with
        ``windows = (snapshots - length) // stride + 1``, ordered by trajectory then start.
    """
    trajectories = jnp.asarray(trajectories)
    if trajectories.ndim < 2:
        raise ValueError(
            f"trajectories must have shape (batch, snapshots, ...), got {trajectories.shape}"
        )
    count = trajectories.shape[1]
    length, stride = positive_int(length, "length"), positive_int(stride, "stride")
    if not 2 <= length <= count:
        raise ValueError(f"length must be between 2 and the {count} snapshots, got {length}")
    starts = np.arange(0, count - length + 1, stride)
    index = starts[:, None] + np.arange(length)[None, :]  # (windows, length)
    windows = trajectories[:, index]  # (batch, windows, length, ...)
    return windows.reshape(-1, length, *trajectories.shape[2:])


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------


def _check_fields(name: str, array: Any, grid: Grid, lead: int) -> Array:
    array = jnp.asarray(array)
    if array.ndim != lead + 2 or array.shape[-2:] != grid.shape:
        dims = ", ".join(["..."] * lead + [str(n) for n in grid.shape])
        raise ValueError(
            f"{name} must have shape ({dims}) with {lead} leading axes, got shape {array.shape}"
        )
    return array


def a_priori_loss(
    closure: Callable[[Array], Array],
    coarse_solver: SpectralNavierStokes2D,
    filtered: Float[ArrayLike, "..."],
    correction: Float[ArrayLike, "..."],
) -> Float[Array, ""]:
    r"""The relative mean-squared error of a closure's subgrid term on filtered data.

    .. math:: L = \frac{\sum_b \lVert P\, \mathrm{closure}(\bar ω_b) - c_b \rVert^2}
       {\sum_b \lVert c_b \rVert^2},

    with ``P`` the coarse solver's 2/3-rule projection (what the solver does to the
    closure's output before using it).

    Args:
        closure: ``ω̄ -> c``, fields of shape ``coarse_solver.grid.shape`` (vmapped here).
        coarse_solver: the coarse solver (its grid defines ``P``).
        filtered: ``ω̄``, shape ``(batch, n'_x, n'_y)``, 1/s.
        correction: the targets ``c`` (:func:`subgrid_correction`), the same shape, 1/s².

    Returns:
        The scalar loss (0 for a perfect closure, 1 for the zero closure).
    """
    grid = coarse_solver.grid
    filtered = _check_fields("filtered", filtered, grid, 1)
    correction = _check_fields("correction", correction, grid, 1)
    predicted = jax.vmap(closure)(filtered).astype(correction.dtype)
    hat = jnp.fft.rfftn(predicted, axes=(-2, -1))
    mask = jnp.asarray(_spectral_arrays(grid)["mask"])[None]
    hat = jnp.where(mask, hat, jnp.zeros((), hat.dtype))
    predicted = jnp.fft.irfftn(hat, s=grid.shape, axes=(-2, -1))
    return jnp.sum((predicted - correction) ** 2) / jnp.sum(correction**2)


def a_posteriori_loss(
    closure: Callable[[Array], Array] | None,
    coarse_solver: SpectralNavierStokes2D,
    windows: Float[ArrayLike, "..."],
    *,
    steps_between: int = 1,
    checkpoint: bool = True,
    throw: bool = True,
) -> Float[Array, ""]:
    r"""The unrolled (solver-in-the-loop) loss of a closure along filtered trajectories.

    For each window ``(ω̄_0, …, ω̄_{K})`` of filtered fine snapshots ``steps_between`` coarse
    steps apart, the coarse solver with the closure is rolled out from ``ω̄_0``
    (:func:`~dmech.cfd.rollout`, gradient checkpointing per snapshot) and compared at
    every snapshot:

    .. math:: L = \frac{1}{B} \sum_b \frac{\sum_{k=1}^{K} \lVert \hat ω_{b,k} - \bar ω_{b,k}
       \rVert^2}{\sum_{k=1}^{K} \lVert \bar ω_{b,k} \rVert^2},

    so gradients flow through ``K · steps_between`` solver steps into the closure's
    parameters: the closure learns to correct the accumulated error of the coarse
    dynamics, not a one-step target (Um et al. 2020; Kochkov et al. 2021).

    Args:
        closure: ``ω̄ -> correction to dω̄/dt`` on ``coarse_solver.grid.shape`` (an equinox
            Module: differentiate with ``equinox.filter_grad``), or ``None`` for the
            uncorrected coarse model.
        coarse_solver: the coarse solver (its own closure is replaced).
        windows: shape ``(batch, K + 1, n'_x, n'_y)`` (:func:`trajectory_windows` of
            ``ClosureData.vorticity``), 1/s.
        steps_between: coarse time steps between snapshots (``ClosureData.coarse_steps``).
        checkpoint: rematerialise the steps between snapshots in the backward pass.
        throw: raise (an equinox runtime error inside ``jit``/``grad``) when a rollout
            blows up or breaks the CFL limit, rather than returning a non-finite loss.

    Returns:
        The scalar loss.

    Example:
        >>> windows = trajectory_windows(data.vorticity, 3)  # data: ClosureData
        >>> loss = lambda model, batch, key: a_posteriori_loss(
        ...     model, coarse, batch, steps_between=data.coarse_steps)
        >>> trained = dmech.train.fit(cnn, loss, optax.adam(1e-3), windows,
        ...                           key=jax.random.key(0), steps=400, batch_size=8).model

    References:
        Um, Brand, Fei, Holl and Thuerey (2020), "Solver-in-the-loop: learning from
        differentiable physics to interact with iterative PDE-solvers", NeurIPS.
        Kochkov et al. (2021), "Machine learning-accelerated computational fluid dynamics",
        PNAS 118, e2101784118.
    """
    grid = coarse_solver.grid
    windows = _check_fields("windows", windows, grid, 2)
    if windows.shape[1] < 2:
        raise ValueError(f"windows must hold at least 2 snapshots, got {windows.shape[1]}")
    steps_between = positive_int(steps_between, "steps_between")
    solver = coarse_solver.with_closure(closure)
    count = windows.shape[1] - 1

    def one(window):
        state = solver.init(window[0])
        predicted = rollout(
            solver.step,
            state,
            count * steps_between,
            every=steps_between,
            observe=solver.vorticity,
            checkpoint=checkpoint,
            throw=throw,
        ).trajectory
        target = window[1:]
        return jnp.sum((predicted - target) ** 2) / jnp.sum(target**2)

    return jnp.mean(jax.vmap(one)(windows.astype(solver.dtype)))


def vorticity_correlation(
    a: Float[ArrayLike, "..."], b: Float[ArrayLike, "..."]
) -> Float[Array, "..."]:
    r"""The correlation of two vorticity fields over their last two (spatial) axes,
    ``ρ = Σ a b / (Σ a² Σ b²)^{1/2}`` (Kochkov et al. 2021's measure; both fields have zero
    mean on a periodic box, so this is Pearson's coefficient).

    Args:
        a: shape ``(..., n_x, n_y)``.
        b: the same shape.

    Returns:
        Shape ``(...)``, values in ``[-1, 1]``.
    """
    a, b = jnp.asarray(a), jnp.asarray(b)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"a and b must have one shape (..., nx, ny), got {a.shape}, {b.shape}")
    axes = (-2, -1)
    return jnp.sum(a * b, axis=axes) / jnp.sqrt(
        jnp.sum(a * a, axis=axes) * jnp.sum(b * b, axis=axes)
    )
