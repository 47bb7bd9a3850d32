"""dmech.cfd: differentiable incompressible-flow and Burgers solvers.

Every solver is an equinox Module whose parameters (viscosity, forcing, boundary values) are
array leaves and whose grid is static; it offers ``init(...) -> state`` and
``step(state) -> (state, aux)``, and :func:`rollout` runs any ``step`` with observations,
gradient checkpointing and blow-up detection.
"""

from ._burgers import BurgersState as BurgersState
from ._burgers import FiniteVolumeBurgers as FiniteVolumeBurgers
from ._burgers import SpectralBurgers as SpectralBurgers
from ._burgers_data import burgers_dataset as burgers_dataset
from ._closure import ClosureData as ClosureData
from ._closure import a_posteriori_loss as a_posteriori_loss
from ._closure import a_priori_loss as a_priori_loss
from ._closure import closure_training_data as closure_training_data
from ._closure import downsample as downsample
from ._closure import subgrid_correction as subgrid_correction
from ._closure import trajectory_windows as trajectory_windows
from ._closure import upsample as upsample
from ._closure import vorticity_correlation as vorticity_correlation
from ._cole_hopf import burgers_cole_hopf as burgers_cole_hopf
from ._cole_hopf import burgers_cole_hopf_periodic as burgers_cole_hopf_periodic
from ._ghia import ghia_centrelines as ghia_centrelines
from ._ghia import ghia_max_abs_error as ghia_max_abs_error
from ._inverse import InverseResult as InverseResult
from ._inverse import initial_vorticity_loss as initial_vorticity_loss
from ._inverse import parameter_loss as parameter_loss
from ._inverse import recover_initial_vorticity as recover_initial_vorticity
from ._inverse import recover_parameters as recover_parameters
from ._mac import MACNavierStokes as MACNavierStokes
from ._mac import MACState as MACState
from ._mac import cavity_centrelines as cavity_centrelines
from ._mac import channel_flow as channel_flow
from ._mac import cylinder_mask as cylinder_mask
from ._mac import flow_past_cylinder as flow_past_cylinder
from ._mac import lid_driven_cavity as lid_driven_cavity
from ._mac import poiseuille_velocity as poiseuille_velocity
from ._ns_data import navier_stokes_dataset as navier_stokes_dataset
from ._pressure import PoissonSolver as PoissonSolver
from ._random_fields import gaussian_random_field as gaussian_random_field
from ._rollout import Rollout as Rollout
from ._rollout import rollout as rollout
from ._spectral_ns import SpectralNavierStokes2D as SpectralNavierStokes2D
from ._spectral_ns import SpectralNavierStokes2DState as SpectralNavierStokes2DState
from ._spectral_ns import taylor_green_vorticity as taylor_green_vorticity
from ._spectral_ns import velocity_from_vorticity as velocity_from_vorticity
from ._spectral_ns import vorticity_to_physical as vorticity_to_physical
from ._spectral_ns import vorticity_to_spectral as vorticity_to_spectral
from ._wake_data import cylinder_wake_dataset as cylinder_wake_dataset

__all__ = [
    "BurgersState",
    "ClosureData",
    "FiniteVolumeBurgers",
    "InverseResult",
    "MACNavierStokes",
    "MACState",
    "PoissonSolver",
    "Rollout",
    "SpectralBurgers",
    "SpectralNavierStokes2D",
    "SpectralNavierStokes2DState",
    "a_posteriori_loss",
    "a_priori_loss",
    "burgers_cole_hopf",
    "burgers_cole_hopf_periodic",
    "burgers_dataset",
    "cavity_centrelines",
    "channel_flow",
    "closure_training_data",
    "cylinder_mask",
    "cylinder_wake_dataset",
    "downsample",
    "flow_past_cylinder",
    "gaussian_random_field",
    "ghia_centrelines",
    "ghia_max_abs_error",
    "initial_vorticity_loss",
    "lid_driven_cavity",
    "navier_stokes_dataset",
    "parameter_loss",
    "poiseuille_velocity",
    "recover_initial_vorticity",
    "recover_parameters",
    "rollout",
    "subgrid_correction",
    "taylor_green_vorticity",
    "trajectory_windows",
    "upsample",
    "velocity_from_vorticity",
    "vorticity_correlation",
    "vorticity_to_physical",
    "vorticity_to_spectral",
]
