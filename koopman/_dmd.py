"""The DMD family on snapshot matrices: exact and projected, forward-backward, total least
squares, Hankel / higher-order, compressed, randomised, with control, sparsity-promoting and
physics-informed DMD.

Every variant works on the triangular factor ``R`` of the snapshot matrix ``D = Q R``
(Householder QR without forming ``Q``): ``D`` is touched once to factor it and once to lift
the modes (``Φ = D K`` for a small coefficient matrix ``K``), and every SVD, operator and
least-squares fit happens on ``R``, which has the same singular values, right singular
vectors and inner products as ``D``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Inexact, PRNGKeyArray

from dmech._checks import check_int, check_positive_scalar

from ._dmd_linalg import FACTORISATIONS, eig, factor, normalise_columns
from ._dmd_model import DMDModel, check_choice, check_rank, check_snapshots, modes_pinv, real_dtype
from ._truncation import svd_rank

__all__ = [
    "compressed_dmd",
    "dmd_with_control",
    "exact_dmd",
    "forward_backward_dmd",
    "hankel_dmd",
    "physics_informed_dmd",
    "projected_dmd",
    "randomised_dmd",
    "sparsity_promoting_dmd",
    "total_least_squares_dmd",
]

_AMPLITUDES = ("first", "optimal")
_factor = jax.jit(factor, static_argnames=("method",))


# ---------------------------------------------------------------------------------------------
# Building blocks (plain functions of arrays; static configuration as Python values)
# ---------------------------------------------------------------------------------------------


def _pod(rx: jax.Array, r: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Rank-``r`` SVD of ``rx``: ``(U (k, r), s (r,), V (m, r))``."""
    u, s, vh = jnp.linalg.svd(rx, full_matrices=False)
    return u[:, :r], s[:r], jnp.conj(vh[:r]).T


def _standard_operator(u: jax.Array, s: jax.Array, v: jax.Array, ry: jax.Array) -> jax.Array:
    """``Ã = Uᴴ Y V Σ⁻¹`` (Schmid 2010; Tu et al. 2014)."""
    return (jnp.conj(u).T @ ry @ v) / s[None, :].astype(ry.dtype)


def _inverse_scaled(v: jax.Array, s: jax.Array, w: jax.Array) -> jax.Array:
    """``V Σ⁻¹ W``: the coefficients that take snapshot columns to modes."""
    return (v / s[None, :].astype(v.dtype)).astype(w.dtype) @ w


def _lift(data: jax.Array, block: tuple[int, int], coefficients: jax.Array) -> jax.Array:
    """``data[:, start:stop] @ coefficients`` as one product with the whole of ``data``."""
    start, stop = block
    padded = jnp.zeros((data.shape[1], coefficients.shape[1]), coefficients.dtype)
    padded = padded.at[start:stop].set(coefficients)
    if jnp.iscomplexobj(padded) and not jnp.iscomplexobj(data):
        # real data: two real products, without a complex copy of the data
        return jax.lax.complex(
            data @ padded.real.astype(data.dtype), data @ padded.imag.astype(data.dtype)
        )
    return data.astype(coefficients.dtype) @ padded


def _complex(x: jax.Array) -> jax.Array:
    return x.astype(np.result_type(x.dtype, np.complex64))


def _first_amplitudes(modes: jax.Array, x0: jax.Array) -> jax.Array:
    """``b = Φ⁺ x₀``, the (minimum-norm) least-squares amplitudes (see `modes_pinv`)."""
    return modes_pinv(modes) @ x0.astype(modes.dtype)


def _vandermonde(eigenvalues: jax.Array, count: int) -> jax.Array:
    """``V_kj = λ_k^j``, shape ``(r, count)`` (by repeated products: exact for integer powers)."""
    powers = jnp.cumprod(
        jnp.broadcast_to(eigenvalues[:, None], (eigenvalues.shape[0], count - 1)), axis=1
    )
    return jnp.concatenate([jnp.ones_like(eigenvalues)[:, None], powers], axis=1)


def _optimal_amplitude_system(
    modes: jax.Array, eigenvalues: jax.Array, snapshots: jax.Array
) -> tuple[jax.Array, jax.Array]:
    r"""``P = (ΦᴴΦ) ∘ conj(V Vᴴ)`` and ``q = conj(diag(V Dᴴ Φ))``: ``‖D − Φ diag(b) V‖²_F =
    bᴴ P b − 2 Re(qᴴ b) + ‖D‖²`` (Jovanović et al. 2014)."""
    vander = _vandermonde(eigenvalues, snapshots.shape[1])
    p = (jnp.conj(modes).T @ modes) * jnp.conj(vander @ jnp.conj(vander).T)
    q = jnp.conj(jnp.sum(vander * (jnp.conj(snapshots).T @ modes).T, axis=1))
    return p, q


def _assemble(
    modes: jax.Array,
    eigenvalues: jax.Array,
    amplitudes: jax.Array,
    dt: jax.Array,
    t0: jax.Array,
    real_data: bool,
    **extra: Any,
) -> DMDModel:
    return DMDModel(
        modes=modes,
        eigenvalues=eigenvalues,
        amplitudes=amplitudes,
        dt=dt,
        t0=t0,
        real_data=real_data,
        **extra,
    )


def _concrete(x: Any, what: str) -> np.ndarray:
    if isinstance(x, jax.core.Tracer):
        raise TypeError(
            f'{what}: a rank chosen from the data (an energy fraction or "optimal") needs '
            "concrete data, but the snapshots are traced (inside jit/vmap/grad). Pass an int "
            "`rank` (e.g. from `svd_rank` on the singular values, computed outside)."
        )
    return np.asarray(x)


def _resolve_rank(rank: Any, block: jax.Array, shape: tuple[int, int], what: str) -> int:
    """The truncation rank of ``block`` (whose singular values equal those of a ``shape``
    matrix), as a Python int."""
    limit = min(block.shape)
    if isinstance(rank, (int, np.integer)) and not isinstance(rank, bool):
        return int(min(int(rank), limit))
    if rank == "full":
        return limit
    values = np.linalg.svd(_concrete(block, what), compute_uv=False)
    return min(svd_rank(values, rank, shape=shape), limit)


def _times(dt: Any, t0: Any, dtype: np.dtype) -> tuple[jax.Array, jax.Array]:
    check_positive_scalar(dt, "dt")
    if jnp.shape(t0) != ():
        raise ValueError(f"`t0` must be a scalar; got shape {jnp.shape(t0)}.")
    rtype = real_dtype(dtype)
    return jnp.asarray(dt, rtype), jnp.asarray(t0, rtype)


def _prepare(
    snapshots: Any, shifted: Any, rank: Any, amplitudes: str, what: str
) -> tuple[jax.Array, tuple[int, int], tuple[int, int]]:
    """Validate, and return the data matrix with the column blocks of ``X`` and ``Y``."""
    check_snapshots(snapshots, "snapshots", min_columns=1 if shifted is not None else 2)
    check_rank(rank)
    check_choice(amplitudes, "amplitudes", _AMPLITUDES)
    snapshots = jnp.asarray(snapshots)
    if shifted is None:
        m = snapshots.shape[1] - 1
        return snapshots, (0, m), (1, m + 1)
    check_snapshots(shifted, "shifted", min_columns=1)
    if jnp.shape(shifted) != snapshots.shape:
        raise ValueError(
            f"`shifted` must have the shape {snapshots.shape} of `snapshots`; "
            f"got {jnp.shape(shifted)}"
        )
    if amplitudes == "optimal":
        raise ValueError(
            '`amplitudes="optimal"` fits a sequence of snapshots: it needs `shifted=None`.'
        )
    del what
    m = snapshots.shape[1]
    shifted = jnp.asarray(shifted)
    dtype = np.result_type(snapshots.dtype, shifted.dtype)
    return (
        jnp.concatenate([snapshots.astype(dtype), shifted.astype(dtype)], axis=1),
        (0, m),
        (m, 2 * m),
    )


def _amplitudes_from_factor(
    kind: str,
    modes_r: jax.Array,
    eigenvalues: jax.Array,
    factor: jax.Array,
    x_block: tuple[int, int],
    sequential: bool,
) -> jax.Array:
    """Amplitudes from the reduced modes ``Qᴴ Φ`` and the factor ``R``: the same least-squares
    problems as on the full data, since ``Q`` has orthonormal columns."""
    if kind == "first":
        return _first_amplitudes(modes_r, _complex(factor[:, x_block[0]]))
    columns = factor if sequential else factor[:, x_block[0] : x_block[1]]
    p, q = _optimal_amplitude_system(modes_r, eigenvalues, _complex(columns))
    return jnp.linalg.solve(p, q)


# ---------------------------------------------------------------------------------------------
# Exact, projected, forward-backward, total-least-squares and physics-informed DMD: one core
# ---------------------------------------------------------------------------------------------


def _reduced_operator(
    operator: str, rx: jax.Array, ry: jax.Array, r: int
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(eigenvalues, W, U, s, V)`` of the rank-``r`` reduced operator of kind ``operator``."""
    u, s, v = _pod(rx, r)
    if operator == "standard":
        w, vecs = eig(_standard_operator(u, s, v, ry))
    elif operator == "forward_backward":
        # Dawson et al. (2016): both operators in the POD basis of X, A = (A_f A_b⁻¹)^{1/2}
        forward = _standard_operator(u, s, v, ry)
        x_red = jnp.conj(u).T @ rx
        y_red = jnp.conj(u).T @ ry
        backward = x_red @ jnp.linalg.pinv(y_red)
        squared = jnp.linalg.solve(backward.T, forward.T).T
        w2, vecs = eig(squared)
        w = jnp.sqrt(w2)  # principal square root, as scipy.linalg.sqrtm
    elif operator in ("symmetric", "skew_symmetric"):
        c = jnp.conj(u).T @ ry @ v
        sc = s.astype(c.dtype)
        denominator = (s[:, None] ** 2 + s[None, :] ** 2).astype(c.dtype)
        if operator == "symmetric":
            # argmin ‖Ã Σ − C‖ over Hermitian Ã (Baddoo et al. 2023)
            atilde = (sc[None, :] * c + sc[:, None] * jnp.conj(c).T) / denominator
            w_real, vecs = jnp.linalg.eigh(atilde)
            w = w_real.astype(c.dtype)
        else:
            atilde = (sc[None, :] * c - sc[:, None] * jnp.conj(c).T) / denominator
            w_real, vecs = jnp.linalg.eigh(-1j * _complex(atilde))
            w = 1j * w_real.astype(vecs.dtype)
        w = _complex(w)
        vecs = normalise_columns(_complex(vecs))
    elif operator == "unitary":
        # orthogonal Procrustes in the POD basis: Ã = U_yx V_yxᴴ (Baddoo et al. 2023)
        y_red = jnp.conj(u).T @ ry
        x_red = jnp.conj(u).T @ rx
        uyx, _, vhyx = jnp.linalg.svd(y_red @ jnp.conj(x_red).T, full_matrices=False)
        w, vecs = eig(uyx @ vhyx)
    else:  # pragma: no cover - validated by the callers
        raise ValueError(operator)
    return w, vecs, u, s, v


@functools.partial(
    jax.jit,
    static_argnames=(
        "r",
        "operator",
        "exact",
        "amplitudes",
        "x_block",
        "y_block",
        "tls_rank",
        "real_data",
    ),
)
def _fit_core(
    data: jax.Array,
    factor: jax.Array,
    dt: jax.Array,
    t0: jax.Array,
    *,
    r: int,
    operator: str,
    exact: bool,
    amplitudes: str,
    x_block: tuple[int, int],
    y_block: tuple[int, int],
    tls_rank: int,
    real_data: bool,
) -> DMDModel:
    rx = factor[:, x_block[0] : x_block[1]]
    ry = factor[:, y_block[0] : y_block[1]]
    projection = None
    if tls_rank:
        # Hemati et al. (2017): project X and Y on the leading right singular vectors of [X; Y]
        _, _, vh = jnp.linalg.svd(jnp.concatenate([rx, ry], axis=0), full_matrices=False)
        vt = jnp.conj(vh[:tls_rank]).T
        projection = vt @ jnp.conj(vt).T
        rx = rx @ projection
        ry = ry @ projection
    w, vecs, u, s, v = _reduced_operator(operator, rx, ry, r)
    if exact:
        coefficients = _inverse_scaled(v, s, vecs)
        modes_r = ry.astype(coefficients.dtype) @ coefficients
        block = y_block
    else:
        coefficients = _inverse_scaled(v, s, vecs)
        modes_r = u.astype(vecs.dtype) @ vecs
        block = x_block
    if projection is not None:
        coefficients = projection.astype(coefficients.dtype) @ coefficients
    modes = _lift(data, block, coefficients)
    sequential = y_block[0] == x_block[0] + 1
    b = _amplitudes_from_factor(amplitudes, modes_r, w, factor, x_block, sequential)
    return _assemble(modes, w, b, dt, t0, real_data)


def _fit(
    snapshots: Any,
    shifted: Any,
    *,
    rank: Any,
    operator: str,
    exact: bool,
    amplitudes: str,
    dt: Any,
    t0: Any,
    tls_rank: int = 0,
    factorisation: str = "qr",
    what: str,
) -> DMDModel:
    data, x_block, y_block = _prepare(snapshots, shifted, rank, amplitudes, what)
    check_choice(factorisation, "factorisation", FACTORISATIONS)
    dt_, t0_ = _times(dt, t0, data.dtype)
    factor = _factor(data, method=factorisation)
    m = x_block[1] - x_block[0]
    if tls_rank:
        tls_rank = min(tls_rank, m, 2 * factor.shape[0])
    rx_for_rank = factor[:, x_block[0] : x_block[1]]
    r = _resolve_rank(rank, rx_for_rank, (data.shape[0], m), what)
    return _fit_core(
        data,
        factor,
        dt_,
        t0_,
        r=r,
        operator=operator,
        exact=exact,
        amplitudes=amplitudes,
        x_block=x_block,
        y_block=y_block,
        tls_rank=tls_rank,
        real_data=not jnp.iscomplexobj(data),
    )


_FIT_ARGS_DOC = """
    Args:
        snapshots: the snapshots ``x_0, …, x_m`` as columns, shape ``(n_state, m + 1)``; or,
            with ``shifted``, the inputs ``X`` of the pairs ``(x_j, y_j)``.
        shifted: optionally ``Y`` (``y_j = A x_j``), shape ``snapshots.shape``, for data that
            are not one sequence (several trajectories).
        rank: the truncation rank: an int, an energy fraction in ``(0, 1)``, ``"optimal"``
            (Gavish-Donoho, unknown noise) or ``"full"`` (see :func:`svd_rank`). A rank chosen
            from the data needs concrete data (not under ``jit``).
        amplitudes: ``"first"`` (``b = Φ⁺ x₀``) or ``"optimal"`` (``b`` minimising the error
            over all snapshots, Jovanović et al. 2014).
        dt: the time between snapshots (units of time).
        t0: the time of the first snapshot.
        factorisation: how the data are reduced before the SVD: ``"qr"`` (Householder QR,
            backward stable; default) or ``"gram"`` (the snapshot Gram matrix: one matrix
            product, several times faster for tall data, accurate while the kept
            ``σ_r > √ε σ_1``; see :func:`~koopman._dmd_linalg.gram_factor`).
"""


def _with_fit_args(function: Callable[..., Any]) -> Callable[..., Any]:
    """Put the shared argument documentation where ``<FIT_ARGS>`` stands in the docstring."""
    function.__doc__ = (function.__doc__ or "").replace("<FIT_ARGS>", _FIT_ARGS_DOC)
    return function


@_with_fit_args
def exact_dmd(
    snapshots: Inexact[ArrayLike, "..."],
    shifted: Inexact[ArrayLike, "..."] | None = None,
    *,
    rank: int | float | str = "full",
    amplitudes: str = "first",
    factorisation: str = "qr",
    dt: ArrayLike = 1.0,
    t0: ArrayLike = 0.0,
) -> DMDModel:
    r"""Exact dynamic mode decomposition.

    With ``X = [x_0 … x_{m−1}]``, ``Y = [x_1 … x_m]`` and the rank-``r`` SVD ``X ≈ U Σ Vᴴ``, the
    reduced operator ``Ã = Uᴴ Y V Σ⁻¹`` has eigenvalues ``λ`` and eigenvectors ``W``; the exact
    modes ``Φ = Y V Σ⁻¹ W`` are eigenvectors of ``A = Y X⁺`` (Tu et al. 2014). The SVD is
    that of the QR factor ``R`` of the data (module docstring).
    <FIT_ARGS>
    Returns:
        A :class:`DMDModel`.

    Raises:
        ValueError: for bad shapes or options, naming the argument.
        TypeError: for integer data, or a data-dependent ``rank`` under ``jit``.

    References:
        Schmid (2010), J. Fluid Mech. 656, 5-28; Tu, Rowley, Luchtenburg, Brunton and Kutz
        (2014), J. Comput. Dyn. 1(2), 391-421.
    """
    return _fit(
        snapshots,
        shifted,
        rank=rank,
        operator="standard",
        exact=True,
        amplitudes=amplitudes,
        dt=dt,
        t0=t0,
        what="exact_dmd",
        factorisation=factorisation,
    )


@_with_fit_args
def projected_dmd(
    snapshots: Inexact[ArrayLike, "..."],
    shifted: Inexact[ArrayLike, "..."] | None = None,
    *,
    rank: int | float | str = "full",
    amplitudes: str = "first",
    factorisation: str = "qr",
    dt: ArrayLike = 1.0,
    t0: ArrayLike = 0.0,
) -> DMDModel:
    r"""Projected dynamic mode decomposition (Schmid 2010).

    As :func:`exact_dmd`, with the modes ``Φ = U W`` in the POD basis of ``X`` (computed as
    ``X V Σ⁻¹ W``).
    <FIT_ARGS>
    Returns:
        A :class:`DMDModel`.

    Raises:
        ValueError: for bad shapes or options, naming the argument.

    References:
        Schmid (2010), "Dynamic mode decomposition of numerical and experimental data", J.
        Fluid Mech. 656, 5-28.
    """
    return _fit(
        snapshots,
        shifted,
        rank=rank,
        operator="standard",
        exact=False,
        amplitudes=amplitudes,
        dt=dt,
        t0=t0,
        what="projected_dmd",
        factorisation=factorisation,
    )


@_with_fit_args
def forward_backward_dmd(
    snapshots: Inexact[ArrayLike, "..."],
    shifted: Inexact[ArrayLike, "..."] | None = None,
    *,
    rank: int | float | str = "full",
    exact: bool = False,
    amplitudes: str = "first",
    factorisation: str = "qr",
    dt: ArrayLike = 1.0,
    t0: ArrayLike = 0.0,
) -> DMDModel:
    r"""Forward-backward DMD: the geometric mean of the forward and inverse backward operators.

    In the rank-``r`` POD basis ``U`` of ``X``, with ``X̃ = Uᴴ X`` and ``Ỹ = Uᴴ Y``:
    ``Ã_f = Ỹ X̃⁺``, ``Ã_b = X̃ Ỹ⁺`` and ``Ã = (Ã_f Ã_b⁻¹)^{1/2}``; the eigenvalues are the
    principal square roots of those of ``Ã_f Ã_b⁻¹`` (the sign of an eigenvalue with a negative
    real part is lost, as in the paper). Noise biases ``Ã_f`` and ``Ã_b⁻¹`` in opposite
    directions, so the mean removes the bias to first order.
    <FIT_ARGS>        exact: exact modes ``Y V Σ⁻¹ W`` instead of projected ``U W``.

    Returns:
        A :class:`DMDModel`.

    Raises:
        ValueError: for bad shapes or options, naming the argument.

    References:
        Dawson, Hemati, Williams and Rowley (2016), "Characterizing and correcting for the
        effect of sensor noise in the dynamic mode decomposition", Exp. Fluids 57, 42.
    """
    return _fit(
        snapshots,
        shifted,
        rank=rank,
        operator="forward_backward",
        exact=exact,
        amplitudes=amplitudes,
        dt=dt,
        t0=t0,
        what="forward_backward_dmd",
        factorisation=factorisation,
    )


@_with_fit_args
def total_least_squares_dmd(
    snapshots: Inexact[ArrayLike, "..."],
    shifted: Inexact[ArrayLike, "..."] | None = None,
    *,
    rank: int | float | str = "full",
    tls_rank: int | None = None,
    exact: bool = False,
    amplitudes: str = "first",
    factorisation: str = "qr",
    dt: ArrayLike = 1.0,
    t0: ArrayLike = 0.0,
) -> DMDModel:
    r"""Total-least-squares DMD: DMD of ``X`` and ``Y`` projected on the dominant row space of
    ``[X; Y]``.

    With ``[X; Y] ≈ Ũ Σ̃ Ṽᴴ`` truncated to ``tls_rank`` and ``P = Ṽ Ṽᴴ``, DMD of ``(X P, Y P)``:
    noise in both ``X`` and ``Y`` is treated alike, which removes the bias of least squares.
    <FIT_ARGS>        tls_rank: the rank of the projection (default: the DMD rank when it is an int,
            else the number of snapshot pairs).
        exact: exact modes instead of projected.

    Returns:
        A :class:`DMDModel`.

    Raises:
        ValueError: for bad shapes or options, naming the argument.

    References:
        Hemati, Rowley, Deem and Cattafesta (2017), "De-biasing the dynamic mode decomposition
        for applied Koopman spectral analysis of noisy datasets", Theor. Comput. Fluid Dyn.
        31, 349-368.
    """
    if tls_rank is None:
        tls_rank = rank if isinstance(rank, int) and not isinstance(rank, bool) else 10**9
    tls_rank = check_int(tls_rank, "tls_rank")
    return _fit(
        snapshots,
        shifted,
        rank=rank,
        operator="standard",
        exact=exact,
        amplitudes=amplitudes,
        dt=dt,
        t0=t0,
        tls_rank=tls_rank,
        what="total_least_squares_dmd",
        factorisation=factorisation,
    )


@_with_fit_args
def physics_informed_dmd(
    snapshots: Inexact[ArrayLike, "..."],
    shifted: Inexact[ArrayLike, "..."] | None = None,
    *,
    manifold: str = "symmetric",
    rank: int | float | str = "full",
    amplitudes: str = "first",
    factorisation: str = "qr",
    dt: ArrayLike = 1.0,
    t0: ArrayLike = 0.0,
) -> DMDModel:
    r"""Physics-informed DMD: the best-fit operator constrained to a matrix manifold.

    In the rank-``r`` POD basis ``U`` of ``X`` (``X̃ = Uᴴ X = Σ Vᴴ``, ``Ỹ = Uᴴ Y``,
    ``C = Uᴴ Y V``):

    - ``"symmetric"`` (Hermitian, e.g. a self-adjoint generator):
      ``argmin ‖Ã Σ − C‖_F`` over ``Ã = Ãᴴ``,
      ``Ã_ij = (σ_j C_ij + σ_i conj(C_ji)) / (σ_i² + σ_j²)``;
      real eigenvalues by ``eigh``.
    - ``"skew_symmetric"``: the same over ``Ã = −Ãᴴ`` (imaginary eigenvalues).
    - ``"unitary"`` (energy-preserving dynamics): ``argmin ‖Ỹ − Ã X̃‖_F`` over unitary ``Ã``,
      the orthogonal Procrustes solution ``Ã = U_yx V_yxᴴ`` from ``Ỹ X̃ᴴ = U_yx Σ V_yxᴴ``
      (eigenvalues on the unit circle).

    The modes are ``Φ = U W``.
    <FIT_ARGS>        manifold: ``"symmetric"``, ``"skew_symmetric"`` or ``"unitary"``.

    Returns:
        A :class:`DMDModel`.

    Raises:
        ValueError: for an unknown ``manifold``, bad shapes or options.

    References:
        Baddoo, Herrmann, McKeon, Kutz and Brunton (2023), "Physics-informed dynamic mode
        decomposition", Proc. R. Soc. A 479, 20220576.
    """
    check_choice(manifold, "manifold", ("symmetric", "skew_symmetric", "unitary"))
    return _fit(
        snapshots,
        shifted,
        rank=rank,
        operator=manifold,
        exact=False,
        amplitudes=amplitudes,
        dt=dt,
        t0=t0,
        what="physics_informed_dmd",
        factorisation=factorisation,
    )


# ---------------------------------------------------------------------------------------------
# Hankel / higher-order DMD
# ---------------------------------------------------------------------------------------------


def _hankel(data: jax.Array, delays: int) -> jax.Array:
    """Stack ``delays`` shifted copies: column ``j`` is ``[x_j; x_{j+1}; …; x_{j+d−1}]``."""
    columns = data.shape[1] - delays + 1
    return jnp.concatenate([data[:, i : i + columns] for i in range(delays)], axis=0)


@functools.partial(jax.jit, static_argnames=("delays", "projection_rank", "factorisation"))
def _hodmd_reduce(
    data: jax.Array, *, delays: int, projection_rank: int, factorisation: str
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Project on ``projection_rank`` POD modes (``Σ Vᴴ``) and stack delays; return the
    Hankel matrix, its triangular factor and the lifting coefficients ``V Σ⁻¹``."""
    if projection_rank:
        _, s, vh = jnp.linalg.svd(factor(data, factorisation), full_matrices=False)
        s, vh = s[:projection_rank], vh[:projection_rank]
        reduced = s[:, None].astype(vh.dtype) * vh
        lift = jnp.conj(vh).T / s[None, :].astype(vh.dtype)
    else:
        reduced = data
        lift = jnp.eye(data.shape[1], dtype=data.dtype)
    hankel = _hankel(reduced, delays)
    return hankel, factor(hankel, factorisation), lift


@functools.partial(jax.jit, static_argnames=("r", "exact", "amplitudes", "projected", "real_data"))
def _hodmd_core(
    data: jax.Array,
    hankel: jax.Array,
    factor: jax.Array,
    lift: jax.Array,
    dt: jax.Array,
    t0: jax.Array,
    *,
    r: int,
    exact: bool,
    amplitudes: str,
    projected: bool,
    real_data: bool,
) -> DMDModel:
    m = hankel.shape[1] - 1
    rx, ry = factor[:, :m], factor[:, 1:]
    w, vecs, u, s, v = _reduced_operator("standard", rx, ry, r)
    coefficients = _inverse_scaled(v, s, vecs)
    if exact:
        modes_r = ry.astype(coefficients.dtype) @ coefficients
        block = (1, m + 1)
    else:
        modes_r = u.astype(vecs.dtype) @ vecs
        block = (0, m)
    hankel_modes = _lift(hankel, block, coefficients)
    b = _amplitudes_from_factor(amplitudes, modes_r, w, factor, (0, m), True)
    first_block = hankel_modes[: lift.shape[1] if projected else data.shape[0]]
    if projected:
        # state modes: the POD basis U = D V Σ⁻¹ applied to the first delay block
        coefficients = lift.astype(first_block.dtype) @ first_block
        modes = _lift(data, (0, data.shape[1]), coefficients)
    else:
        modes = first_block
    return _assemble(modes, w, b, dt, t0, real_data)


def hankel_dmd(
    snapshots: Inexact[ArrayLike, "..."],
    *,
    delays: int,
    rank: int | float | str = "full",
    projection_rank: int | float | str | None = None,
    exact: bool = False,
    amplitudes: str = "first",
    factorisation: str = "qr",
    dt: ArrayLike = 1.0,
    t0: ArrayLike = 0.0,
) -> DMDModel:
    r"""Hankel (time-delay) DMD and higher-order DMD (HODMD).

    The snapshots (first projected on their ``projection_rank`` leading POD modes, ``Σ Vᴴ``,
    for HODMD) are stacked ``d = delays`` at a time into the Hankel matrix with columns
    ``h_j = [x_j; x_{j+1}; …; x_{j+d−1}]``, and DMD (rank ``rank``) is applied to the sequence
    ``h_0, …, h_{m−d+1}``. Delays let DMD find more frequencies than the state has dimensions
    (spatial complexity below spectral complexity). The model's modes are the first delay block
    of the Hankel modes, lifted back to the state space; its amplitudes are those of ``h_0``.

    Args:
        snapshots: ``x_0, …, x_m`` as columns, shape ``(n_state, m + 1)``.
        delays: ``d ≥ 1``, snapshots per Hankel column (``d = 1``: plain DMD).
        rank: truncation of the Hankel DMD (as in :func:`exact_dmd`).
        projection_rank: HODMD's first truncation (``None``: no projection, Hankel DMD).
        exact: exact modes instead of projected.
        amplitudes: ``"first"`` or ``"optimal"`` (fitted on the Hankel columns).
        factorisation: ``"qr"`` or ``"gram"`` (as in :func:`exact_dmd`).
        dt, t0: the time step and the time of ``x_0``.

    Returns:
        A :class:`DMDModel` with modes of shape ``(n_state, r)``.

    Raises:
        ValueError: for ``delays`` not leaving two Hankel columns, or other bad options.

    References:
        Le Clainche and Vega (2017), "Higher order dynamic mode decomposition", SIAM J. Appl.
        Dyn. Syst. 16(2), 882-925; Arbabi and Mezić (2017), SIAM J. Appl. Dyn. Syst. 16(4),
        2096-2126.
    """
    check_snapshots(snapshots, "snapshots", min_columns=2)
    delays = check_int(delays, "delays")
    snapshots = jnp.asarray(snapshots)
    n_state, columns = snapshots.shape
    if snapshots.shape[1] - delays + 1 < 2:
        raise ValueError(
            f"`delays` = {delays} leaves < 2 Hankel columns of {snapshots.shape[1]} snapshots."
        )
    check_rank(rank)
    check_choice(amplitudes, "amplitudes", _AMPLITUDES)
    check_choice(factorisation, "factorisation", FACTORISATIONS)
    dt_, t0_ = _times(dt, t0, snapshots.dtype)
    p = 0
    if projection_rank is not None:
        check_rank(projection_rank, "projection_rank")
        p = _resolve_rank(
            projection_rank,
            _factor(snapshots, method=factorisation),
            (n_state, columns),
            "hankel_dmd",
        )
    hankel, factor_h, lift = _hodmd_reduce(
        snapshots, delays=delays, projection_rank=p, factorisation=factorisation
    )
    m = hankel.shape[1] - 1
    r = _resolve_rank(rank, factor_h[:, :m], (hankel.shape[0], m), "hankel_dmd")
    return _hodmd_core(
        snapshots,
        hankel,
        factor_h,
        lift,
        dt_,
        t0_,
        r=r,
        exact=exact,
        amplitudes=amplitudes,
        projected=bool(p),
        real_data=not jnp.iscomplexobj(snapshots),
    )


# ---------------------------------------------------------------------------------------------
# Compressed and randomised DMD: the operator from a small sketch, the modes from the data
# ---------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("r", "real_data"))
def _sketched_core(
    data: jax.Array, sketch: jax.Array, dt: jax.Array, t0: jax.Array, *, r: int, real_data: bool
) -> DMDModel:
    m = data.shape[1] - 1
    w, vecs, _, s, v = _reduced_operator("standard", sketch[:, :m], sketch[:, 1:], r)
    modes = _lift(data, (1, m + 1), _inverse_scaled(v, s, vecs))
    b = _first_amplitudes(modes, data[:, 0])
    return _assemble(modes, w, b, dt, t0, real_data)


def _measurement_matrix(key: Any, kind: str, shape: tuple[int, int], dtype: Any) -> jax.Array:
    rtype = real_dtype(dtype)
    if kind == "gaussian":
        return jax.random.normal(key, shape, rtype)
    if kind == "uniform":
        return jax.random.uniform(key, shape, rtype)
    # "sample": one state entry per measurement (single-pixel measurements), without repeats
    rows = jax.random.choice(key, shape[1], (shape[0],), replace=False)
    return jnp.zeros(shape, rtype).at[jnp.arange(shape[0]), rows].set(1.0)


def compressed_dmd(
    snapshots: Inexact[ArrayLike, "..."],
    *,
    key: PRNGKeyArray | None = None,
    measurements: int | None = None,
    measurement: str = "gaussian",
    measurement_matrix: Inexact[ArrayLike, "..."] | None = None,
    rank: int | float | str = "full",
    dt: ArrayLike = 1.0,
    t0: ArrayLike = 0.0,
) -> DMDModel:
    r"""Compressed DMD: the operator from random measurements ``C D``, the modes from ``D``.

    With a measurement matrix ``C`` (``p × n``, ``p ≪ n``), DMD of the compressed snapshots
    ``C X = U_c Σ_c V_cᴴ``, ``Ã = U_cᴴ C Y V_c Σ_c⁻¹ = W Λ W⁻¹`` gives the eigenvalues; the
    modes are ``Φ = Y V_c Σ_c⁻¹ W`` (exact modes from the full data); ``b = Φ⁺ x₀``. If the
    dynamics are sparse in some basis and ``p`` exceeds their rank, the eigenvalues are those
    of full DMD.

    Args:
        snapshots: ``x_0, …, x_m`` as columns, shape ``(n_state, m + 1)``.
        key: PRNG key for the measurement matrix (not needed with ``measurement_matrix``).
        measurements: ``p``, the number of measurements (default ``m + 1``).
        measurement: ``"gaussian"`` (i.i.d. N(0, 1)), ``"uniform"`` (U(0, 1)) or ``"sample"``
            (``p`` distinct state entries).
        measurement_matrix: an explicit ``C``, shape ``(p, n_state)``.
        rank, dt, t0: as in :func:`exact_dmd`.

    Returns:
        A :class:`DMDModel`.

    Raises:
        ValueError: for a missing key, bad shapes or options, naming the argument.

    References:
        Brunton, Proctor, Tu and Kutz (2016), "Compressed sensing and dynamic mode
        decomposition", J. Comput. Dyn. 2(2), 165-191; Erichson, Brunton and Kutz (2019),
        "Compressed dynamic mode decomposition for background modeling", J. Real-Time Image
        Process. 16, 1479-1492.
    """
    check_snapshots(snapshots)
    check_rank(rank)
    snapshots = jnp.asarray(snapshots)
    n, columns = snapshots.shape
    if measurement_matrix is None:
        if key is None:
            raise ValueError(
                "`key` is required to draw the measurement matrix (or pass `measurement_matrix`)."
            )
        check_choice(measurement, "measurement", ("gaussian", "uniform", "sample"))
        p = columns if measurements is None else check_int(measurements, "measurements")
        if measurement == "sample" and p > n:
            raise ValueError(f"`measurements` = {p} exceeds the {n} state entries to sample.")
        c = _measurement_matrix(key, measurement, (p, n), snapshots.dtype)
    else:
        if jnp.ndim(measurement_matrix) != 2 or jnp.shape(measurement_matrix)[1] != n:
            raise ValueError(
                f"`measurement_matrix` must have shape (p, {n}); "
                f"got {jnp.shape(measurement_matrix)}"
            )
        c = jnp.asarray(measurement_matrix)
    dt_, t0_ = _times(dt, t0, snapshots.dtype)
    common = np.result_type(c.dtype, snapshots.dtype)
    sketch = c.astype(common) @ snapshots.astype(common)
    r = _resolve_rank(rank, sketch[:, :-1], (sketch.shape[0], columns - 1), "compressed_dmd")
    return _sketched_core(
        snapshots, sketch, dt_, t0_, r=r, real_data=not jnp.iscomplexobj(snapshots)
    )


@functools.partial(jax.jit, static_argnames=("power_iterations",))
def _range_sketch(data: jax.Array, test_matrix: jax.Array, *, power_iterations: int) -> jax.Array:
    """``B = Qᴴ D`` with ``Q`` an orthonormal basis of ``range((D Dᴴ)^q D Ω)``."""
    sample = data @ test_matrix.astype(data.dtype)
    for _ in range(power_iterations):
        q, _ = jnp.linalg.qr(sample)
        z, _ = jnp.linalg.qr(jnp.conj(data).T @ q)
        sample = data @ z
    q, _ = jnp.linalg.qr(sample)
    return jnp.conj(q).T @ data


def randomised_dmd(
    snapshots: Inexact[ArrayLike, "..."],
    *,
    rank: int,
    key: PRNGKeyArray | None = None,
    oversampling: int = 10,
    power_iterations: int = 2,
    test_matrix: Inexact[ArrayLike, "..."] | None = None,
    dt: ArrayLike = 1.0,
    t0: ArrayLike = 0.0,
) -> DMDModel:
    r"""Randomised DMD: DMD of a randomised range sketch of the snapshots.

    A Gaussian test matrix ``Ω`` (``(m+1) × (r + p)``), ``q`` power iterations (re-orthonormalised
    each half step) give ``Q`` with ``range(Q) ≈ range(D)``; DMD of ``B = Qᴴ D``
    (``(r + p) × (m + 1)``) at rank ``r`` gives the eigenvalues, and the exact modes come from
    the full data, ``Φ = Y V_B Σ_B⁻¹ W``.

    Args:
        snapshots: ``x_0, …, x_m`` as columns, shape ``(n_state, m + 1)``.
        rank: the target rank ``r`` (an int).
        key: PRNG key for ``Ω`` (not needed with ``test_matrix``).
        oversampling: ``p``, extra sketch columns (5-10 suffice).
        power_iterations: ``q`` (1-2 sharpen a slowly decaying spectrum).
        test_matrix: an explicit ``Ω``, shape ``(m + 1, ℓ)``.
        dt, t0: as in :func:`exact_dmd`.

    Returns:
        A :class:`DMDModel`.

    Raises:
        ValueError: for a missing key, bad shapes or options, naming the argument.

    References:
        Erichson, Mathelin, Kutz and Brunton (2019), "Randomized dynamic mode decomposition",
        SIAM J. Appl. Dyn. Syst. 18(4), 1867-1891; Halko, Martinsson and Tropp (2011), SIAM
        Rev. 53(2), 217-288.
    """
    check_snapshots(snapshots)
    rank = check_int(rank, "rank")
    oversampling = check_int(oversampling, "oversampling", minimum=0)
    power_iterations = check_int(power_iterations, "power_iterations", minimum=0)
    snapshots = jnp.asarray(snapshots)
    columns = snapshots.shape[1]
    if test_matrix is None:
        if key is None:
            raise ValueError("`key` is required to draw the test matrix (or pass `test_matrix`).")
        omega = jax.random.normal(key, (columns, rank + oversampling), real_dtype(snapshots.dtype))
    else:
        if jnp.ndim(test_matrix) != 2 or jnp.shape(test_matrix)[0] != columns:
            raise ValueError(
                f"`test_matrix` must have shape ({columns}, l); got {jnp.shape(test_matrix)}."
            )
        omega = jnp.asarray(test_matrix)
    dt_, t0_ = _times(dt, t0, snapshots.dtype)
    sketch = _range_sketch(snapshots, omega, power_iterations=power_iterations)
    r = min(rank, min(sketch[:, :-1].shape))
    return _sketched_core(
        snapshots, sketch, dt_, t0_, r=r, real_data=not jnp.iscomplexobj(snapshots)
    )


# ---------------------------------------------------------------------------------------------
# DMD with control
# ---------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("r", "p", "real_data"))
def _dmdc_unknown_core(
    data: jax.Array,
    factor: jax.Array,
    control: jax.Array,
    dt: jax.Array,
    t0: jax.Array,
    *,
    r: int,
    p: int,
    real_data: bool,
) -> DMDModel:
    m = data.shape[1] - 1
    rx, ry = factor[:, :m], factor[:, 1:]
    k = rx.shape[0]
    omega = jnp.concatenate([rx, control.astype(rx.dtype)], axis=0)
    up, sp, vp = _pod(omega, p)
    up1, up2 = up[:k], up[k:]
    ur, sr, vr = _pod(ry, r)
    # Proctor et al. (2016), eqs. 4.9-4.11, with every n-row factor replaced by its R-factor
    g = ry @ (vp / sp[None, :].astype(vp.dtype))  # Qᴴ Y V_p Σ_p⁻¹
    atilde = jnp.conj(ur).T @ g @ jnp.conj(up1).T @ ur
    btilde = jnp.conj(ur).T @ g @ jnp.conj(up2).T
    w, vecs = eig(atilde)
    coefficients = ((vp / sp[None, :].astype(vp.dtype)) @ jnp.conj(up1).T @ ur).astype(
        vecs.dtype
    ) @ vecs
    modes = _lift(data, (1, m + 1), coefficients)
    modes_r = ry.astype(coefficients.dtype) @ coefficients
    # B = U_r B̃ with U_r = Y V_r Σ_r⁻¹
    control_matrix = _lift(data, (1, m + 1), (vr / sr[None, :].astype(vr.dtype)) @ btilde)
    b = _first_amplitudes(modes_r, _complex(factor[:, 0]))
    return _assemble(modes, w, b, dt, t0, real_data, control_matrix=control_matrix)


@functools.partial(jax.jit, static_argnames=("r", "real_data"))
def _dmdc_known_core(
    data: jax.Array,
    control: jax.Array,
    control_matrix: jax.Array,
    dt: jax.Array,
    t0: jax.Array,
    *,
    r: int,
    real_data: bool,
) -> DMDModel:
    m = data.shape[1] - 1
    dtype = np.result_type(data.dtype, control_matrix.dtype, control.dtype)
    corrected = data[:, 1:].astype(dtype) - control_matrix.astype(dtype) @ control.astype(dtype)
    pairs = jnp.concatenate([data[:, :m].astype(dtype), corrected], axis=1)
    reduced = factor(pairs, "qr")
    rx, ry = reduced[:, :m], reduced[:, m:]
    w, vecs, _, s, v = _reduced_operator("standard", rx, ry, r)
    coefficients = _inverse_scaled(v, s, vecs)
    modes = _lift(pairs, (m, 2 * m), coefficients)
    modes_r = ry.astype(coefficients.dtype) @ coefficients
    b = _first_amplitudes(modes_r, _complex(reduced[:, 0]))
    return _assemble(modes, w, b, dt, t0, real_data, control_matrix=control_matrix)


def dmd_with_control(
    snapshots: Inexact[ArrayLike, "..."],
    control: Inexact[ArrayLike, "..."],
    *,
    control_matrix: Inexact[ArrayLike, "..."] | None = None,
    rank: int | float | str = "full",
    control_rank: int | float | str = "full",
    dt: ArrayLike = 1.0,
    t0: ArrayLike = 0.0,
) -> DMDModel:
    r"""DMD with control (DMDc): ``x_{k+1} ≈ A x_k + B u_k``.

    - ``B`` known: exact DMD of ``X`` and ``Y − B Υ`` (``Υ = [u_0 … u_{m−1}]``).
    - ``B`` unknown: ``[Y] ≈ [A B] Ω`` with ``Ω = [X; Υ] ≈ Ũ Σ̃ Ṽᴴ`` (rank ``control_rank``,
      ``Ũ = [Ũ₁; Ũ₂]``) and the output basis ``Û`` (rank ``rank``) of ``Y``:
      ``Ã = Ûᴴ Y Ṽ Σ̃⁻¹ Ũ₁ᴴ Û``, ``B̃ = Ûᴴ Y Ṽ Σ̃⁻¹ Ũ₂ᴴ``, modes ``Φ = Y Ṽ Σ̃⁻¹ Ũ₁ᴴ Û W``,
      ``B = Û B̃``.

    Forecast with ``predict(model, x0, t, control)``.

    Args:
        snapshots: ``x_0, …, x_m`` as columns, shape ``(n_state, m + 1)``.
        control: ``u_0, …, u_{m−1}`` as columns, shape ``(n_control, m)``.
        control_matrix: a known ``B``, shape ``(n_state, n_control)``, or ``None``.
        rank: the truncation of ``X`` (``B`` known) or of ``Y`` (``B`` unknown).
        control_rank: the truncation of ``Ω`` (``B`` unknown; at least ``rank``).
        dt, t0: as in :func:`exact_dmd`.

    Returns:
        A :class:`DMDModel` with ``control_matrix`` set.

    Raises:
        ValueError: for shapes that do not match, naming the argument.

    References:
        Proctor, Brunton and Kutz (2016), "Dynamic mode decomposition with control", SIAM J.
        Appl. Dyn. Syst. 15(1), 142-161.
    """
    check_snapshots(snapshots)
    check_rank(rank)
    snapshots = jnp.asarray(snapshots)
    n, columns = snapshots.shape
    m = columns - 1
    if jnp.ndim(control) == 1:
        control = jnp.asarray(control)[None, :]
    if jnp.ndim(control) != 2 or jnp.shape(control)[1] != m:
        raise ValueError(
            f"`control` must have shape (n_control, {m}), one input per pair; "
            f"got {jnp.shape(control)}"
        )
    if not jnp.issubdtype(jnp.result_type(control), jnp.inexact):
        raise TypeError(f"`control` must be floating or complex; got {jnp.result_type(control)}.")
    control = jnp.asarray(control)
    dt_, t0_ = _times(dt, t0, snapshots.dtype)
    real_data = not (jnp.iscomplexobj(snapshots) or jnp.iscomplexobj(control))
    if control_matrix is not None:
        if jnp.shape(control_matrix) != (n, control.shape[0]):
            raise ValueError(
                f"`control_matrix` must have shape ({n}, {control.shape[0]}); "
                f"got {jnp.shape(control_matrix)}"
            )
        control_matrix = jnp.asarray(control_matrix)
        r = _resolve_rank(rank, snapshots[:, :-1], (n, m), "dmd_with_control")
        return _dmdc_known_core(
            snapshots, control, control_matrix, dt_, t0_, r=r, real_data=real_data
        )
    check_rank(control_rank, "control_rank")
    reduced = _factor(snapshots, method="qr")
    omega = jnp.concatenate([reduced[:, :m], control.astype(reduced.dtype)], axis=0)
    p = _resolve_rank(control_rank, omega, (n + control.shape[0], m), "dmd_with_control")
    r = _resolve_rank(rank, reduced[:, 1:], (n, m), "dmd_with_control")
    return _dmdc_unknown_core(snapshots, reduced, control, dt_, t0_, r=r, p=p, real_data=real_data)


# ---------------------------------------------------------------------------------------------
# Sparsity-promoting amplitudes
# ---------------------------------------------------------------------------------------------


def _soft_threshold(v: jax.Array, kappa: jax.Array) -> jax.Array:
    """``S_κ(v) = (1 − κ/|v|) v`` where ``|v| > κ``, else 0."""
    magnitude = jnp.abs(v)
    safe = jnp.where(magnitude > kappa, magnitude, 1.0)
    return jnp.where(magnitude > kappa, (1.0 - kappa / safe).astype(v.dtype) * v, 0.0)


@functools.partial(jax.jit, static_argnames=("max_iterations",))
def _admm(
    p: jax.Array,
    q: jax.Array,
    gamma: jax.Array,
    rho: jax.Array,
    abs_tol: jax.Array,
    rel_tol: jax.Array,
    *,
    max_iterations: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    r = q.shape[0]
    rho_c = rho.astype(q.dtype)
    chol = jnp.linalg.cholesky(p + (rho_c / 2) * jnp.eye(r, dtype=p.dtype))

    def update(beta: jax.Array, lam: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        u = beta - lam / rho_c
        rhs = q + (rho_c / 2) * u
        alpha = jax.scipy.linalg.cho_solve((chol, True), rhs)
        beta_new = _soft_threshold(alpha + lam / rho_c, gamma / rho)
        lam_new = lam + rho_c * (alpha - beta_new)
        return alpha, beta_new, lam_new

    def done(alpha: jax.Array, beta: jax.Array, lam: jax.Array, old_beta: jax.Array) -> jax.Array:
        primal = jnp.linalg.norm(alpha - beta)
        dual = rho * jnp.linalg.norm(beta - old_beta)
        eps_primal = jnp.sqrt(r) * abs_tol + rel_tol * jnp.maximum(
            jnp.linalg.norm(alpha), jnp.linalg.norm(beta)
        )
        eps_dual = jnp.sqrt(r) * abs_tol + rel_tol * jnp.linalg.norm(lam)
        return (primal < eps_primal) & (dual < eps_dual)

    zero = jnp.zeros_like(q)
    alpha, beta, lam = update(zero, zero)

    def cond(state: tuple[Any, ...]) -> jax.Array:
        alpha, beta, lam, old_beta, i = state
        return (~done(alpha, beta, lam, old_beta)) & (i < max_iterations)

    def body(state: tuple[Any, ...]) -> tuple[Any, ...]:
        _, beta, lam, _, i = state
        alpha, beta_new, lam_new = update(beta, lam)
        return alpha, beta_new, lam_new, beta, i + 1

    alpha, beta, lam, old_beta, i = jax.lax.while_loop(
        cond, body, (alpha, beta, lam, zero, jnp.asarray(0))
    )
    return beta, i, done(alpha, beta, lam, old_beta)


def _polish(p: jax.Array, q: jax.Array, zero: jax.Array) -> jax.Array:
    """``argmin bᴴPb − 2Re(qᴴb)`` subject to ``b_i = 0`` where ``zero_i``."""
    keep = ~zero
    both = keep[:, None] & keep[None, :]
    eye = jnp.eye(q.shape[0], dtype=p.dtype)
    restricted = jnp.where(both, p, eye)
    return jnp.where(keep, jnp.linalg.solve(restricted, jnp.where(keep, q, 0)), 0)


def sparsity_promoting_dmd(
    snapshots: Inexact[ArrayLike, "..."],
    *,
    gamma: float,
    rank: int | float | str = "full",
    exact: bool = True,
    rho: float | int = 1.0,
    max_iterations: int = 10_000,
    abs_tol: float | int = 1e-6,
    rel_tol: float | int = 1e-4,
    zero_tol: float | int = 1e-12,
    factorisation: str = "qr",
    dt: ArrayLike = 1.0,
    t0: ArrayLike = 0.0,
    throw: bool = True,
) -> DMDModel:
    r"""Sparsity-promoting DMD: few modes with large amplitudes, chosen by ADMM, then polished.

    With the DMD modes and eigenvalues of :func:`exact_dmd` (or projected), the amplitudes
    minimise ``J(b) + γ Σ|b_k|``, ``J(b) = ‖D − Φ diag(b) V_and‖²_F = bᴴPb − 2Re(qᴴb) + ‖D‖²``.
    ADMM (``α``-update ``(P + ρ/2 I) α = q + ρ/2 (β − λ/ρ)``, ``β = S_{γ/ρ}(α + λ/ρ)``,
    ``λ ← λ + ρ(α − β)``) stops when the primal and dual residuals fall below
    ``√r abs_tol + rel_tol ·max(‖α‖, ‖β‖)`` and ``√r abs_tol + rel_tol ‖λ‖``; the amplitudes
    with ``|β_k| < zero_tol`` are then fixed at 0 and the others re-fitted by least squares
    (polishing).

    Args:
        snapshots: ``x_0, …, x_m`` as columns, shape ``(n_state, m + 1)``.
        gamma: ``γ ≥ 0``, the weight of the sparsity penalty (relative to ``J``'s scale).
        rank, dt, t0, factorisation: as in :func:`exact_dmd`.
        exact: exact modes (default) or projected.
        rho: the ADMM penalty ``ρ > 0``.
        max_iterations: ADMM iteration limit.
        abs_tol, rel_tol: ADMM stopping tolerances.
        zero_tol: amplitudes below this after ADMM are zero.
        throw: raise (``equinox.error_if``) when ADMM reaches ``max_iterations``; otherwise
            ``model.converged`` says so.

    Returns:
        A :class:`DMDModel` with sparse ``amplitudes``, ``iterations`` and ``converged``.

    Raises:
        ValueError: for negative ``gamma``, non-positive ``rho`` or other bad options.

    References:
        Jovanović, Schmid and Nichols (2014), "Sparsity-promoting dynamic mode
        decomposition", Phys. Fluids 26, 024103.
    """
    for name, value, lower in (
        ("gamma", gamma, 0.0),
        ("abs_tol", abs_tol, 0.0),
        ("rel_tol", rel_tol, 0.0),
        ("zero_tol", zero_tol, 0.0),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= lower:
            raise ValueError(f"`{name}` must be a number ≥ {lower}; got {value!r}.")
    if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not rho > 0:
        raise ValueError(f"`rho` must be positive; got {rho!r}.")
    max_iterations = check_int(max_iterations, "max_iterations")
    model = _fit(
        snapshots,
        None,
        rank=rank,
        operator="standard",
        exact=exact,
        amplitudes="first",
        dt=dt,
        t0=t0,
        factorisation=factorisation,
        what="sparsity_promoting_dmd",
    )
    return _sparse_amplitudes(
        model,
        jnp.asarray(snapshots),
        gamma,
        rho,
        abs_tol,
        rel_tol,
        zero_tol,
        max_iterations=max_iterations,
        throw=throw,
    )


@functools.partial(jax.jit, static_argnames=("max_iterations", "throw"))
def _sparse_amplitudes(
    model: DMDModel,
    snapshots: jax.Array,
    gamma: Any,
    rho: Any,
    abs_tol: Any,
    rel_tol: Any,
    zero_tol: Any,
    *,
    max_iterations: int,
    throw: bool,
) -> DMDModel:
    rtype = real_dtype(snapshots.dtype)
    modes = model.modes
    p, q = _optimal_amplitude_system(modes, model.eigenvalues, _complex(snapshots))
    beta, iterations, converged = _admm(
        p,
        q,
        jnp.asarray(gamma, rtype),
        jnp.asarray(rho, rtype),
        jnp.asarray(abs_tol, rtype),
        jnp.asarray(rel_tol, rtype),
        max_iterations=max_iterations,
    )
    if throw:
        beta = eqx.error_if(
            beta, ~converged, "sparsity_promoting_dmd: ADMM did not converge within max_iterations."
        )
    amplitudes = _polish(p, q, jnp.abs(beta) < zero_tol)
    return DMDModel(
        modes=modes,
        eigenvalues=model.eigenvalues,
        amplitudes=amplitudes,
        dt=model.dt,
        t0=model.t0,
        iterations=iterations,
        converged=converged,
        real_data=model.real_data,
    )
