"""The one training loop for equinox models and optax optimisers.

Jitted multi-step chunks, minibatches drawn from explicit PRNG keys, evaluation and early
stopping, a loss history, a progress bar, atomic checkpoints with bit-identical resume, and
data parallelism over ``jax.devices()`` with ``jax.sharding``.
"""

from ._fit import EarlyStopping as EarlyStopping
from ._fit import FitResult as FitResult
from ._fit import TrainingDivergedError as TrainingDivergedError
from ._fit import fit as fit

__all__ = ["EarlyStopping", "FitResult", "TrainingDivergedError", "fit"]
