"""`dmech bench fem-elasticity-2d` and `fem-elasticity-3d`: a clamped block under an end
traction, assembled and solved by dmech and by scikit-fem on the same mesh."""

from __future__ import annotations

import importlib.metadata
import math
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..bench import Benchmark, Case, Measured, Peer
from ..geometry import box_mesh, rectangle_mesh, select_facets, select_nodes
from ._linear import (
    DirichletBC,
    apply_dirichlet,
    elasticity_matrix,
    isotropic_elasticity,
    traction_vector,
)
from ._solve import PCG, AbstractLinearSolver, Pardiso, SparseLU, linear_solve
from ._space import FunctionSpace

_E, _NU = 1.0, 0.3


def _mesh(dim: int, dofs: int, cell_type: str):
    """A 2:1:1 block with about ``dofs`` displacement dofs."""
    if dim == 2:
        ny = max(1, round(math.sqrt(dofs / 4)))  # 2 (2ny+1)(ny+1) ~ 4 ny^2
        return rectangle_mesh(2 * ny, ny, cell_type=cell_type, upper=(2.0, 1.0))
    n = max(1, round((dofs / 6) ** (1 / 3)))  # 3 (2n+1)(n+1)^2 ~ 6 n^3
    return box_mesh(2 * n, n, n, cell_type=cell_type, upper=(2.0, 1.0, 1.0))


def _solver(name: str) -> AbstractLinearSolver:
    if name == "auto":
        try:
            import pypardiso  # noqa: F401
        except ImportError:
            return SparseLU()
        return Pardiso()
    solvers = {"pardiso": Pardiso(), "superlu": SparseLU(), "pcg": PCG(rtol=1e-10)}
    if name not in solvers:
        raise ValueError(f"solver must be one of auto, {', '.join(solvers)}; got {name!r}")
    return solvers[name]


def _setup(dim: int, dofs: int, cell_type: str, dtype: str, solver: str) -> Case:
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    with jax.enable_x64(dtype == "float64"):
        return _setup_x(dim, dofs, cell_type, dtype, _solver(solver))


def _setup_x(dim, dofs, cell_type, dtype, solver):
    mesh = _mesh(dim, dofs, cell_type)
    if dtype == "float64":
        mesh = mesh.with_points(jnp.asarray(mesh.points, jnp.float64))
    space = FunctionSpace(mesh, components=dim)
    clamp = space.dofs(select_nodes(mesh, lambda x: np.isclose(x[:, 0], 0.0)))
    end = select_facets(mesh, lambda x: np.isclose(x[:, 0], 2.0))
    traction = jnp.zeros(dim, mesh.points.dtype).at[dim - 1].set(-1e-3)
    moduli = jnp.full(mesh.num_cells, _E, mesh.points.dtype)
    plane = "stress" if dim == 2 else None
    bc = DirichletBC(clamp)

    @eqx.filter_jit
    def assemble(space, moduli, traction, bc):
        k = elasticity_matrix(space, isotropic_elasticity(moduli, _NU, dim=dim, plane=plane))
        f = traction_vector(space, end, traction)
        return apply_dirichlet(k, f, bc)

    @eqx.filter_jit
    def solve(k, f):
        return linear_solve(k, f, solver)

    @eqx.filter_jit
    def compliance_gradient(space, moduli, traction, bc):
        def compliance(moduli):
            k, f = assemble(space, moduli, traction, bc)
            return jnp.dot(f, linear_solve(k, f, solver))

        return jax.value_and_grad(compliance)(moduli)

    timings: dict[str, list[float]] = {"assembly": [], "solve": [], "adjoint": [], "forward": []}

    def run():
        with jax.enable_x64(dtype == "float64"):
            t0 = time.perf_counter()
            k, f = jax.block_until_ready(assemble(space, moduli, traction, bc))
            t1 = time.perf_counter()
            u = jax.block_until_ready(solve(k, f))
            t2 = time.perf_counter()
            jax.block_until_ready(compliance_gradient(space, moduli, traction, bc))
            t3 = time.perf_counter()
            residual = float(jnp.linalg.norm(k @ u - f) / jnp.linalg.norm(f))
        timings["assembly"].append(t1 - t0)
        timings["solve"].append(t2 - t1)
        timings["forward"].append(t2 - t0)
        timings["adjoint"].append(t3 - t2)
        return Measured({"u": np.asarray(u), "residual": residual}, t2 - t0)

    def compile_all():
        # Ahead-of-time compilation only (later calls reuse these executables); the small
        # solve wrapper compiles in the harness's untimed warm-up run.
        with jax.enable_x64(dtype == "float64"):
            assemble.lower(space, moduli, traction, bc).compile()
            compliance_gradient.lower(space, moduli, traction, bc).compile()

    def error(out):
        return {"relative_residual": out["residual"]}

    def figures(_u):
        med = {k: statistics.median(v) for k, v in timings.items() if v}
        out = {
            "dofs": space.num_dofs,
            "solver": type(solver).__name__,
            "cells": mesh.num_cells,
            "nnz": space.pattern.nnz,
            "assembly_seconds": med["assembly"],
            "solve_seconds": med["solve"],
            "adjoint_seconds": med["adjoint"],
            "adjoint_over_forward": med["adjoint"] / med["forward"],
        }
        if peer_timings["assembly"]:
            out["peer_assembly_seconds"] = statistics.median(peer_timings["assembly"])
            out["peer_solve_seconds"] = statistics.median(peer_timings["solve"])
        return out

    peer_timings: dict[str, list[float]] = {"assembly": [], "solve": []}
    peer, missing = _skfem_peer(mesh, dim, clamp, end, traction, peer_timings)
    return Case(
        run=run,
        compile=compile_all,
        error=error,
        reference="relative residual |K u - f| / |f| of the solve; scikit-fem's displacement on "
        "the identical mesh for peer_rel_diff",
        answer=lambda out: out["u"],
        figures=figures,
        peer=peer,
        peer_missing=missing,
    )


def _skfem_peer(mesh, dim, clamp, end, traction, timings):
    try:
        import skfem
        from skfem.models.elasticity import lame_parameters, linear_elasticity
    except ImportError:
        return None, "scikit-fem is not installed (pip install 'dmech[peers]')"
    kinds = {
        "tri3": (skfem.MeshTri, skfem.ElementTriP1),
        "quad4": (skfem.MeshQuad, skfem.ElementQuad1),
        "tet4": (skfem.MeshTet, skfem.ElementTetP1),
    }
    if mesh.cell_type not in kinds:
        return None, f"no scikit-fem mesh with the same node order for {mesh.cell_type}"
    mesh_cls, elem_cls = kinds[mesh.cell_type]
    p = np.asarray(mesh.points, np.float64)
    sk_mesh = mesh_cls(p.T.copy(), np.asarray(mesh.cells).T.copy())
    space_degree = FunctionSpace(mesh).quadrature_degree
    basis = skfem.Basis(sk_mesh, skfem.ElementVector(elem_cls()), intorder=space_degree)
    lam, mu = lame_parameters(_E, _NU)
    if dim == 2:  # plane stress, as dmech's benchmark uses
        lam = 2 * lam * mu / (lam + 2 * mu)
    # The traction load is the same vector in both codes; it is not part of what is timed.
    with jax.enable_x64(True):
        space64 = FunctionSpace(mesh.with_points(jnp.asarray(p)), components=dim)
        load = np.asarray(traction_vector(space64, end, jnp.asarray(traction, jnp.float64)))

    def run():
        t0 = time.perf_counter()
        k = skfem.asm(linear_elasticity(lam, mu), basis)
        t1 = time.perf_counter()
        u = skfem.solve(*skfem.condense(k, load, D=clamp))
        t2 = time.perf_counter()
        timings["assembly"].append(t1 - t0)
        timings["solve"].append(t2 - t1)
        free = np.setdiff1d(np.arange(len(load)), clamp)  # reactions act on the clamped dofs
        residual = float(np.linalg.norm((k @ u - load)[free]) / np.linalg.norm(load[free]))
        return Measured({"u": u, "residual": residual}, t2 - t0)

    peer = Peer(
        name="scikit-fem",
        version=importlib.metadata.version("scikit-fem"),
        run=run,
        error=lambda out: {"relative_residual": out["residual"]},
        answer=lambda out: out["u"],
    )
    return peer, None


def _benchmark(name: str, dim: int, dofs: int, cell_type: str) -> Benchmark:
    def setup(dofs: int, cell_type: str, dtype: str, solver: str) -> Case:
        return _setup(dim, dofs, cell_type, dtype, solver)

    return Benchmark(
        name=name,
        description=f"{dim}D linear elasticity of a clamped 2:1 block under an end traction "
        f"({cell_type}): assembly, direct solve and adjoint-gradient seconds, against "
        "scikit-fem on the same mesh",
        params={"dofs": dofs, "cell_type": cell_type, "dtype": "float64", "solver": "auto"},
        setup=setup,
    )


elasticity_2d = _benchmark("fem-elasticity-2d", 2, 100_000, "quad4")
elasticity_3d = _benchmark("fem-elasticity-3d", 3, 100_000, "tet4")
