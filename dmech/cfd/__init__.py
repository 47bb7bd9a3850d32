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
from ._random_fields import gaussian_random_field as gaussian_random_field
from ._rollout import Rollout as Rollout
from ._rollout import rollout as rollout

__all__ = [
    "BurgersState",
    "FiniteVolumeBurgers",
    "Rollout",
    "SpectralBurgers",
    "burgers_cole_hopf",
    "burgers_cole_hopf_periodic",
    "burgers_dataset",
    "gaussian_random_field",
    "rollout",
]
