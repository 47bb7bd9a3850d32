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
        solver: :class:`SparseLU` (default) or :class:`PCG`.
        throw: raise when the solve fails (singular matrix, CG not converged) instead of
            returning NaN; the error is raised at run time from inside ``jit``.

    Returns:
        ``x``, shape ``(n,)``, in the dtype of ``matrix.data``.
    """
    n = matrix.shape[0]
    if rhs.shape != (n,):
        raise ValueError(f"rhs must have shape ({n},), got {rhs.shape}")
    rhs = rhs.astype(matrix.data.dtype)
    if isinstance(solver, SparseLU):
        x = _lu_solve(matrix.pattern, solver.symmetric, matrix.data, rhs)
        if throw:
            x = eqx.error_if(
                x, ~jnp.all(jnp.isfinite(x)), "linear_solve: the matrix is singular (SparseLU)"
            )
        return x
    if isinstance(solver, PCG):
        return _pcg_solve(matrix, rhs, solver, throw)
    raise TypeError(f"solver must be SparseLU or PCG, got {type(solver).__name__}")


# --- SuperLU on the host, with the factorisation kept for the adjoint --------------------------

_FACTORS: collections.OrderedDict[int, spla.SuperLU] = collections.OrderedDict()
_FACTORS_KEPT = 4
_FACTOR_IDS = itertools.count(1)
_LOCK = threading.Lock()


def _factorise(pattern: SparsityPattern, symmetric: bool, data: np.ndarray):
    matrix = sp.csc_matrix(
        sp.csr_matrix((data, pattern.indices, pattern.indptr), shape=pattern.shape)
    )
    if symmetric:
        return spla.splu(
            matrix,
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
    return spla.splu(matrix, permc_spec="COLAMD")


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


def _host_solve(pattern, symmetric, dtype, data, rhs):
    data, rhs = _host_array(data, dtype), _host_array(rhs, dtype)
    try:
        lu = _factorise(pattern, symmetric, data)
        x = lu.solve(rhs).astype(rhs.dtype)
    except RuntimeError:  # "Factor is exactly singular"
        return _as_bytes(np.full_like(rhs, np.nan)), np.int32(0)
    with _LOCK:
        fid = next(_FACTOR_IDS) % (2**31 - 1)
        _FACTORS[fid] = lu
        while len(_FACTORS) > _FACTORS_KEPT:
            _FACTORS.popitem(last=False)
    return _as_bytes(x), np.int32(fid)


def _host_adjoint(pattern, symmetric, dtype, fid, data, g):
    g = _host_array(g, dtype)
    with _LOCK:
        lu = _FACTORS.get(int(fid))
    if lu is None:  # evicted (or solved in another process): factorise again
        try:
            lu = _factorise(pattern, symmetric, _host_array(data, dtype))
        except RuntimeError:
            return _as_bytes(np.full_like(g, np.nan))
    return _as_bytes(lu.solve(g, trans="T").astype(g.dtype))


def _callback_solve(pattern, symmetric, data, rhs):
    shapes = (_bytes_struct(rhs), jax.ShapeDtypeStruct((), jnp.int32))
    raw, fid = jax.pure_callback(
        functools.partial(_host_solve, pattern, symmetric, jnp.dtype(rhs.dtype).name),
        shapes,
        _to_bytes(data),
        _to_bytes(rhs),
        vmap_method="sequential",
    )
    return _from_bytes(raw, rhs.dtype), fid


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _lu_solve(pattern, symmetric, data, rhs):
    x, _ = _callback_solve(pattern, symmetric, data, rhs)
    return x


def _lu_solve_fwd(pattern, symmetric, data, rhs):
    x, fid = _callback_solve(pattern, symmetric, data, rhs)
    return x, (data, x, fid)


def _lu_solve_bwd(pattern, symmetric, residuals, g):
    data, x, fid = residuals
    raw = jax.pure_callback(
        functools.partial(_host_adjoint, pattern, symmetric, jnp.dtype(g.dtype).name),
        _bytes_struct(g),
        fid,
        _to_bytes(data),
        _to_bytes(g),
        vmap_method="sequential",
    )
    lam = _from_bytes(raw, g.dtype)
    rows = jnp.asarray(pattern.rows)
    cols = jnp.asarray(pattern.indices)
    return -lam[rows] * x[cols], lam


_lu_solve.defvjp(_lu_solve_fwd, _lu_solve_bwd)


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
