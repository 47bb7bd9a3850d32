"""Pytrees (models, optimiser states, training checkpoints) to and from dmech data files."""

import os
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PyTree

from ._arrays import write_entries
from ._card import Card
from ._errors import DataFileError
from ._format import (
    Entry,
    check_card,
    decode_array,
    dtype_name,
    encode_array,
    format_layout,
    is_key_dtype,
    key_impl_of_dtype,
    open_archive,
    read_card_member,
    read_entries,
)

# How Python scalar leaves are stored (and what `like` then expects to find).
_PYTHON_SCALARS: tuple[tuple[type, np.dtype], ...] = (
    (bool, np.dtype(np.bool_)),  # before int: bool is an int
    (int, np.dtype(np.int64)),
    (float, np.dtype(np.float64)),
    (complex, np.dtype(np.complex128)),
)
_MAX_PROBLEMS = 10


def _leaf_kind(leaf: Any) -> str | None:
    """What sort of array leaf this is, or None for a leaf that is not saved."""
    if isinstance(leaf, jax.ShapeDtypeStruct):
        return "abstract"
    if isinstance(leaf, jax.Array):
        return "jax"
    if isinstance(leaf, np.ndarray):
        return "numpy"
    if isinstance(leaf, np.generic):
        return "numpy-scalar"
    for scalar_type, _ in _PYTHON_SCALARS:
        if isinstance(leaf, scalar_type):
            return scalar_type.__name__
    return None


def _python_dtype(kind: str) -> np.dtype:
    return next(dtype for scalar_type, dtype in _PYTHON_SCALARS if scalar_type.__name__ == kind)


def _array_leaves(tree: Any) -> tuple[list[tuple[str, int, str, Any]], list[Any], Any]:
    """``[(name, index, kind, leaf)]`` for every array leaf, all leaves, and the treedef."""
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(tree)
    found: list[tuple[str, int, str, Any]] = []
    seen: set[str] = set()
    for index, (key_path, leaf) in enumerate(with_paths):
        kind = _leaf_kind(leaf)
        if kind is None:
            continue
        name = jax.tree_util.keystr(key_path)
        if name in seen:
            raise ValueError(f"two array leaves have the same path name {name!r}")
        seen.add(name)
        found.append((name, index, kind, leaf))
    return found, [leaf for _, leaf in with_paths], treedef


def save_tree(
    path: str | os.PathLike[str],
    tree: PyTree,
    *,
    kind: str,
    generator: str,
    params: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Card:
    """Saves the array leaves of any pytree (a model, an optimiser state, a checkpoint).

    Every array leaf is saved under its `jax.tree_util.keystr` path, e.g. ``"[1].layers[0]
    .weight"`` or ``"['params']['w']"`` (a tree that is a single array is saved under
    ``""``). Array leaves are JAX arrays (typed PRNG keys included), numpy arrays and numpy
    scalars, and also Python ``bool``/``int``/``float``/``complex`` leaves, stored as 0-d
    ``bool``/``int64``/``float64``/``complex128`` arrays: a step counter kept as a Python
    int is part of a checkpoint. (So is a non-static Python scalar field of an equinox
    Module, such as ``Dropout.inference``.) Every other leaf (functions, strings, ``None``
    and static fields) is not saved: `load_tree` takes it from ``like``. The write is
    atomic, as for `save_arrays`.

    Args:
        path: the file to write.
        tree: any pytree; its arrays must be concrete (not traced under ``jax.jit``).
        kind: ``"model"``, ``"checkpoint"``, ... (see `save_arrays`).
        generator: what produced the tree, e.g. ``"dmech.train.fit"``.
        params: JSON-compatible parameters (e.g. the model's hyperparameters).
        extra: any other JSON-compatible metadata (e.g. the step and loss).

    Returns:
        The card written into the file.

    Raises:
        TypeError: a leaf cannot be stored (traced, abstract, object dtype).
        ValueError: two leaves have the same path name, or a Python int exceeds int64.

    Example:
        >>> model = eqx.nn.MLP(2, 1, 32, 2, key=jax.random.key(0))
        >>> save_tree("mlp.dmech", model, kind="model", generator="example",
        ...           params={"width": 32, "depth": 2})  # doctest: +SKIP
    """
    leaves, _, _ = _array_leaves(tree)
    entries: list[Entry] = []
    for name, _, leaf_kind, leaf in leaves:
        if leaf_kind == "abstract":
            raise TypeError(f"leaf {name!r} is a jax.ShapeDtypeStruct, which holds no data")
        if leaf_kind in ("bool", "int", "float", "complex"):
            try:
                leaf = np.asarray(leaf, dtype=_python_dtype(leaf_kind))
            except OverflowError:
                raise ValueError(f"leaf {name!r}: Python int {leaf} does not fit int64") from None
        entries.append(encode_array(name, leaf))
    return write_entries(path, entries, kind=kind, generator=generator, params=params, extra=extra)


def _expected_layout(leaf: Any, kind: str) -> tuple[str, tuple[int, ...]]:
    """The card dtype string and shape that a leaf of ``like`` asks for."""
    if kind in ("bool", "int", "float", "complex"):
        return _python_dtype(kind).name, ()
    if kind in ("jax", "abstract") and is_key_dtype(leaf.dtype):
        impl = str(jax.random.key_impl(leaf)) if kind == "jax" else key_impl_of_dtype(leaf.dtype)
        return f"key<{impl}>", tuple(leaf.shape)
    return dtype_name(np.dtype(leaf.dtype)), tuple(leaf.shape)


def _restore(value: Any, leaf: Any, kind: str) -> Any:
    """The loaded array in the form of the ``like`` leaf it replaces."""
    if kind == "numpy":
        return value
    if kind == "numpy-scalar":
        return value[()]
    if kind in ("bool", "int", "float", "complex"):
        return {"bool": bool, "int": int, "float": float, "complex": complex}[kind](value[()])
    array = value if isinstance(value, jax.Array) else jnp.asarray(value)
    sharding = leaf.sharding
    several = isinstance(sharding, jax.sharding.Sharding) and len(sharding.device_set) > 1
    # A ShapeDtypeStruct's sharding is honoured only over several devices; an uncommitted
    # array stays uncommitted (on the default device).
    place = several or (kind == "jax" and leaf.committed)
    return jax.device_put(array, sharding) if place else array


def load_tree(
    path: str | os.PathLike[str],
    like: PyTree,
    *,
    kind: str | None = None,
    generator: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> tuple[PyTree, Card]:
    """Loads a pytree saved by `save_tree`, with the structure and static parts of ``like``.

    ``like`` supplies the tree structure and every leaf that is not an array (see
    `save_tree`); its array leaves say which arrays the file must hold, and with which
    dtype and shape. They may be concrete arrays or `jax.ShapeDtypeStruct` (e.g. from
    ``eqx.filter_eval_shape``, to avoid building the model twice). Each loaded leaf takes
    the form of the ``like`` leaf it replaces: a JAX array (placed with the ``like``
    leaf's sharding when that leaf is committed or sharded over several devices) for a JAX
    array or ShapeDtypeStruct, a numpy array for a numpy array, a numpy scalar for a numpy
    scalar, a Python scalar of the same type for a Python scalar. No dtype conversion is
    ever made.

    Args:
        path: the file to read.
        like: a pytree of the same structure as the one saved.
        kind: when given, the card's ``kind`` must equal it.
        generator: when given, the card's ``generator`` must equal it.
        params: when given, the card's ``params`` must equal it.

    Returns:
        ``(tree, card)``.

    Raises:
        DataFileError: everything `load_arrays` checks, plus: a leaf of ``like`` missing
            from the file, an array in the file that ``like`` lacks, or a dtype/shape that
            differs (the message names each leaf path, expected versus found).
        OSError: the file does not exist or cannot be opened.

    Example:
        >>> like = eqx.filter_eval_shape(eqx.nn.MLP, 2, 1, 32, 2, key=jax.random.key(0))
        >>> model, card = load_tree("mlp.dmech", like, kind="model")  # doctest: +SKIP
    """
    leaves, all_leaves, treedef = _array_leaves(like)
    expected = {name: _expected_layout(leaf, kind_) for name, _, kind_, leaf in leaves}
    with open_archive(path) as zf:
        card = read_card_member(zf, path)
        check_card(path, card, kind=kind, generator=generator, params=params)
        problems = []
        for name, (dtype, shape) in expected.items():
            if name not in card.shapes:
                problems.append(
                    f"leaf {name!r} is missing from the file "
                    f"(expected {format_layout(dtype, shape)})"
                )
            elif card.dtypes[name] != dtype or card.shapes[name] != shape:
                found = format_layout(card.dtypes[name], card.shapes[name])
                problems.append(
                    f"leaf {name!r}: expected {format_layout(dtype, shape)}, found {found}"
                )
        for name in card.shapes:
            if name not in expected:
                found = format_layout(card.dtypes[name], card.shapes[name])
                problems.append(f"the file has array {name!r} ({found}), which `like` lacks")
        if problems:
            more = len(problems) - _MAX_PROBLEMS
            shown = problems[:_MAX_PROBLEMS] + ([f"and {more} more"] if more > 0 else [])
            raise DataFileError(path, "does not match `like`: " + "; ".join(shown))
        entries = read_entries(zf, path, card)
    new_leaves = list(all_leaves)
    for name, index, leaf_kind, leaf in leaves:
        new_leaves[index] = _restore(decode_array(path, entries[name]), leaf, leaf_kind)
    return jax.tree_util.tree_unflatten(treedef, new_leaves), card
