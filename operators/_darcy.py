"""The Darcy flow dataset of Li et al. (2021), ``-∇·(a ∇u) = 1`` on the unit square with a
thresholded Gaussian random coefficient, solved by dmech.fem (bilinear quadrilaterals, one
coefficient per element) and subsampled to coarser grids; and the cosine-series Gaussian random
field it draws the coefficient from."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dmech._custom_types import Array, ArrayLike, DTypeLike, Float, Key, NumpyArray
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
    diffusion_matrix,
    linear_solve,
    source_vector,
)
from dmech.geometry import rectangle_mesh

from ._datasets import (
    cache_path,
    check_devices,
    check_seed,
    check_solver,
    check_subsampling,
    pack_phases,
    progress_bar,
    sample_batches,
    sample_sharding,
    sharded_sample_keys,
    solver_name,
    unpack_phases,
)

__all__ = [
    "DARCY_HIGH",
    "DARCY_LOW",
    "darcy_flow_dataset",
    "neumann_gaussian_random_field",
    "solve_darcy",
]

GENERATOR = "operators.darcy_flow_dataset"
# Li et al. (2021): the coefficient is 12 where the Gaussian field is non-negative, 3 elsewhere.
DARCY_HIGH = 12.0
DARCY_LOW = 3.0


# --- the Gaussian random field ------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _cosine_basis(cells: int, where: str) -> NumpyArray:
    """``Φ[i, k] = φ_k(x_i)``, ``φ₀ = 1``, ``φ_k = √2 cos(π k x)``: the L²-orthonormal
    eigenfunctions of ``-d²/dx²`` with zero Neumann conditions on ``[0, 1]``, at the nodes
    ``x_i = i / cells`` (``cells + 1`` rows) or the cell centres ``(i + ½) / cells``."""
    points = np.arange(cells + 1) / cells if where == "nodes" else (np.arange(cells) + 0.5) / cells
    k = np.arange(cells)
    basis = np.sqrt(2.0) * np.cos(np.pi * points[:, None] * k[None, :])
    basis[:, 0] = 1.0
    return basis


def neumann_gaussian_random_field(
    key: Key,
    cells: int,
    *,
    where: str = "nodes",
    alpha: float = 2.0,
    tau: float = 3.0,
    sigma: float | None = None,
    dtype: DTypeLike = jnp.float32,
) -> Float[Array, "..."]:
    r"""A sample of ``N(0, σ² (-Δ + τ² I)^{-α})`` on the unit square, Neumann conditions.

    The Karhunen-Loève expansion in the eigenfunctions of the Laplacian with zero Neumann
    conditions, ``φ_{kl}(x, y) = φ_k(x) φ_l(y)`` with ``φ₀ = 1``, ``φ_k = √2 cos(π k x)``
    (orthonormal in L²), eigenvalues ``π² (k² + l²)``:

    .. math:: f(x, y) = \sum_{0 ≤ k, l < n,\ (k, l) ≠ (0, 0)}
       σ (π² (k² + l²) + τ²)^{-α/2} ξ_{kl} φ_k(x) φ_l(y), \qquad ξ_{kl} \sim N(0, 1),

    truncated to the ``n = cells`` modes per axis that a grid of ``cells`` squares resolves,
    with the constant mode removed (as in Li et al.'s generator). The default ``α = 2``,
    ``τ = 3``, ``σ = τ^{α - 1} = 3`` is the Darcy coefficient field of Li et al. (2021),
    covariance ``(-Δ + 9 I)^{-2}`` up to the factor 9. The same key gives the same field at
    the nodes and at the cell centres (one expansion evaluated at two point sets), and in
    float32 and float64 up to rounding (the ``ξ`` are always drawn in float32).

    Args:
        key: a PRNG key.
        cells: squares per axis of the grid, ``n ≥ 1`` (also the modes per axis).
        where: ``"nodes"``: the ``(n + 1)²`` points ``(i/n, j/n)``; ``"cells"``: the ``n²``
            cell centres ``((i + ½)/n, (j + ½)/n)``.
        alpha: the smoothness exponent ``α > 0``.
        tau: the inverse length scale ``τ > 0``.
        sigma: the amplitude ``σ > 0`` (default ``τ^{α - 1}``).
        dtype: the floating dtype of the result.

    Returns:
        The field indexed ``[i, j]`` (``i`` along x): shape ``(n + 1, n + 1)`` at the nodes,
        ``(n, n)`` at the cell centres.

    Raises:
        ValueError: naming the argument.

    Example:
        >>> a = neumann_gaussian_random_field(jax.random.key(0), 420)  # (421, 421)

    References:
        Li et al. (2021), "Fourier neural operator for parametric partial differential
        equations", ICLR, section 5.2 and their data generator (a DCT of the same series).
    """
    cells = positive_int(cells, "cells")
    if where not in ("nodes", "cells"):
        raise ValueError(f"where must be 'nodes' or 'cells', got {where!r}")
    alpha = positive_float(alpha, "alpha")
    tau = positive_float(tau, "tau")
    sigma = tau ** (alpha - 1.0) if sigma is None else positive_float(sigma, "sigma")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"dtype must be a floating dtype, got {dtype}")
    k = np.arange(cells)
    eigenvalues = np.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2)
    amplitudes = sigma * (eigenvalues + tau**2) ** (-alpha / 2)
    amplitudes[0, 0] = 0.0
    noise = jax.random.normal(key, (cells, cells), jnp.float32).astype(dtype)
    coefficients = jnp.asarray(amplitudes, dtype) * noise
    basis = jnp.asarray(_cosine_basis(cells, where), dtype)
    return basis @ coefficients @ basis.T


# --- the finite-element solve -------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _darcy_space(cells: int, dtype: str) -> tuple[FunctionSpace, DirichletBC]:
    """Bilinear elements on ``cells²`` squares of the unit square and ``u = 0`` on its boundary
    (built once per size and dtype: the sparsity pattern is the costly part)."""
    with jax.ensure_compile_time_eval():  # concrete even when first called under a trace
        return _build_darcy_space(cells, dtype)


def _build_darcy_space(cells: int, dtype: str) -> tuple[FunctionSpace, DirichletBC]:
    template = rectangle_mesh(cells, cells)
    mesh = template.with_points(np.asarray(template.points, np.float64).astype(dtype))
    space = FunctionSpace(mesh)
    index = np.arange((cells + 1) ** 2).reshape(cells + 1, cells + 1)  # [j, i]: i + (n + 1) j
    boundary = np.unique(np.concatenate([index[0], index[-1], index[:, 0], index[:, -1]]))
    return space, DirichletBC(boundary.astype(np.int64), np.zeros((), dtype))


def solve_darcy(
    coefficient: Float[ArrayLike, "..."],
    *,
    source: Float[ArrayLike, "..."] = 1.0,
    solver: AbstractLinearSolver = SparseLU(),
) -> Float[Array, "..."]:
    r"""Solve ``-∇·(a ∇u) = f`` on the unit square with ``u = 0`` on its boundary.

    Bilinear (Quad4) finite elements on the uniform grid of ``n × n`` squares, the
    coefficient ``a`` constant on each square (2×2 Gauss quadrature, exact for the bilinear
    form), the source interpolated from the nodes; assembled by
    :func:`dmech.fem.diffusion_matrix` and :func:`dmech.fem.source_vector`, the boundary
    values imposed by :func:`dmech.fem.apply_dirichlet` and solved by
    :func:`dmech.fem.linear_solve`, so the solution is differentiable in ``a`` and ``f`` (one
    adjoint solve per gradient). Second order in L² for smooth data (verified against a
    manufactured solution), and against a layered coefficient with interfaces on grid lines.

    Args:
        coefficient: ``a > 0`` per square, shape ``(n, n)`` indexed ``[i, j]``: the square
            ``[i/n, (i+1)/n] × [j/n, (j+1)/n]``.
        source: ``f``, a scalar or nodal values of shape ``(n + 1, n + 1)``.
        solver: :class:`dmech.fem.SparseLU` (default), ``Pardiso`` or ``PCG``.

    Returns:
        ``u`` at the nodes ``(i/n, j/n)``, shape ``(n + 1, n + 1)``, in the coefficient's
        dtype.

    Raises:
        ValueError: naming the argument (shapes; a concrete non-positive coefficient).

    Example:
        >>> u = solve_darcy(jnp.full((64, 64), 3.0))  # doctest: +SKIP
    """
    coefficient = jnp.asarray(coefficient)
    if (
        coefficient.ndim != 2
        or coefficient.shape[0] != coefficient.shape[1]
        or coefficient.shape[0] < 1
    ):
        raise ValueError(f"coefficient must have a square shape (n, n), got {coefficient.shape}")
    if not jnp.issubdtype(coefficient.dtype, jnp.floating):
        raise ValueError(f"coefficient must be floating, got {coefficient.dtype}")
    if is_concrete(coefficient) and not np.all(np.asarray(coefficient) > 0):
        raise ValueError("coefficient must be positive")
    cells = coefficient.shape[0]
    source = jnp.asarray(source)
    if source.shape not in ((), (cells + 1, cells + 1)):
        raise ValueError(
            f"source must be a scalar or have shape ({cells + 1}, {cells + 1}), got {source.shape}"
        )
    space, bc = _darcy_space(cells, jnp.dtype(coefficient.dtype).name)
    return _solve(space, bc, coefficient, source.astype(coefficient.dtype), solver)


@eqx.filter_jit
def _solve(
    space: FunctionSpace,
    bc: DirichletBC,
    coefficient: Array,
    source: Array,
    solver: AbstractLinearSolver,
) -> Array:
    cells = coefficient.shape[0]
    # cell (i, j) is cell i + n j of the mesh and node (i, j) node i + (n + 1) j
    matrix = diffusion_matrix(space, coefficient.T.reshape(-1))
    nodal = source if source.ndim == 0 else source.T.reshape(-1)
    load = source_vector(space, nodal)
    lifted, rhs = apply_dirichlet(matrix, load, bc)
    u = linear_solve(lifted, rhs, solver)
    return u.reshape(cells + 1, cells + 1).T


# --- the dataset --------------------------------------------------------------------------------


def darcy_flow_dataset(
    n_samples: int,
    *,
    resolution: int = 85,
    solver_resolution: int = 421,
    alpha: float = 2.0,
    tau: float = 3.0,
    high: float = DARCY_HIGH,
    low: float = DARCY_LOW,
    seed: int = 0,
    solver: AbstractLinearSolver | None = None,
    batch_size: int = 8,
    devices: Sequence[jax.Device] | None = None,
    cache: bool = True,
    progress: bool = True,
    return_elements: bool = False,
) -> dict[str, Float[NumpyArray, "..."]]:
    r"""Pairs ``(a, u)`` of 2D Darcy flow with a two-valued random coefficient (Li et al. 2021).

    Each sample solves ``-∇·(a ∇u) = 1`` on ``(0, 1)²`` with ``u = 0`` on the boundary, where
    ``a = 12`` where a Gaussian field ``g ~ N(0, 9 (-Δ + 9 I)^{-2})`` with zero Neumann
    conditions (:func:`neumann_gaussian_random_field`, ``α = 2``, ``τ = 3``) is
    non-negative and ``a = 3`` where it is negative (the two values of the paper). The solve
    (:func:`solve_darcy`) uses ``(solver_resolution - 1)²`` bilinear elements (420² by
    default) with the coefficient thresholded at each element's centre; the input ``a`` is
    thresholded from the same ``g`` at the ``solver_resolution²`` nodes (the points where
    the paper's data live), and both fields are subsampled pointwise to ``resolution²``
    nodes (every ``(solver_resolution - 1) / (resolution - 1)``-th: 85, 141, 211 take every
    5th, 3rd, 2nd of 421). All the work is in float64; the stored fields are float32.

    Sample ``i`` is drawn from the key ``fold_in(key(seed), i)``, so it does not depend on
    ``n_samples``, ``batch_size`` or the devices. The random fields of a batch are computed
    sharded over ``devices``; the direct solvers run on the host one sample at a time,
    :class:`dmech.fem.PCG` solves a batch at once, sharded over the devices (for GPUs).
    Progress goes to stderr. With ``cache=True`` the full-resolution solve is stored once
    (``cache_dir("operators", "darcy")``, a card with every parameter; the phase maps packed
    to bits, about 0.75 MB per sample at 421) and every ``resolution`` is read from it.

    Args:
        n_samples: the number of pairs.
        resolution: nodes per axis of the returned fields (see above).
        solver_resolution: nodes per axis of the solve (``≥ 3``).
        alpha, tau: the Gaussian field's parameters.
        high, low: the coefficient where ``g ≥ 0`` and where ``g < 0``.
        seed: the dataset's seed.
        solver: the linear solver (default :class:`dmech.fem.Pardiso` when pypardiso is
            installed, else :class:`dmech.fem.SparseLU`); not part of the cache key (solvers
            agree to rounding).
        batch_size: samples per batch (rounded up to a multiple of the device count).
        devices: devices to shard a batch over (default ``jax.devices()``).
        cache: read and write the cache.
        progress: show a progress bar on stderr.
        return_elements: also return the coefficient of the solve per element.

    Returns:
        NumPy float32 arrays indexed ``[sample, i, j]`` (``i`` along x): ``"inputs"`` ``a`` and
        ``"outputs"`` ``u``, both ``(n_samples, resolution, resolution)``, at the nodes
        ``(x_i, x_j)`` of ``"x"`` ``(resolution,)``; with ``return_elements``,
        ``"coefficient_elements"`` ``(n_samples, solver_resolution - 1, solver_resolution - 1)``.

    Raises:
        ValueError: naming the argument.

    Example:
        >>> train = darcy_flow_dataset(1000, resolution=85)  # doctest: +SKIP
        >>> train["inputs"].shape  # doctest: +SKIP
        (1000, 85, 85)

    References:
        Li, Kovachki, Azizzadenesheli, Liu, Bhattacharya, Stuart and Anandkumar (2021),
        "Fourier neural operator for parametric partial differential equations", ICLR,
        section 5.2.
    """
    n_samples = positive_int(n_samples, "n_samples")
    solver_resolution = positive_int(solver_resolution, "solver_resolution")
    if solver_resolution < 3:
        raise ValueError(f"solver_resolution must be at least 3, got {solver_resolution}")
    stride = check_subsampling(resolution, solver_resolution)
    params: dict[str, Any] = {
        "n_samples": n_samples,
        "solver_resolution": solver_resolution,
        "alpha": positive_float(alpha, "alpha"),
        "tau": positive_float(tau, "tau"),
        "high": positive_float(high, "high"),
        "low": positive_float(low, "low"),
        "seed": check_seed(seed),
        "equation": "-div(a grad u) = 1 on (0,1)^2, u = 0 on the boundary",
        "coefficient": "high where g >= 0, low where g < 0; g = neumann_gaussian_random_field",
        "discretisation": "Quad4 on a uniform grid, a per element (thresholded at centres)",
    }
    solver = check_solver(solver)
    batch_size = positive_int(batch_size, "batch_size")
    devices = check_devices(devices)

    def generate() -> dict[str, NumpyArray]:
        return _generate(params, solver, batch_size, devices, progress)

    arrays: Mapping[str, Any]
    if cache:
        arrays, _ = load_or_generate(
            cache_path("darcy", f"darcy_r{solver_resolution}_n{n_samples}_seed{seed}", params),
            generate,
            generator=GENERATOR,
            params=params,
            extra={
                "solver": solver_name(solver),
                "layout": "u[sample, i, j] at (i, j) / (solver_resolution - 1); phases packed "
                "to bits along the last axis (numpy.packbits)",
            },
        )
    else:
        arrays = generate()
    nodes, cells = solver_resolution, solver_resolution - 1
    phase_nodes = unpack_phases(np.asarray(arrays["phase_nodes"]), nodes)
    high32, low32 = np.float32(params["high"]), np.float32(params["low"])
    result = {
        "inputs": np.where(phase_nodes[:, ::stride, ::stride], high32, low32),
        "outputs": np.ascontiguousarray(np.asarray(arrays["u"])[:, ::stride, ::stride]),
        "x": np.linspace(0.0, 1.0, nodes)[::stride].astype(np.float32),
    }
    if return_elements:
        phase_cells = unpack_phases(np.asarray(arrays["phase_cells"]), cells)
        result["coefficient_elements"] = np.where(phase_cells, high32, low32)
    return result


def _generate(
    params: dict[str, Any],
    solver: AbstractLinearSolver,
    batch_size: int,
    devices: list[jax.Device],
    progress: bool,
) -> dict[str, NumpyArray]:
    n, nodes = params["n_samples"], params["solver_resolution"]
    cells = nodes - 1
    high, low = params["high"], params["low"]
    u = np.empty((n, nodes, nodes), np.float32)
    phase_nodes = np.empty((n, nodes, -(-nodes // 8)), np.uint8)
    phase_cells = np.empty((n, cells, -(-cells // 8)), np.uint8)
    batched = isinstance(solver, PCG)
    with jax.enable_x64(True), progress_bar(n, f"darcy {nodes}x{nodes}", progress) as bar:
        space, bc = _darcy_space(cells, "float64")
        source = jnp.asarray(1.0, jnp.float64)
        all_keys = sample_keys(params["seed"], n)  # fold_in(key(seed), i) for sample i
        for start, stop, indices in sample_batches(n, batch_size, len(devices)):
            keys = sharded_sample_keys(all_keys, indices, devices)
            on_nodes, on_cells = _fields(keys, cells, params["alpha"], params["tau"])
            coefficients = jnp.where(on_cells >= 0, high, low)
            if batched:
                coefficients = jax.device_put(coefficients, sample_sharding(devices))
                solutions = np.asarray(_solve_batch(space, bc, coefficients, source, solver))
                bar.update(stop - start)
            else:  # host solves, one sample at a time, on host copies of the inputs
                on_host = np.asarray(coefficients)
                solutions = np.empty((stop - start, nodes, nodes))
                for k in range(stop - start):
                    a = jnp.asarray(on_host[k])
                    solutions[k] = np.asarray(_solve(space, bc, a, source, solver))
                    bar.update(1)
            size = stop - start
            u[start:stop] = solutions[:size]
            phase_nodes[start:stop] = pack_phases(np.asarray(on_nodes[:size]) >= 0)
            phase_cells[start:stop] = pack_phases(np.asarray(on_cells[:size]) >= 0)
    if not np.all(np.isfinite(u)):
        raise FloatingPointError("darcy_flow_dataset: a solve returned non-finite values")
    return {"u": u, "phase_nodes": phase_nodes, "phase_cells": phase_cells}


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _fields(keys: Array, cells: int, alpha: float, tau: float) -> tuple[Array, Array]:
    """The Gaussian field of each key at the nodes and at the cell centres, in float64."""

    def one(key: Array) -> tuple[Array, Array]:
        options = dict(alpha=alpha, tau=tau, dtype=jnp.float64)
        return (
            neumann_gaussian_random_field(key, cells, where="nodes", **options),
            neumann_gaussian_random_field(key, cells, where="cells", **options),
        )

    return jax.vmap(one)(keys)


@eqx.filter_jit
def _solve_batch(
    space: FunctionSpace,
    bc: DirichletBC,
    coefficients: Array,
    source: Array,
    solver: AbstractLinearSolver,
) -> Array:
    return jax.vmap(lambda a: _solve(space, bc, a, source, solver))(coefficients)
