"""Tests for the Fourier neural operators, their losses and training helpers, and the
resolution harness (operators/_fno.py, _losses.py, _resolution.py)."""

import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.testing import assert_no_recompile, assert_tree_equal, check_grad
from dmech.train import fit
from operators._fno import (
    FNO,
    FactorizedFNO,
    FactorizedSpectralConv,
    SpectralConv,
    published_fno,
    repeat_in_time,
    rollout_fno,
)
from operators._losses import (
    relative_l2_error,
    relative_l2_loss,
    rollout_loss,
    step_decay_adam,
    step_decay_schedule,
    supervised_loss,
)
from operators._resolution import format_resolution_table, resolution_table

KEY = jax.random.key(0)


def _num_params(model):
    """Number of floating parameters (of a model, or of its `eqx.filter_eval_shape`)."""
    leaves = jax.tree.leaves(model)
    return sum(
        math.prod(x.shape)
        for x in leaves
        if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)
    )


def _apply(model, x):
    return model(x)


_apply_jit = eqx.filter_jit(_apply)


# ---------------------------------------------------------------------------------------------
# the spectral convolution against a direct evaluation of the truncated Fourier operator
# ---------------------------------------------------------------------------------------------


def _direct_spectral_conv(x, weight, modes):
    """y_o(x) = (1/N) sum_{k in K} c_k Re(sum_i R_oi(k) vhat_i(k) e^{2 pi i k.x/n}), with the
    DFT vhat(k) = sum_x v(x) e^{-2 pi i k.x/n} summed explicitly (no FFT), NumPy float64."""
    spatial = x.shape[1:]
    d = len(spatial)
    num_points = math.prod(spatial)
    points = np.stack(np.meshgrid(*[np.arange(n) for n in spatial], indexing="ij"), -1)
    points = points.reshape(-1, d)
    index_ranges = [range(2 * m) for m in modes[:-1]] + [range(modes[-1])]
    y = np.zeros((weight.shape[0], num_points))
    for index in itertools.product(*index_ranges):
        k = np.array(
            [i if (j == d - 1 or i < modes[j]) else i - 2 * modes[j] for j, i in enumerate(index)]
        )
        phase = np.exp(-2j * np.pi * np.sum(points * (k / np.array(spatial)), axis=-1))
        vhat = x.reshape(x.shape[0], num_points) @ phase
        yhat = weight[(slice(None), slice(None), *index)] @ vhat
        c = 1.0 if k[-1] == 0 else 2.0
        y += c * np.real(yhat[:, None] * np.conj(phase)[None, :])
    return (y / num_points).reshape((weight.shape[0], *spatial))


@pytest.mark.parametrize(
    ("modes", "shape"),
    [
        ((5,), (11,)),  # odd size
        ((3, 4), (9, 8)),
        ((4, 2), (8, 5)),  # exactly 2 * modes on the first axis
        ((2, 3, 2), (5, 6, 4)),
    ],
)
def test_spectral_conv_equals_direct_dft(x64, modes, shape):
    del x64
    conv = SpectralConv(2, 3, modes, key=KEY, dtype=jnp.float64)
    x = np.random.default_rng(0).standard_normal((2, *shape))  # not band-limited
    ours = np.asarray(_apply_jit(conv, jnp.asarray(x)))
    weight = np.asarray(conv.weight_real) + 1j * np.asarray(conv.weight_imag)
    expected = _direct_spectral_conv(x, weight, modes)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-13 * np.max(np.abs(expected)))
    assert np.max(np.abs(expected)) > 0.1  # a non-trivial comparison


def _fft_spectral_conv(x, weight, modes):
    """The usual FFT evaluation (NumPy float64): rfftn, keep the corner blocks, mix, zero-fill,
    irfftn (which drops the anti-Hermitian part of the k_d = 0 plane, as the definition does)."""
    spatial = x.shape[1:]
    axes = tuple(range(1, len(spatial) + 1))
    spectrum = np.fft.rfftn(x, axes=axes)
    index = [np.r_[0:m, n - m : n] for m, n in zip(modes[:-1], spatial, strict=False)]
    index.append(np.arange(modes[-1]))
    mixed = np.einsum("oi...,i...->o...", weight, spectrum[np.ix_(range(x.shape[0]), *index)])
    full = np.zeros((weight.shape[0], *spectrum.shape[1:]), complex)
    full[np.ix_(range(weight.shape[0]), *index)] = mixed
    return np.fft.irfftn(full, s=spatial, axes=axes)


@pytest.mark.parametrize(
    ("modes", "shape"), [((16,), (256,)), ((12, 12), (64, 48)), ((4, 3, 5), (9, 8, 10))]
)
def test_spectral_conv_in_float32_matches_the_fft_evaluation(modes, shape):
    """The truncated-DFT products in float32 agree with the FFT route to float32 rounding."""
    conv = SpectralConv(3, 4, modes, key=KEY)
    x = np.random.default_rng(2).standard_normal((3, *shape)).astype(np.float32)
    ours = np.asarray(conv(jnp.asarray(x)))
    weight = np.asarray(conv.weight_real, np.float64) + 1j * np.asarray(conv.weight_imag)
    expected = _fft_spectral_conv(x.astype(np.float64), weight, modes)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, rtol=0, atol=2e-6 * np.max(np.abs(expected)))


def test_factorized_spectral_conv_equals_sum_of_direct_1d_operators(x64):
    del x64
    modes, shape = (3, 2), (7, 6)
    conv = FactorizedSpectralConv(2, 2, modes, key=KEY, dtype=jnp.float64)
    x = np.random.default_rng(1).standard_normal((2, *shape))
    expected = np.zeros_like(x)
    for axis, m in enumerate(modes):
        weight = np.asarray(conv.weight_real[axis]) + 1j * np.asarray(conv.weight_imag[axis])
        moved = np.moveaxis(x, axis + 1, -1)  # (channels, other, n)
        lines = np.stack(
            [_direct_spectral_conv(moved[:, i], weight, (m,)) for i in range(moved.shape[1])],
            axis=1,
        )
        expected += np.moveaxis(lines, -1, axis + 1)
    np.testing.assert_allclose(np.asarray(conv(jnp.asarray(x))), expected, atol=1e-13)


def test_pointwise_stack_in_blocks_equals_the_whole_field(x64):
    """A projection stack over a large field runs in blocks of points (the last one padded);
    values and gradients equal the stack applied to the whole field at once."""
    del x64
    from operators._fno import _STACK_BLOCK_POINTS, _apply_stack, _pointwise_stack

    layers = _pointwise_stack([3, 16, 2], key=KEY, dtype=np.dtype("float64"))
    x = jnp.asarray(np.random.default_rng(3).standard_normal((3, 97, 101)))  # 3 blocks, padded
    assert x.shape[1] * x.shape[2] > 2 * _STACK_BLOCK_POINTS

    def whole(layers, x):
        return layers[1](jnp.tanh(layers[0](x)))

    blocked = _apply_stack(layers, x, jnp.tanh)
    np.testing.assert_allclose(blocked, whole(layers, x), rtol=1e-14, atol=1e-14)
    loss = lambda f: lambda layers, x: jnp.sum(jnp.sin(f(layers, x)))  # noqa: E731
    grads = jax.grad(loss(lambda s, v: _apply_stack(s, v, jnp.tanh)), argnums=(0, 1))(layers, x)
    expected = jax.grad(loss(whole), argnums=(0, 1))(layers, x)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_spectral_conv_weight_layout_and_dtype():
    conv = SpectralConv(3, 5, (4, 6, 2), key=KEY)
    assert conv.weight_real.shape == (5, 3, 8, 12, 2)
    assert conv.weight_real.dtype == jnp.float32
    y = eqx.filter_eval_shape(conv, jnp.ones((3, 8, 12, 4)))
    assert (y.shape, y.dtype) == ((5, 8, 12, 4), jnp.float32)


# ---------------------------------------------------------------------------------------------
# resolution consistency
# ---------------------------------------------------------------------------------------------

_BAND = 3  # the test inputs contain frequencies |k_j| <= 3


def _band_limited(n, seed=0, channels=2):
    rng = np.random.default_rng(seed)
    size = 2 * _BAND + 1
    coef = rng.standard_normal((channels, size, size)) + 1j * rng.standard_normal(
        (channels, size, size)
    )
    x = np.arange(n) / n
    field = np.zeros((channels, n, n))
    for a, b in itertools.product(range(-_BAND, _BAND + 1), repeat=2):
        wave = np.exp(2j * np.pi * (a * x[:, None] + b * x[None, :]))
        field += np.real(coef[:, a + _BAND, b + _BAND, None, None] * wave)
    return field


def _models(activation, positional):
    kwargs = dict(
        modes=(6, 6),
        width=8,
        depth=2,
        spatial_dims=2,
        activation=activation,
        positional=positional,
        key=KEY,
        dtype=jnp.float64,
    )
    return [FNO(2, 1, **kwargs), FactorizedFNO(2, 1, **kwargs)]


def test_linear_models_are_exactly_resolution_consistent(x64):
    # Without a pointwise nonlinearity (and without the non-band-limited coordinate channels)
    # every layer maps a trigonometric polynomial of degree < n/2 to another, sampled
    # exactly: the output at 32 points is the output at 96 points, subsampled.
    del x64
    for model in _models("identity", False):
        coarse = np.asarray(_apply_jit(model, _band_limited(32)))
        fine = np.asarray(_apply_jit(model, _band_limited(96)))[:, ::3, ::3]
        np.testing.assert_allclose(fine, coarse, rtol=0, atol=1e-12 * np.abs(coarse).max())


def test_full_models_are_resolution_consistent_up_to_aliasing(x64):
    # GELU creates harmonics above the grid's Nyquist frequency (aliased differently at each
    # resolution) and the coordinate channels are sawtooth functions: consistency is then
    # approximate, and improves as the grids refine.
    del x64
    for model, tol in zip(_models("gelu", "periodic"), (1e-3, 5e-3), strict=True):
        out = {n: np.asarray(_apply_jit(model, _band_limited(n))) for n in (32, 64, 128)}
        coarse_gap = np.linalg.norm(out[64][:, ::2, ::2] - out[32]) / np.linalg.norm(out[32])
        fine_gap = np.linalg.norm(out[128][:, ::2, ::2] - out[64]) / np.linalg.norm(out[64])
        assert fine_gap < tol, (type(model).__name__, fine_gap)
        assert fine_gap < coarse_gap, (type(model).__name__, coarse_gap, fine_gap)


def test_fno_is_shift_equivariant_without_coordinates_or_padding(x64):
    # Spectral and pointwise layers commute with periodic shifts; coordinates or padding
    # break that (the padded model sees a non-periodic box).
    del x64
    x = _band_limited(16) + 0.1 * np.random.default_rng(2).standard_normal((2, 16, 16))
    shifted = np.roll(x, (3, -5), axis=(1, 2))
    plain = FNO(2, 1, modes=4, width=8, depth=2, spatial_dims=2, positional=False, key=KEY)
    np.testing.assert_allclose(
        np.asarray(_apply_jit(plain, shifted)),
        np.roll(np.asarray(_apply_jit(plain, x)), (3, -5), axis=(1, 2)),
        atol=1e-12,
    )
    padded = FNO(
        2, 1, modes=4, width=8, depth=2, spatial_dims=2, positional=False, padding=4, key=KEY
    )
    gap = np.abs(
        np.asarray(_apply_jit(padded, shifted))
        - np.roll(np.asarray(_apply_jit(padded, x)), (3, -5), (1, 2))
    )
    assert gap.max() > 1e-3


# ---------------------------------------------------------------------------------------------
# architectures: the published configurations, F-FNO, rollouts
# ---------------------------------------------------------------------------------------------


def _li2021_count(in_channels, spatial_dims, modes, width, projection=128):
    """Parameters of the reference code's FNO: fc0, 4 x (complex spectral blocks + 1x1 conv
    with bias), fc1, fc2 (2^(d-1) corner blocks of width^2 modes^d complex weights)."""
    fc0 = (in_channels + spatial_dims) * width + width
    spectral = 2 ** (spatial_dims - 1) * width * width * modes**spatial_dims * 2
    skip = width * width + width
    return fc0 + 4 * (spectral + skip) + width * projection + projection + projection + 1


@pytest.mark.parametrize(
    ("problem", "args", "published"),
    [
        ("burgers", (1, 1, 16, 64), 549_569),
        ("darcy", (1, 2, 12, 32), 2_368_001),
        ("navier_stokes_2d", (10, 2, 12, 20), None),
        ("navier_stokes_3d", (10, 3, 8, 20), None),
    ],
)
def test_published_configurations_have_the_reference_parameter_counts(problem, args, published):
    model = eqx.filter_eval_shape(published_fno, problem, key=KEY)
    assert _num_params(model) == _li2021_count(*args)
    if published is not None:  # the counts the reference scripts print
        assert _num_params(model) == published


def test_fno3d_space_time_pads_time_only():
    w_in = jnp.arange(10 * 16 * 16, dtype=jnp.float32).reshape(10, 16, 16)
    x = repeat_in_time(w_in, 20)
    assert x.shape == (10, 16, 16, 20)
    np.testing.assert_array_equal(np.asarray(x[:, :, :, 7]), np.asarray(w_in))

    def build_and_apply(x):
        model = published_fno("navier_stokes_3d", key=KEY)
        return model.padding, model(x)

    padding, out = eqx.filter_eval_shape(build_and_apply, x)
    assert padding == (0, 0, 6)
    assert out.shape == (1, 16, 16, 20)


def test_factorized_fno_shares_spectral_weights():
    kwargs = dict(modes=(4, 4), width=8, depth=5, spatial_dims=2, key=KEY)
    shared = eqx.filter_eval_shape(FactorizedFNO, 1, 1, share_weights=True, **kwargs)
    separate = eqx.filter_eval_shape(FactorizedFNO, 1, 1, **kwargs)
    assert len(shared.spectral) == 1 and len(separate.spectral) == 5
    per_layer = 2 * 8 * 8 * (4 + 4)  # real + imaginary, sum (not product) of the modes
    assert _num_params(separate) - _num_params(shared) == 4 * per_layer


def test_rollout_matches_a_manual_loop():
    model = FNO(3, 2, modes=3, width=4, depth=1, spatial_dims=1, key=KEY)  # two steps a call
    w_in = jax.random.normal(jax.random.key(1), (3, 8))
    window, expected = w_in, []
    for _ in range(3):
        new = _apply_jit(model, window)
        expected.append(new)
        window = jnp.concatenate([window, new])[-3:]
    expected = jnp.concatenate(expected)[:5]
    for unroll in (False, True):
        predicted = eqx.filter_jit(rollout_fno)(model, w_in, 5, checkpoint=True, unroll=unroll)
        assert predicted.shape == (5, 8)
        np.testing.assert_allclose(np.asarray(predicted), np.asarray(expected), atol=1e-5)


# ---------------------------------------------------------------------------------------------
# gradients against central differences (float64)
# ---------------------------------------------------------------------------------------------


def test_gradients_fno_parameters_and_input(x64):
    # Two spatial axes, so that every corner block of the spectral weights is exercised.
    del x64
    model = FNO(
        2, 1, modes=(2, 2), width=3, depth=2, spatial_dims=2, padding=1, projection_width=4,
        key=KEY, dtype=jnp.float64,
    )  # fmt: skip
    x = jax.random.normal(jax.random.key(1), (2, 5, 4), jnp.float64)
    check_grad(_apply, model, x, argnums=(0, 1))


def test_gradients_factorized_fno_parameters_and_input(x64):
    del x64
    model = FactorizedFNO(
        2, 1, modes=3, width=3, depth=2, spatial_dims=1, padding=1, projection_width=4,
        key=KEY, dtype=jnp.float64,
    )  # fmt: skip
    x = jax.random.normal(jax.random.key(1), (2, 7), jnp.float64)
    check_grad(_apply, model, x, argnums=(0, 1), num_directions=2)


def test_gradients_through_a_rollout(x64):
    del x64
    model = FNO(2, 1, modes=2, width=4, depth=1, spatial_dims=1, key=KEY, dtype=jnp.float64)
    w_in = jax.random.normal(jax.random.key(1), (2, 6), jnp.float64)
    check_grad(lambda m, w: rollout_fno(m, w, 3), model, w_in, argnums=(0, 1), num_directions=2)


# ---------------------------------------------------------------------------------------------
# bad input, recompilation
# ---------------------------------------------------------------------------------------------


def test_bad_inputs_raise_naming_the_argument():
    model = FNO(2, 1, modes=(4, 3), width=4, depth=1, spatial_dims=2, key=KEY)
    with pytest.raises(ValueError, match="`x` must have 2 channels"):
        model(jnp.ones((3, 8, 8)))
    with pytest.raises(ValueError, match="`x` has 7 points on spatial axis 0"):
        model(jnp.ones((2, 7, 8)))
    with pytest.raises(ValueError, match="`x` has 5 points on spatial axis 1"):
        model(jnp.ones((2, 8, 5)))
    with pytest.raises(ValueError, match=r"`x` must have shape \(channels, \*spatial\)"):
        model(jnp.ones((2, 8)))
    with pytest.raises(ValueError, match="`x` has 3 points"):
        SpectralConv(1, 1, 2, key=KEY)(jnp.ones((1, 3)))
    bad_args = [
        (dict(modes=(4, 4, 4)), ValueError, "`modes` has 3 entries"),
        (dict(modes=0), ValueError, "`modes"),
        (dict(width=0), ValueError, "`width`"),
        (dict(spatial_dims=4, modes=2), ValueError, "`spatial_dims`"),
        (dict(padding=-1), ValueError, "`padding`"),
        (dict(padding=(1, 2, 3)), ValueError, "`padding`"),
        (dict(positional="cell"), ValueError, "`positional`"),
        (dict(activation="swishy"), ValueError, "`activation`"),
    ]
    for override, error, match in bad_args:
        kwargs = dict(modes=4, width=4, depth=1, spatial_dims=2, key=KEY) | override
        with pytest.raises(error, match=match):
            FNO(1, 1, **kwargs)
    with pytest.raises(ValueError, match="`problem`"):
        published_fno("kolmogorov", key=KEY)
    with pytest.raises(ValueError, match="`steps`"):
        rollout_fno(model, jnp.ones((2, 8, 8)), 0)
    with pytest.raises(ValueError, match="`model` must map the window"):
        rollout_fno(lambda window: window[:, ::2], jnp.ones((2, 8)), 3)
    with pytest.raises(ValueError, match="`x` must have 2 channels"):
        rollout_fno(model, jnp.ones((3, 8, 8)), 3)  # the window the model does not take


def test_vmapped_construction_gives_the_eager_weights():
    # Parameters are drawn in NumPy when built eagerly and stay abstract under a trace (an
    # ensemble built with filter_vmap): the two paths agree to round-off.
    keys = jax.random.split(KEY, 2)

    def build(key):
        return FNO(1, 1, modes=3, width=4, depth=1, spatial_dims=1, key=key)

    ensemble = eqx.filter_vmap(build)(keys)
    eager = build(keys[1])
    for batched, single in zip(
        jax.tree.leaves(eqx.filter(ensemble, eqx.is_array)),
        jax.tree.leaves(eqx.filter(eager, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_allclose(np.asarray(batched[1]), np.asarray(single), rtol=1e-6, atol=1e-7)


def test_second_call_does_not_recompile():
    model = FNO(1, 1, modes=4, width=8, depth=2, spatial_dims=1, key=KEY)
    other = FNO(1, 1, modes=4, width=8, depth=2, spatial_dims=1, key=jax.random.key(5))
    apply = eqx.filter_jit(jax.vmap(_apply, in_axes=(None, 0)))
    x1, x2 = jnp.ones((3, 1, 32)), jnp.zeros((3, 1, 32))
    assert_no_recompile(apply, (model, x1), (model, x2), (other, x1))


# ---------------------------------------------------------------------------------------------
# losses, optimiser, training with dmech.train.fit, checkpoint/resume
# ---------------------------------------------------------------------------------------------


def test_relative_l2_loss_closed_form():
    target = jnp.array([[3.0, 4.0], [1.0, 0.0]])
    pred = jnp.array([[3.0, 4.5], [0.0, 0.0]])
    np.testing.assert_allclose(np.asarray(relative_l2_error(pred, target)), [0.1, 1.0])
    np.testing.assert_allclose(float(relative_l2_loss(pred, target)), 0.55, rtol=1e-6)
    # Norms over all non-batch axes (channels and grid points together).
    field = jnp.ones((1, 2, 4, 4))
    np.testing.assert_allclose(float(relative_l2_loss(1.5 * field, field)), 0.5, rtol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        relative_l2_loss(pred, target[:1])
    with pytest.raises(ValueError, match="`pred` must have shape"):
        relative_l2_loss(jnp.ones(3), jnp.ones(3))


def test_step_decay_schedule_and_coupled_weight_decay():
    schedule = step_decay_schedule(10, learning_rate=1e-3, decay_rate=0.5, decay_every_epochs=100)
    np.testing.assert_allclose(
        [float(schedule(s)) for s in (0, 999, 1000, 1999, 2000)],
        [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4],
        rtol=1e-6,
    )
    # One step of PyTorch's Adam(weight_decay=λ): g + λθ goes into the Adam moments, so the
    # first update is -η (g + λθ) / (|g + λθ| + eps) elementwise.
    params = {"w": jnp.array([1.0, -2.0])}
    grads = {"w": jnp.array([0.5, 0.0])}
    optimizer = step_decay_adam(10, weight_decay=0.1)
    with jax.numpy_dtype_promotion("standard"):
        updates, _ = optimizer.update(grads, optimizer.init(params), params)
    g = np.array([0.5 + 0.1, 0.0 - 0.2])
    np.testing.assert_allclose(np.asarray(updates["w"]), -1e-3 * g / (np.abs(g) + 1e-8), rtol=1e-5)
    with pytest.raises(ValueError, match="`weight_decay`"):
        step_decay_adam(10, weight_decay=-1.0)
    with pytest.raises(ValueError, match="`steps_per_epoch`"):
        step_decay_schedule(0)


def _toy_operator_data(n=32, samples=16, seed=0):
    # u -> its periodic antiderivative-like smoothing: a fixed Fourier multiplier.
    rng = np.random.default_rng(seed)
    k = np.fft.rfftfreq(n, 1.0 / n)
    coef = rng.standard_normal((samples, k.size)) + 1j * rng.standard_normal((samples, k.size))
    coef *= np.exp(-0.3 * k)
    inputs = np.fft.irfft(coef, n=n)
    targets = np.fft.irfft(coef / (1.0 + 0.1 * k**2), n=n) + 1.0
    return inputs[:, None].astype(np.float32), targets[:, None].astype(np.float32)


def _small_fno(key=KEY):
    return FNO(1, 1, modes=6, width=6, depth=1, spatial_dims=1, projection_width=8, key=key)


def test_fit_trains_and_resumes_bit_identically(tmp_path):
    data = _toy_operator_data()
    loss_fn = supervised_loss()
    optimizer = step_decay_adam(4, learning_rate=3e-3, decay_every_epochs=5)
    kwargs = dict(
        key=jax.random.key(3),
        steps=60,
        batch_size=4,
        checkpoint_every=20,
        devices=jax.devices()[:1],
    )
    reference = fit(
        _small_fno(), loss_fn, optimizer, data, checkpoint=tmp_path / "a.dmech", **kwargs
    )
    losses = reference.history["loss"]
    assert np.mean(losses[-8:]) < 0.5 * np.mean(losses[:8])  # it learns

    class Crash(Exception):
        pass

    def crash_at_50(step, model, logs):
        if step >= 50:
            raise Crash

    path = tmp_path / "b.dmech"
    with pytest.raises(Crash):
        fit(_small_fno(), loss_fn, optimizer, data, checkpoint=path, callback=crash_at_50, **kwargs)
    resumed = fit(_small_fno(), loss_fn, optimizer, data, checkpoint=path, **kwargs)
    assert resumed.start_step == 40
    assert_tree_equal(
        eqx.filter(resumed.model, eqx.is_array), eqx.filter(reference.model, eqx.is_array)
    )


def test_rollout_loss_is_zero_for_a_perfect_predictor():
    class Shift(eqx.Module):  # w_{t+1} = roll(w_t): the rollout of a known map
        def __call__(self, window):
            return jnp.roll(window[-1:], 1, axis=-1)

    w = jax.random.normal(jax.random.key(0), (1, 8))
    trajectory = jnp.stack([jnp.roll(w[0], s) for s in range(1, 5)])
    loss_fn = rollout_loss(4)
    assert float(loss_fn(Shift(), (w[None], trajectory[None]), None)) < 1e-7
    assert float(loss_fn(Shift(), (w[None], -trajectory[None]), None)) == pytest.approx(2.0)


# ---------------------------------------------------------------------------------------------
# the resolution harness
# ---------------------------------------------------------------------------------------------


def test_resolution_table_of_an_exactly_consistent_model(x64):
    # A linear FNO against a band-limited target map: the error function is a trigonometric
    # polynomial of degree < n/4, so its discrete relative L2 norm equals the continuous one
    # and the error is the same at every resolution (to round-off).
    del x64
    (model,) = _models("identity", False)[:1]

    def dataset(n):
        inputs = np.stack([_band_limited(n, seed=s) for s in range(4)])
        targets = np.roll(inputs[:, :1], n // 4, axis=2)  # shift by a quarter period
        return inputs, targets

    table = resolution_table(model, {16: dataset(16), 48: dataset(48)}, batch_size=2)
    assert list(table) == [16, 48]
    inputs, targets = dataset(16)
    direct = float(
        np.mean(relative_l2_error(jnp.stack([_apply_jit(model, x) for x in inputs]), targets))
    )
    for error in table.values():
        assert error == pytest.approx(direct, rel=1e-10)
    assert direct > 0.1  # an untrained model: a real error, not a trivial zero

    text = format_resolution_table({16: 0.02, 32: 0.025}, train_resolution=16, title="Darcy")
    assert text.splitlines() == [
        "Darcy",
        "",
        "| resolution | rel. L2 error | / train |",
        "|---:|---:|---:|",
        "| 16 (train) | 2.000e-02 | 1.00 |",
        "| 32 | 2.500e-02 | 1.25 |",
    ]
    with pytest.raises(ValueError, match="`train_resolution`"):
        format_resolution_table(table, train_resolution=64)
    with pytest.raises(ValueError, match="`datasets_by_resolution`"):
        resolution_table(model, {0: dataset(16)})
