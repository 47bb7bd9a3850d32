"""cache_dir and load_or_generate."""

import re

import numpy as np
import pytest

from dmech.data import DataFileError, cache_dir, load_arrays, load_or_generate, save_arrays

GENERATOR = "tests.cache.burgers"


def test_cache_dir_honours_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DMECH_CACHE_DIR", str(tmp_path / "cache"))
    directory = cache_dir("cfd", "burgers")
    assert directory == tmp_path / "cache" / "cfd" / "burgers"
    assert directory.is_dir()
    assert cache_dir() == tmp_path / "cache"
    with pytest.raises(ValueError, match=re.escape("'..'")):
        cache_dir("..", "elsewhere")
    with pytest.raises(ValueError, match="relative"):
        cache_dir("/etc")


def test_cache_dir_default_is_under_home(tmp_path, monkeypatch):
    monkeypatch.delenv("DMECH_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # never the real home
    assert cache_dir("x") == tmp_path / ".cache" / "dmech" / "x"
    assert (tmp_path / ".cache" / "dmech" / "x").is_dir()


class CountingGenerator:
    def __init__(self):
        self.calls = 0

    def __call__(self, nu):
        self.calls += 1
        return {"u": np.full((4, 8), nu, np.float32), "x": np.linspace(0, 1, 8)}


def test_generates_once_then_reuses_and_regenerates_on_new_params(tmp_path, monkeypatch):
    monkeypatch.setenv("DMECH_CACHE_DIR", str(tmp_path))
    path = cache_dir("cfd") / "burgers.dmech"
    make = CountingGenerator()

    def get(nu):
        return load_or_generate(
            path, lambda: make(nu), generator=GENERATOR, params={"nu": nu}, extra={"by": "test"}
        )

    arrays, card = get(0.01)
    assert make.calls == 1 and path.is_file()
    assert card.params == {"nu": 0.01} and card.kind == "dataset" and card.extra == {"by": "test"}
    again, card_again = get(0.01)
    assert make.calls == 1  # reused
    assert card_again == card
    for name in arrays:
        assert again[name].tobytes() == arrays[name].tobytes()
        assert again[name].dtype == arrays[name].dtype

    other, card_other = get(0.02)
    assert make.calls == 2  # params changed: regenerated and rewritten
    assert other["u"][0, 0] == np.float32(0.02)
    assert load_arrays(path)[1] == card_other
    get(0.02)
    assert make.calls == 2
    get(0.01)
    assert make.calls == 3


def test_corrupt_cache_is_reported_unless_asked_to_regenerate(tmp_path):
    path = tmp_path / "burgers.dmech"
    make = CountingGenerator()
    load_or_generate(path, lambda: make(0.1), generator=GENERATOR, params={"nu": 0.1})
    path.write_bytes(path.read_bytes()[:100])

    with pytest.raises(DataFileError, match=re.escape("burgers.dmech: truncated")):
        load_or_generate(path, lambda: make(0.1), generator=GENERATOR, params={"nu": 0.1})
    assert make.calls == 1
    arrays, _ = load_or_generate(
        path, lambda: make(0.1), generator=GENERATOR, params={"nu": 0.1}, regenerate_corrupt=True
    )
    assert make.calls == 2
    assert load_arrays(path)[0]["u"].tobytes() == arrays["u"].tobytes()


def test_corrupt_array_bytes_in_cache_are_reported(tmp_path):
    path = tmp_path / "burgers.dmech"
    make = CountingGenerator()
    load_or_generate(path, lambda: make(0.1), generator=GENERATOR, params={"nu": 0.1})
    raw = bytearray(path.read_bytes())
    offset = raw.index(b"\x93NUMPY", raw.index(b"u.npy")) + 130  # inside u's data
    raw[offset] ^= 0x10
    path.write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match=re.escape("'u.npy' fails its CRC-32 check")):
        load_or_generate(path, lambda: make(0.1), generator=GENERATOR, params={"nu": 0.1})
    load_or_generate(
        path, lambda: make(0.1), generator=GENERATOR, params={"nu": 0.1}, regenerate_corrupt=True
    )
    assert make.calls == 2


def test_other_generators_file_is_never_overwritten(tmp_path):
    path = tmp_path / "model.dmech"
    save_arrays(path, {"w": np.ones(3)}, kind="model", generator="tests.train")
    before = path.read_bytes()
    make = CountingGenerator()
    with pytest.raises(DataFileError, match="kind differs: expected 'dataset', found 'model'"):
        load_or_generate(path, lambda: make(0.1), generator=GENERATOR, params={})
    with pytest.raises(DataFileError, match="generator differs"):
        load_or_generate(path, lambda: make(0.1), generator=GENERATOR, params={}, kind="model")
    assert make.calls == 0 and path.read_bytes() == before
