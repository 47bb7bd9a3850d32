r"""neuraloperator (PyTorch) models equal to dmech's, for benchmarks that train both.

`neuralop_fno(model)` builds the `neuralop.models.FNO` with the same architecture as an
`operators.FNO` and, optionally, the same weights; the `__main__` block is a check script:

    python -m operators._neuralop_peer

prints, for each published configuration, the parameter counts of both and the largest
difference between their outputs on the same input with the same weights.

The correspondence (neuraloperator 2.0):

- `n_modes`: neuraloperator counts all kept frequencies of an axis, centred on zero: on
  every axis but the last it keeps `n_modes // 2` negative and `n_modes // 2` non-negative
  ones (even counts), on the last (real FFT) axis `n_modes // 2 + 1`. Our `modes[j] = m`
  keeps `-m..m-1` (non-last axes) and `0..m-1` (last), so `n_modes = (2m_1, ..., 2m_{d-1},
  2m_d - 1)`.
- lifting: `lifting_channel_ratio=0` gives one pointwise affine layer (ours with
  `lifting_width=None`); projection: `projection_channel_ratio = projection_width / width`.
- Fourier layers: `use_channel_mlp=False`, `fno_skip="linear"` (a bias-free 1x1 skip; the
  bias sits in their spectral convolution, in our skip: the same sum).
- positional features: their `"grid"` embedding is `linspace(0, 1, n + 1)[:-1]`, ours
  `positional="periodic"`.
- activation: their default is the exact (erf) GELU; dmech's `"gelu"` is the tanh
  approximation, so pass `functools.partial(jax.nn.gelu, approximate=False)` for equal
  outputs.
- padding: theirs is a fraction of the size on both ends (`domain_padding`), ours zeros at
  the end; compare with `padding=0` (the counts do not depend on it).
- one difference remains: with `use_channel_mlp=False`, neuraloperator 2.0's
  `FNOBlocks.forward_with_postactivation` applies the activation twice between Fourier
  layers (once after the sum, once more where the channel MLP would have been), so its
  network is $\sigma(\sigma(\cdot))$ between layers where Li et al. (and ours) have
  $\sigma$. Same parameters, slightly different function; `single_activation(peer)` patches
  an instance to the paper's form (the check script shows the outputs then agree to
  round-off).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from ._fno import FNO


def neuralop_fno_kwargs(model: FNO) -> dict[str, Any]:
    """Keyword arguments of `neuralop.models.FNO` for the architecture of `model`.

    Raises:
        ValueError: for an FNO that neuraloperator cannot express the same way (an MLP
            lifting, or no positional features or closed-grid coordinates with a request
            for equal outputs: those still give equal parameter counts).
    """
    if len(model.lifting) != 1:
        raise ValueError("only an affine lifting (lifting_width=None) has a neuralop twin")
    projection_width = model.projection[0].out_channels
    n_modes = (*(2 * m for m in model.modes[:-1]), 2 * model.modes[-1] - 1)
    return dict(
        n_modes=n_modes,
        in_channels=model.in_channels,
        out_channels=model.out_channels,
        hidden_channels=model.width,
        n_layers=model.depth,
        lifting_channel_ratio=0,
        projection_channel_ratio=projection_width / model.width,
        positional_embedding="grid" if model.positional is not None else None,
        use_channel_mlp=False,
        fno_skip="linear",
    )


def neuralop_fno(model: FNO, *, copy_weights: bool = True) -> Any:
    """The `neuralop.models.FNO` with the architecture (and weights) of `model`.

    Args:
        model: an `operators.FNO` with an affine lifting.
        copy_weights: copy our parameters into theirs (then both compute the same function
            when our positional features are `"periodic"`, the activation is the exact GELU
            and there is no padding).

    Returns:
        A `torch.nn.Module` in float32.
    """
    import torch
    from neuralop.models import FNO as NeuralopFNO

    peer = NeuralopFNO(**neuralop_fno_kwargs(model))
    if not copy_weights:
        return peer

    def tensor(x: Any, *, complex_: bool = False) -> Any:
        array = np.asarray(x)
        return torch.from_numpy(array.astype(np.complex64 if complex_ else np.float32))

    d = model.spatial_dims
    with torch.no_grad():
        lift = model.lifting[0]
        peer.lifting.fcs[0].weight.copy_(tensor(lift.weight)[:, :, None])
        peer.lifting.fcs[0].bias.copy_(tensor(lift.bias))
        for i, (conv, skip) in enumerate(zip(model.spectral, model.skips, strict=True)):
            weight = np.asarray(conv.weight_real) + 1j * np.asarray(conv.weight_imag)
            # (out, in, ...) with frequencies 0..m-1, -m..-1 -> (in, out, ...) centred.
            weight = np.fft.fftshift(np.swapaxes(weight, 0, 1), axes=tuple(range(2, 1 + d)))
            peer.fno_blocks.convs[i].weight.tensor.copy_(tensor(weight, complex_=True))
            peer.fno_blocks.convs[i].bias.copy_(tensor(skip.bias).reshape(-1, *([1] * d)))
            peer.fno_blocks.fno_skips[i].conv.weight.copy_(tensor(skip.weight)[:, :, None])
        for j, layer in enumerate(model.projection):
            peer.projection.fcs[j].weight.copy_(tensor(layer.weight)[:, :, None])
            peer.projection.fcs[j].bias.copy_(tensor(layer.bias))
    return peer


def single_activation(peer: Any) -> Any:
    """Patch a neuralop FNO (built by `neuralop_fno`) to apply the activation once between
    Fourier layers, as Li et al. (2021); returns the same instance."""
    blocks = peer.fno_blocks

    def forward_with_postactivation(x: Any, index: int = 0, output_shape: Any = None) -> Any:
        x = blocks.convs[index](x, output_shape=output_shape) + blocks.fno_skips[index](x)
        if index < blocks.n_layers - 1:
            x = blocks.non_linearity(x)
        return x

    blocks.forward_with_postactivation = forward_with_postactivation
    return peer


def count_parameters(module: Any) -> int:
    """Real parameters of a torch module (a complex one counts twice)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters())


def _count_ours(model: FNO) -> int:
    import equinox as eqx

    leaves = jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))
    return sum(int(x.size) for x in leaves)


def main() -> None:
    """Print parameter counts and output differences for the published configurations."""
    import torch
    from neuralop.models import FNO as NeuralopFNO

    from ._fno import _PUBLISHED

    exact_gelu = functools.partial(jax.nn.gelu, approximate=False)
    sizes = {1: (256,), 2: (32, 32), 3: (16, 16, 20)}
    print(
        "| problem | modes | width | dmech params | neuralop params | neuralop defaults "
        "| max output diff, same weights: as is / single activation | max output |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for problem, (channels, dims, modes, width, _) in _PUBLISHED.items():
        model = FNO(
            channels, 1, modes=modes, width=width, depth=4, spatial_dims=dims,
            positional="periodic", activation=exact_gelu, key=jax.random.key(0),
        )  # fmt: skip
        peer = neuralop_fno(model)
        kwargs = neuralop_fno_kwargs(model)
        defaults = NeuralopFNO(
            n_modes=kwargs["n_modes"], in_channels=channels, out_channels=1,
            hidden_channels=width, n_layers=4,
        )  # fmt: skip
        x = np.random.default_rng(0).standard_normal((2, channels, *sizes[dims]))
        ours = np.asarray(jax.vmap(model)(x.astype(np.float32)))
        with torch.no_grad():
            as_is = peer(torch.from_numpy(x.astype(np.float32))).numpy()
            patched = single_activation(peer)(torch.from_numpy(x.astype(np.float32))).numpy()
        diff = float(np.max(np.abs(ours - as_is)))
        diff_patched = float(np.max(np.abs(ours - patched)))
        scale = float(np.max(np.abs(ours)))
        print(
            f"| {problem} | {modes} | {width} | {_count_ours(model)} | {count_parameters(peer)} "
            f"| {count_parameters(defaults)} | {diff:.1e} / {diff_patched:.1e} | {scale:.1e} |"
        )


if __name__ == "__main__":
    main()
