"""The shared argument checks: wrong kinds raise TypeError, out-of-range values ValueError,
each naming the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech._checks import check_int, check_positive_float, check_positive_scalar


def test_check_int():
    assert check_int(np.int32(3), "n") == 3 and type(check_int(np.int32(3), "n")) is int
    assert check_int(0, "n", minimum=0) == 0
    for bad in (True, 2.0, "2", None):
        with pytest.raises(TypeError, match="`n` must be a positive int"):
            check_int(bad, "n")
    with pytest.raises(ValueError, match="`n` must be a positive int; got 0"):
        check_int(0, "n")
    with pytest.raises(ValueError, match="`n` must be a non-negative int; got -1"):
        check_int(-1, "n", minimum=0)
    with pytest.raises(ValueError, match="`n` must be an int >= 2; got 1"):
        check_int(1, "n", minimum=2)


def test_check_positive_float():
    assert check_positive_float(2, "x") == 2.0
    assert check_positive_float(np.float32(0.5), "x") == 0.5
    assert check_positive_float(jnp.asarray(0.25), "x") == 0.25
    assert check_positive_float(0.0, "x", allow_zero=True) == 0.0
    assert check_positive_float(1.0, "x", upper=1.0) == 1.0
    for bad in (True, "1", None, jnp.ones(2), jnp.asarray(True)):
        with pytest.raises(TypeError, match="`x` must be a positive number"):
            check_positive_float(bad, "x")
    for bad in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="`x` must be finite and a positive number"):
            check_positive_float(bad, "x")
    with pytest.raises(ValueError, match=r"non-negative number; got -1\.0"):
        check_positive_float(-1.0, "x", allow_zero=True)
    with pytest.raises(ValueError, match=r"at most 1\.0; got 1\.5"):
        check_positive_float(1.5, "x", upper=1.0)

    @jax.jit
    def traced(x):
        check_positive_float(x, "x")

    with pytest.raises(TypeError, match="`x` must be a positive number"):
        traced(1.0)


def test_check_positive_scalar_checks_values_only_when_known():
    check_positive_scalar(0.1, "dt")
    check_positive_scalar(jnp.asarray(0.1), "dt")
    with pytest.raises(ValueError, match=r"`dt` must be a scalar; got shape \(2,\)"):
        check_positive_scalar(jnp.ones(2), "dt")
    with pytest.raises(ValueError, match=r"`dt` must be finite and positive; got -0\.1"):
        check_positive_scalar(-0.1, "dt")

    @jax.jit
    def traced(dt):
        check_positive_scalar(dt, "dt")  # shape checked, value unknown
        return dt

    assert float(traced(-0.1)) == pytest.approx(-0.1)
