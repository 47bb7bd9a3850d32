"""The one Voigt convention of every package: components in the order
``(xx, yy, zz, yz, xz, xy)``; stresses keep their shear components, strains take engineering
shears ``γ = 2ε`` (``engineering=True``), so that ``σ · ε`` in Voigt form is the work."""

import jax.numpy as jnp
import numpy as np

from ._custom_types import Array, ArrayLike, Float

# The tensor indices (i, j) of each Voigt component.
VOIGT_PAIRS: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
# The Voigt component of each tensor index (i, j): the inverse of VOIGT_PAIRS. Index arrays are
# int32 so that they gather the same way with and without x64.
VOIGT_INDEX = np.array([[0, 5, 4], [5, 1, 3], [4, 3, 2]], np.int32)
_FIRST, _SECOND = np.array(VOIGT_PAIRS, np.int32).T


def to_voigt(
    tensor: Float[ArrayLike, "... 3 3"], *, engineering: bool = False
) -> Float[Array, "... 6"]:
    """The Voigt vector of a symmetric ``(..., 3, 3)`` tensor (its upper triangle); with
    ``engineering`` the shear components are doubled (strains)."""
    t = jnp.asarray(tensor)
    vector = t[..., _FIRST, _SECOND]
    if engineering:
        vector = jnp.concatenate([vector[..., :3], 2 * vector[..., 3:]], axis=-1)
    return vector


def from_voigt(
    vector: Float[ArrayLike, "... 6"], *, engineering: bool = False
) -> Float[Array, "... 3 3"]:
    """The symmetric ``(..., 3, 3)`` tensor of a Voigt vector; with ``engineering`` the shear
    components are halved (engineering strains)."""
    v = jnp.asarray(vector)
    if engineering:
        v = jnp.concatenate([v[..., :3], v[..., 3:] / 2], axis=-1)
    return v[..., VOIGT_INDEX]


def stiffness_to_tensor(stiffness: Float[ArrayLike, "... 6 6"]) -> Float[Array, "... 3 3 3 3"]:
    """``C_ijkl`` of a ``(..., 6, 6)`` Voigt stiffness."""
    c = jnp.asarray(stiffness)
    return c[..., VOIGT_INDEX[:, :, None, None], VOIGT_INDEX[None, None, :, :]]


def tensor_to_stiffness(tensor: Float[ArrayLike, "... 3 3 3 3"]) -> Float[Array, "... 6 6"]:
    """The ``(..., 6, 6)`` Voigt matrix of a stiffness tensor ``C_ijkl`` (minor symmetries
    assumed)."""
    t = jnp.asarray(tensor)
    return t[..., _FIRST[:, None], _SECOND[:, None], _FIRST[None, :], _SECOND[None, :]]
