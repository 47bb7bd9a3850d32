"""The result of every DMD variant, forecasting (`predict`) and reconstruction, and the
argument checks the variants share."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Complex, Float, Inexact, Int

__all__ = ["AbstractKoopmanModel", "DMDModel", "predict", "reconstruct"]


class AbstractKoopmanModel(eqx.Module):
    r"""A linear model of the dynamics, ``x(t) ≈ Σ_k φ_k b_k(x₀) λ_k^{t/Δt}``: a DMD fit or an
    EDMD approximation of the Koopman operator. :func:`predict` and :func:`reconstruct` take
    either; subclasses say how a state is turned into mode amplitudes (:meth:`coordinates`).
    """

    modes: eqx.AbstractVar[Complex[Array, "n_state r"]]
    eigenvalues: eqx.AbstractVar[Complex[Array, " r"]]
    amplitudes: eqx.AbstractVar[Complex[Array, " r"]]
    dt: eqx.AbstractVar[Float[Array, ""]]
    t0: eqx.AbstractVar[Float[Array, ""]]
    real_data: eqx.AbstractVar[bool]

    def coordinates(self, x0: Inexact[Array, "..."]) -> Complex[Array, " r"]:
        """The amplitudes ``b(x₀)`` of the modes for a state, shape ``(r,)``."""
        raise NotImplementedError

    def powers(self, steps: Float[Array, " time"]) -> Complex[Array, "r time"]:
        """``λ_k^{s_j}`` for real (possibly fractional) steps ``s_j = t_j/Δt``, shape ``(r, T)``."""
        return _powers(self.eigenvalues, steps)

    @property
    def rank(self) -> int:
        """The number of modes ``r``."""
        return int(self.eigenvalues.shape[0])

    @property
    def continuous_eigenvalues(self) -> Complex[Array, " r"]:
        """``ω_k = log(λ_k) / Δt`` (principal logarithm), shape ``(r,)``, per unit time."""
        return _safe_log(self.eigenvalues) / self.dt.astype(self.eigenvalues.dtype)

    @property
    def frequencies(self) -> Float[Array, " r"]:
        """``Im(ω_k) / (2π)``, cycles per unit time, shape ``(r,)``."""
        return self.continuous_eigenvalues.imag / (2 * np.pi)

    @property
    def growth_rates(self) -> Float[Array, " r"]:
        """``Re(ω_k) = log|λ_k| / Δt``, per unit time (negative: decaying), shape ``(r,)``."""
        return self.continuous_eigenvalues.real


class DMDModel(AbstractKoopmanModel):
    r"""A fitted dynamic mode decomposition: ``x(t) ≈ Σ_k φ_k b_k λ_k^{(t − t₀)/Δt}``.

    Every DMD variant returns one. Arrays are leaves (differentiable, vmappable); ``real_data``
    is static.

    Attributes:
        modes: the DMD modes ``φ_k`` as columns, shape ``(n_state, r)``, complex.
        eigenvalues: the discrete-time eigenvalues ``λ_k`` (over one step ``dt``), shape
            ``(r,)``, complex.
        amplitudes: ``b_k``, the mode amplitudes at ``t0``, shape ``(r,)``, complex.
        dt: the time step that ``eigenvalues`` advance, shape ``()`` (units of time).
        t0: the time of the first snapshot, where ``amplitudes`` apply, shape ``()``.
        control_matrix: DMD with control's input matrix ``B``, shape ``(n_state, n_control)``
            (``x_{k+1} = A x_k + B u_k``), or ``None``.
        continuous_eigenvalues_std, modes_std, amplitudes_std: BOP-DMD's ensemble standard
            deviations of the continuous-time eigenvalues, the modes and the amplitudes
            (shapes ``(r,)``, ``(n_state, r)``, ``(r,)``), or ``None``.
        iterations: iterations of an iterative fit (variable projection, ADMM), or ``None``.
        converged: whether that iteration converged, or ``None``.
        real_data: the snapshots were real (forecasts are then returned real).
    """

    modes: Complex[Array, "n_state r"]
    eigenvalues: Complex[Array, " r"]
    amplitudes: Complex[Array, " r"]
    dt: Float[Array, ""]
    t0: Float[Array, ""]
    control_matrix: Inexact[Array, "n_state n_control"] | None = None
    continuous_eigenvalues_std: Float[Array, " r"] | None = None
    modes_std: Float[Array, "n_state r"] | None = None
    amplitudes_std: Float[Array, " r"] | None = None
    iterations: Int[Array, ""] | None = None
    converged: Bool[Array, ""] | None = None
    real_data: bool = eqx.field(static=True, default=True)

    def coordinates(self, x0: Inexact[Array, "..."]) -> Complex[Array, " r"]:
        """The least-squares coordinates ``Φ⁺ x₀`` of a state on the modes, shape ``(r,)``."""
        n_state = self.modes.shape[0]
        if jnp.shape(x0) != (n_state,):
            raise ValueError(f"`x0` must have shape ({n_state},) (n_state); got {jnp.shape(x0)}.")
        return modes_pinv(self.modes) @ jnp.asarray(x0).astype(self.modes.dtype)


def modes_pinv(modes: jax.Array) -> jax.Array:
    """``Φ⁺`` of a tall mode matrix ``(n_state, r)``, singular values below ``10 r ε σ_max``
    dropped. ``jnp.linalg.pinv``'s default cut-off grows with the row count,
    ``10 max(n_state, r) ε``, and at ``n_state = 10⁶`` in single precision it exceeds 1 and
    drops every singular value; the SVD's rounding error does not grow with the rows like
    that. ``pinv`` (not ``lstsq``) because its derivative stays finite when singular values
    repeat (orthonormal modes)."""
    rtol = 10 * modes.shape[-1] * float(jnp.finfo(modes.dtype).eps)
    return jnp.linalg.pinv(modes, rtol=rtol)


def _safe_log(z: jax.Array) -> jax.Array:
    """``log z``, with ``log 0 = −∞`` and no NaN in its derivative at 0."""
    zero = z == 0
    safe = jnp.where(zero, jnp.ones_like(z), z)
    return jnp.where(zero, jnp.asarray(-jnp.inf, z.dtype), jnp.log(safe))


def _powers(eigenvalues: jax.Array, steps: jax.Array) -> jax.Array:
    """``λ_k^{s_j}`` for real (possibly fractional) ``s``, shape ``(r, T)``; ``0^0 = 1``."""
    zero = eigenvalues == 0
    safe = jnp.where(zero, jnp.ones_like(eigenvalues), eigenvalues)
    exponent = jnp.log(safe)[:, None] * steps[None, :].astype(eigenvalues.dtype)
    powered = jnp.exp(exponent)
    at_zero = jnp.where(steps[None, :] == 0, 1.0, 0.0).astype(eigenvalues.dtype)
    return jnp.where(zero[:, None], at_zero, powered)


def _output(model: AbstractKoopmanModel, values: jax.Array, complex_input: bool) -> jax.Array:
    return values if (complex_input or not model.real_data) else values.real


def _check_model(model: Any) -> None:
    if not isinstance(model, AbstractKoopmanModel):
        raise TypeError(
            "`model` must be a DMDModel or an EDMDModel (from a DMD or EDMD function); "
            f"got {type(model).__name__}."
        )


def _check_times(t: Any, name: str = "t") -> None:
    shape = jnp.shape(t)
    if len(shape) != 1 or shape[0] < 1:
        raise ValueError(f"`{name}` must be a non-empty vector of times; got shape {shape}.")
    if jnp.iscomplexobj(t):
        raise TypeError(f"`{name}` must be real times; got a complex array.")


def predict(
    model: AbstractKoopmanModel,
    x0: Inexact[ArrayLike, "..."],
    t: Float[ArrayLike, "..."],
    control: Inexact[ArrayLike, "..."] | None = None,
) -> Inexact[Array, "n_state time"]:
    r"""Forecast from an initial state: ``x(t_j) = Φ diag(λ^{t_j/Δt}) b(x₀)``.

    For a DMD model the amplitudes of ``x0`` are its least-squares coordinates on the modes,
    ``b = Φ⁺ x₀``; for an EDMD model they are the Koopman eigenfunctions at ``x0``,
    ``b = φ(x₀)`` (with delays, ``x0`` is the window of the last ``d + 1`` states). ``t`` is
    measured from the time of ``x0`` and may be non-uniform (fractional powers
    ``λ^{t/Δt} = exp(ω t)`` with the principal logarithm).

    With ``control`` (a model from :func:`dmd_with_control`), the discrete dynamics
    ``x_{k+1} = Φ Λ Φ⁺ x_k + B u_k`` are stepped: ``t`` must then be ``k Δt`` for
    ``k = 0, …, K`` and ``control`` holds ``u_0, …, u_{K−1}``.

    Args:
        model: a fitted :class:`DMDModel` or :class:`~koopman.EDMDModel`.
        x0: the initial state, shape ``(n_state,)`` (``(n_state, d + 1)``, oldest first, for
            an EDMD model with ``d`` delays).
        t: times since ``x0``, shape ``(T,)`` (same units as ``model.dt``).
        control: inputs ``u_k`` as columns, shape ``(n_control, T − 1)``, for a DMDc model.

    Returns:
        The states as columns, shape ``(n_state, T)``: real when the model was fitted to real
        data and ``x0`` is real, complex otherwise.

    Raises:
        ValueError: for shapes that do not match the model, a non-uniform ``t`` with
            ``control``, or ``control`` for a model without a control matrix (or the reverse).
        TypeError: if ``model`` is not a DMD or EDMD model.

    References:
        Schmid (2010), J. Fluid Mech. 656, 5-28; Proctor, Brunton and Kutz (2016), SIAM J.
        Appl. Dyn. Syst. 15(1), 142-161 (with control).
    """
    _check_model(model)
    _check_times(t)
    x0 = jnp.asarray(x0)
    amplitudes = model.coordinates(x0)
    t = jnp.asarray(t, model.dt.dtype)
    complex_input = jnp.iscomplexobj(x0)
    ctype = model.modes.dtype
    control_matrix = getattr(model, "control_matrix", None)
    if control is None:
        if control_matrix is not None:
            raise ValueError("`control` is required: this model has a control matrix (DMDc).")
        steps = (t / model.dt).astype(model.dt.dtype)
        values = model.modes @ (amplitudes[:, None] * model.powers(steps))
        return _output(model, values, complex_input)
    if control_matrix is None:
        raise ValueError("`control` was given, but this model has no control matrix (not DMDc).")
    pinv = modes_pinv(model.modes)
    control = jnp.asarray(control)
    n_control = control_matrix.shape[1]
    if control.ndim != 2 or control.shape != (n_control, t.shape[0] - 1):
        raise ValueError(
            f"`control` must have shape ({n_control}, {t.shape[0] - 1}) (n_control, len(t) - 1); "
            f"got {control.shape}."
        )
    if not isinstance(t, jax.core.Tracer) and not isinstance(model.dt, jax.core.Tracer):
        expected = float(model.dt) * np.arange(t.shape[0])
        if not np.allclose(
            np.asarray(t, np.float64), expected, rtol=1e-6, atol=1e-9 * float(model.dt)
        ):
            raise ValueError(
                "`t` must be k·dt, k = 0, 1, …, when `control` is given (a discrete system)."
            )
    complex_input = complex_input or jnp.iscomplexobj(control)
    pushed = (control_matrix @ control.astype(control_matrix.dtype)).astype(ctype)
    forcing = pinv @ pushed

    def step(z: jax.Array, f: jax.Array) -> tuple[jax.Array, jax.Array]:
        z_next = model.eigenvalues * z + f
        return z_next, model.eigenvalues * z

    _, advanced = jax.lax.scan(step, amplitudes, forcing.T)
    # x_{k+1} = Φ Λ z_k + B u_k, z_k = Φ⁺ x_k
    later = model.modes @ advanced.T + pushed
    values = jnp.concatenate([x0.astype(ctype)[:, None], later], axis=1)
    return _output(model, values, complex_input)


def reconstruct(
    model: AbstractKoopmanModel, t: Float[ArrayLike, "..."]
) -> Inexact[Array, "n_state time"]:
    r"""The fitted trajectory ``x(t) = Φ diag(b) λ^{(t − t₀)/Δt}`` at the times ``t``.

    Args:
        model: a fitted :class:`DMDModel` or :class:`~koopman.EDMDModel` (its amplitudes
            are the eigenfunctions at the first fitted snapshot).
        t: absolute times, shape ``(T,)``, any spacing (inside or beyond the fitted window).

    Returns:
        The states as columns, shape ``(n_state, T)``, real for a model fitted to real data.

    Raises:
        ValueError: for a ``t`` that is not a vector.
        TypeError: if ``model`` is not a DMD or EDMD model.

    References:
        Schmid (2010), J. Fluid Mech. 656, 5-28.
    """
    _check_model(model)
    _check_times(t)
    t = jnp.asarray(t, model.dt.dtype)
    steps = ((t - model.t0) / model.dt).astype(model.dt.dtype)
    values = model.modes @ (model.amplitudes[:, None] * model.powers(steps))
    return _output(model, values, False)


# ---------------------------------------------------------------------------------------------
# Shared argument checks
# ---------------------------------------------------------------------------------------------


def check_snapshots(snapshots: Any, name: str = "snapshots", min_columns: int = 2) -> None:
    """Raise for anything but a floating or complex matrix with ``min_columns`` columns or more."""
    shape = jnp.shape(snapshots)
    if len(shape) != 2:
        raise ValueError(
            f"`{name}` must be a matrix (n_state, n_snapshots), snapshots as columns; got {shape}."
        )
    if shape[0] < 1 or shape[1] < min_columns:
        raise ValueError(
            f"`{name}` needs {min_columns}+ snapshots (columns) and a state; got shape {shape}."
        )
    dtype = jnp.result_type(snapshots)
    if not jnp.issubdtype(dtype, jnp.inexact):
        raise TypeError(f"`{name}` must be floating or complex; got dtype {dtype}.")


def check_rank(rank: Any, name: str = "rank") -> None:
    """Raise for a rank that is not an int ≥ 1, a float in (0, 1), ``"optimal"`` or ``"full"``."""
    if isinstance(rank, str):
        if rank not in ("optimal", "full"):
            raise ValueError(
                f'`{name}` must be an int, a float in (0, 1), "optimal" or "full"; got {rank!r}.'
            )
        return
    if isinstance(rank, bool) or not isinstance(rank, (int, float, np.integer, np.floating)):
        raise ValueError(
            f'`{name}` must be an int, a float in (0, 1), "optimal" or "full"; got {rank!r}.'
        )
    if isinstance(rank, (int, np.integer)) and rank < 1:
        raise ValueError(f"`{name}` must be at least 1; got {rank}.")
    if isinstance(rank, (float, np.floating)) and not 0 < rank < 1:
        raise ValueError(f"an energy `{name}` must lie in (0, 1); got {rank}.")


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}; got {value!r}.")


def real_dtype(dtype: Any) -> np.dtype:
    return np.dtype(jnp.finfo(dtype).dtype)
