"""Pictures of designs and of an optimisation's history (matplotlib, imported lazily).

3D designs go to ParaView through :func:`dmech.geometry.write_mesh` with the densities as
cell data (``write_mesh("design.vtu", mesh, cell_data={"density": result.physical})``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._custom_types import ArrayLike, Float
from ..fem import plot_field
from ..geometry import Mesh


def plot_design(
    mesh: Mesh,
    density: Float[ArrayLike, " cells"],
    *,
    ax: Any = None,
    threshold: float = 0.5,
    color: str = "0.35",
) -> Any:
    """Draw a design: black for solid, white for void.

    A 2D design fills its mesh cell by cell (any cell type, :func:`dmech.fem.plot_field`);
    a 3D design on a structured hex8 grid draws the cells denser than ``threshold`` as
    shaded voxels (for other 3D meshes export to VTU and use ParaView).

    Args:
        mesh: the design mesh.
        density: the physical densities, shape ``(cells,)``.
        ax: the matplotlib axes (3D axes for a 3D design); a new figure's when ``None``.
        threshold: 3D only, the density above which a cell is drawn.
        color: 3D only, the voxels' colour.

    Returns:
        The axes drawn on.
    """
    rho = np.asarray(density, dtype=float)
    if rho.shape != (mesh.num_cells,):
        raise ValueError(f"density must have shape ({mesh.num_cells},), got {rho.shape}")
    if mesh.dim == 2:
        artist = plot_field(
            mesh, rho, ax=ax, cmap="gray_r", vmin=0.0, vmax=1.0, colorbar=False, location="cells"
        )
        artist.axes.set_axis_off()
        return artist.axes
    import matplotlib.pyplot as plt

    if mesh.cell_type != "hex8":
        raise ValueError(f"a 3D design is drawn on a hex8 grid, got {mesh.cell_type!r} cells")
    filled = cell_grid(mesh, rho) > threshold
    if ax is None:
        ax = plt.figure(figsize=(7, 4)).add_subplot(projection="3d")
    ax.voxels(filled, facecolors=color, edgecolors=None, shade=True)
    ax.set_box_aspect(filled.shape)
    ax.set_axis_off()
    return ax


def cell_grid(mesh: Mesh, values: Float[ArrayLike, " cells"]) -> np.ndarray:
    """Cell values on the grid of a structured mesh of equal quad4 or hex8 cells.

    Args:
        mesh: a full rectangle of quad4 or box of hex8 cells of one size (e.g. from
            :func:`mbb_beam` or :func:`cantilever`), in any numbering.
        values: one value per cell, shape ``(cells,)``.

    Returns:
        ``grid[i, j(, k)]``, the value of the cell in column ``i`` along x, ``j`` along y
        (and ``k`` along z), counted from the lowest coordinates: shape ``(nx, ny(, nz))``.
        ``cell_grid(mesh, rho).T[::-1]`` is a 2D design as an image (row 0 at the top, as in
        the 88-line code).
    """
    if mesh.cell_type not in ("quad4", "hex8"):
        raise ValueError(f"cell_grid needs quad4 or hex8 cells, got {mesh.cell_type!r}")
    v = np.asarray(values)
    if v.shape != (mesh.num_cells,):
        raise ValueError(f"values must have shape ({mesh.num_cells},), got {v.shape}")
    points = np.asarray(mesh.points)[np.asarray(mesh.cells)]
    size = points.max(axis=1) - points.min(axis=1)
    if not np.allclose(size, size[0]):
        raise ValueError("cell_grid needs cells of one size")
    centroids = points.mean(axis=1)
    index = np.rint((centroids - centroids.min(axis=0)) / size[0]).astype(int)
    shape = tuple(index.max(axis=0) + 1)
    if np.prod(shape) != mesh.num_cells:
        raise ValueError("cell_grid needs a full rectangle or box of cells")
    grid = np.zeros(shape, dtype=v.dtype)
    grid[tuple(index.T)] = v
    return grid


def plot_history(result: Any, *, axes: Sequence[Any] | None = None) -> Sequence[Any]:
    """Plot an optimisation's objective, volume fraction and largest change per iteration.

    Args:
        result: a :class:`TopOptResult`.
        axes: three matplotlib axes; a new figure's when ``None``.

    Returns:
        The three axes.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(11, 3), layout="constrained")
    axes = list(axes)
    it = np.arange(1, result.iterations + 1)
    axes[0].plot(it, result.objective)
    axes[0].set(xlabel="iteration", ylabel="objective")
    axes[1].plot(it, result.volume)
    axes[1].set(xlabel="iteration", ylabel="volume fraction")
    axes[2].semilogy(it, result.change)
    axes[2].set(xlabel="iteration", ylabel="largest change")
    if np.ptp(result.beta) > 0:
        for ax in axes:
            for start in it[1:][np.diff(result.beta) > 0]:
                ax.axvline(start, color="0.8", lw=0.8, zorder=0)
    return axes


def animate_designs(
    mesh: Mesh,
    designs: Sequence[Float[ArrayLike, " cells"]],
    path: str | Path,
    *,
    fps: int = 10,
) -> Path:
    """Write a GIF of 2D designs, one frame each (collect them with ``optimise``'s
    ``callback``, e.g. every few iterations).

    Args:
        mesh: the 2D design mesh.
        designs: the physical densities of each frame, each of shape ``(cells,)``.
        path: the GIF to write.
        fps: frames per second.

    Returns:
        The path written.
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    if mesh.dim != 2:
        raise ValueError("animate_designs draws 2D designs")
    frames = [np.asarray(d, dtype=float) for d in designs]
    if not frames:
        raise ValueError("designs must hold at least one design")
    extent = np.ptp(np.asarray(mesh.points), axis=0)
    fig, ax = plt.subplots(figsize=(6, 6 * extent[1] / extent[0] + 0.3))
    artist = plot_field(
        mesh, frames[0], ax=ax, cmap="gray_r", vmin=0.0, vmax=1.0, colorbar=False,
        location="cells",
    )  # fmt: skip
    ax.set_axis_off()
    per_cell = artist.get_array().shape[0] // mesh.num_cells  # sub-triangles per cell

    def draw(i):
        artist.set_array(np.repeat(frames[i], per_cell))
        return (artist,)

    path = Path(path)
    FuncAnimation(fig, draw, frames=len(frames), blit=True).save(path, PillowWriter(fps=fps))
    plt.close(fig)
    return path
