"""The Behler-Parrinello potential: symmetry functions against jax-md's, forces against
finite differences, invariance, finite second derivatives on a perfect lattice, training on
energies and forces, save/load."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.atomistic import (
    BehlerParrinelloPotential,
    Frame,
    LossWeights,
    StillingerWeber,
    SymmetryFunctions,
    behler_parrinello_potential,
    diamond,
    elastic_constants,
    error_report,
    evaluate,
    evaluate_dataset,
    fcc,
    load_potential,
    make_dataset,
    random_alloy,
    rattle,
    save_potential,
    split_dataset,
    train_potential,
    voigt_strain_tensor,
)
from dmech.atomistic._neighbors import jax_md_context
from dmech.atomistic._potential import dense_neighbors
from dmech.testing import check_grad

_evaluate = eqx.filter_jit(evaluate)


def _crystal(key, dtype=jnp.float64, alloy=False):
    crystal = rattle(diamond(5.431, 1, dtype=dtype), 0.12, key)
    if alloy:
        crystal = random_alloy(crystal, ("Si", "Ge"), (0.5, 0.5), jax.random.fold_in(key, 1))
    return crystal


def test_symmetry_functions_match_jax_md(x64):
    from jax_md._nn import behler_parrinello as jax_md_bp

    from dmech.atomistic._jax_md import space

    crystal = _crystal(jax.random.key(0))
    etas, zetas, lambdas = (0.5, 2.0), (1.0, 2.0, 4.0), (1.0, -1.0, 1.0)
    angular_etas = (0.01, 0.05, 0.2)
    functions = SymmetryFunctions(
        1, 2.55, radial_etas=etas, radial_shifts=(0.0, 0.0), angular_etas=angular_etas,
        zetas=zetas, lambdas=lambdas,
    )  # fmt: skip
    index, mask, vectors = dense_neighbors(crystal.positions, crystal.box, None)
    ours = functions(crystal.species, index, mask, vectors)
    side = float(crystal.box[0, 0])
    with jax_md_context():
        displacement, _ = space.periodic(side)
        radial = jax_md_bp.radial_symmetry_functions(displacement, None, jnp.array(etas), 2.55)
        angular = jax_md_bp.angular_symmetry_functions(
            displacement, None, jnp.array(angular_etas), jnp.array(lambdas), jnp.array(zetas),
            2.55,
        )  # fmt: skip
        x = crystal.positions % side
        theirs = jnp.concatenate([radial(x), angular(x)], axis=1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    radial_only = SymmetryFunctions(1, 2.55, radial_etas=etas, radial_shifts=(0.0, 0.0), zetas=())
    assert radial_only.n_features == 2
    np.testing.assert_array_equal(radial_only(crystal.species, index, mask, vectors), ours[:, :2])


def test_forces_are_minus_the_gradient_and_energy_is_invariant(x64):
    crystal = _crystal(jax.random.key(1), alloy=True)
    functions = SymmetryFunctions(2, 2.55, zetas=(1.0, 4.0), lambdas=(1.0, -1.0),
                                  angular_etas=(0.01, 0.01))  # fmt: skip
    potential = BehlerParrinelloPotential(functions, ("Si", "Ge"), width=8, depth=1,
                                          dtype=jnp.float64, key=jax.random.key(2))  # fmt: skip
    x, box, species = crystal.positions, crystal.box, crystal.species
    energy_of = jax.jit(lambda y: potential(y, box, species))
    check_grad(energy_of, x, mode="reverse")
    result = _evaluate(potential, x, box, species)
    h = 1e-5
    step = jnp.zeros_like(x).at[3, 1].set(h)
    derivative = (energy_of(x + step) - energy_of(x - step)) / (2 * h)
    assert float(result.forces[3, 1]) == pytest.approx(-float(derivative), abs=1e-8)
    rotation, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    rotation = jnp.asarray(rotation * np.sign(np.linalg.det(rotation)))
    rotated = _evaluate(potential, x @ rotation.T, rotation @ box, species)
    assert float(rotated.energy) == pytest.approx(float(result.energy), rel=1e-12)
    np.testing.assert_allclose(rotated.forces, result.forces @ rotation.T, atol=1e-10)


def test_elastic_constants_of_a_perfect_fcc_lattice_are_finite_and_the_energy_curvature(x64):
    """Opposite neighbours (λ cos θ = -1) put the angular terms at the edge of their power
    ``(1 + λ cos θ)^ζ``, for an integer and a non-integer ζ: the strain Hessian must still be
    finite (it was NaN) and equal the second difference of the energy under the stretch
    ``U = (I + 2η)^{1/2}``."""
    crystal = fcc(3.6, 2, symbol="Cu", dtype=jnp.float64)
    functions = SymmetryFunctions(1, 3.0, zetas=(1.0, 2.5), lambdas=(1.0, 1.0),
                                  angular_etas=(0.01, 0.01), kind="g5")  # fmt: skip
    potential = BehlerParrinelloPotential(functions, ("Cu",), width=8, depth=1,
                                          dtype=jnp.float64, key=jax.random.key(3))  # fmt: skip
    result = elastic_constants(potential, crystal, internal_relaxation=False)
    assert np.all(np.isfinite(np.asarray(result.unrelaxed)))

    @jax.jit
    def energy(voigt):
        values, vectors = jnp.linalg.eigh(jnp.eye(3) + 2 * voigt_strain_tensor(voigt))
        stretch = (vectors * jnp.sqrt(values)[None, :]) @ vectors.T
        return potential(crystal.positions @ stretch.T, stretch @ crystal.box, crystal.species)

    volume = float(np.linalg.det(np.asarray(crystal.box)))
    step = 1e-4
    for column in (0, 3):  # C11 and C44 (engineering shear)
        e = jnp.zeros(6, jnp.float64).at[column].set(step)
        curvature = (energy(e) - 2 * energy(jnp.zeros(6, jnp.float64)) + energy(-e)) / step**2
        assert float(curvature) / volume == pytest.approx(
            float(result.unrelaxed[column, column]), rel=1e-5
        )


def test_core_adds_the_fixed_pair_repulsion_and_save_load_keeps_it(x64, tmp_path):
    crystal = _crystal(jax.random.key(4))
    x, box, species = crystal.positions, crystal.box, crystal.species
    functions = SymmetryFunctions(1, 2.55, zetas=(1.0, 4.0), lambdas=(1.0, -1.0),
                                  angular_etas=(0.01, 0.01))  # fmt: skip
    shape = {"width": 8, "depth": 1, "dtype": jnp.float64, "key": jax.random.key(5)}
    bare = BehlerParrinelloPotential(functions, ("Si",), **shape)
    cored = BehlerParrinelloPotential(functions, ("Si",), core_strength=3.0, core_radius=2.3,
                                      **shape)  # fmt: skip
    d = np.asarray(x)[:, None, :] - np.asarray(x)[None, :, :]
    side = float(box[0, 0])  # a cubic cell
    distances = np.linalg.norm(d - side * np.round(d / side), axis=-1)
    pairs = distances[np.triu_indices(len(x), 1)]
    assert np.sum(pairs < 2.3) > 0  # the rattled cell has pairs inside the core
    expected = np.sum(np.where(pairs < 2.3, 3.0 * (1 - pairs / 2.3) ** 3, 0.0))
    core = _evaluate(cored, x, box, species).energy - _evaluate(bare, x, box, species).energy
    assert float(core) == pytest.approx(expected, rel=1e-10)
    check_grad(jax.jit(lambda y: cored(y, box, species)), x, mode="reverse")
    for radius in (3.0, 0.0):  # beyond the cutoff; no radius for a positive strength
        with pytest.raises(ValueError, match="core_radius"):
            BehlerParrinelloPotential(functions, ("Si",), core_strength=1.0, core_radius=radius,
                                      **shape)  # fmt: skip
    dataset = _silicon_data(2)
    model = _small_network(dataset, jax.random.key(0), core_strength=3.0, core_radius=2.3)
    _assert_save_load_identical(tmp_path / "bp.dmech", model, dataset)
    assert load_potential(tmp_path / "bp.dmech").core_radius == 2.3


def _silicon_data(count):
    sw = StillingerWeber()
    frames = []
    for k in range(count):
        crystal = _crystal(jax.random.key(10 + k), dtype=jnp.float32)
        result = _evaluate(sw, crystal.positions, crystal.box, crystal.species)
        frames.append(Frame(crystal, result.energy, result.forces, result.stress))
    return make_dataset(frames, ("Si",), cutoff=2.55)


def _small_network(train, key, **core):
    functions = SymmetryFunctions(1, 2.55, zetas=(1.0, 1.0, 4.0), lambdas=(1.0, -1.0, 1.0),
                                  angular_etas=(0.01,) * 3)  # fmt: skip
    return behler_parrinello_potential(train, symmetry_functions=functions, width=16, depth=1,
                                       key=key, **core)  # fmt: skip


def _assert_save_load_identical(path, model, dataset):
    save_potential(path, model)
    loaded = load_potential(path)
    assert isinstance(loaded, BehlerParrinelloPotential)
    ours, theirs = evaluate_dataset(model, dataset), evaluate_dataset(loaded, dataset)
    for a, b in zip(
        jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_save_load_predicts_identically(tmp_path):
    dataset = _silicon_data(2)
    model = _small_network(dataset, jax.random.key(0))
    # perturb every parameter so that nothing is left at its initial value
    leaves, rebuild = eqx.partition(model, eqx.is_inexact_array)
    noise = jax.tree_util.tree_map(lambda x: x + 0.01 * jnp.ones_like(x), leaves)
    _assert_save_load_identical(tmp_path / "bp.dmech", eqx.combine(noise, rebuild), dataset)


@pytest.mark.slow  # 300 Adam steps: the trained figures are those of `mlip-si`
def test_training_on_silicon_reduces_the_errors_and_save_load_is_identical(tmp_path):
    dataset = _silicon_data(10)
    train, validation = split_dataset(dataset, 0.2, seed=0)
    initial = _small_network(train, jax.random.key(0))
    before = error_report(initial, validation)
    result = train_potential(initial, train, key=jax.random.key(1), steps=300,
                             weights=LossWeights(1.0, 1.0, 0.0), learning_rate=1e-2,
                             batch_size=4)  # fmt: skip
    after = error_report(result.model, validation)
    assert after.force_mae_mev_per_angstrom < 0.5 * before.force_mae_mev_per_angstrom
    assert np.all(np.isfinite(result.history["loss"]))
    _assert_save_load_identical(tmp_path / "bp.dmech", result.model, validation)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="species count mismatch"):
        BehlerParrinelloPotential(SymmetryFunctions(2, 3.0), ("Si",), key=jax.random.key(0))
    with pytest.raises(ValueError, match="lambdas"):
        SymmetryFunctions(1, 3.0, zetas=(1.0,), lambdas=(0.5,), angular_etas=(0.0,))
    with pytest.raises(ValueError, match="kind"):
        SymmetryFunctions(1, 3.0, kind="g3")
