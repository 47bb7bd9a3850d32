"""jax-md's NequIP wrapped as a learned potential: runs with our jax, forces against finite
differences, rotation invariance, training and save/load."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.atomistic import (
    EquivariantPotential,
    Frame,
    LossWeights,
    StillingerWeber,
    diamond,
    equivariant_potential,
    error_report,
    evaluate,
    evaluate_dataset,
    load_potential,
    make_dataset,
    rattle,
    save_potential,
    train_potential,
)

_evaluate = eqx.filter_jit(evaluate)
_SMALL = {"hidden_irreps": "4x0e + 2x1e", "sh_irreps": "1x0e + 1x1e", "radial_net_n_hidden": 8}


def _dataset(count, dtype):
    sw = StillingerWeber()
    frames = []
    for k in range(count):
        crystal = rattle(diamond(5.431, 1, dtype=dtype), 0.12, jax.random.key(k))
        result = _evaluate(sw, crystal.positions, crystal.box, crystal.species)
        frames.append(Frame(crystal, result.energy, result.forces, result.stress))
    return frames, make_dataset(frames, ("Si",), cutoff=2.55, dtype=dtype)


def test_equivariant_forces_and_invariance(x64):
    frames, dataset = _dataset(2, jnp.float64)
    potential = equivariant_potential(dataset, key=jax.random.key(0), **_SMALL)
    assert dict(potential.config)["shift"] == pytest.approx(
        float(np.sum(dataset.energy)) / 16, rel=1e-12
    )
    s = frames[0].structure
    x, box, species = s.positions, s.box, s.species
    energy_of = jax.jit(lambda y: potential(y, box, species))
    result = _evaluate(potential, x, box, species)
    h = 1e-5
    for atom, axis in ((0, 0), (6, 2)):
        step = jnp.zeros_like(x).at[atom, axis].set(h)
        derivative = (energy_of(x + step) - energy_of(x - step)) / (2 * h)
        assert float(result.forces[atom, axis]) == pytest.approx(-float(derivative), abs=1e-7)
    rotation, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    rotation = jnp.asarray(rotation * np.sign(np.linalg.det(rotation)))
    rotated = _evaluate(potential, x @ rotation.T, rotation @ box, species)
    assert float(rotated.energy) == pytest.approx(float(result.energy), rel=1e-10)
    np.testing.assert_allclose(rotated.forces, result.forces @ rotation.T, atol=1e-9)


@pytest.mark.slow
def test_equivariant_training_and_save_load(tmp_path):
    _, dataset = _dataset(4, jnp.float32)
    potential = equivariant_potential(dataset, key=jax.random.key(0), **_SMALL)
    before = error_report(potential, dataset)
    result = train_potential(potential, dataset, key=jax.random.key(1), steps=30,
                             weights=LossWeights(1.0, 1.0, 0.0), learning_rate=1e-2,
                             batch_size=2)  # fmt: skip
    after = error_report(result.model, dataset)
    assert after.force_mae_mev_per_angstrom < before.force_mae_mev_per_angstrom
    path = tmp_path / "nequip.dmech"
    save_potential(path, result.model)
    loaded = load_potential(path)
    assert isinstance(loaded, EquivariantPotential) and loaded.config == result.model.config
    ours, theirs = evaluate_dataset(result.model, dataset), evaluate_dataset(loaded, dataset)
    leaves = zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs), strict=True)
    for a, b in leaves:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="unknown NequIP settings"):
        equivariant_potential(dataset, key=jax.random.key(0), hidden="8x0e")
