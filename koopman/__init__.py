"""koopman: the DMD family (exact, projected, forward-backward, total-least-squares,
optimised and BOP-DMD, Hankel/higher-order, compressed, randomised, with control,
sparsity-promoting, physics-informed), rank truncation (energy, Gavish-Donoho) and forecasts;
extended DMD on dictionaries (monomials, Hermite, radial basis functions, time delays), kernel
EDMD and generator EDMD with Koopman eigenfunctions and modes; canonical systems with known
Koopman spectra; deep Koopman autoencoders.

Every method is a pure function of a snapshot matrix (states as rows, snapshots as
columns) returning a :class:`DMDModel` pytree (modes, discrete eigenvalues, amplitudes and
an explicit ``dt``), differentiable in forward and reverse mode. This package may import
``dmech``; it never imports ``operators`` or ``pinn``.
"""

from ._deep import DeepKoopman as DeepKoopman
from ._deep import deep_koopman_loss as deep_koopman_loss
from ._deep import fit_deep_koopman as fit_deep_koopman
from ._dictionaries import AbstractDictionary as AbstractDictionary
from ._dictionaries import AbstractKernel as AbstractKernel
from ._dictionaries import Concatenate as Concatenate
from ._dictionaries import GaussianKernel as GaussianKernel
from ._dictionaries import HermitePolynomials as HermitePolynomials
from ._dictionaries import Identity as Identity
from ._dictionaries import Monomials as Monomials
from ._dictionaries import PolynomialKernel as PolynomialKernel
from ._dictionaries import RadialBasis as RadialBasis
from ._dictionaries import delay_embedding as delay_embedding
from ._dictionaries import total_degree_exponents as total_degree_exponents
from ._dmd import compressed_dmd as compressed_dmd
from ._dmd import dmd_with_control as dmd_with_control
from ._dmd import exact_dmd as exact_dmd
from ._dmd import forward_backward_dmd as forward_backward_dmd
from ._dmd import hankel_dmd as hankel_dmd
from ._dmd import physics_informed_dmd as physics_informed_dmd
from ._dmd import projected_dmd as projected_dmd
from ._dmd import randomised_dmd as randomised_dmd
from ._dmd import sparsity_promoting_dmd as sparsity_promoting_dmd
from ._dmd import total_least_squares_dmd as total_least_squares_dmd
from ._dmd_linalg import eig as eig
from ._dmd_model import AbstractKoopmanModel as AbstractKoopmanModel
from ._dmd_model import DMDModel as DMDModel
from ._dmd_model import predict as predict
from ._dmd_model import reconstruct as reconstruct
from ._dmd_optimised import bop_dmd as bop_dmd
from ._dmd_optimised import optimised_dmd as optimised_dmd
from ._edmd import EDMDModel as EDMDModel
from ._edmd import edmd as edmd
from ._edmd import eigenfunctions as eigenfunctions
from ._edmd import generator_edmd as generator_edmd
from ._edmd import kernel_edmd as kernel_edmd
from ._systems import Duffing as Duffing
from ._systems import LinearSystem as LinearSystem
from ._systems import Pendulum as Pendulum
from ._systems import SlowManifold as SlowManifold
from ._systems import VanDerPol as VanDerPol
from ._systems import trajectories as trajectories
from ._truncation import optimal_hard_threshold as optimal_hard_threshold
from ._truncation import svd_rank as svd_rank

__all__ = [
    "AbstractDictionary",
    "AbstractKernel",
    "AbstractKoopmanModel",
    "Concatenate",
    "DMDModel",
    "DeepKoopman",
    "Duffing",
    "EDMDModel",
    "GaussianKernel",
    "HermitePolynomials",
    "Identity",
    "LinearSystem",
    "Monomials",
    "Pendulum",
    "PolynomialKernel",
    "RadialBasis",
    "SlowManifold",
    "VanDerPol",
    "bop_dmd",
    "compressed_dmd",
    "deep_koopman_loss",
    "delay_embedding",
    "dmd_with_control",
    "edmd",
    "eig",
    "eigenfunctions",
    "exact_dmd",
    "fit_deep_koopman",
    "forward_backward_dmd",
    "generator_edmd",
    "hankel_dmd",
    "kernel_edmd",
    "optimal_hard_threshold",
    "optimised_dmd",
    "physics_informed_dmd",
    "predict",
    "projected_dmd",
    "randomised_dmd",
    "reconstruct",
    "sparsity_promoting_dmd",
    "svd_rank",
    "total_degree_exponents",
    "total_least_squares_dmd",
    "trajectories",
]
