"""A pure host callback that hands its function NumPy arrays.

``jax.pure_callback`` (jax 0.10) gives its function ``jax.Array``s: before the call it
``device_put``s every operand onto the CPU device. For an operand of 100 KiB or more whose
buffer is not 64-byte aligned, which depends on XLA's buffer assignment, that is an
asynchronous copy, and reading the result inside the callback then waits for it while the
computation that called back holds the runtime. On a one-core CPU this deadlocked: our sparse
direct solve at 421² (a 12.7 MB operand at offset 48) hung in two runs of three, every thread
idle. ``host_callback`` passes the callback the operands XLA hands over (read-only NumPy views,
valid during the call) and copies nothing, so no wait can arise.

The primitive uses JAX's own lowering of Python callbacks (``emit_python_callback``, the one
``pure_callback`` uses: a private function of jax 0.10, which pyproject pins); everything
else (abstract evaluation, batching, eager evaluation) is here. Like ``pure_callback`` it
has no derivative: wrap it in a ``custom_vjp``.
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax._src.callback import _callback_op_sharding, emit_python_callback
from jax.extend.core import Primitive
from jax.interpreters import batching, mlir

_VMAP_METHODS = ("sequential", "expand_dims")

_host_call_p = Primitive("dmech_host_callback")
_host_call_p.multiple_results = True


def host_callback(
    fn: Callable[..., Sequence[np.ndarray]],
    result_shape_dtypes: Sequence[jax.ShapeDtypeStruct],
    *args: jax.Array,
    vmap_method: str,
) -> tuple[jax.Array, ...]:
    """Call ``fn`` on the host with the values of ``args`` as NumPy arrays.

    A pure function for JAX: it may run more than once or not at all, and works under
    ``jit`` and ``vmap``. ``fn`` takes one read-only array per argument (copy what must outlive
    the call) and returns a sequence of arrays of exactly the shapes and dtypes of
    ``result_shape_dtypes``.

    Args:
        fn: the host function.
        result_shape_dtypes: shapes and dtypes of what ``fn`` returns.
        *args: arrays.
        vmap_method: under ``vmap``, ``"sequential"`` calls ``fn`` once per batch element;
            ``"expand_dims"`` calls it once, batched arguments with their batch axis first and
            the others with a leading axis of size 1.

    Returns:
        ``fn``'s results, as a tuple of arrays.
    """
    if vmap_method not in _VMAP_METHODS:
        raise ValueError(f"vmap_method must be one of {_VMAP_METHODS}, got {vmap_method!r}")
    result_avals = tuple(
        jax.core.ShapedArray(tuple(s.shape), jnp.dtype(s.dtype)) for s in result_shape_dtypes
    )
    return tuple(
        _host_call_p.bind(*args, fn=fn, result_avals=result_avals, vmap_method=vmap_method)
    )


def _call(fn, result_avals, arrays) -> tuple[np.ndarray, ...]:
    outs = tuple(np.asarray(out) for out in fn(*arrays))
    if len(outs) != len(result_avals):
        raise RuntimeError(
            f"host callback returned {len(outs)} arrays, expected {len(result_avals)}"
        )
    for k, (out, aval) in enumerate(zip(outs, result_avals, strict=True)):
        if out.shape != aval.shape or out.dtype != aval.dtype:
            raise RuntimeError(
                f"host callback result {k} is {out.dtype}{list(out.shape)}, "
                f"expected {aval.dtype}{list(aval.shape)}"
            )
    return outs


def _impl(*args, fn, result_avals, vmap_method):
    del vmap_method
    outs = _call(fn, result_avals, [np.asarray(a) for a in args])
    return [jnp.asarray(out) for out in outs]


def _abstract_eval(*avals, fn, result_avals, vmap_method):
    del avals, fn, vmap_method
    return list(result_avals)


def _lowering(ctx, *operands, fn, result_avals, vmap_method):
    del vmap_method
    sharding = _callback_op_sharding(ctx.module_context.axis_context, None, ctx.avals_out)
    results, _, _ = emit_python_callback(
        ctx,
        lambda *arrays: _call(fn, result_avals, arrays),
        None,
        list(operands),
        ctx.avals_in,
        ctx.avals_out,
        has_side_effect=False,
        returns_token=False,
        sharding=sharding,
    )
    return results


def _batching(args, dims, *, fn, result_avals, vmap_method):
    (size,) = {a.shape[d] for a, d in zip(args, dims, strict=True) if d is not None}
    args = [a if d is None else jnp.moveaxis(a, d, 0) for a, d in zip(args, dims, strict=True)]
    batched_avals = tuple(aval.update(shape=(size, *aval.shape)) for aval in result_avals)
    if vmap_method == "expand_dims":
        args = [a if d is not None else a[None] for a, d in zip(args, dims, strict=True)]
        outs = _host_call_p.bind(
            *args, fn=fn, result_avals=batched_avals, vmap_method=vmap_method
        )  # fmt: skip
        return outs, [0] * len(outs)
    mapped = [d is not None for d in dims]

    def one(batch_args):
        it = iter(batch_args)
        merged = [next(it) if m else a for a, m in zip(args, mapped, strict=True)]
        return _host_call_p.bind(
            *merged, fn=fn, result_avals=result_avals, vmap_method=vmap_method
        )  # fmt: skip

    outs = jax.lax.map(one, [a for a, m in zip(args, mapped, strict=True) if m])
    return outs, [0] * len(outs)


_host_call_p.def_impl(_impl)
_host_call_p.def_abstract_eval(_abstract_eval)
mlir.register_lowering(_host_call_p, _lowering, cacheable=False)
batching.primitive_batchers[_host_call_p] = _batching
