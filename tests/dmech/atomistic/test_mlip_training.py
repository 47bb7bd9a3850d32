"""Training utilities of the learned potentials: seeded splits, the weighted loss, error
reports against hand-computed errors, parity plots, and save/load bit-identical."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.atomistic import (
    EV_PER_A3_TO_GPA,
    Frame,
    LossWeights,
    PolynomialBasis,
    PolynomialPotential,
    StructureLabels,
    diamond,
    error_report,
    evaluate,
    evaluate_dataset,
    load_potential,
    make_dataset,
    parity_plot,
    potential_loss,
    random_vacancies,
    rattle,
    read_potential_header,
    save_potential,
    split_dataset,
    subset_dataset,
)
from dmech.testing import check_grad

_evaluate = eqx.filter_jit(evaluate)


def _dataset(potential, count=6, dtype=jnp.float64):
    frames = []
    for k in range(count):
        crystal = rattle(diamond(5.431, 1, dtype=dtype), 0.1, jax.random.key(k))
        if k % 2:  # a vacancy: structures of 7 and 8 atoms are padded together
            crystal = random_vacancies(crystal, 1, jax.random.key(100 + k))
        result = _evaluate(potential, crystal.positions, crystal.box, crystal.species)
        frames.append(Frame(crystal, result.energy, result.forces, result.stress))
    return make_dataset(frames, ("Si",), cutoff=2.55, dtype=dtype)


def _potential(key=0, dtype=jnp.float64):
    basis = PolynomialBasis(1, 2.55, n_radial=4, n_angular=2, l_max=2, inner_cutoff=1.8)
    coefficients = 0.1 * jax.random.normal(jax.random.key(key), (1, basis.n_features), dtype)
    return PolynomialPotential(basis, coefficients, ("Si",))


def test_dataset_padding_and_seeded_split(x64):
    dataset = _dataset(_potential())
    assert dataset.positions.shape == (6, 8, 3)
    assert np.asarray(dataset.n_atoms).tolist() == [8, 7, 8, 7, 8, 7]
    assert not bool(jnp.any(dataset.neighbor_mask[1, 7]))  # the padding atom has no neighbours
    train, validation = split_dataset(dataset, 0.34, seed=3)
    again, _ = split_dataset(dataset, 0.34, seed=3)
    assert (train.n_structures, validation.n_structures) == (4, 2)
    np.testing.assert_array_equal(train.energy, again.energy)
    together = np.sort(np.concatenate([train.energy, validation.energy]))
    np.testing.assert_array_equal(together, np.sort(np.asarray(dataset.energy)))
    other, _ = split_dataset(dataset, 0.34, seed=4)
    assert not np.array_equal(other.energy, train.energy)
    with pytest.raises(ValueError, match="validation_fraction"):
        split_dataset(dataset, 1.0)
    with pytest.raises(ValueError, match="at least two structures"):
        split_dataset(subset_dataset(dataset, [0]), 0.5)
    with pytest.raises(ValueError, match="indices selects no structure"):
        subset_dataset(dataset, np.zeros(6, bool))


def test_error_report_matches_hand_computed_errors(x64):
    truth = _potential()
    dataset = _dataset(truth)
    exact = evaluate_dataset(truth, dataset)
    mask = np.asarray(dataset.atom_mask)
    n_atoms = mask.sum(axis=1)
    rng = np.random.default_rng(0)
    d_energy = rng.normal(size=6) * 1e-2
    d_forces = rng.normal(size=(6, 8, 3)) * 1e-2 * mask[..., None]
    d_stress = rng.normal(size=(6, 3, 3)) * 1e-3
    d_stress = 0.5 * (d_stress + d_stress.transpose(0, 2, 1))
    shifted = StructureLabels(
        exact.energy + d_energy, exact.forces + d_forces, exact.stress + d_stress
    )
    report = error_report(truth, dataset, predictions=shifted)
    energy_error = np.abs(np.asarray(exact.energy) + d_energy - np.asarray(dataset.energy))
    assert report.energy_mae_mev_per_atom == pytest.approx(
        1e3 * np.mean(energy_error / n_atoms), rel=1e-6
    )
    assert report.force_mae_mev_per_angstrom == pytest.approx(
        1e3 * np.mean(np.abs(d_forces[mask])), rel=1e-6
    )
    voigt = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    stress = np.stack([d_stress[:, a, b] for a, b in voigt], axis=1)
    assert report.stress_mae_gpa == pytest.approx(
        EV_PER_A3_TO_GPA * np.mean(np.abs(stress)), rel=1e-6
    )
    assert report.per_structure_energy_mev_per_atom.shape == (6,)
    per_atom = report.per_atom_force_error_mev_per_angstrom
    assert np.isnan(per_atom[1, 7]) and np.all(np.isfinite(per_atom[mask]))
    np.testing.assert_allclose(per_atom[mask], 1e3 * np.linalg.norm(d_forces[mask], axis=-1),
                               rtol=1e-6)  # fmt: skip
    figure = parity_plot(dataset, shifted, title="check")
    assert len(figure.axes) == 3


def test_loss_vanishes_at_the_truth_and_its_gradient_is_correct(x64):
    truth = _potential()
    dataset = _dataset(truth, count=2)
    weights = LossWeights(1.0, 0.1, 1.0)
    loss, aux = potential_loss(truth, dataset, weights)
    assert float(loss) < 1e-20 and float(aux["force_mse"]) < 1e-20
    other = _potential(key=1)
    loss, aux = potential_loss(other, dataset, weights)
    expected = aux["energy_mse"] + 0.01 * aux["force_mse"] + aux["stress_mse"]
    assert float(loss) == pytest.approx(float(expected), rel=1e-12) and float(loss) > 0
    check_grad(lambda p: potential_loss(p, dataset, weights)[0], other, num_directions=1)


def test_save_and_load_predict_bit_identically(tmp_path):
    potential = _potential(dtype=jnp.float32)
    dataset = _dataset(potential, count=2, dtype=jnp.float32)
    path = tmp_path / "poly.dmech"
    save_potential(path, potential, metadata={"trained_on": "test"})
    loaded = load_potential(path)
    assert isinstance(loaded, PolynomialPotential) and loaded.basis == potential.basis
    before, after = evaluate_dataset(potential, dataset), evaluate_dataset(loaded, dataset)
    for a, b in zip(
        jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(after), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    header = read_potential_header(path)
    assert header["class"] == "PolynomialPotential" and header["dtype"] == "float32"
    assert header["metadata"] == {"trained_on": "test"}
    bad = tmp_path / "bad.txt"
    bad.write_text("not a potential\n")
    with pytest.raises(ValueError, match="not a saved dmech potential"):
        load_potential(bad)
