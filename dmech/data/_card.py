"""The metadata card stored as ``card.json`` in every dmech data file."""

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

FORMAT_VERSION = 1
"""The file format this version of dmech writes (and the newest one it reads)."""

_CARD_FIELDS = (
    "format_version",
    "kind",
    "generator",
    "params",
    "shapes",
    "dtypes",
    "code_version",
    "content_hash",
    "created",
    "extra",
)


@dataclasses.dataclass(frozen=True)
class Card:
    """What a dmech data file holds, who made it, and from which parameters.

    Every file written by [`dmech.data.save_arrays`][] or [`dmech.data.save_tree`][]
    carries one, as the ``card.json`` member of the archive. It converts to and from JSON
    exactly (`to_json` / `from_json`); tuples are stored as JSON lists.

    Attributes:
        format_version: version of the file layout (currently 1).
        kind: ``"dataset"``, ``"model"``, ``"checkpoint"``, or any other string.
        generator: what produced the file, e.g. ``"dmech.cfd.burgers_dataset"`` or
            ``"dmech.train.fit"``.
        params: the generator's parameters, as JSON (numpy scalars and arrays already
            converted to Python numbers and lists, tuples to lists).
        shapes: shape of every array, by name.
        dtypes: dtype of every array, by name: a numpy dtype name (``"float32"``,
            ``"bfloat16"``, ``"bool"``...), ``"<U8"``-style strings for text, or
            ``"key<threefry2x32>"`` for a JAX typed PRNG key array (the implementation's
            name in the brackets).
        code_version: ``dmech.__version__`` of the writer.
        content_hash: ``"sha256:<hex>"`` over every array's name, dtype, shape and bytes,
            independent of zip compression and member order.
        created: ISO-8601 UTC time of writing, e.g. ``"2025-01-31T12:00:00+00:00"``.
        extra: free JSON dictionary for anything else (a training step, a loss history).

    Example:
        >>> card = read_card("burgers.dmech")  # doctest: +SKIP
        >>> card.params["nu"], card.shapes["u"]  # doctest: +SKIP
        (0.01, (128, 256))
        >>> Card.from_json(card.to_json()) == card  # doctest: +SKIP
        True
    """

    format_version: int
    kind: str
    generator: str
    params: dict[str, Any]
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, str]
    code_version: str
    content_hash: str
    created: str
    extra: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The card as a JSON-compatible dictionary (shapes as lists).

        Returns:
            A new dictionary with one entry per field, in declaration order.
        """
        out = {field: getattr(self, field) for field in _CARD_FIELDS}
        out["shapes"] = {name: list(shape) for name, shape in self.shapes.items()}
        out["params"] = dict(self.params)
        out["dtypes"] = dict(self.dtypes)
        out["extra"] = dict(self.extra)
        return out

    def to_json(self) -> str:
        """The card as JSON text (indented, UTF-8 characters kept).

        Returns:
            A string that `Card.from_json` turns back into an equal card.
        """
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Card":
        """Builds a card from a dictionary such as `to_dict` returns, checking every field.

        Unknown keys are ignored (room for later additions).

        Args:
            data: mapping with every field of the card.

        Returns:
            The card.

        Raises:
            ValueError: a field is missing or has the wrong type.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a card is a JSON object, got {type(data).__name__}")
        missing = [field for field in _CARD_FIELDS if field not in data]
        if missing:
            raise ValueError(f"card lacks field(s) {', '.join(map(repr, missing))}")
        version = data["format_version"]
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError(f"card field 'format_version' is not an integer: {version!r}")
        for field in ("kind", "generator", "code_version", "content_hash", "created"):
            if not isinstance(data[field], str):
                raise ValueError(f"card field {field!r} is not a string: {data[field]!r}")
        for field in ("params", "extra", "shapes", "dtypes"):
            if not isinstance(data[field], Mapping):
                raise ValueError(f"card field {field!r} is not a JSON object")
        shapes: dict[str, tuple[int, ...]] = {}
        for name, shape in data["shapes"].items():
            if not isinstance(shape, list | tuple) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
            ):
                raise ValueError(f"card gives array {name!r} an invalid shape {shape!r}")
            shapes[name] = tuple(shape)
        dtypes = dict(data["dtypes"])
        if not all(isinstance(d, str) for d in dtypes.values()):
            raise ValueError("card field 'dtypes' has a value that is not a string")
        if set(shapes) != set(dtypes):
            diff = sorted(set(shapes) ^ set(dtypes))
            raise ValueError(f"card lists different arrays in 'shapes' and 'dtypes': {diff}")
        return cls(
            format_version=version,
            kind=data["kind"],
            generator=data["generator"],
            params=dict(data["params"]),
            shapes=shapes,
            dtypes=dtypes,
            code_version=data["code_version"],
            content_hash=data["content_hash"],
            created=data["created"],
            extra=dict(data["extra"]),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> "Card":
        """Parses the JSON text that `to_json` writes.

        Args:
            text: JSON text (str, or UTF-8 bytes).

        Returns:
            The card.

        Raises:
            ValueError: the text is not JSON, or not a valid card.
        """
        return cls.from_dict(json.loads(text))


def to_json_value(value: Any, where: str) -> Any:
    """Converts parameters to plain JSON values: numpy/JAX scalars and arrays to numbers and
    lists, tuples to lists, dtypes to their names. ``where`` names the value in errors."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, np.generic | np.ndarray | jax.Array):
        if isinstance(value, jax.Array) and jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
            raise TypeError(f"{where} is a PRNG key array, which cannot be stored as JSON")
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"{where} is an array of dtype {array.dtype}, which cannot be stored as JSON"
            )
        if array.dtype.kind == "f":
            array = array.astype(np.float64)  # exact for float16/32/64
        return to_json_value(array.tolist(), where)
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, type):
        try:
            return np.dtype(value).name
        except TypeError:
            pass
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has key {key!r}; JSON keys must be strings")
            out[key] = to_json_value(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, list | tuple):
        return [to_json_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise TypeError(f"{where} has type {type(value).__name__}, which cannot be stored as JSON")


def canonical_json(value: Any) -> str:
    """One string per JSON value (sorted keys, no spaces): equal strings, equal values."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def describe_params_difference(expected: Mapping[str, Any], found: Mapping[str, Any]) -> str:
    """Human-readable list of the parameters that differ, expected versus found."""
    parts = []
    for key in sorted(set(expected) | set(found)):
        if key not in found:
            parts.append(f"{key!r}: expected {_short(expected[key])}, missing from the file")
        elif key not in expected:
            parts.append(f"{key!r}: not expected, found {_short(found[key])}")
        elif canonical_json(expected[key]) != canonical_json(found[key]):
            parts.append(f"{key!r}: expected {_short(expected[key])}, found {_short(found[key])}")
    return "; ".join(parts)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."
