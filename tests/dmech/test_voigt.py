"""The shared Voigt convention: order (xx, yy, zz, yz, xz, xy), engineering shears for strains."""

import jax
import jax.numpy as jnp
import numpy as np

from dmech._voigt import from_voigt, stiffness_to_tensor, tensor_to_stiffness, to_voigt


def _symmetric(key, shape):
    a = jax.random.normal(key, (*shape, 3, 3), jnp.float32)
    return 0.5 * (a + jnp.swapaxes(a, -1, -2))


def test_round_trips_and_engineering_shears():
    t = _symmetric(jax.random.key(0), (4, 2))
    v = to_voigt(t)
    assert v.shape == (4, 2, 6) and v.dtype == jnp.float32
    first = t[0, 0]
    expected = [first[0, 0], first[1, 1], first[2, 2], first[1, 2], first[0, 2], first[0, 1]]
    np.testing.assert_array_equal(v[0, 0], expected)
    np.testing.assert_array_equal(from_voigt(v), t)
    strain = to_voigt(t, engineering=True)
    np.testing.assert_allclose(strain[..., 3:], 2 * v[..., 3:])
    np.testing.assert_allclose(from_voigt(strain, engineering=True), t)
    # the work σ : ε equals σ_voigt · ε_voigt with engineering shears
    sigma = _symmetric(jax.random.key(1), ())
    np.testing.assert_allclose(jnp.sum(sigma * t[0, 0]), to_voigt(sigma) @ strain[0, 0], rtol=1e-6)


def test_stiffness_round_trip_and_contraction():
    a = jax.random.normal(jax.random.key(2), (6, 6), jnp.float32)
    c = a @ a.T
    tensor = stiffness_to_tensor(c)
    assert tensor.shape == (3, 3, 3, 3)
    np.testing.assert_array_equal(tensor, jnp.swapaxes(tensor, 0, 1))  # minor symmetries
    np.testing.assert_array_equal(tensor, jnp.swapaxes(tensor, 2, 3))
    np.testing.assert_array_equal(tensor_to_stiffness(tensor), c)
    # σ_ij = C_ijkl ε_kl in tensor form equals C @ ε with engineering shears
    eps = _symmetric(jax.random.key(3), ())
    sigma = jnp.einsum("ijkl,kl->ij", tensor, eps)
    np.testing.assert_allclose(to_voigt(sigma), c @ to_voigt(eps, engineering=True), rtol=1e-5)
