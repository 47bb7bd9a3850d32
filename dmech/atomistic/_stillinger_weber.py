"""The Stillinger-Weber potential for silicon (two- and three-body terms)."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from .._custom_types import Array, Float, Int, ScalarLike
from ._neighbors import NeighborList
from ._potential import AbstractPotential, dense_neighbors, safe_norm
from ._structures import Box

__all__ = ["StillingerWeber"]

# Stillinger and Weber (1985), p. 5264: ε = 50 kcal/mol, σ = 2.0951 Å and the reduced
# parameters below. 50 kcal/mol = 50 · 4.184 kJ/mol / 96.4853321 kJ/(mol eV) = 2.168206 eV.
SILICON_1985 = {
    "epsilon": 50 * 4.184 / 96.48533212,  # eV
    "sigma": 2.0951,  # Å
    "a": 1.80,
    "lam": 21.0,
    "gamma": 1.20,
    "A": 7.049556277,
    "B": 0.6022245584,
    "p": 4.0,
    "q": 0.0,
    "cos_theta0": -1.0 / 3.0,
}


def _scalar(value: ScalarLike, name: str) -> Array:
    array = jnp.asarray(value)
    if array.shape != ():
        raise ValueError(f"{name} must be a scalar, got shape {array.shape}")
    if not jnp.issubdtype(array.dtype, jnp.floating):
        array = array.astype(jnp.result_type(float))
    return array


class StillingerWeber(AbstractPotential):
    r"""The Stillinger-Weber potential (default: the original silicon parameters).

    $$E = \sum_{i<j} \varepsilon f_2(r_{ij}/\sigma)
        + \sum_i \sum_{j<k} \varepsilon h(r_{ij}/\sigma, r_{ik}/\sigma, \theta_{jik}),$$

    $$f_2(r) = A (B r^{-p} - r^{-q}) \exp\!\left[\frac{1}{r - a}\right],\qquad
      h = \lambda \exp\!\left[\frac{\gamma}{r_{ij} - a} + \frac{\gamma}{r_{ik} - a}\right]
          (\cos\theta_{jik} - \cos\theta_0)^2,$$

    both zero beyond the cutoff ``a σ`` (smoothly: every derivative vanishes there). The
    defaults are the 1985 silicon parameters: ``ε = 50 kcal/mol = 2.168206 eV``,
    ``σ = 2.0951 Å``, ``A = 7.049556277``, ``B = 0.6022245584``, ``p = 4``, ``q = 0``,
    ``a = 1.80``, ``λ = 21.0``, ``γ = 1.20``, ``cos θ₀ = -1/3``. Diamond silicon then has
    ``a₀ = 5.4309 Å`` (nearest neighbours at ``2^{1/6} σ``) and ``-2ε = -4.3364 eV`` per atom.

    jax-md's ``energy.stillinger_weber`` has the same functional form and reduced
    parameters but ``ε = 2.16826 eV`` (``2.5e-5`` relative above 50 kcal/mol).

    Attributes:
        epsilon, sigma, a, lam, gamma, A, B, p, q, cos_theta0: scalar parameters (array
            leaves; ``epsilon`` in energy units, ``sigma`` in length units, the rest
            reduced).
        cutoff: static, ``a σ`` at construction (Å): neighbour lists use it.
        symbols: static, ``("Si",)``.

    References:
        Stillinger and Weber (1985), "Computer simulation of local order in condensed phases
        of silicon", Phys. Rev. B 31, 5262.
    """

    epsilon: Array
    sigma: Array
    a: Array
    lam: Array
    gamma: Array
    A: Array
    B: Array
    p: Array
    q: Array
    cos_theta0: Array
    cutoff: float = eqx.field(static=True)
    symbols: tuple[str, ...] = eqx.field(static=True)

    def __init__(
        self,
        *,
        epsilon: ScalarLike = SILICON_1985["epsilon"],
        sigma: ScalarLike = SILICON_1985["sigma"],
        a: ScalarLike = SILICON_1985["a"],
        lam: ScalarLike = SILICON_1985["lam"],
        gamma: ScalarLike = SILICON_1985["gamma"],
        A: ScalarLike = SILICON_1985["A"],
        B: ScalarLike = SILICON_1985["B"],
        p: ScalarLike = SILICON_1985["p"],
        q: ScalarLike = SILICON_1985["q"],
        cos_theta0: ScalarLike = SILICON_1985["cos_theta0"],
        symbol: str = "Si",
    ):
        self.epsilon = _scalar(epsilon, "epsilon")
        self.sigma = _scalar(sigma, "sigma")
        self.a = _scalar(a, "a")
        self.lam = _scalar(lam, "lam")
        self.gamma = _scalar(gamma, "gamma")
        self.A = _scalar(A, "A")
        self.B = _scalar(B, "B")
        self.p = _scalar(p, "p")
        self.q = _scalar(q, "q")
        self.cos_theta0 = _scalar(cos_theta0, "cos_theta0")
        for name in ("epsilon", "sigma", "a"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be positive, got {float(getattr(self, name))}")
        self.cutoff = float(self.a) * float(self.sigma)
        self.symbols = (symbol,)

    @property
    def min_distance(self) -> float:
        """``0.5 σ``: closer atoms are reported as overlapping."""
        return 0.5 * float(self.sigma)

    def atomic_energies(
        self,
        positions: Float[Array, "n 3"],
        box: Box,
        species: Int[Array, " n"],
        neighbors: NeighborList | None = None,
    ) -> Float[Array, " n"]:
        """The two-body energy shared equally by both atoms plus the three-body energy of
        each central atom, shape ``(n_atoms,)`` (energy units)."""
        dtype = positions.dtype
        eps, sigma, a, lam, gamma, big_a, big_b, p, q, cos0 = (
            x.astype(dtype)
            for x in (
                self.epsilon, self.sigma, self.a, self.lam, self.gamma, self.A, self.B,
                self.p, self.q, self.cos_theta0,
            )
        )  # fmt: skip
        _, mask, vectors = dense_neighbors(positions, box, neighbors)
        r = safe_norm(vectors, mask, 2 * a * sigma) / sigma  # reduced distances
        inside = mask & (r < a)
        r_in = jnp.where(inside, r, 0.5 * a)  # finite values off the support
        decay = jnp.where(inside, jnp.exp(1.0 / (r_in - a)), 0.0)
        two_body = jnp.where(inside, big_a * (big_b * r_in**-p - r_in**-q) * decay, 0.0)
        # three-body: h over ordered neighbour pairs (j, k), j ≠ k, halved
        g = jnp.where(inside, jnp.exp(gamma / (r_in - a)), 0.0)
        unit = vectors / jnp.where(inside, r_in * sigma, 1.0)[..., None]
        cosine = jnp.einsum("ijx,ikx->ijk", unit, unit)
        k = mask.shape[1]
        distinct = ~jnp.eye(k, dtype=bool)[None, :, :]
        weight = g[:, :, None] * g[:, None, :]
        three_body = jnp.where(distinct, weight * (cosine - cos0) ** 2, 0.0)
        return eps * (0.5 * jnp.sum(two_body, axis=1) + 0.5 * lam * jnp.sum(three_body, (1, 2)))
