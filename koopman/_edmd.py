r"""Extended DMD: the Koopman operator on a dictionary of observables, by explicit features
(EDMD), by a kernel (kernel EDMD) or as a continuous-time generator (gEDMD).

With snapshot pairs ``y_j = F(x_j)`` and the lifted data ``Ψ_X = [ψ(x_1) … ψ(x_M)]``,
``Ψ_Y = [ψ(y_1) … ψ(y_M)]`` (``N × M``), EDMD is the least-squares operator
``K = Ψ_Y Ψ_X⁺`` with ``ψ(F(x)) ≈ K ψ(x)``. All three variants here use its form on the
leading singular subspace of ``Ψ_X = U Σ Wᴴ`` (rank ``r``):

$$\tilde K = U^H \Psi_Y W \Sigma^{-1} = V \Lambda V^{-1},$$

so that the lift ``z(x) = Uᴴ ψ(x)`` advances by ``K̃``; the Koopman eigenfunctions are
``φ(x) = V⁻¹ z(x)``, the Koopman modes (the state's coefficients on them) are
``Ξ = X W Σ⁻¹ V``, and ``x(t) ≈ Ξ diag(λ^{t/Δt}) φ(x₀)``. For a kernel ``k(x, y) = ψ(x)ᴴψ(y)``
the same quantities follow from the Gram matrices alone: ``Ψ_Xᴴ Ψ_X = W Σ² Wᴴ``,
``K̃ = Σ⁻¹ Wᴴ A W Σ⁻¹`` with ``A_ij = k(x_i, y_j)``, and ``z(x) = Σ⁻¹ Wᴴ k(X, x)``. The
generator version replaces ``Ψ_Y`` by the time derivative of the observables along the flow,
``dψ(x) = ∇ψ(x) f(x) + ½ (σσᵀ) : ∇²ψ(x)`` (forward-mode derivatives of the dictionary), and
its eigenvalues are continuous-time rates.

``regularisation = α > 0`` replaces ``Σ⁻¹`` by ``Σ / (Σ² + α)`` (Tikhonov), the remedy for
dictionaries whose features are nearly dependent on the data.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Complex, Float, Inexact

from dmech._checks import check_int

from ._dictionaries import AbstractDictionary, AbstractKernel, delay_embedding
from ._dmd import _resolve_rank, _times
from ._dmd_linalg import eig
from ._dmd_model import AbstractKoopmanModel, _powers, check_rank

__all__ = ["EDMDModel", "edmd", "eigenfunctions", "generator_edmd", "kernel_edmd"]


class _DictionaryLift(eqx.Module):
    """``z(x) = Uᴴ ψ(x)``: the dictionary followed by the projection on its leading subspace."""

    dictionary: AbstractDictionary
    projection: Inexact[Array, "r size"]

    def __call__(self, x: jax.Array) -> jax.Array:
        features = self.dictionary(x)
        return self.projection @ features.astype(self.projection.dtype)


class _KernelLift(eqx.Module):
    """``z(x) = Σ⁻¹ Wᴴ k(X, x)``: the kernel against the training states, projected."""

    kernel: AbstractKernel
    points: Float[Array, "n_embedded m"]
    projection: Inexact[Array, "r m"]

    def __call__(self, x: jax.Array) -> jax.Array:
        similarity = self.kernel.matrix(self.points, x[:, None])[:, 0]
        return self.projection @ similarity.astype(self.projection.dtype)


class EDMDModel(AbstractKoopmanModel):
    r"""An EDMD approximation of the Koopman operator: eigenvalues, eigenfunctions and modes.

    ``x(t) ≈ Σ_k ξ_k φ_k(x₀) λ_k^{t/Δt}`` with the eigenfunctions ``φ(x) = V⁻¹ z(x)`` of the
    lifted state ``z(x)`` (see the module text). :func:`~koopman.predict`,
    :func:`~koopman.reconstruct` and :func:`eigenfunctions` take it. Arrays are leaves
    (differentiable, also with respect to the dictionary's parameters inside ``lift``).

    Attributes:
        lift: the map from a (delay-embedded) state to ``z``, shape ``(n_embedded,) -> (r,)``.
        operator: ``K̃``, shape ``(r, r)``: ``z(F(x)) ≈ K̃ z(x)`` (for a generator model,
            ``dz/dt ≈ K̃ z``).
        eigenvectors: ``V``, shape ``(r, r)``, complex.
        modes: the Koopman modes ``ξ_k`` of the (newest) state, shape ``(n_state, r)``.
        eigenvalues: the discrete-time eigenvalues ``λ_k`` over ``dt``, shape ``(r,)``.
        amplitudes: ``φ(x)`` at the first fitted state (for :func:`reconstruct`), ``(r,)``.
        dt, t0: the time step and the time of the first fitted state.
        generator_eigenvalues: for :func:`generator_edmd`, the continuous-time eigenvalues
            ``ω_k`` (then ``λ_k = e^{ω_k Δt}``), else ``None``.
        delays: the number of delays ``d`` of the embedding (static).
        real_data: the snapshots were real (static).
    """

    lift: _DictionaryLift | _KernelLift
    operator: Inexact[Array, "r r"]
    eigenvectors: Complex[Array, "r r"]
    modes: Complex[Array, "n_state r"]
    eigenvalues: Complex[Array, " r"]
    amplitudes: Complex[Array, " r"]
    dt: Float[Array, ""]
    t0: Float[Array, ""]
    generator_eigenvalues: Complex[Array, " r"] | None = None
    delays: int = eqx.field(static=True, default=0)
    real_data: bool = eqx.field(static=True)

    @property
    def continuous_eigenvalues(self) -> Complex[Array, " r"]:
        """``ω_k``: the generator's eigenvalues, or ``log(λ_k)/Δt`` (principal logarithm)."""
        if self.generator_eigenvalues is not None:
            return self.generator_eigenvalues
        return super().continuous_eigenvalues

    def powers(self, steps: Float[Array, " time"]) -> Complex[Array, "r time"]:
        """``λ_k^{s_j}`` for (fractional) steps ``s``; ``exp(ω_k s_j Δt)`` for a generator."""
        if self.generator_eigenvalues is None:
            return _powers(self.eigenvalues, steps)
        ctype = self.generator_eigenvalues.dtype
        times = (steps * self.dt).astype(ctype)
        return jnp.exp(self.generator_eigenvalues[:, None] * times[None, :])

    def coordinates(self, x0: Inexact[Array, "..."]) -> Complex[Array, " r"]:
        """The eigenfunctions ``φ(x₀)``, shape ``(r,)``; ``x0`` is ``(n_state,)``, or
        ``(n_state, d + 1)`` (oldest first) with ``d`` delays."""
        n_state = self.modes.shape[0]
        expected = (n_state,) if self.delays == 0 else (n_state, self.delays + 1)
        if jnp.shape(x0) != expected:
            raise ValueError(
                f"`x0` must have shape {expected}"
                + (f" (the last {self.delays + 1} states as columns)" if self.delays else "")
                + f"; got {jnp.shape(x0)}."
            )
        x0 = jnp.asarray(x0)
        if jnp.iscomplexobj(x0):
            raise TypeError("EDMD dictionaries take real states; `x0` is complex.")
        embedded = x0.T.reshape(-1) if self.delays else x0
        z = self.lift(embedded)
        return jnp.linalg.solve(self.eigenvectors, z.astype(self.eigenvectors.dtype))


def eigenfunctions(model: EDMDModel, x: Float[ArrayLike, "..."]) -> Complex[Array, "*batch r"]:
    r"""The Koopman eigenfunctions ``φ_k(x) = (V⁻¹ z(x))_k`` of an EDMD model at states.

    Along the dynamics ``φ_k(F(x)) ≈ λ_k φ_k(x)`` (``dφ_k/dt ≈ ω_k φ_k`` for a generator).

    Args:
        model: an :class:`EDMDModel`.
        x: a state, shape ``(n_state,)`` (``(n_state, d + 1)`` with delays), or a batch of
            them with leading axes.

    Returns:
        Shape ``(*batch, r)``, complex.
    """
    if not isinstance(model, EDMDModel):
        raise TypeError(f"`model` must be an EDMDModel; got {type(model).__name__}.")
    x = jnp.asarray(x)
    core = 1 if model.delays == 0 else 2
    if x.ndim < core:
        raise ValueError(f"`x` must have at least {core} dimensions; got shape {x.shape}.")
    batch = x.shape[: x.ndim - core]
    flat = x.reshape((-1, *x.shape[x.ndim - core :]))
    values = jax.vmap(model.coordinates)(flat)
    return values.reshape((*batch, values.shape[-1]))


# ---------------------------------------------------------------------------------------------
# Data pairs
# ---------------------------------------------------------------------------------------------


def _pairs(
    snapshots: Any, shifted: Any, delays: int
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(X_embedded, Y_embedded, X_newest, first_embedded)`` as columns."""
    snapshots = jnp.asarray(snapshots)
    if not jnp.issubdtype(snapshots.dtype, jnp.floating):
        raise TypeError(
            f"`snapshots` must be real floating (dictionaries are real); got {snapshots.dtype}."
        )
    if shifted is not None:
        shifted = jnp.asarray(shifted)
        if snapshots.ndim != 2 or shifted.shape != snapshots.shape:
            raise ValueError(
                "with `shifted`, `snapshots` and `shifted` must be matrices (n_state, M) of one "
                f"shape; got {snapshots.shape} and {shifted.shape}."
            )
        if delays:
            raise ValueError("`delays` needs trajectories: pass `shifted=None`.")
        if snapshots.shape[1] < 1:
            raise ValueError("`snapshots` has no columns.")
        shifted = shifted.astype(snapshots.dtype)
        return snapshots, shifted, snapshots, snapshots[:, 0]
    if snapshots.ndim == 2:
        snapshots = snapshots[None]
    if snapshots.ndim != 3:
        raise ValueError(
            "`snapshots` must be a trajectory (n_state, m) or a batch of them "
            f"(n_trajectories, n_state, m); got shape {snapshots.shape}."
        )
    _, n_state, m = snapshots.shape
    if n_state < 1 or m < delays + 2:
        raise ValueError(
            f"`snapshots` needs at least delays + 2 = {delays + 2} snapshots per trajectory; "
            f"got shape {snapshots.shape}."
        )
    embedded = jax.vmap(lambda s: delay_embedding(s, delays))(snapshots)  # (B, n(d+1), m-d)
    x = embedded[:, :, :-1]
    y = embedded[:, :, 1:]
    newest = x[:, n_state * delays :, :]

    def columns(a: jax.Array) -> jax.Array:
        return jnp.moveaxis(a, 0, 1).reshape(a.shape[1], -1)

    return columns(x), columns(y), columns(newest), embedded[0, :, 0]


def _check_dictionary(dictionary: Any, n_embedded: int, delays: int) -> None:
    if not isinstance(dictionary, AbstractDictionary):
        raise TypeError(
            f"`dictionary` must be a koopman dictionary (Monomials, HermitePolynomials, "
            f"RadialBasis, …); got {type(dictionary).__name__}."
        )
    if dictionary.n_state != n_embedded:
        raise ValueError(
            f"`dictionary` takes states of size {dictionary.n_state}, but the "
            + ("delay-embedded " if delays else "")
            + f"state has size {n_embedded}."
        )


def _check_regularisation(regularisation: Any) -> None:
    if isinstance(regularisation, jax.core.Tracer):
        return
    value = float(np.asarray(regularisation))
    if not value >= 0:
        raise ValueError(f"`regularisation` must be ≥ 0; got {value}.")


def _inverse_singular_values(s: jax.Array, regularisation: Any) -> jax.Array:
    alpha = jnp.asarray(regularisation, s.dtype)
    return s / (s**2 + alpha)


def _assemble(
    lift_of: _DictionaryLift | _KernelLift,
    operator: jax.Array,
    newest_right: jax.Array,
    first: jax.Array,
    dt: jax.Array,
    t0: jax.Array,
    delays: int,
    generator: bool,
) -> EDMDModel:
    """Eigen-decompose ``K̃`` and collect the model (``newest_right = X W Σ⁻¹``)."""
    values, vectors = eig(operator)
    ctype = values.dtype
    modes = newest_right.astype(ctype) @ vectors
    if generator:
        rates = values
        discrete = jnp.exp(rates * dt.astype(ctype))
    else:
        rates, discrete = None, values
    z0 = lift_of(first)
    amplitudes = jnp.linalg.solve(vectors, z0.astype(ctype))
    return EDMDModel(
        lift=lift_of,
        operator=operator,
        eigenvectors=vectors,
        modes=modes,
        eigenvalues=discrete,
        amplitudes=amplitudes,
        dt=dt,
        t0=t0,
        generator_eigenvalues=rates,
        delays=delays,
        real_data=True,
    )


def _dictionary_fit(
    dictionary: AbstractDictionary,
    x: jax.Array,
    target_features: jax.Array,
    newest: jax.Array,
    first: jax.Array,
    rank: Any,
    regularisation: Any,
    dt: jax.Array,
    t0: jax.Array,
    delays: int,
    generator: bool,
    what: str,
) -> EDMDModel:
    features = jax.vmap(dictionary)(x.T).T  # (N, M)
    u, s, wh = jnp.linalg.svd(features, full_matrices=False)
    r = _resolve_rank(rank, features, (features.shape[0], features.shape[1]), what)
    u, s, w = u[:, :r], s[:r], jnp.conj(wh[:r]).T
    inverse = _inverse_singular_values(s, regularisation)
    right = w * inverse[None, :]  # W Σ⁻¹
    projection = jnp.conj(u).T
    operator = projection @ target_features.astype(u.dtype) @ right
    lift = _DictionaryLift(dictionary, projection)
    return _assemble(lift, operator, newest @ right, first, dt, t0, delays, generator)


# ---------------------------------------------------------------------------------------------
# Public fits
# ---------------------------------------------------------------------------------------------


def edmd(
    snapshots: Float[ArrayLike, "..."],
    dictionary: AbstractDictionary,
    *,
    shifted: Float[ArrayLike, "..."] | None = None,
    delays: int = 0,
    rank: Any = "full",
    regularisation: Any = 0.0,
    dt: Any = 1.0,
    t0: Any = 0.0,
) -> EDMDModel:
    r"""Extended DMD (Williams, Kevrekidis and Rowley 2015) on an explicit dictionary.

    ``K̃ = Uᴴ Ψ_Y W Σ⁻¹`` on the leading ``rank`` singular subspace of ``Ψ_X`` (see the module
    text); its eigenvalues approximate Koopman eigenvalues, exactly when the dictionary spans
    an invariant subspace of the Koopman operator and the data determine it.

    Args:
        snapshots: one trajectory (states as columns, ``(n_state, m)``), a batch of
            trajectories ``(n_trajectories, n_state, m)``, or, with ``shifted``, the states
            ``x_j`` of independent pairs ``(n_state, M)``.
        dictionary: the observables ``ψ``, taking states of size ``n_state (d + 1)``.
        shifted: the images ``y_j = F(x_j)``, shape ``(n_state, M)``, or ``None``.
        delays: ``d``, the number of earlier states stacked with each state
            (:func:`delay_embedding`; trajectories only).
        rank: the truncation of ``Ψ_X``'s SVD: an int, an energy fraction in (0, 1),
            ``"optimal"`` (Gavish-Donoho) or ``"full"``.
        regularisation: Tikhonov ``α ≥ 0`` (``Σ⁻¹ → Σ/(Σ² + α)``).
        dt: the time between a state and its image.
        t0: the time of the first state.

    Returns:
        An :class:`EDMDModel`.

    Raises:
        ValueError: for shapes that do not fit together, a dictionary of the wrong size, or a
            bad ``rank``/``regularisation``/``dt``.
        TypeError: for complex snapshots or something that is not a dictionary.

    References:
        Williams, Kevrekidis and Rowley (2015), "A data-driven approximation of the Koopman
        operator: extending dynamic mode decomposition", J. Nonlinear Sci. 25, 1307-1346.
    """
    delays = check_int(delays, "delays", minimum=0)
    check_rank(rank)
    _check_regularisation(regularisation)
    x, y, newest, first = _pairs(snapshots, shifted, delays)
    _check_dictionary(dictionary, x.shape[0], delays)
    dt, t0 = _times(dt, t0, x.dtype)
    target = jax.vmap(dictionary)(y.T).T
    return _dictionary_fit(
        dictionary, x, target, newest, first, rank, regularisation, dt, t0, delays, False, "edmd"
    )


def kernel_edmd(
    snapshots: Float[ArrayLike, "..."],
    kernel: AbstractKernel,
    *,
    shifted: Float[ArrayLike, "..."] | None = None,
    delays: int = 0,
    rank: Any = "full",
    regularisation: Any = 0.0,
    dt: Any = 1.0,
    t0: Any = 0.0,
) -> EDMDModel:
    r"""Kernel EDMD (Williams, Rowley and Kevrekidis 2015): EDMD with the implicit dictionary
    of a kernel, from the ``M × M`` Gram matrices.

    ``G = [k(x_i, x_j)] = W Σ² Wᴴ`` (truncated to ``rank``), ``A = [k(x_i, y_j)]``,
    ``K̃ = Σ⁻¹ Wᴴ A W Σ⁻¹``, ``z(x) = Σ⁻¹ Wᴴ [k(x_i, x)]_i``. Costs ``O(M²)`` kernel
    evaluations and memory, independent of the dictionary's size (infinite for a Gaussian).

    Args:
        snapshots: as in :func:`edmd`.
        kernel: a :class:`~koopman.GaussianKernel`, :class:`~koopman.PolynomialKernel`, ….
        shifted: as in :func:`edmd`.
        delays: as in :func:`edmd`.
        rank: as in :func:`edmd` (the Gram matrix's spectrum decides an automatic rank).
        regularisation: as in :func:`edmd`.
        dt: as in :func:`edmd`.
        t0: as in :func:`edmd`.

    Returns:
        An :class:`EDMDModel` (its lift keeps the training states).

    Raises:
        ValueError, TypeError: as :func:`edmd`.

    References:
        Williams, Rowley and Kevrekidis (2015), "A kernel-based method for data-driven
        Koopman spectral analysis", J. Comput. Dyn. 2(2), 247-265.
    """
    delays = check_int(delays, "delays", minimum=0)
    check_rank(rank)
    _check_regularisation(regularisation)
    if not isinstance(kernel, AbstractKernel):
        raise TypeError(
            f"`kernel` must be a koopman kernel (GaussianKernel, PolynomialKernel, …); "
            f"got {type(kernel).__name__}."
        )
    x, y, newest, first = _pairs(snapshots, shifted, delays)
    dt, t0 = _times(dt, t0, x.dtype)
    gram = kernel.matrix(x, x)
    cross = kernel.matrix(x, y)
    values, vectors = jnp.linalg.eigh(gram)
    values, vectors = values[::-1], vectors[:, ::-1]
    singular = jnp.sqrt(jnp.maximum(values, 0.0))
    r = _resolve_rank(rank, jnp.diag(singular), (gram.shape[0], gram.shape[1]), "kernel_edmd")
    singular, w = singular[:r], vectors[:, :r]
    inverse = _inverse_singular_values(singular, regularisation)
    right = w * inverse[None, :]
    operator = right.T @ cross @ right
    lift = _KernelLift(kernel, x, right.T)
    return _assemble(lift, operator, newest @ right, first, dt, t0, delays, False)


def generator_edmd(
    snapshots: Float[ArrayLike, "..."],
    derivatives: Float[ArrayLike, "..."],
    dictionary: AbstractDictionary,
    *,
    diffusion: Float[ArrayLike, "..."] | None = None,
    rank: Any = "full",
    regularisation: Any = 0.0,
    dt: Any = 1.0,
) -> EDMDModel:
    r"""Generator EDMD (Klus et al. 2020): the Koopman generator ``L`` on a dictionary, from
    states and the vector field (drift) at them.

    For ``dx = f(x) dt + σ(x) dW``, ``(Lψ)(x) = ∇ψ(x) f(x) + ½ Σ_{ij} (σσᵀ)_{ij} ∂_i∂_j ψ(x)``,
    computed from the dictionary by forward-mode differentiation (Hessians only when
    ``diffusion`` is given); ``K̃ = Uᴴ (LΨ_X) W Σ⁻¹`` and its eigenvalues are the
    continuous-time rates ``ω_k`` (``model.continuous_eigenvalues``). ``predict`` then uses
    ``e^{ω t}``; ``dt`` only sets the model's discrete eigenvalues ``e^{ω Δt}``.

    Args:
        snapshots: the states ``x_j`` as columns, shape ``(n_state, M)``.
        derivatives: the drift ``f(x_j)`` as columns, shape ``(n_state, M)`` (the known vector
            field, or finite-difference estimates ``ẋ_j``).
        dictionary: the observables, taking states of size ``n_state``.
        diffusion: ``σ(x_j)``, shape ``(n_state, n_noise, M)``, for a stochastic system, or
            ``None``.
        rank: as in :func:`edmd`.
        regularisation: as in :func:`edmd`.
        dt: the time step of the discrete eigenvalues.

    Returns:
        An :class:`EDMDModel` with ``generator_eigenvalues``.

    Raises:
        ValueError, TypeError: as :func:`edmd`, and for ``derivatives``/``diffusion`` of the
            wrong shape.

    References:
        Klus, Nüske, Peitz, Niemann, Clementi and Schütte (2020), "Data-driven approximation
        of the Koopman generator: model reduction, system identification, and control",
        Physica D 406, 132416.
    """
    check_rank(rank)
    _check_regularisation(regularisation)
    x = jnp.asarray(snapshots)
    if x.ndim != 2 or x.shape[1] < 1 or not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(
            f"`snapshots` must be a real matrix (n_state, M); got {x.shape} {x.dtype}."
        )
    drift = jnp.asarray(derivatives)
    if drift.shape != x.shape:
        raise ValueError(f"`derivatives` must have shape {x.shape}; got {drift.shape}.")
    drift = drift.astype(x.dtype)
    _check_dictionary(dictionary, x.shape[0], 0)
    dt, t0 = _times(dt, 0.0, x.dtype)

    def transport(state: jax.Array, velocity: jax.Array) -> jax.Array:
        return jax.jvp(dictionary, (state,), (velocity,))[1]

    target = jax.vmap(transport)(x.T, drift.T).T
    if diffusion is not None:
        sigma = jnp.asarray(diffusion)
        if sigma.ndim != 3 or sigma.shape[0] != x.shape[0] or sigma.shape[2] != x.shape[1]:
            raise ValueError(
                f"`diffusion` must have shape ({x.shape[0]}, n_noise, {x.shape[1]}); "
                f"got {sigma.shape}."
            )
        sigma = sigma.astype(x.dtype)

        def second_order(state: jax.Array, s: jax.Array) -> jax.Array:
            hessian = jax.hessian(dictionary)(state)  # (N, n, n)
            covariance = s @ s.T
            return 0.5 * jnp.einsum("kij,ij->k", hessian, covariance)

        target = target + jax.vmap(second_order)(x.T, jnp.moveaxis(sigma, 2, 0)).T
    return _dictionary_fit(
        dictionary, x, target, x, x[:, 0], rank, regularisation, dt, t0, 0, True, "generator_edmd"
    )
