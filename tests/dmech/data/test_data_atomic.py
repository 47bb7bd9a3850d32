"""Writes are atomic: a crash or SIGKILL mid-write never leaves a half file under the name."""

import os
import select
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from dmech.data import atomic_write, load_arrays, read_card, save_arrays, save_tree


def write(path, value, n=1000):
    return save_arrays(path, {"u": np.full(n, value)}, kind="dataset", generator="tests.atomic")


def leftovers(directory, keep):
    return sorted(p.name for p in directory.iterdir() if p.name != keep)


class Crash(Exception):
    pass


def test_crash_mid_array_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "data.dmech"
    write(path, 1.0)
    before = path.read_bytes()
    real_write_array = np.lib.format.write_array

    def write_half_then_crash(fp, array, *args, **kwargs):
        fp.write(b"\x93NUMPY" + b"\x00" * (array.nbytes // 2))  # partial output
        raise Crash("disk on fire")

    monkeypatch.setattr(np.lib.format, "write_array", write_half_then_crash)
    with pytest.raises(Crash):
        write(path, 2.0)
    with pytest.raises(Crash):  # a first write: nothing appears at all
        write(tmp_path / "new.dmech", 2.0)
    monkeypatch.setattr(np.lib.format, "write_array", real_write_array)

    assert path.read_bytes() == before
    assert leftovers(tmp_path, "data.dmech") == []
    assert load_arrays(path)[0]["u"][0] == 1.0


def test_atomic_write_of_any_file(tmp_path):
    path = tmp_path / "sub" / "record.json"
    atomic_write(path, lambda file: file.write(b'{"epochs": 1}'))
    assert path.read_bytes() == b'{"epochs": 1}'

    def write_half_then_crash(file):
        file.write(b'{"epo')
        raise Crash("interrupted")

    with pytest.raises(Crash):
        atomic_write(path, write_half_then_crash)
    assert path.read_bytes() == b'{"epochs": 1}'
    assert leftovers(path.parent, "record.json") == []


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_failure_before_rename_keeps_old_file(tmp_path, monkeypatch, step):
    path = tmp_path / "data.dmech"
    write(path, 1.0)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, step, fail)
    with pytest.raises(OSError, match="No space left"):
        save_tree(path, {"u": np.zeros(3)}, kind="model", generator="tests.atomic")
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert leftovers(tmp_path, "data.dmech") == []


def test_parent_directories_created_and_permissions(tmp_path):
    path = tmp_path / "a" / "b" / "data.dmech"
    write(path, 1.0)
    assert path.is_file()
    assert leftovers(path.parent, "data.dmech") == []
    if os.name == "posix":
        mask = os.umask(0o022)
        os.umask(mask)
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
        path.chmod(0o600)
        write(path, 2.0)  # replacing keeps the file's permissions
        assert path.stat().st_mode & 0o777 == 0o600


CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from dmech.data import save_arrays

    path = sys.argv[1]
    for i in range(1, 1_000_000):
        big = np.full(2_000_000, float(i))  # 16 MB
        save_arrays(path, {"big": big}, kind="dataset", generator="tests.child",
                    params={"i": i})
        print(i, flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_write_never_leaves_a_half_file(tmp_path):
    path = tmp_path / "big.dmech"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        ready, _, _ = select.select([child.stdout], [], [], 120)
        assert ready, "the child wrote nothing"
        assert child.stdout.readline().strip() == "1"  # one complete file exists
        # While the child keeps rewriting the file, readers always find a complete one.
        end = time.monotonic() + 1.0
        reads = 0
        while time.monotonic() < end:
            assert read_card(path).generator == "tests.child"
            reads += 1
        # A second complete write (on a loaded machine the first rewrite can take seconds).
        ready, _, _ = select.select([child.stdout], [], [], 120)
        assert ready and child.stdout.readline().strip() == "2"
        # Then wait until a write is under way (its temporary file has data) and kill.
        deadline = time.monotonic() + 60
        while not any(
            p.suffix == ".tmp" and p.stat().st_size > 1_000_000 for p in tmp_path.iterdir()
        ):
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.001)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert reads > 10
    arrays, card = load_arrays(path, generator="tests.child")  # complete, hash verified
    assert card.params["i"] > 1  # the child did rewrite the file meanwhile
    assert arrays["big"].shape == (2_000_000,)
    assert arrays["big"][0] == arrays["big"][-1] == card.params["i"]
    names = leftovers(tmp_path, "big.dmech")
    temporary = [n for n in names if n.startswith(".big.dmech.") and n.endswith(".tmp")]
    assert len(temporary) == 1  # the killed write's, which nobody could clean up
    assert sorted([*temporary, "child.py"]) == names
