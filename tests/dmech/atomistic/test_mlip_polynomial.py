"""The polynomial machine-learning potential: exact recovery of a target in its span,
forces and stresses against finite differences, invariances, a fit to Stillinger-Weber
silicon and the potential interface (run_md)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.atomistic import (
    NVE,
    Frame,
    LossWeights,
    NeighborListBuilder,
    PolynomialBasis,
    PolynomialPotential,
    StillingerWeber,
    deform,
    diamond,
    evaluate,
    evaluate_dataset,
    fit_polynomial_potential,
    make_dataset,
    random_alloy,
    rattle,
    run_md,
    split_dataset,
)
from dmech.testing import check_grad

_SMALL_BASIS = {"n_radial": 4, "n_angular": 3, "l_max": 2, "inner_cutoff": 1.8}


def _random_structures(count, key, *, repeats=1, alloy=True, amplitude=0.15, dtype=jnp.float64):
    """Rattled, strained diamond cells (8 atoms per cubic cell), optionally a random alloy."""
    structures = []
    for k in range(count):
        k_alloy, k_rattle, k_strain = jax.random.split(jax.random.fold_in(key, k), 3)
        crystal = diamond(5.431, repeats, dtype=dtype)
        if alloy:
            share = (0.25, 0.5, 0.625)[k % 3]  # compositions vary: per-species offsets
            crystal = random_alloy(crystal, ("Si", "Ge"), (share, 1 - share), k_alloy)
        strain = 0.01 * jax.random.normal(k_strain, (3, 3), dtype)
        crystal = deform(crystal, jnp.eye(3, dtype=dtype) + 0.5 * (strain + strain.T))
        structures.append(rattle(crystal, amplitude, k_rattle))
    return structures


_evaluate = eqx.filter_jit(evaluate)


def _label(potential, structures):
    frames = []
    for s in structures:
        result = _evaluate(potential, s.positions, s.box, s.species)
        frames.append(Frame(s, result.energy, result.forces, result.stress))
    return frames


def test_fit_recovers_a_target_in_its_span(x64):
    basis = PolynomialBasis(2, 2.55, body_order=4, n_product=1, **_SMALL_BASIS)
    key = jax.random.key(0)
    truth = PolynomialPotential(
        basis, 0.1 * jax.random.normal(key, (2, basis.n_features), jnp.float64), ("Si", "Ge")
    )
    frames = _label(truth, _random_structures(16, jax.random.key(1)))
    dataset = make_dataset(frames, ("Si", "Ge"), cutoff=2.55)
    fit = fit_polynomial_potential(basis, dataset, ridge=0.0)
    assert fit.rows == 16 * (1 + 24 + 6)
    # full rank but for the Si-Ge pair terms, shared between the two atoms of a pair
    assert fit.rank == 2 * basis.n_features - basis.n_radial
    assert fit.residual_rms < 1e-12
    # the function is recovered to round-off, on the data and on new structures
    new = make_dataset(_label(truth, _random_structures(4, jax.random.key(9))), ("Si", "Ge"),
                       cutoff=2.55)  # fmt: skip
    for data in (dataset, new):
        predicted = evaluate_dataset(fit.potential, data)
        np.testing.assert_allclose(predicted.energy, data.energy, rtol=1e-10)
        np.testing.assert_allclose(predicted.forces, data.forces, atol=1e-9)
        np.testing.assert_allclose(predicted.stress, data.stress, atol=1e-10)
    # the identifiable coefficients (all but the Si-Ge pair terms) are the truth
    cross = 1 + np.arange(basis.n_radial)  # R_Si on ... then R_Ge: columns 1 + S n + n'
    ge_on_si = 1 + basis.n_radial + np.arange(basis.n_radial)
    keep = np.setdiff1d(np.arange(basis.n_features), ge_on_si)
    np.testing.assert_allclose(fit.potential.coefficients[0, keep],
                               truth.coefficients[0, keep], atol=1e-8)  # fmt: skip
    pair_sum = fit.potential.coefficients[0, ge_on_si] + fit.potential.coefficients[1, cross]
    np.testing.assert_allclose(pair_sum, truth.coefficients[0, ge_on_si]
                               + truth.coefficients[1, cross], atol=1e-8)  # fmt: skip


def test_forces_and_stress_are_derivatives_of_the_energy(x64):
    basis = PolynomialBasis(2, 2.55, body_order=4, n_product=1, **_SMALL_BASIS)
    coefficients = 0.1 * jax.random.normal(jax.random.key(2), (2, basis.n_features), jnp.float64)
    potential = PolynomialPotential(basis, coefficients, ("Si", "Ge"))
    (structure,) = _random_structures(1, jax.random.key(3))
    x, box, species = structure.positions, structure.box, structure.species
    energy_of = jax.jit(lambda y, cell: potential(y, cell, species))
    check_grad(energy_of, x, box, argnums=(0, 1))
    result = _evaluate(potential, x, box, species)
    h = 1e-5
    for atom, axis in ((0, 0), (5, 2)):
        step = jnp.zeros_like(x).at[atom, axis].set(h)
        derivative = (energy_of(x + step, box) - energy_of(x - step, box)) / (2 * h)
        assert float(result.forces[atom, axis]) == pytest.approx(-float(derivative), abs=1e-8)
    volume = float(jnp.linalg.det(box))
    for a, b in ((0, 0), (1, 2)):
        strain = jnp.zeros((3, 3)).at[a, b].set(0.5 * h).at[b, a].add(0.5 * h)
        plus, minus = jnp.eye(3) + strain, jnp.eye(3) - strain
        derivative = (energy_of(x @ plus.T, plus @ box) - energy_of(x @ minus.T, minus @ box)) / (
            2 * h * volume
        )
        assert float(result.stress[a, b]) == pytest.approx(float(derivative), abs=1e-9)


def test_energy_is_invariant_and_forces_equivariant(x64):
    basis = PolynomialBasis(2, 2.55, body_order=3, **_SMALL_BASIS)
    coefficients = 0.1 * jax.random.normal(jax.random.key(4), (2, basis.n_features), jnp.float64)
    potential = PolynomialPotential(basis, coefficients, ("Si", "Ge"))
    (structure,) = _random_structures(1, jax.random.key(5))
    x, box, species = structure.positions, structure.box, structure.species
    reference = _evaluate(potential, x, box, species)
    rotation, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    rotation = jnp.asarray(rotation * np.sign(np.linalg.det(rotation)))
    rotated = _evaluate(potential, x @ rotation.T, rotation @ box, species)
    assert float(rotated.energy) == pytest.approx(float(reference.energy), rel=1e-12)
    np.testing.assert_allclose(rotated.forces, reference.forces @ rotation.T, atol=1e-11)
    np.testing.assert_allclose(rotated.stress, rotation @ reference.stress @ rotation.T,
                               atol=1e-12)  # fmt: skip
    shifted = _evaluate(potential, x + jnp.array([[0.3, -1.2, 7.0]]), box, species)
    assert float(shifted.energy) == pytest.approx(float(reference.energy), rel=1e-12)
    order = jnp.asarray(np.random.default_rng(1).permutation(x.shape[0]))
    permuted = _evaluate(potential, x[order], box, species[order])
    assert float(permuted.energy) == pytest.approx(float(reference.energy), rel=1e-12)
    np.testing.assert_allclose(permuted.forces, reference.forces[order], atol=1e-11)
    # the neighbour-list path gives the all-pairs answer
    crystal = rattle(diamond(5.431, 1, dtype=jnp.float64), 0.1, jax.random.key(6))
    crystal = random_alloy(crystal, ("Si", "Ge"), (0.5, 0.5), jax.random.key(7))
    neighbors = NeighborListBuilder(2.55, skin=0.1).allocate(crystal.positions, crystal.box)
    with_list = _evaluate(potential, crystal.positions, crystal.box, crystal.species, neighbors)
    without = _evaluate(potential, crystal.positions, crystal.box, crystal.species)
    assert float(with_list.energy) == pytest.approx(float(without.energy), rel=1e-12)
    np.testing.assert_allclose(with_list.forces, without.forces, atol=1e-11)


@pytest.mark.slow  # the fit itself is verified exactly above; the targets by `mlip-si`
def test_fit_to_stillinger_weber_silicon_meets_its_targets(x64):
    sw = StillingerWeber()
    structures = _random_structures(10, jax.random.key(7), repeats=2, alloy=False, amplitude=0.1)
    frames = _label(sw, structures)
    dataset = make_dataset(frames, ("Si",), cutoff=3.8)
    train, held_out = split_dataset(dataset, 0.3, seed=0)
    basis = PolynomialBasis(1, 3.8, n_radial=8, n_angular=5, l_max=3)
    fit = fit_polynomial_potential(basis, train, weights=LossWeights(1.0, 0.05, 1.0))
    predicted = evaluate_dataset(fit.potential, held_out)
    n_atoms = np.asarray(held_out.n_atoms)
    energy_mae = np.mean(np.abs(np.asarray(predicted.energy - held_out.energy)) / n_atoms)
    force_mae = np.mean(np.abs(np.asarray(predicted.forces - held_out.forces)))
    assert energy_mae < 1e-3  # eV/atom: the target of 1 meV/atom
    assert force_mae < 0.02  # eV/Å: the target of 20 meV/Å
    # the fitted potential runs in the MD driver unchanged (dense neighbour list)
    result = run_md(fit.potential, structures[0], NVE(1.0 * 0.09822694788464063), 40,
                    key=jax.random.key(0), kT_initial=0.05, observe_every=20)  # fmt: skip
    drift = np.ptp(result.observables.total_energy) / structures[0].n_atoms
    assert drift < 1e-3


def test_bad_input_names_the_argument():
    basis = PolynomialBasis(1, 2.55, **_SMALL_BASIS)
    with pytest.raises(ValueError, match="species count mismatch"):
        PolynomialPotential(basis, jnp.zeros((1, basis.n_features)), ("Si", "Ge"))
    with pytest.raises(ValueError, match="coefficients must have shape"):
        PolynomialPotential(basis, jnp.zeros((1, 3)), ("Si",))
    with pytest.raises(ValueError, match="body_order"):
        PolynomialBasis(1, 2.55, body_order=5)
    with pytest.raises(ValueError, match="cutoff"):
        PolynomialBasis(1, 1.0, inner_cutoff=1.5)
    with pytest.raises(ValueError, match="data is empty"):
        make_dataset([], ("Si",), cutoff=2.55)
    frames = _label(StillingerWeber(), _random_structures(1, jax.random.key(0), alloy=False,
                                                         dtype=jnp.float32))  # fmt: skip
    with pytest.raises(ValueError, match="species mismatch"):
        fit_polynomial_potential(PolynomialBasis(2, 2.55, **_SMALL_BASIS),
                                 make_dataset(frames, ("Si",), cutoff=2.55))  # fmt: skip
    alloy = _random_structures(1, jax.random.key(0), dtype=jnp.float32)
    with pytest.raises(ValueError, match="species mismatch"):
        make_dataset([Frame(alloy[0], frames[0].energy, frames[0].forces, frames[0].stress)],
                     ("Si",), cutoff=2.55)  # fmt: skip
    with pytest.raises(ValueError, match="box of structure 0 is too small"):
        make_dataset(frames, ("Si",), cutoff=3.8)
    with pytest.raises(ValueError, match=r"weights\.forces"):
        LossWeights(1.0, -1.0, 1.0)


def test_design_rows_equal_the_jacobian_of_the_whole_structure(x64):
    """The fit's per-neighbour derivatives equal forward-mode derivatives of the summed
    features with respect to every coordinate and a homogeneous strain (padding included)."""
    from dmech.atomistic import random_vacancies
    from dmech.atomistic._mlip_data import table_vectors
    from dmech.atomistic._mlip_polynomial import _design_rows

    basis = PolynomialBasis(2, 2.55, body_order=4, n_product=1, **_SMALL_BASIS)
    full, other = _random_structures(2, jax.random.key(5))
    structures = [full, random_vacancies(other, 2, jax.random.key(6))]
    coefficients = jnp.zeros((2, basis.n_features), jnp.float64)
    frames = _label(PolynomialPotential(basis, coefficients, ("Si", "Ge")), structures)
    data = make_dataset(frames, ("Si", "Ge"), cutoff=2.55)

    def features(x, strain, box, species, atom_mask, index, mask):
        deformation = jnp.eye(3) + strain
        vectors = table_vectors(x @ deformation.T, deformation @ box, index)
        invariants = basis(species, index, mask & atom_mask[:, None], vectors)
        onehot = jax.nn.one_hot(species, 2, dtype=x.dtype) * atom_mask[:, None].astype(x.dtype)
        return jnp.einsum("is,if->sf", onehot, invariants).reshape(-1)

    for k in range(2):
        x, *rest = (data.positions[k], data.box[k], data.species[k], data.atom_mask[k],
                    data.neighbor_index[k], data.neighbor_mask[k])  # fmt: skip
        zero = jnp.zeros((3, 3))
        d_x, d_strain = jax.jacfwd(features, argnums=(0, 1))(x, zero, *rest)
        value, d_positions, d_voigt = _design_rows(basis, x, *rest)
        np.testing.assert_allclose(value, features(x, zero, *rest), rtol=1e-12)
        np.testing.assert_allclose(d_positions, d_x.reshape(len(value), -1).T, atol=1e-10)
        # a Voigt shear component e strains the pair (a, b) and (b, a) by e / 2 each
        symmetric = 0.5 * (d_strain + jnp.swapaxes(d_strain, 1, 2))
        voigt = [symmetric[:, a, b] for a, b in ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))]
        np.testing.assert_allclose(d_voigt, np.stack(voigt), atol=1e-10)
    assert int(np.sum(~np.asarray(data.atom_mask[1]))) == 2  # the second one is padded


def test_core_below_the_inner_cutoff_is_fixed_repulsion_and_the_fit_subtracts_it(x64):
    settings = {**_SMALL_BASIS, "inner_cutoff": 2.3}
    basis = PolynomialBasis(2, 2.55, body_order=3, core_strength=3.0, **settings)
    # the radial functions are held at r_0 below it (no polynomial extrapolation)
    held = basis.radial_functions(jnp.array([1.2, 1.9, 2.3]))
    np.testing.assert_allclose(held, jnp.broadcast_to(held[2], held.shape))
    coefficients = 0.1 * jax.random.normal(jax.random.key(7), (2, basis.n_features), jnp.float64)
    truth = PolynomialPotential(basis, coefficients, ("Si", "Ge"))
    without_core = PolynomialBasis(2, 2.55, body_order=3, **settings)
    bare = PolynomialPotential(without_core, coefficients, ("Si", "Ge"))
    # the core's energy: A (1 - r/r_0)^3 per pair inside r_0
    (structure,) = _random_structures(1, jax.random.key(8))
    x, box, species = structure.positions, structure.box, structure.species
    d = x[:, None, :] - x[None, :, :]
    frac = d @ jnp.linalg.inv(box)
    distances = jnp.linalg.norm((frac - jnp.round(frac)) @ box, axis=-1)
    pairs = distances[np.triu_indices(len(x), 1)]
    assert int(jnp.sum(pairs < 2.3)) > 0  # the rattled cell has pairs inside the core
    expected = float(jnp.sum(jnp.where(pairs < 2.3, 3.0 * (1 - pairs / 2.3) ** 3, 0.0)))
    core = float(_evaluate(truth, x, box, species).energy - _evaluate(bare, x, box, species).energy)
    assert core == pytest.approx(expected, rel=1e-10)
    check_grad(jax.jit(lambda y: truth(y, box, species)), x)
    # labels containing the core: the fit removes it and recovers the polynomial exactly
    frames = _label(truth, _random_structures(16, jax.random.key(1)))
    dataset = make_dataset(frames, ("Si", "Ge"), cutoff=2.55)
    fit = fit_polynomial_potential(basis, dataset, ridge=0.0)
    assert fit.residual_rms < 1e-12
    predicted = evaluate_dataset(fit.potential, dataset)
    np.testing.assert_allclose(predicted.forces, dataset.forces, atol=1e-9)
    np.testing.assert_allclose(predicted.stress, dataset.stress, atol=1e-10)
