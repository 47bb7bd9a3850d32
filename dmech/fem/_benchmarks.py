"""`dmech bench fem-elasticity-2d` and `fem-elasticity-3d`: a clamped block under an end
traction, assembled and solved by dmech and by scikit-fem on the same mesh."""

from __future__ import annotations

import importlib.metadata
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..bench import Benchmark, Case, Measured, Peer
from ..geometry import box_mesh, rectangle_mesh, select_facets, select_nodes
from . import _solve
from ._elements import element
from ._linear import (
    DirichletBC,
    apply_dirichlet,
    elasticity_matrix,
    isotropic_elasticity,
    traction_vector,
)
from ._solve import PCG, AbstractLinearSolver, Pardiso, SparseLU, linear_solve, pcg
from ._space import FunctionSpace

_E, _NU = 1.0, 0.3


def _mesh(dim: int, dofs: int, cell_type: str):
    """A 2:1(:1) block with about ``dofs`` displacement dofs."""
    # A 2n x n (x n) grid has about (2kn+1)(kn+1)^(dim-1) nodes, k the element degree (exact
    # for Lagrange cells; serendipity ones have fewer, corrected below).
    k = element(cell_type).degree
    n = max(1, round((dofs / (2 * dim * k**dim)) ** (1 / dim)))
    for _ in range(2):
        mesh = _grid(dim, n, cell_type)
        ratio = dofs / (dim * mesh.num_nodes)
        if 0.8 < ratio < 1.25:
            break
        n = max(1, round(n * ratio ** (1 / dim)))
    else:
        mesh = _grid(dim, n, cell_type)
    return mesh


def _grid(dim: int, n: int, cell_type: str):
    if dim == 2:
        return rectangle_mesh(2 * n, n, cell_type=cell_type, upper=(2.0, 1.0))
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

    # What is timed, in every run (the harness's "seconds" is the forward):
    #   forward = assembly (stiffness, load, Dirichlet lifting) + solve (factorise and solve),
    #             two jitted calls;
    #   adjoint = one jitted value_and_grad of the compliance fᵀu with respect to the per-cell
    #             Young's moduli, all of it: its own assembly, factorisation and solve, the
    #             adjoint solve on the factors kept from that solve, and the backward pass
    #             through the assembly. So adjoint_over_forward = 1 + (adjoint solve + backward
    #             pass) / forward, and adjoint_factorisations (the factorisations inside one
    #             gradient) is 1 when the adjoint reused the forward's factors.
    # The gradient runs right after the forward with nothing of it left alive (matrix, load,
    # factors). Figures are medians over the timed runs, the harness's untimed warm-up run
    # left out; adjoint_over_forward is the median of the per-run ratios (both halves under the
    # same machine load), with the same ratio in process CPU seconds beside it.
    timings: dict[str, list[float]] = {
        key: []
        for key in ("assembly", "solve", "forward", "adjoint", "ratio", "ratio_cpu", "factors")
    }

    pcg_steps: list[int] = []

    def run():
        with jax.enable_x64(dtype == "float64"):
            c0, t0 = time.process_time(), time.perf_counter()
            k, f = jax.block_until_ready(assemble(space, moduli, traction, bc))
            t1 = time.perf_counter()
            u = jax.block_until_ready(solve(k, f))
            t2, c2 = time.perf_counter(), time.process_time()
            residual = float(jnp.linalg.norm(k @ u - f) / jnp.linalg.norm(f))
            if isinstance(solver, PCG) and not pcg_steps:  # once, untimed
                pcg_steps.append(int(eqx.filter_jit(pcg)(k, f, solver)[1].steps))
            u = np.asarray(u)
            del k, f
            factorisations = _solve._STATS["factorisations"]
            c3, t3 = time.process_time(), time.perf_counter()
            jax.block_until_ready(compliance_gradient(space, moduli, traction, bc))
            t4, c4 = time.perf_counter(), time.process_time()
        timings["assembly"].append(t1 - t0)
        timings["solve"].append(t2 - t1)
        timings["forward"].append(t2 - t0)
        timings["adjoint"].append(t4 - t3)
        timings["ratio"].append((t4 - t3) / (t2 - t0))
        timings["ratio_cpu"].append((c4 - c3) / max(c2 - c0, 1e-9))
        timings["factors"].append(_solve._STATS["factorisations"] - factorisations)
        return Measured({"u": u, "residual": residual}, t2 - t0)

    def compile_all():
        # Ahead-of-time compilation only (later calls reuse these executables); the small
        # solve wrapper compiles in the harness's untimed warm-up run.
        with jax.enable_x64(dtype == "float64"):
            assemble.lower(space, moduli, traction, bc).compile()
            compliance_gradient.lower(space, moduli, traction, bc).compile()

    def error(out):
        return {"relative_residual": out["residual"]}

    def figures(_u):
        # The first run is the harness's untimed warm-up (it also compiles the solve wrapper).
        timed = {k: v[1:] if len(v) > 1 else v for k, v in timings.items()}
        med = {k: statistics.median(v) for k, v in timed.items() if v}
        out = {
            "dofs": space.num_dofs,
            "solver": type(solver).__name__,
            "cells": mesh.num_cells,
            "nnz": space.pattern.nnz,
            "assembly_seconds": med["assembly"],
            "solve_seconds": med["solve"],
            "forward_seconds": med["forward"],
            "adjoint_seconds": med["adjoint"],
            "adjoint_over_forward": med["ratio"],
            "adjoint_over_forward_cpu": med["ratio_cpu"],
            "adjoint_factorisations": max(timed["factors"]),
        }
        if pcg_steps:
            out["pcg_iterations"] = pcg_steps[0]
        if isinstance(solver, Pardiso):  # PARDISO's own report of its last factorisation
            out["factor_memory_mb"] = _solve._STATS["pardiso_factor_kb"] / 1024
        if peer_timings["assembly"]:  # the peer's warm-up run left out too
            for key in ("assembly", "solve"):
                runs = peer_timings[key][1:] or peer_timings[key]
                out[f"peer_{key}_seconds"] = statistics.median(runs)
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
