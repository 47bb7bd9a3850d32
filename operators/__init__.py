"""operators: neural operators (FNO, F-FNO, DeepONet, POD-DeepONet) and a U-Net baseline,
trained on datasets that dmech's own solvers generate.

Models are equinox Modules on unbatched, channel-first fields ``(channels, *spatial)``
(``jax.vmap`` them over samples). Datasets (Burgers, Darcy, Navier-Stokes, two-phase
elasticity) are deterministic from a seed, cached under ``~/.cache/dmech`` with a card.
This package may import ``dmech``; it never imports ``pinn`` or ``koopman``.
"""

from ._darcy import DARCY_HIGH as DARCY_HIGH
from ._darcy import DARCY_LOW as DARCY_LOW
from ._darcy import darcy_flow_dataset as darcy_flow_dataset
from ._darcy import neumann_gaussian_random_field as neumann_gaussian_random_field
from ._darcy import solve_darcy as solve_darcy
from ._datasets import LI_ET_AL_FINAL_TIMES as LI_ET_AL_FINAL_TIMES
from ._datasets import burgers_operator_dataset as burgers_operator_dataset
from ._datasets import navier_stokes_operator_dataset as navier_stokes_operator_dataset
from ._deeponet import DeepONet as DeepONet
from ._deeponet import PODBasis as PODBasis
from ._deeponet import PODDeepONet as PODDeepONet
from ._deeponet import mlp_deeponet as mlp_deeponet
from ._deeponet import pod_basis as pod_basis
from ._elasticity import INCLUSION as INCLUSION
from ._elasticity import MATRIX as MATRIX
from ._elasticity import UniaxialStrainResult as UniaxialStrainResult
from ._elasticity import microstructure_elasticity_dataset as microstructure_elasticity_dataset
from ._elasticity import random_inclusions as random_inclusions
from ._elasticity import solve_uniaxial_strain as solve_uniaxial_strain
from ._elasticity import thresholded_gaussian_microstructure as thresholded_gaussian_microstructure
from ._fno import FNO as FNO
from ._fno import FactorizedFNO as FactorizedFNO
from ._fno import FactorizedSpectralConv as FactorizedSpectralConv
from ._fno import SpectralConv as SpectralConv
from ._fno import published_fno as published_fno
from ._fno import repeat_in_time as repeat_in_time
from ._fno import rollout_fno as rollout_fno
from ._inverse import DarcyInverseResult as DarcyInverseResult
from ._inverse import coefficient_from_latent as coefficient_from_latent
from ._inverse import fe_darcy_forward as fe_darcy_forward
from ._inverse import fno_darcy_forward as fno_darcy_forward
from ._inverse import recover_darcy_coefficient as recover_darcy_coefficient
from ._losses import deeponet_loss as deeponet_loss
from ._losses import relative_l2_error as relative_l2_error
from ._losses import relative_l2_loss as relative_l2_loss
from ._losses import rollout_loss as rollout_loss
from ._losses import step_decay_adam as step_decay_adam
from ._losses import step_decay_schedule as step_decay_schedule
from ._losses import supervised_loss as supervised_loss
from ._resolution import format_resolution_table as format_resolution_table
from ._resolution import resolution_table as resolution_table
from ._unet import UNet as UNet

__all__ = [
    "DARCY_HIGH",
    "DARCY_LOW",
    "FNO",
    "INCLUSION",
    "LI_ET_AL_FINAL_TIMES",
    "MATRIX",
    "DarcyInverseResult",
    "DeepONet",
    "FactorizedFNO",
    "FactorizedSpectralConv",
    "PODBasis",
    "PODDeepONet",
    "SpectralConv",
    "UNet",
    "UniaxialStrainResult",
    "burgers_operator_dataset",
    "coefficient_from_latent",
    "darcy_flow_dataset",
    "deeponet_loss",
    "fe_darcy_forward",
    "fno_darcy_forward",
    "format_resolution_table",
    "microstructure_elasticity_dataset",
    "mlp_deeponet",
    "navier_stokes_operator_dataset",
    "neumann_gaussian_random_field",
    "pod_basis",
    "published_fno",
    "random_inclusions",
    "recover_darcy_coefficient",
    "relative_l2_error",
    "relative_l2_loss",
    "repeat_in_time",
    "resolution_table",
    "rollout_fno",
    "rollout_loss",
    "solve_darcy",
    "solve_uniaxial_strain",
    "step_decay_adam",
    "step_decay_schedule",
    "supervised_loss",
    "thresholded_gaussian_microstructure",
]
