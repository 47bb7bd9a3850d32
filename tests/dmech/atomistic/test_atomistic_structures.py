"""Structure builders and the checks that make bad input loud."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.atomistic import (
    NVE,
    LennardJones,
    StillingerWeber,
    Structure,
    ZhouEAM,
    bcc,
    check_structure,
    deform,
    diamond,
    elastic_constants,
    evaluate,
    fcc,
    minimum_distance,
    perpendicular_widths,
    random_alloy,
    random_vacancies,
    remove_atoms,
    run_md,
    supercell,
)


@pytest.mark.parametrize(
    ("builder", "per_cell", "nearest"),
    [(fcc, 4, np.sqrt(2) / 2), (bcc, 2, np.sqrt(3) / 2), (diamond, 8, np.sqrt(3) / 4)],
)
def test_lattices_have_their_counts_and_nearest_neighbours(builder, per_cell, nearest):
    s = builder(2.0, (2, 3, 4))
    assert s.n_atoms == per_cell * 24 and s.positions.shape == (per_cell * 24, 3)
    np.testing.assert_allclose(s.box, np.diag([4.0, 6.0, 8.0]))
    assert float(s.volume) == pytest.approx(192.0)
    assert minimum_distance(s.positions, s.box, below=3.0) == pytest.approx(2 * nearest, rel=1e-6)


def test_supercell_vacancies_and_alloys():
    lj = LennardJones()
    cell = fcc(1.5496, 4)
    big = supercell(cell, (2, 1, 1))
    assert big.n_atoms == 2 * cell.n_atoms
    e_cell = float(lj(cell.positions, cell.box, cell.species)) / cell.n_atoms
    e_big = float(lj(big.positions, big.box, big.species)) / big.n_atoms
    assert e_big == pytest.approx(e_cell, rel=1e-6)
    holes = random_vacancies(cell, 3, jax.random.key(0))
    assert holes.n_atoms == cell.n_atoms - 3
    assert remove_atoms(cell, [0, 5]).n_atoms == cell.n_atoms - 2
    alloy = random_alloy(cell, ("Cu", "Ni"), (0.25, 0.75), jax.random.key(1))
    assert alloy.symbols == ("Cu", "Ni")
    assert np.bincount(np.asarray(alloy.species)).tolist() == [64, 192]
    again = random_alloy(cell, ("Cu", "Ni"), (0.25, 0.75), jax.random.key(1))
    np.testing.assert_array_equal(alloy.species, again.species)  # seeded
    sheared = deform(cell, jnp.array([[1.0, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    widths = perpendicular_widths(sheared.box)
    assert widths[1] < float(cell.box[1, 1])  # shear narrows the cell across y


def test_bad_input_raises_naming_the_argument():
    s = fcc(1.5496, 4)
    lj = LennardJones()
    # overlapping atoms
    x = np.asarray(s.positions).copy()
    x[1] = x[0] + 0.01
    with pytest.raises(ValueError, match="positions has overlapping atoms"):
        evaluate_checked(lj, x, s.box, s.species)
    # a box narrower than twice the cutoff
    small = fcc(1.5496, 3)
    with pytest.raises(ValueError, match="box is too small"):
        evaluate(lj, small.positions, small.box, small.species)
    # species of the wrong length, out of range, wrong dtype, or other elements
    with pytest.raises(ValueError, match="species must have shape"):
        evaluate(lj, s.positions, s.box, s.species[:-1])
    with pytest.raises(ValueError, match="species holds index 1"):
        evaluate(lj, s.positions, s.box, s.species.at[0].set(1))
    with pytest.raises(TypeError, match="species"):
        evaluate(lj, s.positions, s.box, s.species.astype(jnp.float32))
    copper = fcc(3.615, 4, symbol="Cu")
    with pytest.raises(ValueError, match="species mismatch"):
        run_md(ZhouEAM(("Ni", "Cu")), copper, NVE(0.1), 10, key=jax.random.key(0),
               kT_initial=0.01, observe_every=10)  # fmt: skip
    with pytest.raises(ValueError, match="species mismatch"):
        elastic_constants(StillingerWeber(), fcc(5.0, 2, symbol="Ge"))
    # shapes and sizes
    with pytest.raises((ValueError, TypeError), match="positions"):
        evaluate(lj, s.positions[:, :2], s.box, s.species)
    with pytest.raises(ValueError, match="box must have shape"):
        evaluate(lj, s.positions, s.box[:2], s.species)
    with pytest.raises(ValueError, match="box is singular"):
        check_structure(s.positions, jnp.zeros((3, 3)), s.species)
    with pytest.raises(ValueError, match="lattice_constant"):
        fcc(-1.0)
    with pytest.raises(ValueError, match="repeats"):
        fcc(1.0, (1, 0, 1))
    with pytest.raises(ValueError, match="fractions"):
        random_alloy(s, ("Cu", "Ni"), (0.5, 0.6), jax.random.key(0))
    with pytest.raises(ValueError, match="count"):
        random_vacancies(s, s.n_atoms, jax.random.key(0))
    with pytest.raises(ValueError, match="symbols"):
        ZhouEAM(("Cu", "Unobtainium"))


def evaluate_checked(potential, positions, box, species):
    """Evaluate after the full input check (overlaps included), as the drivers do."""
    from dmech.atomistic import check_inputs

    check_inputs(potential, positions, box, species)
    return evaluate(potential, jnp.asarray(positions), box, species)


def test_structure_is_a_pytree():
    s = fcc(1.5, 1)
    leaves = jax.tree_util.tree_leaves(s)
    assert len(leaves) == 3 and isinstance(s, Structure)
    doubled = jax.tree_util.tree_map(lambda x: 2 * x if x.dtype != jnp.int32 else x, s)
    np.testing.assert_allclose(doubled.box, 2 * s.box)
