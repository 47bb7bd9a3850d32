"""`dmech bench topopt-mbb`: the MBB half-beam by dmech (OC, jax.grad sensitivities) and by
a NumPy/SciPy port of the 88-line code, on the same problem in the same run."""

from __future__ import annotations

import functools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from ..bench import Benchmark, Case, Measured, Peer
from ..fem import AbstractLinearSolver, Pardiso, SparseLU
from ._filters import DensityFilter
from ._interpolation import simp
from ._optimise import optimise
from ._output import cell_grid
from ._parametrisation import Parametrisation
from ._problems import mbb_beam
from ._top88 import top88

_FILTERS = {"sensitivity": 1, "density": 2}


class IterationBudget:
    """The harness's untimed first call of each side only compiles (dmech) or warms up (the
    peer): one iteration, not a whole optimisation; the timed calls get ``max_iterations``."""

    def __init__(self, max_iterations: int):
        self.max_iterations = max_iterations
        self.calls = {"dmech": 0, "peer": 0}

    def __call__(self, who: str) -> int:
        self.calls[who] += 1
        return 1 if self.calls[who] == 1 else self.max_iterations

    def warming_up(self, who: str) -> bool:
        return self.calls[who] == 1


def _setup(nelx, nely, volfrac, penal, rmin, filter, max_iterations) -> Case:
    if filter not in _FILTERS:
        raise ValueError(f"filter must be 'sensitivity' or 'density', got {filter!r}")
    solver: AbstractLinearSolver
    try:
        import pypardiso  # noqa: F401

        solver = Pardiso()
    except ImportError:
        solver = SparseLU()
    with jax.enable_x64(True):
        problem = mbb_beam(
            nelx,
            nely,
            interpolation=functools.partial(simp, penalty=penal),
            solver=solver,
            dtype=jnp.float64,
        )
        design_filter = DensityFilter(problem.mesh, rmin)

    per_iteration: list[float] = []
    budget = IterationBudget(max_iterations)

    def run():
        iterations = budget("dmech")
        with jax.enable_x64(True):
            start = time.perf_counter()
            result = optimise(
                problem,
                jnp.full(problem.mesh.num_cells, volfrac),
                volume_fraction=volfrac,
                parametrisation=Parametrisation(design_filter, filter),
                max_iterations=iterations,
            )
            seconds = time.perf_counter() - start
        if budget.warming_up("dmech"):
            return Measured({}, seconds, compile_seconds=seconds)
        per_iteration.append(seconds / result.iterations)
        # the peer's layout: row 0 at the top
        image = cell_grid(problem.mesh, np.asarray(result.physical)).T[::-1]
        out = {
            "compliance": float(result.objective[-1]),
            "iterations": result.iterations,
            "converged": result.converged,
            "image": image,
        }
        return Measured(out, seconds / result.iterations)

    def peer_run():
        x, compliances, per_iteration = top88(
            nelx, nely, volfrac, penal, rmin, _FILTERS[filter], max_iterations=budget("peer")
        )
        out = {"compliance": float(compliances[-1]), "iterations": len(compliances), "image": x}
        return Measured(out, per_iteration)

    peer_figures: dict[str, float] = {}

    def peer_error(out):
        peer_figures.update(out)
        return {"compliance": out["compliance"]}

    def figures(out):
        report = {
            "compliance": out["compliance"],
            "iterations": out["iterations"],
            "converged": out["converged"],
            "seconds_per_iteration": statistics.median(per_iteration),
            "solver": type(solver).__name__,
        }
        if peer_figures:
            report["peer_compliance"] = peer_figures["compliance"]
            report["peer_iterations"] = peer_figures["iterations"]
            report["design_max_abs_diff"] = float(
                np.max(np.abs(out["image"] - peer_figures["image"]))
            )
        return report

    return Case(
        run=run,
        error=lambda out: {"compliance": out["compliance"]},
        reference="the 88-line code (Andreassen et al. 2011) ported to NumPy/SciPy, same "
        "problem; peer_rel_diff compares the final compliances, design_max_abs_diff the "
        "final physical densities",
        answer=lambda out: out["compliance"],
        figures=figures,
        peer=Peer(
            name="top88-numpy",
            version=f"numpy {np.__version__}",
            run=peer_run,
            error=peer_error,
            answer=lambda out: out["compliance"],
        ),
    )


topopt_mbb = Benchmark(
    name="topopt-mbb",
    description="MBB half-beam, OC to a largest change of 0.01: seconds per iteration, "
    "final compliance and iterations, against a NumPy port of the 88-line code",
    params={
        "nelx": 300,
        "nely": 100,
        "volfrac": 0.5,
        "penal": 3.0,
        "rmin": 4.0,
        "filter": "sensitivity",
        "max_iterations": 1000,
    },
    setup=_setup,
)
