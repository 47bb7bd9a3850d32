"""The host callback behind the sparse direct solves: NumPy arrays in, no copies, vmap rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech._host_callback import host_callback


def _recording(calls):
    def fn(a, b):
        calls.append((type(a), type(b), a.shape, b.shape))
        return (np.asarray(a * 2.0 + b.sum(), np.float32),)

    return fn


def _call(fn, a, b, vmap_method="sequential"):
    (out,) = host_callback(
        fn, (jax.ShapeDtypeStruct(a.shape[-1:], jnp.float32),), a, b, vmap_method=vmap_method
    )
    return out


@pytest.mark.parametrize("jit", [False, True])
def test_the_function_gets_numpy_arrays_and_its_result_comes_back(jit):
    calls = []
    fn = _recording(calls)
    a, b = jnp.arange(3.0, dtype=jnp.float32), jnp.ones(2, jnp.float32)
    f = jax.jit(lambda a, b: _call(fn, a, b)) if jit else (lambda a, b: _call(fn, a, b))
    np.testing.assert_array_equal(f(a, b), [2.0, 4.0, 6.0])
    assert calls == [(np.ndarray, np.ndarray, (3,), (2,))]


def test_vmap_sequential_calls_once_per_element():
    calls = []
    fn = _recording(calls)
    a, b = jnp.arange(12.0, dtype=jnp.float32).reshape(4, 3), jnp.ones(2, jnp.float32)
    out = jax.jit(jax.vmap(lambda a: _call(fn, a, b)))(a)
    np.testing.assert_array_equal(out, 2.0 * np.asarray(a) + 2.0)
    assert [c[2:] for c in calls] == [((3,), (2,))] * 4


def test_vmap_expand_dims_calls_once_with_a_unit_axis_on_unbatched_arguments():
    calls = []
    fn = _recording(calls)
    a, b = jnp.arange(12.0, dtype=jnp.float32).reshape(3, 4), jnp.ones(2, jnp.float32)
    # batched along axis 1 of `a`: the callback sees the batch axis first
    out = jax.vmap(lambda a: _call(lambda x, y: fn(x, y[0])[:1], a, b, "expand_dims"), 1)(a)
    assert [c[2:] for c in calls] == [((4, 3), (2,))]
    np.testing.assert_array_equal(out, 2.0 * np.asarray(a).T + 2.0)


def test_a_result_of_the_wrong_shape_is_an_error_naming_it():
    with pytest.raises(RuntimeError, match=r"result 0 is float32\[2\], expected float32\[3\]"):
        _call(lambda a, b: (np.zeros(2, np.float32),), jnp.ones(3, jnp.float32), jnp.ones(1))


def test_unknown_vmap_method_is_refused():
    with pytest.raises(ValueError, match="vmap_method"):
        host_callback(lambda: (), (), vmap_method="broadcast_all")
