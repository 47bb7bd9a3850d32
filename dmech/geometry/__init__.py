"""Meshes and geometry shared by every physics package: cell types, `Mesh` (array
coordinates, static connectivity), `Grid` (uniform Cartesian, static shape and extent),
structured generators, boundary selection, meshio I/O.

Node ordering within cells follows VTK/meshio (see `CellType`), so meshio files need no
permutation.
"""

from ._boundary import BoundaryFacets as BoundaryFacets
from ._boundary import boundary_facets as boundary_facets
from ._boundary import boundary_nodes as boundary_nodes
from ._boundary import in_box as in_box
from ._boundary import on_plane as on_plane
from ._boundary import select_facets as select_facets
from ._boundary import select_nodes as select_nodes
from ._cell_types import CellType as CellType
from ._cell_types import cell_type as cell_type
from ._generators import annulus_mesh as annulus_mesh
from ._generators import box_mesh as box_mesh
from ._generators import interval_mesh as interval_mesh
from ._generators import quadrilateral_mesh as quadrilateral_mesh
from ._generators import rectangle_mesh as rectangle_mesh
from ._generators import to_quadratic as to_quadratic
from ._gmsh import plate_with_hole_mesh as plate_with_hole_mesh
from ._grid import Grid as Grid
from ._io import from_meshio as from_meshio
from ._io import read_mesh as read_mesh
from ._io import to_meshio as to_meshio
from ._io import write_mesh as write_mesh
from ._mesh import Mesh as Mesh

__all__ = [
    "BoundaryFacets",
    "CellType",
    "Grid",
    "Mesh",
    "annulus_mesh",
    "boundary_facets",
    "boundary_nodes",
    "box_mesh",
    "cell_type",
    "from_meshio",
    "in_box",
    "interval_mesh",
    "on_plane",
    "plate_with_hole_mesh",
    "quadrilateral_mesh",
    "read_mesh",
    "rectangle_mesh",
    "select_facets",
    "select_nodes",
    "to_meshio",
    "to_quadratic",
    "write_mesh",
]
