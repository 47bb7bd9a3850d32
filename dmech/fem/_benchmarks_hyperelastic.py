"""`dmech bench fem-hyperelastic-3d`: a neo-Hookean block clamped at one end and bent by a dead
traction at the other, solved by Newton in dmech and in scikit-fem on the same mesh."""

from __future__ import annotations

import importlib.metadata
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..bench import Benchmark, Case, Measured, Peer
from ..geometry import select_facets, select_nodes
from ._benchmarks import _mesh, _solver
from ._hyperelastic import lame_parameters, neo_hookean
from ._linear import DirichletBC, traction_vector
from ._nonlinear import Newton, _Mechanics, solve_hyperelasticity
from ._space import FunctionSpace

_E, _NU = 1.0, 0.3
_TRACTION = -0.01  # vertical dead load on the end face: tip deflection ~ 0.3 of the length


def _setup(dofs: int, cell_type: str, load_steps: int, rtol: float, solver: str) -> Case:
    with jax.enable_x64(True):
        return _setup_x64(dofs, cell_type, load_steps, rtol, _solver(solver))


def _setup_x64(dofs, cell_type, load_steps, rtol, linear_solver):
    mesh = _mesh(3, dofs, cell_type)
    mesh = mesh.with_points(jnp.asarray(mesh.points, jnp.float64))
    space = FunctionSpace(mesh, components=3)
    clamp_dofs = space.dofs(select_nodes(mesh, lambda x: np.isclose(x[:, 0], 0.0)))
    clamp = DirichletBC(clamp_dofs)
    end = select_facets(mesh, lambda x: np.isclose(x[:, 0], 2.0))
    traction = jnp.array([0.0, 0.0, _TRACTION])
    youngs = jnp.full(mesh.num_cells, _E)
    load = traction_vector(space, end, traction)
    newton = Newton(rtol=rtol, solver=linear_solver)

    def solve(youngs):
        return solve_hyperelasticity(
            space,
            neo_hookean,
            lame_parameters(youngs, _NU),
            dirichlet=clamp,
            traction_facets=end,
            traction=traction,
            load_steps=load_steps,
            newton=newton,
        )

    @eqx.filter_jit
    def forward(youngs):
        result = solve(youngs)
        return result.displacement, result.iterations

    @eqx.filter_jit
    def work_gradient(youngs):
        def work(youngs):  # the work of the end load: a compliance
            return jnp.dot(load, solve(youngs).displacement.reshape(-1))

        return jax.value_and_grad(work)(youngs)

    @eqx.filter_jit
    def assemble(u, youngs):
        mech = _Mechanics(
            space, neo_hookean, lame_parameters(youngs, _NU), jnp.zeros(space.num_dofs), clamp,
            "hyperelastic",
        )  # fmt: skip
        return mech.force_and_tangent(u.reshape(-1), None)

    timings: dict[str, list[float]] = {"forward": [], "adjoint": [], "assembly": []}
    iterations: list[int] = []

    def run():
        with jax.enable_x64(True):
            t0 = time.perf_counter()
            u, its = jax.block_until_ready(forward(youngs))
            t1 = time.perf_counter()
            jax.block_until_ready(work_gradient(youngs))
            t2 = time.perf_counter()
            jax.block_until_ready(assemble(u, youngs))
            t3 = time.perf_counter()
        timings["forward"].append(t1 - t0)
        timings["adjoint"].append(t2 - t1)
        timings["assembly"].append(t3 - t2)
        iterations[:] = np.asarray(its).tolist()
        return Measured(np.asarray(u).reshape(-1), t1 - t0)

    def compile_all():
        with jax.enable_x64(True):
            forward.lower(youngs).compile()
            work_gradient.lower(youngs).compile()
            u = jnp.zeros((mesh.num_nodes, 3))
            assemble.lower(u, youngs).compile()

    def figures(_u):
        med = {k: statistics.median(v) for k, v in timings.items() if v}
        out = {
            "dofs": space.num_dofs,
            "cells": mesh.num_cells,
            "solver": type(linear_solver).__name__,
            "newton_iterations": iterations,
            "assembly_seconds": med["assembly"],
            "solve_seconds": med["forward"],
            "adjoint_seconds": med["adjoint"],
            "adjoint_over_forward": med["adjoint"] / med["forward"],
        }
        if peer_timings["forward"]:
            out["peer_assembly_seconds"] = statistics.median(peer_timings["assembly"])
            out["peer_solve_seconds"] = statistics.median(peer_timings["forward"])
            out["peer_newton_iterations"] = peer_iterations
        return out

    def error(u):
        tip = float(np.min(u.reshape(-1, 3)[:, 2]))
        return {"tip_deflection": tip}

    peer_timings: dict[str, list[float]] = {"forward": [], "assembly": []}
    peer_iterations: list[int] = []
    peer, missing = _skfem_peer(
        mesh, clamp_dofs, end, traction, load_steps, rtol, peer_timings, peer_iterations
    )
    return Case(
        run=run,
        compile=compile_all,
        error=error,
        reference="tip deflection of the block (no closed form); scikit-fem's Newton solution "
        "of the same discrete problem for peer_rel_diff",
        answer=lambda u: u,
        figures=figures,
        peer=peer,
        peer_missing=missing,
    )


def _skfem_peer(mesh, clamp, end, traction, load_steps, rtol, timings, iterations):
    try:
        import skfem
        from skfem.helpers import ddot, det, grad, identity, inv, mul, transpose
    except ImportError:
        return None, "scikit-fem is not installed (pip install 'dmech[peers]')"
    if mesh.cell_type != "tet4":
        return None, f"no scikit-fem mesh with the same node order for {mesh.cell_type}"
    p = np.asarray(mesh.points, np.float64)
    sk_mesh = skfem.MeshTet(p.T.copy(), np.asarray(mesh.cells).T.copy())
    degree = FunctionSpace(mesh).quadrature_degree
    basis = skfem.Basis(sk_mesh, skfem.ElementVector(skfem.ElementTetP1()), intorder=degree)
    lam = _E * _NU / ((1 + _NU) * (1 - 2 * _NU))
    mu = _E / (2 * (1 + _NU))

    def kinematics(w):
        f = identity(w.u) + grad(w.u)
        f_inv_t = transpose(inv(f))
        return f, f_inv_t, np.log(det(f))

    @skfem.LinearForm
    def internal_force(v, w):
        f, f_inv_t, log_j = kinematics(w)
        return ddot(mu * (f - f_inv_t) + lam * log_j * f_inv_t, grad(v))

    @skfem.BilinearForm
    def tangent(du, v, w):
        _, f_inv_t, log_j = kinematics(w)
        d = grad(du)
        a_d = (
            mu * d
            + (mu - lam * log_j) * mul(f_inv_t, mul(transpose(d), f_inv_t))
            + lam * ddot(f_inv_t, d) * f_inv_t
        )
        return ddot(a_d, grad(v))

    with jax.enable_x64(True):
        space64 = FunctionSpace(mesh.with_points(jnp.asarray(p)), components=3)
        load = np.asarray(traction_vector(space64, end, jnp.asarray(traction, jnp.float64)))
    free = np.setdiff1d(np.arange(len(load)), clamp)

    def run():
        u = np.zeros(len(load))
        assembly = 0.0
        counts = []
        t0 = time.perf_counter()
        for factor in np.linspace(1.0 / load_steps, 1.0, load_steps):
            ref = None
            solves = 0
            for _ in range(50):
                ta = time.perf_counter()
                w = basis.interpolate(u)
                r = skfem.asm(internal_force, basis, u=w) - factor * load
                k_mat = skfem.asm(tangent, basis, u=w)
                assembly += time.perf_counter() - ta
                norm = np.linalg.norm(r[free])
                ref = max(norm, np.linalg.norm(factor * load[free])) if ref is None else ref
                if norm <= rtol * ref:
                    break
                u = u + skfem.solve(*skfem.condense(k_mat, -r, D=clamp))
                solves += 1
            counts.append(solves)
        t1 = time.perf_counter()
        timings["forward"].append(t1 - t0)
        timings["assembly"].append(assembly / max(1, sum(counts) + len(counts)))
        iterations[:] = counts
        return Measured(u, t1 - t0)

    def error(u):
        return {"tip_deflection": float(np.min(u.reshape(-1, 3)[:, 2]))}

    peer = Peer(
        name="scikit-fem",
        version=importlib.metadata.version("scikit-fem"),
        run=run,
        error=error,
        answer=lambda u: u,
    )
    return peer, None


hyperelastic_3d = Benchmark(
    name="fem-hyperelastic-3d",
    description="3D compressible neo-Hookean block clamped at one end under a dead end "
    "traction (large deflection), Newton with load steps: assembly, solve and adjoint-gradient "
    "seconds, against scikit-fem's Newton on the same mesh",
    params={"dofs": 30_000, "cell_type": "tet4", "load_steps": 2, "rtol": 1e-10, "solver": "auto"},
    setup=_setup,
)
