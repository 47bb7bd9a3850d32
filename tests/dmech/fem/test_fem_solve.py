"""Sparse assembly and the differentiable solves (SuperLU with a reused factorisation, PCG)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.fem import (
    PCG,
    Pardiso,
    SparseLU,
    SparseMatrix,
    SparsityPattern,
    _solve,
    assemble_matrix,
    linear_solve,
    pcg,
)
from dmech.testing import check_grad, count_compiles


def _random_elements(num_nodes=30, num_cells=40, nd=3, seed=0):
    rng = np.random.default_rng(seed)
    dofs = np.stack([rng.choice(num_nodes, nd, replace=False) for _ in range(num_cells)])
    dofs[: num_nodes // nd] = np.arange(num_nodes // nd * nd).reshape(-1, nd)  # touch all
    blocks = rng.normal(size=(num_cells, nd, nd))
    ke = np.einsum("cij,ckj->cik", blocks, blocks) + 0.5 * np.eye(nd)  # SPD element matrices
    return dofs, ke


def _dense(dofs, ke, n):
    k = np.zeros((n, n))
    for d, m in zip(dofs, ke, strict=True):
        k[np.ix_(d, d)] += m
    return k


def _spd(x64_dtype=jnp.float64, n=30):
    dofs, ke = _random_elements(n)
    pattern = SparsityPattern(dofs, n)
    matrix = assemble_matrix(jnp.asarray(ke, x64_dtype), pattern)
    # A shift keeps every dof (also those no element touches) well posed.
    diag = np.flatnonzero(pattern.rows == pattern.indices)
    return SparseMatrix(matrix.data.at[diag].add(1.0), pattern), _dense(dofs, ke, n) + np.eye(n)


def test_assembly_equals_dense_summation(x64):
    dofs, ke = _random_elements()
    pattern = SparsityPattern(dofs, 30)
    matrix = assemble_matrix(jnp.asarray(ke), pattern)
    np.testing.assert_allclose(matrix.todense(), _dense(dofs, ke, 30), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(matrix.to_scipy().toarray(), _dense(dofs, ke, 30), atol=1e-14)
    x = jnp.asarray(np.random.default_rng(1).normal(size=30))
    np.testing.assert_allclose(matrix @ x, _dense(dofs, ke, 30) @ np.asarray(x), atol=1e-12)


@pytest.mark.parametrize(
    "solver", [SparseLU(), SparseLU(symmetric=False), Pardiso(), PCG(rtol=1e-12)]
)
def test_solve_matches_dense(x64, solver):
    matrix, dense = _spd()
    b = jnp.asarray(np.random.default_rng(2).normal(size=30))
    x = jax.jit(linear_solve, static_argnums=2)(matrix, b, solver)
    np.testing.assert_allclose(x, np.linalg.solve(dense, np.asarray(b)), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("solver", [SparseLU(), Pardiso(), PCG(rtol=1e-12)])
def test_adjoint_gradient_matches_finite_differences(x64, solver):
    matrix, _ = _spd()
    b = jnp.asarray(np.random.default_rng(3).normal(size=30))
    weights = jnp.asarray(np.random.default_rng(4).normal(size=30))

    def objective(data, rhs):
        x = linear_solve(SparseMatrix(data, matrix.pattern), rhs, solver)
        return jnp.dot(weights, x) + 0.5 * jnp.sum(x**2)

    check_grad(objective, matrix.data, b, argnums=(0, 1), mode="reverse")


@pytest.mark.parametrize("solver", [SparseLU(), Pardiso()])
def test_adjoint_reuses_the_factorisation(x64, monkeypatch, solver):
    matrix, _ = _spd()
    b = jnp.ones(30)
    calls = []
    original = _solve._factorise
    monkeypatch.setattr(_solve, "_factorise", lambda *a: calls.append(1) or original(*a))

    def objective(data):
        return jnp.sum(linear_solve(SparseMatrix(data, matrix.pattern), b, solver) ** 2)

    jax.grad(objective)(matrix.data)
    assert len(calls) == 1  # the forward factorisation serves the adjoint solve
    assert not _solve._FACTORS  # and is freed once the adjoint has run
    jax.block_until_ready(linear_solve(matrix, b, solver))
    assert len(calls) == 2 and not _solve._FACTORS  # an undifferentiated solve keeps nothing


@pytest.mark.parametrize("solver", [SparseLU(), Pardiso(), PCG(rtol=1e-12)])
def test_batched_adjoints_match_row_by_row(x64, monkeypatch, solver):
    # jacrev pulls back every output at once: the direct solvers answer all the cotangents
    # with one solve on the kept factors (many right-hand sides), PCG runs a batched loop.
    matrix, dense = _spd()
    b = jnp.asarray(np.random.default_rng(7).normal(size=30))
    calls = []
    original = _solve._factorise
    monkeypatch.setattr(_solve, "_factorise", lambda *a: calls.append(1) or original(*a))

    def solution(data):
        return linear_solve(SparseMatrix(data, matrix.pattern), b, solver)

    jacobian = jax.jacrev(solution)(matrix.data)  # (30, nnz)
    x = np.linalg.solve(dense, np.asarray(b))
    inverse = np.linalg.inv(dense)
    rows, cols = matrix.pattern.rows, matrix.pattern.indices
    expected = -inverse[:, rows] * x[cols][None, :]  # dx/dA_rc = -A⁻¹ e_r x_c
    if getattr(solver, "solves_symmetric_part", False):  # PARDISO SPD reads (A + Aᵀ)/2
        expected = 0.5 * (expected - inverse[:, cols] * x[rows][None, :])
    np.testing.assert_allclose(jacobian, expected, atol=1e-9 * np.abs(expected).max())
    if not isinstance(solver, PCG):
        assert len(calls) == 1 and not _solve._FACTORS


@pytest.mark.parametrize("solver", [SparseLU(symmetric=False), Pardiso(positive_definite=False)])
def test_adjoint_of_a_nonsymmetric_matrix(x64, solver):
    matrix, _ = _spd()
    rng = np.random.default_rng(6)
    skew = SparseMatrix(
        matrix.data + 0.3 * jnp.asarray(rng.normal(size=matrix.pattern.nnz)), matrix.pattern
    )
    b = jnp.asarray(rng.normal(size=30))
    dense = np.asarray(skew.todense())
    assert not np.allclose(dense, dense.T)

    def objective(data):
        return jnp.sum(jnp.sin(linear_solve(SparseMatrix(data, matrix.pattern), b, solver)))

    check_grad(objective, skew.data, mode="reverse")


def test_vmap_over_right_hand_sides_and_values(x64):
    matrix, dense = _spd()
    bs = jnp.asarray(np.random.default_rng(5).normal(size=(3, 30)))
    xs = jax.vmap(lambda b: linear_solve(matrix, b))(bs)
    np.testing.assert_allclose(xs, np.linalg.solve(dense, np.asarray(bs).T).T, rtol=1e-9)
    scaled = jax.vmap(lambda s: linear_solve(SparseMatrix(s * matrix.data, matrix.pattern), bs[0]))(
        jnp.array([1.0, 2.0])
    )
    np.testing.assert_allclose(scaled[0], 2 * scaled[1], rtol=1e-10)


def test_new_values_do_not_recompile(x64):
    matrix, _ = _spd()
    solve = eqx.filter_jit(linear_solve)
    solve(matrix, jnp.ones(30))
    data = 2.0 * matrix.data
    rhs = jnp.arange(30.0)
    with count_compiles() as counter:
        solve(SparseMatrix(data, matrix.pattern), rhs).block_until_ready()
    assert counter.count == 0


@pytest.mark.parametrize("solver", [SparseLU(), Pardiso()])
def test_singular_matrix_is_reported(x64, solver):
    matrix, _ = _spd()
    singular = SparseMatrix(jnp.zeros_like(matrix.data), matrix.pattern)
    with pytest.raises(Exception, match="singular"):
        jax.block_until_ready(linear_solve(singular, jnp.ones(30), solver))
    x = linear_solve(singular, jnp.ones(30), solver, throw=False)
    assert not np.all(np.isfinite(np.asarray(x)))


def test_pardiso_reports_a_matrix_that_is_not_positive_definite(x64):
    matrix, _ = _spd()
    negative = SparseMatrix(-matrix.data, matrix.pattern)
    with pytest.raises(Exception, match="singular"):
        jax.block_until_ready(linear_solve(negative, jnp.ones(30), Pardiso()))
    x = linear_solve(negative, jnp.ones(30), Pardiso(positive_definite=False))
    np.testing.assert_allclose(negative.todense() @ x, np.ones(30), atol=1e-10)


def test_pcg_non_convergence_is_reported(x64):
    matrix, _ = _spd()
    with pytest.raises(Exception, match="did not reach rtol"):
        jax.block_until_ready(linear_solve(matrix, jnp.ones(30), PCG(rtol=1e-14, max_steps=2)))
    x = linear_solve(matrix, jnp.ones(30), PCG(rtol=1e-14, max_steps=2), throw=False)
    assert np.all(np.isnan(np.asarray(x)))


def test_pcg_reports_a_matrix_that_is_not_positive_definite(x64):
    matrix, _ = _spd()
    negative = SparseMatrix(-matrix.data, matrix.pattern)
    with pytest.raises(Exception, match="non-positive curvature"):
        jax.block_until_ready(linear_solve(negative, jnp.ones(30), PCG()))
    _, info = pcg(negative, jnp.ones(30))
    assert not info.positive_definite and not info.converged


def test_pcg_converges_on_a_load_with_zero_entries(x64):
    # A finite-element load is zero at most dofs: the stopping test is on the residual norm
    # relative to ‖b‖ (an entrywise relative test never passes at the unloaded dofs).
    matrix, dense = _spd()
    b = jnp.zeros(30).at[3].set(1e-3)
    x, info = pcg(matrix, b, PCG(rtol=1e-10))
    assert info.converged and int(info.steps) <= 30
    assert float(info.residual_norm) <= 1e-13
    expected = np.linalg.solve(dense, np.asarray(b))
    np.testing.assert_allclose(x, expected, atol=1e-8 * np.abs(expected).max())
    # vmapped over right-hand sides, each stops at its own tolerance
    batch = jnp.stack([b, jnp.ones(30)])
    xs = jax.vmap(lambda r: linear_solve(matrix, r, PCG(rtol=1e-10)))(batch)
    expected = np.linalg.solve(dense, np.asarray(batch).T).T
    for got, want in zip(np.asarray(xs), expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-8 * np.abs(want).max())


def test_bad_arguments():
    matrix, _ = _spd(jnp.float32)
    with pytest.raises(ValueError, match="rhs"):
        linear_solve(matrix, jnp.ones(29))
    with pytest.raises(ValueError, match="rtol"):
        PCG(rtol=-1.0)
    with pytest.raises(ValueError, match="max_steps"):
        PCG(max_steps=0)


def test_row_padded_product_equals_the_sparse_product(x64):
    from dmech.fem._sparse import _padded_rows, row_padded_matvec

    matrix, dense = _spd()
    x = jnp.asarray(np.random.default_rng(5).normal(size=30))
    assert _padded_rows(matrix.pattern) is not None
    np.testing.assert_allclose(row_padded_matvec(matrix)(x), dense @ np.asarray(x), atol=1e-12)
    # one long row (an arrow matrix): padding would more than double the storage, so `@`
    n = 40
    dofs = np.stack([np.zeros(n - 1, int), np.arange(1, n)], axis=1)
    ke = np.tile(np.array([[2.0, -1.0], [-1.0, 2.0]]), (n - 1, 1, 1))
    arrow = assemble_matrix(jnp.asarray(ke), SparsityPattern(dofs, n))
    assert _padded_rows(arrow.pattern) is None
    y = jnp.asarray(np.random.default_rng(6).normal(size=n))
    np.testing.assert_allclose(row_padded_matvec(arrow)(y), _dense(dofs, ke, n) @ np.asarray(y))
