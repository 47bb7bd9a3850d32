"""Design problems: minimum compliance (elastic, thermal, hyperelastic) and a compliant
mechanism, with the classic benchmark set-ups (MBB beam, cantilever, heat sink, force
inverter)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, Float
from .._static import is_concrete
from ..fem import (
    AbstractLinearSolver,
    DirichletBC,
    FunctionSpace,
    Newton,
    SparseLU,
    SparseMatrix,
    apply_dirichlet,
    diffusion_matrix,
    elasticity_matrix,
    isotropic_elasticity,
    lame_parameters,
    linear_solve,
    neo_hookean,
    solve_hyperelasticity,
)
from ..geometry import Mesh, box_mesh, rectangle_mesh, select_nodes
from ._interpolation import simp

# SIMP with E_min = 1e-3: the heat variant's κ_min, and the floor that keeps Newton's tangent
# definite in hyperelastic design
_SOFT_SIMP = functools.partial(simp, minimum=1e-3)


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
        _check_loads(self.loads, self.space.num_dofs, "loads")
        _check_vector_space(self.space, self.plane)
        _check_homogeneous(self.dirichlet)

    @property
    def mesh(self) -> Mesh:
        return self.space.mesh

    def stiffness(self, density: Float[Array, " cells"]) -> SparseMatrix:
        """The assembled stiffness matrix ``K(E(ρ))`` (supports not applied)."""
        return _elastic_stiffness(
            self.space, self.interpolation(density), self.poissons_ratio, self.plane
        )

    def displacements(self, density: Float[Array, " cells"]) -> Float[Array, "cases n"]:
        """The displacement of every load case, shape ``(cases, num_dofs)``."""
        return _solve_cases(self.stiffness(density), self.loads, self.dirichlet, self.solver)

    def __call__(self, density: Float[Array, " cells"]) -> Float[Array, ""]:
        """The compliance ``Σ_cases fᵀ u`` (its gradient needs no adjoint solve)."""
        return _self_adjoint_compliance(
            self.stiffness(density), self.loads, self.dirichlet, self.solver
        )


class ThermalComplianceProblem(eqx.Module):
    r"""Minimum thermal compliance ``c(ρ) = fᵀ T(ρ)``, ``K(κ(ρ)) T = f``: the conductor that
    carries heat sources ``f`` to the sinks (``T = 0``) with the least mean temperature.

    Attributes:
        space: a scalar function space on the design mesh.
        dirichlet: the heat sinks (prescribed temperatures).
        loads: nodal heat loads, shape ``(cases, num_dofs)``.
        interpolation: ``ρ -> κ`` (default SIMP with ``p = 3`` and ``κ_min = 10⁻³``, as in
            the 88-line code's heat variant).
        solver: the linear solver.
    """

    space: FunctionSpace
    dirichlet: DirichletBC
    loads: Float[Array, "cases n"]
    interpolation: Callable[[Array], Array] = _SOFT_SIMP
    solver: AbstractLinearSolver = SparseLU()

    def __check_init__(self):
        _check_loads(self.loads, self.space.num_dofs, "loads")
        if self.space.components != 1:
            raise ValueError("space must be a scalar space (components == 1)")
        _check_homogeneous(self.dirichlet)

    @property
    def mesh(self) -> Mesh:
        return self.space.mesh

    def conductance(self, density: Float[Array, " cells"]) -> SparseMatrix:
        """The assembled conductivity matrix ``K(κ(ρ))`` (sinks not applied)."""
        return diffusion_matrix(self.space, self.interpolation(density))

    def temperatures(self, density: Float[Array, " cells"]) -> Float[Array, "cases n"]:
        """The temperature of every load case, shape ``(cases, num_dofs)``."""
        return _solve_cases(self.conductance(density), self.loads, self.dirichlet, self.solver)

    def __call__(self, density: Float[Array, " cells"]) -> Float[Array, ""]:
        """The thermal compliance ``Σ_cases fᵀ T`` (its gradient needs no adjoint solve)."""
        return _self_adjoint_compliance(
            self.conductance(density), self.loads, self.dirichlet, self.solver
        )


class MechanismProblem(eqx.Module):
    r"""A compliant mechanism: minimise the output displacement ``lᵀ u(ρ)`` with
    ``(K(E(ρ)) + K_s) u = f``, where ``f`` is the input force, ``l`` picks the output
    displacement (with the sign of the wanted motion reversed), and ``K_s`` holds the springs
    of the actuator and of the workpiece on the diagonal.

    Attributes:
        space: the vector function space on the design mesh.
        dirichlet: the supports.
        load: the input force, shape ``(num_dofs,)``.
        output: the output selector ``l``, shape ``(num_dofs,)``.
        springs: spring stiffnesses on the diagonal, shape ``(num_dofs,)`` (mostly zero).
        poissons_ratio, interpolation, solver, plane: as for :class:`ComplianceProblem`.

    References:
        Sigmund (1997), On the design of compliant mechanisms using topology optimization,
        Mech. Struct. Mach. 25; Bendsøe and Sigmund (2003), Topology Optimization, §2.6.
    """

    space: FunctionSpace
    dirichlet: DirichletBC
    load: Float[Array, " n"]
    output: Float[Array, " n"]
    springs: Float[Array, " n"]
    poissons_ratio: float = eqx.field(static=True)
    interpolation: Callable[[Array], Array] = simp
    solver: AbstractLinearSolver = SparseLU()
    plane: str = eqx.field(static=True, default="stress")

    def __check_init__(self):
        n = self.space.num_dofs
        for name in ("load", "output", "springs"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {getattr(self, name).shape}")
        _check_vector_space(self.space, self.plane)

    @property
    def mesh(self) -> Mesh:
        return self.space.mesh

    def displacement(self, density: Float[Array, " cells"]) -> Float[Array, " n"]:
        """The displacement under the input force, shape ``(num_dofs,)``."""
        matrix = _elastic_stiffness(
            self.space, self.interpolation(density), self.poissons_ratio, self.plane
        )
        matrix = _add_to_diagonal(matrix, self.springs)
        return _solve_cases(matrix, self.load[None], self.dirichlet, self.solver)[0]

    def __call__(self, density: Float[Array, " cells"]) -> Float[Array, ""]:
        """The output displacement ``lᵀ u`` (negative when the mechanism works)."""
        u = self.displacement(density)
        return jnp.dot(self.output.astype(u.dtype), u)


class HyperelasticComplianceProblem(eqx.Module):
    r"""Minimum end compliance ``c(ρ) = fᵀ u(ρ)`` of a neo-Hookean body at finite strain,
    ``u`` from :func:`dmech.fem.solve_hyperelasticity` (Newton with load steps; the gradient
    by the implicit function theorem at the converged state).

    Void cells at large strain make Newton's tangent indefinite, so the default
    interpolation keeps ``E_min = 10⁻³`` (not 10⁻⁹).

    Attributes:
        space: the vector function space (2D is plane strain).
        dirichlet: the supports.
        load: the nodal load at full load, shape ``(num_dofs,)``.
        poissons_ratio: ``ν`` of the solid.
        interpolation: ``ρ -> E``.
        load_steps: equal load increments.
        newton: the Newton settings.

    References:
        Buhl, Pedersen and Sigmund (2000), Stiffness design of geometrically nonlinear
        structures using topology optimization, Struct. Multidisc. Optim. 19.
    """

    space: FunctionSpace
    dirichlet: DirichletBC
    load: Float[Array, " n"]
    poissons_ratio: float = eqx.field(static=True)
    interpolation: Callable[[Array], Array] = _SOFT_SIMP
    load_steps: int = eqx.field(static=True, default=4)
    newton: Newton = Newton()

    def __check_init__(self):
        n = self.space.num_dofs
        if self.load.shape != (n,):
            raise ValueError(f"load must have shape ({n},), got {self.load.shape}")
        _check_vector_space(self.space, "strain")

    @property
    def mesh(self) -> Mesh:
        return self.space.mesh

    def displacement(self, density: Float[Array, " cells"]) -> Float[Array, "nodes dim"]:
        """The displacement at full load, shape ``(nodes, dim)``."""
        params = lame_parameters(self.interpolation(density), self.poissons_ratio)
        result = solve_hyperelasticity(
            self.space,
            neo_hookean,
            params,
            dirichlet=self.dirichlet,
            point_load=self.load,
            load_steps=self.load_steps,
            newton=self.newton,
        )
        return result.displacement

    def __call__(self, density: Float[Array, " cells"]) -> Float[Array, ""]:
        """The end compliance ``fᵀ u``."""
        u = self.displacement(density).reshape(-1)
        return jnp.dot(self.load.astype(u.dtype), u)


def _check_loads(loads, n, name):
    if loads.ndim != 2 or loads.shape[1] != n:
        raise ValueError(f"{name} must have shape (cases, {n}), got {loads.shape}")


def _check_vector_space(space, plane):
    if space.components != space.mesh.dim:
        raise ValueError("space must be a vector space (components == dim)")
    if plane not in ("stress", "strain"):
        raise ValueError(f"plane must be 'stress' or 'strain', got {plane!r}")


def _elastic_stiffness(space, youngs_modulus, poissons_ratio, plane) -> SparseMatrix:
    dim = space.mesh.dim
    stiffness = isotropic_elasticity(
        youngs_modulus, poissons_ratio, dim=dim, plane=plane if dim == 2 else None
    )
    return elasticity_matrix(space, stiffness)


def _check_homogeneous(dirichlet: DirichletBC) -> None:
    values = dirichlet.values
    if is_concrete(values) and np.any(np.asarray(values) != 0):
        raise ValueError("dirichlet must prescribe zero values for a compliance objective")


def _self_adjoint_compliance(matrix, loads, dirichlet, solver):
    r"""``Σ fᵀ u`` with ``K u = f``, written ``2 fᵀū - ūᵀ K ū`` with ``ū = u`` held constant.

    Equal in value (``K u = f``, homogeneous supports), and differentiating it gives the
    exact gradient ``∂c/∂θ = 2 ∂fᵀ/∂θ u - uᵀ (∂K/∂θ) u`` (compliance is self-adjoint), so
    ``jax.grad`` needs no adjoint solve: one linear solve per load case and iteration.
    """
    u = jax.lax.stop_gradient(_solve_cases(matrix, loads, dirichlet, solver))
    f = loads.astype(u.dtype)
    return jnp.sum(2.0 * f * u) - sum(jnp.dot(ui, matrix @ ui) for ui in u)


def _solve_cases(matrix, loads, dirichlet, solver):
    """Solve ``K u = f`` with the supports for each row of ``loads``."""
    out = []
    for load in loads:
        lifted, rhs = apply_dirichlet(matrix, load.astype(matrix.data.dtype), dirichlet)
        out.append(linear_solve(lifted, rhs, solver))
    return jnp.stack(out)


def _add_to_diagonal(matrix: SparseMatrix, values: Array) -> SparseMatrix:
    pattern = matrix.pattern
    diagonal = np.flatnonzero(pattern.rows == pattern.indices)  # one entry per row, in order
    data = matrix.data.at[diagonal].add(values.astype(matrix.data.dtype)[pattern.rows[diagonal]])
    return SparseMatrix(data, pattern)


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
    mesh = _unit_grid(nelx, nely, None, dtype)
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
        mesh = _unit_grid(nelx, nely, None, dtype)
        space = FunctionSpace(mesh, components=2)
        tip = _corner(mesh, (nelx, nely / 2))
        loads = _point_loads(space, [[(tip, 1, -1.0)]])
    else:
        mesh = _unit_grid(nelx, nely, nelz, dtype)
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


def heat_sink(
    nelx: int,
    nely: int,
    *,
    source: float = 0.01,
    sink_width: float = 0.1,
    interpolation: Callable[[Array], Array] = _SOFT_SIMP,
    solver: AbstractLinearSolver = SparseLU(),
    dtype=None,
) -> ThermalComplianceProblem:
    """The heat-conduction example of the 88-line paper (section 5.3): ``nelx x nely`` unit
    quad4 cells, a uniform heat source (``source`` per node, as in the paper's code) and a
    heat sink ``T = 0`` on the middle ``sink_width`` fraction of the left edge.

    References:
        Andreassen et al. (2011), Efficient topology optimization in MATLAB using 88 lines
        of code, Struct. Multidisc. Optim. 43, section 5.3; Bendsøe and Sigmund (2003), §1.5.
    """
    mesh = _unit_grid(nelx, nely, None, dtype)
    space = FunctionSpace(mesh, components=1)
    half = 0.5 * sink_width * nely
    sink = select_nodes(
        mesh, lambda x: np.isclose(x[:, 0], 0.0) & (np.abs(x[:, 1] - nely / 2) <= half + 1e-9)
    )
    loads = np.full((1, space.num_dofs), source)
    return ThermalComplianceProblem(
        space, DirichletBC(space.dofs(sink)), jnp.asarray(loads, mesh.points.dtype),
        interpolation, solver,
    )  # fmt: skip


def force_inverter(
    nelx: int,
    nely: int,
    *,
    spring_in: float = 0.1,
    spring_out: float = 0.1,
    poissons_ratio: float = 0.3,
    interpolation: Callable[[Array], Array] = simp,
    solver: AbstractLinearSolver = SparseLU(),
    dtype=None,
) -> MechanismProblem:
    """The force inverter of Sigmund (1997), upper half by symmetry as in the mechanism
    variant of the 99-line code: ``nelx x nely`` unit quad4 cells (plane stress), the
    symmetry line along the top edge (vertical displacement fixed), the bottom left corner
    clamped, a unit input force pushing right at the top left corner against a spring
    ``spring_in``, and the output at the top right corner against a spring ``spring_out``.
    Minimising the output displacement makes the output move left: the motion inverts.

    References:
        Sigmund (1997), Mech. Struct. Mach. 25; Bendsøe and Sigmund (2003), §2.6.
    """
    mesh = _unit_grid(nelx, nely, None, dtype)
    space = FunctionSpace(mesh, components=2)
    top = select_nodes(mesh, lambda x: np.isclose(x[:, 1], nely))
    fixed = np.union1d(space.dofs(top, 1), space.dofs(np.array([_corner(mesh, (0, 0))])))
    inlet = int(space.dofs(np.array([_corner(mesh, (0, nely))]), 0)[0])
    outlet = int(space.dofs(np.array([_corner(mesh, (nelx, nely))]), 0)[0])
    load, output, springs = np.zeros((3, space.num_dofs))
    load[inlet], output[outlet] = 1.0, 1.0
    springs[inlet], springs[outlet] = spring_in, spring_out
    dtype = mesh.points.dtype
    return MechanismProblem(
        space, DirichletBC(fixed), jnp.asarray(load, dtype), jnp.asarray(output, dtype),
        jnp.asarray(springs, dtype), poissons_ratio, interpolation, solver,
    )  # fmt: skip


def _unit_grid(nelx: int, nely: int, nelz: int | None, dtype) -> Mesh:
    """``nelx x nely`` unit quad4 cells, or ``nelx x nely x nelz`` unit hex8 cells."""
    if nelz is None:
        mesh = rectangle_mesh(nelx, nely, upper=(float(nelx), float(nely)))
    else:
        mesh = box_mesh(
            nelx, nely, nelz, cell_type="hex8", upper=(float(nelx), float(nely), float(nelz))
        )
    return mesh if dtype is None else mesh.with_points(jnp.asarray(mesh.points, dtype))
