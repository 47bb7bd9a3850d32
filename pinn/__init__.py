"""pinn: physics-informed neural networks: residuals with JAX derivatives, domains and
constructive geometry, boundary/initial conditions (soft or hard), collocation samplers with
residual-based adaptive resampling, modified MLP / factorised / PirateNet architectures, loss
weighting (gradient norms, NTK, causal), Adam then L-BFGS training that says why it stopped,
inverse problems, Reptile meta-learning and transfer (one-shot least-squares output layers,
fine-tuning), and reference solutions (Burgers, Allen-Cahn, advection, Poisson, Helmholtz).

This package may import ``dmech``; it never imports ``operators`` or ``koopman``.
"""

from ._conditions import HardConstraint as HardConstraint
from ._conditions import PeriodicEmbedding as PeriodicEmbedding
from ._conditions import dirichlet as dirichlet
from ._conditions import initial as initial
from ._conditions import neumann as neumann
from ._conditions import periodic as periodic
from ._conditions import robin as robin
from ._derivatives import directional_derivatives as directional_derivatives
from ._derivatives import divergence as divergence
from ._derivatives import gradient as gradient
from ._derivatives import hessian as hessian
from ._derivatives import laplacian as laplacian
from ._derivatives import partial_derivative as partial_derivative
from ._domains import AbstractDomain as AbstractDomain
from ._domains import Box as Box
from ._domains import Difference as Difference
from ._domains import Disk as Disk
from ._domains import Intersection as Intersection
from ._domains import SpaceTime as SpaceTime
from ._domains import Union as Union
from ._domains import interval as interval
from ._domains import rectangle as rectangle
from ._inverse import PositiveParameter as PositiveParameter
from ._inverse import noisy_observations as noisy_observations
from ._inverse import observation_residual as observation_residual
from ._meta import Reptile as Reptile
from ._meta import ReptileResult as ReptileResult
from ._meta import ReptileState as ReptileState
from ._meta import adapt as adapt
from ._meta import reptile as reptile
from ._networks import FactorisedLinear as FactorisedLinear
from ._networks import ModifiedMLP as ModifiedMLP
from ._networks import PirateNet as PirateNet
from ._networks import random_weight_factorisation as random_weight_factorisation
from ._problem import CausalWeighting as CausalWeighting
from ._problem import Term as Term
from ._problem import causal_weights as causal_weights
from ._problem import evaluate_losses as evaluate_losses
from ._problem import residual_norms as residual_norms
from ._problem import term_loss as term_loss
from ._references import advection_solution as advection_solution
from ._references import allen_cahn_reference as allen_cahn_reference
from ._references import burgers_reference as burgers_reference
from ._references import diffusion_solution as diffusion_solution
from ._references import diffusion_source as diffusion_source
from ._references import helmholtz_source as helmholtz_source
from ._references import poisson_source as poisson_source
from ._references import sine_solution as sine_solution
from ._references import space_time_points as space_time_points
from ._samplers import AbstractSampler as AbstractSampler
from ._samplers import ResidualAdaptiveSampler as ResidualAdaptiveSampler
from ._samplers import ResidualRefinementSampler as ResidualRefinementSampler
from ._samplers import Sampler as Sampler
from ._strategies import TimeMarchingResult as TimeMarchingResult
from ._strategies import train_curriculum as train_curriculum
from ._strategies import train_time_marching as train_time_marching
from ._training import LBFGS as LBFGS
from ._training import Adam as Adam
from ._training import Reference as Reference
from ._training import TrainResult as TrainResult
from ._training import train as train
from ._transfer import LeastSquaresResult as LeastSquaresResult
from ._transfer import fine_tune as fine_tune
from ._transfer import least_squares_output_layer as least_squares_output_layer
from ._transfer import select_leaves as select_leaves
from ._weighting import GradientNormWeighting as GradientNormWeighting
from ._weighting import NTKWeighting as NTKWeighting
from ._weighting import gradient_norm_weights as gradient_norm_weights
from ._weighting import ntk_traces as ntk_traces
from ._weighting import ntk_weights as ntk_weights

__all__ = [
    "LBFGS",
    "AbstractDomain",
    "AbstractSampler",
    "Adam",
    "Box",
    "CausalWeighting",
    "Difference",
    "Disk",
    "FactorisedLinear",
    "GradientNormWeighting",
    "HardConstraint",
    "Intersection",
    "LeastSquaresResult",
    "ModifiedMLP",
    "NTKWeighting",
    "PeriodicEmbedding",
    "PirateNet",
    "PositiveParameter",
    "Reference",
    "Reptile",
    "ReptileResult",
    "ReptileState",
    "ResidualAdaptiveSampler",
    "ResidualRefinementSampler",
    "Sampler",
    "SpaceTime",
    "Term",
    "TimeMarchingResult",
    "TrainResult",
    "Union",
    "adapt",
    "advection_solution",
    "allen_cahn_reference",
    "burgers_reference",
    "causal_weights",
    "diffusion_solution",
    "diffusion_source",
    "directional_derivatives",
    "dirichlet",
    "divergence",
    "evaluate_losses",
    "fine_tune",
    "gradient",
    "gradient_norm_weights",
    "helmholtz_source",
    "hessian",
    "initial",
    "interval",
    "laplacian",
    "least_squares_output_layer",
    "neumann",
    "noisy_observations",
    "ntk_traces",
    "ntk_weights",
    "observation_residual",
    "partial_derivative",
    "periodic",
    "poisson_source",
    "random_weight_factorisation",
    "rectangle",
    "reptile",
    "residual_norms",
    "robin",
    "select_leaves",
    "sine_solution",
    "space_time_points",
    "term_loss",
    "train",
    "train_curriculum",
    "train_time_marching",
]
