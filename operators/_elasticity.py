"""A mechanics field dataset: plane-strain linear elasticity of random two-phase microstructures
(stiff inclusions in a soft matrix) under a uniaxial strain, phase map -> von Mises stress,
solved by dmech.fem (bilinear quadrilaterals, one stiffness per element)."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dmech._custom_types import Array, ArrayLike, Bool, Float, Key, NumpyArray
from dmech._static import is_concrete
from dmech.cfd._burgers_data import sample_keys
from dmech.cfd._checks import positive_float, positive_int
from dmech.data import load_or_generate
from dmech.fem import (
    PCG,
    AbstractLinearSolver,
    DirichletBC,
    FunctionSpace,
    SparseLU,
    apply_dirichlet,
    elasticity_matrix,
    isotropic_elasticity,
    linear_solve,
    strain,
    von_mises,
)
from dmech.geometry import rectangle_mesh

from ._darcy import neumann_gaussian_random_field
from ._datasets import (
    cache_path,
    check_devices,
    check_seed,
    check_solver,
    pack_phases,
    progress_bar,
    sample_batches,
    sample_sharding,
    sharded_sample_keys,
    solver_name,
    unpack_phases,
)

__all__ = [
    "INCLUSION",
    "MATRIX",
    "UniaxialStrainResult",
    "microstructure_elasticity_dataset",
    "random_inclusions",
    "solve_uniaxial_strain",
    "thresholded_gaussian_microstructure",
]

GENERATOR = "operators.microstructure_elasticity_dataset"
# (Young's modulus in MPa, Poisson's ratio): a glass-like filler in an epoxy-like matrix.
MATRIX = (3000.0, 0.35)
INCLUSION = (70000.0, 0.22)
MICROSTRUCTURES = ("inclusions", "gaussian_field")


# --- microstructures --------------------------------------------------------------------------


def random_inclusions(
    key: Key,
    *,
    volume_fraction: float = 0.3,
    radius_range: tuple[float, float] = (0.05, 0.1),
    gap: float = 0.02,
    candidates: int = 512,
) -> tuple[Float[Array, "m 2"], Float[Array, " m"], Bool[Array, " m"]]:
    r"""Non-overlapping discs in the unit square by random sequential addition.

    ``candidates`` discs are drawn (radius uniform in ``radius_range``, centre uniform where
    the disc keeps a distance ``gap`` from the square's sides) and visited in order: a disc
    is accepted when it keeps a distance ``gap`` from every disc accepted before it
    (``|c_i - c_j| ≥ r_i + r_j + gap``: a hard-core, Poisson-disc-like placement) and the
    discs' total area stays at most ``volume_fraction``. Deterministic in ``key``; jit- and
    vmap-compatible (a fixed number of candidates, a ``lax.scan``).

    Args:
        key: a PRNG key.
        volume_fraction: the target area fraction of the discs, in ``(0, 1)``.
        radius_range: ``(r_min, r_max)``, ``0 < r_min ≤ r_max < 1/2``.
        gap: the least distance between two discs and between a disc and a side, ``≥ 0``.
        candidates: discs drawn (more fill denser packings).

    Returns:
        ``(centres, radii, accepted)`` of shapes ``(candidates, 2)``, ``(candidates,)``,
        ``(candidates,)``: every candidate, and which were placed.

    Raises:
        ValueError: naming the argument.

    Example:
        >>> centres, radii, placed = random_inclusions(jax.random.key(0))
        >>> placed.shape
        (512,)

    References:
        Torquato (2002), "Random heterogeneous materials", chapter 3 (random sequential
        addition).
    """
    volume_fraction, (r_min, r_max), gap = _inclusion_options(volume_fraction, radius_range, gap)
    candidates = positive_int(candidates, "candidates")
    return _place_discs(key, volume_fraction, r_min, r_max, gap, candidates)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _place_discs(
    key: Array, volume_fraction: float, r_min: float, r_max: float, gap: float, candidates: int
) -> tuple[Array, Array, Array]:
    radius_key, centre_key = jax.random.split(key)
    f32 = jnp.float32  # the draws do not depend on JAX's x64 mode
    radii = jax.random.uniform(radius_key, (candidates,), f32, minval=r_min, maxval=r_max)
    margin = radii + gap
    unit = jax.random.uniform(centre_key, (candidates, 2), f32)
    centres = margin[:, None] + unit * (1 - 2 * margin)[:, None]

    def visit(carry: tuple[Array, Array], i: Array) -> tuple[tuple[Array, Array], None]:
        accepted, area = carry
        distance = jnp.sqrt(jnp.sum((centres - centres[i][None, :]) ** 2, axis=1))
        clear = jnp.all(~accepted | (distance >= radii + radii[i] + gap))
        disc = jnp.pi * radii[i] ** 2
        take = clear & (area + disc <= volume_fraction)
        return (accepted.at[i].set(take), area + jnp.where(take, disc, 0.0)), None

    start = (jnp.zeros(candidates, bool), jnp.zeros((), f32))
    (accepted, _), _ = jax.lax.scan(visit, start, jnp.arange(candidates))
    return centres, radii, accepted


def _inclusion_options(
    volume_fraction: Any, radius_range: Any, gap: Any
) -> tuple[float, tuple[float, float], float]:
    volume_fraction = _fraction(volume_fraction)
    try:
        r_min, r_max = (positive_float(r, "radius_range") for r in radius_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"radius_range must be two positive floats, got {radius_range!r}"
        ) from None
    gap = float(gap)
    if not (math.isfinite(gap) and gap >= 0):
        raise ValueError(f"gap must be non-negative and finite, got {gap}")
    if r_min > r_max or 2 * (r_max + gap) >= 1:
        raise ValueError(
            f"radius_range must satisfy r_min <= r_max and 2 (r_max + gap) < 1, got "
            f"{radius_range} with gap {gap}"
        )
    return volume_fraction, (r_min, r_max), gap


def _inclusion_phase(
    centres: Array, radii: Array, accepted: Array, cells: int
) -> Bool[Array, "n n"]:
    """Cells whose centre lies in an accepted disc, indexed ``[i, j]``."""
    x = (jnp.arange(cells, dtype=centres.dtype) + 0.5) / cells
    dx = x[:, None, None] - centres[None, None, :, 0]
    dy = x[None, :, None] - centres[None, None, :, 1]
    inside = (dx**2 + dy**2 <= radii[None, None, :] ** 2) & accepted[None, None, :]
    return jnp.any(inside, axis=-1)


def thresholded_gaussian_microstructure(
    key: Key,
    cells: int,
    *,
    volume_fraction: float = 0.3,
    alpha: float = 3.0,
    tau: float = 20.0,
) -> Bool[Array, "n n"]:
    r"""A two-phase map: the largest values of a Gaussian random field.

    The cells where :func:`neumann_gaussian_random_field` (``α``, ``τ``, at the cell
    centres) takes its ``round(volume_fraction n²)`` largest values are the inclusion phase:
    the threshold is the field's own quantile, so every sample has the same volume fraction.

    Args:
        key: a PRNG key.
        cells: cells per axis ``n``.
        volume_fraction: the inclusions' fraction of the cells, in ``(0, 1)``.
        alpha, tau: the field's smoothness and inverse length scale (the defaults give
            smooth-edged domains about ``π/τ ≈ 0.16`` wide).

    Returns:
        A boolean map ``(n, n)`` indexed ``[i, j]`` (``True``: inclusion).

    Raises:
        ValueError: naming the argument.

    Example:
        >>> phase = thresholded_gaussian_microstructure(jax.random.key(0), 32)
        >>> int(phase.sum())
        307
    """
    volume_fraction = _fraction(volume_fraction)
    cells = positive_int(cells, "cells")
    field = neumann_gaussian_random_field(key, cells, where="cells", alpha=alpha, tau=tau)
    count = max(1, min(cells * cells, round(volume_fraction * cells * cells)))
    threshold = jnp.sort(field.reshape(-1))[cells * cells - count]
    return field >= threshold


def _fraction(value: Any) -> float:
    value = positive_float(value, "volume_fraction")
    if value >= 1:
        raise ValueError(f"volume_fraction must be in (0, 1), got {value}")
    return value


# --- the finite-element solve -------------------------------------------------------------------


class UniaxialStrainResult(eqx.Module):
    """The fields of :func:`solve_uniaxial_strain`, per element or node, indexed ``[i, j]``.

    Attributes:
        displacement: ``(n + 1, n + 1, 2)`` at the nodes ``(i/n, j/n)`` (units of length).
        stress: in-plane Cauchy stress ``[σ_xx, σ_yy, σ_xy]`` at the element centres,
            ``(n, n, 3)`` (units of the moduli).
        out_of_plane_stress: ``σ_zz = λ (ε_xx + ε_yy)`` (plane strain), ``(n, n)``.
        von_mises: the equivalent stress of the full plane-strain stress, ``(n, n)``.
    """

    displacement: Float[Array, "n1 n1 2"]
    stress: Float[Array, "n n 3"]
    out_of_plane_stress: Float[Array, "n n"]
    von_mises: Float[Array, "n n"]


@functools.lru_cache(maxsize=4)
def _elastic_space(cells: int, dtype: str) -> tuple[FunctionSpace, DirichletBC, NumpyArray]:
    """The vector space of bilinear elements on ``cells²`` squares, the rollers (values zero)
    and which of their dofs carry the imposed stretch (built once per size and dtype)."""
    with jax.ensure_compile_time_eval():  # concrete even when first called under a trace
        return _build_elastic_space(cells, dtype)


def _build_elastic_space(cells: int, dtype: str) -> tuple[FunctionSpace, DirichletBC, NumpyArray]:
    template = rectangle_mesh(cells, cells)
    mesh = template.with_points(np.asarray(template.points, np.float64).astype(dtype))
    space = FunctionSpace(mesh, components=2)
    index = np.arange((cells + 1) ** 2).reshape(cells + 1, cells + 1)  # [j, i]: i + (n + 1) j
    left, right = index[:, 0], index[:, -1]
    bottom, top = index[0], index[-1]
    dofs = np.concatenate(
        [2 * left, 2 * right, 2 * bottom + 1, 2 * top + 1]
    )  # u_x left/right, u_y bottom/top
    dofs, first = np.unique(dofs, return_index=True)
    stretched = np.zeros(4 * (cells + 1))
    stretched[cells + 1 : 2 * (cells + 1)] = 1.0  # u_x = ε̄ on the right side
    rollers = DirichletBC(dofs.astype(np.int64), np.zeros((), dtype))
    return space, rollers, stretched[first].astype(dtype)


def solve_uniaxial_strain(
    youngs_modulus: Float[ArrayLike, "..."],
    poissons_ratio: Float[ArrayLike, "..."],
    *,
    strain_xx: Float[ArrayLike, "..."] | float = 0.01,
    solver: AbstractLinearSolver = SparseLU(),
) -> UniaxialStrainResult:
    r"""Plane-strain linear elasticity of the unit square under a uniaxial strain.

    Small strain, isotropic per element: ``σ = λ tr(ε) I + 2μ ε`` with ``λ = Eν/((1+ν)(1-2ν))``,
    ``μ = E/(2(1+ν))``, ``ε_zz = 0``. The boundary conditions impose the mean strain
    ``ε̄_xx = strain_xx``, ``ε̄_yy = 0`` by frictionless rollers: ``u_x = 0`` on ``x = 0``,
    ``u_x = ε̄_xx`` on ``x = 1``, ``u_y = 0`` on ``y = 0`` and ``y = 1``, the tangential
    components free (zero shear traction). A homogeneous square gets the uniform stress
    ``σ_xx = (λ + 2μ) ε̄``, ``σ_yy = σ_zz = λ ε̄``, von Mises ``2μ ε̄``; a laminate with
    layers across the load gets the Reuss average of ``M = λ + 2μ``:
    ``⟨σ_xx⟩ = ε̄ / ⟨1/M⟩``; one with layers along the load
    ``⟨σ_xx⟩ = ε̄ (⟨E'⟩ + ⟨λ/M⟩² / ⟨1/M⟩)``, ``E' = M - λ²/M`` the plane-strain modulus (its
    Voigt average plus the lateral constraint): all exact on the grid when the layers'
    interfaces lie on grid lines, as verified in the tests.

    Bilinear (Quad4) elements on the uniform grid of ``n × n`` squares (2×2 Gauss
    quadrature), :func:`dmech.fem.elasticity_matrix` with one Voigt stiffness per element,
    :func:`dmech.fem.apply_dirichlet` and :func:`dmech.fem.linear_solve`: differentiable in
    the moduli and the strain. Stresses are evaluated at the element centres (the mean of
    the four Gauss-point values).

    Args:
        youngs_modulus: ``E > 0`` per square, ``(n, n)`` indexed ``[i, j]`` (the square
            ``[i/n, (i+1)/n] × [j/n, (j+1)/n]``), units of stress.
        poissons_ratio: ``-1 < ν < 1/2`` per square, ``(n, n)``.
        strain_xx: the imposed mean strain ``ε̄_xx`` (dimensionless).
        solver: :class:`dmech.fem.SparseLU` (default), ``Pardiso`` or ``PCG``.

    Returns:
        A :class:`UniaxialStrainResult` in the moduli's dtype.

    Raises:
        ValueError: naming the argument (shapes; concrete moduli out of range).

    Example:
        >>> phase = thresholded_gaussian_microstructure(jax.random.key(0), 64)
        >>> result = solve_uniaxial_strain(jnp.where(phase, 70000.0, 3000.0),
        ...                                jnp.where(phase, 0.22, 0.35))  # doctest: +SKIP
        >>> result.von_mises.shape  # doctest: +SKIP
        (64, 64)
    """
    e = jnp.asarray(youngs_modulus)
    nu = jnp.asarray(poissons_ratio)
    if e.ndim != 2 or e.shape[0] != e.shape[1] or e.shape[0] < 1:
        raise ValueError(f"youngs_modulus must have a square shape (n, n), got {e.shape}")
    if nu.shape != e.shape:
        raise ValueError(f"poissons_ratio must have shape {e.shape}, got {nu.shape}")
    if not jnp.issubdtype(e.dtype, jnp.floating):
        raise ValueError(f"youngs_modulus must be floating, got {e.dtype}")
    if is_concrete(e) and not np.all(np.asarray(e) > 0):
        raise ValueError("youngs_modulus must be positive")
    if is_concrete(nu) and not np.all((np.asarray(nu) > -1) & (np.asarray(nu) < 0.5)):
        raise ValueError("poissons_ratio must lie in (-1, 1/2)")
    strain_xx = jnp.asarray(strain_xx)
    if strain_xx.shape != ():
        raise ValueError(f"strain_xx must be a scalar, got shape {strain_xx.shape}")
    space, rollers, stretched = _elastic_space(e.shape[0], jnp.dtype(e.dtype).name)
    return _solve(
        space, rollers, jnp.asarray(stretched), e, nu.astype(e.dtype), strain_xx.astype(e.dtype),
        solver,
    )  # fmt: skip


@eqx.filter_jit
def _solve(
    space: FunctionSpace,
    rollers: DirichletBC,
    stretched: Array,
    e: Array,
    nu: Array,
    strain_xx: Array,
    solver: AbstractLinearSolver,
) -> UniaxialStrainResult:
    cells = e.shape[0]
    # cell (i, j) is cell i + n j of the mesh and node (i, j) node i + (n + 1) j
    e_flat, nu_flat = e.T.reshape(-1), nu.T.reshape(-1)
    stiffness = isotropic_elasticity(e_flat, nu_flat, dim=2, plane="strain")
    matrix = elasticity_matrix(space, stiffness)
    bc = eqx.tree_at(lambda b: b.values, rollers, strain_xx * stretched)
    lifted, rhs = apply_dirichlet(matrix, jnp.zeros(space.num_dofs, e.dtype), bc)
    u = linear_solve(lifted, rhs, solver).reshape(-1, 2)
    eps = jnp.mean(strain(space, u), axis=1)  # (C, 3): the centre value of bilinear fields
    sigma = jnp.einsum("cvw,cw->cv", stiffness, eps)
    lam = e_flat * nu_flat / ((1 + nu_flat) * (1 - 2 * nu_flat))
    sigma_zz = lam * (eps[:, 0] + eps[:, 1])
    equivalent = von_mises(sigma, out_of_plane=sigma_zz)

    def grid(values: Array) -> Array:  # per cell, [j, i] -> [i, j]
        return jnp.swapaxes(values.reshape(cells, cells, *values.shape[1:]), 0, 1)

    return UniaxialStrainResult(
        displacement=jnp.swapaxes(u.reshape(cells + 1, cells + 1, 2), 0, 1),
        stress=grid(sigma),
        out_of_plane_stress=grid(sigma_zz),
        von_mises=grid(equivalent),
    )


# --- the dataset --------------------------------------------------------------------------------


def microstructure_elasticity_dataset(
    n_samples: int,
    *,
    microstructure: str = "inclusions",
    resolution: int = 128,
    volume_fraction: float = 0.3,
    radius_range: tuple[float, float] = (0.05, 0.1),
    gap: float = 0.02,
    alpha: float = 3.0,
    tau: float = 20.0,
    matrix: tuple[float, float] = MATRIX,
    inclusion: tuple[float, float] = INCLUSION,
    strain_xx: float = 0.01,
    seed: int = 0,
    solver: AbstractLinearSolver | None = None,
    batch_size: int = 16,
    devices: Sequence[jax.Device] | None = None,
    cache: bool = True,
    progress: bool = True,
) -> dict[str, Float[NumpyArray, "..."]]:
    r"""Phase maps of two-phase microstructures and their von Mises stress under uniaxial strain.

    Each sample is a unit square of ``resolution²`` elements, each element either matrix
    (epoxy-like, ``E = 3000 MPa``, ``ν = 0.35`` by default) or inclusion (glass-like,
    ``E = 70000 MPa``, ``ν = 0.22``), drawn by ``microstructure``:

    - ``"inclusions"``: non-overlapping discs placed by random sequential addition
      (:func:`random_inclusions`: radii uniform in ``radius_range``, a least distance
      ``gap`` between discs and from the sides, area fraction up to ``volume_fraction``);
      an element whose centre lies in a disc is inclusion;
    - ``"gaussian_field"``: the elements where a Gaussian random field (``α``, ``τ``, zero
      Neumann conditions, :func:`neumann_gaussian_random_field`) takes its
      ``volume_fraction`` largest values (:func:`thresholded_gaussian_microstructure`).

    Loaded in plane strain by the mean strain ``ε̄_xx = strain_xx``, ``ε̄_yy = 0`` through
    frictionless rollers on the four sides (:func:`solve_uniaxial_strain`: ``u_x = 0`` at
    ``x = 0``, ``u_x = ε̄_xx`` at ``x = 1``, ``u_y = 0`` at ``y = 0, 1``). Solved in float64
    by dmech.fem (Quad4, one stiffness per element); stored as float32.

    Sample ``i`` is drawn from the key ``fold_in(key(seed), i)`` (independent of
    ``n_samples``, ``batch_size`` and the devices). Microstructures are drawn for a batch at
    once, sharded over ``devices``; the direct solvers run on the host one sample at a time,
    :class:`dmech.fem.PCG` solves a batch sharded over the devices. Progress goes to stderr;
    with ``cache=True`` the arrays are stored once under ``cache_dir("operators",
    "elasticity")`` with a card holding every parameter.

    Args:
        n_samples: the number of samples.
        microstructure: ``"inclusions"`` or ``"gaussian_field"``.
        resolution: elements per axis ``n``.
        volume_fraction: the inclusions' (target) area fraction, in ``(0, 1)``.
        radius_range, gap: the discs' radii and least distance (``"inclusions"``), in units
            of the square's side.
        alpha, tau: the Gaussian field's parameters (``"gaussian_field"``; the defaults
            ``α = 3``, ``τ = 20`` give smooth-edged domains of width about ``π/τ ≈ 0.16``).
        matrix, inclusion: ``(E, ν)`` of the two phases (``E`` in MPa: the stresses are in
            MPa).
        strain_xx: the imposed mean strain.
        seed: the dataset's seed.
        solver: the linear solver (default :class:`dmech.fem.Pardiso` when pypardiso is
            installed, else :class:`dmech.fem.SparseLU`); not part of the cache key.
        batch_size: samples per batch (rounded up to a multiple of the device count).
        devices: devices to shard a batch over (default ``jax.devices()``).
        cache: read and write the cache.
        progress: show a progress bar on stderr.

    Returns:
        NumPy float32 arrays indexed ``[sample, i, j]`` (``i`` along x): ``"inputs"`` the
        phase map (1 inclusion, 0 matrix) and ``"outputs"`` the von Mises stress (MPa) at the
        element centres, both ``(n_samples, n, n)``; ``"displacement"``
        ``(n_samples, n + 1, n + 1, 2)`` at the nodes; ``"volume_fraction"`` ``(n_samples,)``
        (of the elements); ``"x"`` ``(n,)`` the element centres ``(i + ½)/n`` and
        ``"x_nodes"`` ``(n + 1,)`` the nodes ``i/n`` of each axis.

    Raises:
        ValueError: naming the argument.

    Example:
        >>> data = microstructure_elasticity_dataset(1000, resolution=128)  # doctest: +SKIP
        >>> data["inputs"].shape, data["outputs"].shape  # doctest: +SKIP
        ((1000, 128, 128), (1000, 128, 128))
    """
    n_samples = positive_int(n_samples, "n_samples")
    if microstructure not in MICROSTRUCTURES:
        raise ValueError(f"microstructure must be one of {MICROSTRUCTURES}, got {microstructure!r}")
    resolution = positive_int(resolution, "resolution")
    params: dict[str, Any] = {
        "n_samples": n_samples,
        "microstructure": microstructure,
        "resolution": resolution,
        "volume_fraction": _fraction(volume_fraction),
        "seed": check_seed(seed),
        "matrix": _phase(matrix, "matrix"),
        "inclusion": _phase(inclusion, "inclusion"),
        "strain_xx": float(strain_xx),
        "plane": "strain",
        "boundary_conditions": "rollers: u_x = 0 at x = 0, u_x = strain_xx at x = 1, "
        "u_y = 0 at y = 0 and y = 1",
        "discretisation": "Quad4 on a uniform grid, stiffness per element, stress at centres",
    }
    if not math.isfinite(params["strain_xx"]):
        raise ValueError(f"strain_xx must be finite, got {strain_xx}")
    if microstructure == "inclusions":
        _, radii, gap = _inclusion_options(volume_fraction, radius_range, gap)
        params.update(radius_range=list(radii), gap=gap)
    else:
        params.update(alpha=positive_float(alpha, "alpha"), tau=positive_float(tau, "tau"))
    solver = check_solver(solver)
    batch_size = positive_int(batch_size, "batch_size")
    devices = check_devices(devices)

    def generate() -> dict[str, NumpyArray]:
        return _generate(params, solver, batch_size, devices, progress)

    arrays: Mapping[str, Any]
    if cache:
        stem = f"elasticity_{microstructure}_r{resolution}_n{n_samples}_seed{seed}"
        arrays, _ = load_or_generate(
            cache_path("elasticity", stem, params),
            generate,
            generator=GENERATOR,
            params=params,
            extra={
                "solver": solver_name(solver),
                "units": "moduli and stresses in MPa, lengths in units of the side",
                "layout": "[sample, i, j] at element centres ((i + 1/2)/n, (j + 1/2)/n); "
                "displacement at nodes (i/n, j/n); phases packed to bits (numpy.packbits)",
            },
        )
    else:
        arrays = generate()
    phases = unpack_phases(np.asarray(arrays["phase"]), resolution)
    return {
        "inputs": phases.astype(np.float32),
        "outputs": np.asarray(arrays["von_mises"]),
        "displacement": np.asarray(arrays["displacement"]),
        "volume_fraction": phases.mean(axis=(1, 2)).astype(np.float32),
        "x": ((np.arange(resolution) + 0.5) / resolution).astype(np.float32),
        "x_nodes": (np.arange(resolution + 1) / resolution).astype(np.float32),
    }


def _phase(value: Any, name: str) -> list[float]:
    try:
        e, nu = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (E, nu), got {value!r}") from None
    if not (math.isfinite(e) and e > 0 and -1 < nu < 0.5):
        raise ValueError(f"{name} needs E > 0 and -1 < nu < 1/2, got {value!r}")
    return [e, nu]


def _generate(
    params: dict[str, Any],
    solver: AbstractLinearSolver,
    batch_size: int,
    devices: list[jax.Device],
    progress: bool,
) -> dict[str, NumpyArray]:
    n, cells = params["n_samples"], params["resolution"]
    phases = np.empty((n, cells, -(-cells // 8)), np.uint8)
    equivalent = np.empty((n, cells, cells), np.float32)
    displacement = np.empty((n, cells + 1, cells + 1, 2), np.float32)
    options = {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in params.items()
        if key in ("volume_fraction", "radius_range", "gap", "alpha", "tau")
    }
    draw = functools.partial(_draw, params["microstructure"], cells, tuple(sorted(options.items())))
    batched = isinstance(solver, PCG)
    description = f"elasticity {params['microstructure']} {cells}x{cells}"
    with jax.enable_x64(True), progress_bar(n, description, progress) as bar:
        space, rollers, stretched_np = _elastic_space(cells, "float64")
        stretched = jnp.asarray(stretched_np)
        (e_matrix, nu_matrix), (e_inclusion, nu_inclusion) = params["matrix"], params["inclusion"]
        strain_xx = jnp.asarray(params["strain_xx"], jnp.float64)
        all_keys = sample_keys(params["seed"], n)  # fold_in(key(seed), i) for sample i
        for start, stop, indices in sample_batches(n, batch_size, len(devices)):
            keys = sharded_sample_keys(all_keys, indices, devices)
            phase = draw(keys)
            e = jnp.where(phase, e_inclusion, e_matrix)
            nu = jnp.where(phase, nu_inclusion, nu_matrix)
            if batched:
                sharding = sample_sharding(devices)
                result = _solve_batch(
                    space, rollers, stretched, jax.device_put(e, sharding),
                    jax.device_put(nu, sharding), strain_xx, solver,
                )  # fmt: skip
                vm, u = np.asarray(result.von_mises), np.asarray(result.displacement)
                bar.update(stop - start)
            else:  # host solves, one sample at a time, on host copies of the inputs
                e_host, nu_host = np.asarray(e), np.asarray(nu)
                vm = np.empty((stop - start, cells, cells))
                u = np.empty((stop - start, cells + 1, cells + 1, 2))
                for k in range(stop - start):
                    one = _solve(
                        space, rollers, stretched, jnp.asarray(e_host[k]), jnp.asarray(nu_host[k]),
                        strain_xx, solver,
                    )  # fmt: skip
                    vm[k], u[k] = np.asarray(one.von_mises), np.asarray(one.displacement)
                    bar.update(1)
            size = stop - start
            equivalent[start:stop] = vm[:size]
            displacement[start:stop] = u[:size]
            phases[start:stop] = pack_phases(np.asarray(phase[:size]))
    if not (np.all(np.isfinite(equivalent)) and np.all(np.isfinite(displacement))):
        raise FloatingPointError("microstructure_elasticity_dataset: a solve was not finite")
    return {"phase": phases, "von_mises": equivalent, "displacement": displacement}


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _draw(kind: str, cells: int, options: tuple[tuple[str, Any], ...], keys: Array) -> Array:
    """The phase maps of a batch of keys, ``(batch, n, n)`` booleans."""
    settings = dict(options)

    def one(key: Array) -> Array:
        if kind == "inclusions":
            centres, radii, accepted = random_inclusions(
                key,
                volume_fraction=settings["volume_fraction"],
                radius_range=settings["radius_range"],
                gap=settings["gap"],
            )
            return _inclusion_phase(centres, radii, accepted, cells)
        return thresholded_gaussian_microstructure(
            key,
            cells,
            volume_fraction=settings["volume_fraction"],
            alpha=settings["alpha"],
            tau=settings["tau"],
        )

    return jax.vmap(one)(keys)


@eqx.filter_jit
def _solve_batch(
    space: FunctionSpace,
    rollers: DirichletBC,
    stretched: Array,
    e: Array,
    nu: Array,
    strain_xx: Array,
    solver: AbstractLinearSolver,
) -> UniaxialStrainResult:
    return jax.vmap(lambda a, b: _solve(space, rollers, stretched, a, b, strain_xx, solver))(e, nu)
