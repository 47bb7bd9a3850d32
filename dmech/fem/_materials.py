r"""Small-strain constitutive laws evaluated at one material point.

Every law has the signature

    law(strain, state, params) -> (stress, new_state)

- ``strain``: the total small strain in 3D Voigt notation, shape ``(6,)``, order
  ``[ε_xx, ε_yy, ε_zz, γ_yz, γ_xz, γ_xy]`` with engineering shear strains ``γ = 2ε``
  (plane-strain problems pass zeros for ``ε_zz, γ_yz, γ_xz``; the laws are always 3D).
- ``state``: a pytree of arrays, the history at the start of the load step (the converged
  values of the previous step).
- ``params``: a dict of scalar material parameters (floats or arrays of shape ``()``; they are
  pytree leaves, so they can be differentiated and vmapped over, e.g. one set per cell).
- ``stress``: the Cauchy stress in Voigt order ``[σ_xx, σ_yy, σ_zz, σ_yz, σ_xz, σ_xy]`` (shear
  stresses not doubled), shape ``(6,)``, in the dtype of ``strain``.
- ``new_state``: the history at the end of the step, with the structure (and leaf dtypes) of
  ``state``.

The finite-element layer vmaps a law over quadrature points and obtains the consistent
(algorithmic) tangent as ``jax.jacfwd(lambda e: law(e, state, params)[0])(strain)``; the laws
here are written so that this derivative is finite everywhere, including the elastic branch
and zero strain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, ArrayLike, Bool, DTypeLike, Float, PyTree
from .._static import is_concrete
from .._voigt import from_voigt, to_voigt

_SQRT_2_3 = float(np.sqrt(2.0 / 3.0))


# --- tensor helpers -----------------------------------------------------------------------------


def _deviator(t: Float[Array, "3 3"]) -> Float[Array, "3 3"]:
    return t - jnp.trace(t) / 3 * jnp.eye(3, dtype=t.dtype)


def _safe_norm(t: Float[Array, "3 3"]) -> Float[Array, ""]:
    """Frobenius norm ``√(t:t)`` whose derivative at ``t = 0`` is 0 instead of NaN (the double
    ``where`` keeps the ``sqrt`` of zero out of the differentiated branch)."""
    squared = jnp.sum(t * t)
    positive = squared > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1)), 0)


# --- argument handling --------------------------------------------------------------------------


def _as_strain(strain) -> Array:
    strain = jnp.asarray(strain)
    if strain.shape != (6,):
        raise ValueError(
            "strain must be a 3D Voigt vector of shape (6,) "
            f"[xx, yy, zz, yz, xz, xy] (engineering shear); got shape {strain.shape}"
        )
    if not jnp.issubdtype(strain.dtype, jnp.inexact):
        strain = strain.astype(jnp.result_type(float))
    return strain


def _params(params, checks: dict[str, Callable[[np.ndarray], bool]], what: str, dtype):
    """Read scalar parameters from ``params`` in ``dtype``; check concrete values."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of material parameters; got {type(params)}")
    missing = [name for name in checks if name not in params]
    if missing:
        raise ValueError(
            f"params is missing {missing} (the {what} law needs {list(checks)}); "
            f"got keys {sorted(params)}"
        )
    out = []
    for name, ok in checks.items():
        value = jnp.asarray(params[name])
        if value.shape != ():
            raise ValueError(
                f"params[{name!r}] must be a scalar (shape ()); got shape {value.shape}. "
                "For per-point fields, vmap the law over the parameters."
            )
        if is_concrete(value) and not ok(np.asarray(value)):
            raise ValueError(f"params[{name!r}] out of range: {np.asarray(value)}")
        out.append(value.astype(dtype))
    return out


_ELASTIC_CHECKS: dict[str, Callable[[np.ndarray], bool]] = {
    "youngs_modulus": lambda v: bool(v > 0),
    "poissons_ratio": lambda v: bool(-1 < v < 0.5),
}


def _lame(e: Array, nu: Array) -> tuple[Array, Array]:
    """Bulk and shear moduli ``κ = E/(3(1-2ν))``, ``μ = E/(2(1+ν))``."""
    return e / (3 * (1 - 2 * nu)), e / (2 * (1 + nu))


# --- linear elasticity --------------------------------------------------------------------------


def linear_elastic(
    strain: Float[ArrayLike, "..."], state: PyTree, params: PyTree
) -> tuple[Float[Array, "6"], PyTree]:
    r"""Isotropic linear elasticity at a material point.

    $$σ = λ\,\mathrm{tr}(ε)\,\mathbf 1 + 2μ\,ε,\qquad λ = \frac{Eν}{(1+ν)(1-2ν)},\quad
    μ = \frac{E}{2(1+ν)},$$

    the same map as ``isotropic_elasticity(E, ν, dim=3) @ strain``.

    Args:
        strain: total strain, Voigt ``[ε_xx, ε_yy, ε_zz, γ_yz, γ_xz, γ_xy]`` with engineering
            shear, shape ``(6,)`` (dimensionless).
        state: the law has no history: pass the empty tuple ``()``; it is returned unchanged.
        params: ``{"youngs_modulus": E, "poissons_ratio": ν}``, scalars; ``E > 0`` in units of
            stress, ``-1 < ν < 1/2``.

    Returns:
        ``(stress, state)``: the Cauchy stress in Voigt order (shear not doubled), shape
        ``(6,)``, in the units of ``E`` and the dtype of ``strain``; and ``state`` unchanged.

    Raises:
        ValueError: if ``strain`` is not of shape ``(6,)``, a parameter is missing, not a
            scalar, or (when concrete) out of range, naming it.

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.fem import linear_elastic
        >>> params = {"youngs_modulus": 200e3, "poissons_ratio": 0.3}
        >>> stress, state = linear_elastic(jnp.array([1e-3, 0, 0, 0, 0, 0]), (), params)
    """
    strain = _as_strain(strain)
    e, nu = _params(params, _ELASTIC_CHECKS, "linear_elastic", strain.dtype)
    kappa, mu = _lame(e, nu)
    lam = kappa - 2 * mu / 3
    trace = jnp.sum(strain[:3])
    normal = lam * trace + 2 * mu * strain[:3]
    return jnp.concatenate([normal, mu * strain[3:]]), state


# --- J2 plasticity ------------------------------------------------------------------------------

_J2_CHECKS: dict[str, Callable[[np.ndarray], bool]] = {
    **_ELASTIC_CHECKS,
    "yield_stress": lambda v: bool(v > 0),
    "isotropic_hardening": lambda v: bool(v >= 0),
    "kinematic_hardening": lambda v: bool(v >= 0),
}
_J2_STATE_SHAPES = {
    "plastic_strain": (6,),
    "equivalent_plastic_strain": (),
    "backstress": (6,),
}


def j2_initial_state(
    batch_shape: tuple[int, ...] = (), dtype: DTypeLike | None = None
) -> dict[str, Array]:
    """The virgin (zero) history of :func:`j2_plasticity`.

    Args:
        batch_shape: leading shape for a field of states, e.g. ``(num_cells, q)`` for one
            state per quadrature point (to be vmapped over); ``()`` for one point.
        dtype: floating dtype of the arrays; default JAX's default float dtype.

    Returns:
        ``{"plastic_strain": zeros(batch_shape + (6,)), "equivalent_plastic_strain":
        zeros(batch_shape), "backstress": zeros(batch_shape + (6,))}``.
    """
    batch_shape = tuple(batch_shape)
    if any(not isinstance(n, int) or n < 0 for n in batch_shape):
        raise ValueError(f"batch_shape must be a tuple of non-negative ints; got {batch_shape}")
    return {name: jnp.zeros(batch_shape + shape, dtype) for name, shape in _J2_STATE_SHAPES.items()}


def _check_j2_state(state) -> None:
    if not isinstance(state, dict) or set(state) != set(_J2_STATE_SHAPES):
        got = sorted(state) if isinstance(state, dict) else type(state)
        raise ValueError(
            f"state must be a dict with keys {sorted(_J2_STATE_SHAPES)} (see j2_initial_state); "
            f"got {got}"
        )
    for name, shape in _J2_STATE_SHAPES.items():
        got_shape = jnp.shape(state[name])
        if got_shape != shape:
            raise ValueError(
                f"state[{name!r}] must have shape {shape} (one material point; vmap over "
                f"fields of states); got {got_shape}"
            )


def j2_plasticity(
    strain: Float[ArrayLike, "..."], state: PyTree, params: PyTree
) -> tuple[Float[Array, "6"], PyTree]:
    r"""Small-strain von Mises plasticity with linear isotropic and kinematic hardening.

    Additive split ``ε = ε^e + ε^p``, ``σ = κ\,\mathrm{tr}(ε - ε^p)\,\mathbf 1 +
    2μ\,\mathrm{dev}(ε - ε^p)``, yield function

    $$f(σ, β, α) = \lVert \mathrm{dev}\,σ - β \rVert - \sqrt{2/3}\,(σ_y + H_{iso}\,α),$$

    associative flow ``dε^p = dγ\,n`` with ``n = ξ/‖ξ‖``, ``ξ = \mathrm{dev}\,σ - β``,
    equivalent plastic strain ``dα = \sqrt{2/3}\,‖dε^p‖`` and Prager's rule
    ``dβ = \tfrac23 H_{kin}\,dε^p``. In uniaxial tension the material yields at
    ``|σ - β_{xx}^{1D}| = σ_y + H_{iso} α`` and the tangent modulus after yield is
    ``E H_t/(E + H_t)``, ``H_t = H_{iso} + H_{kin}``; with pure kinematic hardening the reverse
    yield after loading to ``σ_{max}`` is at ``σ_{max} - 2σ_y`` (Bauschinger effect).

    One backward-Euler step by radial return, exact in closed form for linear hardening: with
    the trial state ``ξ^{tr} = 2μ\,\mathrm{dev}(ε - ε^p_n) - β_n`` and
    ``f^{tr} = ‖ξ^{tr}‖ - \sqrt{2/3}(σ_y + H_{iso} α_n)``,

    $$Δγ = \frac{\langle f^{tr}\rangle}{2μ + \tfrac23 (H_{iso} + H_{kin})},\quad
    σ = σ^{tr} - 2μ Δγ\,n,\quad ε^p = ε^p_n + Δγ\,n,\quad α = α_n + \sqrt{2/3}Δγ,\quad
    β = β_n + \tfrac23 H_{kin} Δγ\,n.$$

    The stress is differentiable everywhere (the norm of a zero deviator has zero derivative),
    and ``jax.jacfwd`` of it gives the consistent tangent of Simo and Hughes' Box 3.2.

    Args:
        strain: total strain at the end of the step, Voigt ``[ε_xx, ε_yy, ε_zz, γ_yz, γ_xz,
            γ_xy]`` with engineering shear, shape ``(6,)`` (dimensionless).
        state: history at the start of the step (see :func:`j2_initial_state`), a dict with
            ``"plastic_strain"``: ``ε^p`` in Voigt with engineering shear, shape ``(6,)``;
            ``"equivalent_plastic_strain"``: ``α = ∫\sqrt{2/3}‖dε^p‖``, shape ``()``;
            ``"backstress"``: ``β`` in Voigt stress order (shear not doubled), shape ``(6,)``,
            units of stress.
        params: a dict of scalars: ``"youngs_modulus"`` ``E > 0`` and ``"yield_stress"``
            ``σ_y > 0`` (uniaxial initial yield stress), ``"isotropic_hardening"``
            ``H_{iso} ≥ 0`` and ``"kinematic_hardening"`` ``H_{kin} ≥ 0`` (units of stress),
            ``"poissons_ratio"`` ``-1 < ν < 1/2``.

    Returns:
        ``(stress, new_state)``: the Cauchy stress in Voigt order (shear not doubled), shape
        ``(6,)``, in the dtype of ``strain``; the history at the end of the step, with the
        structure and leaf dtypes of ``state``.

    Raises:
        ValueError: if ``strain`` or a ``state`` entry has the wrong shape, or a parameter is
            missing, not a scalar, or (when concrete) out of range, naming it.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from dmech.fem import j2_initial_state, j2_plasticity
        >>> params = {"youngs_modulus": 200e3, "poissons_ratio": 0.3, "yield_stress": 250.0,
        ...           "isotropic_hardening": 1e3, "kinematic_hardening": 1e3}
        >>> strain = jnp.array([5e-3, -2e-3, -2e-3, 0.0, 0.0, 0.0])
        >>> stress, state = j2_plasticity(strain, j2_initial_state(), params)
        >>> tangent = jax.jacfwd(lambda e: j2_plasticity(e, j2_initial_state(), params)[0])(
        ...     strain)

    References:
        Simo and Hughes (1998), "Computational Inelasticity", Springer, section 3.3 and
        Boxes 3.1–3.2 (radial return for J2 flow theory with linear combined hardening).
    """
    strain = _as_strain(strain)
    _check_j2_state(state)
    dtype = strain.dtype
    e, nu, sigma_y, h_iso, h_kin = _params(params, _J2_CHECKS, "j2_plasticity", dtype)
    kappa, mu = _lame(e, nu)

    plastic_n = jnp.asarray(state["plastic_strain"]).astype(dtype)
    alpha_n = jnp.asarray(state["equivalent_plastic_strain"]).astype(dtype)
    beta_n = from_voigt(jnp.asarray(state["backstress"]).astype(dtype), engineering=False)

    elastic = from_voigt(strain - plastic_n, engineering=True)
    pressure = kappa * jnp.trace(elastic)
    s_trial = 2 * mu * _deviator(elastic)
    xi = s_trial - _deviator(beta_n)
    xi_norm = _safe_norm(xi)
    f_trial = xi_norm - _SQRT_2_3 * (sigma_y + h_iso * alpha_n)
    plastic = f_trial > 0
    dgamma = jnp.where(plastic, f_trial / (2 * mu + 2 * (h_iso + h_kin) / 3), 0)
    normal = xi / jnp.where(xi_norm > 0, xi_norm, 1)

    sigma = pressure * jnp.eye(3, dtype=dtype) + s_trial - 2 * mu * dgamma * normal
    new_state = {
        "plastic_strain": plastic_n + to_voigt(dgamma * normal, engineering=True),
        "equivalent_plastic_strain": alpha_n + _SQRT_2_3 * dgamma,
        "backstress": to_voigt(beta_n + 2 * h_kin * dgamma / 3 * normal, engineering=False),
    }
    new_state = {
        name: value.astype(jnp.result_type(state[name])) for name, value in new_state.items()
    }
    return to_voigt(sigma, engineering=False), new_state


# --- learned laws -------------------------------------------------------------------------------


class LearnedLaw(eqx.Module):
    r"""A learned constitutive law together with the box of strains it was trained on.

    Calling it forwards to the wrapped model unchanged, so it is a law
    ``(strain, state, params) -> (stress, new_state)`` like :func:`j2_plasticity`;
    :meth:`out_of_range` reports strains outside the training box, where the model
    extrapolates. A component is out of range when it lies below ``strain_lower - tol`` or
    above ``strain_upper + tol``, with ``tol = rtol · max_i(strain_upper_i - strain_lower_i)``
    (the largest edge of the box, so a component the training data held at one value, such as
    ``ε_zz = 0`` in plane strain, still tolerates round-off).

    Attributes:
        model: the callable ``(strain, state, params) -> (stress, new_state)``, e.g. an
            equinox recurrent network trained on RVE data (its arrays are the trainable leaves).
        strain_lower: lower corner of the training box, Voigt with engineering shear, ``(6,)``.
        strain_upper: upper corner, ``(6,)``, ``≥ strain_lower``.
        rtol: relative tolerance of :meth:`out_of_range` (static).
    """

    model: Callable[..., Any]
    strain_lower: Float[Array, "6"]
    strain_upper: Float[Array, "6"]
    rtol: float = eqx.field(static=True)

    def __init__(
        self,
        model: Callable[..., Any],
        strain_lower: Float[ArrayLike, "..."],
        strain_upper: Float[ArrayLike, "..."],
        *,
        rtol: float = 1e-6,
    ):
        """Args:
        model: the law ``(strain, state, params) -> (stress, new_state)``.
        strain_lower, strain_upper: corners of the training box, shape ``(6,)`` each, Voigt
            ``[ε_xx, ε_yy, ε_zz, γ_yz, γ_xz, γ_xy]`` with engineering shear.
        rtol: tolerance of :meth:`out_of_range` relative to the box's largest edge, ``≥ 0``.
        """
        if not callable(model):
            raise TypeError(f"model must be callable (strain, state, params); got {type(model)}")
        bounds = []
        for name, value in (("strain_lower", strain_lower), ("strain_upper", strain_upper)):
            value = jnp.asarray(value)
            if value.shape != (6,):
                raise ValueError(
                    f"{name} must be a 3D Voigt strain of shape (6,); got shape {value.shape}"
                )
            if not jnp.issubdtype(value.dtype, jnp.inexact):
                value = value.astype(jnp.result_type(float))
            bounds.append(value)
        lower, upper = bounds
        if lower.dtype != upper.dtype:
            raise ValueError(
                f"strain_lower and strain_upper must share a dtype; got {lower.dtype} and "
                f"{upper.dtype}"
            )
        if is_concrete(lower) and is_concrete(upper):
            if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
                raise ValueError("strain_lower and strain_upper must be finite")
            if np.any(np.asarray(lower) > np.asarray(upper)):
                raise ValueError(
                    f"strain_lower must not exceed strain_upper; got strain_lower={lower} "
                    f"and strain_upper={upper}"
                )
        if not (isinstance(rtol, int | float) and rtol >= 0 and np.isfinite(rtol)):
            raise ValueError(f"rtol must be a non-negative float; got {rtol!r}")
        self.model = model
        self.strain_lower = lower
        self.strain_upper = upper
        self.rtol = float(rtol)

    @classmethod
    def from_training_strains(
        cls,
        model: Callable[..., Any],
        strains: Float[ArrayLike, "..."],
        margin: float = 0.0,
        *,
        rtol: float = 1e-6,
    ) -> LearnedLaw:
        """Wrap ``model`` with the bounding box of the strains it was trained on.

        Args:
            model: the law ``(strain, state, params) -> (stress, new_state)``.
            strains: the training strains, shape ``(n, 6)`` (all points of all load paths),
                Voigt with engineering shear; ``n ≥ 1``.
            margin: relative enlargement of the box on each side, as a fraction of each
                component's range (``0.1`` widens ``[a, b]`` to ``[a - 0.1(b-a),
                b + 0.1(b-a)]``), ``≥ 0``.
            rtol: as for the constructor.

        Returns:
            The :class:`LearnedLaw` with ``strain_lower = min - margin·range`` and
            ``strain_upper = max + margin·range`` over the training strains.
        """
        strains = jnp.asarray(strains)
        if strains.ndim != 2 or strains.shape[1] != 6 or strains.shape[0] == 0:
            raise ValueError(
                f"strains must have shape (n, 6) with n >= 1 (Voigt strains); "
                f"got shape {strains.shape}"
            )
        if not (isinstance(margin, int | float) and margin >= 0 and np.isfinite(margin)):
            raise ValueError(f"margin must be a non-negative float; got {margin!r}")
        if not jnp.issubdtype(strains.dtype, jnp.inexact):
            strains = strains.astype(jnp.result_type(float))
        lower = jnp.min(strains, axis=0)
        upper = jnp.max(strains, axis=0)
        pad = margin * (upper - lower)
        lower, upper = lower - pad, upper + pad
        return cls(model, lower, upper, rtol=rtol)

    def __call__(self, strain: Float[ArrayLike, "..."], state: PyTree, params: PyTree) -> Any:
        """The wrapped model's ``(stress, new_state)``, unchanged."""
        return self.model(strain, state, params)

    def out_of_range(self, strain: Float[ArrayLike, "..."]) -> Bool[Array, "..."]:
        """Whether strains leave the training box (by more than the tolerance).

        Args:
            strain: Voigt strains with engineering shear, shape ``(..., 6)``.

        Returns:
            A boolean array of shape ``strain.shape[:-1]``: ``True`` where any component lies
            outside ``[strain_lower - tol, strain_upper + tol]`` (not differentiated).
        """
        strain = jax.lax.stop_gradient(jnp.asarray(strain))
        if strain.ndim < 1 or strain.shape[-1] != 6:
            raise ValueError(f"strain must have shape (..., 6); got shape {strain.shape}")
        lower = jax.lax.stop_gradient(self.strain_lower)
        upper = jax.lax.stop_gradient(self.strain_upper)
        if strain.dtype != lower.dtype:
            strain = strain.astype(lower.dtype)
        tol = self.rtol * jnp.max(upper - lower)
        below = strain < jnp.broadcast_to(lower - tol, strain.shape)
        above = strain > jnp.broadcast_to(upper + tol, strain.shape)
        return jnp.any(below | above, axis=-1)
