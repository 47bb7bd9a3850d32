"""Neighbour lists: jax-md's cell-list neighbour lists behind a small wrapper that never lets
an overflow pass silently.

jax-md's lists have a fixed capacity (their arrays' shapes are static under ``jit``); when
atoms crowd together the list *overflows* and would miss pairs. Here:

- outside ``jit``, `NeighborListBuilder.update` reallocates a larger list by itself;
- inside ``jit`` it cannot (shapes are static), so it returns the list with its error code
  set, and `neighbor_list_overflowed` reads it: MD drivers check it after each jitted chunk,
  reallocate and redo the chunk (see `run_md`).

Positions are Cartesian and may be unwrapped. For a fixed orthorhombic box the list uses
jax-md's ``space.periodic`` on wrapped positions (its fastest path); otherwise
(``box_changes=True``, as in NPT, or a triclinic box) it works on fractional coordinates
with ``space.periodic_general``, so the box may change between updates; upper-triangular
boxes use jax-md's cell list, other shapes fall back to the ``O(n²)`` candidate search.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any, Literal, TypeAlias

import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, ArrayLike, Bool, Float
from .._static import is_concrete
from ._jax_md import partition, space
from ._structures import Box, perpendicular_widths

__all__ = [
    "NeighborList",
    "NeighborListBuilder",
    "neighbor_list_overflowed",
]

NeighborList: TypeAlias = partition.NeighborList
"""jax-md's neighbour list (a pytree): ``idx`` is ``(n_atoms, capacity)`` for the dense
format (padding index ``n_atoms``) or ``(2, capacity)`` for the sparse (half) format."""

_ERROR_BITS = int(
    partition.PEC.NEIGHBOR_LIST_OVERFLOW
    | partition.PEC.CELL_LIST_OVERFLOW
    | partition.PEC.CELL_SIZE_TOO_SMALL
)


@contextlib.contextmanager
def jax_md_context() -> Iterator[None]:
    """Standard dtype and rank promotion while tracing jax-md code (it mixes float32
    constants with float64 arrays and relies on rank promotion); local, never global."""
    with (
        jax.numpy_dtype_promotion("standard"),
        jax.numpy_rank_promotion("allow"),
        warnings.catch_warnings(),
    ):
        # jax-md scatters int64 indices into int32 buffers under x64 (harmless)
        warnings.filterwarnings("ignore", "scatter inputs have incompatible types")
        # its high-precision sums ask for float64 also when x64 is off (then float32)
        warnings.filterwarnings("ignore", "Explicitly requested dtype float64")
        yield


def neighbor_list_overflowed(neighbors: Any) -> Bool[Array, ""]:
    """Whether a neighbour list overflowed (too many neighbours, a full cell list, or cells
    too small after the box changed): its pairs are incomplete and it must be reallocated.

    Works inside ``jit`` (returns a boolean array).
    """
    return (neighbors.error.code & _ERROR_BITS) != 0


def _fractional(positions: Array, box: Array) -> Array:
    frac = positions @ jnp.linalg.inv(box).T
    frac = frac - jnp.floor(frac)
    return jnp.where(frac >= 1, frac - 1, frac)  # floor rounding can leave exactly 1


# jax-md builds new closures on every allocation (its neighbour and cell-list functions);
# they are static fields of the list, so fresh ones would recompile every jitted function
# the list enters. Equal configurations share them here instead.
_FUNCTIONS: dict[tuple, Any] = {}
_CLOSURES: dict[tuple, tuple[Any, Any]] = {}
# jax-md's update function of a list -> the orthorhombic sides it was built for (None: the
# fractional path, for any box)
_SIDES: dict[Any, tuple[float, ...] | None] = {}


def _shared_closures(neighbors: NeighborList, key: tuple) -> NeighborList:
    static = (
        *key,
        neighbors.max_occupancy,
        neighbors.cell_list_capacity,
        None if neighbors.cell_size is None else float(neighbors.cell_size),
    )
    if static in _CLOSURES:
        cell_list_fn, update_fn = _CLOSURES[static]
        return neighbors.set(cell_list_fn=cell_list_fn, update_fn=update_fn)
    _CLOSURES[static] = (neighbors.cell_list_fn, neighbors.update_fn)
    return neighbors


def _round_capacity(neighbors: NeighborList, n: int) -> NeighborList:
    """Pad the capacity up to a multiple of 8 (dense) or 256 (sparse), so that lists of
    similar systems share their shapes (and compiled functions)."""
    width = neighbors.idx.shape[-1]
    step = 8 if neighbors.format is partition.Dense else 256
    limit = n - 1 if neighbors.format is partition.Dense else None
    target = -(-width // step) * step
    if limit is not None:
        target = min(target, max(limit, width))
    if target == width:
        return neighbors
    pad = jnp.full((*neighbors.idx.shape[:-1], target - width), n, neighbors.idx.dtype)
    return neighbors.set(idx=jnp.concatenate([neighbors.idx, pad], axis=-1), max_occupancy=target)


def _wrapped(positions: Array, side: Array) -> Array:
    wrapped = positions - side * jnp.floor(positions / side)
    return jnp.where(wrapped >= side, wrapped - side, wrapped)


class NeighborListBuilder:
    """Allocates and updates neighbour lists for one cutoff (jax-md's, with overflow checks).

    Pairs closer than ``cutoff + skin`` are listed; the list is rebuilt (inside ``update``)
    only when an atom has moved more than ``skin / 2`` since the last build, so a list stays
    valid for the potential's ``cutoff`` between builds.

    Args:
        cutoff: the potential's cutoff (length units), positive.
        skin: the extra distance kept in the list (length units), non-negative.
        capacity_multiplier: spare capacity allocated over the current occupancy (≥ 1).
        format: ``"dense"``, an ``(n_atoms, capacity)`` table (every potential), or
            ``"sparse"``, an ``(2, capacity)`` list of pairs ``i < j`` (pair potentials).
        box_changes: whether updates may pass another box than the allocation's (NPT).

    Raises:
        ValueError: for a non-positive ``cutoff``, negative ``skin``, ``capacity_multiplier``
            below 1 or an unknown ``format``.

    Example:
        >>> builder = NeighborListBuilder(2.5, skin=0.3)  # doctest: +SKIP
        >>> neighbors = builder.allocate(structure.positions, structure.box)
        >>> neighbors = builder.update(neighbors, new_positions, structure.box)
    """

    def __init__(
        self,
        cutoff: float,
        *,
        skin: float = 0.3,
        capacity_multiplier: float = 1.25,
        format: Literal["dense", "sparse"] = "dense",
        box_changes: bool = False,
    ):
        if not float(cutoff) > 0:
            raise ValueError(f"cutoff must be positive, got {cutoff!r}")
        if not float(skin) >= 0:
            raise ValueError(f"skin must be non-negative, got {skin!r}")
        if not float(capacity_multiplier) >= 1:
            raise ValueError(f"capacity_multiplier must be at least 1, got {capacity_multiplier!r}")
        if format not in ("dense", "sparse"):
            raise ValueError(f"format must be 'dense' or 'sparse', got {format!r}")
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.capacity_multiplier = float(capacity_multiplier)
        self.format = format
        self.box_changes = bool(box_changes)
        self.reallocations = 0  # how many overflows were repaired (for reports and tests)

    def _key(self) -> tuple:
        return (self.cutoff, self.skin, self.capacity_multiplier, self.format, self.box_changes)

    def __eq__(self, other: object) -> bool:  # equal settings: interchangeable (jit caches)
        return isinstance(other, NeighborListBuilder) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"NeighborListBuilder(cutoff={self.cutoff}, skin={self.skin}, "
            f"capacity_multiplier={self.capacity_multiplier}, format={self.format!r}, "
            f"box_changes={self.box_changes})"
        )

    def _check_box(self, box: ArrayLike) -> None:
        if np.shape(box) not in ((3, 3), (3,)):
            raise ValueError(f"box must have shape (3, 3) or (3,), got {np.shape(box)}")
        if is_concrete(box):
            widths = perpendicular_widths(np.asarray(box))
            reach = self.cutoff + self.skin
            if widths.min() < 2 * reach:
                raise ValueError(
                    f"box is too small for the neighbour list: its perpendicular widths "
                    f"{np.round(widths, 6).tolist()} must all be at least 2 (cutoff + skin) = "
                    f"{2 * reach:g} (use a supercell or a smaller skin)"
                )

    def allocate(
        self, positions: Float[Array, "n 3"], box: Box, *, extra_capacity: int = 0
    ) -> NeighborList:
        """A new list for ``positions`` in ``box`` (outside ``jit``: shapes depend on data).

        Args:
            positions: Cartesian positions, shape ``(n_atoms, 3)``.
            box: the cell, shape ``(3, 3)``, lattice vectors as columns.
            extra_capacity: neighbours per atom (dense) to add to the capacity.

        Raises:
            ValueError: for bad shapes or a box narrower than ``2 (cutoff + skin)``.
            RuntimeError: when called inside ``jit``.
        """
        positions = jnp.asarray(positions)
        box = jnp.asarray(box)
        if box.ndim == 1:
            box = jnp.diag(box)
        if positions.ndim != 2 or positions.shape[1] != 3:
            raise ValueError(f"positions must have shape (n_atoms, 3), got {positions.shape}")
        if not (is_concrete(positions) and is_concrete(box)):
            raise RuntimeError(
                "NeighborListBuilder.allocate cannot run inside jit (the capacity depends on "
                "the positions); allocate outside and update inside"
            )
        self._check_box(box)
        cell = np.asarray(box)
        upper = bool(np.allclose(np.triu(cell), cell))
        fmt = partition.Dense if self.format == "dense" else partition.OrderedSparse
        orthorhombic = not self.box_changes and bool(np.all(cell == np.diag(np.diag(cell))))
        config: tuple = (self.cutoff, self.skin, self.capacity_multiplier, self.format)
        key: tuple
        with jax_md_context():
            if orthorhombic:
                side = jnp.diag(box)
                sides = tuple(float(x) for x in np.diag(cell))
                key = (*config, "orthorhombic", sides)
                if key not in _FUNCTIONS:
                    displacement, _ = space.periodic(side)
                    _FUNCTIONS[key] = partition.neighbor_list(
                        displacement, side, self.cutoff, dr_threshold=self.skin,
                        capacity_multiplier=self.capacity_multiplier, format=fmt,
                    )  # fmt: skip
                neighbors = _FUNCTIONS[key].allocate(
                    _wrapped(positions, side), extra_capacity=extra_capacity
                )
                _SIDES[neighbors.update_fn] = sides
            else:
                # the box is passed at every call, so these functions serve every box
                key = (*config, "general", upper)
                if key not in _FUNCTIONS:
                    displacement, _ = space.periodic_general(box, fractional_coordinates=True)
                    _FUNCTIONS[key] = partition.neighbor_list(
                        displacement, box, self.cutoff, dr_threshold=self.skin,
                        capacity_multiplier=self.capacity_multiplier, disable_cell_list=not upper,
                        fractional_coordinates=True, format=fmt,
                    )  # fmt: skip
                neighbors = _FUNCTIONS[key].allocate(
                    _fractional(positions, box), extra_capacity=extra_capacity, box=box
                )
                _SIDES[neighbors.update_fn] = None
        if bool(neighbor_list_overflowed(neighbors)):  # cannot happen on a fresh list
            raise RuntimeError("jax-md allocated an overflowing neighbour list")
        if neighbors.cell_size is not None:
            # jax-md stores an array here, as static metadata: make it hashable
            neighbors = neighbors.set(cell_size=float(neighbors.cell_size))
        return _shared_closures(_round_capacity(neighbors, positions.shape[0]), key)

    def update(
        self, neighbors: NeighborList, positions: Float[Array, "n 3"], box: Box
    ) -> NeighborList:
        """The list for new positions (and box), rebuilt if an atom moved more than
        ``skin / 2``.

        Outside ``jit`` an overflow is repaired at once by reallocating (counted in
        ``reallocations``). Inside ``jit`` the returned list carries the overflow in its
        error code: check `neighbor_list_overflowed` and reallocate outside.

        Args:
            neighbors: a list from `allocate` or `update`.
            positions: Cartesian positions, shape ``(n_atoms, 3)``.
            box: the cell, shape ``(3, 3)``.
        """
        box = jnp.asarray(box)
        sides = _SIDES.get(neighbors.update_fn, None)
        with jax_md_context():
            if sides is not None:  # a fixed orthorhombic box: jax-md's Cartesian path
                side = box if box.ndim == 1 else jnp.diagonal(box)
                if is_concrete(side) and not np.allclose(np.asarray(side), sides, rtol=1e-6):
                    raise ValueError(
                        f"box {np.asarray(side).tolist()} differs from the box of allocation "
                        f"{list(sides)}: build the NeighborListBuilder with box_changes=True "
                        "when the box changes"
                    )
                updated = neighbors.update(_wrapped(positions, side.astype(positions.dtype)))
            else:
                matrix = jnp.diag(box) if box.ndim == 1 else box
                updated = neighbors.update(_fractional(positions, matrix), box=matrix)
        if is_concrete(updated.idx) and bool(neighbor_list_overflowed(updated)):
            self.reallocations += 1
            return self.allocate(positions, box)
        return updated
