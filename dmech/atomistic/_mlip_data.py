"""Training data of the learned interatomic potentials: padded batches of labelled
structures with fixed-capacity neighbour tables, and the common base of the learned
potentials (per-atom energies from a neighbour table).

Structures of a dataset may hold different numbers of atoms (vacancies): every structure is
padded to the largest, with an atom mask, so a dataset is a pytree of arrays sharing one
leading axis (the structures), ready for `jax.vmap`, `jax.lax.map` and `dmech.train.fit`.
The neighbour table of every structure (all minimum-image pairs closer than the model's
cutoff) is built once on the host, for the padded capacity ``K`` of the densest
environment; the labels are fixed, so the table stays exact.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, Bool, Float, Int, Scalar
from ._extxyz import Frame
from ._neighbors import NeighborList
from ._potential import AbstractPotential, cartesian, dense_neighbors, fractional, safe_norm
from ._structures import Box, perpendicular_widths

__all__ = [
    "AbstractLearnedPotential",
    "AtomisticDataset",
    "StructureLabels",
    "evaluate_dataset",
    "make_dataset",
    "repulsive_core_energies",
    "split_dataset",
    "subset_dataset",
]


class AbstractLearnedPotential(AbstractPotential):
    """A learned potential: per-atom energies from each atom's neighbour environment.

    Subclasses implement `neighbor_energies`, which sees only species, a neighbour table and
    the minimum-image vectors to the neighbours, so the same code serves the potential
    interface (`atomic_energies`, with or without a jax-md dense neighbour list) and the
    padded training tables of `AtomisticDataset`.
    """

    @abc.abstractmethod
    def neighbor_energies(
        self,
        species: Int[Array, " n"],
        index: Int[Array, "n k"],
        mask: Bool[Array, "n k"],
        vectors: Float[Array, "n k 3"],
    ) -> Float[Array, " n"]:
        """Per-atom energies, shape ``(n_atoms,)``.

        Args:
            species: species indices, shape ``(n_atoms,)``.
            index: the neighbours of each atom, shape ``(n_atoms, k)`` (valid where
                ``mask``).
            mask: which table entries are neighbours, shape ``(n_atoms, k)``.
            vectors: ``x_j - x_i`` (minimum image) per entry, shape ``(n_atoms, k, 3)``;
                meaningless where ``mask`` is false. Entries beyond the cutoff may be
                present (they must contribute nothing).
        """

    def atomic_energies(
        self,
        positions: Float[Array, "n 3"],
        box: Box,
        species: Int[Array, " n"],
        neighbors: NeighborList | None = None,
    ) -> Float[Array, " n"]:
        """The energy of each atom, shape ``(n_atoms,)`` (energy units)."""
        index, mask, vectors = dense_neighbors(positions, jnp.asarray(box), neighbors)
        return self.neighbor_energies(species, index, mask, vectors)


def repulsive_core_energies(
    mask: Bool[Array, "n k"],
    vectors: Float[Array, "n k 3"],
    strength: float,
    radius: float,
) -> Float[Array, " n"]:
    r"""Each atom's half of a fixed repulsive core, shape ``(n_atoms,)`` (eV):

    $$E^{core}_i = \tfrac12 \sum_{j:\ r_{ij} < r_0} A \left(1 - \frac{r_{ij}}{r_0}\right)^3$$

    with ``A = strength`` and ``r_0 = radius`` (zero beyond ``r_0``, with continuous first
    and second derivatives there). A learned potential knows nothing below the closest
    approach in its data and may fall there without bound, so atoms fuse in a hot liquid; a
    core placed just below that approach is zero on the data and keeps atoms apart.

    Args:
        mask: which neighbour-table entries are neighbours, shape ``(n_atoms, k)``.
        vectors: minimum-image vectors to the neighbours, shape ``(n_atoms, k, 3)`` (Å).
        strength: ``A`` (eV), static.
        radius: ``r_0`` (Å), static.
    """
    r = safe_norm(vectors, mask, 2 * radius)
    overlap = jnp.where(mask & (r < radius), 1 - r / radius, 0.0)
    return 0.5 * strength * jnp.sum(overlap**3, axis=1)


class StructureLabels(eqx.Module):
    """Energy, forces and stress of each structure of a dataset (labels or predictions).

    Attributes:
        energy: total energies, shape ``(n_structures,)`` (eV).
        forces: shape ``(n_structures, n_max, 3)`` (eV/Å; zero on padding atoms).
        stress: ``(1/V) ∂E/∂ε``, shape ``(n_structures, 3, 3)`` (eV/Å³).
    """

    energy: Float[Array, " s"]
    forces: Float[Array, "s n 3"]
    stress: Float[Array, "s 3 3"]


class AtomisticDataset(eqx.Module):
    """Labelled structures padded to a common size, with neighbour tables for one cutoff.

    A pytree of arrays whose leading axis indexes the structures (slice it with
    `subset_dataset`; batch it with `dmech.train.fit`).

    Attributes:
        positions: Cartesian positions, shape ``(n_structures, n_max, 3)`` (Å; zero on
            padding).
        species: species indices, shape ``(n_structures, n_max)`` (0 on padding).
        atom_mask: which atoms are real, shape ``(n_structures, n_max)``.
        box: cells, lattice vectors as columns, shape ``(n_structures, 3, 3)`` (Å).
        energy: reference energies, shape ``(n_structures,)`` (eV).
        forces: reference forces, shape ``(n_structures, n_max, 3)`` (eV/Å).
        stress: reference stresses ``(1/V) ∂E/∂ε``, shape ``(n_structures, 3, 3)`` (eV/Å³).
        neighbor_index: neighbours closer than the cutoff, shape
            ``(n_structures, n_max, k)``.
        neighbor_mask: valid entries of ``neighbor_index``, same shape.
        symbols: static, the species' chemical symbols.
        cutoff: static, the cutoff the tables were built for (Å).
    """

    positions: Float[Array, "s n 3"]
    species: Int[Array, "s n"]
    atom_mask: Bool[Array, "s n"]
    box: Float[Array, "s 3 3"]
    energy: Float[Array, " s"]
    forces: Float[Array, "s n 3"]
    stress: Float[Array, "s 3 3"]
    neighbor_index: Int[Array, "s n k"]
    neighbor_mask: Bool[Array, "s n k"]
    symbols: tuple[str, ...] = eqx.field(static=True)
    cutoff: float = eqx.field(static=True)

    @property
    def n_structures(self) -> int:
        """The number of structures."""
        return int(self.energy.shape[0])

    @property
    def n_atoms(self) -> Int[Array, " s"]:
        """The number of real atoms of each structure, shape ``(n_structures,)``."""
        return jnp.sum(self.atom_mask, axis=1)

    @property
    def labels(self) -> StructureLabels:
        """The reference labels as `StructureLabels`."""
        return StructureLabels(self.energy, self.forces, self.stress)


def _frames_to_arrays(frames: Sequence[Frame]) -> dict[str, list]:
    rows: dict[str, list] = {k: [] for k in ("positions", "species", "box", "energy", "forces",
                                              "stress")}  # fmt: skip
    for k, frame in enumerate(frames):
        if not isinstance(frame, Frame):
            raise TypeError(f"data[{k}] must be a Frame, got {type(frame).__name__}")
        missing = [name for name in ("energy", "forces", "stress") if getattr(frame, name) is None]
        if missing:
            raise ValueError(f"data[{k}] has no {', '.join(missing)} label(s): training needs "
                             "energies, forces and stresses")  # fmt: skip
        s = frame.structure
        rows["positions"].append(np.asarray(s.positions, np.float64))
        rows["species"].append(np.asarray(s.species))
        rows["box"].append(np.asarray(s.box, np.float64))
        rows["energy"].append(float(frame.energy))  # type: ignore[arg-type]
        rows["forces"].append(np.asarray(frame.forces, np.float64))
        rows["stress"].append(np.asarray(frame.stress, np.float64))
    return rows


def _arrays_to_rows(arrays: Mapping[str, Any]) -> dict[str, list]:
    needed = ("positions", "forces", "species", "n_atoms", "box", "energy", "stress")
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise ValueError(f"data is missing the arrays {missing} (see reference_dataset)")
    n_atoms = np.asarray(arrays["n_atoms"], np.int64)
    offsets = np.concatenate([[0], np.cumsum(n_atoms)])
    total = int(offsets[-1])
    for name in ("positions", "forces", "species"):
        if np.shape(arrays[name])[0] != total:
            raise ValueError(f"data[{name!r}] has {np.shape(arrays[name])[0]} rows but n_atoms "
                             f"sums to {total}")  # fmt: skip
    rows: dict[str, list] = {k: [] for k in ("positions", "species", "box", "energy", "forces",
                                              "stress")}  # fmt: skip
    for k in range(len(n_atoms)):
        sl = slice(int(offsets[k]), int(offsets[k + 1]))
        rows["positions"].append(np.asarray(arrays["positions"][sl], np.float64))
        rows["species"].append(np.asarray(arrays["species"][sl]))
        rows["forces"].append(np.asarray(arrays["forces"][sl], np.float64))
        rows["box"].append(np.asarray(arrays["box"][k], np.float64))
        rows["energy"].append(float(arrays["energy"][k]))
        rows["stress"].append(np.asarray(arrays["stress"][k], np.float64))
    return rows


def _neighbor_table(positions: np.ndarray, box: np.ndarray, cutoff: float) -> list[np.ndarray]:
    """Per atom, the indices of the atoms closer than ``cutoff`` (minimum image)."""
    frac = positions @ np.linalg.inv(box).T
    ds = frac[None, :, :] - frac[:, None, :]
    ds -= np.round(ds)
    distance = np.linalg.norm(ds @ box.T, axis=-1)
    np.fill_diagonal(distance, np.inf)
    return [np.flatnonzero(row < cutoff) for row in distance]


def make_dataset(
    data: Mapping[str, Any] | Sequence[Frame],
    symbols: Sequence[str],
    *,
    cutoff: float,
    dtype: Any = None,
    capacity: int | None = None,
) -> AtomisticDataset:
    """Pad labelled structures into an `AtomisticDataset` with neighbour tables.

    Args:
        data: the arrays of `reference_dataset` (``positions``, ``forces``, ``species``,
            ``n_atoms``, ``box``, ``energy``, ``stress``: per-atom arrays concatenated over
            the structures), or a sequence of labelled `Frame` (e.g. from `read_extxyz`, for
            your own DFT data).
        symbols: the chemical symbol of each species index.
        cutoff: the model's cutoff (Å); every cell must be at least twice as wide.
        dtype: the floating dtype of the arrays (default JAX's default float).
        capacity: the neighbour-table width ``k`` (default: the densest environment's count).

    Returns:
        An `AtomisticDataset`.

    Raises:
        ValueError: for an empty dataset (``data``), species indices outside ``symbols``
            (species count mismatch), a cell narrower than twice ``cutoff``, a non-positive
            ``cutoff``, inconsistent array sizes or a ``capacity`` below the densest
            environment.
    """
    if not float(cutoff) > 0:
        raise ValueError(f"cutoff must be positive, got {cutoff!r}")
    symbols = tuple(symbols)
    if not symbols:
        raise ValueError("symbols must name at least one species")
    rows = _arrays_to_rows(data) if isinstance(data, Mapping) else _frames_to_arrays(list(data))
    count = len(rows["energy"])
    if count == 0:
        raise ValueError("data is empty: a dataset needs at least one labelled structure")
    n_max = max(len(x) for x in rows["positions"])
    tables = []
    for k in range(count):
        x, s, box = rows["positions"][k], rows["species"][k], rows["box"][k]
        if x.ndim != 2 or x.shape[1] != 3 or rows["forces"][k].shape != x.shape:
            raise ValueError(f"data: structure {k} has positions {x.shape} and forces "
                             f"{rows['forces'][k].shape}; both must be (n_atoms, 3)")  # fmt: skip
        if s.shape != (len(x),) or not np.issubdtype(s.dtype, np.integer):
            raise ValueError(f"data: structure {k} needs integer species of shape ({len(x)},)")
        if len(s) and (s.min() < 0 or s.max() >= len(symbols)):
            raise ValueError(
                f"species mismatch: structure {k} holds species index {int(s.max())} but "
                f"symbols names {len(symbols)} species {symbols}"
            )
        if box.shape != (3, 3) or rows["stress"][k].shape != (3, 3):
            raise ValueError(f"data: structure {k} needs a (3, 3) box and a (3, 3) stress")
        width = float(perpendicular_widths(box).min())
        if width < 2 * float(cutoff):
            raise ValueError(
                f"box of structure {k} is too small for cutoff {cutoff:g}: its narrowest "
                f"width {width:.4g} must be at least 2 cutoff = {2 * float(cutoff):g}"
            )
        tables.append(_neighbor_table(x, box, float(cutoff)))
    densest = max(max((len(t) for t in table), default=0) for table in tables)
    k_max = max(densest, 1) if capacity is None else int(capacity)
    if k_max < densest:
        raise ValueError(f"capacity {capacity} is below the densest environment ({densest})")
    dtype = jnp.result_type(float) if dtype is None else dtype
    positions = np.zeros((count, n_max, 3))
    forces = np.zeros((count, n_max, 3))
    species = np.zeros((count, n_max), np.int32)
    atom_mask = np.zeros((count, n_max), bool)
    index = np.zeros((count, n_max, k_max), np.int32)
    mask = np.zeros((count, n_max, k_max), bool)
    for k in range(count):
        n = len(rows["positions"][k])
        positions[k, :n] = rows["positions"][k]
        forces[k, :n] = rows["forces"][k]
        species[k, :n] = rows["species"][k]
        atom_mask[k, :n] = True
        for i, neighbours in enumerate(tables[k]):
            index[k, i, : len(neighbours)] = neighbours
            mask[k, i, : len(neighbours)] = True
    return AtomisticDataset(
        positions=jnp.asarray(positions, dtype),
        species=jnp.asarray(species),
        atom_mask=jnp.asarray(atom_mask),
        box=jnp.asarray(np.stack(rows["box"]), dtype),
        energy=jnp.asarray(np.asarray(rows["energy"]), dtype),
        forces=jnp.asarray(forces, dtype),
        stress=jnp.asarray(np.stack(rows["stress"]), dtype),
        neighbor_index=jnp.asarray(index),
        neighbor_mask=jnp.asarray(mask),
        symbols=symbols,
        cutoff=float(cutoff),
    )


def subset_dataset(dataset: AtomisticDataset, indices: Any) -> AtomisticDataset:
    """The structures ``indices`` (integer indices or a boolean mask) of a dataset.

    Raises:
        ValueError: if no structure is selected.
    """
    selection = np.asarray(indices)
    if selection.dtype == bool:
        selection = np.flatnonzero(selection)
    if selection.size == 0:
        raise ValueError("indices selects no structure")
    return jax.tree_util.tree_map(lambda x: x[selection], dataset)


def split_dataset(
    dataset: AtomisticDataset, validation_fraction: float = 0.2, *, seed: int = 0
) -> tuple[AtomisticDataset, AtomisticDataset]:
    """A seeded random split into training and validation structures.

    Args:
        dataset: the dataset.
        validation_fraction: the share of structures held out, in ``(0, 1)`` (at least one
            structure on each side).
        seed: the seed of the permutation (NumPy's default generator).

    Returns:
        ``(train, validation)``.

    Raises:
        ValueError: for a fraction outside ``(0, 1)`` or a dataset of fewer than two
            structures.
    """
    if not 0 < float(validation_fraction) < 1:
        raise ValueError(f"validation_fraction must lie in (0, 1), got {validation_fraction!r}")
    count = dataset.n_structures
    if count < 2:
        raise ValueError(f"dataset must hold at least two structures to split, got {count}")
    held_out = min(max(1, round(validation_fraction * count)), count - 1)
    order = np.random.default_rng(seed).permutation(count)
    return subset_dataset(dataset, np.sort(order[held_out:])), subset_dataset(
        dataset, np.sort(order[:held_out])
    )


# ---------------------------------------------------------------------------------------------
# Evaluation on the padded tables
# ---------------------------------------------------------------------------------------------


def table_vectors(
    positions: Float[Array, "n 3"], box: Float[Array, "3 3"], index: Int[Array, "n k"]
) -> Float[Array, "n k 3"]:
    """Minimum-image vectors ``x_j - x_i`` for a neighbour table (any cell shape)."""
    frac = fractional(positions, box)
    ds = frac[index] - frac[:, None, :]
    return cartesian(ds - jnp.round(ds), box)


def structure_energy(
    potential: AbstractLearnedPotential,
    positions: Float[Array, "n 3"],
    box: Float[Array, "3 3"],
    species: Int[Array, " n"],
    atom_mask: Bool[Array, " n"],
    index: Int[Array, "n k"],
    mask: Bool[Array, "n k"],
) -> Scalar:
    """The energy of one padded structure of a dataset (padding atoms excluded)."""
    vectors = table_vectors(positions, box, index)
    energies = potential.neighbor_energies(species, index, mask & atom_mask[:, None], vectors)
    return jnp.sum(jnp.where(atom_mask, energies, 0.0))


def evaluate_structure(
    potential: AbstractLearnedPotential,
    positions: Float[Array, "n 3"],
    box: Float[Array, "3 3"],
    species: Int[Array, " n"],
    atom_mask: Bool[Array, " n"],
    index: Int[Array, "n k"],
    mask: Bool[Array, "n k"],
) -> tuple[Scalar, Float[Array, "n 3"], Float[Array, "3 3"]]:
    """Energy, forces and stress of one padded structure (one reverse pass, as `evaluate`)."""

    def strained(strain, x):
        deformation = jnp.eye(3, dtype=x.dtype) + 0.5 * (strain + strain.T)
        return structure_energy(
            potential, x @ deformation.T, deformation @ box, species, atom_mask, index, mask
        )

    strain = jnp.zeros((3, 3), positions.dtype)
    energy, (strain_gradient, gradient) = jax.value_and_grad(strained, argnums=(0, 1))(
        strain, positions
    )
    volume = jnp.abs(jnp.linalg.det(box))
    return energy, -gradient, strain_gradient / volume


def _evaluate_one(potential, item):
    positions, box, species, atom_mask, index, mask = item
    return evaluate_structure(potential, positions, box, species, atom_mask, index, mask)


@eqx.filter_jit
def _evaluate_all(potential, dataset, batch_size):
    items = (dataset.positions, dataset.box, dataset.species, dataset.atom_mask,
             dataset.neighbor_index, dataset.neighbor_mask)  # fmt: skip
    energy, forces, stress = jax.lax.map(
        lambda item: _evaluate_one(potential, item), items, batch_size=batch_size
    )
    return StructureLabels(energy, forces, stress)


def evaluate_dataset(
    potential: AbstractLearnedPotential, dataset: AtomisticDataset, *, batch_size: int = 8
) -> StructureLabels:
    """A learned potential's energies, forces and stresses on every structure of a dataset.

    Args:
        potential: a learned potential whose cutoff is at most the dataset's.
        dataset: the structures.
        batch_size: structures evaluated together (``jax.lax.map``'s batch).

    Returns:
        `StructureLabels` (forces are zero on padding atoms).

    Raises:
        ValueError: if the potential's cutoff exceeds the dataset's table cutoff or its
            species count does not cover the dataset's symbols.
    """
    check_compatible(potential, dataset)
    return _evaluate_all(potential, dataset, int(batch_size))


def check_compatible(potential: AbstractPotential, dataset: AtomisticDataset) -> None:
    """Raise if ``dataset``'s tables or species do not suit ``potential``."""
    if not isinstance(dataset, AtomisticDataset):
        raise TypeError(f"dataset must be an AtomisticDataset, got {type(dataset).__name__}")
    if potential.cutoff > dataset.cutoff * (1 + 1e-12):
        raise ValueError(
            f"dataset was tabulated for cutoff {dataset.cutoff:g} but the potential's cutoff is "
            f"{potential.cutoff:g}: rebuild it with make_dataset(..., cutoff={potential.cutoff})"
        )
    if tuple(potential.symbols) != tuple(dataset.symbols):
        raise ValueError(
            f"species mismatch: the dataset's symbols are {dataset.symbols} but the "
            f"potential's are {tuple(potential.symbols)}"
        )
