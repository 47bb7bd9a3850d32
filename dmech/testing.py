"""Shared test helpers: per-dtype tolerances, gradient checks, convergence orders, compile counts.

Every test in the repository compares numbers through these helpers, so tolerances are set
in one place (`tolerance`) and failures say what was observed against what was expected.

- `tolerance`: `(rtol, atol)` per dtype and kind of comparison.
- `assert_tree_allclose`, `assert_tree_equal`: compare pytrees leaf by leaf, naming the path.
- `check_grad`: forward- and reverse-mode derivatives against finite differences.
- `convergence_order`, `assert_convergence_order`: observed order of accuracy.
- `count_compiles`, `assert_no_recompile`: XLA compilations, through `jax.monitoring`.
"""

import contextlib
import dataclasses
import functools
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
from jax.flatten_util import ravel_pytree

from ._custom_types import ArrayLike, DTypeLike, Key, PyTree

__all__ = [
    "CompileCounter",
    "Tolerance",
    "assert_convergence_order",
    "assert_no_recompile",
    "assert_tree_allclose",
    "assert_tree_equal",
    "check_grad",
    "convergence_order",
    "count_compiles",
    "tolerance",
]


# ---------------------------------------------------------------------------------------------
# Tolerances
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """A relative and absolute tolerance pair; unpacks as `rtol, atol = tol`.

    A value `a` is close to the reference `b` when `|a - b| <= atol + rtol * |b|`.

    Attributes:
        rtol: relative tolerance.
        atol: absolute tolerance.
    """

    rtol: float
    atol: float

    def __iter__(self) -> Iterator[float]:
        return iter((self.rtol, self.atol))


# Per real dtype and kind: (rtol, atol). Machine epsilons: float16 9.8e-4, bfloat16 7.8e-3,
# float32 1.2e-7, float64 2.2e-16.
# - "default": two computations of the same quantity that differ only in round-off
#   (reassociated sums, another but equivalent formula): a few hundred ulps.
# - "gradient": automatic derivatives against finite differences (truncation and
#   cancellation error of order eps**(2/3) for central differences).
# - "solver": iterative or approximate solves against a reference solution.
_TOLERANCES: dict[str, dict[str, Tolerance]] = {
    "float16": {
        "default": Tolerance(rtol=1e-2, atol=1e-3),
        "gradient": Tolerance(rtol=1e-1, atol=5e-2),
        "solver": Tolerance(rtol=5e-2, atol=1e-2),
    },
    "bfloat16": {
        "default": Tolerance(rtol=5e-2, atol=1e-2),
        "gradient": Tolerance(rtol=2e-1, atol=1e-1),
        "solver": Tolerance(rtol=1e-1, atol=5e-2),
    },
    "float32": {
        "default": Tolerance(rtol=1e-5, atol=1e-6),
        "gradient": Tolerance(rtol=1e-2, atol=1e-3),
        "solver": Tolerance(rtol=1e-4, atol=1e-5),
    },
    "float64": {
        "default": Tolerance(rtol=1e-10, atol=1e-12),
        "gradient": Tolerance(rtol=1e-6, atol=1e-8),
        "solver": Tolerance(rtol=1e-8, atol=1e-10),
    },
}
_COMPLEX_TO_REAL = {"complex64": "float32", "complex128": "float64"}
_KINDS = ("default", "gradient", "solver")


def _dtype_of(dtype: Any) -> np.dtype:
    if hasattr(dtype, "dtype") and not isinstance(dtype, type):
        return np.dtype(dtype.dtype)
    return np.dtype(dtype)


def tolerance(dtype: DTypeLike | ArrayLike, kind: str = "default") -> Tolerance:
    """Return the `(rtol, atol)` pair for comparing numbers of this dtype.

    The tables are explicit per dtype (complex dtypes use their real part's row):

    | dtype | default | gradient | solver |
    |---|---|---|---|
    | float16 | 1e-2, 1e-3 | 1e-1, 5e-2 | 5e-2, 1e-2 |
    | bfloat16 | 5e-2, 1e-2 | 2e-1, 1e-1 | 1e-1, 5e-2 |
    | float32 | 1e-5, 1e-6 | 1e-2, 1e-3 | 1e-4, 1e-5 |
    | float64 | 1e-10, 1e-12 | 1e-6, 1e-8 | 1e-8, 1e-10 |

    `"default"` is for two computations that differ only in round-off, `"gradient"` for
    automatic derivatives against finite differences, `"solver"` for iterative solves
    against a reference.

    Args:
        dtype: a dtype (`jnp.float32`, `"float64"`, `np.dtype(...)`) or an array, whose
            dtype is used.
        kind: `"default"`, `"gradient"` or `"solver"`.

    Returns:
        A frozen `Tolerance(rtol, atol)`, which also unpacks as `rtol, atol`.

    Raises:
        TypeError: if the dtype has no table (integers, bool, float8, ...), naming it.
        ValueError: for an unknown `kind`.

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.testing import tolerance
        >>> rtol, atol = tolerance(jnp.float32)
        >>> rtol, atol
        (1e-05, 1e-06)

    References:
        Higham (2002), "Accuracy and Stability of Numerical Algorithms", SIAM, ch. 1-3.
    """
    if kind not in _KINDS:
        raise ValueError(f"`kind` must be one of {_KINDS}; got {kind!r}.")
    try:
        resolved = _dtype_of(dtype)
    except TypeError:
        raise TypeError(f"tolerance: {dtype!r} is not a dtype.") from None
    name = _COMPLEX_TO_REAL.get(resolved.name, resolved.name)
    if name not in _TOLERANCES:
        raise TypeError(
            f"tolerance: no tolerance table for dtype {resolved.name}; "
            f"tables exist for {', '.join(_TOLERANCES)} and complex64, complex128."
        )
    return _TOLERANCES[name][kind]


# ---------------------------------------------------------------------------------------------
# Pytree comparisons
# ---------------------------------------------------------------------------------------------


def _is_arraylike(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic, int, float, complex)) and not (
        isinstance(x, bool)
    )


def _leaves_with_paths(tree: Any) -> tuple[list[tuple[str, Any]], Any]:
    leaves, treedef = jtu.tree_flatten_with_path(tree)
    return [(jtu.keystr(path) or "<root>", leaf) for path, leaf in leaves], treedef


def _check_structure(a: Any, b: Any, fn: str) -> list[tuple[str, Any, Any]]:
    leaves_a, treedef_a = _leaves_with_paths(a)
    leaves_b, treedef_b = _leaves_with_paths(b)
    if treedef_a != treedef_b:
        paths_a = {p for p, _ in leaves_a}
        paths_b = {p for p, _ in leaves_b}
        detail = ""
        if paths_a != paths_b:
            only_a = sorted(paths_a - paths_b)[:5]
            only_b = sorted(paths_b - paths_a)[:5]
            detail = f"\n  leaves only in a: {only_a}\n  leaves only in b: {only_b}"
        raise AssertionError(
            f"{fn}: the trees differ in structure.\n  a: {treedef_a}\n  b: {treedef_b}{detail}"
        )
    return [(pa, la, lb) for (pa, la), (_, lb) in zip(leaves_a, leaves_b, strict=True)]


def _format_index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]" if index else "[]"


def assert_tree_allclose(
    a: PyTree,
    b: PyTree,
    *,
    rtol: float | int | None = None,
    atol: float | int | None = None,
) -> None:
    r"""Assert that two pytrees have the same structure and numerically close leaves.

    Array leaves (JAX or NumPy arrays, Python and NumPy scalars) must have the same shape
    (no broadcasting) and the same kind of dtype (both inexact, or both integer/bool). An
    inexact leaf passes when, elementwise,

    $$|a - b| \le \text{atol} + \text{rtol}\,|b|,$$

    with NaNs in the same places counted equal; `rtol`/`atol` default to
    `tolerance(dtype, "default")` of the less precise of the two dtypes. Integer and bool
    leaves must be equal. Other leaves (strings, callables, ...) must compare equal with `==`.

    Args:
        a: the computed pytree.
        b: the reference pytree (the `rtol` term scales with `|b|`).
        rtol: relative tolerance, or `None` for the per-dtype default.
        atol: absolute tolerance, or `None` for the per-dtype default.

    Raises:
        AssertionError: naming the first failing leaf by its path, with the largest
            absolute and relative differences and the worst element.

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.testing import assert_tree_allclose
        >>> assert_tree_allclose({"u": jnp.ones(3)}, {"u": jnp.ones(3) + 1e-7})
    """
    for path, la, lb in _check_structure(a, b, "assert_tree_allclose"):
        _assert_leaf_allclose(path, la, lb, rtol, atol)


def _assert_leaf_allclose(
    path: str, la: Any, lb: Any, rtol: float | None, atol: float | None
) -> None:
    where = f"assert_tree_allclose: leaf {path}"
    if not (_is_arraylike(la) and _is_arraylike(lb)):
        if _is_arraylike(la) != _is_arraylike(lb):
            raise AssertionError(
                f"{where}: one side is an array and the other is not: "
                f"{type(la).__name__} vs {type(lb).__name__}."
            )
        if not la == lb:
            raise AssertionError(f"{where}: {la!r} != {lb!r}.")
        return
    xa = np.asarray(la)
    xb = np.asarray(lb)
    if xa.shape != xb.shape:
        raise AssertionError(f"{where}: shapes differ: {xa.shape} vs {xb.shape}.")
    inexact_a = np.issubdtype(xa.dtype, np.inexact) or xa.dtype.name == "bfloat16"
    inexact_b = np.issubdtype(xb.dtype, np.inexact) or xb.dtype.name == "bfloat16"
    if inexact_a != inexact_b:
        raise AssertionError(
            f"{where}: one dtype is inexact and the other is not: {xa.dtype} vs {xb.dtype}."
        )
    if not inexact_a:
        if not np.array_equal(xa, xb):
            bad = np.argwhere(xa != xb)
            index = tuple(int(i) for i in bad[0])
            raise AssertionError(
                f"{where}: integer/bool values differ at {len(bad)} of {xa.size} entries; "
                f"first at {_format_index(index)}: {xa[index]!r} vs {xb[index]!r}."
            )
        return
    # Tolerance of the less precise dtype.
    tol_a = tolerance(xa.dtype)
    tol_b = tolerance(xb.dtype)
    default = tol_a if tol_a.rtol >= tol_b.rtol else tol_b
    rtol_ = default.rtol if rtol is None else rtol
    atol_ = default.atol if atol is None else atol
    complex_ = np.iscomplexobj(xa) or np.iscomplexobj(xb)
    work = np.complex128 if complex_ else np.float64
    ya = xa.astype(work)
    yb = xb.astype(work)
    close = np.isclose(ya, yb, rtol=rtol_, atol=atol_, equal_nan=True)
    if np.all(close):
        return
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        abs_diff = np.abs(ya - yb)
        rel_diff = abs_diff / np.abs(yb)
        excess = np.where(close, -np.inf, abs_diff - (atol_ + rtol_ * np.abs(yb)))
    excess = np.where(np.isnan(excess), np.inf, excess)
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), xa.shape))
    num_bad = int(np.size(close) - np.count_nonzero(close))
    finite = np.isfinite(abs_diff)
    max_abs = np.max(abs_diff[finite]) if np.any(finite) else np.nan
    finite_rel = np.isfinite(rel_diff)
    max_rel = np.max(rel_diff[finite_rel]) if np.any(finite_rel) else np.nan
    raise AssertionError(
        f"{where} (shape {xa.shape}, dtypes {xa.dtype}/{xb.dtype}): {num_bad} of {xa.size} "
        f"entries not close (rtol={rtol_:g}, atol={atol_:g}).\n"
        f"  max abs difference {max_abs:.3e}, max rel difference {max_rel:.3e}\n"
        f"  worst at {_format_index(tuple(index))}: a = {xa[index].item()!r}, "
        f"b = {xb[index].item()!r}"
    )


def assert_tree_equal(a: PyTree, b: PyTree) -> None:
    """Assert that two pytrees are bit-identical: structure, shapes, dtypes and bits.

    Array leaves must agree in shape, dtype and every bit of every element (so `0.0` and
    `-0.0` differ, and NaNs must have the same payload). A JAX array and a NumPy array with
    the same bits are equal. Non-array leaves must have the same type and compare equal.

    Args:
        a: the computed pytree.
        b: the reference pytree.

    Raises:
        AssertionError: naming the first differing leaf by its path, with the first
            differing element and its two values.

    Example:
        >>> import jax.numpy as jnp
        >>> from dmech.testing import assert_tree_equal
        >>> assert_tree_equal((jnp.arange(3), "tag"), (jnp.arange(3), "tag"))
    """
    for path, la, lb in _check_structure(a, b, "assert_tree_equal"):
        where = f"assert_tree_equal: leaf {path}"
        if not (_is_arraylike(la) and _is_arraylike(lb)):
            if type(la) is not type(lb):
                raise AssertionError(
                    f"{where}: types differ: {type(la).__name__} vs {type(lb).__name__}."
                )
            if not la == lb:
                raise AssertionError(f"{where}: {la!r} != {lb!r}.")
            continue
        if isinstance(la, (int, float, complex)) != isinstance(lb, (int, float, complex)):
            raise AssertionError(
                f"{where}: a Python scalar and an array: "
                f"{type(la).__name__} vs {type(lb).__name__}."
            )
        xa = np.asarray(la)
        xb = np.asarray(lb)
        if xa.shape != xb.shape:
            raise AssertionError(f"{where}: shapes differ: {xa.shape} vs {xb.shape}.")
        if xa.dtype != xb.dtype:
            raise AssertionError(f"{where}: dtypes differ: {xa.dtype} vs {xb.dtype}.")
        bits_a = np.ascontiguousarray(xa).view(np.uint8).reshape((*xa.shape, -1))
        bits_b = np.ascontiguousarray(xb).view(np.uint8).reshape((*xb.shape, -1))
        differs = np.any(bits_a != bits_b, axis=-1)
        if np.any(differs):
            bad = np.argwhere(differs)
            index = tuple(int(i) for i in bad[0])
            raise AssertionError(
                f"{where} (shape {xa.shape}, dtype {xa.dtype}): {len(bad)} of {xa.size} "
                f"entries differ; first at {_format_index(index)}: "
                f"a = {xa[index].item()!r}, b = {xb[index].item()!r}."
            )


# ---------------------------------------------------------------------------------------------
# Gradient check
# ---------------------------------------------------------------------------------------------


def _fmt_vector(x: np.ndarray) -> str:
    return np.array2string(np.asarray(x), precision=10, threshold=12, edgeitems=4)


def _finite_difference(f: Callable[[Any], Any], x: Any, v: Any, h: float) -> Any:
    """Fourth-order central difference of `f` at `x` along `v` with step `h`."""
    f_p1 = f(x + h * v)
    f_m1 = f(x - h * v)
    f_p2 = f(x + 2 * h * v)
    f_m2 = f(x - 2 * h * v)
    return (8 * (f_p1 - f_m1) - (f_p2 - f_m2)) / (12 * h)


def _check_first_order(
    f: Callable[[jax.Array], jax.Array],
    x: jax.Array,
    *,
    eps: float | None,
    rtol: float,
    atol: float,
    num_directions: int,
    key: Key,
    what: str,
    forward: bool,
    reverse: bool,
    jit: bool,
) -> None:
    def jvp(x: jax.Array, v: jax.Array) -> jax.Array:
        return jax.jvp(f, (x,), (v,))[1]

    def vjp(x: jax.Array, u: jax.Array) -> jax.Array:
        return jax.vjp(f, x)[1](u)[0]

    f_eval = jax.jit(f) if jit else f
    jvp_eval = jax.jit(jvp) if jit else jvp
    vjp_eval = jax.jit(vjp) if jit else vjp
    y = f_eval(x)
    if eps is None:
        scale = max(1.0, float(jnp.sqrt(jnp.mean(x**2)))) if x.size else 1.0
        h = 1e-3 * scale
    else:
        h = eps
    for i in range(num_directions):
        key, key_v, key_u = jax.random.split(key, 3)
        v = jax.random.normal(key_v, x.shape, dtype=x.dtype)
        v = v / jnp.linalg.norm(v)
        u = jax.random.normal(key_u, y.shape, dtype=y.dtype)
        expected = _finite_difference(f_eval, x, v, h)
        exp_np = np.asarray(expected)
        label = f"{what}, direction {i + 1} of {num_directions}"
        if forward:
            _check_forward(jvp_eval, x, v, exp_np, rtol=rtol, atol=atol, h=h, label=label)
        if reverse:
            _check_reverse(vjp_eval, x, v, u, exp_np, rtol=rtol, atol=atol, h=h, label=label)


def _check_forward(
    jvp: Callable[[jax.Array, jax.Array], jax.Array],
    x: jax.Array,
    v: jax.Array,
    exp_np: np.ndarray,
    *,
    rtol: float,
    atol: float,
    h: float,
    label: str,
) -> None:
    try:
        tangent = jvp(x, v)
    except TypeError as error:
        if "custom_vjp" not in str(error):
            raise
        raise TypeError(
            f"check_grad: {error} Pass mode='reverse' to check only reverse mode."
        ) from error
    jvp_np = np.asarray(tangent)
    err = float(np.linalg.norm(jvp_np - exp_np))
    ref = float(np.linalg.norm(exp_np))
    if not err <= atol + rtol * ref:
        raise AssertionError(
            f"check_grad: forward mode (jvp) disagrees with finite differences ({label}).\n"
            f"  jvp (observed):              {_fmt_vector(jvp_np)}\n"
            f"  finite difference (expected): {_fmt_vector(exp_np)}\n"
            f"  |jvp - fd| = {err:.3e}, |fd| = {ref:.3e}, relative error "
            f"{err / max(ref, np.finfo(np.float64).tiny):.3e} "
            f"(rtol={rtol:g}, atol={atol:g}, step {h:g})"
        )


def _check_reverse(
    vjp: Callable[[jax.Array, jax.Array], jax.Array],
    x: jax.Array,
    v: jax.Array,
    u: jax.Array,
    exp_np: np.ndarray,
    *,
    rtol: float,
    atol: float,
    h: float,
    label: str,
) -> None:
    cotangent = vjp(x, u)
    vjp_dot = float(jnp.vdot(cotangent, v))
    fd_dot = float(np.vdot(np.asarray(u), exp_np))
    err = abs(vjp_dot - fd_dot)
    # <u, D_v f> may cancel to near zero, so scale by its Cauchy-Schwarz bound.
    ref = float(jnp.linalg.norm(u)) * float(np.linalg.norm(exp_np))
    if not err <= atol + rtol * ref:
        raise AssertionError(
            f"check_grad: reverse mode (vjp) disagrees with finite differences ({label}).\n"
            f"  <vjp(u), v> (observed):        {vjp_dot!r}\n"
            f"  <u, fd along v> (expected):    {fd_dot!r}\n"
            f"  absolute error {err:.3e}, relative error (to |u| |fd|) "
            f"{err / max(ref, np.finfo(np.float64).tiny):.3e} "
            f"(rtol={rtol:g}, atol={atol:g}, step {h:g})"
        )


def check_grad(
    fn: Callable[..., PyTree],
    *args: PyTree,
    order: int = 1,
    eps: float | int | None = None,
    rtol: float | int | None = None,
    atol: float | int | None = None,
    num_directions: int = 3,
    key: Key | None = None,
    argnums: int | Sequence[int] = 0,
    mode: str = "both",
    jit: bool = True,
) -> None:
    r"""Check forward and reverse mode derivatives of `fn` against finite differences.

    Let $x$ collect every floating array leaf of the arguments in `argnums` (for an
    equinox Module: its parameters, as selected by `equinox.is_inexact_array`; other
    leaves are held fixed) and $y = f(x)$ every leaf of the output. Along `num_directions`
    random unit directions $v$ the directional derivative is estimated by the fourth-order
    central difference

    $$D_v f \approx \frac{8\,[f(x + hv) - f(x - hv)] - [f(x + 2hv) - f(x - 2hv)]}{12 h},$$

    and compared with

    - forward mode: `jax.jvp` gives $J v$, required $\|Jv - D_v f\| \le
      \text{atol} + \text{rtol}\,\|D_v f\|$;
    - reverse mode: `jax.vjp` with a random cotangent $u$ gives $J^\top u$, required
      $|\langle J^\top u, v\rangle - \langle u, D_v f\rangle| \le \text{atol} +
      \text{rtol}\,\|u\|\,\|D_v f\|$.

    With `order=2` the same check is applied to the derivative maps $x \mapsto J(x) w$
    (forward over forward/reverse) and $x \mapsto J(x)^\top u$ (reverse over
    forward/reverse) for random $w$, $u$, which tests second-order rules such as the
    differentiability of a `custom_jvp`. `mode="reverse"` checks only reverse mode (and,
    with `order=2`, only reverse over reverse), for `jax.custom_vjp` functions, which JAX
    cannot differentiate in forward mode; `mode="forward"` only forward mode.

    The check runs in float64: every differentiated leaf and every output leaf must be
    float64, so call it with x64 enabled (`jax.enable_x64(True)`, or the tests' `x64`
    fixture) and float64 inputs. `fn` must be smooth near the inputs (no kinks within
    $2h$ along the directions).

    Args:
        fn: the function, called as `fn(*args)`; any pytree of floating arrays out.
        *args: its arguments, pytrees (arrays, equinox Modules, ...).
        order: 1 (first derivatives) or 2 (also second derivatives).
        eps: finite-difference step $h$; default $10^{-3} \max(1, \text{rms}(x))$.
        rtol: relative tolerance; default `tolerance(float64, "gradient").rtol`.
        atol: absolute tolerance; default `tolerance(float64, "gradient").atol`.
        num_directions: number of random directions (and cotangents) tried.
        key: PRNG key for the directions; default `jax.random.key(0)`.
        argnums: index or indices of the arguments differentiated.
        mode: `"both"`, `"forward"` (jvp only) or `"reverse"` (vjp only).
        jit: whether to `jax.jit` the evaluations of `fn` and of its derivatives (fast;
            set `False` for a function that cannot be traced abstractly).

    Raises:
        AssertionError: if a derivative disagrees, with the observed and expected
            directional derivatives and the relative error.
        TypeError: if a differentiated leaf or an output leaf is not float64 (for example
            because x64 is off), or nothing is differentiable.
        ValueError: for bad `order`, `num_directions`, `argnums`, `mode` or `eps`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from dmech.testing import check_grad
        >>> with jax.enable_x64(True):
        ...     check_grad(lambda x: jnp.sin(x) * x, jnp.linspace(0.0, 1.0, 4))

    References:
        Nocedal and Wright (2006), "Numerical Optimization", 2nd ed., section 8.1
        (finite-difference derivative approximations).
    """
    if order not in (1, 2):
        raise ValueError(f"`order` must be 1 or 2; got {order!r}.")
    if mode not in ("both", "forward", "reverse"):
        raise ValueError(f"`mode` must be 'both', 'forward' or 'reverse'; got {mode!r}.")
    forward = mode in ("both", "forward")
    reverse = mode in ("both", "reverse")
    if isinstance(num_directions, bool) or not (
        isinstance(num_directions, int) and num_directions >= 1
    ):
        raise ValueError(f"`num_directions` must be a positive int; got {num_directions!r}.")
    argnums_tuple = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not argnums_tuple or any(
        isinstance(i, bool) or not isinstance(i, int) or not -len(args) <= i < len(args)
        for i in argnums_tuple
    ):
        raise ValueError(
            f"`argnums` must be an index or indices into the {len(args)} arguments; "
            f"got {argnums!r}."
        )
    argnums_tuple = tuple(i % len(args) for i in argnums_tuple)
    if len(set(argnums_tuple)) != len(argnums_tuple):
        raise ValueError(f"`argnums` repeats an argument: {argnums!r}.")
    default_tol = tolerance(np.float64, "gradient")
    rtol_ = default_tol.rtol if rtol is None else float(rtol)
    atol_ = default_tol.atol if atol is None else float(atol)
    eps_ = None if eps is None else float(eps)
    if eps_ is not None and not (math.isfinite(eps_) and eps_ > 0):
        raise ValueError(f"`eps` must be a positive finite step; got {eps!r}.")
    if key is None:
        key = jax.random.key(0)

    diff_parts = []
    static_parts = []
    for i in argnums_tuple:
        diff, static = eqx.partition(args[i], eqx.is_inexact_array)
        diff_parts.append(diff)
        static_parts.append(static)
        for path, leaf in jtu.tree_flatten_with_path(diff)[0]:
            if leaf.dtype != np.float64:
                x64 = jax.dtypes.canonicalize_dtype(np.float64) == np.float64
                hint = "" if x64 else " (x64 is off)"
                raise TypeError(
                    f"check_grad compares derivatives in float64 and needs float64 inputs; "
                    f"args[{i}]{jtu.keystr(path)} has dtype {leaf.dtype}{hint}. Enable x64 "
                    "(jax.enable_x64(True) or the tests' x64 fixture) and build the inputs "
                    "as float64."
                )
    x0, unravel = ravel_pytree(diff_parts)
    if x0.size == 0:
        raise TypeError("check_grad: the arguments in `argnums` have no floating array leaves.")

    def flat_fn(x: jax.Array) -> jax.Array:
        diffs = unravel(x)
        call_args = list(args)
        for i, diff, static in zip(argnums_tuple, diffs, static_parts, strict=True):
            call_args[i] = eqx.combine(diff, static)
        out = fn(*call_args)
        for path, leaf in jtu.tree_flatten_with_path(out)[0]:
            dtype = jnp.result_type(leaf)
            if dtype != np.float64:
                raise TypeError(
                    f"check_grad compares derivatives in float64; output leaf "
                    f"{jtu.keystr(path) or '<root>'} has dtype {dtype}."
                )
        y, _ = ravel_pytree(out)
        return y

    key_first, key_second = jax.random.split(key)
    what = f"argnums={argnums!r}"
    check = functools.partial(
        _check_first_order,
        eps=eps_,
        rtol=rtol_,
        atol=atol_,
        num_directions=num_directions,
        forward=forward,
        reverse=reverse,
        jit=jit,
    )
    check(flat_fn, x0, key=key_first, what=what)
    if order == 2:
        y0 = flat_fn(x0)
        key_w, key_u, key_a, key_b = jax.random.split(key_second, 4)
        w = jax.random.normal(key_w, x0.shape, dtype=x0.dtype)
        u = jax.random.normal(key_u, y0.shape, dtype=y0.dtype)

        def jvp_fn(x: jax.Array) -> jax.Array:
            return jax.jvp(flat_fn, (x,), (w,))[1]

        def vjp_fn(x: jax.Array) -> jax.Array:
            return jax.vjp(flat_fn, x)[1](u)[0]

        if forward:
            check(jvp_fn, x0, key=key_a, what=f"{what}, derivative of jvp")
        if reverse:
            check(vjp_fn, x0, key=key_b, what=f"{what}, derivative of vjp")


# ---------------------------------------------------------------------------------------------
# Convergence order
# ---------------------------------------------------------------------------------------------


def _convergence_arrays(
    sizes: Sequence[float | int] | ArrayLike, errors: Sequence[float | int] | ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    h = np.asarray(sizes, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    if h.ndim != 1 or e.ndim != 1:
        raise ValueError(
            f"`sizes` and `errors` must be one-dimensional; got shapes {h.shape} and {e.shape}."
        )
    if h.shape != e.shape:
        raise ValueError(
            f"`sizes` and `errors` must have the same length; got {h.size} and {e.size}."
        )
    if h.size < 2:
        raise ValueError(f"`sizes` needs at least two entries; got {h.size}.")
    if not np.all(np.isfinite(h) & (h > 0)):
        raise ValueError(f"`sizes` must be finite and positive; got {h}.")
    if not np.all(np.isfinite(e) & (e > 0)):
        raise ValueError(f"`errors` must be finite and positive; got {e}.")
    if np.ptp(np.log(h)) == 0:
        raise ValueError(f"`sizes` must not all be equal; got {h}.")
    return h, e


def convergence_order(
    sizes: Sequence[float | int] | ArrayLike, errors: Sequence[float | int] | ArrayLike
) -> float:
    r"""Observed order of convergence, the least-squares slope of log error against log size.

    Fits $\log e_i = p \log h_i + c$ by linear least squares and returns $p$; a method
    of order $p$ has $e = O(h^p)$ as $h \to 0$.

    Args:
        sizes: step or mesh sizes $h_i > 0$ (not the number of steps or cells: pass
            `1 / n` for those), shape `(k,)` with `k >= 2`.
        errors: the errors $e_i > 0$ measured at those sizes, shape `(k,)`.

    Returns:
        The observed order $p$ as a Python float.

    Raises:
        ValueError: for mismatched lengths, fewer than two points, or non-positive or
            non-finite values (naming the argument).

    Example:
        >>> from dmech.testing import convergence_order
        >>> round(convergence_order([0.1, 0.05, 0.025], [1e-2, 2.5e-3, 6.25e-4]), 6)
        2.0

    References:
        Roache (1998), "Verification and Validation in Computational Science and
        Engineering", Hermosa, ch. 5 (observed order of accuracy).
    """
    h, e = _convergence_arrays(sizes, errors)
    slope, _ = np.polyfit(np.log(h), np.log(e), 1)
    return float(slope)


def assert_convergence_order(
    sizes: Sequence[float | int] | ArrayLike,
    errors: Sequence[float | int] | ArrayLike,
    expected: float | int,
    tol: float | int = 0.2,
) -> None:
    r"""Assert that the observed convergence order is within `tol` of `expected`.

    The order is fitted as in `convergence_order`; on failure the message tabulates each
    size, error and the local order $\log(e_{i}/e_{i-1}) / \log(h_{i}/h_{i-1})$.

    Args:
        sizes: step or mesh sizes $h_i > 0$, shape `(k,)`.
        errors: errors $e_i > 0$, shape `(k,)`.
        expected: the theoretical order $p$.
        tol: allowed absolute difference between the observed and expected order.

    Raises:
        AssertionError: if $|p_\text{observed} - p_\text{expected}| > \text{tol}$.
        ValueError: for invalid `sizes`/`errors` (see `convergence_order`).

    Example:
        >>> from dmech.testing import assert_convergence_order
        >>> assert_convergence_order([0.1, 0.05], [1e-3, 1.25e-4], expected=3.0)
    """
    observed = convergence_order(sizes, errors)
    if abs(observed - expected) <= tol:
        return
    h, e = _convergence_arrays(sizes, errors)
    rows = [f"  {'size':>12}  {'error':>12}  {'local order':>11}"]
    for i in range(h.size):
        local = "" if i == 0 else f"{np.log(e[i] / e[i - 1]) / np.log(h[i] / h[i - 1]):11.3f}"
        rows.append(f"  {h[i]:12.4e}  {e[i]:12.4e}  {local:>11}")
    table = "\n".join(rows)
    raise AssertionError(
        f"assert_convergence_order: observed order {observed:.3f}, expected {expected} "
        f"(tol {tol}).\n{table}"
    )


# ---------------------------------------------------------------------------------------------
# Compilation counting
# ---------------------------------------------------------------------------------------------

# Recorded by JAX around every backend compilation (also when the executable comes from the
# persistent compilation cache), for jit, pmap, and the implicit jit of eager primitives.
_BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


class CompileCounter:
    """Counts XLA backend compilations seen by `count_compiles` (thread-safe).

    Attributes:
        count: number of compilations so far.
        names: names of the compiled computations (e.g. `"jit(loss)"`), in order.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: list[str] = []

    def _record(self, name: str) -> None:
        with self._lock:
            self._names.append(name)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._names)

    @property
    def names(self) -> list[str]:
        with self._lock:
            return list(self._names)

    def __repr__(self) -> str:
        return f"CompileCounter(count={self.count}, names={self.names})"


@contextlib.contextmanager
def count_compiles() -> Iterator[CompileCounter]:
    """Count the XLA compilations that happen inside a `with` block, from any thread.

    Listens to JAX's public monitoring event `"/jax/core/compile/backend_compile_duration"`
    (`jax.monitoring.register_event_duration_secs_listener`), which JAX records once per
    backend compilation: for each new `jax.jit` signature, and for the first eager use of
    each primitive at each shape (`jnp.ones(3)` outside a jit compiles too, so create test
    inputs before entering the block). The listener is process-wide, so compilations
    triggered by other threads during the block are counted as well.

    Yields:
        A `CompileCounter`; read `.count` (and `.names`) during or after the block.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from dmech.testing import count_compiles
        >>> f = jax.jit(lambda x: 2 * x)
        >>> x, y, z = jnp.ones(3), jnp.zeros(3), jnp.ones(4)
        >>> with count_compiles() as compiles:
        ...     _ = f(x)  # compiles
        ...     _ = f(y)  # same shape and dtype: cached
        ...     _ = f(z)  # new shape: compiles
        >>> compiles.count
        2
    """
    counter = CompileCounter()

    def listener(event: str, duration_secs: float, **kwargs: str | int) -> None:
        del duration_secs
        if event == _BACKEND_COMPILE_EVENT:
            counter._record(str(kwargs.get("fun_name", "?")))

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield counter
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def _signature(call_args: tuple[Any, ...]) -> tuple[Any, list[Any]]:
    leaves, treedef = jtu.tree_flatten(call_args)
    return treedef, [
        (jnp.shape(leaf), jnp.result_type(leaf)) if _is_arraylike(leaf) else leaf for leaf in leaves
    ]


def assert_no_recompile(fn: Callable[..., Any], *calls: tuple[Any, ...]) -> None:
    """Assert that calls after the first do not compile anything.

    `fn(*calls[0])` is run once (warm-up, allowed to compile); then `fn(*c)` for every later
    tuple `c` of arguments must run with zero XLA compilations (see `count_compiles`).
    Outputs are waited for with `jax.block_until_ready`. Use new values of the same shapes
    and dtypes in the later calls: that is what should never recompile.

    Args:
        fn: the function, typically `jax.jit`- or `equinox.filter_jit`-wrapped.
        *calls: two or more tuples of positional arguments.

    Raises:
        AssertionError: if a later call compiled, naming the call and what was compiled.
        TypeError: if a call is not a tuple.
        ValueError: if fewer than two calls are given, or the later calls' array arguments
            differ in structure, shape or dtype from the first (which legitimately
            recompiles).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from dmech.testing import assert_no_recompile
        >>> f = jax.jit(jnp.sin)
        >>> assert_no_recompile(f, (jnp.zeros(3),), (jnp.ones(3),))
    """
    if len(calls) < 2:
        raise ValueError(f"`calls` needs at least two tuples of arguments; got {len(calls)}.")
    for i, call in enumerate(calls):
        if not isinstance(call, tuple):
            raise TypeError(
                f"`calls[{i}]` must be a tuple of positional arguments; got "
                f"{type(call).__name__} (write `(x,)` for a single argument)."
            )
    treedef0, leaves0 = _signature(calls[0])
    for i, call in enumerate(calls[1:], start=1):
        treedef, leaves = _signature(call)
        if treedef != treedef0 or len(leaves) != len(leaves0):
            raise ValueError(f"`calls[{i}]` differs in pytree structure from `calls[0]`.")
        for a, b in zip(leaves0, leaves, strict=True):
            if isinstance(a, tuple) and isinstance(b, tuple) and a != b:
                raise ValueError(
                    f"`calls[{i}]` has an array of shape/dtype {b} where `calls[0]` has {a}; "
                    "a recompile would be expected."
                )
    jax.block_until_ready(fn(*calls[0]))
    for i, call in enumerate(calls[1:], start=1):
        with count_compiles() as compiles:
            jax.block_until_ready(fn(*call))
        if compiles.count:
            raise AssertionError(
                f"assert_no_recompile: call {i} (after warm-up) compiled {compiles.count} "
                f"time(s): {compiles.names}."
            )
