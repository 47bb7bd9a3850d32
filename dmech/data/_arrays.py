"""Named arrays to and from a dmech data file: `save_arrays`, `load_arrays`, `read_card`."""

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jaxtyping import ArrayLike

from ._card import Card
from ._format import (
    Entry,
    atomic_write,
    check_card,
    decode_array,
    encode_array,
    make_card,
    open_archive,
    read_card_member,
    read_entries,
    write_archive,
)


def write_entries(
    path: str | os.PathLike[str],
    entries: list[Entry],
    *,
    kind: str,
    generator: str,
    params: Mapping[str, Any] | None,
    extra: Mapping[str, Any] | None,
) -> Card:
    """Builds the card and writes the archive atomically."""
    card = make_card(entries, kind=kind, generator=generator, params=params, extra=extra)
    atomic_write(Path(path), lambda file: write_archive(file, card, entries))
    return card


def check_array_name(name: Any) -> None:
    """ValueError unless ``name`` is a non-empty string without '/' or NUL."""
    if not isinstance(name, str) or not name or "/" in name or "\x00" in name:
        raise ValueError(
            f"array name {name!r} is invalid: names must be non-empty strings without '/' or NUL"
        )
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"array name {name!r} is invalid: it is not valid Unicode") from None


def save_arrays(
    path: str | os.PathLike[str],
    arrays: Mapping[str, ArrayLike],
    *,
    kind: str,
    generator: str,
    params: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Card:
    """Saves named arrays and their metadata card to one file, atomically.

    The file is a zip archive holding ``card.json`` and one ``<name>.npy`` member per array
    (no pickle). Every dtype round-trips bit for bit: numpy's own dtypes, ml_dtypes types
    such as bfloat16 (stored as raw bytes, true name in the card) and JAX typed PRNG key
    arrays (stored as ``jax.random.key_data``). The file appears under ``path`` only once
    complete: a crash or kill mid-write leaves the previous file, if any, untouched.
    Parent directories are created. Plain arrays can also be read with
    ``numpy.load(path)[name]``.

    Args:
        path: the file to write; ``.dmech`` is the conventional suffix (not enforced).
        arrays: arrays by name (numpy or JAX arrays, or scalars, any shape including
            ``()`` and empty). Names are non-empty strings without ``'/'`` or NUL.
        kind: ``"dataset"``, ``"model"``, ``"checkpoint"`` or any other string.
        generator: what produced the arrays, e.g. ``"dmech.cfd.burgers_dataset"``.
        params: the generator's parameters (JSON-compatible; numpy scalars/arrays, tuples
            and dtypes are converted). Defaults to ``{}``.
        extra: any other JSON-compatible metadata. Defaults to ``{}``.

    Returns:
        The card written into the file.

    Raises:
        ValueError: an invalid array name (the message names it).
        TypeError: an array of a dtype that cannot be stored (object, structured) or a
            parameter that cannot be stored as JSON.

    Example:
        >>> u = np.zeros((16, 64), np.float32)
        >>> card = save_arrays("burgers.dmech", {"u": u}, kind="dataset",
        ...                    generator="dmech.cfd.burgers_dataset", params={"nu": 0.01})
        >>> card.shapes["u"]
        (16, 64)
    """
    if not isinstance(arrays, Mapping):
        raise TypeError(f"`arrays` must be a mapping of names to arrays, got {type(arrays)}")
    for name in arrays:
        check_array_name(name)
    entries = [encode_array(name, value) for name, value in arrays.items()]
    return write_entries(path, entries, kind=kind, generator=generator, params=params, extra=extra)


def load_arrays(
    path: str | os.PathLike[str],
    *,
    kind: str | None = None,
    generator: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> tuple[dict[str, np.ndarray | jax.Array], Card]:
    """Loads every array of a dmech data file, verifying its integrity.

    Checks, in order: the file is a readable zip archive with a ``card.json`` of a supported
    ``format_version``; the card has the ``kind``, ``generator`` and ``params`` asked for
    (when given; params must be equal as a whole, after the same JSON conversion as on
    saving); every member the card lists is present, nothing else is; each member passes
    its zip CRC check and has the dtype and shape the card says; the content hash matches.

    Args:
        path: the file to read.
        kind: when given, the card's ``kind`` must equal it.
        generator: when given, the card's ``generator`` must equal it.
        params: when given, the card's ``params`` must equal it.

    Returns:
        ``(arrays, card)``: arrays by name (sorted by name) as fresh numpy arrays with the
        saved dtype and shape, except typed PRNG key arrays, which numpy cannot hold and
        come back as JAX key arrays; and the card.

    Raises:
        DataFileError: the file cannot be read or does not match (message: the path, then
            what is wrong, expected versus found).
        OSError: the file does not exist or cannot be opened (e.g. `FileNotFoundError`).

    Example:
        >>> arrays, card = load_arrays("burgers.dmech", generator="dmech.cfd.burgers_dataset")
        >>> arrays["u"].shape, card.params
        ((16, 64), {'nu': 0.01})
    """
    with open_archive(path) as zf:
        card = read_card_member(zf, path)
        check_card(path, card, kind=kind, generator=generator, params=params)
        entries = read_entries(zf, path, card)
    return {name: decode_array(path, entry) for name, entry in entries.items()}, card


def read_card(path: str | os.PathLike[str]) -> Card:
    """Reads only the card of a dmech data file (no array is read or verified).

    Args:
        path: the file to read.

    Returns:
        The file's card.

    Raises:
        DataFileError: not a dmech file, truncated, a damaged or invalid ``card.json``, or an
            unsupported ``format_version``.
        OSError: the file does not exist or cannot be opened.

    Example:
        >>> read_card("burgers.dmech").generator
        'dmech.cfd.burgers_dataset'
    """
    with open_archive(path) as zf:
        return read_card_member(zf, path)
