"""Density and sensitivity filters of radius ``r_min`` on any mesh."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.spatial

from .._custom_types import Array, Float
from .._static import StaticArray
from ..geometry import Mesh


class DensityFilter(eqx.Module):
    r"""The linear hat filter ``ρ̃_i = Σ_j H_ij v_j ρ_j / Σ_j H_ij v_j``, with
    ``H_ij = max(0, r_min - |c_i - c_j|)`` between cell centroids ``c`` and cell volumes
    ``v`` (all ones on a unit grid, as in the 88-line code).

    Built once on the host from the mesh (a k-d tree finds the neighbours, so structured
    and unstructured meshes alike); applying it is a sparse product inside ``jit``.

    Attributes:
        radius: ``r_min``, in the mesh's length unit.
    """

    radius: float = eqx.field(static=True)
    _rows: StaticArray = eqx.field(static=True)
    _cols: StaticArray = eqx.field(static=True)
    _weights: StaticArray = eqx.field(static=True)  # H_ij v_j
    _row_sums: StaticArray = eqx.field(static=True)  # Σ_j H_ij v_j

    def __init__(self, mesh: Mesh, radius: float, cell_volumes: np.ndarray | None = None):
        """Args:
        mesh: the design mesh (one density per cell).
        radius: ``r_min > 0``; below the cell size the filter is the identity.
        cell_volumes: shape ``(num_cells,)``; default ones (the classic unit-grid filter).
        """
        if not radius > 0:
            raise ValueError(f"radius must be positive, got {radius}")
        points = np.asarray(mesh.points)
        centroids = points[np.asarray(mesh.cells)].mean(axis=1)
        volumes = (
            np.ones(mesh.num_cells)
            if cell_volumes is None
            else np.asarray(cell_volumes, dtype=np.float64)
        )
        if volumes.shape != (mesh.num_cells,):
            raise ValueError(
                f"cell_volumes must have shape ({mesh.num_cells},), got {volumes.shape}"
            )
        pairs = scipy.spatial.cKDTree(centroids).query_pairs(radius, output_type="ndarray")
        dist = np.linalg.norm(centroids[pairs[:, 0]] - centroids[pairs[:, 1]], axis=1)
        diag = np.arange(mesh.num_cells)
        # every pair both ways, and each cell with itself
        rows = np.concatenate([pairs[:, 0], pairs[:, 1], diag])
        cols = np.concatenate([pairs[:, 1], pairs[:, 0], diag])
        dist = np.concatenate([dist, dist, np.zeros(mesh.num_cells)])
        weights = (radius - dist) * volumes[cols]
        keep = weights > 0
        rows, cols, weights = rows[keep], cols[keep], weights[keep]
        order = np.lexsort((cols, rows))
        self.radius = float(radius)
        self._rows = StaticArray(rows[order].astype(np.int32))
        self._cols = StaticArray(cols[order].astype(np.int32))
        self._weights = StaticArray(weights[order])
        self._row_sums = StaticArray(np.bincount(rows, weights, minlength=mesh.num_cells))

    def _apply(self, values: Array) -> Array:
        """``Σ_j H_ij v_j values_j`` for every cell ``i``."""
        w = jnp.asarray(self._weights.array, values.dtype)
        rows, cols = jnp.asarray(self._rows.array), jnp.asarray(self._cols.array)
        return jax.ops.segment_sum(
            w * values[cols],
            rows,
            num_segments=self._row_sums.array.shape[0],
            indices_are_sorted=True,
        )

    def __call__(self, density: Float[Array, " cells"]) -> Float[Array, " cells"]:
        """Filtered densities ``ρ̃`` (differentiable: its transpose carries the gradient)."""
        return self._apply(density) / jnp.asarray(self._row_sums.array, density.dtype)

    def sensitivity(
        self, density: Float[Array, " cells"], gradient: Float[Array, " cells"]
    ) -> Float[Array, " cells"]:
        r"""Sigmund's sensitivity filter (a heuristic, not a gradient):
        ``∂̃c/∂ρ_i = Σ_j H_ij v_j ρ_j ∂c/∂ρ_j / (max(γ, ρ_i) Σ_j H_ij v_j)``, ``γ = 1e-3``.

        References:
            Sigmund (1997), On the design of compliant mechanisms using topology
            optimization, Mech. Struct. Mach. 25.
        """
        sums = jnp.asarray(self._row_sums.array, density.dtype)
        return self._apply(density * gradient) / sums / jnp.maximum(1e-3, density)
