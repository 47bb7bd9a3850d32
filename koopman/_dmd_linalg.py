"""Differentiable dense linear algebra for the DMD family: a non-symmetric eigendecomposition
with forward- and reverse-mode derivatives, and the reduction of a tall snapshot matrix to
its triangular factor."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "FACTORISATIONS",
    "eig",
    "factor",
    "gram_factor",
    "normalise_columns",
    "triangular_factor",
]

FACTORISATIONS = ("qr", "gram")


@jax.custom_jvp
def _raw_eig(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    w, v = jnp.linalg.eig(a)
    return w, v


@_raw_eig.defjvp
def _raw_eig_jvp(
    primals: tuple[jax.Array], tangents: tuple[jax.Array]
) -> tuple[tuple[jax.Array, jax.Array], tuple[jax.Array, jax.Array]]:
    # A = V Λ V⁻¹ ⇒ V⁻¹ dA V = dΛ + Λ (V⁻¹ dV) − (V⁻¹ dV) Λ, so with P = V⁻¹ dA V:
    # dλ_i = P_ii and, in the gauge diag(V⁻¹ dV) = 0, (V⁻¹ dV)_ij = P_ij / (λ_j − λ_i).
    (a,), (da,) = primals, tangents
    w, v = jnp.linalg.eig(a)
    ctype = w.dtype
    p = jnp.linalg.solve(v, da.astype(ctype) @ v)
    dw = jnp.diagonal(p)
    gap = w[None, :] - w[:, None]
    # Lorentzian broadening of 1/(λ_j − λ_i): exact for separated eigenvalues, bounded (and 0
    # on the diagonal and for exactly equal eigenvalues) for (near-)degenerate ones.
    eps = jnp.finfo(gap.real.dtype).eps
    scale = jnp.maximum(jnp.max(jnp.abs(w)), 1.0)
    broadening = (1e3 * eps * scale) ** 2
    inverse_gap = jnp.conj(gap) / (jnp.abs(gap) ** 2 + broadening).astype(gap.dtype)
    dv = v @ (inverse_gap * p)
    return (w, v), (dw, dv)


def normalise_columns(v: jax.Array) -> jax.Array:
    r"""Scale each column to unit 2-norm with its largest-magnitude entry real and positive.

    ``v_k ↦ v_k · conj(v_{ik}) / (|v_{ik}| ‖v_k‖)`` with ``i = argmax_i |v_{ik}|`` (chosen
    without derivative). The map is invariant under ``v_k ↦ c v_k`` for any complex ``c ≠ 0``,
    so derivatives through it do not depend on the gauge an eigensolver picks.

    Args:
        v: complex matrix, shape ``(n, r)``.

    Returns:
        The normalised matrix, shape ``(n, r)``.
    """
    index = jax.lax.stop_gradient(jnp.argmax(jnp.abs(v), axis=0))
    pivot = jnp.take_along_axis(v, index[None, :], axis=0)[0]
    norm = jnp.linalg.norm(v, axis=0)
    phase = jnp.conj(pivot) / jnp.abs(pivot).astype(v.dtype)
    return v * (phase / norm.astype(v.dtype))[None, :]


def eig(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""Eigenvalues and right eigenvectors of a square (non-symmetric) matrix, differentiable in
    forward and reverse mode.

    ``A = W Λ W⁻¹`` by LAPACK's ``geev`` (through ``jnp.linalg.eig``), the eigenvectors
    normalised by :func:`normalise_columns`. Derivatives (a ``custom_jvp``, transposed by JAX
    for reverse mode) follow the first-order perturbation formulae: with ``P = W⁻¹ dA W``,

    $$d\lambda_i = P_{ii},\qquad dW = W\,(F \circ P),\qquad
      F_{ij} = \frac{\overline{\lambda_j - \lambda_i}}{|\lambda_j - \lambda_i|^2 + \delta^2},$$

    then the derivative of the normalisation. ``F`` is ``1/(λ_j − λ_i)`` for separated
    eigenvalues and is broadened (``δ = 10³ ε max(1, max|λ|)``) for near-degenerate ones, so
    derivatives stay finite; eigenvectors inside an exactly degenerate eigenspace have no
    derivative, and there the coupling within the eigenspace is dropped.

    Args:
        a: square matrix, shape ``(r, r)``, real or complex.

    Returns:
        ``(eigenvalues (r,), eigenvectors (r, r))``, complex.

    References:
        Magnus (1985), "On differentiating eigenvalues and eigenvectors", Econometric Theory
        1(2), 179-191; Giles (2008), "An extended collection of matrix derivative results for
        forward and reverse mode algorithmic differentiation", Oxford NA report 08/01.
    """
    w, v = _raw_eig(a)
    return w, normalise_columns(v)


def triangular_factor(data: jax.Array) -> jax.Array:
    r"""The triangular factor ``R`` of ``data = Q R`` (Householder QR, ``Q`` never formed).

    ``Q`` has orthonormal columns, so any product ``data^H data``, least-squares fit or SVD of
    a column block of ``data`` equals that of the same block of ``R``: the DMD family works on
    ``R`` (``(min(n, m), m)``) and touches ``data`` again only to lift modes.

    Args:
        data: matrix, shape ``(n, m)``.

    Returns:
        ``R``, shape ``(min(n, m), m)``, upper triangular (trapezoidal when ``n < m``).
    """
    return jnp.linalg.qr(data, mode="r")


def gram_factor(data: jax.Array) -> jax.Array:
    r"""A factor ``F`` with ``Fᴴ F = dataᴴ data`` from the snapshot Gram matrix (the method of
    snapshots): ``dataᴴ data = W Λ Wᴴ``, ``F = Λ^{1/2} Wᴴ`` (``F = P R`` for a unitary ``P``).

    One matrix product over the data instead of a Householder QR: several times faster on
    CPU for tall data, but the Gram matrix squares the condition number, so directions with
    ``σ_i < √ε σ_1`` are lost and ``σ_i`` carries an error ``~ ε σ_1² / σ_i``. Its derivative
    needs distinct Gram eigenvalues (full column rank).

    Args:
        data: matrix, shape ``(n, m)``.

    Returns:
        ``F``, shape ``(m, m)``, rows in decreasing order of ``σ``.
    """
    gram = jnp.matmul(jnp.conj(data).T, data, precision=jax.lax.Precision.HIGHEST)
    values, vectors = jnp.linalg.eigh(gram)
    values, vectors = values[::-1], vectors[:, ::-1]
    root = jnp.sqrt(jnp.maximum(values, 0.0)).astype(vectors.dtype)
    return root[:, None] * jnp.conj(vectors).T


def factor(data: jax.Array, method: str = "qr") -> jax.Array:
    """:func:`triangular_factor` (``"qr"``) or :func:`gram_factor` (``"gram"``) of ``data``."""
    if method == "qr":
        return triangular_factor(data)
    if method == "gram":
        return gram_factor(data)
    raise ValueError(f"`factorisation` must be one of {FACTORISATIONS}; got {method!r}.")
