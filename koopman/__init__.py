"""koopman: the DMD family (exact, projected, forward-backward, total-least-squares,
optimised and BOP-DMD, Hankel/higher-order, compressed, randomised, with control,
sparsity-promoting, physics-informed), rank truncation (energy, Gavish-Donoho) and forecasts.

Every method is a pure function of a snapshot matrix (states as rows, snapshots as
columns) returning a :class:`DMDModel` pytree (modes, discrete eigenvalues, amplitudes and
an explicit ``dt``), differentiable in forward and reverse mode. This package may import
``dmech``; it never imports ``operators`` or ``pinn``.
"""

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
from ._dmd_model import DMDModel as DMDModel
from ._dmd_model import predict as predict
from ._dmd_model import reconstruct as reconstruct
from ._dmd_optimised import bop_dmd as bop_dmd
from ._dmd_optimised import optimised_dmd as optimised_dmd
from ._truncation import optimal_hard_threshold as optimal_hard_threshold
from ._truncation import svd_rank as svd_rank

__all__ = [
    "DMDModel",
    "bop_dmd",
    "compressed_dmd",
    "dmd_with_control",
    "eig",
    "exact_dmd",
    "forward_backward_dmd",
    "hankel_dmd",
    "optimal_hard_threshold",
    "optimised_dmd",
    "physics_informed_dmd",
    "predict",
    "projected_dmd",
    "randomised_dmd",
    "reconstruct",
    "sparsity_promoting_dmd",
    "svd_rank",
    "total_least_squares_dmd",
]
