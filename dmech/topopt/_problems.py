"""Design problems: minimum compliance of a linear elastic body (MBB beam, cantilever)."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, Float
from ..fem import (
    AbstractLinearSolver,
    DirichletBC,
    FunctionSpace,
    SparseLU,
    apply_dirichlet,
    elasticity_matrix,
    isotropic_elasticity,
    linear_solve,
)
from ..geometry import Mesh, box_mesh, rectangle_mesh, select_nodes
from ._interpolation import simp


class ComplianceProblem(eqx.Module):
    r"""Minimum compliance ``c(ρ) = fᵀ u(ρ)``, ``K(E(ρ)) u = f``, for one or more load cases.

    ``E(ρ)`` is an interpolation (SIMP by default) of the physical densities, one per cell;
    the compliance of several load cases is their sum. Call it with physical densities to get
    ``c``; ``jax.grad`` gives the sensitivities through the adjoint solve.

    Attributes:
        space: the vector function space on the design mesh.
        dirichlet: the supports.
        loads: nodal load vectors, shape ``(cases, num_dofs)``.
        poissons_ratio: ``ν``.
        interpolation: ``ρ -> E`` (default :func:`simp` with ``p = 3``, ``E_min = 1e-9``).
        solver: the linear solver.
        plane: ``"stress"`` or ``"strain"`` in 2D.
    """

    space: FunctionSpace
    dirichlet: DirichletBC
    loads: Float[Array, "cases n"]
    poissons_ratio: float = eqx.field(static=True)
    interpolation: Callable[[Array], Array] = simp
    solver: AbstractLinearSolver = SparseLU()
    plane: str = eqx.field(static=True, default="stress")

    def __check_init__(self):
        n = self.space.num_dofs
        if self.loads.ndim != 2 or self.loads.shape[1] != n:
            raise ValueError(f"loads must have shape (cases, {n}), got {self.loads.shape}")
        if self.space.components != self.space.mesh.dim:
            raise ValueError("space must be a vector space (components == dim)")
        if self.plane not in ("stress", "strain"):
            raise ValueError(f"plane must be 'stress' or 'strain', got {self.plane!r}")

    @property
    def mesh(self) -> Mesh:
        return self.space.mesh

    def displacements(self, density: Float[Array, " cells"]) -> Float[Array, "cases n"]:
        """The displacement of every load case, shape ``(cases, num_dofs)``."""
        dim = self.mesh.dim
        stiffness = isotropic_elasticity(
            self.interpolation(density),
            self.poissons_ratio,
            dim=dim,
            plane=self.plane if dim == 2 else None,
        )
        matrix = elasticity_matrix(self.space, stiffness)
        out = []
        for load in self.loads:
            lifted, rhs = apply_dirichlet(matrix, load.astype(matrix.data.dtype), self.dirichlet)
            out.append(linear_solve(lifted, rhs, self.solver))
        return jnp.stack(out)

    def __call__(self, density: Float[Array, " cells"]) -> Float[Array, ""]:
        """The compliance ``Σ_cases fᵀ u``."""
        u = self.displacements(density)
        return jnp.sum(self.loads.astype(u.dtype) * u)


def _point_loads(space: FunctionSpace, nodes_and_forces) -> np.ndarray:
    loads = []
    for case in nodes_and_forces:
        f = np.zeros(space.num_dofs)
        for node, component, value in case:
            f[node * space.components + component] += value
        loads.append(f)
    return np.stack(loads)


def _corner(mesh: Mesh, point) -> int:
    d = np.linalg.norm(np.asarray(mesh.points) - np.asarray(point, float), axis=1)
    return int(np.argmin(d))


def mbb_beam(
    nelx: int,
    nely: int,
    *,
    poissons_ratio: float = 0.3,
    interpolation: Callable[[Array], Array] = simp,
    solver: AbstractLinearSolver = SparseLU(),
    dtype=None,
) -> ComplianceProblem:
    """The MBB half-beam of the 88-line code: ``nelx x nely`` unit quad4 cells (plane stress),
    a unit downward load at the top left corner, the left edge on rollers (symmetry) and the
    bottom right corner supported vertically.

    References:
        Andreassen et al. (2011), Efficient topology optimization in MATLAB using 88 lines
        of code, Struct. Multidisc. Optim. 43.
    """
    mesh = _design_mesh(rectangle_mesh(nelx, nely, upper=(float(nelx), float(nely))), dtype)
    space = FunctionSpace(mesh, components=2)
    left = select_nodes(mesh, lambda x: np.isclose(x[:, 0], 0.0))
    fixed = np.union1d(space.dofs(left, 0), space.dofs(np.array([_corner(mesh, (nelx, 0))]), 1))
    loads = _point_loads(space, [[(_corner(mesh, (0, nely)), 1, -1.0)]])
    return ComplianceProblem(
        space,
        DirichletBC(fixed),
        jnp.asarray(loads, mesh.points.dtype),
        poissons_ratio,
        interpolation,
        solver,
    )


def cantilever(
    nelx: int,
    nely: int,
    nelz: int | None = None,
    *,
    poissons_ratio: float = 0.3,
    interpolation: Callable[[Array], Array] = simp,
    solver: AbstractLinearSolver = SparseLU(),
    dtype=None,
) -> ComplianceProblem:
    """A cantilever clamped on its left face with a unit downward load at the middle of the
    right edge (2D, quad4) or spread along the bottom edge of the right face (3D, hex8, as
    in the 169-line 3D code of Liu and Tovar 2014)."""
    if nelz is None:
        mesh = _design_mesh(rectangle_mesh(nelx, nely, upper=(float(nelx), float(nely))), dtype)
        space = FunctionSpace(mesh, components=2)
        tip = _corner(mesh, (nelx, nely / 2))
        loads = _point_loads(space, [[(tip, 1, -1.0)]])
    else:
        mesh = _design_mesh(
            box_mesh(
                nelx, nely, nelz, cell_type="hex8", upper=(float(nelx), float(nely), float(nelz))
            ),
            dtype,
        )
        space = FunctionSpace(mesh, components=3)
        edge = select_nodes(mesh, lambda x: np.isclose(x[:, 0], nelx) & np.isclose(x[:, 2], 0.0))
        loads = _point_loads(space, [[(n, 2, -1.0 / len(edge)) for n in edge]])
    clamp = space.dofs(select_nodes(mesh, lambda x: np.isclose(x[:, 0], 0.0)))
    return ComplianceProblem(
        space,
        DirichletBC(clamp),
        jnp.asarray(loads, mesh.points.dtype),
        poissons_ratio,
        interpolation,
        solver,
    )


def _design_mesh(mesh: Mesh, dtype) -> Mesh:
    return mesh if dtype is None else mesh.with_points(jnp.asarray(mesh.points, dtype))
