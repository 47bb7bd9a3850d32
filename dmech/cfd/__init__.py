"""dmech.cfd: differentiable incompressible-flow and Burgers solvers.

Every solver is an equinox Module whose parameters (viscosity, forcing, boundary values) are
array leaves and whose grid is static; it offers ``init(...) -> state`` and
``step(state) -> (state, aux)``, and :func:`rollout` runs any ``step`` with observations,
gradient checkpointing and blow-up detection.
"""

from ._random_fields import gaussian_random_field as gaussian_random_field
from ._rollout import Rollout as Rollout
from ._rollout import rollout as rollout

__all__ = ["Rollout", "gaussian_random_field", "rollout"]
