"""Post-processing: strains, stresses, fluxes, von Mises, energy, nodal projection, reactions."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, ArrayLike, Float
from ._linear import _per_quadrature_point, _strain_displacement
from ._space import FunctionSpace
from ._sparse import SparseMatrix, assemble_vector


def strain(
    space: FunctionSpace, displacement: Float[Array, "nodes dim"]
) -> Float[Array, "cells q nv"]:
    """Small strain in Voigt notation (engineering shear) at every quadrature point.

    Args:
        space: the vector space the displacement lives on.
        displacement: nodal displacements, shape ``(num_nodes, dim)``.

    Returns:
        ``ε`` of shape ``(num_cells, q, nv)``: ``[ε_xx, ε_yy, γ_xy]`` in 2D,
        ``[ε_xx, ε_yy, ε_zz, γ_yz, γ_xz, γ_xy]`` in 3D.
    """
    _, grads = space.geometry()
    b = _strain_displacement(grads)  # (C, q, nv, nodes*dim)
    ue = displacement.reshape(-1)[jnp.asarray(space.element_dofs)]  # (C, nodes*dim)
    return jnp.einsum("cqvi,ci->cqv", b, ue)


def stress(
    space: FunctionSpace,
    displacement: Float[Array, "nodes dim"],
    stiffness: Float[ArrayLike, "..."],
) -> Float[Array, "cells q nv"]:
    """Cauchy stress ``σ = C ε`` in Voigt notation at every quadrature point.

    Args:
        space, displacement: as for :func:`strain`.
        stiffness: the Voigt stiffness (constant, per cell or per quadrature point).

    Returns:
        ``σ`` of shape ``(num_cells, q, nv)`` (shear stresses, not doubled).
    """
    eps = strain(space, displacement)
    nv = eps.shape[-1]
    c = _per_quadrature_point(jnp.asarray(stiffness, eps.dtype), space, 2, "stiffness")
    if c.shape[-2:] != (nv, nv):
        raise ValueError(f"stiffness must end in shape ({nv}, {nv}), got {c.shape}")
    return jnp.einsum("cqvw,cqw->cqv", c, eps)


def von_mises(
    stress_voigt: Float[Array, "... nv"], *, out_of_plane: Float[ArrayLike, "..."] = 0.0
) -> Float[Array, "..."]:
    r"""Von Mises equivalent stress ``√(3/2 s:s)`` of Voigt stresses.

    Differentiable everywhere: at a hydrostatic stress (``s = 0``) the gradient is zero.

    Args:
        stress_voigt: ``(..., 3)`` in 2D or ``(..., 6)`` in 3D.
        out_of_plane: ``σ_zz`` for 2D stresses: 0 in plane stress, ``ν(σ_xx + σ_yy)`` in
            plane strain.

    Returns:
        The equivalent stress, shape ``stress_voigt.shape[:-1]``.
    """
    s = stress_voigt
    if s.shape[-1] == 3:
        sxx, syy, sxy = s[..., 0], s[..., 1], s[..., 2]
        szz = jnp.broadcast_to(jnp.asarray(out_of_plane, s.dtype), sxx.shape)
        syz = sxz = jnp.zeros_like(sxx)
    elif s.shape[-1] == 6:
        sxx, syy, szz, syz, sxz, sxy = (s[..., i] for i in range(6))
    else:
        raise ValueError(f"stress_voigt must end in 3 (2D) or 6 (3D), got {s.shape}")
    normal = (sxx - syy) ** 2 + (syy - szz) ** 2 + (szz - sxx) ** 2
    squared = 0.5 * normal + 3.0 * (sxy**2 + syz**2 + sxz**2)
    # The square root has no derivative at a hydrostatic (or zero) stress; take the zero
    # subgradient there rather than NaN (void regions of a design are stress free).
    positive = squared > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)


def project_to_nodes(
    space: FunctionSpace, values: Float[Array, "cells q ..."]
) -> Float[Array, "nodes ..."]:
    """Nodal values of a quadrature-point field by lumped L2 projection.

    ``v_a = ∫ φ_a v dx / ∫ φ_a dx``: exact for constant fields, a smooth average otherwise
    (for plotting stresses). Needs non-negative ``∫ φ_a`` (true for linear elements and for
    quad9; serendipity and quadratic simplex corners are not suited).

    Args:
        space: the space (its node count and quadrature).
        values: shape ``(num_cells, q, ...)``.

    Returns:
        Shape ``(num_nodes, ...)``.
    """
    dx, _ = space.geometry()
    n = jnp.asarray(space.shape_values, dx.dtype)  # (q, nodes)
    cells = np.asarray(space.mesh.cells)
    trailing = values.shape[2:]
    flat = values.reshape(*values.shape[:2], -1)
    num = jnp.einsum("cq,qa,cqk->cak", dx, n, flat)
    den = jnp.einsum("cq,qa->ca", dx, n)
    nodes = space.mesh.num_nodes
    num_nodes = assemble_vector(
        num.reshape(num.shape[0], -1), _node_dofs(cells, flat.shape[-1]), nodes * flat.shape[-1]
    )
    den_nodes = assemble_vector(den, cells, nodes)
    return (num_nodes.reshape(nodes, -1) / den_nodes[:, None]).reshape(nodes, *trailing)


def _node_dofs(cells: np.ndarray, k: int) -> np.ndarray:
    return (cells[:, :, None] * k + np.arange(k)).reshape(cells.shape[0], -1)


def reaction_forces(
    matrix: SparseMatrix, displacement: Float[Array, "nodes dim"], load: Float[Array, " n"]
) -> Float[Array, "nodes dim"]:
    """Nodal reactions ``r = K u - f`` (non-zero only where displacements are prescribed).

    Args:
        matrix: the stiffness before the Dirichlet lifting (``LinearElasticResult.matrix``).
        displacement: the solution, shape ``(num_nodes, dim)``.
        load: the applied load vector (``LinearElasticResult.load``).

    Returns:
        Shape ``(num_nodes, dim)``; summed over the supports they balance the applied load.
    """
    r = matrix @ displacement.reshape(-1) - load
    return r.reshape(displacement.shape)


def flux(
    space: FunctionSpace,
    solution: Float[Array, " nodes"],
    conductivity: Float[ArrayLike, "..."] = 1.0,
) -> Float[Array, "cells q dim"]:
    """Diffusive flux ``q = -κ ∇u`` (heat flux of a temperature field) at quadrature points.

    Args:
        space: the scalar space the solution lives on.
        solution: nodal values, shape ``(num_nodes,)``.
        conductivity: ``κ``, a scalar or ``(dim, dim)`` tensor; constant, per cell or per
            quadrature point (as for :func:`diffusion_matrix`).

    Returns:
        ``q`` of shape ``(num_cells, q, dim)``.
    """
    if space.components != 1 or solution.shape != (space.mesh.num_nodes,):
        raise ValueError(
            f"flux needs a scalar space and a solution of shape ({space.mesh.num_nodes},); got "
            f"components={space.components}, solution shape {solution.shape}"
        )
    _, grads = space.geometry()
    gradient = jnp.einsum("cqai,ca->cqi", grads, solution[jnp.asarray(space.mesh.cells)])
    kappa = jnp.asarray(conductivity, gradient.dtype)
    dim = space.mesh.dim
    if kappa.ndim >= 2 and kappa.shape[-2:] == (dim, dim) and kappa.shape != gradient.shape[:2]:
        k = _per_quadrature_point(kappa, space, 2, "conductivity")
        return -jnp.einsum("cqij,cqj->cqi", k, gradient)
    return -_per_quadrature_point(kappa, space, 0, "conductivity")[..., None] * gradient


def strain_energy(
    space: FunctionSpace,
    displacement: Float[Array, "nodes dim"],
    stiffness: Float[ArrayLike, "..."],
) -> Float[Array, ""]:
    """Elastic strain energy ``½ ∫ ε : C : ε dx`` of a small-strain displacement field.

    At equilibrium under prescribed loads (zero prescribed displacements) it is half the
    compliance ``fᵀu``.

    Args:
        space, displacement: as for :func:`strain`.
        stiffness: the Voigt stiffness (constant, per cell or per quadrature point).

    Returns:
        The energy, a scalar (units of stress times volume).
    """
    dx, _ = space.geometry()
    eps = strain(space, displacement)
    sig = stress(space, displacement, stiffness)
    return 0.5 * jnp.sum(dx * jnp.einsum("cqv,cqv->cq", eps, sig))
