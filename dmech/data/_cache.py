"""A cache directory and generate-once datasets."""

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jaxtyping import ArrayLike

from ._arrays import check_array_name, load_arrays, read_card, write_entries
from ._card import Card
from ._errors import DataFileError
from ._format import check_card, decode_array, encode_array

CACHE_ENV = "DMECH_CACHE_DIR"


def cache_dir(*parts: str) -> Path:
    """dmech's cache directory (or a subdirectory of it), created if needed.

    The root is ``$DMECH_CACHE_DIR`` when that is set and non-empty (``~`` is expanded),
    else ``~/.cache/dmech``.

    Args:
        *parts: relative path components below the root, e.g. ``("cfd", "burgers")``.

    Returns:
        The directory, which exists.

    Raises:
        ValueError: a part is absolute or contains ``..``.

    Example:
        >>> path = cache_dir("cfd") / "burgers_nu0.01.dmech"  # doctest: +SKIP
    """
    root = os.environ.get(CACHE_ENV) or os.path.join("~", ".cache", "dmech")
    directory = Path(root).expanduser()
    for part in parts:
        relative = Path(part)
        if relative.is_absolute() or relative.anchor or ".." in relative.parts:
            raise ValueError(f"cache_dir part {part!r} must be a relative path without '..'")
        directory = directory / relative
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def load_or_generate(
    path: str | os.PathLike[str],
    generate: Callable[[], Mapping[str, ArrayLike]],
    *,
    generator: str,
    params: Mapping[str, Any],
    kind: str = "dataset",
    extra: Mapping[str, Any] | None = None,
    regenerate_corrupt: bool = False,
) -> tuple[dict[str, np.ndarray | jax.Array], Card]:
    """Loads a cached file, or calls ``generate()`` and saves its arrays there first.

    - ``path`` missing: ``generate()`` is called and its arrays saved (atomically).
    - ``path`` holds a file of this ``kind`` and ``generator``: with equal ``params`` it is
      loaded and verified (``generate`` is not called); with other ``params`` it is stale,
      so ``generate()`` is called and the file rewritten.
    - ``path`` holds a file of another ``kind`` or ``generator``: DataFileError. The file is
      someone else's artefact (say, a trained model given the wrong path) and is never
      overwritten.
    - ``path`` is unreadable or corrupted: DataFileError by default, because silently
      regenerating would hide disk or copy problems and may cost hours; with
      ``regenerate_corrupt=True`` it is regenerated and rewritten. A file of an
      unsupported (newer) format_version counts as unreadable.

    Two processes racing on the same path may both generate; each write is atomic, so the
    file is always complete and the last writer wins.

    Args:
        path: the cache file, e.g. ``cache_dir("cfd") / "burgers.dmech"``.
        generate: called without arguments; returns arrays by name.
        generator: name of what ``generate`` runs, e.g. ``"dmech.cfd.burgers_dataset"``.
        params: every parameter the arrays depend on (JSON-compatible).
        kind: the card's kind.
        extra: extra metadata to store with newly generated arrays.
        regenerate_corrupt: regenerate an unreadable or corrupted file instead of raising.

    Returns:
        ``(arrays, card)`` as `load_arrays` returns them; after generating, the arrays as
        written.

    Raises:
        DataFileError: see above.

    Example:
        >>> params = {"nu": 0.01, "n": 256}
        >>> arrays, card = load_or_generate(
        ...     cache_dir("cfd") / "burgers.dmech", lambda: burgers_dataset(**params),
        ...     generator="dmech.cfd.burgers_dataset", params=params)  # doctest: +SKIP
    """
    if not callable(generate):
        raise TypeError(f"`generate` must be callable, got {type(generate).__name__}")
    path = Path(path)
    try:
        card = read_card(path)
    except FileNotFoundError:
        card = None
    except DataFileError:
        if not regenerate_corrupt:
            raise
        card = None
    if card is not None:
        check_card(path, card, kind=kind, generator=generator, params=None)
        try:
            check_card(path, card, kind=None, generator=None, params=params)
        except DataFileError:
            card = None  # stale: other parameters
    if card is not None:
        try:
            return load_arrays(path, kind=kind, generator=generator, params=params)
        except DataFileError:
            if not regenerate_corrupt:
                raise
    arrays = generate()
    if not isinstance(arrays, Mapping):
        raise TypeError(f"`generate` must return a mapping of arrays, got {type(arrays)}")
    for name in arrays:
        check_array_name(name)
    entries = [encode_array(name, value) for name, value in arrays.items()]
    card = write_entries(path, entries, kind=kind, generator=generator, params=params, extra=extra)
    by_name = {entry.name: entry for entry in entries}
    return {name: decode_array(path, by_name[name]) for name in card.shapes}, card
