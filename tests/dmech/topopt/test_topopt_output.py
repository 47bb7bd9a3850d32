"""Design pictures, history plots, the GIF animation and the VTU export of a 3D design."""

import jax.numpy as jnp
import matplotlib
import meshio
import numpy as np
import pytest

from dmech.geometry import read_mesh, write_mesh
from dmech.topopt import (
    DensityFilter,
    Parametrisation,
    animate_designs,
    cantilever,
    cell_grid,
    mbb_beam,
    optimise,
    plot_design,
    plot_history,
)

matplotlib.use("Agg")


def test_pictures_of_a_2d_run(tmp_path):
    import matplotlib.pyplot as plt
    from PIL import Image

    problem = mbb_beam(12, 4)
    frames = []
    result = optimise(
        problem,
        jnp.full(problem.mesh.num_cells, 0.5),
        volume_fraction=0.5,
        parametrisation=Parametrisation(DensityFilter(problem.mesh, 1.5)),
        max_iterations=6,
        callback=lambda i, figures: frames.append(i),
    )
    assert frames == list(range(1, 7))
    ax = plot_design(problem.mesh, result.physical)
    ax.figure.savefig(tmp_path / "design.png")
    axes = plot_history(result)
    assert len(axes[0].lines[0].get_xdata()) == result.iterations
    plt.close("all")
    gif = animate_designs(
        problem.mesh, [np.full(48, 0.5), np.asarray(result.physical)], tmp_path / "run.gif"
    )
    with Image.open(gif) as image:
        assert image.n_frames == 2
    assert (tmp_path / "design.png").stat().st_size > 1000


def test_3d_design_as_voxels_and_vtu(tmp_path):
    import matplotlib.pyplot as plt

    problem = cantilever(4, 3, 2)
    rho = np.linspace(0.0, 1.0, problem.mesh.num_cells)
    grid = cell_grid(problem.mesh, rho)
    centroids = np.asarray(problem.mesh.points)[np.asarray(problem.mesh.cells)].mean(axis=1)
    i, j, k = np.floor(centroids).astype(int).T
    np.testing.assert_array_equal(grid[i, j, k], rho)
    plot_design(problem.mesh, rho).figure.savefig(tmp_path / "design3d.png")
    plt.close("all")
    write_mesh(tmp_path / "design.vtu", problem.mesh, cell_data={"density": rho})
    back = meshio.read(tmp_path / "design.vtu")
    np.testing.assert_allclose(back.cell_data["density"][0], rho)
    assert read_mesh(tmp_path / "design.vtu").num_cells == problem.mesh.num_cells


def test_bad_design_shape_raises():
    problem = mbb_beam(4, 2)
    with pytest.raises(ValueError, match="density"):
        plot_design(problem.mesh, np.zeros(5))
