"""Every way a file can be wrong raises DataFileError naming the file and the problem."""

import io
import json
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.data import DataFileError, load_arrays, load_tree, read_card, save_arrays, save_tree

GENERATOR = "tests.errors"


@pytest.fixture
def saved(tmp_path):
    """A file dominated by one large array (so the middle of the file is array data)."""
    path = tmp_path / "field.dmech"
    arrays = {"u": np.linspace(0.0, 1.0, 50_000), "mask": np.arange(10) % 2 == 0}
    save_arrays(path, arrays, kind="dataset", generator=GENERATOR, params={"nu": 0.01})
    return path, arrays


def rewrite_zip(path, change, *, compression=zipfile.ZIP_STORED, order=None):
    """Rewrites the archive as a valid zip (fresh CRCs) after ``change(members)``."""
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    change(members)
    names = order(list(members)) if order else list(members)
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name in names:
            zf.writestr(name, members[name])


def raises(path, *fragments, call=None):
    """Asserts a DataFileError whose message holds the path and every fragment."""
    call = call or (lambda: load_arrays(path))
    with pytest.raises(DataFileError) as info:
        call()
    message = str(info.value)
    assert str(path) in message and path.name in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert info.value.path == str(path)
    return message


def test_changed_array_bytes_in_a_valid_zip(saved):
    path, _ = saved

    def change(members):
        raw = bytearray(members["u.npy"])
        raw[len(raw) // 2] ^= 0x01  # one bit of one float64
        members["u.npy"] = bytes(raw)

    rewrite_zip(path, change)
    raises(path, "corrupted", "content hash mismatch")
    read_card(path)  # the card alone is still readable


def test_raw_byte_flips_in_the_file(saved):
    path, _ = saved
    raw = bytearray(path.read_bytes())
    for offset in range(len(raw) // 2, len(raw) // 2 + 8):
        raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))
    raises(path, "corrupted", "'u.npy'", "CRC")


def test_truncated_file(saved):
    path, _ = saved
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    raises(path, "truncated")
    raises(path, "truncated", call=lambda: read_card(path))
    raises(path, "truncated", call=lambda: load_tree(path, {}))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.dmech"
    path.write_bytes(b"")
    raises(path, "not a dmech file", "empty")
    raises(path, "empty", call=lambda: read_card(path))


def test_random_non_zip_file(tmp_path):
    path = tmp_path / "noise.dmech"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    raises(path, "not a dmech file", "not a zip archive")


def test_zip_without_card_is_not_a_dmech_file(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, u=np.ones(3))
    raises(path, "not a dmech file", "no card.json")


def test_missing_and_unexpected_members(saved):
    path, _ = saved
    rewrite_zip(path, lambda members: members.pop("mask.npy"))
    raises(path, "member(s) missing", "'mask.npy'")

    def add(members):
        members["mask.npy"] = members["u.npy"]  # put something back...
        members["stray.npy"] = members["u.npy"]  # ...and an extra member

    rewrite_zip(path, add)
    raises(path, "unexpected member", "'stray.npy'")


def test_member_disagreeing_with_card(saved):
    path, _ = saved

    def swap(members):
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.zeros(10, np.int8))
        members["mask.npy"] = buffer.getvalue()

    rewrite_zip(path, swap)
    raises(path, "corrupted", "'mask.npy' holds int8[10]", "card.json says bool[10]")


def test_bytes_after_an_array(saved):
    path, _ = saved
    rewrite_zip(path, lambda members: members.update({"mask.npy": members["mask.npy"] + b"\0"}))
    raises(path, "corrupted", "'mask.npy' has bytes after its array")


def edit_card(path, edit):
    def change(members):
        card = json.loads(members["card.json"])
        edit(card)
        members["card.json"] = json.dumps(card).encode()

    rewrite_zip(path, change)


def test_unsupported_format_version(saved):
    path, _ = saved
    edit_card(path, lambda card: card.update(format_version=99))
    raises(path, "unsupported format_version 99", "reads format_version 1")
    raises(path, "format_version 99", call=lambda: read_card(path))


def test_unknown_dtype_in_card(saved):
    path, _ = saved
    edit_card(path, lambda card: card["dtypes"].update(u="float99"))
    raises(path, "array 'u' has dtype 'float99', unknown to this dmech")


def test_invalid_card(saved):
    path, _ = saved
    rewrite_zip(path, lambda members: members.update({"card.json": b"{not json"}))
    raises(path, "card.json is not valid JSON", call=lambda: read_card(path))
    rewrite_zip(path, lambda members: members.update({"card.json": b'{"format_version": 1}'}))
    raises(path, "invalid card.json", "'kind'", call=lambda: read_card(path))


def test_card_mismatches(saved):
    path, _ = saved
    raises(
        path,
        "generator differs: expected 'tests.other', found 'tests.errors'",
        call=lambda: load_arrays(path, generator="tests.other"),
    )
    raises(
        path,
        "kind differs: expected 'model', found 'dataset'",
        call=lambda: load_arrays(path, kind="model"),
    )
    raises(
        path,
        "params differ",
        "'nu': expected 0.02, found 0.01",
        "'n': expected 64, missing",
        call=lambda: load_arrays(path, params={"nu": 0.02, "n": 64}),
    )
    raises(
        path,
        "params differ",
        "'nu': not expected, found 0.01",
        call=lambda: load_tree(path, {}, params={}),
    )
    load_arrays(path, kind="dataset", generator=GENERATOR, params={"nu": np.float64(0.01)})


def test_tree_mismatches_name_leaf_paths(tmp_path):
    path = tmp_path / "model.dmech"
    tree = {"w": jnp.zeros((3, 4)), "b": jnp.zeros(4), "step": 3}
    save_tree(path, tree, kind="model", generator=GENERATOR)

    raises(
        path,
        "does not match `like`",
        "leaf \"['w']\": expected float32[4, 3], found float32[3, 4]",
        call=lambda: load_tree(path, {**tree, "w": jnp.zeros((4, 3))}),
    )
    raises(
        path,
        "leaf \"['b']\": expected int32[4], found float32[4]",
        call=lambda: load_tree(path, {**tree, "b": jnp.zeros(4, jnp.int32)}),
    )
    raises(
        path,
        "leaf \"['step']\": expected float64[], found int64[]",
        call=lambda: load_tree(path, {**tree, "step": 0.0}),
    )
    raises(
        path,
        "leaf \"['extra']\" is missing from the file (expected float32[2])",
        call=lambda: load_tree(path, {**tree, "extra": jnp.zeros(2)}),
    )
    raises(
        path,
        "the file has array \"['b']\" (float32[4]), which `like` lacks",
        call=lambda: load_tree(path, {"w": tree["w"], "step": 0}),
    )
    raises(
        path,
        "leaf \"['k']\" is missing from the file (expected key<threefry2x32>[])",
        call=lambda: load_tree(path, {**tree, "k": jax.random.key(0)}),
    )


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_arrays(tmp_path / "absent.dmech")


def test_every_single_byte_corruption_is_caught_or_harmless(tmp_path):
    """No byte of a file can be damaged into a raw exception or into wrong data."""
    path = tmp_path / "small.dmech"
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "k": np.array([True, False])}
    save_arrays(path, arrays, kind="dataset", generator=GENERATOR)
    good = path.read_bytes()
    caught = 0
    for offset in range(len(good)):
        for flip in (0xFF, 0x01):
            raw = bytearray(good)
            raw[offset] ^= flip
            path.write_bytes(bytes(raw))
            try:
                loaded, _ = load_arrays(path)
            except DataFileError as e:
                assert str(path) in str(e)
                caught += 1
                continue
            for name, original in arrays.items():  # damage to unused zip fields only
                assert loaded[name].tobytes() == original.tobytes()
                assert loaded[name].dtype == original.dtype
    assert caught > len(good)  # most flips are detected
