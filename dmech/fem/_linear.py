"""Linear physics on a FunctionSpace: diffusion, elasticity, loads and Dirichlet conditions."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, ArrayLike, Float
from .._static import StaticArray, is_concrete
from .._voigt import VOIGT_PAIRS
from ..geometry import BoundaryFacets, cell_type
from ._elements import element, tabulate
from ._solve import AbstractLinearSolver, SparseLU, linear_solve
from ._space import FunctionSpace
from ._sparse import SparseMatrix, assemble_matrix, assemble_vector

# --- material tensors ---------------------------------------------------------------------------


def isotropic_elasticity(
    youngs_modulus: Float[ArrayLike, "..."],
    poissons_ratio: Float[ArrayLike, "..."],
    *,
    dim: int,
    plane: str | None = None,
) -> Float[Array, "... nv nv"]:
    r"""Isotropic linear elastic stiffness in Voigt notation.

    Voigt order: 2D ``[ε_xx, ε_yy, γ_xy]``; 3D ``[ε_xx, ε_yy, ε_zz, γ_yz, γ_xz, γ_xy]`` with
    engineering shear strains ``γ = 2ε``. In 3D, ``C = λ 1⊗1 + 2μ I`` with
    ``λ = Eν/((1+ν)(1-2ν))`` and ``μ = E/(2(1+ν))``. In 2D, ``plane="strain"`` keeps the 3D
    ``λ``; ``plane="stress"`` uses ``λ* = 2λμ/(λ+2μ)``.

    Args:
        youngs_modulus: ``E > 0`` (units of stress), any shape (e.g. one per element).
        poissons_ratio: ``-1 < ν < 1/2``, broadcastable against ``E``.
        dim: 2 or 3.
        plane: ``"strain"`` or ``"stress"`` in 2D; must be ``None`` in 3D.

    Returns:
        ``C`` of shape ``E.shape + (nv, nv)``, ``nv = 3`` (2D) or ``6`` (3D).
    """
    if dim == 2 and plane not in ("strain", "stress"):
        raise ValueError(f"plane must be 'strain' or 'stress' in 2D, got {plane!r}")
    if dim == 3 and plane is not None:
        raise ValueError("plane applies to 2D only; pass plane=None in 3D")
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 or 3, got {dim!r}")
    e = jnp.asarray(youngs_modulus)
    nu = jnp.asarray(poissons_ratio)
    for name, value, ok in (
        ("youngs_modulus", e, lambda v: v > 0),
        ("poissons_ratio", nu, lambda v: (v > -1) & (v < 0.5)),
    ):
        if is_concrete(value) and not np.all(ok(np.asarray(value))):
            raise ValueError(f"{name} out of range: {np.asarray(value)}")
    e, nu = jnp.broadcast_arrays(e, nu)
    lam = e * nu / ((1 + nu) * (1 - 2 * nu))
    mu = e / (2 * (1 + nu))
    if dim == 2 and plane == "stress":
        lam = 2 * lam * mu / (lam + 2 * mu)
    nd = dim
    nv = 3 if dim == 2 else 6
    normal = jnp.zeros((nv, nv)).at[:nd, :nd].set(1.0)
    shear = jnp.diag(jnp.array([2.0] * nd + [1.0] * (nv - nd)))
    return jnp.einsum("...,ij->...ij", lam, normal.astype(lam.dtype)) + jnp.einsum(
        "...,ij->...ij", mu, shear.astype(lam.dtype)
    )


def _strain_displacement(grads: Float[Array, "... n d"]) -> Float[Array, "... nv nd"]:
    """The Voigt strain-displacement matrix ``B`` with dofs ordered node by node."""
    *batch, n, d = grads.shape
    zeros = jnp.zeros_like(grads[..., 0])
    gx = grads[..., 0]
    gy = grads[..., 1]
    rows: list[tuple[Array, ...]]
    if d == 2:
        rows = [
            (gx, zeros),
            (zeros, gy),
            (gy, gx),
        ]
    else:
        gz = grads[..., 2]
        rows = [
            (gx, zeros, zeros),
            (zeros, gy, zeros),
            (zeros, zeros, gz),
            (zeros, gz, gy),
            (gz, zeros, gx),
            (gy, gx, zeros),
        ]
    # each row: components stacked per node -> (..., n, d) -> (..., n*d)
    return jnp.stack([jnp.stack(r, axis=-1).reshape(*batch, n * d) for r in rows], axis=-2)


def _voigt_map(dim: int) -> np.ndarray:
    """``P[v, i, k]``: Voigt strain ``ε_v = Σ_ik P[v,i,k] ∂_k u_i`` (engineering shears), in the
    order of :func:`_strain_displacement` (xx, yy, xy in 2D; xx, yy, zz, yz, xz, xy in 3D)."""
    if dim == 2:
        pairs: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (0, 1))
    else:
        pairs = VOIGT_PAIRS
    p = np.zeros((len(pairs), dim, dim))
    for v, (i, k) in enumerate(pairs):
        p[v, i, k] = p[v, k, i] = 1.0
    return p


def _per_quadrature_point(field, space: FunctionSpace, trailing: int, name: str):
    """Broadcast a material field (constant, per cell, or per quadrature point) to (C, q, ...)."""
    field = jnp.asarray(field)
    cells, q = space.mesh.num_cells, space.num_quadrature_points
    core = field.shape[field.ndim - trailing :] if trailing else ()
    lead = field.shape[: field.ndim - trailing]
    if lead == ():
        return jnp.broadcast_to(field, (cells, q, *core))
    if lead == (cells,):
        return jnp.broadcast_to(field[:, None], (cells, q, *core))
    if lead == (cells, q):
        return field
    raise ValueError(
        f"{name} must be constant, per cell (leading shape ({cells},)) or per quadrature point "
        f"(({cells}, {q})); got shape {field.shape}"
    )


# --- matrices -----------------------------------------------------------------------------------


def diffusion_matrix(space: FunctionSpace, conductivity: Float[ArrayLike, "..."]) -> SparseMatrix:
    r"""Stiffness matrix of ``-∇·(κ ∇u)``: ``K_ij = ∫ ∇φ_i · κ ∇φ_j dx``.

    Args:
        space: a scalar space (``components=1``).
        conductivity: ``κ``, a scalar or a ``(dim, dim)`` tensor; constant, per cell
            (leading axis ``num_cells``) or per quadrature point (``(num_cells, q)``).

    Returns:
        The assembled symmetric :class:`SparseMatrix`.
    """
    if space.components != 1:
        raise ValueError("diffusion_matrix needs a scalar space (components=1)")
    dx, grads = space.geometry()
    kappa = jnp.asarray(conductivity, dx.dtype)
    dim = space.mesh.dim
    tensor = (
        kappa.ndim >= 2
        and kappa.shape[-2:] == (dim, dim)
        and not (
            kappa.ndim == 2 and kappa.shape == (space.mesh.num_cells, space.num_quadrature_points)
        )
    )
    if tensor:
        kq = _per_quadrature_point(kappa, space, 2, "conductivity")
        ke = jnp.einsum("cq,cqai,cqij,cqbj->cab", dx, grads, kq, grads)
    else:
        kq = _per_quadrature_point(kappa, space, 0, "conductivity")
        ke = jnp.einsum("cq,cqai,cqbi->cab", dx * kq, grads, grads)
    return assemble_matrix(ke, space.pattern)


def mass_matrix(space: FunctionSpace, density: Float[ArrayLike, "..."] = 1.0) -> SparseMatrix:
    """Consistent mass matrix ``M_ij = ∫ ρ φ_i φ_j dx`` (block diagonal over components)."""
    dx, _ = space.geometry()
    rho = _per_quadrature_point(jnp.asarray(density, dx.dtype), space, 0, "density")
    n = jnp.asarray(space.shape_values, dx.dtype)
    me = jnp.einsum("cq,qa,qb->cab", dx * rho, n, n)
    c = space.components
    if c > 1:
        me = jnp.einsum("cab,ij->caibj", me, jnp.eye(c, dtype=dx.dtype))
        me = me.reshape(me.shape[0], me.shape[1] * c, me.shape[3] * c)
    return assemble_matrix(me, space.pattern)


def elasticity_matrix(space: FunctionSpace, stiffness: Float[ArrayLike, "..."]) -> SparseMatrix:
    r"""Linear elastic stiffness matrix ``K = ∫ Bᵀ C B dx``.

    Args:
        space: a vector space with ``components == dim``.
        stiffness: Voigt stiffness ``C`` (``(3, 3)`` in 2D, ``(6, 6)`` in 3D, any anisotropy),
            constant, per cell or per quadrature point (see :func:`isotropic_elasticity`).

    Returns:
        The assembled :class:`SparseMatrix`.
    """
    dim = space.mesh.dim
    if space.components != dim:
        raise ValueError(f"elasticity needs components == dim ({dim}), got {space.components}")
    dx, grads = space.geometry()
    nv = 3 if dim == 2 else 6
    c = jnp.asarray(stiffness, dx.dtype)
    if c.shape[-2:] != (nv, nv):
        raise ValueError(f"stiffness must end in shape ({nv}, {nv}) in {dim}D, got {c.shape}")
    # K_e[(a,i),(b,j)] = Σ_q dx Σ_kl ∂_k φ_a D_ikjl ∂_l φ_b with D the 4th-order tensor of the
    # Voigt C: contracted on gradients, never forming B (whose products with C and B would
    # be the largest arrays of the assembly). A constant or per-cell C is summed over the
    # quadrature points first.
    voigt = jnp.asarray(_voigt_map(dim), dx.dtype)  # (nv, d, d)
    tensor = jnp.einsum("vik,...vw,wjl->...ikjl", voigt, c, voigt)
    cells, n = grads.shape[0], grads.shape[2]
    if c.ndim == 2 or c.shape[:-2] == (cells,):
        h = jnp.einsum("cq,cqak,cqbl->cabkl", dx, grads, grads)  # (C, n, n, d, d)
        spec = "cabkl,ikjl->caibj" if c.ndim == 2 else "cabkl,cikjl->caibj"
        ke = jnp.einsum(spec, h, tensor)
    else:
        tq = _per_quadrature_point(tensor.reshape(*c.shape[:-2], -1), space, 1, "stiffness")
        tq = tq.reshape(*tq.shape[:2], dim, dim, dim, dim)
        ke = jnp.einsum("cq,cqak,cqikjl,cqbl->caibj", dx, grads, tq, grads)
    return assemble_matrix(ke.reshape(cells, n * dim, n * dim), space.pattern)


# --- load vectors -------------------------------------------------------------------------------


def source_vector(space: FunctionSpace, source: Float[ArrayLike, "..."]) -> Float[Array, " n"]:
    """Load vector ``f_i = ∫ φ_i s dx`` of a volume source (heat source, body force).

    Args:
        space: the space.
        source: ``s`` with ``components`` entries (a scalar for scalar spaces): constant
            (``(components,)``), nodal (``(num_nodes, components)``), or per quadrature point
            (``(num_cells, q, components)``).

    Returns:
        The global vector, shape ``(num_dofs,)``.
    """
    dx, _ = space.geometry()
    c = space.components
    s = jnp.asarray(source, dx.dtype)
    if c == 1 and (s.ndim == 0 or s.shape in ((space.mesh.num_nodes,),)):
        s = s[..., None]
    if s.shape == (c,):
        sq = jnp.broadcast_to(s, (*dx.shape, c))
    elif s.shape == (space.mesh.num_nodes, c):
        sq = space.interpolate_at_quadrature(s)
    elif s.shape == (*dx.shape, c):
        sq = s
    else:
        raise ValueError(f"source has shape {s.shape}; see the docstring for accepted shapes")
    n = jnp.asarray(space.shape_values, dx.dtype)
    fe = jnp.einsum("cq,qa,cqi->cai", dx, n, sq).reshape(dx.shape[0], -1)
    return assemble_vector(fe, space.element_dofs, space.num_dofs)


def traction_vector(
    space: FunctionSpace, facets: BoundaryFacets | np.ndarray, traction: Float[ArrayLike, "..."]
) -> Float[Array, " n"]:
    """Load vector ``f_i = ∫_Γ φ_i t ds`` of a surface traction (or boundary flux).

    Args:
        space: the space.
        facets: boundary facet connectivity, shape ``(num_facets, nodes_per_facet)``, as
            :func:`dmech.geometry.boundary_facets` or ``select_facets`` return it.
        traction: ``t`` with ``components`` entries per point (units of stress): constant
            ``(components,)``, per facet ``(num_facets, components)``, or at the facet nodes
            ``(num_facets, nodes_per_facet, components)`` (interpolated by the facet's shape
            functions).

    Returns:
        The global vector, shape ``(num_dofs,)``.
    """
    facets = np.asarray(facets)
    ftype = cell_type(space.mesh.cell_type).facet_type
    if ftype is None:
        raise ValueError(f"cell type {space.mesh.cell_type!r} has no facets")
    felem = element(ftype)
    if facets.ndim != 2 or facets.shape[1] != felem.num_nodes:
        raise ValueError(
            f"facets must have shape (num_facets, {felem.num_nodes}), got {facets.shape}"
        )
    points, weights = felem.quadrature(2 * felem.degree + 2)
    shape, dn = tabulate(felem, points)
    x = space.mesh.points[jnp.asarray(facets)]  # (F, nf, d)
    dtype = x.dtype
    tangent = jnp.einsum("fni,qnj->fqij", x, jnp.asarray(dn, dtype))  # (F, q, d, d-1)
    gram = jnp.einsum("fqij,fqik->fqjk", tangent, tangent)
    ds = jnp.sqrt(jnp.linalg.det(gram)) * jnp.asarray(weights, dtype)[None, :]
    c = space.components
    nf = len(facets)
    t = jnp.asarray(traction, dtype)
    if c == 1 and t.shape in ((), (nf,), (nf, felem.num_nodes)):
        t = t[..., None]
    if t.shape == (c,):
        t = jnp.broadcast_to(t, (nf, c))
    n = jnp.asarray(shape, dtype)
    if t.shape == (nf, c):
        tq = jnp.broadcast_to(t[:, None, :], (nf, n.shape[0], c))
    elif t.shape == (nf, felem.num_nodes, c):
        tq = jnp.einsum("qa,fai->fqi", n, t)  # interpolated from the facet nodes
    else:
        raise ValueError(
            f"traction must have shape ({c},), ({nf}, {c}) or ({nf}, {felem.num_nodes}, {c}); "
            f"got {t.shape}"
        )
    fe = jnp.einsum("fq,qa,fqi->fai", ds, n, tq).reshape(nf, -1)
    fdofs = (facets[:, :, None] * c + np.arange(c)).reshape(len(facets), -1)
    return assemble_vector(fe, fdofs, space.num_dofs)


# --- Dirichlet conditions -----------------------------------------------------------------------


class DirichletBC(eqx.Module):
    """Prescribed values ``u[dofs] = values``: static dofs, differentiable values.

    Attributes:
        values: the prescribed values, shape ``(len(dofs),)`` (an array leaf: gradients flow
            to it and new values never recompile).
        dofs: the constrained global dofs (static, unique, sorted as given).
    """

    values: Float[Array, " k"]
    _dofs: StaticArray = eqx.field(static=True)

    def __init__(self, dofs: np.ndarray, values: Float[ArrayLike, "..."] = 0.0):
        """Args:
        dofs: constrained global dofs (see :meth:`FunctionSpace.dofs`), concrete ints.
        values: a scalar or one value per dof.
        """
        dofs = np.asarray(dofs)
        if dofs.ndim != 1 or not np.issubdtype(dofs.dtype, np.integer):
            raise ValueError(f"dofs must be a 1-D integer array, got {dofs.dtype} {dofs.shape}")
        if len(np.unique(dofs)) != len(dofs):
            raise ValueError("dofs must be unique")
        if dofs.size and dofs.min() < 0:
            raise ValueError("dofs must be non-negative")
        values = jnp.asarray(values)
        if values.ndim > 1 or (values.ndim == 1 and values.shape != dofs.shape):
            raise ValueError(
                f"values must be a scalar or have shape {dofs.shape}, got {values.shape}"
            )
        self.values = jnp.broadcast_to(values, dofs.shape)
        self._dofs = StaticArray(dofs.astype(np.int64))

    @property
    def dofs(self) -> np.ndarray:
        return self._dofs.array


def apply_dirichlet(
    matrix: SparseMatrix, rhs: Float[Array, " n"], bc: DirichletBC
) -> tuple[SparseMatrix, Float[Array, " n"]]:
    """Impose ``u[bc.dofs] = bc.values`` by lifting, keeping the matrix symmetric.

    ``b ← b - A g`` with ``g`` the prescribed values, then the rows and columns of the fixed
    dofs are zeroed with a unit diagonal and ``b[dofs] = values``. The pattern is unchanged,
    so the result is differentiable with respect to the matrix values, ``rhs`` and the
    prescribed values.

    Args:
        matrix: the assembled matrix.
        rhs: the load vector, shape ``(n,)``.
        bc: the :class:`DirichletBC`.

    Returns:
        The lifted ``(matrix, rhs)``.
    """
    dofs = bc.dofs
    n = matrix.shape[0]
    if dofs.size and dofs.max() >= n:
        raise ValueError(f"bc.dofs out of range [0, {n})")
    dtype = matrix.data.dtype
    values = bc.values.astype(dtype)
    fixed = np.zeros(n, dtype=bool)
    fixed[dofs] = True
    rows, cols = matrix.pattern.rows, matrix.pattern.indices
    keep = ~fixed[rows] & ~fixed[cols]
    unit = fixed[rows] & (rows == cols)
    g = jnp.zeros(n, dtype).at[dofs].set(values)
    lifted = (rhs - matrix @ g).at[dofs].set(values)
    data = jnp.where(keep, matrix.data, jnp.where(unit, 1.0, 0.0).astype(dtype))
    return SparseMatrix(data, matrix.pattern), lifted


def external_load(
    space: FunctionSpace,
    *,
    body_force: Float[ArrayLike, "..."] | None = None,
    traction_facets: BoundaryFacets | np.ndarray | None = None,
    traction: Float[ArrayLike, "..."] | None = None,
    point_load: Float[ArrayLike, " n"] | None = None,
    dtype=None,
) -> Float[Array, " n"]:
    """The global load vector of body forces, surface tractions and nodal point loads.

    Args:
        space: the space.
        body_force: volume force per unit volume (see :func:`source_vector`).
        traction_facets, traction: boundary facets and the traction on them (given together;
            see :func:`traction_vector`).
        point_load: a global load vector added as is (nodal forces), shape ``(num_dofs,)``.
        dtype: the dtype of the result (default: that of the mesh points).

    Returns:
        Shape ``(num_dofs,)``.
    """
    if (traction_facets is None) != (traction is None):
        raise ValueError("traction_facets and traction must be given together")
    dtype = space.mesh.points.dtype if dtype is None else dtype
    load = jnp.zeros(space.num_dofs, dtype)
    if body_force is not None:
        load = load + source_vector(space, body_force).astype(dtype)
    if traction is not None and traction_facets is not None:
        load = load + traction_vector(space, traction_facets, traction).astype(dtype)
    if point_load is not None:
        point_load = jnp.asarray(point_load, dtype)
        if point_load.shape != (space.num_dofs,):
            raise ValueError(
                f"point_load must have shape ({space.num_dofs},), got {point_load.shape}"
            )
        load = load + point_load
    return load


class LinearElasticResult(eqx.Module):
    """Solution of :func:`solve_linear_elasticity`.

    Attributes:
        displacement: nodal displacements, shape ``(num_nodes, dim)``.
        matrix: the assembled stiffness (before the Dirichlet lifting).
        load: the assembled load vector, shape ``(num_dofs,)``.
    """

    displacement: Float[Array, "nodes dim"]
    matrix: SparseMatrix
    load: Float[Array, " n"]

    def compliance(self) -> Float[Array, ""]:
        """``fᵀ u``: twice the strain energy at equilibrium under the applied loads."""
        return jnp.dot(self.load, self.displacement.reshape(-1))


def solve_linear_elasticity(
    space: FunctionSpace,
    stiffness: Float[ArrayLike, "..."],
    *,
    dirichlet: DirichletBC,
    body_force: Float[ArrayLike, "..."] | None = None,
    traction_facets: BoundaryFacets | np.ndarray | None = None,
    traction: Float[ArrayLike, "..."] | None = None,
    point_load: Float[ArrayLike, " n"] | None = None,
    solver: AbstractLinearSolver = SparseLU(),
) -> LinearElasticResult:
    """Assemble and solve small-strain linear elasticity, differentiable in every array.

    Args:
        space: vector space (``components == dim``).
        stiffness: Voigt stiffness (constant, per cell or per quadrature point).
        dirichlet: the prescribed displacements (a :class:`DirichletBC`).
        body_force: volume force per unit volume (see :func:`source_vector`).
        traction_facets, traction: boundary facets and the traction on them.
        point_load: a global load vector added as is (nodal forces), shape ``(num_dofs,)``.
        solver: :class:`SparseLU` or :class:`PCG`.

    Returns:
        A :class:`LinearElasticResult`.
    """
    matrix = elasticity_matrix(space, stiffness)
    load = external_load(
        space,
        body_force=body_force,
        traction_facets=traction_facets,
        traction=traction,
        point_load=point_load,
        dtype=matrix.data.dtype,
    )
    lifted, rhs = apply_dirichlet(matrix, load, dirichlet)
    u = linear_solve(lifted, rhs, solver)
    return LinearElasticResult(u.reshape(space.mesh.num_nodes, space.components), matrix, load)
