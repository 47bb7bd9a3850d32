"""Differentiable sparse linear solves: a host direct solver and a jit-able PCG."""

from __future__ import annotations

import collections
import functools
import itertools
import os
import threading

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._custom_types import Array, Float
from .._host_callback import host_callback
from ._sparse import SparseMatrix, SparsityPattern, row_padded_matvec


class AbstractLinearSolver(eqx.Module):
    """How :func:`linear_solve` solves ``A x = b``; the solvers are final subclasses."""


class SparseLU(AbstractLinearSolver):
    """Sparse direct solve on the host with SciPy's SuperLU.

    The factorisation is computed once per forward solve and kept for the adjoint solve
    (``Aᵀ λ = ḡ``) of the same matrix, so a gradient costs one extra pair of triangular
    solves, not a second factorisation. Runs as a host callback: works under ``jit``,
    ``grad`` and ``vmap`` (sequentially) but on the CPU.

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

    For symmetric positive definite matrices. Runs as one ``lax.while_loop`` on the device,
    with the sparse product as its only kernel. Differentiated by the adjoint method (one
    more PCG solve with the same, symmetric, matrix), never by unrolling the iterations.

    Attributes:
        rtol, atol: stop when ``‖b - A x‖₂ ≤ max(atol, rtol ‖b‖₂)`` (the recurred residual).
        max_steps: iteration budget (default ``10 n``); reaching it is an error
            (``throw=True``), as is a direction of non-positive curvature (``A`` not SPD).
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
        return _pcg_differentiable(solver, throw, matrix, rhs)
    raise TypeError(f"solver must be SparseLU, Pardiso or PCG, got {type(solver).__name__}")


# --- direct solves on the host, with the factorisation kept for the adjoint --------------------

# Factorisations kept for adjoint solves, oldest first. A differentiated solve keeps its factors
# here until its adjoint solve has run (then they are freed: one backward pass per forward pass,
# as in grad, value_and_grad and, batched into one call, jacrev), or until newer ones push them
# out. A plain (undifferentiated) solve keeps nothing. An adjoint whose factors are gone
# (evicted, or a second call of the same vjp) factorises again: slower, never wrong. Factors can
# be large (GBs in 3D), so at most _FACTORS_KEPT live at once, the one being built included (one
# more while evicted factors are rebuilt for an adjoint solve).
_FACTORS: collections.OrderedDict[int, _Factor] = collections.OrderedDict()
_FACTORS_KEPT = 2
_FACTOR_IDS = itertools.count(1)
_LOCK = threading.Lock()
# For benchmarks and tests: factorisations computed, adjoint solves on kept factors, and the
# memory of PARDISO's last factorisation.
_STATS: collections.Counter[str] = collections.Counter()


class _Factor:
    """A factorised matrix that solves ``A x = b`` and ``Aᵀ x = b``."""

    def __init__(self, pattern: SparsityPattern, solver: AbstractLinearSolver, data: np.ndarray):
        self.dtype = data.dtype
        self.evicted = False  # no longer kept: freed when no solve uses them
        self.users = 0  # adjoint solves running on these factors
        self.lu = self.pardiso = None
        if isinstance(solver, Pardiso):
            if solver.positive_definite:  # real SPD: PARDISO reads the upper triangle
                self.csr = _upper_symmetric_part(pattern, data)  # of (A + Aᵀ)/2, as documented
                self.csc_transpose = self.csr  # A = Aᵀ
                self.pardiso = _pardiso_solver(mtype=2)
            else:
                self.csr = sp.csr_matrix(
                    (np.asarray(data, np.float64), pattern.indices, pattern.indptr),
                    shape=pattern.shape,
                )
                # The same arrays read as CSC are Aᵀ: PARDISO solves transposed on the
                # factors of A (it recognises the arrays and skips the factorisation).
                self.csc_transpose = sp.csc_matrix(
                    (self.csr.data, self.csr.indices, self.csr.indptr), shape=pattern.shape
                )
                self.pardiso = _pardiso_solver(mtype=11)
            self.csr.sort_indices()
            self.pardiso.set_statistical_info_off()
            try:
                self.pardiso.factorize(self.csr)
            except BaseException:
                self.free()  # PARDISO's partial factors are not garbage collected
                raise
            # PARDISO's peak memory in KiB: analysis (iparm[14]), or kept + factors (15 + 16).
            iparm = self.pardiso.iparm
            _STATS["pardiso_factor_kb"] = int(max(iparm[14], iparm[15] + iparm[16]))
        elif isinstance(solver, SparseLU):
            csc = sp.csc_matrix(
                sp.csr_matrix((data, pattern.indices, pattern.indptr), shape=pattern.shape)
            )
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
            if self.pardiso is None:
                raise RuntimeError("these factors were freed")
            matrix = self.csc_transpose if transpose else self.csr
            try:
                x = self.pardiso.solve(matrix, np.asarray(b, np.float64))
            except _SolveFailure:  # e.g. not positive definite
                x = np.full(b.shape, np.nan)
        return np.asarray(x).astype(b.dtype)

    def free(self) -> None:
        """Release the factors now (MKL's memory is not garbage collected)."""
        if self.pardiso is not None:
            self.pardiso.free_memory(everything=True)
        self.pardiso = self.lu = self.csr = self.csc_transpose = None


class _UpperSymmetric:
    """How the upper triangle of ``(A + Aᵀ)/2`` reads off the stored values of ``A``, for a
    structurally symmetric pattern (every FE matrix): its CSR structure and, for each of its
    entries, the positions of ``A_ij`` and ``A_ji`` among ``A``'s values."""

    def __init__(self, pattern: SparsityPattern):
        nnz = pattern.nnz
        index = np.int32 if nnz < 2**31 else np.int64
        # The position of A_ji for every stored A_ij: CSR -> CSC is O(nnz) in SciPy.
        positions = sp.csr_matrix(
            (np.arange(nnz, dtype=index), pattern.indices, pattern.indptr), shape=pattern.shape
        ).T.tocsr()
        positions.sort_indices()
        self.symmetric = np.array_equal(positions.indptr, pattern.indptr) and np.array_equal(
            positions.indices, pattern.indices
        )
        if not self.symmetric:
            return
        rows, cols = pattern.rows, pattern.indices
        self.upper = np.flatnonzero(cols >= rows).astype(index)
        self.mirror = positions.data[self.upper]
        del positions
        self.indices = np.ascontiguousarray(cols[self.upper], dtype=np.int32)
        self.indptr = np.zeros(pattern.shape[0] + 1, np.int32)
        np.cumsum(np.bincount(rows[self.upper], minlength=pattern.shape[0]), out=self.indptr[1:])
        self.shape = pattern.shape


_UPPER: collections.OrderedDict[tuple, _UpperSymmetric] = collections.OrderedDict()


def _upper_symmetric_part(pattern: SparsityPattern, data: np.ndarray) -> sp.csr_matrix:
    """The upper triangle of ``(A + Aᵀ)/2`` in float64 CSR, without forming ``A + Aᵀ``."""
    # Keyed by the CSR structure alone (content-hashed), not by the whole pattern.
    key = (pattern.shape, pattern._indptr, pattern._indices)
    with _LOCK:
        upper = _UPPER.get(key)
    if upper is None:
        upper = _UpperSymmetric(pattern)
        with _LOCK:
            _UPPER[key] = upper
            while len(_UPPER) > 2:
                _UPPER.popitem(last=False)
    if not upper.symmetric:  # general patterns: form the symmetric part
        csr = sp.csr_matrix((data, pattern.indices, pattern.indptr), shape=pattern.shape)
        return sp.triu((csr + csr.T) * 0.5, format="csr").astype(np.float64)
    values = np.asarray(data, np.float64)
    upper_values = values[upper.upper]
    upper_values += values[upper.mirror]
    upper_values *= 0.5  # exact on the diagonal, where the mirror is the entry itself
    indptr, indices = upper.indptr, upper.indices
    # Zero off-diagonal entries (rows and columns of Dirichlet dofs) are left out, as SciPy's
    # sum would: fewer couplings for the fill-reducing ordering. The diagonal, first in its
    # row of the upper triangle, stays.
    dropped = upper_values == 0.0
    first = indptr[:-1][np.diff(indptr) > 0]
    dropped[first[indices[first] == np.flatnonzero(np.diff(indptr) > 0)]] = False
    if dropped.any():
        where = np.flatnonzero(dropped)
        row_of = np.searchsorted(indptr, where, side="right") - 1
        indptr = indptr - np.concatenate(
            ([0], np.cumsum(np.bincount(row_of, minlength=upper.shape[0])))
        ).astype(np.int32)
        kept = ~dropped
        upper_values, indices = upper_values[kept], indices[kept]
    matrix = sp.csr_matrix((upper_values, indices, indptr), shape=upper.shape)
    matrix.has_sorted_indices = True  # columns ascend within each row, as in A
    return matrix


def _factorise(pattern: SparsityPattern, solver: AbstractLinearSolver, data: np.ndarray):
    """The factorisation of ``A``, or None when it is singular."""
    _STATS["factorisations"] += 1
    try:
        factor = _Factor(pattern, solver, data)
    except _SolveFailure:  # SuperLU "exactly singular"; PARDISO errors
        return None
    return factor


def _make_room() -> None:
    """Free the oldest kept factors before a new factorisation, so that at most
    ``_FACTORS_KEPT`` live at once."""
    with _LOCK:
        while len(_FACTORS) >= _FACTORS_KEPT:
            _evict(next(iter(_FACTORS)))


def _evict(fid: int) -> None:
    """Drop kept factors (holding ``_LOCK``); freed now, or by the solve still using them."""
    factor = _FACTORS.pop(fid)
    factor.evicted = True
    if not factor.users:
        factor.free()


def _pardiso_error() -> tuple[type[BaseException], ...]:
    try:
        from pypardiso.pardiso_wrapper import PyPardisoError
    except ImportError:
        return ()
    return (PyPardisoError,)


# SuperLU: RuntimeError("exactly singular"); pypardiso: ValueError (empty rows), PyPardisoError.
_SolveFailure: tuple[type[BaseException], ...] = (RuntimeError, ValueError, *_pardiso_error())


def _pardiso_solver(mtype: int):
    """A new PARDISO handle."""
    solver = _import_pypardiso().PyPardisoSolver(mtype=mtype)
    # Without PYPARDISO_MKL_RT, pypardiso looks for MKL with a recursive glob of the environment
    # on every new solver (0.4 s here, once per factorisation): point it at the library found.
    os.environ.setdefault("PYPARDISO_MKL_RT", solver.libmkl._name)
    return solver


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
    """Host side: the array behind raw bytes, copied (the callback's operands are views of
    XLA's buffers, valid during the call only, and factors may keep the matrix)."""
    raw = np.array(raw, order="C", copy=True)
    return raw.view(np.dtype(dtype)).reshape(raw.shape[:-1])


def _as_bytes(x: np.ndarray) -> np.ndarray:
    """Host side: an array as raw bytes."""
    return np.ascontiguousarray(x).view(np.uint8).reshape(*x.shape, x.dtype.itemsize)


def _bytes_struct(like) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct((*like.shape, jnp.dtype(like.dtype).itemsize), jnp.uint8)


def _host_solve(pattern, solver, dtype, keep, data, rhs):
    """Factorise and solve; with ``keep``, store the factors for the adjoint solve and return
    their id (0: none kept)."""
    data, rhs = _host_array(data, dtype), _host_array(rhs, dtype)
    _make_room()
    factor = _factorise(pattern, solver, data)
    x = factor.solve(rhs) if factor is not None else np.full_like(rhs, np.nan)
    if factor is None or not np.all(np.isfinite(x)) or not keep:
        if factor is not None:
            factor.free()
        if factor is None or not np.all(np.isfinite(x)):
            x = np.full_like(rhs, np.nan)
        return _as_bytes(x), np.int32(0)
    with _LOCK:
        fid = next(_FACTOR_IDS) % (2**31 - 1)
        _FACTORS[fid] = factor
    return _as_bytes(x), np.int32(fid)


def _host_adjoint(pattern, solver, dtype, fid, data, g):
    """Adjoint solves ``Aᵀ λ = g`` on the factors the forward solve kept, which are then freed.

    Under ``vmap`` the arguments carry leading batch axes (``vmap_method="expand_dims"``: size 1
    where unbatched): cotangents that share factors (``jacrev``) are solved together, as one
    solve with many right-hand sides.
    """
    g, data, fid = _host_array(g, dtype), _host_array(data, dtype), np.asarray(fid)
    lead = np.broadcast_shapes(fid.shape, data.shape[:-1], g.shape[:-1])
    n = g.shape[-1]
    rhs = np.broadcast_to(g, (*lead, n)).reshape(-1, n)
    fids = np.broadcast_to(fid, lead).reshape(-1)
    rows = np.arange(int(np.prod(data.shape[:-1]))).reshape(data.shape[:-1])
    rows = np.broadcast_to(rows, lead).reshape(-1)  # which matrix each cotangent belongs to
    data = data.reshape(-1, data.shape[-1])
    lam = np.empty_like(rhs)
    for f in np.unique(fids):
        group = np.flatnonzero(fids == f)
        with _LOCK:
            factor = _FACTORS.get(int(f))
            if factor is not None:
                factor.users += 1  # not freed under this solve by another thread
        if factor is not None:
            try:
                lam[group] = _solve_many(factor, rhs[group])
            finally:
                with _LOCK:
                    _STATS["adjoints_on_kept_factors"] += 1
                    factor.users -= 1
                    if int(f) in _FACTORS:
                        _evict(int(f))  # its adjoint is done: free the factors
                    elif not factor.users:
                        factor.free()
            continue
        # Evicted, or solved in another process: factorise again, for these solves only.
        for row in np.unique(rows[group]):
            sub = group[rows[group] == row]
            factor = _factorise(pattern, solver, data[row])
            if factor is None:
                lam[sub] = np.nan
                continue
            try:
                lam[sub] = _solve_many(factor, rhs[sub])
            finally:
                factor.free()
    return (_as_bytes(lam.reshape(*lead, n)),)


def _solve_many(factor: _Factor, rhs: np.ndarray) -> np.ndarray:
    """``Aᵀ⁻¹`` applied to every row of ``rhs`` (shape ``(k, n)``)."""
    if rhs.shape[0] == 1:
        return factor.solve(rhs[0], transpose=True)[None]
    return factor.solve(np.asfortranarray(rhs.T), transpose=True).T


def _callback_solve(pattern, solver, data, rhs, keep):
    shapes = (_bytes_struct(rhs), jax.ShapeDtypeStruct((), jnp.int32))
    raw, fid = host_callback(
        functools.partial(_host_solve, pattern, solver, jnp.dtype(rhs.dtype).name, keep),
        shapes,
        _to_bytes(data),
        _to_bytes(rhs),
        vmap_method="sequential",
    )
    return _from_bytes(raw, rhs.dtype), fid


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _direct_solve(pattern, solver, data, rhs):
    # Not differentiated: no adjoint will come, so the factors are freed at once.
    x, _ = _callback_solve(pattern, solver, data, rhs, keep=False)
    return x


def _direct_solve_fwd(pattern, solver, data, rhs):
    x, fid = _callback_solve(pattern, solver, data, rhs, keep=True)
    return x, (data, x, fid)


def _direct_solve_bwd(pattern, solver, residuals, g):
    data, x, fid = residuals
    (raw,) = host_callback(
        functools.partial(_host_adjoint, pattern, solver, jnp.dtype(g.dtype).name),
        (_bytes_struct(g),),
        fid,
        _to_bytes(data),
        _to_bytes(g),
        vmap_method="expand_dims",  # batched cotangents: one solve, many right-hand sides
    )
    lam = _from_bytes(raw, g.dtype)
    rows = jnp.asarray(pattern.rows)
    cols = jnp.asarray(pattern.indices)
    if getattr(solver, "solves_symmetric_part", False):  # x = ((A + Aᵀ)/2)⁻¹ b
        return -0.5 * (lam[rows] * x[cols] + lam[cols] * x[rows]), lam
    return -lam[rows] * x[cols], lam


_direct_solve.defvjp(_direct_solve_fwd, _direct_solve_bwd)


# --- PCG on the device --------------------------------------------------------------------------


class PCGInfo(eqx.Module):
    """What one PCG solve did: ``steps`` taken, final ``residual_norm`` ‖b - A x‖₂ (recurred),
    ``converged``, and ``positive_definite`` (false if a direction of non-positive curvature
    was met)."""

    steps: Array
    residual_norm: Array
    converged: Array
    positive_definite: Array


def pcg(
    matrix: SparseMatrix, rhs: Float[Array, " n"], solver: PCG = PCG()
) -> tuple[Float[Array, " n"], PCGInfo]:
    """Solve ``A x = b`` by PCG and return ``(x, info)``, for monitoring (not differentiable:
    use :func:`linear_solve`, which raises on failure, inside an objective)."""
    n = matrix.shape[0]
    if rhs.shape != (n,):
        raise ValueError(f"rhs must have shape ({n},), got {rhs.shape}")
    return _cg(matrix, rhs.astype(matrix.data.dtype), solver)


def _cg(matrix: SparseMatrix, b, solver: PCG):
    n = matrix.shape[0]
    max_steps = solver.max_steps if solver.max_steps is not None else 10 * n
    if solver.jacobi:
        diagonal = matrix.diagonal()
        inverse_diagonal = jnp.where(diagonal > 0, 1 / jnp.where(diagonal > 0, diagonal, 1), 1)
    else:
        inverse_diagonal = jnp.ones_like(b)
    tol = jnp.maximum(solver.atol, solver.rtol * jnp.linalg.norm(b))
    matvec = row_padded_matvec(matrix)
    z = inverse_diagonal * b
    # state: x, r, p, r·z, ‖r‖, step, curvature positive
    init = (jnp.zeros_like(b), b, z, jnp.dot(b, z), jnp.linalg.norm(b), 0, jnp.array(True))

    def cond(state):
        *_, r_norm, step, positive = state
        return (r_norm > tol) & (step < max_steps) & positive

    def body(state):
        x, r, p, rz, _, step, _ = state
        ap = matvec(p)
        curvature = jnp.dot(p, ap)
        positive = curvature > 0
        alpha = jnp.where(positive, rz / jnp.where(positive, curvature, 1), 0)
        x = x + alpha * p
        r = r - alpha * ap
        z = inverse_diagonal * r
        rz_new = jnp.dot(r, z)
        p = z + (rz_new / rz) * p
        return x, r, p, rz_new, jnp.linalg.norm(r), step + 1, positive

    x, _, _, _, r_norm, steps, positive = jax.lax.while_loop(cond, body, init)
    converged = (r_norm <= tol) & positive
    return x, PCGInfo(jnp.asarray(steps), r_norm, converged, positive)


def _checked(x, info: PCGInfo, solver: PCG, throw: bool, what: str):
    if not throw:
        return jnp.where(info.converged, x, jnp.nan)
    x = eqx.error_if(
        x,
        ~info.positive_definite,
        f"linear_solve: PCG{what} met a direction of non-positive curvature (the matrix is "
        "not symmetric positive definite)",
    )
    return eqx.error_if(
        x,
        ~info.converged,
        f"linear_solve: PCG{what} did not reach rtol={solver.rtol}, atol={solver.atol} within "
        f"max_steps={solver.max_steps or '10 n'} iterations",
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _pcg_differentiable(solver, throw, matrix, rhs):
    return _checked(*_cg(matrix, rhs, solver), solver, throw, "")


def _pcg_fwd(solver, throw, matrix, rhs):
    x = _pcg_differentiable(solver, throw, matrix, rhs)
    return x, (matrix, x)


def _pcg_bwd(solver, throw, residuals, g):
    matrix, x = residuals
    # A is symmetric: the adjoint system has the same matrix.
    lam = _checked(*_cg(matrix, g, solver), solver, throw, " (adjoint solve)")
    rows = jnp.asarray(matrix.pattern.rows)
    cols = jnp.asarray(matrix.pattern.indices)
    return SparseMatrix(-lam[rows] * x[cols], matrix.pattern), lam


_pcg_differentiable.defvjp(_pcg_fwd, _pcg_bwd)
