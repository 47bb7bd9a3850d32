"""An E(3)-equivariant message-passing potential: jax-md's NequIP (flax.linen, e3nn-jax)
wrapped in the learned-potential interface."""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._custom_types import Array, Bool, Float, Int, Key, PyTree
from ._mlip_data import (
    AbstractLearnedPotential,
    AtomisticDataset,
    check_compatible,
    table_vectors,
)
from ._neighbors import jax_md_context
from ._potential import safe_norm

__all__ = ["EquivariantPotential", "equivariant_potential"]

_DEFAULTS: dict[str, Any] = {
    "graph_net_steps": 2,
    "hidden_irreps": "16x0e + 8x1e + 4x2e",
    "sh_irreps": "1x0e + 1x1e + 1x2e",
    "num_basis": 8,
    "radial_net_n_hidden": 32,
    "radial_net_n_layers": 2,
    "nonlinearities": (("e", "raw_swish"), ("o", "tanh")),
    "radial_net_nonlinearity": "raw_swish",
    "use_sc": True,
    "scalar_mlp_std": 4.0,
}


@contextlib.contextmanager
def _nequip_context():
    """jax-md's promotion context, with e3nn-jax's deprecations (``remove_nones``,
    ``index_add``, which jax-md 0.2.29's NequIP still calls) silenced locally."""
    with jax_md_context(), warnings.catch_warnings():
        for message in ("IrrepsArray.remove_nones", "e3nn.index_add"):
            warnings.filterwarnings("ignore", message, DeprecationWarning)
        yield


@functools.lru_cache(maxsize=32)
def _model(config: tuple) -> Any:
    """jax-md's ``NequIPEnergyModel`` for a hashable configuration."""
    from jax_md._nn import nequip

    settings = dict(config)
    cfg = nequip.default_config()
    for name, value in settings.items():
        setattr(cfg, name, dict(value) if name == "nonlinearities" else value)
    return nequip.model_from_config(cfg)


def _graph(species, index, mask, vectors, n_species: int, cutoff: float):
    import jraph

    n, k = index.shape
    dtype = vectors.dtype
    r = safe_norm(vectors, mask, 2 * cutoff)
    inside = mask & (r < cutoff)
    # jax-md's featuriser: edge vectors x_receiver - x_sender; absent edges are put beyond
    # the cutoff, where the radial embedding (and so the message) vanishes
    far = jnp.zeros((1, 1, 3), dtype).at[..., 0].set(2 * cutoff)
    edges = jnp.where(inside[..., None], -vectors, far).reshape(n * k, 3)
    senders = jnp.where(inside, index, 0).reshape(n * k)
    receivers = jnp.broadcast_to(jnp.arange(n)[:, None], (n, k)).reshape(n * k)
    return jraph.GraphsTuple(
        nodes=jax.nn.one_hot(species, n_species, dtype=dtype),
        edges=edges,
        receivers=receivers,
        senders=senders,
        globals=None,
        n_node=jnp.ones(n, jnp.int32),  # one graph per atom: the output is per atom
        n_edge=jnp.full(n, k, jnp.int32),
    )


class EquivariantPotential(AbstractLearnedPotential):
    r"""jax-md's NequIP equivariant message-passing network as a learned potential.

    Atom ``i``'s energy is ``E_i = s · y_i + μ`` with ``y_i`` the scalar output of NequIP's
    interaction blocks (tensor products of spherical-harmonic edge features with learned
    radial weights; Bessel radial basis with a smooth cutoff), ``μ`` the shift (the mean
    energy per atom of the training data) and ``s`` the scale (the RMS of the training
    forces), as jax-md's ``nequip`` module applies them. Each atom is its own graph of the
    jraph batch, so jax-md's model returns the per-atom energies.

    Attributes:
        params: the flax parameter pytree (array leaves: trained by `train_potential`).
        config: static, the NequIP configuration as sorted ``(name, value)`` pairs
            (``r_max``, ``n_elements``, ``shift``, ``scale``, ``n_neighbors``, irreps...).
        symbols: static, the species' chemical symbols.
        cutoff: static, ``r_max`` (Å).

    References:
        Batzner et al. (2022), "E(3)-equivariant graph neural networks for data-efficient
        and accurate interatomic potentials", Nat. Commun. 13, 2453. Schoenholz and Cubuk
        (2020), "JAX MD", NeurIPS (the implementation wrapped here).
    """

    params: PyTree
    config: tuple = eqx.field(static=True)
    symbols: tuple[str, ...] = eqx.field(static=True)
    cutoff: float = eqx.field(static=True)

    def __init__(self, params: PyTree, config: tuple | dict, symbols: Sequence[str]):
        symbols = (symbols,) if isinstance(symbols, str) else tuple(symbols)
        settings = dict(config)
        if settings.get("n_elements") != len(symbols):
            raise ValueError(f"symbols names {len(symbols)} species but config n_elements = "
                             f"{settings.get('n_elements')} (species count mismatch)")  # fmt: skip
        self.params = params
        self.config = _freeze(settings)
        self.symbols = symbols
        self.cutoff = float(settings["r_max"])

    def hyperparameters(self) -> dict:
        """The NequIP configuration and symbols, as JSON (see `save_potential`)."""
        settings = dict(self.config)
        settings["nonlinearities"] = dict(settings["nonlinearities"])
        return {"symbols": list(self.symbols), "config": settings}

    @classmethod
    def from_hyperparameters(cls, hyperparameters: dict, *, dtype: Any = None):
        """A potential of this structure with freshly initialised parameters."""
        config = _freeze(hyperparameters["config"])
        params = _init_params(config, len(hyperparameters["symbols"]), jax.random.key(0), dtype)
        return cls(params, config, hyperparameters["symbols"])

    def neighbor_energies(
        self,
        species: Int[Array, " n"],
        index: Int[Array, "n k"],
        mask: Bool[Array, "n k"],
        vectors: Float[Array, "n k 3"],
    ) -> Float[Array, " n"]:
        """NequIP's per-atom energies, shape ``(n_atoms,)`` (eV)."""
        with _nequip_context():
            graph = _graph(species, index, mask, vectors, len(self.symbols), self.cutoff)
            energies = _model(self.config).apply(self.params, graph)
        return energies.reshape(-1).astype(vectors.dtype)


def _freeze(settings: dict) -> tuple:
    out = dict(settings)
    if isinstance(out.get("nonlinearities"), dict):
        out["nonlinearities"] = tuple(sorted(out["nonlinearities"].items()))
    elif out.get("nonlinearities") is not None:
        out["nonlinearities"] = tuple(tuple(x) for x in out["nonlinearities"])
    return tuple(sorted(out.items()))


def _init_params(config: tuple, n_species: int, key, dtype) -> PyTree:
    dtype = jnp.result_type(float) if dtype is None else dtype
    cutoff = float(dict(config)["r_max"])
    # a small cluster: two atoms within the cutoff initialise every weight
    vectors = (
        jnp.zeros((2, 1, 3), dtype).at[0, 0, 0].set(0.5 * cutoff).at[1, 0, 0].set(-0.5 * cutoff)
    )
    index = jnp.array([[1], [0]])
    mask = jnp.ones((2, 1), bool)
    species = jnp.zeros(2, jnp.int32)
    with _nequip_context():
        graph = _graph(species, index, mask, vectors, n_species, cutoff)
        params = _model(config).init(key, graph)
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype), params)


def equivariant_potential(
    dataset: AtomisticDataset,
    *,
    cutoff: float | None = None,
    key: Key,
    **settings: Any,
) -> EquivariantPotential:
    """An untrained `EquivariantPotential` with NequIP's shift and scale set from data.

    ``shift`` is the mean energy per atom of ``dataset``, ``scale`` the RMS of its force
    components, ``n_neighbors`` (NequIP's message normalisation) the mean number of
    neighbours within the cutoff.

    Args:
        dataset: the training structures.
        cutoff: ``r_max`` (Å; default the dataset's cutoff).
        key: PRNG key of the initial weights.
        **settings: NequIP configuration entries overriding the defaults
            (``graph_net_steps=2``, ``hidden_irreps="16x0e + 8x1e + 4x2e"``,
            ``sh_irreps="1x0e + 1x1e + 1x2e"``, ``num_basis=8``, ``radial_net_n_hidden=32``,
            ``radial_net_n_layers=2``).

    Returns:
        `EquivariantPotential` (train it with `train_potential`).

    Raises:
        ValueError: for an unknown setting or a cutoff beyond the dataset's.
    """
    unknown = sorted(set(settings) - set(_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown NequIP settings {unknown}; known: {sorted(_DEFAULTS)}")
    cutoff = dataset.cutoff if cutoff is None else float(cutoff)
    mask = np.asarray(dataset.atom_mask)
    n_atoms = mask.sum(axis=1)
    shift = float(np.sum(np.asarray(dataset.energy, np.float64)) / n_atoms.sum())
    scale = float(np.sqrt(np.mean(np.asarray(dataset.forces, np.float64)[mask] ** 2)))
    vectors = jax.vmap(table_vectors)(dataset.positions, dataset.box, dataset.neighbor_index)
    distance = np.linalg.norm(np.asarray(vectors), axis=-1)
    within = np.asarray(dataset.neighbor_mask) & (distance < cutoff) & mask[..., None]
    config = dict(_DEFAULTS)
    config.update(settings)
    config.update(
        r_max=cutoff,
        n_elements=len(dataset.symbols),
        shift=shift,
        scale=max(scale, 1e-3),
        n_neighbors=float(within.sum() / n_atoms.sum()),
    )
    frozen = _freeze(config)
    params = _init_params(frozen, len(dataset.symbols), key, dataset.positions.dtype)
    potential = EquivariantPotential(params, frozen, dataset.symbols)
    check_compatible(potential, dataset)
    return potential
