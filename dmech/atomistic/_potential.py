"""The interface every interatomic potential follows, and forces and stresses by autodiff.

A potential is an equinox Module whose array fields are its parameters and whose static
fields (cutoff, species names) fix its structure; calling it is the pure energy function

    E = potential(positions, box, species, neighbors=None)

with Cartesian ``positions`` ``(n_atoms, 3)``, the periodic ``box`` ``(3, 3)`` (lattice
vectors as columns, any cell shape; or ``(3,)``, the side lengths of an orthorhombic cell,
which takes a cheaper minimum-image path) and integer ``species`` ``(n_atoms,)``. Without a
neighbour list every pair is considered (``O(n²)``, fine for small cells); with one (from
`NeighborListBuilder`) only the listed pairs.

Forces are ``F = -∂E/∂x``; the stress is the derivative of the energy with respect to a
homogeneous strain ``ε`` of the periodic system (positions and box deformed by
``F = I + ε``), per volume,

    σ = (1/V) ∂E(x (I + ε)ᵀ, (I + ε) box)/∂ε |_{ε = 0},

positive in tension (ASE's convention; the virial is ``-V σ``). `evaluate` gets all three
from one reverse pass.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp

from .._custom_types import Array, Float, Int, Scalar
from .._voigt import from_voigt, to_voigt
from ._neighbors import NeighborList, neighbor_list_overflowed
from ._structures import Box, Structure, check_structure

__all__ = [
    "AbstractPotential",
    "Box",
    "Evaluation",
    "check_inputs",
    "evaluate",
    "forces",
    "from_voigt",
    "stress",
    "to_voigt",
]


class AbstractPotential(eqx.Module):
    """An interatomic potential: a pure energy function of positions, box and species.

    Subclasses define `atomic_energies` (per-atom energies whose sum is the energy) and the
    static ``cutoff``, ``symbols`` and ``min_distance``; `__call__` sums the atomic energies
    (pair potentials may override it for the sparse neighbour-list format).
    """

    cutoff: eqx.AbstractVar[float]
    symbols: eqx.AbstractVar[tuple[str, ...]]

    @property
    def n_species(self) -> int:
        """How many species the potential knows (valid indices are ``0..n_species-1``)."""
        return len(self.symbols)

    @property
    def min_distance(self) -> float:
        """Atoms closer than this are reported as overlapping by `check_inputs`."""
        return 0.25 * self.cutoff

    @abc.abstractmethod
    def atomic_energies(
        self,
        positions: Float[Array, "n 3"],
        box: Box,
        species: Int[Array, " n"],
        neighbors: NeighborList | None = None,
    ) -> Float[Array, " n"]:
        """The energy of each atom, shape ``(n_atoms,)``; they sum to the total energy."""

    def __call__(
        self,
        positions: Float[Array, "n 3"],
        box: Box,
        species: Int[Array, " n"],
        neighbors: NeighborList | None = None,
    ) -> Scalar:
        """The potential energy of the configuration (energy units)."""
        return jnp.sum(self.atomic_energies(positions, box, species, neighbors))


def check_inputs(
    potential: AbstractPotential,
    positions: Any,
    box: Any,
    species: Any,
    *,
    skin: float = 0.0,
    overlap: bool = True,
) -> None:
    """Raise a clear error before compiling if ``potential`` cannot evaluate these arrays.

    Shapes, species indices in ``[0, potential.n_species)``, a cell at least twice the
    cutoff (plus ``skin``) wide, and (with ``overlap``) no two atoms closer than
    ``potential.min_distance``. Skipped for traced arrays.

    Raises:
        ValueError: naming ``positions``, ``box`` or ``species``.
    """
    check_structure(
        positions,
        box,
        species,
        cutoff=potential.cutoff,
        n_species=potential.n_species,
        min_distance=potential.min_distance if overlap else None,
        skin=skin,
    )


def check_symbols(potential: AbstractPotential, structure: Structure) -> None:
    """Raise if the structure's species names are not the potential's (species mismatch)."""
    if tuple(structure.symbols) != tuple(potential.symbols[: len(structure.symbols)]):
        raise ValueError(
            f"species mismatch: the structure's species are {structure.symbols} but the "
            f"potential's are {potential.symbols} (species index k must name the same element)"
        )


# ---------------------------------------------------------------------------------------------
# Geometry shared by the potentials
# ---------------------------------------------------------------------------------------------


def dense_neighbors(
    positions: Array, box: Array, neighbors: NeighborList | None
) -> tuple[Array, Array, Array]:
    """Neighbour indices, mask and minimum-image vectors ``x_j - x_i``.

    Returns:
        ``(index, mask, vectors)`` of shapes ``(n, k)``, ``(n, k)``, ``(n, k, 3)``: with no
        list ``k = n`` (all pairs, self masked); with a dense list ``k`` is its capacity.
        Masked entries have index 0 and vectors that must not be used.
    """
    n = positions.shape[0]
    if neighbors is None:
        index = jnp.broadcast_to(jnp.arange(n)[None, :], (n, n))
        mask = index != jnp.arange(n)[:, None]
    else:
        if neighbors.format is not _dense_format():
            raise ValueError(
                "neighbors must be a dense neighbour list for this potential "
                "(NeighborListBuilder(..., format='dense'))"
            )
        if neighbors.idx.shape[0] != n:
            raise ValueError(
                f"neighbors was built for {neighbors.idx.shape[0]} atoms, positions has {n}"
            )
        mask = neighbors.idx < n
        index = jnp.where(mask, neighbors.idx, 0)
    if box.ndim == 1:  # orthorhombic: the minimum image component by component
        side = box.reshape(1, 1, 3)
        d = positions[index] - positions[:, None, :]
        return index, mask, d - side * jnp.round(d / side)
    frac = fractional(positions, box)
    ds = frac[index] - frac[:, None, :]
    return index, mask, cartesian(ds - jnp.round(ds), box)


def pair_list(positions: Array, box: Array, neighbors: NeighborList) -> tuple[Array, ...]:
    """Receivers, senders, mask and vectors ``x_j - x_i`` of a sparse (half) list."""
    n = positions.shape[0]
    receivers, senders = neighbors.idx[0], neighbors.idx[1]
    mask = receivers < n
    i = jnp.where(mask, receivers, 0)
    j = jnp.where(mask, senders, 0)
    if box.ndim == 1:
        side = box.reshape(1, 3)
        d = positions[j] - positions[i]
        return i, j, mask, d - side * jnp.round(d / side)
    frac = fractional(positions, box)
    ds = frac[j] - frac[i]
    return i, j, mask, cartesian(ds - jnp.round(ds), box)


def box_matrix(box: Box) -> Float[Array, "3 3"]:
    """The ``(3, 3)`` matrix of a box (``diag(box)`` for orthorhombic sides ``(3,)``)."""
    box = jnp.asarray(box)
    return jnp.diag(box) if box.ndim == 1 else box


def fractional(positions: Array, box: Array) -> Array:
    """Fractional coordinates ``box⁻¹ x`` of positions ``(..., 3)``."""
    return cartesian(positions, jnp.linalg.inv(box))


def cartesian(fractions: Array, box: Array) -> Array:
    """``box @ s`` for vectors ``(..., 3)``, written out elementwise (XLA on CPU runs this
    about twice as fast as a ``dot_general`` with a contraction of length 3)."""
    s0, s1, s2 = fractions[..., 0], fractions[..., 1], fractions[..., 2]
    return jnp.stack([box[a, 0] * s0 + box[a, 1] * s1 + box[a, 2] * s2 for a in range(3)], axis=-1)


def safe_norm(vectors: Array, mask: Array, fill: Array | float) -> Array:
    """``|v|`` where ``mask``, ``fill`` elsewhere, with finite gradients everywhere."""
    squared = jnp.sum(vectors * vectors, axis=-1)
    fill = jnp.asarray(fill, squared.dtype)
    return jnp.sqrt(jnp.where(mask, squared, fill * fill))


def _dense_format():
    from ._jax_md import partition

    return partition.Dense


def is_sparse(neighbors: NeighborList | None) -> bool:
    """Whether ``neighbors`` is a sparse (pair) list."""
    if neighbors is None:
        return False
    from ._jax_md import partition

    return partition.is_sparse(neighbors.format)


# ---------------------------------------------------------------------------------------------
# Forces and stresses
# ---------------------------------------------------------------------------------------------


class Evaluation(eqx.Module):
    """Energy, forces and stress of one configuration.

    Attributes:
        energy: the potential energy, a scalar (energy units).
        forces: ``-∂E/∂x``, shape ``(n_atoms, 3)`` (energy / length).
        stress: ``(1/V) ∂E/∂ε``, shape ``(3, 3)``, symmetric, positive in tension
            (energy / length³; ``× 160.2177`` for GPa in metal units).
    """

    energy: Scalar
    forces: Float[Array, "n 3"]
    stress: Float[Array, "3 3"]


def _strained_energy(potential, strain, positions, box, species, neighbors):
    deformation = jnp.eye(3, dtype=positions.dtype) + 0.5 * (strain + strain.T)
    return potential(positions @ deformation.T, deformation @ box, species, neighbors)


def evaluate(
    potential: AbstractPotential,
    positions: Float[Array, "..."],
    box: Float[Array, "..."],
    species: Int[Array, "..."],
    neighbors: NeighborList | None = None,
) -> Evaluation:
    """Energy, forces and stress by one reverse-mode pass through the energy.

    The gradient is taken with respect to the positions and a homogeneous strain at zero
    (see the module docstring), so the stress costs little more than the forces.

    Args:
        potential: any `AbstractPotential`.
        positions: Cartesian positions, shape ``(n_atoms, 3)``.
        box: the periodic cell, shape ``(3, 3)``, lattice vectors as columns.
        species: species indices, shape ``(n_atoms,)``.
        neighbors: a neighbour list valid for these positions, or ``None`` (all pairs).

    Returns:
        An `Evaluation`.

    Raises:
        ValueError: for bad input (shapes, species out of range, a box narrower than twice
            the cutoff; see `check_inputs`, which the drivers also run for overlapping
            atoms) or an overflowed neighbour list, when the arrays are concrete.
    """
    check_inputs(potential, positions, box, species, overlap=False)
    box = box_matrix(box)
    if neighbors is not None and not isinstance(neighbors.idx, jax.core.Tracer):
        if bool(neighbor_list_overflowed(neighbors)):
            raise ValueError("neighbors has overflowed: reallocate it (NeighborListBuilder)")
    strain = jnp.zeros((3, 3), positions.dtype)
    energy, (strain_gradient, gradient) = jax.value_and_grad(_strained_energy, argnums=(1, 2))(
        potential, strain, positions, box, species, neighbors
    )
    volume = jnp.abs(jnp.linalg.det(box))
    return Evaluation(energy=energy, forces=-gradient, stress=strain_gradient / volume)


def forces(
    potential: AbstractPotential,
    positions: Float[Array, "..."],
    box: Float[Array, "..."],
    species: Int[Array, "..."],
    neighbors: NeighborList | None = None,
) -> Float[Array, "n 3"]:
    """``F = -∂E/∂x``, shape ``(n_atoms, 3)`` (see `evaluate`)."""
    check_inputs(potential, positions, box, species, overlap=False)
    box = jnp.asarray(box)
    return -jax.grad(lambda x: potential(x, box, species, neighbors))(positions)


def stress(
    potential: AbstractPotential,
    positions: Float[Array, "..."],
    box: Float[Array, "..."],
    species: Int[Array, "..."],
    neighbors: NeighborList | None = None,
) -> Float[Array, "3 3"]:
    """The stress ``(1/V) ∂E/∂ε`` at zero strain, shape ``(3, 3)`` (see `evaluate`)."""
    check_inputs(potential, positions, box, species, overlap=False)
    box = box_matrix(box)
    strain = jnp.zeros((3, 3), positions.dtype)
    gradient = jax.grad(_strained_energy, argnums=1)(
        potential, strain, positions, box, species, neighbors
    )
    return gradient / jnp.abs(jnp.linalg.det(box))
