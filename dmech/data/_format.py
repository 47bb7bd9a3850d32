"""The file format: a zip archive holding ``card.json`` and one ``.npy`` member per array.

Layout (format_version 1)::

    card.json          the Card, UTF-8 JSON
    <name>.npy         one member per array, written by numpy.lib.format (never pickled);
                       '%', '/', '\\' and control characters in <name> are %XX-escaped

Members are stored uncompressed (ZIP64 when large). Arrays are stored C-contiguous and
little-endian. Dtypes that the .npy header cannot describe are stored as raw bytes:

- ml_dtypes types (bfloat16, float8_*, int4, ...): an unsigned-int view of the same itemsize;
  the card keeps the true dtype name.
- JAX typed PRNG key arrays: ``jax.random.key_data`` (uint32, one trailing axis more); the
  card's dtype is ``key<impl>``, e.g. ``key<threefry2x32>``.

The content hash is sha256 over, for every array in name order: its name, card dtype,
logical shape and stored bytes, each length-prefixed. It does not depend on zip compression
or member order, so a file rezipped by another tool still verifies.
"""

import contextlib
import dataclasses
import hashlib
import json
import os
import stat
import struct
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

from .._version import __version__
from ._card import (
    FORMAT_VERSION,
    Card,
    canonical_json,
    describe_params_difference,
    to_json_value,
)
from ._errors import DataFileError

CARD_MEMBER = "card.json"
_HASH_DOMAIN = b"dmech content hash, format 1\x00"
_ZIP64_THRESHOLD = 1 << 30
_KEY_IMPLS = ("threefry2x32", "rbg", "unsafe_rbg", "threefry4x32", "philox2x32", "philox4x32")
# Errors that zipfile/zlib/numpy raise on damaged archives once the file is open.
_READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    zlib.error,
    struct.error,
    NotImplementedError,
    RuntimeError,
    ValueError,
    OSError,
)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One array as it goes into (or came out of) a file."""

    name: str
    dtype: str  # the card's dtype string
    shape: tuple[int, ...]  # logical shape (without the key-data axis)
    stored: np.ndarray  # C-contiguous, little-endian, as in the .npy member


# --------------------------------------------------------------------------- dtypes


def _is_ml_dtype(dtype: np.dtype) -> bool:
    return dtype.kind == "V" and dtype.fields is None and dtype.type is not np.void


def is_key_dtype(dtype: Any) -> bool:
    """True for the dtype of a JAX typed PRNG key array."""
    return jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def key_impl_of_dtype(dtype: Any) -> str:
    """The implementation name (as `jax.random.key` takes it) of a typed key dtype."""
    for impl in _KEY_IMPLS:
        try:
            candidate = jax.eval_shape(lambda impl=impl: jax.random.key(0, impl=impl)).dtype
        except ValueError:  # not in this version of JAX
            continue
        if candidate == dtype:
            return impl
    raise TypeError(f"unsupported PRNG key implementation {dtype}")


def dtype_name(dtype: np.dtype) -> str:
    """The card's name for a numpy dtype; TypeError for dtypes a file cannot hold."""
    if dtype.kind in "biufcmM" or _is_ml_dtype(dtype):
        return dtype.name
    if dtype.kind in "US":
        return dtype.newbyteorder("<").str
    raise TypeError(
        f"dtype {dtype} cannot be stored in a dmech data file (object and structured "
        "arrays would need pickle)"
    )


def resolve_dtype(name: str) -> np.dtype | None:
    """The numpy dtype a card's dtype name denotes, or None when unknown/unsupported."""
    try:
        dtype = np.dtype(name)
    except TypeError:
        dtype = None
    if dtype is None or (dtype.kind == "V" and not _is_ml_dtype(dtype)):
        candidate = getattr(ml_dtypes, name, None)
        try:
            dtype = np.dtype(candidate) if candidate is not None else None
        except TypeError:
            dtype = None
    if dtype is None:
        return None
    try:
        if dtype_name(dtype) != name:
            return None
    except TypeError:
        return None
    return dtype


def _little_endian(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=array.dtype.newbyteorder("<"), order="C")


def _unsigned(itemsize: int) -> np.dtype:
    return np.dtype(f"<u{itemsize}")


# --------------------------------------------------------------------------- arrays


def encode_array(name: str, value: Any) -> Entry:
    """Turns a numpy/JAX array (or scalar) into the form stored in the file."""
    if isinstance(value, jax.Array) and is_key_dtype(value.dtype):
        impl = str(jax.random.key_impl(value))
        data = np.asarray(jax.random.key_data(value))
        return Entry(name, f"key<{impl}>", tuple(value.shape), _little_endian(data))
    try:
        array = np.asarray(value)
    except jax.errors.TracerArrayConversionError as e:
        raise TypeError(f"array {name!r} is a traced value; save outside jax.jit/grad/vmap") from e
    try:
        dtype = dtype_name(array.dtype)
    except TypeError as e:
        raise TypeError(f"array {name!r}: {e}") from None
    if _is_ml_dtype(array.dtype):
        if resolve_dtype(dtype) != array.dtype:
            raise TypeError(f"array {name!r}: dtype {dtype} cannot be restored by name")
        stored = np.asarray(array, order="C").view(_unsigned(array.dtype.itemsize))
    else:
        stored = _little_endian(array)
    return Entry(name, dtype, tuple(array.shape), stored)


def decode_array(path: Any, entry: Entry) -> np.ndarray | jax.Array:
    """The array a stored entry denotes: numpy, or a JAX key array for ``key<...>``."""
    if entry.dtype.startswith("key<") and entry.dtype.endswith(">"):
        impl = entry.dtype[4:-1]
        try:
            return jax.random.wrap_key_data(jnp.asarray(entry.stored), impl=impl)
        except (TypeError, ValueError) as e:
            raise DataFileError(
                path, f"array {entry.name!r}: cannot rebuild PRNG keys {entry.dtype}: {e}"
            ) from None
    dtype = resolve_dtype(entry.dtype)
    assert dtype is not None  # checked by check_stored
    if _is_ml_dtype(dtype):
        return entry.stored.view(dtype)
    return entry.stored


def check_stored(path: Any, member: str, entry: Entry) -> None:
    """Checks that a member's dtype and shape are what its card entry says."""
    stored = entry.stored
    if entry.dtype.startswith("key<") and entry.dtype.endswith(">"):
        good = (
            stored.dtype == np.uint32
            and stored.ndim == len(entry.shape) + 1
            and stored.shape[:-1] == entry.shape
        )
        want = format_layout("uint32", (*entry.shape, "k"))
    else:
        dtype = resolve_dtype(entry.dtype)
        if dtype is None:
            raise DataFileError(
                path, f"array {entry.name!r} has dtype {entry.dtype!r}, unknown to this dmech"
            )
        want_dtype = _unsigned(dtype.itemsize) if _is_ml_dtype(dtype) else dtype
        want_dtype = want_dtype.newbyteorder("<")
        good = stored.dtype == want_dtype and stored.shape == entry.shape
        want = format_layout(dtype_name(want_dtype), entry.shape)
    if not good:
        raise DataFileError(
            path,
            f"corrupted: member {member!r} holds {format_layout(str(stored.dtype), stored.shape)}"
            f" but card.json says {format_layout(entry.dtype, entry.shape)} (stored as {want})",
        )


def format_layout(dtype: str, shape: tuple[Any, ...]) -> str:
    """``float32[3, 4]``: a dtype and shape as messages print them."""
    return f"{dtype}[{', '.join(map(str, shape))}]"


def member_name(name: str) -> str:
    """The zip member holding array ``name``: %XX-escaped, plus ``.npy``."""
    out = []
    for char in name:
        code = ord(char)
        if char in "%/\\" or code < 0x20 or code == 0x7F:
            out.append(f"%{code:02X}")
        else:
            out.append(char)
    return "".join(out) + ".npy"


def content_hash(entries: list[Entry]) -> str:
    """``sha256:<hex>`` over every entry's name, dtype, shape and stored bytes."""
    digest = hashlib.sha256(_HASH_DOMAIN)

    def text(value: str) -> None:
        raw = value.encode("utf-8")
        digest.update(struct.pack("<Q", len(raw)))
        digest.update(raw)

    digest.update(struct.pack("<Q", len(entries)))
    for entry in sorted(entries, key=lambda e: e.name):
        text(entry.name)
        text(entry.dtype)
        digest.update(struct.pack(f"<Q{len(entry.shape)}Q", len(entry.shape), *entry.shape))
        raw = np.asarray(entry.stored, order="C").reshape(-1).view(np.uint8)
        digest.update(struct.pack("<Q", raw.size))
        digest.update(raw.data)
    return "sha256:" + digest.hexdigest()


# --------------------------------------------------------------------------- writing


def make_card(
    entries: list[Entry],
    *,
    kind: str,
    generator: str,
    params: Mapping[str, Any] | None,
    extra: Mapping[str, Any] | None,
) -> Card:
    """The card for a list of entries (hashes every array)."""
    for field, text in (("kind", kind), ("generator", generator)):
        if not isinstance(text, str):
            raise TypeError(f"`{field}` must be a string, got {type(text).__name__}")
    for field, mapping in (("params", params), ("extra", extra)):
        if mapping is not None and not isinstance(mapping, Mapping):
            raise TypeError(f"`{field}` must be a mapping, got {type(mapping).__name__}")
    ordered = sorted(entries, key=lambda e: e.name)
    return Card(
        format_version=FORMAT_VERSION,
        kind=kind,
        generator=generator,
        params=to_json_value(dict(params or {}), "params"),
        shapes={e.name: e.shape for e in ordered},
        dtypes={e.name: e.dtype for e in ordered},
        code_version=__version__,
        content_hash=content_hash(ordered),
        created=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        extra=to_json_value(dict(extra or {}), "extra"),
    )


def _zip_info(member: str, date_time: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(member, date_time=date_time)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def write_archive(file: IO[bytes], card: Card, entries: list[Entry]) -> None:
    """Writes card and arrays as a zip archive into an open binary file."""
    card_json = card.to_json().encode("utf-8")
    now = time.localtime()
    date_time = (now.tm_year, now.tm_mon, now.tm_mday, now.tm_hour, now.tm_min, now.tm_sec)
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(_zip_info(CARD_MEMBER, date_time), card_json)
        for entry in sorted(entries, key=lambda e: e.name):
            info = _zip_info(member_name(entry.name), date_time)
            large = entry.stored.nbytes >= _ZIP64_THRESHOLD
            with zf.open(info, "w", force_zip64=large) as out:
                np.lib.format.write_array(out, entry.stored, allow_pickle=False)


def _umask() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no other way to read it; restored at once
    os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Writes a file so that ``path`` holds either its old content or the complete new one.

    The bytes go to a temporary file ``.<name>.<random>.tmp`` in the same directory, which
    is flushed, fsynced and then renamed over ``path`` (and the directory fsynced). On any
    exception the temporary file is removed and ``path`` is untouched. Parent directories
    are created. The new file keeps the permissions of the file it replaces, else
    ``0o666 & ~umask``.
    """
    path = Path(path)
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        if os.name == "posix":
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


# --------------------------------------------------------------------------- reading


def open_archive(path: Any) -> zipfile.ZipFile:
    """Opens a dmech file's zip archive; DataFileError when it is not one (or truncated)."""
    try:
        return zipfile.ZipFile(path, "r")
    except OSError:
        raise
    except _READ_ERRORS as e:
        problem = _diagnose_unreadable(path, e)
    raise DataFileError(path, problem)


def _diagnose_unreadable(path: Any, error: BaseException) -> str:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as file:
            head = file.read(4)
    except OSError:
        size, head = -1, b""
    if size == 0:
        return "not a dmech file: the file is empty (0 bytes)"
    if head == b"PK\x03\x04":
        return (
            f"truncated or damaged: the file ({size} bytes) starts as a zip archive but its "
            f"directory at the end cannot be read ({error})"
        )
    return f"not a dmech file: not a zip archive ({error})"


def read_card_member(zf: zipfile.ZipFile, path: Any) -> Card:
    """Reads and checks ``card.json`` (format_version first, then every field)."""
    if CARD_MEMBER not in zf.namelist():
        raise DataFileError(path, "not a dmech file: the zip archive has no card.json member")
    try:
        raw = zf.read(CARD_MEMBER)
    except _READ_ERRORS as e:
        raise DataFileError(path, f"corrupted: member 'card.json' cannot be read ({e})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise DataFileError(path, f"corrupted: card.json is not valid JSON ({e})") from None
    version = data.get("format_version") if isinstance(data, dict) else None
    if isinstance(version, bool) or not isinstance(version, int):
        raise DataFileError(path, f"invalid card.json: no integer format_version ({version!r})")
    if version != FORMAT_VERSION:
        raise DataFileError(
            path,
            f"unsupported format_version {version}: this dmech ({__version__}) reads "
            f"format_version {FORMAT_VERSION}",
        )
    try:
        return Card.from_dict(data)
    except ValueError as e:
        raise DataFileError(path, f"invalid card.json: {e}") from None


def check_card(
    path: Any,
    card: Card,
    *,
    kind: str | None,
    generator: str | None,
    params: Mapping[str, Any] | None,
) -> None:
    """DataFileError unless the card has the given kind, generator and params."""
    for field, expected in (("kind", kind), ("generator", generator)):
        found = getattr(card, field)
        if expected is not None and found != expected:
            raise DataFileError(path, f"{field} differs: expected {expected!r}, found {found!r}")
    if params is not None:
        if not isinstance(params, Mapping):
            raise TypeError(f"`params` must be a mapping, got {type(params).__name__}")
        wanted = to_json_value(dict(params), "params")
        if canonical_json(wanted) != canonical_json(card.params):
            raise DataFileError(
                path, "params differ: " + describe_params_difference(wanted, card.params)
            )


def read_entries(zf: zipfile.ZipFile, path: Any, card: Card) -> dict[str, Entry]:
    """Reads every array the card lists, checks layouts, CRCs and the content hash."""
    names = zf.namelist()
    if len(names) != len(set(names)):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise DataFileError(path, f"corrupted: duplicated zip member(s) {duplicated}")
    members = {member_name(name): name for name in card.shapes}
    missing = [m for m in members if m not in names]
    if missing:
        raise DataFileError(
            path, f"member(s) missing: {', '.join(map(repr, missing))} (listed in card.json)"
        )
    unexpected = sorted(set(names) - set(members) - {CARD_MEMBER})
    if unexpected:
        raise DataFileError(
            path,
            f"unexpected member(s) not listed in card.json: {', '.join(map(repr, unexpected))}",
        )
    entries = {}
    for member, name in members.items():
        try:
            with zf.open(member) as file:
                stored = np.lib.format.read_array(file, allow_pickle=False)
                trailing = file.read(1)
        except zipfile.BadZipFile as e:
            what = "fails its CRC-32 check" if "CRC" in str(e) else f"is damaged ({e})"
            raise DataFileError(path, f"corrupted: member {member!r} {what}") from None
        except _READ_ERRORS as e:
            raise DataFileError(
                path, f"corrupted: member {member!r} is not a valid .npy array ({e})"
            ) from None
        if trailing:
            raise DataFileError(path, f"corrupted: member {member!r} has bytes after its array")
        entry = Entry(name, card.dtypes[name], card.shapes[name], stored)
        check_stored(path, member, entry)
        entries[name] = entry
    found = content_hash(list(entries.values()))
    if found != card.content_hash:
        raise DataFileError(
            path,
            f"corrupted: content hash mismatch: card.json says {card.content_hash}, "
            f"the arrays give {found}",
        )
    return entries
