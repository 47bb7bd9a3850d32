"""Strain-energy densities for :func:`solve_hyperelasticity`."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, ArrayLike, Float, PyTree
from .._static import is_concrete


def lame_parameters(
    youngs_modulus: Float[ArrayLike, "..."], poissons_ratio: Float[ArrayLike, "..."]
) -> dict[str, Float[Array, "..."]]:
    """Lamé parameters ``{"mu": μ, "lmbda": λ}`` of ``E`` and ``ν`` (3D, plane strain).

    ``μ = E / (2(1+ν))`` and ``λ = Eν / ((1+ν)(1-2ν))``: the small-strain limit of
    :func:`neo_hookean` with these parameters is isotropic linear elasticity with ``E, ν``.

    Args:
        youngs_modulus: ``E > 0``, any shape (e.g. one per cell).
        poissons_ratio: ``-1 < ν < 1/2``, broadcastable against ``E``.
    """
    e = jnp.asarray(youngs_modulus)
    nu = jnp.asarray(poissons_ratio)
    if is_concrete(e) and not np.all(np.asarray(e) > 0):
        raise ValueError(f"youngs_modulus must be positive, got {np.asarray(e)}")
    if is_concrete(nu) and not np.all((np.asarray(nu) > -1) & (np.asarray(nu) < 0.5)):
        raise ValueError(f"poissons_ratio must lie in (-1, 1/2), got {np.asarray(nu)}")
    return {"mu": e / (2 * (1 + nu)), "lmbda": e * nu / ((1 + nu) * (1 - 2 * nu))}


def neo_hookean(deformation_gradient: Float[Array, "3 3"], params: PyTree) -> Float[Array, ""]:
    r"""Compressible neo-Hookean energy per unit reference volume.

    ``ψ(F) = μ/2 (tr C - 3) - μ ln J + λ/2 (ln J)²`` with ``C = FᵀF`` and ``J = det F``, so
    ``P = μ (F - F⁻ᵀ) + λ ln J F⁻ᵀ``; ``ψ`` is infinite (NaN) for ``J ≤ 0``.

    Args:
        deformation_gradient: ``F``, shape ``(3, 3)``.
        params: ``{"mu": μ, "lmbda": λ}`` (see :func:`lame_parameters`).

    Returns:
        ``ψ``, a scalar (units of stress).

    References:
        Bonet & Wood (2008), section 6.4.3; Ogden, *Non-linear Elastic Deformations* (1984).
    """
    f = deformation_gradient
    mu, lmbda = params["mu"], params["lmbda"]
    log_j = jnp.log(jnp.linalg.det(f))
    return 0.5 * mu * (jnp.sum(f * f) - 3.0) - mu * log_j + 0.5 * lmbda * log_j**2


def isotropic_invariants(deformation_gradient: Float[Array, "3 3"]) -> Float[Array, " 3"]:
    """``(I₁, I₂, J)`` of ``C = FᵀF``: inputs for learned isotropic energies ``ψ(I₁, I₂, J)``.

    ``I₁ = tr C``, ``I₂ = ((tr C)² - tr C²)/2``, ``J = det F``; an energy of these is frame
    indifferent and isotropic by construction.
    """
    f = deformation_gradient
    c = f.T @ f
    i1 = jnp.trace(c)
    i2 = 0.5 * (i1**2 - jnp.sum(c * c))
    return jnp.stack([i1, i2, jnp.linalg.det(f)])
