"""Sparse matrices with a static pattern and array values, assembled from element matrices."""

from __future__ import annotations

import functools
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from .._custom_types import Array, Float
from .._static import StaticArray


class SparsityPattern(eqx.Module):
    """The CSR pattern of an assembled matrix and where each element entry lands in it.

    Built once on the host from the element dof map (static connectivity); assembly is then a
    ``segment_sum`` of element-matrix entries into ``nnz`` slots, jit-compatible and
    differentiable with respect to the values.

    Attributes:
        shape: ``(n, n)``.
        indptr, indices: the CSR structure (int32 or int64 numpy arrays).
        rows: the row of each stored entry, shape ``(nnz,)``.
        scatter: the CSR slot of every element-matrix entry, shape ``(num_cells*nd*nd,)``.
    """

    shape: tuple[int, int] = eqx.field(static=True)
    _indptr: StaticArray = eqx.field(static=True)
    _indices: StaticArray = eqx.field(static=True)
    _rows: StaticArray = eqx.field(static=True)
    _scatter: StaticArray = eqx.field(static=True)

    def __init__(self, element_dofs: np.ndarray, num_dofs: int):
        """Args:
        element_dofs: int array ``(num_cells, nd)``: the global dofs of each element.
        num_dofs: the number of global dofs ``n``.
        """
        element_dofs = np.asarray(element_dofs)
        nd = element_dofs.shape[1]
        index = np.int64 if num_dofs * num_dofs >= 2**31 else np.int32
        rows = np.repeat(element_dofs, nd, axis=1).reshape(-1).astype(np.int64)
        cols = np.tile(element_dofs, (1, nd)).reshape(-1).astype(np.int64)
        keys = rows * num_dofs + cols
        unique, scatter = np.unique(keys, return_inverse=True)
        csr_rows = (unique // num_dofs).astype(index)
        csr_cols = (unique % num_dofs).astype(index)
        indptr = np.zeros(num_dofs + 1, dtype=np.int64)
        np.add.at(indptr, csr_rows + 1, 1)
        indptr = np.cumsum(indptr).astype(index)
        self.shape = (num_dofs, num_dofs)
        self._indptr = StaticArray(indptr)
        self._indices = StaticArray(csr_cols)
        self._rows = StaticArray(csr_rows)
        self._scatter = StaticArray(
            scatter.reshape(-1).astype(np.int32 if len(unique) < 2**31 else np.int64)
        )

    @property
    def nnz(self) -> int:
        return int(self._indices.array.shape[0])

    @property
    def indptr(self) -> np.ndarray:
        return self._indptr.array

    @property
    def indices(self) -> np.ndarray:
        return self._indices.array

    @property
    def rows(self) -> np.ndarray:
        return self._rows.array

    @property
    def scatter(self) -> np.ndarray:
        return self._scatter.array


class SparseMatrix(eqx.Module):
    """A square sparse matrix: CSR values as an array leaf on a static pattern.

    The values are differentiable and vmappable; the pattern never changes under a transform,
    so new values never recompile.

    Attributes:
        data: the stored values, shape ``(nnz,)``.
        pattern: the static :class:`SparsityPattern`.
    """

    data: Float[Array, " nnz"]
    pattern: SparsityPattern

    @property
    def shape(self) -> tuple[int, int]:
        return self.pattern.shape

    def __matmul__(self, x: Float[Array, " n"]) -> Float[Array, " n"]:
        """Matrix-vector product ``A @ x`` (jit-able; differentiable in ``data`` and ``x``)."""
        rows = jnp.asarray(self.pattern.rows)
        cols = jnp.asarray(self.pattern.indices)
        return jax.ops.segment_sum(
            self.data * x[cols], rows, num_segments=self.shape[0], indices_are_sorted=True
        )

    def diagonal(self) -> Float[Array, " n"]:
        """The diagonal ``A_ii`` (zero where not stored)."""
        rows, cols = self.pattern.rows, self.pattern.indices
        on_diag = np.flatnonzero(rows == cols)
        return jnp.zeros(self.shape[0], self.data.dtype).at[rows[on_diag]].set(self.data[on_diag])

    def to_scipy(self) -> sp.csr_matrix:
        """The matrix as a scipy CSR matrix (needs concrete values: outside jit)."""
        p = self.pattern
        return sp.csr_matrix((np.asarray(self.data), p.indices, p.indptr), shape=p.shape)

    def todense(self) -> Float[Array, "n n"]:
        """Dense copy, for tests on small problems only."""
        p = self.pattern
        return jnp.zeros(p.shape, self.data.dtype).at[p.rows, p.indices].add(self.data)


def row_padded_matvec(matrix: SparseMatrix) -> Callable[[Array], Array]:
    """``x -> A @ x`` for many products with one matrix (iterative solves).

    The rows are padded to a common length once, so each product is a gather and a row sum
    with no scatter: about 10x faster than ``@`` on a GPU and 3x on a CPU for 3D elasticity
    (rows of 81 entries). Rows too ragged to pad (more than twice the stored entries) fall
    back to ``@``.
    """
    padded = _padded_rows(matrix.pattern)
    if padded is None:
        return matrix.__matmul__
    slots, cols = padded
    n, width = cols.shape
    data = (
        jnp.zeros(n * width, matrix.data.dtype)
        .at[jnp.asarray(slots)]
        .set(matrix.data, indices_are_sorted=True, unique_indices=True)
        .reshape(n, width)
    )
    cols_j = jnp.asarray(cols)
    return lambda x: jnp.sum(data * x[cols_j], axis=1)


@functools.lru_cache(maxsize=4)
def _padded_rows(pattern: SparsityPattern) -> tuple[np.ndarray, np.ndarray] | None:
    """The padded slot of each stored entry, and the column of each padded slot (padding
    points at the diagonal, with value zero); ``None`` when padding would double storage."""
    n = pattern.shape[0]
    indptr = pattern.indptr.astype(np.int64)
    width = int(np.diff(indptr).max(initial=0))
    if n * width > 2 * pattern.nnz:
        return None
    rows = pattern.rows.astype(np.int64)
    slots = rows * width + (np.arange(pattern.nnz) - indptr[rows])
    cols = np.repeat(np.arange(n, dtype=np.int64), width)
    cols[slots] = pattern.indices
    index = np.int32 if n * width < 2**31 else np.int64
    return slots.astype(index), cols.reshape(n, width).astype(np.int32 if n < 2**31 else np.int64)


def assemble_matrix(
    element_matrices: Float[Array, "cells nd nd"], pattern: SparsityPattern
) -> SparseMatrix:
    """Sum element matrices into the global sparse matrix.

    Args:
        element_matrices: ``K_e`` of every element, shape ``(num_cells, nd, nd)``, ordered as
            the element dofs the pattern was built from.
        pattern: the static pattern of the element dof map.

    Returns:
        The assembled :class:`SparseMatrix`.
    """
    values = jnp.reshape(element_matrices, (-1,))
    if values.shape[0] != pattern.scatter.shape[0]:
        raise ValueError(
            f"element_matrices has {values.shape[0]} entries; the pattern expects "
            f"{pattern.scatter.shape[0]}"
        )
    data = jax.ops.segment_sum(values, jnp.asarray(pattern.scatter), num_segments=pattern.nnz)
    return SparseMatrix(data, pattern)


def assemble_vector(
    element_vectors: Float[Array, "cells nd"], element_dofs: np.ndarray, num_dofs: int
) -> Float[Array, " n"]:
    """Sum element vectors ``f_e`` (shape ``(num_cells, nd)``) into a global vector."""
    return jax.ops.segment_sum(
        jnp.reshape(element_vectors, (-1,)),
        jnp.asarray(np.asarray(element_dofs).reshape(-1)),
        num_segments=num_dofs,
    )
