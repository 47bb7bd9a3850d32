"""`dmech demo`: the flagship end-to-end run of what dmech can do today.

Until topology optimisation lands, the demo shows the learned-model stack every other
package builds on: dmech.nn and dmech.train fit a multiscale 2D field with a plain MLP and
with an MLP on random Fourier features (Tancik et al. 2020), the remedy for the spectral bias
that PINNs and neural fields suffer from, and plot both against the exact field.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax


def multiscale_field(x: np.ndarray) -> np.ndarray:
    """A smooth large-scale field plus fine oscillations on [0, 1]^2; x of shape (n, 2)."""
    r2 = (x[:, 0] - 0.35) ** 2 + (x[:, 1] - 0.6) ** 2
    coarse = np.exp(-r2 / 0.05) + 0.5 * np.sin(np.pi * x[:, 0]) * x[:, 1]
    fine = 0.25 * np.sin(10 * np.pi * x[:, 0]) * np.sin(6 * np.pi * x[:, 1])
    return coarse + fine


class _FourierMLP(eqx.Module):
    features: eqx.Module
    mlp: eqx.Module

    def __call__(self, x):
        return self.mlp(self.features(x))


def run_demo(out: str | Path | None = None, *, quick: bool = False) -> Path:
    """Train both models, write the comparison figure, and return the PNG's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .nn import MLP, FourierFeatures
    from .train import fit

    out = Path(out) if out is not None else Path.cwd() / "dmech-demo.png"
    n = 48 if quick else 128
    steps = 300 if quick else 4000
    width = 64 if quick else 128

    def say(message):
        print(message, file=sys.stderr, flush=True)

    say(f"dmech demo: fit a multiscale field on a {n}x{n} grid, {steps} Adam steps per model")
    g = (np.arange(n, dtype=np.float32) + 0.5) / n
    x = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    y = multiscale_field(x)[:, None].astype(np.float32)
    data = (jnp.asarray(x), jnp.asarray(y))

    def loss(model, batch, _key):
        xb, yb = batch
        return jnp.mean((jax.vmap(model)(xb) - yb) ** 2)

    schedule = optax.cosine_decay_schedule(2e-3, steps, alpha=0.05)
    k_mlp, k_ff, k_feat, k_fit = jax.random.split(jax.random.key(0), 4)
    models = {
        "MLP": MLP(2, 1, width, 3, activation="tanh", key=k_mlp),
        "Fourier-feature MLP": _FourierMLP(
            FourierFeatures(2, width // 2, scale=4.0, key=k_feat),
            MLP(width, 1, width, 3, activation="tanh", key=k_ff),
        ),
    }
    results = {}
    for name, model in models.items():
        say(f"training {name} ...")
        t0 = time.perf_counter()
        result = fit(
            model,
            loss,
            optax.adam(schedule),
            data,
            key=k_fit,
            steps=steps,
            batch_size=min(1024, n * n),
            progress=None if not quick else False,
        )
        pred = np.asarray(jax.vmap(result.model)(data[0]))
        err = float(np.linalg.norm(pred - y) / np.linalg.norm(y))
        results[name] = (pred, result.history, err)
        say(
            f"  {name}: relative L2 error {err:.2e}, {result.steps_per_second:.0f} steps/s, "
            f"{time.perf_counter() - t0:.1f} s"
        )

    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    extent = (0, 1, 0, 1)
    vmin, vmax = float(y.min()), float(y.max())
    panels: list[tuple[str, np.ndarray, float | None]] = [("exact field", y, None)]
    panels += [(name, pred, err) for name, (pred, _, err) in results.items()]
    for ax, (title, field, rel_err) in zip(axes[:3], panels, strict=True):
        im = ax.imshow(
            field.reshape(n, n).T,
            origin="lower",
            extent=extent,
            vmin=vmin,
            vmax=vmax,
            cmap="viridis",
        )
        ax.set_title(title if rel_err is None else f"{title}\nrel. L2 error {rel_err:.1e}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[:3], shrink=0.8)
    for name, (_, history, _) in results.items():
        axes[3].semilogy(history["step"], history["loss"], label=name, lw=0.8)
    axes[3].set_xlabel("step")
    axes[3].set_ylabel("training loss (MSE)")
    axes[3].set_title("dmech.train loss history")
    axes[3].legend()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    say(f"wrote {out}")
    return out
