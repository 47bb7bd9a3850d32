"""dmech.design: design loops across the physics packages.

- The multiscale bridge: `continuum_stiffness` turns an atomistic 6x6 Voigt stiffness
  (`dmech.atomistic.elastic_constants`) into a dmech.fem material, rotated into a part's axes
  (`crystal_frame`, `rotate_stiffness`) and reduced to plane strain or stress; a `Cantilever`
  (built by `cantilever`) is solved with it; `multiscale_compliance` chains the potential, its
  relaxed elastic constants and the FE solve, differentiable with respect to the potential's
  parameters.
"""

from ._multiscale import Cantilever as Cantilever
from ._multiscale import cantilever as cantilever
from ._multiscale import continuum_stiffness as continuum_stiffness
from ._multiscale import crystal_frame as crystal_frame
from ._multiscale import multiscale_compliance as multiscale_compliance
from ._multiscale import rotate_stiffness as rotate_stiffness

__all__ = [
    "Cantilever",
    "cantilever",
    "continuum_stiffness",
    "crystal_frame",
    "multiscale_compliance",
    "rotate_stiffness",
]
