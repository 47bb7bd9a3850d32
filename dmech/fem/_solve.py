"""Differentiable sparse linear solves: a host direct solver and a jit-able PCG."""

from __future__ import annotations

import collections
import functools
import itertools
import threading

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._custom_types import Array, Float
from ._sparse import SparseMatrix, SparsityPattern


class AbstractLinearSolver(eqx.Module):
    """How :func:`linear_solve` solves ``A x = b``; the solvers are final subclasses."""


class SparseLU(AbstractLinearSolver):
    """Sparse direct solve on the host with SciPy's SuperLU.

    The factorisation is computed once per forward solve and kept for the adjoint solve
    (``Aᵀ λ = ḡ``) of the same matrix, so a gradient costs one extra pair of triangular
    solves, not a second factorisation. Runs through ``jax.pure_callback``: works under
    ``jit``, ``grad`` and ``vmap`` (sequentially) but on the CPU.

    Attributes:
        symmetric: the matrix is structurally symmetric with a dominant diagonal (FE
            stiffness matrices): use SuperLU's symmetric mode (minimum degree on ``A + Aᵀ``,
            diagonal pivoting), much faster on such matrices.
    """

    symmetric: bool = eqx.field(static=True, default=True)


class Pardiso(AbstractLinearSolver):
    """Sparse direct solve on the host with Intel MKL PARDISO (``pip install pypardiso``).

    Faster than SuperLU on FE matrices (nested-dissection ordering, multithreaded), in 3D
    above all. The factorisation is kept for the adjoint solve (transposed on the same
    factors). Solves in float64 (float32 inputs are promoted and the result cast back).

    Attributes:
        positive_definite: the matrix is symmetric positive definite (stiffness matrices with
            enough supports): Cholesky, about 1.3x faster than LU. The solve then uses the
            symmetric part ``(A + Aᵀ)/2`` (and so does its gradient); a matrix that is not
            positive definite reports a failed solve.
    """

    positive_definite: bool = eqx.field(static=True, default=True)

    @property
    def solves_symmetric_part(self) -> bool:
        return self.positive_definite


class PCG(AbstractLinearSolver):
    """Jacobi-preconditioned conjugate gradients, jit-compiled (for GPUs and large 3D).

    For symmetric positive definite matrices. Differentiated implicitly by lineax (one more
    CG solve with the same operator), never by unrolling the iterations.

    Attributes:
        rtol, atol: stop when ``‖r‖ ≤ atol + rtol ‖b‖`` (max norm).
        max_steps: iteration budget; reaching it is an error (``throw=True``).
        jacobi: precondition with the inverse diagonal.
    """

    rtol: float = eqx.field(static=True, default=1e-10)
    atol: float = eqx.field(static=True, default=0.0)
    max_steps: int | None = eqx.field(static=True, default=None)
    jacobi: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        if not self.rtol >= 0 or not self.atol >= 0 or self.rtol + self.atol <= 0:
            raise ValueError(
                f"PCG: need rtol, atol >= 0 and one > 0 (got {self.rtol}, {self.atol})"
            )
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"PCG: max_steps must be positive, got {self.max_steps}")


def linear_solve(
    matrix: SparseMatrix,
    rhs: Float[Array, " n"],
    solver: AbstractLinearSolver = SparseLU(),
    *,
    throw: bool = True,
) -> Float[Array, " n"]:
    """Solve ``A x = b`` for a sparse matrix, differentiable by the adjoint method.

    The gradient of a scalar ``J(x)`` flows back as ``λ = A⁻ᵀ ∂J/∂x``, giving
    ``∂J/∂b = λ`` and ``∂J/∂A_ij = -λ_i x_j`` for every stored entry.

    Args:
        matrix: the sparse matrix ``A`` (values are differentiable).
        rhs: the right-hand side ``b``, shape ``(n,)``.
        solver: :class:`SparseLU` (default), :class:`Pardiso` or :class:`PCG`.
        throw: raise when the solve fails (singular matrix, CG not converged) instead of
            returning NaN; the error is raised at run time from inside ``jit``.

    Returns:
        ``x``, shape ``(n,)``, in the dtype of ``matrix.data``.
    """
    n = matrix.shape[0]
    if rhs.shape != (n,):
        raise ValueError(f"rhs must have shape ({n},), got {rhs.shape}")
    rhs = rhs.astype(matrix.data.dtype)
    if isinstance(solver, SparseLU | Pardiso):
        if isinstance(solver, Pardiso):
            _import_pypardiso()  # a clear error before compiling
        x = _direct_solve(matrix.pattern, solver, matrix.data, rhs)
        if throw:
            x = eqx.error_if(
                x,
                ~jnp.all(jnp.isfinite(x)),
                f"linear_solve: the matrix is singular ({type(solver).__name__})",
            )
        return x
    if isinstance(solver, PCG):
        return _pcg_solve(matrix, rhs, solver, throw)
    raise TypeError(f"solver must be SparseLU, Pardiso or PCG, got {type(solver).__name__}")


# --- direct solves on the host, with the factorisation kept for the adjoint --------------------

_FACTORS: collections.OrderedDict[int, _Factor] = collections.OrderedDict()
_FACTORS_KEPT = 2
_FACTOR_IDS = itertools.count(1)
_LOCK = threading.Lock()


class _Factor:
    """A factorised matrix that solves ``A x = b`` and ``Aᵀ x = b``."""

    def __init__(self, pattern: SparsityPattern, solver: AbstractLinearSolver, data: np.ndarray):
        csr = sp.csr_matrix((data, pattern.indices, pattern.indptr), shape=pattern.shape)
        self.dtype = data.dtype
        if isinstance(solver, Pardiso):
            pypardiso = _import_pypardiso()
            if solver.positive_definite:  # real SPD: PARDISO reads the upper triangle
                sym = (csr + csr.T) * 0.5  # of the symmetric part, as documented
                self.csr = sp.triu(sym, format="csr").astype(np.float64)
                self.csc_transpose = self.csr  # A = Aᵀ
                self.pardiso = pypardiso.PyPardisoSolver(mtype=2)
            else:
                self.csr = sp.csr_matrix(csr, dtype=np.float64)
                # The same arrays read as CSC are Aᵀ: PARDISO solves transposed on the
                # factors of A (it recognises the arrays and skips the factorisation).
                self.csc_transpose = sp.csc_matrix(
                    (self.csr.data, self.csr.indices, self.csr.indptr), shape=pattern.shape
                )
                self.pardiso = pypardiso.PyPardisoSolver(mtype=11)
            self.csr.sort_indices()
            self.pardiso.set_statistical_info_off()
            self.pardiso.factorize(self.csr)
            self.lu = None
        elif isinstance(solver, SparseLU):
            csc = sp.csc_matrix(csr)
            if solver.symmetric:
                self.lu = spla.splu(
                    csc,
                    permc_spec="MMD_AT_PLUS_A",
                    diag_pivot_thresh=0.0,
                    options={"SymmetricMode": True},
                )
            else:
                self.lu = spla.splu(csc, permc_spec="COLAMD")
        else:
            raise TypeError(f"not a direct solver: {solver!r}")

    def solve(self, b: np.ndarray, transpose: bool = False) -> np.ndarray:
        if self.lu is not None:
            x = self.lu.solve(b, trans="T" if transpose else "N")
        else:
            matrix = self.csc_transpose if transpose else self.csr
            try:
                x = self.pardiso.solve(matrix, np.asarray(b, np.float64))
            except _SolveFailure:  # e.g. not positive definite
                x = np.full(b.shape, np.nan)
        return np.asarray(x).astype(b.dtype)

    def free(self) -> None:
        if self.lu is None:
            self.pardiso.free_memory(everything=True)


def _factorise(pattern: SparsityPattern, solver: AbstractLinearSolver, data: np.ndarray):
    """The factorisation of ``A``, or None when it is singular."""
    try:
        factor = _Factor(pattern, solver, data)
    except _SolveFailure:  # SuperLU "exactly singular"; PARDISO errors
        return None
    return factor


def _pardiso_error() -> tuple[type[BaseException], ...]:
    try:
        from pypardiso.pardiso_wrapper import PyPardisoError
    except ImportError:
        return ()
    return (PyPardisoError,)


# SuperLU: RuntimeError("exactly singular"); pypardiso: ValueError (empty rows), PyPardisoError.
_SolveFailure: tuple[type[BaseException], ...] = (RuntimeError, ValueError, *_pardiso_error())


def _import_pypardiso():
    try:
        import pypardiso
    except ImportError:
        raise ImportError(
            "solver=Pardiso() needs pypardiso (Intel MKL PARDISO): pip install 'dmech[fast]'"
        ) from None
    return pypardiso


# Arrays cross the callback boundary as raw bytes (uint8), bitcast on both sides: the callback
# runs on XLA's threads, where the caller's thread-local `jax.enable_x64` context does not apply
# and float64 arrays would otherwise be narrowed to float32 (inputs) or rejected (outputs).


def _to_bytes(x):
    """Traced side: an array as uint8 of shape ``(*x.shape, itemsize)``."""
    return jax.lax.bitcast_convert_type(x, jnp.uint8)


def _from_bytes(raw, dtype):
    """Traced side: undo :func:`_to_bytes`."""
    return jax.lax.bitcast_convert_type(raw, dtype)


def _host_array(raw, dtype) -> np.ndarray:
    """Host side: the array behind raw bytes."""
    raw = np.ascontiguousarray(np.asarray(raw))
    return raw.view(np.dtype(dtype)).reshape(raw.shape[:-1])


def _as_bytes(x: np.ndarray) -> np.ndarray:
    """Host side: an array as raw bytes."""
    return np.ascontiguousarray(x).view(np.uint8).reshape(*x.shape, x.dtype.itemsize)


def _bytes_struct(like) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct((*like.shape, jnp.dtype(like.dtype).itemsize), jnp.uint8)


def _host_solve(pattern, solver, dtype, data, rhs):
    data, rhs = _host_array(data, dtype), _host_array(rhs, dtype)
    factor = _factorise(pattern, solver, data)
    x = factor.solve(rhs) if factor is not None else np.full_like(rhs, np.nan)
    if factor is None or not np.all(np.isfinite(x)):
        return _as_bytes(np.full_like(rhs, np.nan)), np.int32(0)
    with _LOCK:
        fid = next(_FACTOR_IDS) % (2**31 - 1)
        _FACTORS[fid] = factor
        while len(_FACTORS) > _FACTORS_KEPT:
            _FACTORS.popitem(last=False)[1].free()
    return _as_bytes(x), np.int32(fid)


def _host_adjoint(pattern, solver, dtype, fid, data, g):
    g = _host_array(g, dtype)
    with _LOCK:
        factor = _FACTORS.get(int(fid))
    if factor is None:  # evicted (or solved in another process): factorise again
        factor = _factorise(pattern, solver, _host_array(data, dtype))
        if factor is None:
            return _as_bytes(np.full_like(g, np.nan))
    return _as_bytes(factor.solve(g, transpose=True))


def _callback_solve(pattern, solver, data, rhs):
    shapes = (_bytes_struct(rhs), jax.ShapeDtypeStruct((), jnp.int32))
    raw, fid = jax.pure_callback(
        functools.partial(_host_solve, pattern, solver, jnp.dtype(rhs.dtype).name),
        shapes,
        _to_bytes(data),
        _to_bytes(rhs),
        vmap_method="sequential",
    )
    return _from_bytes(raw, rhs.dtype), fid


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _direct_solve(pattern, solver, data, rhs):
    x, _ = _callback_solve(pattern, solver, data, rhs)
    return x


def _direct_solve_fwd(pattern, solver, data, rhs):
    x, fid = _callback_solve(pattern, solver, data, rhs)
    return x, (data, x, fid)


def _direct_solve_bwd(pattern, solver, residuals, g):
    data, x, fid = residuals
    raw = jax.pure_callback(
        functools.partial(_host_adjoint, pattern, solver, jnp.dtype(g.dtype).name),
        _bytes_struct(g),
        fid,
        _to_bytes(data),
        _to_bytes(g),
        vmap_method="sequential",
    )
    lam = _from_bytes(raw, g.dtype)
    rows = jnp.asarray(pattern.rows)
    cols = jnp.asarray(pattern.indices)
    if getattr(solver, "solves_symmetric_part", False):  # x = ((A + Aᵀ)/2)⁻¹ b
        return -0.5 * (lam[rows] * x[cols] + lam[cols] * x[rows]), lam
    return -lam[rows] * x[cols], lam


_direct_solve.defvjp(_direct_solve_fwd, _direct_solve_bwd)


# --- PCG through lineax -------------------------------------------------------------------------


def _matvec(matrix: SparseMatrix, x):
    return matrix @ x


def _pcg_solve(matrix: SparseMatrix, rhs, solver: PCG, throw: bool):
    n = matrix.shape[0]
    structure = jax.ShapeDtypeStruct((n,), matrix.data.dtype)
    operator = lx.FunctionLinearOperator(
        eqx.Partial(_matvec, matrix), structure, tags=lx.positive_semidefinite_tag
    )
    options = {}
    if solver.jacobi:
        # The preconditioner changes the iterations, not the solution: no gradient through it.
        inverse_diagonal = jax.lax.stop_gradient(1.0 / matrix.diagonal())
        options["preconditioner"] = lx.TaggedLinearOperator(
            lx.DiagonalLinearOperator(inverse_diagonal), lx.positive_semidefinite_tag
        )
    cg = lx.CG(
        rtol=solver.rtol,
        atol=solver.atol,
        max_steps=solver.max_steps if solver.max_steps is not None else 10 * n,
    )
    return lx.linear_solve(operator, rhs, cg, options=options, throw=throw).value
