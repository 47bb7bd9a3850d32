"""Density-based topology optimisation through the differentiable finite-element solver.

Every sensitivity comes from ``jax.grad`` through :mod:`dmech.fem` (adjoint solves), so any
objective or constraint written in JAX can be optimised.
"""

from ._filters import DensityFilter as DensityFilter
from ._interpolation import heaviside_projection as heaviside_projection
from ._interpolation import ramp as ramp
from ._interpolation import simp as simp
from ._mma import MMAResult as MMAResult
from ._mma import MMAState as MMAState
from ._mma import minimise_mma as minimise_mma
from ._mma import mma_init as mma_init
from ._mma import mma_update as mma_update
from ._oc import optimality_criteria as optimality_criteria
from ._optimise import TopOptResult as TopOptResult
from ._optimise import optimise as optimise
from ._output import animate_designs as animate_designs
from ._output import cell_grid as cell_grid
from ._output import plot_design as plot_design
from ._output import plot_history as plot_history
from ._parametrisation import Parametrisation as Parametrisation
from ._problems import ComplianceProblem as ComplianceProblem
from ._problems import HyperelasticComplianceProblem as HyperelasticComplianceProblem
from ._problems import MechanismProblem as MechanismProblem
from ._problems import ThermalComplianceProblem as ThermalComplianceProblem
from ._problems import cantilever as cantilever
from ._problems import force_inverter as force_inverter
from ._problems import heat_sink as heat_sink
from ._problems import mbb_beam as mbb_beam

__all__ = [
    "ComplianceProblem",
    "DensityFilter",
    "HyperelasticComplianceProblem",
    "MMAResult",
    "MMAState",
    "MechanismProblem",
    "Parametrisation",
    "ThermalComplianceProblem",
    "TopOptResult",
    "animate_designs",
    "cantilever",
    "cell_grid",
    "force_inverter",
    "heat_sink",
    "heaviside_projection",
    "mbb_beam",
    "minimise_mma",
    "mma_init",
    "mma_update",
    "optimality_criteria",
    "optimise",
    "plot_design",
    "plot_history",
    "ramp",
    "simp",
]
