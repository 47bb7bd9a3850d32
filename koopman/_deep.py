r"""Deep Koopman autoencoders (Lusch, Kutz and Brunton 2018): learned coordinates in which the
dynamics are linear, with eigenvalues that may vary across phase space.

An encoder ``y = φ(x)`` maps a state to ``2 p + q`` latent coordinates: ``p`` complex-conjugate
pairs and ``q`` real ones. One step ``Δt`` advances each pair by a rotation-dilation and each
real coordinate by a growth factor,

$$\begin{pmatrix} y_{2j} \\ y_{2j+1} \end{pmatrix} \mapsto e^{\mu_j \Delta t}
  \begin{pmatrix} \cos \omega_j\Delta t & -\sin \omega_j\Delta t \\
                  \sin \omega_j\Delta t &  \cos \omega_j\Delta t \end{pmatrix}
  \begin{pmatrix} y_{2j} \\ y_{2j+1} \end{pmatrix},\qquad
  y_k \mapsto e^{\lambda_k \Delta t} y_k,$$

where the continuous-time eigenvalues ``μ_j ± iω_j = Λ_j(y_{2j}² + y_{2j+1}²)`` and
``λ_k = Λ_k(y_k)`` come from small auxiliary networks. Because they depend on the radius, one
model captures a continuous spectrum (the pendulum's frequency falls with its amplitude) with
very few latent coordinates; a decoder ``x = φ⁻¹(y)`` maps back.

The loss (their eq. 11), each mean-square term relative to the data's mean square
``⟨‖x‖²⟩``:

- reconstruction ``‖x₁ − φ⁻¹(φ(x₁))‖²``;
- prediction ``(1/S_p) Σ_{m=1}^{S_p} ‖x_{m+1} − φ⁻¹(K^m φ(x₁))‖²``;
- linearity ``(1/(T−1)) Σ_{m=1}^{T−1} ‖φ(x_{m+1}) − K^m φ(x₁)‖²`` (in latent units, as in the
  paper: the reconstruction term keeps the latent scale from collapsing);
- the ∞-norm of the reconstruction and one-step prediction errors;

weighted ``α₁ (reconstruction + prediction) + linearity + α₂ ∞-norm``; weight decay is the
optimiser's (``optax.adamw``).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float

from dmech._checks import check_int, check_positive_scalar
from dmech.nn import MLP
from dmech.train import FitResult, fit

__all__ = ["DeepKoopman", "deep_koopman_loss", "fit_deep_koopman"]


class DeepKoopman(eqx.Module):
    r"""A Koopman autoencoder with an auxiliary network for state-dependent eigenvalues.

    Args:
        n_state: the state size.
        complex_pairs: ``p``, latent complex-conjugate pairs.
        real: ``q``, latent real eigenvalues.
        dt: the time step of one advance.
        width: neurons per hidden layer of the encoder and decoder.
        depth: hidden layers of the encoder and decoder.
        auxiliary_width: neurons per hidden layer of each auxiliary network.
        auxiliary_depth: hidden layers of each auxiliary network.
        activation: hidden activation (a :func:`dmech.nn.activation` name).
        key: PRNG key.

    Shapes: :meth:`encode` ``(n_state,) -> (2p + q,)``, :meth:`decode` the reverse,
    :meth:`advance` ``(2p + q,) -> (2p + q,)``, :meth:`rollout` ``(n_state,) ->
    (n_state, steps + 1)``; ``jax.vmap`` for batches.
    """

    encoder: MLP
    decoder: MLP
    pair_networks: tuple[MLP, ...]
    real_networks: tuple[MLP, ...]
    dt: float = eqx.field(static=True)
    n_state: int = eqx.field(static=True)
    complex_pairs: int = eqx.field(static=True)
    real: int = eqx.field(static=True)

    def __init__(
        self,
        n_state: int,
        *,
        complex_pairs: int = 1,
        real: int = 0,
        dt: Any,
        width: int = 80,
        depth: int = 2,
        auxiliary_width: int = 64,
        auxiliary_depth: int = 2,
        activation: str = "relu",
        key: Any,
    ):
        self.n_state = check_int(n_state, "n_state")
        self.complex_pairs = check_int(complex_pairs, "complex_pairs", minimum=0)
        self.real = check_int(real, "real", minimum=0)
        latent = 2 * self.complex_pairs + self.real
        if latent == 0:
            raise ValueError("`complex_pairs` + `real` must be at least 1 (an empty latent space).")
        check_positive_scalar(dt, "dt")
        keys = jax.random.split(key, 2 + self.complex_pairs + self.real)
        self.encoder = MLP(n_state, latent, width, depth, activation=activation, key=keys[0])
        self.decoder = MLP(latent, n_state, width, depth, activation=activation, key=keys[1])

        def auxiliary(out: int | str, key: Any) -> MLP:
            return MLP(
                "scalar", out, auxiliary_width, auxiliary_depth, activation=activation, key=key
            )

        self.pair_networks = tuple(auxiliary(2, k) for k in keys[2 : 2 + self.complex_pairs])
        self.real_networks = tuple(auxiliary("scalar", k) for k in keys[2 + self.complex_pairs :])
        self.dt = float(dt)

    @property
    def latent_size(self) -> int:
        """``2p + q``."""
        return 2 * self.complex_pairs + self.real

    def encode(self, x: Float[Array, " n_state"]) -> Float[Array, " latent"]:
        """``y = φ(x)``."""
        return self.encoder(x)

    def decode(self, y: Float[Array, " latent"]) -> Float[Array, " n_state"]:
        """``x = φ⁻¹(y)``."""
        return self.decoder(y)

    def eigenvalues(self, y: Float[Array, " latent"]) -> Any:
        """The continuous-time eigenvalues at a latent point: ``(μ (p,), ω (p,), λ (q,))``."""
        dtype = y.dtype
        mu, omega = [], []
        for j, network in enumerate(self.pair_networks):
            radius2 = y[2 * j] ** 2 + y[2 * j + 1] ** 2
            out = network(radius2)
            mu.append(out[0])
            omega.append(out[1])
        lam = [
            network(y[2 * self.complex_pairs + k]) for k, network in enumerate(self.real_networks)
        ]

        def stack(values: list[jax.Array]) -> jax.Array:
            return jnp.stack(values).astype(dtype) if values else jnp.zeros((0,), dtype)

        return stack(mu), stack(omega), stack(lam)

    def advance(self, y: Float[Array, " latent"]) -> Float[Array, " latent"]:
        """One step ``Δt`` of the latent linear dynamics with the eigenvalues at ``y``."""
        mu, omega, lam = self.eigenvalues(y)
        dt = jnp.asarray(self.dt, y.dtype)
        p = self.complex_pairs
        pairs = y[: 2 * p].reshape(p, 2)
        scale = jnp.exp(mu * dt)
        cos, sin = jnp.cos(omega * dt), jnp.sin(omega * dt)
        first = scale * (cos * pairs[:, 0] - sin * pairs[:, 1])
        second = scale * (sin * pairs[:, 0] + cos * pairs[:, 1])
        rotated = jnp.stack([first, second], axis=1).reshape(-1)
        grown = jnp.exp(lam * dt) * y[2 * p :]
        return jnp.concatenate([rotated, grown])

    def latent_rollout(
        self, y0: Float[Array, " latent"], steps: int
    ) -> Float[Array, "steps1 latent"]:
        """``y0, K y0, K² y0, …`` (``steps + 1`` rows)."""

        def step(y: jax.Array, _: Any) -> tuple[jax.Array, jax.Array]:
            return self.advance(y), y

        last, history = jax.lax.scan(step, y0, None, length=steps)
        return jnp.concatenate([history, last[None]], axis=0)

    def rollout(self, x0: Float[Array, " n_state"], steps: int) -> Float[Array, "n_state steps1"]:
        """The forecast ``φ⁻¹(K^m φ(x₀))`` for ``m = 0..steps``, states as columns."""
        check_int(steps, "steps", minimum=0)
        latent = self.latent_rollout(self.encode(x0), steps)
        return jax.vmap(self.decode)(latent).T


def deep_koopman_loss(
    model: DeepKoopman,
    batch: Float[Array, "batch n_state time"],
    *,
    prediction_steps: int = 30,
    reconstruction_weight: float = 0.1,
    infinity_weight: float = 1e-7,
    data_scale: Any = 1.0,
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    r"""Lusch et al.'s loss on a batch of trajectories (see the module text).

    Args:
        model: a :class:`DeepKoopman`.
        batch: trajectories, shape ``(batch, n_state, T)``, sampled every ``model.dt``.
        prediction_steps: ``S_p ≤ T − 1``.
        reconstruction_weight: ``α₁``.
        infinity_weight: ``α₂``.
        data_scale: ``⟨‖x‖²⟩`` of the training data (the mean-square normaliser).

    Returns:
        ``(loss, {"reconstruction", "prediction", "linearity", "infinity"})``.
    """
    steps = batch.shape[2] - 1
    scale = jnp.asarray(data_scale, batch.dtype)

    def one(trajectory: jax.Array) -> tuple[jax.Array, ...]:
        states = trajectory.T  # (T, n)
        encoded = jax.vmap(model.encode)(states)
        latent = model.latent_rollout(encoded[0], steps)  # (T, latent)
        decoded = jax.vmap(model.decode)(latent[: prediction_steps + 1])
        reconstruction = model.decode(encoded[0])
        recon_error = jnp.sum((states[0] - reconstruction) ** 2)
        pred_error = jnp.mean(
            jnp.sum((states[1 : prediction_steps + 1] - decoded[1:]) ** 2, axis=1)
        )
        linear_error = jnp.mean(jnp.sum((encoded[1:] - latent[1:]) ** 2, axis=1))
        infinity = jnp.max(jnp.abs(states[0] - reconstruction)) + jnp.max(
            jnp.abs(states[1] - decoded[1])
        )
        return recon_error, pred_error, linear_error, infinity

    recon, pred, linear, infinity = jax.vmap(one)(batch)
    reconstruction = jnp.mean(recon) / scale
    prediction = jnp.mean(pred) / scale
    linearity = jnp.mean(linear)
    infinity_norm = jnp.mean(infinity)
    loss = (
        reconstruction_weight * (reconstruction + prediction)
        + linearity
        + infinity_weight * infinity_norm
    )
    parts = {
        "reconstruction": reconstruction,
        "prediction": prediction,
        "linearity": linearity,
        "infinity": infinity_norm,
    }
    return loss, parts


def fit_deep_koopman(
    model: DeepKoopman,
    trajectories: Float[ArrayLike, "..."],
    *,
    key: Any,
    steps: int,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    weight_decay: float = 1e-6,
    prediction_steps: int = 30,
    reconstruction_weight: float = 0.1,
    infinity_weight: float = 1e-7,
    validation: Float[ArrayLike, "..."] | None = None,
    eval_every: int | None = None,
    **fit_kwargs: Any,
) -> FitResult:
    r"""Train a :class:`DeepKoopman` on trajectories with :func:`dmech.train.fit`.

    AdamW with a cosine-decayed learning rate; the loss is :func:`deep_koopman_loss`.
    With ``validation`` trajectories, ``eval_fn`` reports the relative error of the forecast
    over their whole length (``"forecast_rel"``) every ``eval_every`` steps.

    Args:
        model: the initial model.
        trajectories: shape ``(N, n_state, T)``, sampled every ``model.dt``.
        key: PRNG key (batches).
        steps: optimisation steps.
        batch_size: trajectories per step.
        learning_rate: the peak learning rate.
        weight_decay: AdamW's decoupled weight decay (the paper's ``α₃ ‖W‖²``).
        prediction_steps: ``S_p``.
        reconstruction_weight: ``α₁``.
        infinity_weight: ``α₂``.
        validation: trajectories, shape ``(N_val, n_state, T_val)``, or ``None``.
        eval_every: evaluation interval (default ``steps // 20``).
        **fit_kwargs: passed to :func:`dmech.train.fit` (checkpoint, progress, …).

    Returns:
        The :class:`~dmech.train.FitResult`.

    Raises:
        ValueError: for trajectories of the wrong shape or ``prediction_steps`` beyond them.
    """
    if not isinstance(model, DeepKoopman):
        raise TypeError(f"`model` must be a DeepKoopman; got {type(model).__name__}.")
    data = jnp.asarray(trajectories)
    if data.ndim != 3 or data.shape[1] != model.n_state or data.shape[2] < 2:
        raise ValueError(
            f"`trajectories` must have shape (N, {model.n_state}, T ≥ 2); got {data.shape}."
        )
    prediction_steps = check_int(prediction_steps, "prediction_steps")
    if prediction_steps > data.shape[2] - 1:
        raise ValueError(
            f"`prediction_steps` = {prediction_steps} exceeds the {data.shape[2] - 1} steps of "
            "the trajectories."
        )
    steps = check_int(steps, "steps")
    scale = float(np.mean(np.sum(np.asarray(data) ** 2, axis=1)))
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=1e-2)
    optimizer = optax.adamw(schedule, weight_decay=weight_decay)

    def loss_fn(m: DeepKoopman, batch: jax.Array, key: Any) -> Any:
        del key
        return deep_koopman_loss(
            m,
            batch,
            prediction_steps=prediction_steps,
            reconstruction_weight=reconstruction_weight,
            infinity_weight=infinity_weight,
            data_scale=scale,
        )

    eval_fn = None
    if validation is not None:
        held_out = jnp.asarray(validation)
        if held_out.ndim != 3 or held_out.shape[1] != model.n_state:
            raise ValueError(
                f"`validation` must have shape (N, {model.n_state}, T); got {held_out.shape}."
            )
        horizon = held_out.shape[2] - 1

        @eqx.filter_jit
        def forecast_error(m: DeepKoopman) -> jax.Array:
            forecast = jax.vmap(lambda x0: m.rollout(x0, horizon))(held_out[:, :, 0])
            return jnp.linalg.norm(forecast - held_out) / jnp.linalg.norm(held_out)

        def eval_fn(m: DeepKoopman) -> dict[str, Any]:
            return {"forecast_rel": forecast_error(m)}

        eval_every = eval_every or max(steps // 20, 1)
    batch_size = min(batch_size, data.shape[0])
    return fit(
        model,
        loss_fn,
        optimizer,
        data,
        key=key,
        steps=steps,
        batch_size=batch_size,
        eval_fn=eval_fn,
        eval_every=eval_every if eval_fn is not None else None,
        **fit_kwargs,
    )
