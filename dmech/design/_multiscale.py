r"""The multiscale bridge: an atomistic elastic stiffness as a continuum material, a
continuum part solved with it, and gradients of the part's objective with respect to the
interatomic potential's parameters.

Chain of functions (each differentiable):

    potential parameters θ ──elastic_constants──▶ C(θ) (6x6 Voigt, eV/Å³, ions relaxed)
        ──continuum_stiffness──▶ C̃ (3x3 plane strain or stress, GPa, rotated to the part's
        axes) ──solve_linear_elasticity──▶ u ──▶ compliance fᵀu.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, ArrayLike, Float, Scalar
from .._static import is_concrete
from .._voigt import stiffness_to_tensor, tensor_to_stiffness
from ..atomistic import EV_PER_A3_TO_GPA, AbstractPotential, Structure, elastic_constants
from ..fem import DirichletBC, FunctionSpace, LinearElasticResult, solve_linear_elasticity
from ..geometry import BoundaryFacets, rectangle_mesh, select_facets, select_nodes

_PLANE = np.array([0, 1, 5])  # xx, yy, xy: the in-plane rows of the 3D Voigt order


def _check_stiffness(stiffness, name: str = "stiffness") -> Array:
    stiffness = jnp.asarray(stiffness)
    if stiffness.shape[-2:] != (6, 6):
        raise ValueError(f"{name} must be a 6x6 Voigt stiffness (shape (..., 6, 6)), "
                         f"got shape {stiffness.shape}")  # fmt: skip
    if not jnp.issubdtype(stiffness.dtype, jnp.floating):
        raise TypeError(f"{name} must be a floating array, got dtype {stiffness.dtype}")
    if is_concrete(stiffness):
        c = np.asarray(stiffness, dtype=np.float64)
        scale = np.max(np.abs(c), axis=(-2, -1), keepdims=True)
        if not np.all(np.isfinite(c)):
            raise ValueError(f"{name} has non-finite entries")
        asymmetry = np.max(np.abs(c - np.swapaxes(c, -1, -2)) / np.where(scale > 0, scale, 1))
        if asymmetry > 1e-6:
            raise ValueError(f"{name} must be symmetric (relative asymmetry {asymmetry:.2e})")
        if np.any(np.linalg.eigvalsh(0.5 * (c + np.swapaxes(c, -1, -2))) <= 0):
            raise ValueError(f"{name} must be positive definite (a mechanically stable "
                             "crystal): it has a non-positive eigenvalue")  # fmt: skip
    return stiffness


def crystal_frame(
    x_direction: Sequence[float | int], y_direction: Sequence[float | int]
) -> Float[np.ndarray, "3 3"]:
    """The rotation whose rows are the crystal directions of a part's axes.

    ``R = [x̂; ŷ; x̂ × ŷ]`` with ``x̂``, ``ŷ`` the normalised crystal directions (Miller
    indices in the cubic crystal's axes) along which the part's x and y axes run, e.g.
    ``crystal_frame((1, 1, 0), (-1, 1, 0))`` for a beam along [110] bending in (001).

    Args:
        x_direction: three numbers, the crystal direction of the part's x axis.
        y_direction: three numbers, orthogonal to ``x_direction``.

    Returns:
        A proper rotation, NumPy array of shape ``(3, 3)`` (float64).

    Raises:
        ValueError: for a zero or non-3-vector direction, or directions not orthogonal.
    """
    x = np.asarray(x_direction, dtype=np.float64)
    y = np.asarray(y_direction, dtype=np.float64)
    for name, v in (("x_direction", x), ("y_direction", y)):
        if v.shape != (3,) or not np.linalg.norm(v) > 0:
            raise ValueError(f"{name} must be a non-zero 3-vector, got {v.tolist()}")
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
    if abs(float(x @ y)) > 1e-8:
        raise ValueError(f"x_direction and y_direction must be orthogonal (cosine {x @ y:.3g})")
    return np.stack([x, y, np.cross(x, y)])


def rotate_stiffness(
    stiffness: Float[ArrayLike, "..."], rotation: Float[ArrayLike, "..."]
) -> Float[Array, "... 6 6"]:
    r"""A Voigt stiffness expressed in rotated axes.

    With the new axes ``e'_i = R_{ia} e_a`` (the rows of ``R`` are the new axes in the old
    frame), ``C'_{ijkl} = R_{ia} R_{jb} R_{kc} R_{ld} C_{abcd}``.

    Args:
        stiffness: Voigt stiffness, order ``[xx, yy, zz, yz, xz, xy]`` with engineering
            shear strains, shape ``(..., 6, 6)`` (any units of stress).
        rotation: ``R``, shape ``(3, 3)``, orthogonal (see `crystal_frame`).

    Returns:
        ``C'`` of shape ``(..., 6, 6)`` in the dtype of ``stiffness``.

    Raises:
        ValueError: if the shapes are wrong or (when concrete) ``rotation`` is not orthogonal.
    """
    stiffness = jnp.asarray(stiffness)
    if stiffness.shape[-2:] != (6, 6):
        raise ValueError(f"stiffness must have shape (..., 6, 6), got {stiffness.shape}")
    rotation = jnp.asarray(rotation)
    if rotation.shape != (3, 3):
        raise ValueError(f"rotation must have shape (3, 3), got {rotation.shape}")
    if is_concrete(rotation):
        host = np.asarray(rotation, dtype=np.float64)
        if not np.allclose(host @ host.T, np.eye(3), atol=1e-6):
            raise ValueError("rotation must be orthogonal (R Rᵀ = I)")
    r = rotation.astype(stiffness.dtype)
    tensor = stiffness_to_tensor(stiffness)
    rotated = jnp.einsum("ia,jb,kc,ld,...abcd->...ijkl", r, r, r, r, tensor)
    return tensor_to_stiffness(rotated)


def continuum_stiffness(
    stiffness: Float[ArrayLike, "..."],
    *,
    dim: int = 2,
    plane: str | None = "strain",
    rotation: Float[ArrayLike, "..."] | None = None,
    scale: float = EV_PER_A3_TO_GPA,
) -> Float[Array, "... nv nv"]:
    r"""The dmech.fem material of an atomistic (anisotropic) 6x6 Voigt stiffness.

    ``C`` is rotated into the part's axes (`rotate_stiffness`), multiplied by ``scale``
    (default eV/Å³ → GPa) and, in 2D, reduced to the in-plane Voigt order
    ``[ε_xx, ε_yy, γ_xy]`` of `dmech.fem.elasticity_matrix`:

    - plane strain (``ε_zz = γ_yz = γ_xz = 0``): ``C̃ = C_{PP}`` with ``P = (xx, yy, xy)``;
    - plane stress (``σ_zz = σ_yz = σ_xz = 0``): ``C̃ = (S_{PP})^{-1}`` with ``S = C^{-1}``.

    The result is the stiffness argument of `dmech.fem.solve_linear_elasticity` (constant
    over the part, or with leading per-cell axes).

    Args:
        stiffness: Voigt stiffness ``[xx, yy, zz, yz, xz, xy]`` (engineering shear), shape
            ``(..., 6, 6)``, e.g. ``elastic_constants(potential, crystal).relaxed`` in eV/Å³;
            symmetric positive definite.
        dim: 2 or 3.
        plane: ``"strain"`` or ``"stress"`` in 2D; ``None`` in 3D.
        rotation: the part's axes in the crystal frame, shape ``(3, 3)`` (see
            `crystal_frame`); ``None`` keeps the crystal axes.
        scale: unit factor applied to ``C`` (default `EV_PER_A3_TO_GPA`; 1.0 keeps the
            units).

    Returns:
        Shape ``(..., 3, 3)`` in 2D, ``(..., 6, 6)`` in 3D, in the dtype of ``stiffness``.

    Raises:
        ValueError: for a bad shape, ``dim``/``plane``, or (when concrete) a stiffness that is
            not symmetric positive definite.
        TypeError: for an integer stiffness.

    Example:
        >>> c = elastic_constants(StillingerWeber(), diamond(5.431, 2)).relaxed  # doctest: +SKIP
        >>> c_plane = continuum_stiffness(c, rotation=crystal_frame((1, 1, 0), (-1, 1, 0)))

    References:
        Nye (1985), "Physical Properties of Crystals", Oxford, ch. VIII (tensor
        transformation); Ting (1996), "Anisotropic Elasticity", Oxford, §4 (plane strain and
        plane stress reductions).
    """
    stiffness = _check_stiffness(stiffness)
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 or 3, got {dim!r}")
    if dim == 2 and plane not in ("strain", "stress"):
        raise ValueError(f"plane must be 'strain' or 'stress' in 2D, got {plane!r}")
    if dim == 3 and plane is not None:
        raise ValueError("plane applies to 2D only; pass plane=None in 3D")
    if rotation is not None:
        stiffness = rotate_stiffness(stiffness, rotation)
    stiffness = stiffness * jnp.asarray(scale, stiffness.dtype)
    if dim == 3:
        return stiffness
    index = jnp.asarray(_PLANE)
    if plane == "strain":
        return stiffness[..., index[:, None], index[None, :]]
    compliance = jnp.linalg.inv(stiffness)
    return jnp.linalg.inv(compliance[..., index[:, None], index[None, :]])


class Cantilever(eqx.Module):
    r"""A plane cantilever: the rectangle ``[0, L] × [-h/2, h/2]`` clamped at ``x = 0``,
    loaded by a uniform transverse traction on ``x = L``.

    Built by `cantilever`. For a slender beam the tip deflection tends to Euler-Bernoulli's
    ``δ = P L³ / (3 E' I)`` with ``I = h³/12`` (unit thickness) and ``1/E' = (C̃⁻¹)_{11}``,
    plus the shear term ``P L / (κ G h)``.

    Attributes:
        space: the vector `dmech.fem.FunctionSpace` on the mesh.
        clamp: the zero displacement of the nodes on ``x = 0``.
        tip: the `BoundaryFacets` on ``x = L`` (static).
        tip_node: the node at ``(L, 0)`` (static).
        length: ``L``; height: ``h`` (length units ``ℓ``, static).
    """

    space: FunctionSpace
    clamp: DirichletBC
    tip: BoundaryFacets = eqx.field(static=True)
    tip_node: int = eqx.field(static=True)
    length: float = eqx.field(static=True)
    height: float = eqx.field(static=True)

    def solve(
        self, stiffness: Float[ArrayLike, "..."], load: Float[ArrayLike, ""] = 1.0
    ) -> LinearElasticResult:
        """Displacements under the total downward force ``load`` (per unit thickness).

        Args:
            stiffness: the in-plane Voigt stiffness, shape ``(3, 3)`` (GPa, say; see
                `continuum_stiffness`), or per cell ``(num_cells, 3, 3)``.
            load: ``P``, the resultant of the tip traction ``(0, -P/h)`` (stress × ℓ).

        Returns:
            The `dmech.fem.LinearElasticResult` (displacements in ℓ when stress units
            match).
        """
        stiffness = jnp.asarray(stiffness)
        if stiffness.shape[-2:] != (3, 3):
            raise ValueError(f"stiffness must be a plane Voigt stiffness of shape (..., 3, 3), "
                             f"got {stiffness.shape}")  # fmt: skip
        load = jnp.asarray(load, stiffness.dtype)
        if load.shape != ():
            raise ValueError(f"load must be a scalar, got shape {load.shape}")
        traction = jnp.stack([jnp.zeros_like(load), -load / self.height])
        return solve_linear_elasticity(
            self.space, stiffness, dirichlet=self.clamp, traction_facets=self.tip,
            traction=traction,
        )  # fmt: skip

    def compliance(
        self, stiffness: Float[ArrayLike, "..."], load: Float[ArrayLike, ""] = 1.0
    ) -> Scalar:
        """``fᵀu``, twice the strain energy of the loaded part (stress × ℓ²)."""
        return self.solve(stiffness, load).compliance()

    def tip_deflection(self, result: LinearElasticResult) -> Scalar:
        """The downward displacement of the node at ``(L, 0)`` (ℓ)."""
        return -result.displacement[self.tip_node, 1]


def cantilever(
    length: float = 10.0,
    height: float = 1.0,
    *,
    nx: int = 40,
    ny: int = 4,
    cell_type: str = "quad8",
    dtype=None,
) -> Cantilever:
    """A `Cantilever` meshed by ``nx × ny`` cells.

    Args:
        length: ``L > 0`` (ℓ).
        height: ``h > 0`` (ℓ).
        nx, ny: cells along x and y (``ny`` even puts a node on the axis ``y = 0``).
        cell_type: a `dmech.geometry.rectangle_mesh` cell type (quadratic ones do not lock
            in bending).
        dtype: the dtype of the mesh coordinates (default JAX's default float).

    Returns:
        The `Cantilever`.

    Raises:
        ValueError: for non-positive sizes or an odd ``ny``.
    """
    if not (length > 0 and height > 0):
        raise ValueError(f"length and height must be positive, got {length!r}, {height!r}")
    if int(ny) != ny or ny < 2 or ny % 2:
        raise ValueError(f"ny must be an even integer >= 2 (a node on y = 0), got {ny!r}")
    mesh = rectangle_mesh(
        nx, ny, cell_type=cell_type, lower=(0.0, -height / 2), upper=(length, height / 2)
    )
    if dtype is not None:
        mesh = mesh.with_points(jnp.asarray(mesh.points, dtype))
    space = FunctionSpace(mesh, components=2)
    tol = 1e-9 * length
    clamp = DirichletBC(space.dofs(select_nodes(mesh, lambda x: np.abs(x[:, 0]) <= tol)))
    tip = select_facets(mesh, lambda x: np.abs(x[:, 0] - length) <= tol)
    points = np.asarray(mesh.points)
    tip_node = int(np.argmin(np.hypot(points[:, 0] - length, points[:, 1])))
    return Cantilever(space, clamp, tip, tip_node, float(length), float(height))


def multiscale_compliance(
    potential: AbstractPotential,
    crystal: Structure,
    part: Cantilever,
    *,
    load: Float[ArrayLike, ""] = 1.0,
    rotation: Float[ArrayLike, "..."] | None = None,
    plane: str = "strain",
    scale: float = EV_PER_A3_TO_GPA,
) -> Scalar:
    r"""The compliance of a continuum part made of the potential's crystal.

    $$J(θ) = f^\top u,\qquad K(\tilde C(θ))\,u = f,\qquad
      \tilde C(θ) = \mathrm{reduce}\big(R \cdot C(θ)\big),$$

    with ``C(θ)`` the relaxed 0 K elastic constants of ``crystal`` under the potential
    (`dmech.atomistic.elastic_constants`, internal relaxation included), rotated into the
    part's axes and reduced to plane strain or stress (`continuum_stiffness`), and ``u`` the
    finite-element displacements of ``part`` (`Cantilever.solve`). Every step is
    differentiable, so ``equinox.filter_grad(multiscale_compliance)(potential, ...)`` is
    ``∂J/∂θ`` for every array leaf ``θ`` of the potential (e.g. a `PolynomialPotential`'s
    coefficients): second derivatives of the energy, the relaxation solve and the adjoint of
    the FE solve.

    Args:
        potential: any `AbstractPotential` (its array leaves are ``θ``).
        crystal: the reference crystal at mechanical equilibrium (e.g. ``diamond(5.431, 2)``).
        part: the continuum part (`cantilever`).
        load: the tip force per unit thickness (GPa × ℓ with the default ``scale``).
        rotation: the part's axes in the crystal frame (`crystal_frame`); ``None``: the
            crystal axes.
        plane: ``"strain"`` or ``"stress"``.
        scale: unit factor from the potential's stiffness to the part's (eV/Å³ → GPa).

    Returns:
        ``J``, a scalar (GPa ℓ² per unit thickness), in the dtype of the crystal.

    Raises:
        ValueError: for bad input to any step (see the functions above), including an
            unstable crystal (stiffness not positive definite, when concrete).

    References:
        Tadmor and Miller (2011), "Modeling Materials", Cambridge, ch. 11 (the Cauchy-Born
        link between atomistic and continuum elasticity).
    """
    constants = elastic_constants(potential, crystal)
    stiffness = continuum_stiffness(
        constants.relaxed, dim=2, plane=plane, rotation=rotation, scale=scale
    )
    return part.compliance(stiffness, load)
