"""`dmech bench topopt-3d`: the 3D cantilever by dmech (OC, jax.grad sensitivities) and by a
NumPy/SciPy implementation of top3d (Liu and Tovar 2014), on the same problem in the same run.

Parameters: the grid ``nelx x nely x nelz`` (hex8 cells of unit size; dmech's
:func:`~dmech.topopt.cantilever`), ``volfrac``, ``penal``, ``rmin``, ``filter``
(``"density"`` or ``"sensitivity"``), ``max_iterations`` (the optimisation also stops at a
largest change of 0.01, and with ``objective_tol > 0`` when the objective stalls: see
:func:`~dmech.topopt.optimise`), ``checkpoint`` (a file: the timed run checkpoints every 5
iterations and resumes from it; use it with ``--repeats 1 --no-peer`` for runs of hours) and
``solver``:

- ``"pcg"``: dmech's :class:`~dmech.fem.PCG` (Jacobi, from zero, ``‖r‖ ≤ rtol ‖b‖``) against
  SciPy's ``cg`` with the same preconditioner, start and stopping rule;
- ``"direct"``: dmech's :class:`~dmech.fem.Pardiso` (:class:`~dmech.fem.SparseLU` without
  pypardiso) against SciPy's ``splu``.

The defaults (32 x 16 x 16: 8192 cells, 28,611 dofs; 10 iterations; PCG) take about two
minutes with the default three repeats on a 2-core CPU. ``seconds`` and ``speedup_vs_peer`` are
per iteration. The harness's untimed first call runs one iteration only (it compiles dmech's
step; ``compile_seconds`` is that call: compilation and one iteration).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import scipy

from ..bench import Benchmark, BenchmarkError, Case, Measured, Peer
from ..data import read_card
from ..fem import (
    PCG,
    AbstractLinearSolver,
    Pardiso,
    SparseLU,
    apply_dirichlet,
    elasticity_matrix,
    isotropic_elasticity,
    pcg,
)
from ._benchmarks import IterationBudget
from ._filters import DensityFilter
from ._interpolation import simp
from ._optimise import optimise
from ._parametrisation import Parametrisation
from ._problems import cantilever
from ._top3d import top3d

_FILTERS = {"sensitivity": 1, "density": 2}


def _dmech_solver(solver: str, rtol: float) -> AbstractLinearSolver:
    if solver == "pcg":
        return PCG(rtol=rtol)
    try:
        import pypardiso  # noqa: F401
    except ImportError:
        return SparseLU()
    return Pardiso()


def _one_blas_thread():
    """Limit NumPy's BLAS to one thread for the peer, when threadpoolctl is installed.

    The peer's BLAS calls are the dot products of CG on vectors of ``n`` dofs: memory-bound,
    no faster on more threads, and on a busy machine a threaded OpenBLAS ``dot`` can take
    milliseconds instead of microseconds (spinning threads), which would flatter dmech.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")  # limits now, restores on exit


def _setup(
    nelx, nely, nelz, volfrac, penal, rmin, filter, solver, rtol, max_iterations, objective_tol,
    checkpoint,
) -> Case:  # fmt: skip
    if filter not in _FILTERS:
        raise ValueError(f"filter must be 'sensitivity' or 'density', got {filter!r}")
    if solver not in ("pcg", "direct"):
        raise ValueError(f"solver must be 'pcg' or 'direct', got {solver!r}")
    dmech_solver = _dmech_solver(solver, rtol)
    peer_solver = "cg" if solver == "pcg" else "direct"
    interpolation = functools.partial(simp, penalty=penal)
    with jax.enable_x64(True):
        problem = cantilever(
            nelx,
            nely,
            nelz,
            interpolation=interpolation,
            solver=dmech_solver,
            dtype=jnp.float64,
        )
        parametrisation = Parametrisation(DensityFilter(problem.mesh, rmin), filter)
        centroids = np.asarray(problem.mesh.points)[np.asarray(problem.mesh.cells)].mean(axis=1)
        # an explicit dtype: a weak-typed start would compile the step a second time for the
        # (strongly typed) designs of the later iterations, inside the timed runs
        initial = jnp.full(problem.mesh.num_cells, volfrac, dtype=jnp.float64)
        # PCG steps of the first iteration's solve (the uniform design), untimed
        first_steps = None
        if isinstance(dmech_solver, PCG):
            matrix = elasticity_matrix(
                problem.space,
                isotropic_elasticity(interpolation(initial), problem.poissons_ratio, dim=3),
            )
            lifted, rhs = apply_dirichlet(matrix, problem.loads[0], problem.dirichlet)
            first_steps = int(pcg(lifted, rhs, dmech_solver)[1].steps)
    # dmech's cells -> the [x, y, z] grid array that top3d returns too
    grid = tuple(np.floor(centroids).astype(int).T)

    per_iteration: list[float] = []
    budget = IterationBudget(max_iterations)

    def run():
        iterations = budget("dmech")
        warm_up = budget.warming_up("dmech")
        path = Path(checkpoint).expanduser() if checkpoint and not warm_up else None
        done = len(read_card(path).extra["history"]["objective"]) if path and path.exists() else 0
        with jax.enable_x64(True):
            start = time.perf_counter()
            result = optimise(
                problem,
                initial,
                volume_fraction=volfrac,
                parametrisation=parametrisation,
                max_iterations=iterations,
                objective_tol=objective_tol if objective_tol > 0 else None,
                checkpoint=path,
                checkpoint_every=5,
            )
            seconds = time.perf_counter() - start
        if warm_up:
            return Measured({}, seconds, compile_seconds=seconds)
        if result.iterations == done:
            raise BenchmarkError(
                f"the checkpoint {path} holds a finished run: nothing to time (one timed "
                "repeat per checkpoint: --repeats 1)"
            )
        per_iteration.append(seconds / (result.iterations - done))
        physical = np.zeros((nelx, nely, nelz))
        physical[grid] = np.asarray(result.physical)
        out = {
            "compliance": float(result.objective[-1]),
            "iterations": result.iterations,
            "converged": result.converged,
            "stopped_by": result.reason,
            "largest_change": float(result.change[-1]),
            "resumed_at": done,
            "physical": physical,
        }
        return Measured(out, per_iteration[-1])

    def peer_run():
        iterations = budget("peer")
        with _one_blas_thread():
            peer = top3d(
                nelx, nely, nelz, volfrac, penal, rmin, _FILTERS[filter],
                max_iterations=iterations, solver=peer_solver, rtol=rtol,
            )  # fmt: skip
        out = {
            "compliance": float(peer.compliances[-1]),
            "iterations": len(peer.compliances),
            "physical": peer.physical,
            "cg_steps": peer.cg_steps,
        }
        return Measured(out, float(np.mean(peer.seconds)))

    peer_out: dict = {}

    def peer_error(out):
        peer_out.update(out)
        return {"compliance": out["compliance"]}

    def figures(out):
        report = {
            "compliance": out["compliance"],
            "iterations": out["iterations"],
            "converged": out["converged"],
            "stopped_by": out["stopped_by"],
            "largest_change": out["largest_change"],
            "seconds_per_iteration": statistics.median(per_iteration),
            "cells": nelx * nely * nelz,
            "dofs": 3 * (nelx + 1) * (nely + 1) * (nelz + 1),
            "solver": type(dmech_solver).__name__,
            "peer_solver": "scipy.sparse.linalg.cg (Jacobi)"
            if peer_solver == "cg"
            else "scipy.sparse.linalg.splu (SuperLU, symmetric mode)",
            "peer_blas_threads": 1 if importlib.util.find_spec("threadpoolctl") else "default",
        }
        if checkpoint:
            report["resumed_at"] = out["resumed_at"]  # iterations done by earlier processes
        if solver == "pcg":
            report["rtol"] = rtol
            # compliance is self-adjoint: jax.grad needs no adjoint solve
            report["pcg_solves_per_iteration"] = 1
            report["pcg_steps_first_iteration"] = first_steps
        if peer_out:
            report["peer_compliance"] = peer_out["compliance"]
            report["peer_iterations"] = peer_out["iterations"]
            report["design_max_abs_diff"] = float(
                np.max(np.abs(out["physical"] - peer_out["physical"]))
            )
            if solver == "pcg":
                steps = peer_out["cg_steps"]
                report["peer_cg_steps_first_iteration"] = int(steps[0])
                report["peer_cg_steps_mean"] = float(np.mean(steps))
        return report

    return Case(
        run=run,
        error=lambda out: {"compliance": out["compliance"]},
        reference="top3d (Liu and Tovar 2014) in NumPy/SciPy, same problem; peer_rel_diff "
        "compares the final compliances, design_max_abs_diff the final physical densities",
        answer=lambda out: out["compliance"],
        figures=figures,
        peer=Peer(
            name="top3d-numpy",
            version=f"numpy {np.__version__}, scipy {scipy.__version__}",
            run=peer_run,
            error=peer_error,
            answer=lambda out: out["compliance"],
        ),
    )


topopt_3d = Benchmark(
    name="topopt-3d",
    description="3D hex8 cantilever, OC to a largest change of 0.01 or max_iterations: "
    "seconds per iteration, final compliance and iterations, against a NumPy/SciPy top3d",
    params={
        "nelx": 32,
        "nely": 16,
        "nelz": 16,
        "volfrac": 0.3,
        "penal": 3.0,
        "rmin": 1.5,
        "filter": "density",
        "solver": "pcg",
        "rtol": 1e-8,
        "max_iterations": 10,
        "objective_tol": 0.0,
        "checkpoint": "",
    },
    setup=_setup,
)
