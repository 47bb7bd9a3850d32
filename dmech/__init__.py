"""dmech: differentiable computational mechanics and scientific machine learning in JAX.

Every physics kernel and every learned model is a pure function of arrays and pytrees, so
``jax.jit``, ``jax.grad``, ``jax.vmap`` and sharding compose across the whole stack.

Subpackages (imported on demand):

- ``dmech.nn``: network blocks (equinox Modules) shared by every learned model.
- ``dmech.train``: the one training loop (optax), with checkpoint/resume and data parallelism.
- ``dmech.data``: datasets, models and checkpoints on disk with metadata cards.
- ``dmech.testing``: tolerances per dtype, gradient checks, convergence-order fits.
"""

from ._version import __version__ as __version__
