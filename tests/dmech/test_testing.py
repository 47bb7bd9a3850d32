"""Tests for dmech.testing: each helper passes on correct input and fails loudly otherwise."""

import threading

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.testing import (
    Tolerance,
    assert_convergence_order,
    assert_no_recompile,
    assert_tree_allclose,
    assert_tree_equal,
    check_grad,
    convergence_order,
    count_compiles,
    tolerance,
)

# ---------------------------------------------------------------------------------------------
# tolerance
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "kind", "expected"),
    [
        (jnp.float16, "default", (1e-2, 1e-3)),
        (jnp.bfloat16, "default", (5e-2, 1e-2)),
        (jnp.float32, "default", (1e-5, 1e-6)),
        (jnp.float64, "default", (1e-10, 1e-12)),
        (jnp.float32, "gradient", (1e-2, 1e-3)),
        (jnp.float64, "gradient", (1e-6, 1e-8)),
        (jnp.float32, "solver", (1e-4, 1e-5)),
        (jnp.float64, "solver", (1e-8, 1e-10)),
        (jnp.complex64, "default", (1e-5, 1e-6)),
        (jnp.complex128, "gradient", (1e-6, 1e-8)),
        ("float32", "default", (1e-5, 1e-6)),
        (np.dtype("float64"), "default", (1e-10, 1e-12)),
    ],
)
def test_tolerance_table(dtype, kind, expected):
    tol = tolerance(dtype, kind)
    assert isinstance(tol, Tolerance)
    assert (tol.rtol, tol.atol) == expected
    rtol, atol = tol
    assert (rtol, atol) == expected


def test_tolerance_is_frozen_and_ordered():
    tol = tolerance(jnp.float32)
    with pytest.raises(AttributeError):
        tol.rtol = 1.0  # type: ignore[misc]
    chain = [jnp.float64, jnp.float32, jnp.float16, jnp.bfloat16]
    for kind in ("default", "gradient", "solver"):
        rtols = [tolerance(d, kind).rtol for d in chain]
        assert rtols == sorted(rtols), kind  # lower precision, looser tolerance
    for dtype in chain:
        assert tolerance(dtype, "gradient").rtol > tolerance(dtype, "default").rtol


def test_tolerance_of_an_array_uses_its_dtype():
    assert tolerance(jnp.zeros(3, dtype=jnp.float16)) == tolerance(jnp.float16)
    assert tolerance(np.zeros(3, dtype=np.float64)) == tolerance(jnp.float64)


@pytest.mark.parametrize("dtype", [jnp.int32, np.int64, np.bool_])
def test_tolerance_unknown_dtype_is_type_error_naming_it(dtype):
    with pytest.raises(TypeError, match=np.dtype(dtype).name):
        tolerance(dtype)


def test_tolerance_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        tolerance(jnp.float32, "loose")


# ---------------------------------------------------------------------------------------------
# check_grad
# ---------------------------------------------------------------------------------------------


def _matrix_function(a):
    # Inverse, product and a trace-dependent scaling: a nonlinear matrix -> matrix map.
    return jnp.linalg.inv(a) @ a.T * jnp.sin(jnp.trace(a))


@pytest.mark.usefixtures("x64")
def test_check_grad_passes_on_correct_functions():
    x = jnp.linspace(-1.0, 2.0, 7)
    check_grad(jnp.sin, x)
    check_grad(jnp.sin, x, order=2)
    check_grad(lambda v: jnp.sum(jnp.exp(v) * v), x, order=2)  # scalar output
    a = jnp.array([[3.0, 1.0, 0.5], [0.2, 2.0, -0.3], [0.1, 0.4, 4.0]])
    check_grad(_matrix_function, a, order=2)


@pytest.mark.usefixtures("x64")
def test_check_grad_pytrees_modules_and_argnums():
    params = {"w": jnp.array([[1.0, -2.0], [0.5, 0.3]]), "b": jnp.array([0.1, -0.2])}
    x = jnp.array([0.3, -0.7])

    def fn(p, x, label):
        assert label == "static"  # non-array arguments pass through unchanged
        return {"y": jnp.tanh(p["w"] @ x + p["b"]), "s": jnp.sum(x**3)}

    check_grad(fn, params, x, "static")
    check_grad(fn, params, x, "static", argnums=1)
    check_grad(fn, params, x, "static", argnums=(0, 1), order=2)

    linear = eqx.nn.Linear(3, 2, dtype=jnp.float64, key=jax.random.key(0))
    check_grad(lambda m, v: jnp.sin(m(v)), linear, jnp.array([0.1, 0.2, 0.3]), argnums=(0, 1))


@jax.custom_jvp
def _sin_wrong_jvp(x):
    return jnp.sin(x)


@_sin_wrong_jvp.defjvp
def _sin_wrong_jvp_rule(primals, tangents):
    (x,), (dx,) = primals, tangents
    return jnp.sin(x), 1.01 * jnp.cos(x) * dx  # 1% wrong


@jax.custom_jvp
def _sin_wrong_second_derivative(x):
    return jnp.sin(x)


@_sin_wrong_second_derivative.defjvp
def _sin_wrong_second_derivative_rule(primals, tangents):
    (x,), (dx,) = primals, tangents
    # Right first derivative, but treated as constant: the second derivative is lost.
    return jnp.sin(x), jax.lax.stop_gradient(jnp.cos(x)) * dx


@jax.custom_vjp
def _sin_custom_vjp(x):
    return jnp.sin(x)


def _sin_fwd(x):
    return jnp.sin(x), x


def _sin_bwd(x, g):
    return (jnp.cos(x) * g,)


_sin_custom_vjp.defvjp(_sin_fwd, _sin_bwd)


@jax.custom_vjp
def _sin_wrong_vjp(x):
    return jnp.sin(x)


def _sin_wrong_bwd(x, g):
    return (-jnp.cos(x) * g,)  # wrong sign


_sin_wrong_vjp.defvjp(_sin_fwd, _sin_wrong_bwd)


@pytest.mark.usefixtures("x64")
def test_check_grad_fails_on_wrong_custom_jvp():
    x = jnp.linspace(0.1, 1.0, 5)
    with pytest.raises(AssertionError, match=r"forward mode \(jvp\)") as info:
        check_grad(_sin_wrong_jvp, x)
    message = str(info.value)
    assert "observed" in message and "expected" in message and "relative error" in message
    # JAX transposes the jvp rule for reverse mode, so reverse mode is wrong too.
    with pytest.raises(AssertionError, match=r"reverse mode \(vjp\)"):
        check_grad(_sin_wrong_jvp, x, mode="reverse")


@pytest.mark.usefixtures("x64")
def test_check_grad_second_order_catches_a_non_differentiable_rule():
    x = jnp.linspace(0.1, 1.0, 5)
    check_grad(_sin_wrong_second_derivative, x)  # first order is right
    with pytest.raises(AssertionError, match="derivative of jvp"):
        check_grad(_sin_wrong_second_derivative, x, order=2)


@pytest.mark.usefixtures("x64")
def test_check_grad_custom_vjp():
    x = jnp.linspace(0.1, 1.0, 5)
    check_grad(_sin_custom_vjp, x, mode="reverse")
    with pytest.raises(AssertionError, match=r"reverse mode \(vjp\)"):
        check_grad(_sin_wrong_vjp, x, mode="reverse")
    with pytest.raises(TypeError, match="mode='reverse'"):
        check_grad(_sin_custom_vjp, x)  # forward mode of a custom_vjp is impossible


@pytest.mark.usefixtures("x64")
def test_check_grad_catches_a_small_error_in_a_tiny_entry():
    # A wrong derivative hidden in one of many components is still found.
    def fn(x):
        return x.at[3].set(_sin_wrong_jvp(x[3]))

    with pytest.raises(AssertionError):
        check_grad(fn, jnp.linspace(0.1, 1.0, 20), num_directions=5)


def test_check_grad_requires_float64():
    with pytest.raises(TypeError, match="float64"):
        check_grad(jnp.sin, jnp.ones(3, dtype=jnp.float32))


@pytest.mark.usefixtures("x64")
def test_check_grad_rejects_float32_outputs_and_bad_options():
    x = jnp.ones(3)
    with pytest.raises(TypeError, match="output"):
        check_grad(lambda v: v.astype(jnp.float32), x)
    with pytest.raises(ValueError, match="order"):
        check_grad(jnp.sin, x, order=3)
    with pytest.raises(ValueError, match="argnums"):
        check_grad(jnp.sin, x, argnums=1)
    with pytest.raises(ValueError, match="mode"):
        check_grad(jnp.sin, x, mode="sideways")
    with pytest.raises(TypeError, match="no floating"):
        check_grad(lambda n: jnp.sin(1.0 * n), jnp.arange(3))


# ---------------------------------------------------------------------------------------------
# convergence order
# ---------------------------------------------------------------------------------------------


def test_convergence_order_synthetic():
    h = np.array([0.2, 0.1, 0.05, 0.025])
    assert convergence_order(h, 3.0 * h**2) == pytest.approx(2.0, abs=1e-12)
    assert convergence_order(list(h), list(0.5 * h**4)) == pytest.approx(4.0, abs=1e-12)
    # Least squares through noisy data: +-5% multiplicative noise barely moves the slope.
    noise = np.array([1.05, 0.95, 1.05, 0.95])
    assert convergence_order(h, h**2 * noise) == pytest.approx(2.0, abs=0.1)


def _trapezoid(f, a, b, n):
    x = np.linspace(a, b, n + 1)
    y = f(x)
    return (b - a) / n * (0.5 * y[0] + np.sum(y[1:-1]) + 0.5 * y[-1])


def _simpson(f, a, b, n):
    x = np.linspace(a, b, n + 1)
    y = f(x)
    return (b - a) / (3 * n) * (y[0] + 4 * np.sum(y[1:-1:2]) + 2 * np.sum(y[2:-1:2]) + y[-1])


def test_convergence_order_quadrature_rules():
    exact = np.e - 1.0
    ns = np.array([4, 8, 16, 32, 64])
    h = 1.0 / ns
    trap = [abs(_trapezoid(np.exp, 0.0, 1.0, n) - exact) for n in ns]
    simp = [abs(_simpson(np.exp, 0.0, 1.0, n) - exact) for n in ns]
    assert convergence_order(h, trap) == pytest.approx(2.0, abs=0.02)
    assert_convergence_order(h, trap, expected=2, tol=0.05)
    assert_convergence_order(h, simp, expected=4, tol=0.05)
    with pytest.raises(AssertionError, match=r"observed order 2\.0") as info:
        assert_convergence_order(h, trap, expected=4)
    message = str(info.value)
    assert "local order" in message and "1.5625e-02" in message  # the table lists h = 1/64


@pytest.mark.parametrize(
    ("sizes", "errors", "match"),
    [
        ([0.1, 0.05], [1e-2], "same length"),
        ([0.1], [1e-2], "at least two"),
        ([0.1, -0.05], [1e-2, 1e-3], "sizes"),
        ([0.1, 0.05], [1e-2, 0.0], "errors"),
        ([0.1, 0.1], [1e-2, 1e-3], "all be equal"),
    ],
)
def test_convergence_order_bad_input(sizes, errors, match):
    with pytest.raises(ValueError, match=match):
        convergence_order(sizes, errors)


# ---------------------------------------------------------------------------------------------
# compile counting
# ---------------------------------------------------------------------------------------------


def test_count_compiles_fresh_repeat_new_shape():
    f = jax.jit(lambda x: 2.0 * x + 1.0)
    x3, y3, x4 = jnp.ones(3), jnp.zeros(3), jnp.ones(4)
    with count_compiles() as compiles:
        f(x3).block_until_ready()
    assert compiles.count == 1
    with count_compiles() as compiles:
        f(y3).block_until_ready()
        f(x3).block_until_ready()
    assert compiles.count == 0
    with count_compiles() as compiles:
        f(x4).block_until_ready()
    assert compiles.count == 1
    assert "<lambda>" in compiles.names[0]


def test_count_compiles_counts_compilations_not_traces():
    f = jax.jit(lambda v: 4.0 * v - 1.0)
    x = jnp.ones(6)
    with count_compiles() as compiles:
        lowered = f.trace(x).lower()  # traced and lowered to StableHLO, not compiled
    assert compiles.count == 0
    with count_compiles() as compiles:
        lowered.compile()
    assert compiles.count == 1


def test_count_compiles_counts_other_threads_and_stops_at_exit():
    x = jnp.ones(5)
    f = jax.jit(lambda v: jnp.cos(v) * 3.0)
    g = jax.jit(lambda v: jnp.sin(v) * 3.0)
    with count_compiles() as compiles:
        thread = threading.Thread(target=lambda: f(x).block_until_ready())
        thread.start()
        thread.join()
    assert compiles.count == 1
    g(x).block_until_ready()  # after the block: not counted
    assert compiles.count == 1  # unchanged once the block has exited


def test_count_compiles_nested():
    x = jnp.ones(2)
    f = jax.jit(lambda v: v - 1.0)
    g = jax.jit(lambda v: v + 7.0)
    with count_compiles() as outer:
        f(x).block_until_ready()
        with count_compiles() as inner:
            g(x).block_until_ready()
    assert (outer.count, inner.count) == (2, 1)


def test_assert_no_recompile():
    f = jax.jit(lambda a, b: a @ b)
    a1, a2 = jnp.eye(3), jnp.ones((3, 3))
    b1, b2 = jnp.ones(3), jnp.arange(3.0)
    assert_no_recompile(f, (a1, b1), (a2, b2), (a1, b2))

    # A value that is (wrongly) static recompiles when it changes.
    scaled = jax.jit(lambda v, s: s * v, static_argnums=1)
    with pytest.raises(AssertionError, match="compiled"):
        assert_no_recompile(scaled, (b1, 2.0), (b1, 3.0))


def test_assert_no_recompile_bad_calls():
    f = jax.jit(jnp.sin)
    with pytest.raises(ValueError, match="shape"):
        assert_no_recompile(f, (jnp.ones(3),), (jnp.ones(4),))
    with pytest.raises(ValueError, match="two"):
        assert_no_recompile(f, (jnp.ones(3),))
    with pytest.raises(TypeError):
        assert_no_recompile(f, jnp.ones(3), jnp.ones(3))


# ---------------------------------------------------------------------------------------------
# tree comparisons
# ---------------------------------------------------------------------------------------------


def test_assert_tree_equal_passes_on_identical_trees():
    tree = {"a": jnp.arange(4.0), "b": (np.int32(3), "name", None), "c": jnp.ones((2, 2))}
    copy = {"a": jnp.arange(4.0), "b": (np.int32(3), "name", None), "c": np.ones((2, 2), "f4")}
    assert_tree_equal(tree, copy)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_assert_tree_equal_catches_one_ulp(dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    x = jnp.linspace(0.0, 1.0, 5, dtype=dtype)
    y = x.at[2].set(jnp.nextafter(x[2], jnp.array(2.0, dtype=dtype)))
    assert float(jnp.max(jnp.abs(x - y))) > 0
    with pytest.raises(AssertionError, match=r"leaf \['u'\]\[1\].*first at \[2\]"):
        assert_tree_equal({"u": (x, x)}, {"u": (x, y)})
    assert_tree_allclose({"u": (x, x)}, {"u": (x, y)})  # but they are close


def test_assert_tree_equal_catches_dtype_shape_structure_sign_of_zero():
    x = jnp.zeros(3)
    with pytest.raises(AssertionError, match="dtypes differ"):
        assert_tree_equal(x, x.astype(jnp.float16))
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_tree_equal(x, jnp.zeros((3, 1)))
    with pytest.raises(AssertionError, match="structure"):
        assert_tree_equal({"a": x}, {"b": x})
    with pytest.raises(AssertionError, match="differ"):
        assert_tree_equal(x, -x)  # 0.0 and -0.0 differ in bits
    with pytest.raises(AssertionError, match="!="):
        assert_tree_equal((x, "a"), (x, "b"))


def test_assert_tree_allclose():
    a = {"w": jnp.array([1.0, 2.0, jnp.nan]), "n": jnp.array([1, 2])}
    assert_tree_allclose(a, {"w": jnp.array([1.0, 2.0 + 1e-6, jnp.nan]), "n": jnp.array([1, 2])})
    with pytest.raises(AssertionError, match=r"(?s)leaf \['w'\].*worst at \[1\]"):
        assert_tree_allclose(a, {"w": jnp.array([1.0, 2.1, jnp.nan]), "n": jnp.array([1, 2])})
    with pytest.raises(AssertionError, match=r"leaf \['n'\]"):
        assert_tree_allclose(a, {"w": a["w"], "n": jnp.array([1, 3])})
    # Explicit tolerances override the per-dtype defaults.
    assert_tree_allclose(jnp.array([1.0]), jnp.array([1.1]), rtol=0.2, atol=0.0)
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_tree_allclose(jnp.ones(3), jnp.ones(1))  # no broadcasting


@pytest.mark.usefixtures("x64")
def test_assert_tree_allclose_uses_the_dtype_tolerance():
    ref = jnp.array([1.0, 2.0])
    off = ref * (1 + 1e-7)
    assert_tree_allclose(off.astype(jnp.float32), ref.astype(jnp.float32))
    with pytest.raises(AssertionError, match="rtol=1e-10"):
        assert_tree_allclose(off, ref)
    # Mixed precision: the less precise dtype sets the tolerance.
    assert_tree_allclose(off.astype(jnp.float32), ref)
