"""The content hash identifies the arrays, not the zip container."""

import zipfile

import numpy as np

from dmech.data import load_arrays, read_card, save_arrays


def save(path, arrays):
    return save_arrays(path, arrays, kind="dataset", generator="tests.hash")


def test_hash_stable_and_sensitive(tmp_path):
    arrays = {"u": np.linspace(0, 1, 100).reshape(10, 10), "n": np.arange(5, dtype=np.int32)}
    first = save(tmp_path / "a.dmech", arrays).content_hash
    assert save(tmp_path / "b.dmech", arrays).content_hash == first  # later, elsewhere
    reordered = {"n": arrays["n"].copy(), "u": np.asfortranarray(arrays["u"])}
    assert save(tmp_path / "c.dmech", reordered).content_hash == first

    changed = {**arrays, "u": arrays["u"].copy()}
    changed["u"][3, 7] = np.nextafter(changed["u"][3, 7], 2.0)  # one element, one ulp
    variants = {
        "one element": changed,
        "renamed": {"v": arrays["u"], "n": arrays["n"]},
        "reshaped": {**arrays, "u": arrays["u"].reshape(100)},
        "same bytes, other dtype": {**arrays, "n": arrays["n"].view(np.float32)},
        "one array fewer": {"u": arrays["u"]},
    }
    hashes = {first}
    for label, variant in variants.items():
        digest = save(tmp_path / f"{label}.dmech", variant).content_hash
        assert digest not in hashes, label
        hashes.add(digest)


def test_hash_independent_of_zip_compression_and_order(tmp_path):
    path = tmp_path / "a.dmech"
    arrays = {"u": np.zeros(1000), "v": np.arange(7), "w": np.ones((2, 2), np.float32)}
    card = save(path, arrays)
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in reversed(list(members)):
            zf.writestr(name, members[name])
    assert read_card(path) == card
    loaded, _ = load_arrays(path)  # verifies the hash
    for name, original in arrays.items():
        np.testing.assert_array_equal(loaded[name], original)
