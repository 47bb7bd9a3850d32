"""Round trips through dmech.data are bit-exact: dtypes, shapes, bytes and leaf types."""

import datetime
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import optax
import pytest

import dmech
from dmech.data import Card, load_arrays, load_tree, read_card, save_arrays, save_tree


def assert_bit_identical(loaded, original):
    """Same type family, dtype, shape and bytes (so NaN payloads and -0.0 count)."""
    if isinstance(original, jax.Array) and jax.dtypes.issubdtype(
        original.dtype, jax.dtypes.prng_key
    ):
        assert isinstance(loaded, jax.Array)
        assert loaded.dtype == original.dtype
        assert jax.random.key_impl(loaded) == jax.random.key_impl(original)
        original = jax.random.key_data(original)
        loaded = jax.random.key_data(loaded)
    original = np.asarray(original)
    loaded = np.asarray(loaded)
    assert loaded.dtype == original.dtype
    assert loaded.shape == original.shape
    assert loaded.tobytes() == original.tobytes()


def assert_trees_identical(loaded, original):
    assert jax.tree.structure(loaded) == jax.tree.structure(original)
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(original), strict=True):
        if isinstance(b, jax.Array):
            assert isinstance(a, jax.Array), type(a)
            assert_bit_identical(a, b)
        elif isinstance(b, np.ndarray | np.generic):
            assert type(a) is type(b)
            assert_bit_identical(a, b)
        elif isinstance(b, bool | int | float | complex):
            assert type(a) is type(b)
            assert a == b
        else:
            assert a is b  # static parts come from `like`


def special_floats(dtype):
    info = ml_dtypes.finfo(dtype) if dtype == ml_dtypes.bfloat16 else np.finfo(dtype)
    values = [
        0.0,
        -0.0,
        1.0,
        -2.5,
        float(info.max),
        float(info.tiny),
        float(info.smallest_subnormal),
    ]
    values += [np.inf, -np.inf, np.nan]
    return np.array(values, dtype=dtype)


ARRAYS = {
    "float16": special_floats(np.float16),
    "float32": special_floats(np.float32).reshape(2, 5),
    "float64": special_floats(np.float64),
    "bfloat16": special_floats(ml_dtypes.bfloat16),
    "float8_e4m3fn": np.array([0.5, -1.0, 448.0], ml_dtypes.float8_e4m3fn),
    "int4": np.array([-8, 0, 7], ml_dtypes.int4),
    "int8": np.array([-128, 0, 127], np.int8),
    "int64": np.array([np.iinfo(np.int64).min, -1, np.iinfo(np.int64).max]),
    "uint32": np.array([0, 2**32 - 1], np.uint32),
    "uint64": np.array([2**64 - 1], np.uint64),
    "bool": np.array([[True, False], [False, True]]),
    "complex64": np.array([1 + 2j, np.nan - 0.0j], np.complex64),
    "complex128": np.array([np.inf + 1e-300j], np.complex128),
    "zero_d": np.array(3.25, np.float32),
    "zero_d_bfloat16": np.array(-0.0, ml_dtypes.bfloat16),
    "numpy_scalar": np.int16(-7),
    "empty": np.zeros((0,), np.float32),
    "empty_2d": np.zeros((3, 0), np.int32),
    "fortran_order": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    "strided": np.arange(20, dtype=np.int16)[::3],
    "big_endian": np.arange(5, dtype=">f8"),
    "text": np.array(["strain", "ε"]),
    "datetime": np.array(["2024-01-01T00:00"], "datetime64[m]"),
}


def test_arrays_round_trip_bit_exact(tmp_path):
    path = tmp_path / "all.dmech"
    card = save_arrays(path, ARRAYS, kind="dataset", generator="tests.roundtrip")
    loaded, card2 = load_arrays(path)
    assert card2 == card
    assert list(loaded) == sorted(ARRAYS)
    for name, original in ARRAYS.items():
        assert isinstance(loaded[name], np.ndarray), name
        if name == "big_endian":  # stored little-endian: same values and dtype name
            assert loaded[name].dtype == np.float64
            np.testing.assert_array_equal(loaded[name], original)
            continue
        assert_bit_identical(loaded[name], original)
        assert card.dtypes[name] == np.asarray(original).dtype.name or name == "text"
        assert card.shapes[name] == np.shape(original)
    assert card.dtypes["text"] == "<U6"


def test_jax_arrays_and_typed_keys_round_trip(tmp_path):
    path = tmp_path / "jax.dmech"
    arrays = {
        "bf16": jnp.linspace(-1, 1, 7, dtype=jnp.bfloat16),
        "f32": jnp.arange(6, dtype=jnp.float32).reshape(2, 3),
        "key": jax.random.key(42),
        "keys": jax.random.split(jax.random.key(1), (2, 3)),
        "rbg_keys": jax.random.split(jax.random.key(0, impl="rbg"), 4),
        "old_style_key": jax.random.PRNGKey(3),  # plain uint32[2]
    }
    card = save_arrays(path, arrays, kind="dataset", generator="tests.keys")
    assert card.dtypes["key"] == "key<threefry2x32>"
    assert card.dtypes["rbg_keys"] == "key<rbg>"
    assert card.dtypes["old_style_key"] == "uint32"
    assert card.shapes["keys"] == (2, 3)
    loaded, _ = load_arrays(path)
    for name, original in arrays.items():
        assert_bit_identical(loaded[name], original)
    assert isinstance(loaded["bf16"], np.ndarray) and loaded["bf16"].dtype == jnp.bfloat16
    # the restored key draws the same numbers
    np.testing.assert_array_equal(
        jax.random.normal(loaded["key"], (3,)), jax.random.normal(arrays["key"], (3,))
    )


def test_mlp_round_trip_with_concrete_and_abstract_like(tmp_path):
    path = tmp_path / "mlp.dmech"
    model = eqx.nn.MLP(3, 2, 8, 2, activation=jax.nn.tanh, key=jax.random.key(0))
    card = save_tree(path, model, kind="model", generator="tests.mlp", params={"width": 8})
    assert set(card.shapes) == {f".layers[{i}].{p}" for i in range(3) for p in ("weight", "bias")}

    other = eqx.nn.MLP(3, 2, 8, 2, activation=jax.nn.tanh, key=jax.random.key(1))
    loaded, card2 = load_tree(path, other, kind="model", generator="tests.mlp")
    assert card2 == card
    assert_trees_identical(loaded, model)
    x = jnp.array([0.1, -0.2, 0.3])
    np.testing.assert_array_equal(loaded(x), model(x))

    abstract = eqx.filter_eval_shape(
        eqx.nn.MLP, 3, 2, 8, 2, activation=jax.nn.tanh, key=jax.random.key(2)
    )
    loaded2, _ = load_tree(path, abstract)
    for a, b in zip(jax.tree.leaves(loaded2), jax.tree.leaves(model), strict=True):
        if isinstance(b, jax.Array):
            assert isinstance(a, jax.Array)
            assert_bit_identical(a, b)
    np.testing.assert_array_equal(loaded2(x), model(x))


def test_optax_adam_state_in_checkpoint_tuple(tmp_path):
    path = tmp_path / "checkpoint.dmech"
    params = {"w": jnp.arange(6, dtype=jnp.float32).reshape(2, 3), "b": jnp.ones(3, jnp.bfloat16)}
    optimiser = optax.adam(1e-3)
    state = optimiser.init(params)
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
    with jax.numpy_dtype_promotion("standard"):  # optax's bias correction mixes int and float
        updates, state = optimiser.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    checkpoint = (17, params, state, np.arange(4, dtype=np.int64), 2.5, True, jax.random.key(5))
    save_tree(path, checkpoint, kind="checkpoint", generator="tests.train", extra={"step": 17})

    zeros = jax.tree.map(jnp.zeros_like, params)
    like = (0, zeros, optimiser.init(zeros), np.zeros(4, np.int64), 0.0, False, jax.random.key(0))
    loaded, card = load_tree(path, like, kind="checkpoint")
    assert_trees_identical(loaded, checkpoint)
    assert card.extra == {"step": 17}
    assert card.dtypes["[0]"] == "int64" and card.dtypes["[4]"] == "float64"
    assert card.dtypes["[5]"] == "bool"
    assert int(loaded[2][0].count) == 1  # the optimiser step came from the file


def test_numpy_like_leaves_come_back_as_numpy(tmp_path):
    path = tmp_path / "mixed.dmech"
    tree = {"np": np.arange(3.0), "jax": jnp.arange(3.0), "scalar": np.float32(1.5), "f": print}
    save_tree(path, tree, kind="model", generator="tests.mixed")
    like = {"np": np.zeros(3), "jax": jnp.zeros(3), "scalar": np.float32(0), "f": len}
    loaded, _ = load_tree(path, like)
    assert type(loaded["np"]) is np.ndarray
    assert isinstance(loaded["jax"], jax.Array)
    assert type(loaded["scalar"]) is np.float32 and loaded["scalar"] == 1.5
    assert loaded["f"] is len  # non-array leaves are taken from `like`, not saved


def test_tree_with_awkward_key_paths(tmp_path):
    path = tmp_path / "awkward.dmech"
    tree = {"a/b": np.arange(2), "100%": np.ones(1), "back\\slash": np.zeros(1), "ü": np.ones(2)}
    card = save_tree(path, tree, kind="model", generator="tests.awkward")
    assert "['a/b']" in card.shapes
    loaded, _ = load_tree(path, {k: np.zeros_like(v) for k, v in tree.items()})
    assert_trees_identical(loaded, tree)
    single = tmp_path / "single.dmech"
    save_tree(single, jnp.arange(3), kind="model", generator="tests.single")
    assert_bit_identical(load_tree(single, jnp.zeros(3, jnp.int32))[0], jnp.arange(3))


def test_card_contents_and_json_round_trip(tmp_path):
    path = tmp_path / "card.dmech"
    params = {"nu": np.float32(0.25), "n": np.int64(64), "sizes": (1, 2), "dtype": jnp.float32}
    card = save_arrays(
        path,
        {"u": np.zeros((2, 3), np.float32)},
        kind="dataset",
        generator="tests.card",
        params=params,
        extra={"note": "ε"},
    )
    assert card.format_version == 1
    assert card.kind == "dataset" and card.generator == "tests.card"
    assert card.params == {"nu": 0.25, "n": 64, "sizes": [1, 2], "dtype": "float32"}
    assert type(card.params["n"]) is int and type(card.params["nu"]) is float
    assert card.shapes == {"u": (2, 3)} and card.dtypes == {"u": "float32"}
    assert card.code_version == dmech.__version__
    assert card.content_hash.startswith("sha256:") and len(card.content_hash) == 7 + 64
    created = datetime.datetime.fromisoformat(card.created)
    assert created.utcoffset() == datetime.timedelta(0)
    assert abs(datetime.datetime.now(datetime.UTC) - created) < datetime.timedelta(minutes=5)
    assert card.extra == {"note": "ε"}
    assert Card.from_json(card.to_json()) == card
    assert json.loads(card.to_json())["shapes"] == {"u": [2, 3]}
    assert read_card(path) == card
    # the same numpy-converted params match on load
    load_arrays(path, params=params)


def test_plain_arrays_readable_by_numpy(tmp_path):
    path = tmp_path / "plain.dmech"
    u = np.arange(6.0).reshape(2, 3)
    save_arrays(path, {"u": u}, kind="dataset", generator="tests.numpy")
    with np.load(path, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["u"], u)


@pytest.mark.parametrize("name", ["", "a/b", "nul\x00byte"])
def test_invalid_array_names(tmp_path, name):
    with pytest.raises(ValueError, match="array name " + repr(name).replace("\\", "\\\\")):
        save_arrays(tmp_path / "x.dmech", {name: np.ones(1)}, kind="dataset", generator="t")
    assert list(tmp_path.iterdir()) == []


def test_object_arrays_and_bad_params_are_refused(tmp_path):
    path = tmp_path / "x.dmech"
    with pytest.raises(TypeError, match=r"'bad'.*pickle"):
        save_arrays(path, {"bad": np.array([object()])}, kind="dataset", generator="t")
    with pytest.raises(TypeError, match=r"params\['f'\] has type function"):
        save_arrays(path, {"u": np.ones(1)}, kind="dataset", generator="t", params={"f": lambda: 0})
    assert not path.exists()


def test_public_names():
    import dmech.data

    expected = {"Card", "DataFileError", "save_arrays", "load_arrays", "save_tree", "load_tree"}
    expected |= {"read_card", "cache_dir", "load_or_generate", "atomic_write"}
    assert set(dmech.data.__all__) == expected
    assert all(hasattr(dmech.data, name) for name in expected)
    assert issubclass(dmech.data.DataFileError, ValueError)


def test_abstract_key_leaves_and_shardings_of_like(tmp_path):
    path = tmp_path / "sharded.dmech"
    devices = jax.devices()
    mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
    rows = 4 * len(devices)
    x = jax.device_put(jnp.arange(rows * 3, dtype=jnp.float32).reshape(rows, 3), sharding)
    tree = {"x": x, "key": jax.random.key(7, impl="philox4x32"), "plain": jnp.ones(2)}
    save_tree(path, tree, kind="checkpoint", generator="tests.sharded")

    like = {
        "x": jax.device_put(jnp.zeros((rows, 3), jnp.float32), sharding),
        "key": jax.eval_shape(lambda: jax.random.key(0, impl="philox4x32")),
        "plain": jnp.zeros(2),
    }
    loaded, card = load_tree(path, like)
    assert card.dtypes["['key']"] == "key<philox4x32>"
    assert_trees_identical(loaded, tree)
    assert loaded["x"].sharding == sharding  # placed like the `like` leaf
    assert not loaded["plain"].committed  # an uncommitted leaf stays uncommitted
