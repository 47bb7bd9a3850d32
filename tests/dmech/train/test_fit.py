import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dmech.nn import MLP
from dmech.testing import assert_tree_equal, count_compiles
from dmech.train import EarlyStopping, TrainingDivergedError, fit


def _regression(n=256, dtype=jnp.float32):
    x = jnp.linspace(-1.0, 1.0, n, dtype=dtype)[:, None]
    return x, jnp.sin(3.0 * x)


def _mse(model, batch, _key):
    xb, yb = batch
    return jnp.mean((jax.vmap(model)(xb) - yb) ** 2)


def _model(dtype=None, seed=0):
    return MLP(1, 1, 32, 2, activation="tanh", dtype=dtype, key=jax.random.key(seed))


def _arrays(result):
    params = eqx.filter(result.model, eqx.is_array)
    opt = eqx.filter(result.opt_state, eqx.is_array)
    return jax.tree_util.tree_map(np.asarray, (params, opt)), result.history


def test_fits_a_small_regression_problem():
    data = _regression()
    result = fit(
        _model(),
        _mse,
        optax.adam(optax.cosine_decay_schedule(5e-3, 2000)),
        data,
        key=jax.random.key(1),
        steps=2000,
        batch_size=128,
        devices=jax.devices()[:1],
    )
    final = float(_mse(result.model, data, None))
    # stated error: MSE below 2e-3, 0.4% of the target's variance (initial MSE ~0.6)
    assert final < 2e-3, final
    assert result.history["loss"].shape == (2000,)
    np.testing.assert_array_equal(result.history["step"], np.arange(1, 2001))
    assert result.steps_done == 2000 and result.start_step == 0


def test_resume_after_interruption_is_bit_identical(tmp_path):
    data = _regression()
    kwargs = dict(
        key=jax.random.key(3),
        steps=300,
        batch_size=48,
        checkpoint_every=50,
        eval_every=50,
        eval_fn=lambda m: {"mse": _mse(m, data, None)},
        devices=jax.devices()[:1],
    )
    opt = optax.adam(3e-3)
    reference = fit(_model(), _mse, opt, data, checkpoint=tmp_path / "a.dmech", **kwargs)

    class Crash(Exception):
        pass

    def crash_at_170(step, model, logs):
        if step >= 170:
            raise Crash

    path = tmp_path / "b.dmech"
    with pytest.raises(Crash):
        fit(_model(), _mse, opt, data, checkpoint=path, callback=crash_at_170, **kwargs)
    resumed = fit(_model(), _mse, opt, data, checkpoint=path, **kwargs)
    assert resumed.start_step == 150  # the last checkpoint before the crash
    assert_tree_equal(_arrays(resumed), _arrays(reference))


_CHILD = textwrap.dedent(
    """
    import sys, time
    import jax, jax.numpy as jnp, optax
    from dmech.nn import MLP
    from dmech.train import fit

    x = jnp.linspace(-1.0, 1.0, 256)[:, None]
    data = (x, jnp.sin(3.0 * x))

    def mse(model, batch, _key):
        xb, yb = batch
        return jnp.mean((jax.vmap(model)(xb) - yb) ** 2)

    def report(step, model, logs):
        print(f"step {step}", flush=True)
        time.sleep(float(sys.argv[2]))

    model = MLP(1, 1, 32, 2, activation="tanh", key=jax.random.key(0))
    result = fit(model, mse, optax.adam(3e-3), data, key=jax.random.key(5), steps=400,
                 batch_size=32, steps_per_call=10, checkpoint=sys.argv[1],
                 checkpoint_every=50, callback=report, devices=jax.devices()[:1])
    print(f"start {result.start_step}", flush=True)
    """
)


def _child(path, delay):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1")
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path), str(delay)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_sigkilled_training_resumes_from_its_last_checkpoint(tmp_path):
    killed = tmp_path / "killed.dmech"
    proc = _child(killed, 0.02)
    last_seen = 0
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        last_seen = int(line.split()[1])
        if last_seen >= 230 or time.monotonic() > deadline:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert 230 <= last_seen < 400
    assert killed.exists()

    resumed = _child(killed, 0.0)
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0
    start = int(out.strip().splitlines()[-1].split()[1])
    assert last_seen - 50 <= start <= last_seen  # lost at most one checkpoint interval

    clean = tmp_path / "clean.dmech"
    uninterrupted = _child(clean, 0.0)
    uninterrupted.communicate(timeout=300)
    assert uninterrupted.returncode == 0
    from dmech.data import load_arrays

    a, _ = load_arrays(killed)
    b, _ = load_arrays(clean)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_data_parallel_matches_single_device(x64):
    devices = jax.devices()
    if len(devices) < 2:
        pytest.skip("needs several devices (tests/conftest.py forces 2 fake CPU devices)")
    data = _regression(n=512, dtype=jnp.float64)
    shardings = []

    def loss(model, batch, key):
        jax.debug.inspect_array_sharding(batch[0], callback=shardings.append)
        return _mse(model, batch, key)

    batch = 16 * len(devices)
    kwargs = dict(key=jax.random.key(2), steps=100, batch_size=batch, steps_per_call=50)
    many = fit(_model(jnp.float64), loss, optax.adam(1e-3), data, devices=devices, **kwargs)
    one = fit(_model(jnp.float64), loss, optax.adam(1e-3), data, devices=devices[:1], **kwargs)
    assert many.num_devices == len(devices) and one.num_devices == 1
    # The batch really is split over the devices along its leading axis.
    assert any(len(s.device_set) == len(devices) and not s.is_fully_replicated for s in shardings)
    np.testing.assert_allclose(many.history["loss"], one.history["loss"], rtol=1e-10)
    leaves = zip(
        jax.tree_util.tree_leaves(eqx.filter(many.model, eqx.is_array)),
        jax.tree_util.tree_leaves(eqx.filter(one.model, eqx.is_array)),
        strict=True,
    )
    for a, b in leaves:
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_default_devices_divide_the_batch():
    data = _regression()
    count = len(jax.devices())
    for batch_size, expected in ((8 * count, count), (37, 1)):  # 37 is prime
        result = fit(
            _model(),
            _mse,
            optax.adam(1e-3),
            data,
            key=jax.random.key(0),
            steps=10,
            batch_size=batch_size,
        )
        assert result.num_devices == expected, batch_size


def test_full_batch_with_keyed_loss_and_aux():
    # No data: the loss draws its own points from the per-step key (as a PINN does).
    def loss(model, _batch, key):
        x = jax.random.uniform(key, (64, 1), minval=-1.0, maxval=1.0)
        err = jax.vmap(model)(x) - jnp.sin(3.0 * x)
        return jnp.mean(err**2), {"max_abs": jnp.max(jnp.abs(err))}

    result = fit(_model(), loss, optax.adam(1e-2), key=jax.random.key(0), steps=400)
    h = result.history
    assert h["max_abs"].shape == (400,)
    assert h["loss"][-20:].mean() < 0.05 * h["loss"][:20].mean()


def test_early_stopping_restores_the_best_model():
    # Twelve noisy samples and a wide network: the validation error falls, then rises as the
    # network fits the noise.
    rng = np.random.default_rng(0)
    x_train = jnp.asarray(rng.uniform(-1, 1, (12, 1)), jnp.float32)
    y_train = jnp.sin(3.0 * x_train) + jnp.asarray(0.3 * rng.standard_normal((12, 1)), jnp.float32)
    val = _regression()
    seen = []

    def evaluate(model):
        value = float(_mse(model, val, None))
        seen.append(value)
        return {"val_mse": value}

    result = fit(
        MLP(1, 1, 128, 3, activation="tanh", key=jax.random.key(0)),
        _mse,
        optax.adam(1e-2),
        (x_train, y_train),
        key=jax.random.key(0),
        steps=5000,
        eval_fn=evaluate,
        eval_every=20,
        early_stopping=EarlyStopping(monitor="val_mse", patience=5),
    )
    assert result.stopped_early
    assert result.steps_done == result.best_step + 5 * 20 < 5000
    h = result.history
    best = h["val_mse"][list(h["eval_step"]).index(result.best_step)]
    assert best == min(seen) < seen[-1]
    assert float(_mse(result.model, val, None)) == pytest.approx(best, rel=1e-6)


def test_divergence_is_reported_with_its_step():
    data = _regression()

    def loss(model, batch, key):
        return _mse(model, batch, key) * jnp.exp(1e3 * jnp.sum(jax.vmap(model)(batch[0]) ** 2))

    with pytest.raises(TrainingDivergedError, match="at step"):
        fit(_model(), loss, optax.sgd(1.0), data, key=jax.random.key(0), steps=50, batch_size=32)


def test_compiles_once_per_chunk_length():
    data = _regression()
    kwargs = dict(
        key=jax.random.key(0), batch_size=32, steps_per_call=10, devices=jax.devices()[:1]
    )
    fit(_model(), _mse, optax.adam(1e-3), data, steps=20, **kwargs)  # warm the helpers
    with count_compiles() as short:
        fit(_model(), _mse, optax.adam(1e-3), data, steps=20, **kwargs)
    with count_compiles() as long:
        fit(_model(), _mse, optax.adam(1e-3), data, steps=200, **kwargs)
    assert short.count == long.count  # 20 more chunks of the same length compile nothing new


def test_convolutions_on_the_cpu_run_a_step_per_call_with_the_scans_result(monkeypatch):
    from dmech.train import _fit

    key = jax.random.key(0)
    model = eqx.nn.Conv2d(1, 1, 3, padding=1, key=key)
    x = jax.random.normal(jax.random.key(1), (8, 1, 6, 6))
    data = (x, 0.5 * x)
    kwargs = dict(key=key, steps=6, batch_size=2, steps_per_call=3, devices=jax.devices()[:1])
    calls = []
    one_call_a_step = _fit._one_call_a_step
    monkeypatch.setattr(
        _fit, "_one_call_a_step", lambda *a: calls.append(a[2]) or one_call_a_step(*a)
    )
    stepped = fit(model, _mse, optax.adam(1e-2), data, **kwargs)
    assert calls == [3, 3]  # two chunks of three one-step calls
    monkeypatch.setattr(_fit, "_loops_slow_down", lambda *_: False)
    scanned = fit(model, _mse, optax.adam(1e-2), data, **kwargs)
    assert calls == [3, 3]
    np.testing.assert_allclose(stepped.history["loss"], scanned.history["loss"], rtol=1e-6)
    assert stepped.history["loss"][-1] < stepped.history["loss"][0]
    leaves = zip(*map(jax.tree_util.tree_leaves, (stepped.model, scanned.model)), strict=True)
    for a, b in leaves:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # the MLP has no convolution: its chunks stay one scan each
    assert not _fit._has_primitive(
        eqx.filter_make_jaxpr(lambda m: _mse(m, _regression(8), None))(_model())[0].jaxpr,
        "conv_general_dilated",
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(steps=0), "steps"),
        (dict(steps=10, batch_size=0), "batch_size"),
        (dict(steps=10, batch_size=10_000), "batch_size"),
        (dict(steps=10, checkpoint="x.dmech"), "checkpoint_every"),
        (dict(steps=10, eval_fn=lambda m: {}), "eval_every"),
        (dict(steps=10, early_stopping=EarlyStopping()), "eval_every"),
        (dict(steps=10, eval_every=15, steps_per_call=10), "steps_per_call"),
        (dict(steps=10, batch_size=3, devices=jax.devices()[:1] * 2), "batch_size"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit(_model(), _mse, optax.adam(1e-3), _regression(), key=jax.random.key(0), **kwargs)


def test_mismatched_data_sizes():
    x, y = _regression()
    with pytest.raises(ValueError, match="disagree"):
        fit(_model(), _mse, optax.adam(1e-3), (x, y[:-1]), key=jax.random.key(0), steps=1)


def test_checkpoint_from_another_key_is_refused(tmp_path):
    from dmech.data import DataFileError

    data = _regression()
    path = tmp_path / "c.dmech"
    kwargs = dict(steps=20, batch_size=32, checkpoint=path, checkpoint_every=10)
    fit(_model(), _mse, optax.adam(1e-3), data, key=jax.random.key(0), **kwargs)
    with pytest.raises(DataFileError, match="different key"):
        fit(_model(), _mse, optax.adam(1e-3), data, key=jax.random.key(1), **kwargs)
    assert Path(path).exists()
