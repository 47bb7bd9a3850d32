"""Optimised DMD by variable projection (Levenberg-Marquardt on the exponentials, any sample
times) and its bagging ensemble, BOP-DMD.

Gradients do not unroll the iterations: the fitted continuous-time eigenvalues are
differentiated by the implicit function theorem on the stationarity of the projected
least-squares objective (a ``custom_jvp``), and the amplitudes and modes then follow by
ordinary differentiation of a least-squares fit.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float, Inexact, Int, PRNGKeyArray

from dmech._checks import check_int

from ._dmd import _factor, _lift, _resolve_rank
from ._dmd_linalg import FACTORISATIONS, eig
from ._dmd_model import DMDModel, check_choice, check_rank, check_snapshots, real_dtype

__all__ = ["bop_dmd", "optimised_dmd"]


class _Options(NamedTuple):
    """Levenberg-Marquardt settings (static); the names and defaults of Askham and Kutz's
    ``varpro2`` (and PyDMD's ``varpro_opts``)."""

    init_lambda: float = 1.0
    max_lambda_steps: int = 52
    lambda_up: float = 2.0
    levenberg_marquardt: bool = True
    max_iterations: int = 30
    tol: float = 1e-6
    eps_stall: float = 1e-12
    constraint: str | None = None


def _push(alpha: jax.Array, constraint: str | None) -> jax.Array:
    """Project the eigenvalues on the constraint set (``"stable"``: no positive real part,
    ``"imaginary"``: purely imaginary)."""
    imaginary = jax.lax.complex(jnp.zeros_like(alpha.real), alpha.imag).astype(alpha.dtype)
    if constraint == "stable":
        return jnp.where(alpha.real > 0, imaginary, alpha)
    if constraint == "imaginary":
        return imaginary
    return alpha


def _exponentials(alpha: jax.Array, t: jax.Array) -> jax.Array:
    """``Φ_ij = exp(α_j t_i)``, shape ``(M, r)``."""
    return jnp.exp(t[:, None].astype(alpha.dtype) * alpha[None, :])


def _fit_amplitudes(phi: jax.Array, h: jax.Array) -> jax.Array:
    """``B = Φ⁺ H``, shape ``(r, IS)``."""
    return jnp.linalg.lstsq(phi, h.astype(phi.dtype))[0]


def _error(
    alpha: jax.Array, h: jax.Array, t: jax.Array, h_norm: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    phi = _exponentials(alpha, t)
    b = _fit_amplitudes(phi, h)
    residual = h.astype(phi.dtype) - phi @ b
    return residual, b, jnp.linalg.norm(residual) / h_norm


def _levenberg_marquardt(
    h: jax.Array, t: jax.Array, alpha0: jax.Array, options: _Options
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Variable projection for ``H ≈ Φ(α) B`` (Golub-Pereyra Jacobian, Levenberg-Marquardt
    with Askham and Kutz's step control). Returns ``(α, iterations, status)``, status 1:
    relative error below ``tol``, 2: stalled (relative decrease below ``eps_stall``), 3: no
    decreasing step within ``max_lambda_steps`` increases of λ, 4: ``max_iterations``."""
    m, width = h.shape
    r = alpha0.shape[0]
    rtype = real_dtype(alpha0.dtype)
    h = h.astype(alpha0.dtype)
    h_norm = jnp.linalg.norm(h)
    tolrank = m * jnp.finfo(rtype).eps

    def jacobian(alpha: jax.Array, b: jax.Array, residual: jax.Array) -> jax.Array:
        phi = _exponentials(alpha, t)
        u, s, vh = jnp.linalg.svd(phi, full_matrices=False)
        keep = s > tolrank * s[0]
        u = jnp.where(keep[None, :], u, 0)
        s_inv = jnp.where(keep, 1.0 / jnp.where(keep, s, 1.0), 0.0).astype(phi.dtype)
        derivative = t[:, None].astype(phi.dtype) * phi  # column i: ∂Φ/∂α_i
        orthogonal = derivative - u @ (jnp.conj(u).T @ derivative)
        kaufman = orthogonal[:, None, :] * b.T[None, :, :]
        pinv_h = (u * s_inv[None, :]) @ vh  # (Φ⁺)ᴴ
        full = pinv_h[:, None, :] * (jnp.conj(derivative).T @ residual).T[None, :, :]
        return (kaufman + full).reshape(m * width, r)

    residual0, b0, error0 = _error(_push(alpha0, options.constraint), h, t, h_norm)
    init = (
        _push(alpha0, options.constraint),
        b0,
        residual0,
        error0,
        jnp.asarray(options.init_lambda, rtype),
        jnp.asarray(jnp.inf, rtype),
        jnp.asarray(0),
        jnp.asarray(0),
    )

    def cond(state: tuple[Any, ...]) -> jax.Array:
        return state[7] == 0

    def body(state: tuple[Any, ...]) -> tuple[Any, ...]:
        alpha, b, residual, error, lam, previous, itr, _ = state
        jac = jacobian(alpha, b, residual)
        scales = jnp.ones((r,), rtype)
        if options.levenberg_marquardt:
            scales = jnp.clip(jnp.linalg.norm(jac, axis=0), 1e-6, 1.0)
        q, rjac = jnp.linalg.qr(jac)
        rhs_top = jnp.conj(q).T @ residual.reshape(-1)
        rhs = jnp.concatenate([rhs_top, jnp.zeros((r,), rhs_top.dtype)])
        objective = 0.5 * error**2 * h_norm**2

        def step(lam_: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
            stacked = jnp.concatenate([rjac, jnp.diag((lam_ * scales).astype(rjac.dtype))], axis=0)
            delta = jnp.linalg.lstsq(stacked, rhs)[0]
            alpha_new = _push(alpha + delta, options.constraint)
            residual_new, b_new, error_new = _error(alpha_new, h, t, h_norm)
            return delta, alpha_new, b_new, residual_new, error_new

        delta0, alpha_try, b_try, residual_try, error_try = step(lam)
        actual = objective - 0.5 * error_try**2 * h_norm**2
        predicted = 0.5 * jnp.real(jnp.vdot(delta0, jnp.conj(rjac).T @ rhs_top))
        ratio = actual / predicted
        improved = error_try < error
        lam_good = lam * jnp.maximum(1.0 / 3.0, 1.0 - (2.0 * ratio - 1.0) ** 3)

        def raise_cond(s: tuple[Any, ...]) -> jax.Array:
            _, k, _, _, _, err = s
            return (err >= error) & (k < options.max_lambda_steps)

        def raise_body(s: tuple[Any, ...]) -> tuple[Any, ...]:
            lam_, k, _, _, _, _ = s
            lam_ = lam_ * options.lambda_up
            _, a, bb, res, err = step(lam_)
            return lam_, k + 1, a, bb, res, err

        # only searched when the first step fails (the loop body does not run otherwise)
        start = (
            lam,
            jnp.where(improved, options.max_lambda_steps, 0),
            alpha_try,
            b_try,
            residual_try,
            error_try,
        )
        lam_bad, _, alpha_bad, b_bad, residual_bad, error_bad = jax.lax.while_loop(
            raise_cond, raise_body, start
        )
        lam_new = jnp.where(improved, lam_good, lam_bad)
        found = improved | (error_bad < error)
        alpha_new = jnp.where(found, jnp.where(improved, alpha_try, alpha_bad), alpha)
        b_new = jnp.where(found, jnp.where(improved, b_try, b_bad), b)
        residual_new = jnp.where(found, jnp.where(improved, residual_try, residual_bad), residual)
        error_new = jnp.where(found, jnp.where(improved, error_try, error_bad), error)
        stalled = (itr > 0) & (error - error_new < options.eps_stall * error)
        status = jnp.where(
            ~found,
            3,
            jnp.where(
                error_new < options.tol,
                1,
                jnp.where(stalled, 2, jnp.where(itr + 1 >= options.max_iterations, 4, 0)),
            ),
        )
        del previous
        return alpha_new, b_new, residual_new, error_new, lam_new, error, itr + 1, status

    alpha, *_, itr, status = jax.lax.while_loop(cond, body, init)
    # an initial guess that already fits (or no iterations allowed)
    return alpha, itr, status


def _to_real(alpha: jax.Array, constraint: str | None) -> jax.Array:
    if constraint == "imaginary":
        return alpha.imag
    return jnp.concatenate([alpha.real, alpha.imag])


def _from_real(p: jax.Array, constraint: str | None, ctype: Any) -> jax.Array:
    if constraint == "imaginary":
        return jax.lax.complex(jnp.zeros_like(p), p).astype(ctype)
    r = p.shape[0] // 2
    return jax.lax.complex(p[:r], p[r:]).astype(ctype)


def _projected_objective(
    p: jax.Array, h: jax.Array, t: jax.Array, constraint: str | None, ctype: Any
) -> jax.Array:
    """``½ ‖(I − Φ Φ⁺) H‖²_F`` as a function of the real parameters of ``α``."""
    phi = _exponentials(_from_real(p, constraint, ctype), t)
    q, _ = jnp.linalg.qr(phi)
    hc = h.astype(ctype)
    residual = hc - q @ (jnp.conj(q).T @ hc)
    return 0.5 * jnp.sum(jnp.abs(residual) ** 2)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _solve_alpha(
    h: jax.Array, t: jax.Array, alpha0: jax.Array, options: _Options
) -> tuple[jax.Array, jax.Array, jax.Array]:
    return _levenberg_marquardt(h, t, alpha0, options)


@_solve_alpha.defjvp
def _solve_alpha_jvp(
    options: _Options, primals: tuple[jax.Array, ...], tangents: tuple[jax.Array, ...]
) -> tuple[Any, Any]:
    # Implicit function theorem on ∇_p f(p*, H, t) = 0:  dp* = −(∇²_pp f)⁻¹ ∂_{H,t} ∇_p f · (dH, dt)
    h, t, alpha0 = primals
    dh, dt, _ = tangents
    alpha, itr, status = _solve_alpha(h, t, alpha0, options)
    ctype = alpha.dtype
    p = _to_real(alpha, options.constraint)
    grad = jax.grad(_projected_objective, argnums=0)

    def stationarity(h_: jax.Array, t_: jax.Array) -> jax.Array:
        return grad(p, h_, t_, options.constraint, ctype)

    _, mixed = jax.jvp(stationarity, (h, t), (dh, dt))
    hessian = jax.hessian(_projected_objective, argnums=0)(p, h, t, options.constraint, ctype)
    dp = -jnp.linalg.solve(hessian, mixed)
    dalpha = _from_real(dp, options.constraint, ctype)
    zero_int = np.zeros((), dtype=jax.dtypes.float0)
    return (alpha, itr, status), (dalpha, zero_int, zero_int)


def _initial_alpha(h: jax.Array, t: jax.Array, r: int) -> jax.Array:
    """Continuous-time eigenvalues of the trapezoidal-rule fit ``ż = A z`` of the projected
    snapshots (Askham and Kutz 2018, §3): ``(z_{j+1} − z_j)/Δt_j ≈ A (z_j + z_{j+1})/2``."""
    z = h.T  # (r_proj, M)
    mean = (z[:, :-1] + z[:, 1:]) / 2
    slope = (z[:, 1:] - z[:, :-1]) / jnp.diff(t)[None, :].astype(z.dtype)
    u, s, vh = jnp.linalg.svd(mean, full_matrices=False)
    u, s, vh = u[:, :r], s[:r], vh[:r]
    atilde = jnp.conj(u).T @ slope @ (jnp.conj(vh).T / s[None, :].astype(vh.dtype))
    return eig(atilde)[0]


def _normalised_modes(b_matrix: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Modes ``w_k = B_kᵀ / ‖B_k‖`` and amplitudes ``‖B_k‖`` (zero for a vanishing row)."""
    w = b_matrix.T
    amplitude = jnp.linalg.norm(w, axis=0)
    small = amplitude < 10 * jnp.finfo(amplitude.dtype).eps * jnp.max(amplitude)
    safe = jnp.where(small, 1.0, amplitude)
    w = jnp.where(small[None, :], 0.0, w / safe[None, :].astype(w.dtype))
    return w, jnp.where(small, 0.0, amplitude).astype(w.dtype)


def _check_varpro_options(
    max_iterations: Any,
    tol: Any,
    eps_stall: Any,
    init_lambda: Any,
    max_lambda_steps: Any,
    lambda_up: Any,
    constraint: Any,
) -> _Options:
    max_iterations = check_int(max_iterations, "max_iterations")
    max_lambda_steps = check_int(max_lambda_steps, "max_lambda_steps", minimum=0)
    for name, value in (("tol", tol), ("eps_stall", eps_stall)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"`{name}` must be a number ≥ 0; got {value!r}.")
    for name, value in (("init_lambda", init_lambda), ("lambda_up", lambda_up)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"`{name}` must be positive; got {value!r}.")
    if lambda_up <= 1:
        raise ValueError(f"`lambda_up` must exceed 1; got {lambda_up!r}.")
    if constraint is not None:
        check_choice(constraint, "constraint", ("stable", "imaginary"))
    return _Options(
        float(init_lambda),
        max_lambda_steps,
        float(lambda_up),
        True,
        max_iterations,
        float(tol),
        float(eps_stall),
        constraint,
    )


def _prepare(
    snapshots: Any, times: Any, rank: Any, init_eigenvalues: Any, dt: Any, factorisation: str
) -> tuple[jax.Array, jax.Array, jax.Array, int]:
    check_snapshots(snapshots)
    check_rank(rank)
    snapshots = jnp.asarray(snapshots)
    columns = snapshots.shape[1]
    if jnp.shape(times) != (columns,):
        raise ValueError(
            f"`times` must have shape ({columns},) (one time per snapshot); got {jnp.shape(times)}."
        )
    if jnp.iscomplexobj(times):
        raise TypeError("`times` must be real.")
    rtype = real_dtype(snapshots.dtype)
    if not isinstance(times, jax.core.Tracer) and not np.all(np.diff(np.asarray(times)) > 0):
        raise ValueError("`times` must be strictly increasing.")
    times = jnp.asarray(times, rtype)
    if dt is not None:
        if jnp.shape(dt) != ():
            raise ValueError(f"`dt` must be a scalar; got shape {jnp.shape(dt)}.")
        if not isinstance(dt, jax.core.Tracer) and not float(dt) > 0:
            raise ValueError(f"`dt` must be positive; got {dt}.")
    check_choice(factorisation, "factorisation", FACTORISATIONS)
    factor = _factor(snapshots, method=factorisation)
    r = _resolve_rank(rank, factor, snapshots.shape, "optimised_dmd")
    if init_eigenvalues is not None and jnp.shape(init_eigenvalues) != (r,):
        raise ValueError(
            f"`init_eigenvalues` must have shape ({r},); got {jnp.shape(init_eigenvalues)}."
        )
    return snapshots, times, factor, r


def _projection(factor: jax.Array, r: int) -> tuple[jax.Array, jax.Array]:
    """The projected snapshots ``Uᴴ D = Σ Vᴴ`` (as rows, ``(M, r)``) and the lifting
    coefficients ``V Σ⁻¹`` (``U = D V Σ⁻¹``)."""
    _, s, vh = jnp.linalg.svd(factor, full_matrices=False)
    s, vh = s[:r], vh[:r]
    projected = (s[:, None].astype(vh.dtype) * vh).T
    return projected, jnp.conj(vh).T / s[None, :].astype(vh.dtype)


def _optimised_impl(
    snapshots: jax.Array,
    factor: jax.Array,
    times: jax.Array,
    init: jax.Array | None,
    dt: jax.Array | None,
    *,
    r: int,
    options: _Options,
    real_data: bool,
) -> tuple[DMDModel, jax.Array, jax.Array]:
    h, lift = _projection(factor, r)
    ctype = np.result_type(h.dtype, np.complex64)
    t = times - times[0]
    alpha0 = _initial_alpha(h, t, r) if init is None else init.astype(ctype)
    alpha, itr, status = _solve_alpha(h, t, alpha0, options)
    w, b = _normalised_modes(_fit_amplitudes(_exponentials(alpha, t), h))
    modes = _lift(snapshots, (0, snapshots.shape[1]), lift.astype(ctype) @ w)
    step = jnp.min(jnp.diff(times)) if dt is None else jnp.asarray(dt, times.dtype)
    model = DMDModel(
        modes=modes,
        eigenvalues=jnp.exp(alpha * step.astype(ctype)),
        amplitudes=b,
        dt=step,
        t0=times[0],
        iterations=itr,
        converged=status < 4,
        real_data=real_data,
    )
    return model, alpha, status


_optimised_core = jax.jit(_optimised_impl, static_argnames=("r", "options", "real_data"))


def optimised_dmd(
    snapshots: Inexact[ArrayLike, "..."],
    times: Float[ArrayLike, "..."],
    *,
    rank: int | float | str = "full",
    init_eigenvalues: Inexact[ArrayLike, "..."] | None = None,
    constraint: str | None = None,
    dt: ArrayLike | None = None,
    max_iterations: int = 30,
    tol: float | int = 1e-6,
    eps_stall: float | int = 1e-12,
    init_lambda: float | int = 1.0,
    max_lambda_steps: int = 52,
    lambda_up: float | int = 2.0,
    factorisation: str = "qr",
    throw: bool = False,
) -> DMDModel:
    r"""Optimised DMD: the exponential fit ``x(t_i) ≈ Σ_k φ_k b_k e^{ω_k (t_i − t_0)}`` by
    variable projection, for any sample times.

    The snapshots are projected on their rank-``r`` POD basis ``U`` (``H = (Uᴴ D)ᵀ``, one row
    per time); ``min_{ω, B} ‖H − Φ(ω) B‖_F`` with ``Φ_ij = e^{ω_j t_i}`` is solved for ``ω``
    with ``B = Φ⁺ H`` eliminated (variable projection, Golub-Pereyra Jacobian) by
    Levenberg-Marquardt from the eigenvalues of a trapezoidal-rule fit (or
    ``init_eigenvalues``); the modes are ``φ_k = U B_kᵀ / ‖B_k‖`` and ``b_k = ‖B_k‖``. The
    model's discrete-time eigenvalues are ``λ = e^{ω Δt}`` with ``Δt = dt`` (default: the
    smallest sample spacing; ``model.continuous_eigenvalues`` recovers ``ω`` when
    ``|Im ω| Δt < π``).

    Derivatives: ``ω`` by the implicit function theorem on the stationarity of the projected
    objective (exact at an unconstrained minimum, or with ``constraint="imaginary"``), the
    rest by differentiating the least-squares fits.

    Args:
        snapshots: ``x(t_0), …, x(t_{M−1})`` as columns, shape ``(n_state, M)``.
        times: the strictly increasing sample times ``t_i``, shape ``(M,)``.
        rank: the number of exponentials (an int, energy fraction, ``"optimal"`` or ``"full"``).
        init_eigenvalues: initial continuous-time eigenvalues ``ω``, shape ``(r,)``.
        constraint: ``None``, ``"stable"`` (``Re ω ≤ 0``) or ``"imaginary"`` (``Re ω = 0``).
        dt: the time step of the discrete-time eigenvalues.
        max_iterations, tol, eps_stall, init_lambda, max_lambda_steps, lambda_up: the
            Levenberg-Marquardt settings of Askham and Kutz's ``varpro2``: stop when the
            relative residual falls below ``tol`` or decreases by less than ``eps_stall``
            (relative), or after ``max_iterations``; a failed step multiplies λ by
            ``lambda_up`` up to ``max_lambda_steps`` times.
        factorisation: ``"qr"`` or ``"gram"``, how the POD basis is computed (as in
            :func:`~koopman.exact_dmd`).
        throw: raise (``equinox.error_if``) if ``max_iterations`` is reached before either
            criterion (``model.converged`` reports it otherwise).

    Returns:
        A :class:`DMDModel` with ``iterations`` and ``converged``.

    Raises:
        ValueError: for bad shapes, non-increasing times or bad options, naming the argument.

    References:
        Askham and Kutz (2018), "Variable projection methods for an optimized dynamic mode
        decomposition", SIAM J. Appl. Dyn. Syst. 17(1), 380-416; Golub and Pereyra (1973),
        SIAM J. Numer. Anal. 10(2), 413-432.
    """
    options = _check_varpro_options(
        max_iterations, tol, eps_stall, init_lambda, max_lambda_steps, lambda_up, constraint
    )
    snapshots, times, factor, r = _prepare(
        snapshots, times, rank, init_eigenvalues, dt, factorisation
    )
    init = None if init_eigenvalues is None else jnp.asarray(init_eigenvalues)
    model, _, _ = _optimised_core(
        snapshots,
        factor,
        times,
        init,
        None if dt is None else jnp.asarray(dt),
        r=r,
        options=options,
        real_data=not jnp.iscomplexobj(snapshots),
    )
    if throw:
        assert model.converged is not None
        model = eqx.error_if(
            model, ~model.converged, "optimised_dmd: variable projection reached max_iterations."
        )
    return model


def _sort_keys(alpha: jax.Array, kind: jax.Array) -> jax.Array:
    """Permutations sorting each row by real part (then imaginary), imaginary (then real) or
    modulus: kind 0, 1, 2."""
    by_real = jnp.lexsort((alpha.imag, alpha.real), axis=-1)
    by_imag = jnp.lexsort((alpha.real, alpha.imag), axis=-1)
    by_abs = jnp.argsort(jnp.abs(alpha), axis=-1)
    return jnp.select([kind == 0, kind == 1], [by_real, by_imag], by_abs)


_SORTS = ("real", "imag", "abs")


def _greedy_match(alpha: jax.Array, reference: jax.Array) -> jax.Array:
    """The permutation ``p`` with ``alpha[p[j]]`` near ``reference[j]``: repeatedly pair the
    closest remaining eigenvalues."""
    r = reference.shape[0]
    cost = jnp.abs(alpha[:, None] - reference[None, :])

    def body(_: Any, state: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        cost, perm = state
        flat = jnp.argmin(cost)
        i, j = flat // r, flat % r
        cost = cost.at[i, :].set(jnp.inf).at[:, j].set(jnp.inf)
        return cost, perm.at[j].set(i.astype(perm.dtype))

    _, perm = jax.lax.fori_loop(0, r, body, (cost, jnp.zeros((r,), jnp.int32)))
    return perm


@functools.partial(jax.jit, static_argnames=("r", "options", "sort", "real_data"))
def _bop_core(
    snapshots: jax.Array,
    factor: jax.Array,
    times: jax.Array,
    init: jax.Array | None,
    dt: jax.Array | None,
    indices: jax.Array,
    *,
    r: int,
    options: _Options,
    sort: str,
    real_data: bool,
) -> DMDModel:
    first, alpha0, status0 = _optimised_impl(
        snapshots, factor, times, init, dt, r=r, options=options, real_data=real_data
    )
    h, lift = _projection(factor, r)
    ctype = alpha0.dtype
    t = times - times[0]
    h_trials = h[indices]
    t_trials = t[indices]
    alphas, _, statuses = jax.vmap(lambda hh, tt: _solve_alpha(hh, tt, alpha0, options))(
        h_trials, t_trials
    )
    ws, bs = jax.vmap(
        lambda a, hh, tt: _normalised_modes(_fit_amplitudes(_exponentials(a, tt), hh))
    )(alphas, h_trials, t_trials)
    if sort == "match":
        order = jax.vmap(_greedy_match, in_axes=(0, None))(alphas, alpha0)
    elif sort == "auto":
        variances = jnp.stack(
            [jnp.var(alphas[0].real), jnp.var(alphas[0].imag), jnp.var(jnp.abs(alphas[0]))]
        )
        kind = jnp.argmax(variances)
        order = _sort_keys(alphas, kind)
    else:
        order = _sort_keys(alphas, jnp.asarray(_SORTS.index(sort)))
    alphas = jnp.take_along_axis(alphas, order, axis=1)
    bs = jnp.take_along_axis(bs, order, axis=1)
    ws = jnp.take_along_axis(ws, order[:, None, :], axis=2)
    basis = _lift(snapshots, (0, snapshots.shape[1]), lift.astype(ctype))  # orthonormal columns
    alpha_mean = jnp.mean(alphas, axis=0)
    w_mean = basis @ jnp.mean(ws, axis=0)
    b_mean = jnp.mean(bs, axis=0)
    # E|U w|² per entry and mode, without forming every trial's lifted modes
    second = jnp.einsum("tik,tjk->kij", ws, jnp.conj(ws)) / ws.shape[0]
    w_square = jnp.real(jnp.einsum("ni,kij,nj->nk", basis, second, jnp.conj(basis)))

    def spread(square_mean: jax.Array, mean: jax.Array) -> jax.Array:
        return jnp.sqrt(jnp.abs(square_mean - jnp.abs(mean) ** 2))

    step = first.dt
    converged = (status0 < 4) & jnp.all(statuses < 4)
    return DMDModel(
        modes=w_mean,
        eigenvalues=jnp.exp(alpha_mean * step.astype(ctype)),
        amplitudes=b_mean,
        dt=step,
        t0=times[0],
        continuous_eigenvalues_std=spread(jnp.mean(jnp.abs(alphas) ** 2, axis=0), alpha_mean),
        modes_std=spread(w_square, w_mean),
        amplitudes_std=spread(jnp.mean(jnp.abs(bs) ** 2, axis=0), b_mean),
        iterations=first.iterations,
        converged=converged,
        real_data=real_data,
    )


def bop_dmd(
    snapshots: Inexact[ArrayLike, "..."],
    times: Float[ArrayLike, "..."],
    *,
    rank: int | float | str = "full",
    key: PRNGKeyArray | None = None,
    num_trials: int = 100,
    trial_size: int | float = 0.6,
    trial_indices: Int[ArrayLike, "..."] | None = None,
    sort: str = "match",
    init_eigenvalues: Inexact[ArrayLike, "..."] | None = None,
    constraint: str | None = None,
    dt: ArrayLike | None = None,
    max_iterations: int = 30,
    tol: float | int = 1e-6,
    eps_stall: float | int = 1e-12,
    init_lambda: float | int = 1.0,
    max_lambda_steps: int = 52,
    lambda_up: float | int = 2.0,
    factorisation: str = "qr",
) -> DMDModel:
    r"""Bagging, optimised DMD (BOP-DMD): optimised DMD on random subsets of the snapshots,
    with the ensemble mean and spread of the eigenvalues, modes and amplitudes.

    An optimised DMD fit of all the snapshots (:func:`optimised_dmd`) gives ``ω₀``; each of
    ``num_trials`` trials fits a random subset of ``trial_size`` snapshots (in time order,
    without repeats) from ``ω₀``, all trials at once (``vmap``). Each trial's eigenvalues
    (and its modes and amplitudes) are put in a common order (``sort``: ``"match"``, each
    trial's eigenvalue closest to each of ``ω₀`` by greedy pairing, robust to conjugate pairs
    and real eigenvalues; or PyDMD's orders, by real part, imaginary part or modulus, and
    ``"auto"``, by whichever varies most in the first trial); the model holds the
    ensemble means, and ``continuous_eigenvalues_std``, ``modes_std``, ``amplitudes_std`` the
    standard deviations ``sqrt(|E|z|² − |E z|²|)``.

    Args:
        snapshots: ``x(t_0), …, x(t_{M−1})`` as columns, shape ``(n_state, M)``.
        times: strictly increasing sample times, shape ``(M,)``.
        rank: the number of exponentials.
        key: PRNG key for the subsets (not needed with ``trial_indices``).
        num_trials: the number of trials.
        trial_size: snapshots per trial: an int, or a fraction of ``M`` in ``(0, 1)``.
        trial_indices: explicit sorted subsets, shape ``(trials, size)``.
        sort: ``"match"``, ``"auto"``, ``"real"``, ``"imag"`` or ``"abs"``.
        init_eigenvalues, constraint, dt, max_iterations, tol, eps_stall, init_lambda,
            max_lambda_steps, lambda_up, factorisation: as in :func:`optimised_dmd` (every
            trial uses them).

    Returns:
        A :class:`DMDModel` with the ensemble statistics; ``converged`` is true when the
        first fit and every trial converged.

    Raises:
        ValueError: for a missing key, a bad trial size or other bad options.

    References:
        Sashidhar and Kutz (2022), "Bagging, optimized dynamic mode decomposition for robust,
        stable forecasting with spatial and temporal uncertainty quantification", Phil. Trans.
        R. Soc. A 380, 20210199.
    """
    options = _check_varpro_options(
        max_iterations, tol, eps_stall, init_lambda, max_lambda_steps, lambda_up, constraint
    )
    check_choice(sort, "sort", ("match", "auto", *_SORTS))
    snapshots, times, factor, r = _prepare(
        snapshots, times, rank, init_eigenvalues, dt, factorisation
    )
    columns = snapshots.shape[1]
    if trial_indices is None:
        num_trials = check_int(num_trials, "num_trials")
        if isinstance(trial_size, bool) or not isinstance(trial_size, (int, float)):
            raise ValueError(
                f"`trial_size` must be an int or a fraction in (0, 1); got {trial_size!r}."
            )
        size = (
            int(trial_size * columns)
            if isinstance(trial_size, float) and 0 < trial_size < 1
            else trial_size
        )
        if not isinstance(size, int) or not r <= size <= columns:
            raise ValueError(
                f"`trial_size` must give {r} (the rank) to {columns} snapshots; got {trial_size!r}."
            )
        if key is None:
            raise ValueError(
                "`key` is required to draw the trial subsets (or pass `trial_indices`)."
            )
        keys = jax.random.split(key, num_trials)
        indices = jax.vmap(
            lambda k: jnp.sort(jax.random.choice(k, columns, (size,), replace=False))
        )(keys)
    else:
        if jnp.ndim(trial_indices) != 2 or not jnp.issubdtype(
            jnp.result_type(trial_indices), jnp.integer
        ):
            raise ValueError(
                f"`trial_indices` must be an integer matrix (trials, size); "
                f"got {jnp.shape(trial_indices)}."
            )
        indices = jnp.asarray(trial_indices)
        if indices.shape[1] < r:
            raise ValueError(
                f"`trial_indices` must select at least {r} (the rank) snapshots per trial."
            )
    init = None if init_eigenvalues is None else jnp.asarray(init_eigenvalues)
    return _bop_core(
        snapshots,
        factor,
        times,
        init,
        None if dt is None else jnp.asarray(dt),
        indices,
        r=r,
        options=options,
        sort=sort,
        real_data=not jnp.iscomplexobj(snapshots),
    )
