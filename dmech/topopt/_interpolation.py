"""Material interpolation of element densities: SIMP, RAMP, and Heaviside projection."""

from __future__ import annotations

import jax.numpy as jnp

from .._custom_types import Array, ArrayLike, Float


def simp(
    density: Float[ArrayLike, "..."],
    *,
    penalty: float = 3.0,
    minimum: float = 1e-9,
    maximum: float = 1.0,
) -> Float[Array, "..."]:
    r"""Modified SIMP: ``E(ρ) = E_min + ρ^p (E_0 - E_min)``.

    Args:
        density: element densities ``ρ`` in ``[0, 1]``, any shape.
        penalty: ``p`` (3 is the classic choice).
        minimum, maximum: ``E_min`` (keeps void elements from making ``K`` singular) and
            ``E_0``, the solid's modulus (or any other property being interpolated).

    Returns:
        The interpolated property, the shape of ``density``.

    References:
        Sigmund (2007), Morphology-based black and white filters for topology optimization,
        Struct. Multidisc. Optim. 33; Andreassen et al. (2011), Struct. Multidisc. Optim. 43.
    """
    rho = jnp.asarray(density)
    return minimum + rho**penalty * (maximum - minimum)


def ramp(
    density: Float[ArrayLike, "..."],
    *,
    q: float = 8.0,
    minimum: float = 1e-9,
    maximum: float = 1.0,
) -> Float[Array, "..."]:
    r"""RAMP: ``E(ρ) = E_min + ρ / (1 + q (1 - ρ)) (E_0 - E_min)``.

    Unlike SIMP its slope at ``ρ = 0`` is non-zero, which suits design-dependent loads and
    thermal problems.

    References:
        Stolpe and Svanberg (2001), An alternative interpolation scheme for minimum
        compliance topology optimization, Struct. Multidisc. Optim. 22.
    """
    rho = jnp.asarray(density)
    return minimum + rho / (1.0 + q * (1.0 - rho)) * (maximum - minimum)


def heaviside_projection(
    density: Float[ArrayLike, "..."], beta: Float[ArrayLike, ""], eta: float = 0.5
) -> Float[Array, "..."]:
    r"""Smoothed Heaviside projection towards 0/1 designs:
    ``ρ̄ = (tanh(βη) + tanh(β(ρ - η))) / (tanh(βη) + tanh(β(1 - η)))``.

    ``β → 0`` is the identity, ``β → ∞`` a step at ``η``; raise ``β`` gradually (beta
    continuation). ``beta`` is an array leaf: changing it does not recompile.

    References:
        Wang, Lazarov and Sigmund (2011), On projection methods, convergence and robust
        formulations in topology optimization, Struct. Multidisc. Optim. 43.
    """
    rho = jnp.asarray(density)
    beta = jnp.asarray(beta, rho.dtype)
    a = jnp.tanh(beta * eta)
    return (a + jnp.tanh(beta * (rho - eta))) / (a + jnp.tanh(beta * (1.0 - eta)))
