"""Network blocks shared by every learned model in dmech (equinox Modules).

Compose blocks with `equinox.nn.Sequential`; batch with `jax.vmap`.
"""

from ._activation import activation as activation
from ._fourier import FourierFeatures as FourierFeatures
from ._mlp import MLP as MLP
from ._normaliser import Normaliser as Normaliser

__all__ = ["MLP", "FourierFeatures", "Normaliser", "activation"]
