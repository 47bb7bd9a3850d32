"""Elastic constants by automatic differentiation of the energy with respect to a
homogeneous strain, with the internal (ionic) relaxation of non-centrosymmetric lattices;
and structural relaxation."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, Float
from .._static import is_concrete
from .._voigt import from_voigt
from ._jax_md import minimize
from ._neighbors import NeighborListBuilder, jax_md_context
from ._potential import AbstractPotential, check_inputs, check_symbols
from ._structures import Structure, perpendicular_widths

__all__ = ["ElasticConstants", "elastic_constants", "relax_positions", "voigt_strain_tensor"]


def voigt_strain_tensor(voigt: Float[Array, " 6"]) -> Float[Array, "3 3"]:
    """The symmetric strain tensor of a Voigt strain ``(ε_xx, ε_yy, ε_zz, γ_yz, γ_xz, γ_xy)``
    with engineering shears ``γ = 2 ε``."""
    return from_voigt(voigt, engineering=True)


class ElasticConstants(eqx.Module):
    """Elastic stiffness of a crystal at 0 K, in Voigt form.

    Attributes:
        relaxed: ``C`` with the internal coordinates relaxed, shape ``(6, 6)`` (energy /
            length³; ``× 160.2177`` for GPa in metal units). Equal to ``unrelaxed`` for
            lattices whose atoms are centres of inversion (fcc, bcc).
        unrelaxed: ``C⁰``, the homogeneous (clamped-ion) stiffness, shape ``(6, 6)``.
        stress: the stress of the reference structure, Voigt ``(6,)``; ``C`` is the
            stiffness of the usual linear elasticity when it is zero.
        max_force: the largest force component on the reference structure (the internal
            relaxation assumes equilibrium: it should be near zero).
    """

    relaxed: Float[Array, "6 6"]
    unrelaxed: Float[Array, "6 6"]
    stress: Float[Array, " 6"]
    max_force: Array


def _stretch(eta: Array) -> Array:
    # The symmetric stretch U = (I + 2η)^{1/2} = I + η - η²/2 + O(η³): exact to the second
    # order needed for the Hessian at η = 0.
    eye = jnp.eye(3, dtype=eta.dtype)
    return eye + eta - 0.5 * eta @ eta


# Hessian-vector products per batch of the force-constant matrix: a potential's forward
# pass over every coordinate at once (jax.hessian) holds 3n copies of its intermediates
# (~80 GB for the polynomial potential on a 256-atom cell).
_HESSIAN_BATCH = 24


def _strained_energy(potential, positions, box, species, neighbors, voigt, displacement):
    """The energy with the internal displacements ``u`` and then the strain ``e`` applied."""
    stretch = _stretch(voigt_strain_tensor(voigt))
    x = (positions + displacement.reshape(positions.shape)) @ stretch.T
    return potential(x, stretch @ box, species, neighbors)


# Module-level and jitted on the potential as an argument, so that a second call (another
# potential of the same kind, new coefficients) reuses the compiled program.
@eqx.filter_jit
def _homogeneous(potential, positions, box, species, neighbors):
    """The strain and displacement gradients (stress and forces), ``C⁰ V = ∂²E/∂e∂e`` and
    ``Λ = ∂²E/∂u∂e`` at the reference: six forward-mode passes over one reverse pass, the
    gradient being their shared primal."""
    dtype = positions.dtype
    gradient = jax.grad(
        lambda e, u: _strained_energy(potential, positions, box, species, neighbors, e, u),
        argnums=(0, 1),
    )
    u0 = jnp.zeros(positions.size, dtype)

    def along(tangent):
        return jax.jvp(lambda e: gradient(e, u0), (jnp.zeros(6, dtype),), (tangent,))

    (gradient_e, gradient_u), (hessian_e, mixed) = jax.vmap(along, out_axes=(None, 1))(
        jnp.eye(6, dtype=dtype)
    )
    return gradient_e, gradient_u, hessian_e, mixed  # mixed: (3n, 6)


@eqx.filter_jit
def _force_constants(potential, positions, box, species, neighbors):
    """``H = ∂²E/∂u∂u`` at the reference by Hessian-vector products, ``_HESSIAN_BATCH``
    directions at a time."""
    dtype = positions.dtype
    e0 = jnp.zeros(6, dtype)
    gradient = jax.grad(
        lambda u: _strained_energy(potential, positions, box, species, neighbors, e0, u)
    )
    u0 = jnp.zeros(positions.size, dtype)

    def column(direction):
        return jax.jvp(gradient, (u0,), (direction,))[1]

    return jax.lax.map(column, jnp.eye(u0.shape[0], dtype=dtype), batch_size=_HESSIAN_BATCH)


def elastic_constants(
    potential: AbstractPotential,
    structure: Structure,
    *,
    internal_relaxation: bool = True,
    zero_mode_tolerance: float | None = None,
    skin: float = 0.5,
) -> ElasticConstants:
    r"""The 0 K elastic constants ``C_IJ`` (Voigt) by second derivatives of the energy.

    The energy is differentiated with respect to the Lagrangian strain ``η`` applied through
    the symmetric stretch ``U = (I + 2η)^{1/2}`` (positions ``x ↦ U (x + u)``, box
    ``↦ U box``), so that

    $$C^0_{IJ} = \frac{1}{V}\frac{\partial^2 E}{\partial e_I \partial e_J},\qquad
      C_{IJ} = C^0_{IJ} - \frac{1}{V}\Lambda_{kI} (H^{+})_{kl} \Lambda_{lJ},$$

    with the Voigt strain ``e = (η_xx, η_yy, η_zz, 2η_yz, 2η_xz, 2η_xy)``, the force-constant
    matrix ``H = ∂²E/∂u∂u`` (``3n × 3n``, its three translation modes deflated: the structure
    must be mechanically stable, ``H`` positive definite on the rest) and the mixed
    derivatives ``Λ = ∂²E/∂u∂e``: minimising the quadratic energy over the internal
    displacements ``u`` at fixed strain (Cowley 1988; Wallace 1972).
    The strain Hessian and ``Λ`` come from six forward-mode passes over the gradient, the
    force constants from ``3n`` Hessian-vector products in batches (``O(n)`` passes), so use
    the smallest periodic cell wider than twice the cutoff. The reference positions must be at
    mechanical equilibrium (zero forces; see `relax_positions`); at zero stress ``C`` is the
    stiffness of linear elasticity. The result is differentiable with respect to the
    potential's array leaves (``equinox.filter_grad`` of a function of ``C``: second
    derivatives of the energy and one linear solve, no eigendecomposition), e.g. through a
    continuum solve (`dmech.design`).

    Args:
        potential: any `AbstractPotential`.
        structure: the reference crystal (at equilibrium).
        internal_relaxation: compute the relaxed constants (otherwise ``relaxed`` repeats
            the unrelaxed ones).
        zero_mode_tolerance: ``Λ`` below this fraction of its typical size counts as zero
            (every atom a centre of inversion: no relaxation term; default ``√ε`` of the
            dtype).
        skin: the skin of the dense neighbour list built on the reference structure (the
            strains are infinitesimal, so it stays valid); all pairs are used when the cell
            is narrower than ``2 (cutoff + skin)``.

    Returns:
        `ElasticConstants`; ``.relaxed`` is the ``(6, 6)`` Voigt stiffness for continuum
        models (e.g. a dmech.fem anisotropic material).

    Raises:
        ValueError: for bad input (box narrower than twice the cutoff, species mismatch...).

    Example:
        >>> si = diamond(5.431, 2)  # doctest: +SKIP
        >>> c = elastic_constants(StillingerWeber(), si).relaxed * EV_PER_A3_TO_GPA
        >>> c[0, 0], c[0, 1], c[3, 3]   # 151.4, 76.4, 56.4 GPa (Cowley 1988)

    References:
        Cowley (1988), "Lattice dynamics of silicon with empirical many-body potentials",
        Phys. Rev. Lett. 60, 2379. Wallace (1972), "Thermodynamics of Crystals", Wiley, ch. 2.
        Lutsko (1989), J. Appl. Phys. 65, 2991 (the internal-relaxation term).
    """
    check_symbols(potential, structure)
    positions, box, species = structure.positions, structure.box, structure.species
    check_inputs(potential, positions, box, species)
    dtype = positions.dtype
    n = positions.shape[0]
    volume = jnp.abs(jnp.linalg.det(box))
    neighbors = None
    if perpendicular_widths(np.asarray(box)).min() >= 2 * (potential.cutoff + skin):
        # built eagerly from the concrete reference structure, also under jit
        with jax.ensure_compile_time_eval():
            neighbors = NeighborListBuilder(potential.cutoff, skin=skin).allocate(positions, box)

    arguments = (potential, positions, box, species, neighbors)
    gradient_e, gradient_u, hessian_e, mixed = _homogeneous(*arguments)
    stress = gradient_e / volume
    max_force = jnp.max(jnp.abs(gradient_u))
    unrelaxed = hessian_e / volume
    tolerance = (
        float(np.sqrt(np.finfo(dtype).eps)) if zero_mode_tolerance is None else zero_mode_tolerance
    )
    # Λ vanishes (to round-off) when every atom is a centre of inversion (fcc, bcc): then
    # C = C⁰ and the 3n x 3n force constants are not needed. The test needs concrete values;
    # under a transformation with respect to the potential's parameters (a gradient through
    # the constants) the relaxation term is always computed.
    if not internal_relaxation:
        return ElasticConstants(unrelaxed, unrelaxed, stress, max_force)
    if is_concrete(unrelaxed) and is_concrete(mixed):
        spacing = float((volume / n) ** (1 / 3))
        typical = float(jnp.max(jnp.abs(unrelaxed))) * float(volume) / n / spacing
        if float(jnp.max(jnp.abs(mixed))) <= tolerance * typical:
            return ElasticConstants(unrelaxed, unrelaxed, stress, max_force)
    force_constants = _force_constants(*arguments)  # (3n, 3n)
    force_constants = 0.5 * (force_constants + force_constants.T)
    # H is singular along the three rigid translations t_α (unit vectors moving every atom
    # along α) and Λ is orthogonal to them (the net force vanishes at any strain), so
    # H⁺Λ = (H + s Σ_α t_α t_αᵀ)⁻¹ Λ for any s > 0: a plain solve, smooth in the
    # parameters (an eigendecomposition's derivative is singular at the degenerate
    # optical modes of a crystal).
    translations = jnp.tile(jnp.eye(3, dtype=dtype), (n, 1)) / np.sqrt(n)  # (3n, 3)
    shift = jnp.trace(force_constants) / (3 * n)
    deflated = force_constants + shift * translations @ translations.T
    relaxation = jnp.linalg.solve(deflated, mixed)  # (3n, 6)
    correction = mixed.T @ relaxation / volume
    relaxed = unrelaxed - correction
    return ElasticConstants(0.5 * (relaxed + relaxed.T), unrelaxed, stress, max_force)


def relax_positions(
    potential: AbstractPotential,
    structure: Structure,
    *,
    force_tolerance: float = 1e-4,
    max_steps: int = 5000,
    dt_start: float = 0.1,
    dt_max: float = 0.4,
) -> tuple[Structure, Array]:
    """Relax the atomic positions at fixed box by FIRE (jax-md's ``fire_descent``).

    Args:
        potential: any `AbstractPotential`.
        structure: the starting structure.
        force_tolerance: stop when the largest force component is below this (energy /
            length).
        max_steps: the most FIRE steps.
        dt_start, dt_max: FIRE's initial and largest time steps (time units with unit
            masses).

    Returns:
        ``(relaxed structure, max force component)``; the force is above
        ``force_tolerance`` when ``max_steps`` ran out (check it).

    Raises:
        ValueError: for bad input (see `check_inputs`).

    References:
        Bitzek, Koskinen, Gähler, Moseler and Gumbsch (2006), "Structural relaxation made
        simple", Phys. Rev. Lett. 97, 170201.
    """
    check_symbols(potential, structure)
    check_inputs(potential, structure.positions, structure.box, structure.species)
    if not force_tolerance > 0:
        raise ValueError(f"force_tolerance must be positive, got {force_tolerance!r}")
    with jax_md_context():
        positions, residual = _fire(
            potential, structure, force_tolerance, max_steps, dt_start, dt_max
        )
    return eqx.tree_at(lambda s: s.positions, structure, positions), residual


@eqx.filter_jit
def _fire(potential, structure, force_tolerance, max_steps, dt_start, dt_max):
    """FIRE at fixed box, compiled once per potential type and settings (the Python floats
    are static under ``filter_jit``): ``(positions, largest force component)``."""
    box, species = structure.box, structure.species

    def energy_fn(x, **unused):
        return potential(x, box, species)

    def shift(x, dx, **unused):
        return x + dx

    init, apply = minimize.fire_descent(energy_fn, shift, dt_start=dt_start, dt_max=dt_max)

    def largest(state):
        return jnp.max(jnp.abs(state.force))

    def cond(carry):
        state, step = carry
        return (largest(state) > force_tolerance) & (step < max_steps)

    def body(carry):
        state, step = carry
        return apply(state), step + 1

    state, _ = jax.lax.while_loop(cond, body, (init(structure.positions), 0))
    return state.position, largest(state)
