"""`dmech bench train-mlp`: fit a known 2D function with dmech.train, against PyTorch."""

from __future__ import annotations

import importlib.metadata
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..bench import Benchmark, Case, Measured, Peer
from ..nn import MLP
from ._fit import fit


def target_function(x: np.ndarray) -> np.ndarray:
    """The function to fit on [-1, 1]^2: ``sin(2πx₁) cos(πx₂) + x₁x₂/2``; x of shape (n, 2)."""
    return np.sin(2 * np.pi * x[:, 0]) * np.cos(np.pi * x[:, 1]) + 0.5 * x[:, 0] * x[:, 1]


def _problem(num_train: int, seed: int):
    rng = np.random.default_rng(seed)
    x_train = rng.uniform(-1.0, 1.0, (num_train, 2)).astype(np.float32)
    y_train = target_function(x_train)[:, None].astype(np.float32)
    g = np.linspace(-1.0, 1.0, 64, dtype=np.float32)
    x_test = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    y_test = target_function(x_test)[:, None].astype(np.float32)
    return x_train, y_train, x_test, y_test


def _rel_l2(pred, exact) -> float:
    return float(np.linalg.norm(pred - exact) / np.linalg.norm(exact))


def _setup(width, depth, steps, batch_size, learning_rate, num_train, seed, steps_per_call):
    x_train, y_train, x_test, y_test = _problem(num_train, seed)
    model0 = MLP(2, 1, width, depth, activation="tanh", key=jax.random.key(seed))
    key = jax.random.key(seed + 1)

    def loss(model, batch, _key):
        xb, yb = batch
        return jnp.mean((jax.vmap(model)(xb) - yb) ** 2)

    def run():
        result = fit(
            model0,
            loss,
            optax.adam(learning_rate),
            (jnp.asarray(x_train), jnp.asarray(y_train)),
            key=key,
            steps=steps,
            batch_size=batch_size,
            steps_per_call=steps_per_call,
            devices=jax.devices()[:1],
            progress=False,
        )
        pred = np.asarray(jax.vmap(result.model)(jnp.asarray(x_test)))
        out = {"pred": pred, "steps_per_second": result.steps_per_second}
        return Measured(out, result.train_seconds, result.compile_seconds)

    def error(out):
        return {"rel_l2": _rel_l2(out["pred"], y_test)}

    def figures(out):
        return {"steps_per_second": out["steps_per_second"], "final_rel_l2": error(out)["rel_l2"]}

    # The batches dmech draws, reproduced for the peer so that both see the same data order.
    num_epochs = -(-steps * batch_size // num_train) + 1
    data_key = jax.random.fold_in(key, 0)
    perms = [
        np.asarray(jax.random.permutation(jax.random.fold_in(data_key, e), num_train))
        for e in range(num_epochs)
    ]
    peer, missing = _torch_peer(
        model0, x_train, y_train, x_test, y_test, perms, steps, batch_size, learning_rate
    )
    return Case(
        run=run,
        error=error,
        reference="the closed-form target sin(2πx₁)cos(πx₂) + x₁x₂/2 on a 64×64 grid of [-1,1]²",
        answer=lambda out: out["pred"],
        figures=figures,
        peer=peer,
        peer_missing=missing,
    )


def _torch_peer(model0, x_train, y_train, x_test, y_test, perms, steps, batch_size, lr):
    """The same MLP, initial weights, Adam and batch order in PyTorch (CPU, float32)."""
    try:
        import torch
    except ImportError:
        return None, "torch is not installed (pip install 'dmech[peers]')"

    weights = [(np.array(layer.weight), np.array(layer.bias)) for layer in model0.layers]
    per_epoch = x_train.shape[0] // batch_size
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)

    def build():
        layers = []
        for i, (w, b) in enumerate(weights):
            linear = torch.nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(w))
                linear.bias.copy_(torch.from_numpy(b))
            layers.append(linear)
            if i < len(weights) - 1:
                layers.append(torch.nn.Tanh())
        return torch.nn.Sequential(*layers)

    def run():
        net = build()
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        start = time.perf_counter()
        for step in range(steps):
            idx = perms[step // per_epoch][(step % per_epoch) * batch_size :][:batch_size]
            idx = torch.from_numpy(idx.astype(np.int64))
            opt.zero_grad(set_to_none=True)
            loss = torch.mean((net(xt[idx]) - yt[idx]) ** 2)
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - start
        with torch.no_grad():
            pred = net(torch.from_numpy(x_test)).numpy()
        return Measured(pred, seconds)

    peer = Peer(
        name="torch",
        version=importlib.metadata.version("torch"),
        run=run,
        error=lambda pred: {"rel_l2": _rel_l2(pred, y_test)},
        answer=lambda pred: pred,
    )
    return peer, None


train_mlp = Benchmark(
    name="train-mlp",
    description="fit a known 2D function with an MLP and Adam through dmech.train: final "
    "relative L2 error and steps per second, against the same loop in PyTorch",
    params={
        "width": 64,
        "depth": 3,
        "steps": 10000,
        "batch_size": 128,
        "learning_rate": 3e-3,
        "num_train": 4096,
        "seed": 0,
        "steps_per_call": 200,
    },
    setup=_setup,
)
