"""Zero-shot evaluation of a trained operator at other resolutions, and the table it prints."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from dmech._checks import check_int
from dmech._custom_types import ArrayLike, PyTree

from ._losses import relative_l2_error

__all__ = ["format_resolution_table", "resolution_table"]


def resolution_table(
    model: PyTree,
    datasets_by_resolution: Mapping[int, tuple[ArrayLike, ArrayLike]],
    *,
    predict: Callable[[PyTree, jax.Array], jax.Array] | None = None,
    batch_size: int = 32,
) -> dict[int, float]:
    r"""Relative L2 test error of one model on the same test set sampled at several resolutions.

    Train at one resolution, then evaluate zero-shot (no retraining, no interpolation) on
    datasets at others: for a discretisation-invariant operator the error stays close to its
    value at the training resolution (Li et al. 2021, Table 1 and figure 1). For each
    resolution $s$ the entry is $\frac{1}{N}\sum_b \|p_b - t_b\|_2 / \|t_b\|_2$, the mean
    per-sample relative L2 error (`relative_l2_error`).

    Args:
        model: the trained model (any equinox Module or callable pytree).
        datasets_by_resolution: `{s: (inputs, targets)}`, where `s` is the resolution (points
            per axis) and `inputs`/`targets` have a leading sample axis, for example
            `(N, in_channels, s, s)` and `(N, out_channels, s, s)` for a 2-D FNO.
        predict: `predict(model, inputs) -> predictions` on a batch; default
            `jax.vmap(model)`.
        batch_size: samples evaluated per call (bounds memory at fine resolutions).

    Returns:
        `{s: error}` in the order of the keys given, as Python floats.

    Raises:
        ValueError: naming `datasets_by_resolution`, for an empty mapping, a key that is not
            a positive int, or inputs and targets with different sample counts.

    Example:
        >>> # table = resolution_table(model, {85: (a85, u85), 141: (a141, u141)})
        >>> # print(format_resolution_table(table, train_resolution=85))
    """
    batch_size = check_int(batch_size, "batch_size")
    if not datasets_by_resolution:
        raise ValueError("`datasets_by_resolution` is empty.")
    for resolution, pair in datasets_by_resolution.items():
        if (
            isinstance(resolution, bool)
            or not isinstance(resolution, numbers.Integral)
            or resolution < 1
        ):
            raise ValueError(
                f"`datasets_by_resolution` keys must be positive ints (points per axis); "
                f"got {resolution!r}."
            )
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValueError(
                f"`datasets_by_resolution[{resolution}]` must be a pair (inputs, targets)."
            )
        inputs, targets = pair
        if np.shape(inputs)[:1] != np.shape(targets)[:1] or not np.shape(inputs):
            raise ValueError(
                f"`datasets_by_resolution[{resolution}]`: inputs {np.shape(inputs)} and targets "
                f"{np.shape(targets)} must share the leading sample axis."
            )

    def errors(model: PyTree, inputs: ArrayLike, targets: ArrayLike) -> jax.Array:
        inputs = jnp.asarray(inputs)
        predictions = jax.vmap(model)(inputs) if predict is None else predict(model, inputs)
        return relative_l2_error(predictions, targets)

    errors_jit = eqx.filter_jit(errors)
    table: dict[int, float] = {}
    for resolution, (inputs, targets) in datasets_by_resolution.items():
        inputs, targets = np.asarray(inputs), np.asarray(targets)
        chunks = [
            np.asarray(errors_jit(model, inputs[i : i + batch_size], targets[i : i + batch_size]))
            for i in range(0, inputs.shape[0], batch_size)
        ]
        table[int(resolution)] = float(np.mean(np.concatenate(chunks)))
    return table


def format_resolution_table(
    table: Mapping[int, float],
    *,
    train_resolution: int | None = None,
    title: str | None = None,
) -> str:
    """The resolution table as Markdown: resolution, relative L2 error, ratio to training.

    Args:
        table: `{resolution: error}`, as returned by `resolution_table`.
        train_resolution: the resolution the model was trained at (marked, and the ratio
            column is relative to it); must be a key of `table`. `None` omits the ratio.
        title: an optional line printed above the table.

    Returns:
        The table as a string (no trailing newline), for example::

            | resolution | rel. L2 error | / train |
            |---:|---:|---:|
            | 85 (train) | 1.080e-02 | 1.00 |
            | 141 | 1.120e-02 | 1.04 |

    Raises:
        ValueError: naming `train_resolution` if it is not a key of `table`, or `table` if
            it is empty.
    """
    if not table:
        raise ValueError("`table` is empty.")
    if train_resolution is not None and train_resolution not in table:
        raise ValueError(
            f"`train_resolution` {train_resolution!r} is not a key of `table` ({sorted(table)})."
        )
    lines = [] if title is None else [title, ""]
    if train_resolution is None:
        lines += ["| resolution | rel. L2 error |", "|---:|---:|"]
    else:
        lines += ["| resolution | rel. L2 error | / train |", "|---:|---:|---:|"]
    for resolution in sorted(table):
        error = table[resolution]
        if train_resolution is None:
            lines.append(f"| {resolution} | {error:.3e} |")
        else:
            mark = " (train)" if resolution == train_resolution else ""
            ratio = error / table[train_resolution]
            lines.append(f"| {resolution}{mark} | {error:.3e} | {ratio:.2f} |")
    return "\n".join(lines)
