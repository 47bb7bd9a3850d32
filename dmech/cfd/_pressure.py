"""Fast direct Poisson solves on uniform cell-centred grids (the pressure of a MAC projection).

The discrete Laplacian with homogeneous Neumann, Dirichlet or periodic conditions on each
side of a box is a Kronecker sum ``L = Σ_a I ⊗ L_a ⊗ I`` of 1D second-difference operators,
so it is diagonalised axis by axis (Lynch, Rice and Thomas 1964): transform along every
axis into the eigenbasis of its ``L_a``, divide by the sum of the 1D eigenvalues, transform
back. Each axis uses the fastest basis its conditions allow:

- periodic: the discrete Fourier transform (``rfft``), eigenvalues ``-(4/h²) sin²(π k / n)``;
- Neumann on both sides: the orthonormal DCT-II, eigenvector ``cos(π k (i + ½) / n)``,
  eigenvalues ``-(4/h²) sin²(π k / 2n)``;
- Dirichlet on both sides: the DST-II, computed as a DCT-II of ``(-1)^i x`` (the DST-II
  mode ``k`` is the DCT-II output ``n - 1 - k``), eigenvalues ``-(4/h²) cos²(π m / 2n)``
  for output ``m``;
- Neumann on one side and Dirichlet on the other (an inflow facing an outflow): the
  DCT-IV, eigenvector ``cos(π (k + ½)(i + ½) / n)``, eigenvalues
  ``-(4/h²) sin²(π (2k + 1) / 4n)``, computed through one complex FFT of length ``2n``
  (the axis flipped for Dirichlet-Neumann);
- ``method="dense"``: on every axis the dense orthonormal eigenvectors of the ``n × n``
  matrix (``numpy.linalg.eigh`` once on the host), applied by matrix products: the
  general fast diagonalisation method, ``O(n)`` work per value (fine up to about a
  thousand cells per axis; matrix products suit GPUs), and a cross-check of the
  transforms.

Every step is a linear JAX operation (FFTs, DCTs, matrix products), so the solve is
differentiable in forward and reverse mode and its transpose is the same kind of solve.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.fft import dct, idct

from .._custom_types import Array, Float
from ..geometry import Grid

__all__ = ["PoissonSolver", "laplacian_1d"]

_KINDS = ("neumann", "dirichlet", "periodic")
_METHODS = ("fast", "dense")


def laplacian_1d(n: int, spacing: float, lower: str, upper: str) -> np.ndarray:
    r"""The 1D cell-centred second difference with homogeneous boundary conditions.

    Row ``i`` is ``(p_{i-1} - 2 p_i + p_{i+1}) / h²`` with ghost values outside the
    interval: Neumann ``p_{-1} = p_0`` (zero gradient at the face), Dirichlet
    ``p_{-1} = -p_0`` (zero value at the face), periodic ``p_{-1} = p_{n-1}``.

    Args:
        n: the number of cells, at least 1 (2 for periodic).
        spacing: the cell size ``h > 0``.
        lower, upper: ``"neumann"``, ``"dirichlet"`` or ``"periodic"`` (both or neither).

    Returns:
        The symmetric ``(n, n)`` matrix as a float64 NumPy array.
    """
    _check_pair(lower, upper, "lower/upper")
    matrix = np.zeros((n, n))
    idx = np.arange(n)
    matrix[idx, idx] = -2.0
    matrix[idx[1:], idx[:-1]] = 1.0
    matrix[idx[:-1], idx[1:]] = 1.0
    if lower == "periodic":
        matrix[0, n - 1] += 1.0
        matrix[n - 1, 0] += 1.0
    else:
        matrix[0, 0] += 1.0 if lower == "neumann" else -1.0
        matrix[n - 1, n - 1] += 1.0 if upper == "neumann" else -1.0
    return matrix / spacing**2


def _check_pair(lower: str, upper: str, what: str) -> None:
    for kind in (lower, upper):
        if kind not in _KINDS:
            raise ValueError(f"{what}: boundary kind must be one of {_KINDS}, got {kind!r}")
    if (lower == "periodic") != (upper == "periodic"):
        raise ValueError(f"{what}: periodic must be paired, got ({lower!r}, {upper!r})")


@functools.lru_cache(maxsize=64)
def _axis_basis(
    n: int, spacing: float, lower: str, upper: str, method: str, half: bool
) -> tuple[str, np.ndarray, np.ndarray | None]:
    """(transform, eigenvalues in transform order, dense eigenvectors or None), float64.

    ``half``: a periodic axis transformed by the ``rfft`` (the half spectrum)."""
    scale = 4.0 / spacing**2
    k = np.arange(n)
    if method == "fast":
        if lower == upper == "periodic":
            m = np.arange(n // 2 + 1) if half else k  # sin² is symmetric: fft order
            return "fft", -scale * np.sin(np.pi * m / n) ** 2, None
        if lower == upper == "neumann":
            return "dct", -scale * np.sin(np.pi * k / (2 * n)) ** 2, None
        if lower == upper == "dirichlet":
            return "dst", -scale * np.cos(np.pi * k / (2 * n)) ** 2, None
        if {lower, upper} == {"neumann", "dirichlet"}:
            kind = "dct4" if lower == "neumann" else "dct4-flipped"
            return kind, -scale * np.sin(np.pi * (2 * k + 1) / (4 * n)) ** 2, None
    eigenvalues, vectors = np.linalg.eigh(laplacian_1d(n, spacing, lower, upper))
    if "dirichlet" not in (lower, upper):
        eigenvalues[np.argmin(np.abs(eigenvalues))] = 0.0  # the constant mode, exactly
    return "dense", eigenvalues, vectors


def _dense(x: Array, matrix: np.ndarray, axis: int) -> Array:
    m = jnp.asarray(matrix, x.dtype)
    y = jnp.tensordot(m, x, axes=([1], [axis]), precision=jax.lax.Precision.HIGHEST)
    return jnp.moveaxis(y, 0, axis)


def _dct4(x: Array, axis: int) -> Array:
    """The orthonormal DCT-IV along ``axis`` (its own inverse), through one complex FFT of
    length ``2n``: with ``θ = π (2i + 1)(2k + 1) / 4n = π (ik/n + i/2n + k/2n + 1/4n)``,
    ``X_k = √(2/n) Re[e^{-iπ(2k+1)/4n} Σ_i x_i e^{-iπ i/2n} e^{-2πi ik/2n}]``."""
    n = x.shape[axis]
    real = x.dtype
    complex_dtype = jnp.complex128 if real == jnp.float64 else jnp.complex64
    shape = [1] * x.ndim
    shape[axis] = n
    i = np.arange(n)
    pre = jnp.asarray(np.exp(-0.5j * np.pi * i / n), complex_dtype).reshape(shape)
    post = jnp.asarray(
        np.sqrt(2.0 / n) * np.exp(-0.25j * np.pi * (2 * i + 1) / n), complex_dtype
    ).reshape(shape)
    spectrum = jnp.fft.fft(x.astype(complex_dtype) * pre, n=2 * n, axis=axis)
    return jnp.real(jax.lax.slice_in_dim(spectrum, 0, n, axis=axis) * post).astype(real)


def _alternating(n: int, axis: int, ndim: int, dtype) -> Array:
    shape = [1] * ndim
    shape[axis] = n
    return jnp.asarray((-1.0) ** np.arange(n), dtype).reshape(shape)


class PoissonSolver(eqx.Module):
    r"""Direct solver of ``L φ = f`` for the cell-centred Laplacian on a box (fast diagonalisation).

    ``L`` is the standard 5-point (7-point in 3D) Laplacian at cell centres, with on every
    side of the box a homogeneous condition: ``"neumann"`` (``∂φ/∂n = 0`` at the face: a
    wall, an inflow), ``"dirichlet"`` (``φ = 0`` at the face: an outflow) or
    ``"periodic"``. It is the operator ``D G`` of a MAC projection (divergence of the face
    gradient), so a velocity corrected by ``-dt G φ`` is discretely divergence-free to
    round-off. The solve is exact (no iteration): per axis a transform into the
    eigenbasis of the 1D operator (see the module notes), a division by the eigenvalue
    sums, and the inverse transforms.

    Without any Dirichlet side ``L`` is singular (constants are in its null space): the
    solve then returns the minimum-norm solution, ``φ`` of zero mean, for the right-hand
    side with its mean removed (``f`` is compatible when its mean is zero).

    Args:
        grid: the grid (1 to 3 axes); ``φ`` and ``f`` have shape ``grid.shape``.
        boundaries: per axis a pair ``(lower, upper)`` of kinds.
        method: ``"fast"`` (FFT, DCT-II, DST-II or DCT-IV per axis: ``O(n log n)``) or
            ``"dense"`` (dense eigenvectors on every axis, applied by matrix products).

    Example:
        >>> grid = Grid((32, 16), (2.0, 1.0))
        >>> poisson = PoissonSolver(grid, (("neumann", "dirichlet"), ("neumann", "neumann")))
        >>> phi = poisson.solve(jnp.ones(grid.shape))

    References:
        Lynch, Rice and Thomas (1964), "Direct solution of partial difference equations by
        tensor product methods", Numer. Math. 6, 185-199. Schumann and Sweet (1988), "Fast
        Fourier transforms for direct solution of Poisson's equation with staggered
        boundary conditions", J. Comput. Phys. 75, 123-137.
    """

    grid: Grid = eqx.field(static=True)
    boundaries: tuple[tuple[str, str], ...] = eqx.field(static=True)
    method: str = eqx.field(static=True)

    def __init__(
        self,
        grid: Grid,
        boundaries: Sequence[Sequence[str]],
        method: str = "fast",
    ):
        pairs = tuple((str(lo), str(hi)) for lo, hi in boundaries)
        if len(pairs) != grid.ndim:
            raise ValueError(
                f"boundaries must hold one (lower, upper) pair per axis of the grid "
                f"({grid.ndim}), got {len(pairs)}"
            )
        for axis, (lo, hi) in enumerate(pairs):
            _check_pair(lo, hi, f"boundaries of axis {axis}")
            if lo == "periodic" and grid.shape[axis] < 2:
                raise ValueError(f"boundaries: a periodic axis needs 2 cells (axis {axis})")
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
        self.grid = grid
        self.boundaries = pairs
        self.method = method

    @property
    def singular(self) -> bool:
        """Whether ``L`` has the constants in its null space (no Dirichlet side)."""
        return not any("dirichlet" in pair for pair in self.boundaries)

    def _bases(self):
        periodic = [a for a, (lo, _) in enumerate(self.boundaries) if lo == "periodic"]
        last = periodic[-1] if periodic else -1
        return [
            _axis_basis(n, h, lo, hi, self.method, axis == last)
            for axis, (n, h, (lo, hi)) in enumerate(
                zip(self.grid.shape, self.grid.spacing, self.boundaries, strict=True)
            )
        ]

    def laplacian(self, phi: Float[Array, "..."]) -> Float[Array, "..."]:
        """Apply ``L`` (the 5-point Laplacian with the homogeneous conditions) to ``φ``.

        Args:
            phi: shape ``grid.shape``.

        Returns:
            ``L φ``, shape ``grid.shape``.
        """
        self._check_shape(phi, "phi")
        out = jnp.zeros_like(phi)
        for axis, (h, (lo, hi)) in enumerate(zip(self.grid.spacing, self.boundaries, strict=True)):
            if lo == "periodic":
                before = jnp.roll(phi, 1, axis)
                after = jnp.roll(phi, -1, axis)
            else:
                first = jax.lax.slice_in_dim(phi, 0, 1, axis=axis)
                last = jax.lax.slice_in_dim(phi, -1, None, axis=axis)
                ghost_lo = first if lo == "neumann" else -first
                ghost_hi = last if hi == "neumann" else -last
                n = phi.shape[axis]
                before = jnp.concatenate(
                    [ghost_lo, jax.lax.slice_in_dim(phi, 0, n - 1, axis=axis)], axis
                )
                after = jnp.concatenate(
                    [jax.lax.slice_in_dim(phi, 1, n, axis=axis), ghost_hi], axis
                )
            out = out + (before - 2 * phi + after) / jnp.asarray(h**2, phi.dtype)
        return out

    def solve(self, rhs: Float[Array, "..."]) -> Float[Array, "..."]:
        """Solve ``L φ = f``.

        Args:
            rhs: ``f``, shape ``grid.shape``, a floating dtype (the result has the same).

        Returns:
            ``φ``, shape ``grid.shape`` (of zero mean when ``L`` is singular).
        """
        self._check_shape(rhs, "rhs")
        if not jnp.issubdtype(rhs.dtype, jnp.floating):
            raise ValueError(f"rhs must be a floating array, got {rhs.dtype}")
        dtype = rhs.dtype
        ndim = self.grid.ndim
        bases = self._bases()
        periodic = [a for a, (kind, _, _) in enumerate(bases) if kind == "fft"]
        x = rhs
        for axis, (kind, _, vectors) in enumerate(bases):
            if kind == "dct":
                x = dct(x, type=2, axis=axis, norm="ortho")
            elif kind == "dst":
                sign = _alternating(x.shape[axis], axis, ndim, dtype)
                x = dct(x * sign, type=2, axis=axis, norm="ortho")
            elif kind == "dct4":
                x = _dct4(x, axis)
            elif kind == "dct4-flipped":
                x = _dct4(jnp.flip(x, axis), axis)
            elif kind == "dense":
                assert vectors is not None
                x = _dense(x, vectors.T, axis)
        # the eigenvalue sums, in transform order; the last periodic axis is the rfft one
        total = np.zeros((1,) * ndim)
        for axis, (_, eigenvalues, _) in enumerate(bases):
            shape = [1] * ndim
            shape[axis] = eigenvalues.size
            total = total + eigenvalues.reshape(shape)
        if self.singular:  # the constant mode: minimum-norm solution
            total[tuple(int(np.argmin(np.abs(lam))) for _, lam, _ in bases)] = np.inf
        inverse = 1.0 / total
        if periodic:
            sizes = [self.grid.shape[a] for a in periodic]
            x = jnp.fft.rfftn(x, axes=periodic)
            x = x * jnp.asarray(inverse, x.dtype)
            x = jnp.fft.irfftn(x, s=sizes, axes=periodic).astype(dtype)
        else:
            x = x * jnp.asarray(inverse, dtype)
        for axis, (kind, _, vectors) in enumerate(bases):
            if kind == "dct":
                x = idct(x, type=2, axis=axis, norm="ortho")
            elif kind == "dst":
                sign = _alternating(x.shape[axis], axis, ndim, dtype)
                x = idct(x, type=2, axis=axis, norm="ortho") * sign
            elif kind == "dct4":
                x = _dct4(x, axis)
            elif kind == "dct4-flipped":
                x = jnp.flip(_dct4(x, axis), axis)
            elif kind == "dense":
                assert vectors is not None
                x = _dense(x, vectors, axis)
        return x

    def _check_shape(self, array: Array, name: str) -> None:
        if array.shape != self.grid.shape:
            raise ValueError(f"{name} must have shape {self.grid.shape}, got {array.shape}")
