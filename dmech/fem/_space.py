"""Function spaces: an element on a mesh, its quadrature, dof map and sparsity pattern."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, Float
from .._static import StaticArray
from ..geometry import Mesh
from ._elements import AbstractElement, element, tabulate
from ._sparse import SparsityPattern


class FunctionSpace(eqx.Module):
    """Continuous Lagrange (or serendipity) finite elements with ``components`` per node.

    Dofs are numbered node by node: component ``c`` of node ``a`` is dof ``a*components + c``.
    Everything but the mesh coordinates is static and computed once on the host: the shape
    functions at the quadrature points, the element dof map and the sparsity pattern. The
    coordinates stay an array leaf, so solutions are differentiable with respect to them.

    Attributes:
        mesh: the :class:`dmech.geometry.Mesh`.
        components: 1 for scalar fields, the space dimension for displacements.
        element: the reference element of the mesh's cell type.
        quadrature_degree: the degree the quadrature rule integrates exactly.
        pattern: the sparsity pattern of matrices on this space.
    """

    mesh: Mesh
    components: int = eqx.field(static=True)
    element: AbstractElement = eqx.field(static=True)
    quadrature_degree: int = eqx.field(static=True)
    pattern: SparsityPattern
    _weights: StaticArray = eqx.field(static=True)
    _shape: StaticArray = eqx.field(static=True)
    _shape_gradients: StaticArray = eqx.field(static=True)
    _element_dofs: StaticArray = eqx.field(static=True)

    def __init__(self, mesh: Mesh, *, components: int = 1, quadrature_degree: int | None = None):
        """Args:
        mesh: the mesh.
        components: number of field components per node (positive int).
        quadrature_degree: polynomial degree integrated exactly; default ``2 * degree`` of
            the element (exact stiffness and mass matrices on affine cells).
        """
        if not isinstance(components, int) or components < 1:
            raise ValueError(f"components must be a positive int, got {components!r}")
        elem = element(mesh.cell_type)
        # Default: exact for stiffness and mass matrices on affine cells.
        default = max(elem.default_quadrature_degree, 2 * elem.degree)
        degree = default if quadrature_degree is None else quadrature_degree
        if not isinstance(degree, int) or degree < 0:
            raise ValueError(f"quadrature_degree must be a non-negative int, got {degree!r}")
        points, weights = elem.quadrature(degree)
        shape, gradients = tabulate(elem, points)
        cells = np.asarray(mesh.cells)
        dofs = (cells[:, :, None] * components + np.arange(components)).reshape(len(cells), -1)
        self.mesh = mesh
        self.components = components
        self.element = elem
        self.quadrature_degree = degree
        self.pattern = SparsityPattern(dofs, mesh.num_nodes * components)
        self._weights = StaticArray(np.asarray(weights, np.float64))
        self._shape = StaticArray(np.asarray(shape, np.float64))
        self._shape_gradients = StaticArray(np.asarray(gradients, np.float64))
        self._element_dofs = StaticArray(dofs)

    @property
    def num_dofs(self) -> int:
        return self.mesh.num_nodes * self.components

    @property
    def element_dofs(self) -> np.ndarray:
        """Global dofs of every element, shape ``(num_cells, nodes_per_cell*components)``."""
        return self._element_dofs.array

    @property
    def quadrature_weights(self) -> np.ndarray:
        """Reference quadrature weights, shape ``(q,)``."""
        return self._weights.array

    @property
    def shape_values(self) -> np.ndarray:
        """Shape functions at the quadrature points, shape ``(q, nodes_per_cell)``."""
        return self._shape.array

    @property
    def num_quadrature_points(self) -> int:
        return int(self._weights.array.shape[0])

    def dofs(
        self, nodes: np.ndarray, components: int | tuple[int, ...] | None = None
    ) -> np.ndarray:
        """Global dofs of the given nodes (all components, or the chosen ones), sorted."""
        nodes = np.asarray(nodes, dtype=np.int64).reshape(-1)
        if nodes.size and (nodes.min() < 0 or nodes.max() >= self.mesh.num_nodes):
            raise ValueError(f"nodes out of range [0, {self.mesh.num_nodes})")
        if components is None:
            comps = np.arange(self.components)
        else:
            comps = np.atleast_1d(np.asarray(components, dtype=np.int64))
            if comps.min() < 0 or comps.max() >= self.components:
                raise ValueError(f"components must lie in [0, {self.components}), got {components}")
        return np.unique((nodes[:, None] * self.components + comps[None, :]).reshape(-1))

    def geometry(self) -> tuple[Float[Array, "cells q"], Float[Array, "cells q nodes dim"]]:
        """Integration weights ``w_q |J|`` and physical shape gradients at quadrature points.

        Returns:
            ``dx`` of shape ``(num_cells, q)`` (reference weight times Jacobian determinant)
            and ``dN/dx`` of shape ``(num_cells, q, nodes_per_cell, dim)``.
        """
        x = self.mesh.points[jnp.asarray(self.mesh.cells)]  # (C, n, d)
        dn = jnp.asarray(self._shape_gradients.array, x.dtype)  # (q, n, d)
        jac = jnp.einsum("cni,qnj->cqij", x, dn)
        det = jnp.linalg.det(jac)
        inv = jnp.linalg.inv(jac)
        grads = jnp.einsum("qnj,cqji->cqni", dn, inv)
        dx = det * jnp.asarray(self._weights.array, x.dtype)[None, :]
        return dx, grads

    def interpolate_at_quadrature(
        self, nodal: Float[Array, "nodes ..."]
    ) -> Float[Array, "cells q ..."]:
        """Values of a nodal field at every quadrature point: ``(num_cells, q, ...)``."""
        n = jnp.asarray(self._shape.array, nodal.dtype)
        return jnp.einsum("qn,cn...->cq...", n, nodal[jnp.asarray(self.mesh.cells)])

    def quadrature_points(self) -> Float[Array, "cells q dim"]:
        """Physical coordinates of every quadrature point, ``(num_cells, q, dim)``."""
        return self.interpolate_at_quadrature(self.mesh.points)
