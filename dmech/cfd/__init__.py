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
from ._cole_hopf import burgers_cole_hopf as burgers_cole_hopf
from ._cole_hopf import burgers_cole_hopf_periodic as burgers_cole_hopf_periodic
from ._ghia import ghia_centrelines as ghia_centrelines
from ._ghia import ghia_max_abs_error as ghia_max_abs_error
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
    "FiniteVolumeBurgers",
    "MACNavierStokes",
    "MACState",
    "PoissonSolver",
    "Rollout",
    "SpectralBurgers",
    "SpectralNavierStokes2D",
    "SpectralNavierStokes2DState",
    "burgers_cole_hopf",
    "burgers_cole_hopf_periodic",
    "burgers_dataset",
    "cavity_centrelines",
    "channel_flow",
    "cylinder_mask",
    "cylinder_wake_dataset",
    "flow_past_cylinder",
    "gaussian_random_field",
    "ghia_centrelines",
    "ghia_max_abs_error",
    "lid_driven_cavity",
    "navier_stokes_dataset",
    "poiseuille_velocity",
    "rollout",
    "taylor_green_vorticity",
    "velocity_from_vorticity",
    "vorticity_to_physical",
    "vorticity_to_spectral",
]
