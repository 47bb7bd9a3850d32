"""Periodic atomic structures: the `Structure` pytree, lattice builders, defects, alloys, and
the checks that make bad input loud (overlapping atoms, boxes too small for a cutoff,
species that do not match).

Conventions (those of jax-md and LAMMPS): ``box`` is a ``(3, 3)`` matrix whose *columns* are
the lattice vectors, so a fractional position ``s`` maps to ``x = box @ s``; builders make it
upper triangular (``a₁ = (L_x, 0, 0)``, ``a₂ = (xy, L_y, 0)``, ``a₃ = (xz, yz, L_z)``), which
jax-md's cell lists need. ASE stores the transpose (``cell = box.T``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import cKDTree

from .._custom_types import Array, ArrayLike, DTypeLike, Float, Int, Key
from .._static import is_concrete

Box: TypeAlias = Float[Array, "3 3"] | Float[Array, " 3"]
"""A periodic cell: ``(3, 3)`` lattice vectors as columns, or ``(3,)`` orthorhombic sides."""

__all__ = [
    "Box",
    "Structure",
    "bcc",
    "check_structure",
    "deform",
    "diamond",
    "fcc",
    "minimum_distance",
    "perpendicular_widths",
    "random_alloy",
    "random_vacancies",
    "rattle",
    "remove_atoms",
    "supercell",
]


class Structure(eqx.Module):
    """A periodic configuration of atoms.

    Attributes:
        positions: Cartesian positions, shape ``(n_atoms, 3)`` (length units of the
            potential: Å in metal units, σ in reduced units). They need not lie inside the
            box (periodic images are equivalent; MD keeps them unwrapped).
        box: the periodic cell, shape ``(3, 3)``, lattice vectors as columns.
        species: the species index of each atom, shape ``(n_atoms,)``, integers in
            ``[0, len(symbols))``.
        symbols: static, the chemical symbol of each species index (``("Cu", "Ni")``);
            ``"X"`` for the reduced-unit Lennard-Jones particle.
    """

    positions: Float[Array, "n 3"]
    box: Float[Array, "3 3"]
    species: Int[Array, " n"]
    symbols: tuple[str, ...] = eqx.field(static=True)

    @property
    def n_atoms(self) -> int:
        """The number of atoms."""
        return self.positions.shape[0]

    @property
    def volume(self) -> Array:
        """The cell volume ``|det box|``."""
        return jnp.abs(jnp.linalg.det(self.box))

    @property
    def chemical_symbols(self) -> list[str]:
        """The symbol of every atom (concrete species only)."""
        return [self.symbols[int(s)] for s in np.asarray(self.species)]


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def perpendicular_widths(box: ArrayLike) -> np.ndarray:
    """The three distances between opposite faces of the cell, shape ``(3,)``.

    ``w_k = V / |a_i × a_j|`` for the face spanned by the other two lattice vectors. The
    minimum-image convention finds every pair closer than ``r_c`` exactly when
    ``min w_k ≥ 2 r_c``.
    """
    cell = np.asarray(box, dtype=np.float64)
    if cell.ndim == 1:
        cell = np.diag(cell)
    a = cell.T  # rows: lattice vectors
    volume = abs(float(np.linalg.det(cell)))
    areas = np.array(
        [np.linalg.norm(np.cross(a[1], a[2])), np.linalg.norm(np.cross(a[2], a[0])),
         np.linalg.norm(np.cross(a[0], a[1]))]
    )  # fmt: skip
    return volume / areas


def _check_arrays(positions: Any, box: Any, species: Any) -> tuple[int, Any, Any, Any]:
    positions_shape = np.shape(positions)
    if len(positions_shape) != 2 or positions_shape[1] != 3:
        raise ValueError(f"positions must have shape (n_atoms, 3), got {positions_shape}")
    n = positions_shape[0]
    if n < 1:
        raise ValueError("positions must hold at least one atom, got shape (0, 3)")
    if np.shape(box) not in ((3, 3), (3,)):
        raise ValueError(f"box must have shape (3, 3) (lattice vectors as columns) or (3,) "
                         f"(orthorhombic sides), got {np.shape(box)}")  # fmt: skip
    if np.shape(species) != (n,):
        raise ValueError(
            f"species must have shape (n_atoms,) = ({n},) to match positions, got "
            f"{np.shape(species)}"
        )
    species_dtype = species.dtype if hasattr(species, "dtype") else np.asarray(species).dtype
    if not np.issubdtype(np.dtype(species_dtype), np.integer):
        raise TypeError(f"species must hold integers, got dtype {species_dtype}")
    return n, positions, box, species


def minimum_distance(positions: ArrayLike, box: ArrayLike, *, below: float) -> float | None:
    """The smallest minimum-image distance between two atoms if it is below ``below``.

    Pairs are searched with a k-d tree over fractional coordinates (periodic, any cell
    shape), so the cost is about ``O(n log n)``.

    Args:
        positions: shape ``(n_atoms, 3)``.
        box: shape ``(3, 3)``, lattice vectors as columns.
        below: the distance of interest (length units), less than half the smallest
            perpendicular width of the cell.

    Returns:
        The smallest distance below ``below``, or ``None`` if no pair is that close.
    """
    x = np.asarray(positions, dtype=np.float64)
    cell = np.asarray(box, dtype=np.float64)
    if x.shape[0] < 2:
        return None
    inverse = np.linalg.inv(cell)
    frac = np.mod(x @ inverse.T, 1.0)
    frac[frac >= 1.0] = 0.0  # mod may round up to exactly 1
    # |Δs| <= ||box⁻¹||₂ |Δx|: every Cartesian pair within `below` is within this radius.
    radius = below * np.linalg.norm(inverse, 2)
    tree = cKDTree(frac, boxsize=1.0)
    pairs = tree.query_pairs(min(radius, 0.499), output_type="ndarray")
    if len(pairs) == 0:
        return None
    ds = frac[pairs[:, 1]] - frac[pairs[:, 0]]
    ds -= np.round(ds)
    distances = np.linalg.norm(ds @ cell.T, axis=1)
    smallest = float(distances.min())
    return smallest if smallest < below else None


def check_structure(
    positions: ArrayLike,
    box: ArrayLike,
    species: ArrayLike,
    *,
    cutoff: float | None = None,
    n_species: int | None = None,
    min_distance: float | None = None,
    skin: float = 0.0,
) -> None:
    """Raise a clear error for a structure that a potential cannot evaluate.

    Checks run on concrete arrays only (inside ``jit`` they are skipped): shapes, a
    non-degenerate cell, species indices in range, a cell wide enough for the cutoff (the
    minimum-image convention needs every perpendicular width ``≥ 2 (cutoff + skin)``) and no
    two atoms closer than ``min_distance``.

    Args:
        positions: shape ``(n_atoms, 3)``.
        box: shape ``(3, 3)``, lattice vectors as columns, or ``(3,)`` orthorhombic sides.
        species: shape ``(n_atoms,)``, integers.
        cutoff: the interaction cutoff (length units), or ``None`` to skip the width check.
        n_species: how many species the potential knows, or ``None``.
        min_distance: atoms closer than this overlap (length units), or ``None`` to check
            only for coincident atoms (closer than ``1e-6`` of the cell's smallest width).
        skin: the neighbour-list skin added to the cutoff in the width check.

    Raises:
        ValueError: naming the argument at fault (``positions``, ``box``, ``species``).
        TypeError: for non-integer species.
    """
    _n, positions, box, species = _check_arrays(positions, box, species)
    if not (is_concrete(positions) and is_concrete(box) and is_concrete(species)):
        return
    cell = np.asarray(box, dtype=np.float64)
    if cell.ndim == 1:
        cell = np.diag(cell)
    x = np.asarray(positions, dtype=np.float64)
    if not np.all(np.isfinite(cell)):
        raise ValueError("box must be finite")
    if not np.all(np.isfinite(x)):
        raise ValueError("positions must be finite (found NaN or inf)")
    volume = float(np.linalg.det(cell))
    scale = float(np.max(np.abs(cell)))
    if not abs(volume) > 1e-12 * max(scale, 1e-300) ** 3:
        raise ValueError(f"box is singular (volume {volume:g}): its columns must be three "
                         "independent lattice vectors")  # fmt: skip
    if volume < 0:
        raise ValueError(f"box must be right-handed (det box > 0), got det {volume:g}")
    s = np.asarray(species)
    if s.min() < 0:
        raise ValueError(f"species must be non-negative, got {int(s.min())}")
    if n_species is not None and s.max() >= n_species:
        raise ValueError(
            f"species holds index {int(s.max())} but the potential knows {n_species} "
            f"species (indices 0..{n_species - 1})"
        )
    widths = perpendicular_widths(cell)
    if cutoff is not None:
        reach = float(cutoff) + float(skin)
        if widths.min() < 2 * reach:
            what = "cutoff" if skin == 0 else f"cutoff + skin ({cutoff:g} + {skin:g})"
            raise ValueError(
                f"box is too small: its perpendicular widths {np.round(widths, 6).tolist()} "
                f"must all be at least twice the {what} = {2 * reach:g} (use a supercell)"
            )
    threshold = 1e-6 * widths.min() if min_distance is None else float(min_distance)
    closest = minimum_distance(x, cell, below=min(threshold, 0.49 * widths.min()))
    if closest is not None:
        raise ValueError(
            f"positions has overlapping atoms: two atoms are {closest:.6g} apart, closer "
            f"than the minimum distance {threshold:.6g}"
        )


def _check_symbols(symbols: Sequence[str], n_species: int, name: str = "symbols") -> tuple:
    symbols = tuple(symbols)
    if not all(isinstance(s, str) and s for s in symbols):
        raise TypeError(f"{name} must be non-empty strings, got {symbols!r}")
    if len(set(symbols)) != len(symbols):
        raise ValueError(f"{name} must be distinct, got {symbols!r}")
    if len(symbols) < n_species:
        raise ValueError(f"{name} names {len(symbols)} species but species uses {n_species}")
    return symbols


def _make(positions: np.ndarray, box: np.ndarray, species: np.ndarray, symbols, dtype):
    dtype = jnp.result_type(float) if dtype is None else dtype
    return Structure(
        positions=jnp.asarray(positions, dtype=dtype),
        box=jnp.asarray(box, dtype=dtype),
        species=jnp.asarray(species, dtype=jnp.int32),
        symbols=tuple(symbols),
    )


# ---------------------------------------------------------------------------------------------
# Lattices
# ---------------------------------------------------------------------------------------------

_BASES = {
    "fcc": np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]]),
    "bcc": np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]),
    "diamond": np.array(
        [
            [0.0, 0.0, 0.0],
            [0.0, 0.5, 0.5],
            [0.5, 0.0, 0.5],
            [0.5, 0.5, 0.0],
            [0.25, 0.25, 0.25],
            [0.25, 0.75, 0.75],
            [0.75, 0.25, 0.75],
            [0.75, 0.75, 0.25],
        ]
    ),
}


def _repeats(repeats: int | Sequence[int], name: str = "repeats") -> tuple[int, int, int]:
    if isinstance(repeats, (int, np.integer)) and not isinstance(repeats, bool):
        repeats = (int(repeats),) * 3
    try:
        values = tuple(int(r) for r in repeats)  # type: ignore[union-attr]
        ok = len(values) == 3 and all(
            not isinstance(r, bool) and int(r) == r and r >= 1
            for r in repeats  # type: ignore[union-attr]
        )
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a positive integer or three of them, got {repeats!r}")
    return values  # type: ignore[return-value]


def _cubic(kind: str, lattice_constant: float, repeats, symbol: str, dtype) -> Structure:
    try:
        a = float(lattice_constant)
    except (TypeError, ValueError):
        raise ValueError(f"lattice_constant must be a positive number, got "
                         f"{lattice_constant!r}") from None  # fmt: skip
    if not (np.isfinite(a) and a > 0):
        raise ValueError(f"lattice_constant must be positive and finite, got {a}")
    nx, ny, nz = _repeats(repeats)
    symbol = _check_symbols((symbol,), 1, "symbol")[0]
    basis = _BASES[kind]
    cells = np.stack(np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij"), -1)
    frac = (cells.reshape(-1, 1, 3) + basis[None]).reshape(-1, 3)
    positions = frac * a
    box = np.diag([nx * a, ny * a, nz * a])
    return _make(positions, box, np.zeros(len(positions), np.int32), (symbol,), dtype)


def fcc(
    lattice_constant: float,
    repeats: int | Sequence[int] = 1,
    *,
    symbol: str = "X",
    dtype: DTypeLike | None = None,
) -> Structure:
    """A face-centred cubic crystal: ``repeats`` conventional cells of 4 atoms.

    Args:
        lattice_constant: the cubic lattice constant ``a`` (length units).
        repeats: conventional cells along x, y, z (an int for all three).
        symbol: the chemical symbol (species 0).
        dtype: float dtype of positions and box (default: JAX's default float).

    Returns:
        A `Structure` of ``4 n_x n_y n_z`` atoms in an orthorhombic box.

    Raises:
        ValueError: for a non-positive ``lattice_constant`` or ``repeats``.

    Example:
        >>> fcc(1.5496, 3).n_atoms
        108
    """
    return _cubic("fcc", lattice_constant, repeats, symbol, dtype)


def bcc(
    lattice_constant: float,
    repeats: int | Sequence[int] = 1,
    *,
    symbol: str = "X",
    dtype: DTypeLike | None = None,
) -> Structure:
    """A body-centred cubic crystal: ``repeats`` conventional cells of 2 atoms (see `fcc`)."""
    return _cubic("bcc", lattice_constant, repeats, symbol, dtype)


def diamond(
    lattice_constant: float,
    repeats: int | Sequence[int] = 1,
    *,
    symbol: str = "Si",
    dtype: DTypeLike | None = None,
) -> Structure:
    """A diamond-cubic crystal: ``repeats`` conventional cells of 8 atoms (see `fcc`).

    The diamond lattice is fcc with a two-atom basis ``(0, 0, 0)`` and ``(¼, ¼, ¼) a``; it
    lacks inversion symmetry at the atoms, so its shear moduli need internal relaxation
    (see `elastic_constants`).
    """
    return _cubic("diamond", lattice_constant, repeats, symbol, dtype)


# ---------------------------------------------------------------------------------------------
# Transformations
# ---------------------------------------------------------------------------------------------


def supercell(structure: Structure, repeats: int | Sequence[int]) -> Structure:
    """The structure repeated ``repeats`` times along each lattice vector.

    Atom ``i`` of image ``(p, q, r)`` sits at ``x_i + p a₁ + q a₂ + r a₃``; images are
    ordered with the atom index fastest.

    Raises:
        ValueError: for non-positive ``repeats``.
    """
    nx, ny, nz = _repeats(repeats)
    x = np.asarray(structure.positions)
    cell = np.asarray(structure.box)
    shifts = np.stack(
        np.meshgrid(np.arange(nx), np.arange(ny), np.arange(nz), indexing="ij"), -1
    ).reshape(-1, 3)
    positions = (x[None, :, :] + (shifts @ cell.T)[:, None, :]).reshape(-1, 3)
    species = np.tile(np.asarray(structure.species), len(shifts))
    box = cell * np.array([nx, ny, nz])[None, :]
    return _make(positions, box, species, structure.symbols, structure.positions.dtype)


def remove_atoms(structure: Structure, indices: Sequence[int] | ArrayLike) -> Structure:
    """The structure without the atoms at ``indices`` (vacancies).

    Raises:
        ValueError: for indices out of range, repeated, or removing every atom.
    """
    index = np.asarray(indices, dtype=np.int64).reshape(-1)
    n = structure.n_atoms
    if index.size and (index.min() < -n or index.max() >= n):
        raise ValueError(f"indices must lie in [0, {n}), got {index.tolist()}")
    index = np.mod(index, n)
    if len(np.unique(index)) != len(index):
        raise ValueError(f"indices must be distinct, got {index.tolist()}")
    if len(index) >= n:
        raise ValueError("indices would remove every atom")
    keep = np.setdiff1d(np.arange(n), index)
    return _make(
        np.asarray(structure.positions)[keep],
        np.asarray(structure.box),
        np.asarray(structure.species)[keep],
        structure.symbols,
        structure.positions.dtype,
    )


def random_vacancies(structure: Structure, count: int, key: Key) -> Structure:
    """The structure with ``count`` atoms removed at random (uniformly, without repeats).

    Raises:
        ValueError: for ``count`` not in ``[0, n_atoms)``.
    """
    if isinstance(count, bool) or int(count) != count or not 0 <= count < structure.n_atoms:
        raise ValueError(f"count must be an integer in [0, {structure.n_atoms}), got {count!r}")
    order = np.asarray(jax.random.permutation(key, structure.n_atoms))
    return remove_atoms(structure, order[: int(count)])


def random_alloy(
    structure: Structure,
    symbols: Sequence[str],
    fractions: Sequence[float],
    key: Key,
) -> Structure:
    """A random substitutional alloy on the sites of ``structure``.

    Species ``k`` gets ``round(fractions[k] n_atoms)`` sites (the last species the rest),
    placed by a random permutation of the sites.

    Args:
        structure: the lattice (its species are replaced).
        symbols: the species' chemical symbols, e.g. ``("Cu", "Ni")``.
        fractions: their atomic fractions, non-negative and summing to 1.
        key: the PRNG key.

    Raises:
        ValueError: if ``fractions`` and ``symbols`` differ in length, or ``fractions`` are
            negative or do not sum to 1.
    """
    symbols = _check_symbols(symbols, 1)
    shares = np.asarray(fractions, dtype=np.float64).reshape(-1)
    if len(shares) != len(symbols):
        raise ValueError(f"fractions has {len(shares)} entries for {len(symbols)} symbols")
    if np.any(shares < 0) or not np.isclose(shares.sum(), 1.0, atol=1e-9):
        raise ValueError(f"fractions must be non-negative and sum to 1, got {shares.tolist()}")
    n = structure.n_atoms
    counts = np.round(shares[:-1] * n).astype(np.int64)
    counts = np.append(counts, n - counts.sum())
    if counts[-1] < 0:
        raise ValueError(f"fractions {shares.tolist()} do not fit {n} sites")
    labels = np.repeat(np.arange(len(symbols), dtype=np.int32), counts)
    order = np.asarray(jax.random.permutation(key, n))
    species = np.empty(n, np.int32)
    species[order] = labels
    return _make(
        np.asarray(structure.positions), np.asarray(structure.box), species, symbols,
        structure.positions.dtype,
    )  # fmt: skip


def deform(structure: Structure, deformation_gradient: ArrayLike) -> Structure:
    """The structure under a homogeneous deformation ``x ↦ F x``, ``box ↦ F box``.

    Works on traced arrays (differentiable in ``F``).

    Args:
        structure: the reference structure.
        deformation_gradient: ``F``, shape ``(3, 3)`` (``I + ε`` for a small strain ``ε``).

    Raises:
        ValueError: for a shape other than ``(3, 3)``.
    """
    f = jnp.asarray(deformation_gradient)
    if f.shape != (3, 3):
        raise ValueError(f"deformation_gradient must have shape (3, 3), got {f.shape}")
    f = f.astype(structure.positions.dtype)
    return eqx.tree_at(
        lambda s: (s.positions, s.box),
        structure,
        (structure.positions @ f.T, f @ structure.box),
    )


def rattle(structure: Structure, stddev: float, key: Key) -> Structure:
    """The structure with independent Gaussian displacements of standard deviation
    ``stddev`` (length units) added to every coordinate.

    Raises:
        ValueError: for a negative ``stddev``.
    """
    if not float(stddev) >= 0:
        raise ValueError(f"stddev must be non-negative, got {stddev!r}")
    noise = jax.random.normal(key, structure.positions.shape, structure.positions.dtype)
    return eqx.tree_at(lambda s: s.positions, structure, structure.positions + stddev * noise)
