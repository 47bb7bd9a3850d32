"""Extended-XYZ: our writer read by ASE, ASE's writer read by us, round trips."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.atomistic import (
    Frame,
    deform,
    fcc,
    random_alloy,
    rattle,
    read_extxyz,
    write_extxyz,
)


def _frame(key: int) -> Frame:
    s = random_alloy(fcc(3.6, 2, dtype=jnp.float64), ("Cu", "Ni"), (0.5, 0.5), jax.random.key(key))
    s = deform(rattle(s, 0.05, jax.random.key(key + 1)),
               jnp.array([[1.0, 0.05, 0.0], [0.0, 1.0, 0.02], [0.0, 0.0, 1.0]]))  # fmt: skip
    forces = jax.random.normal(jax.random.key(key + 2), (s.n_atoms, 3), jnp.float64)
    stress = jax.random.normal(jax.random.key(key + 3), (3, 3), jnp.float64)
    return Frame(s, jnp.asarray(-3.5 * s.n_atoms + key), forces, 0.5 * (stress + stress.T))


def test_round_trip_through_ase(x64, tmp_path):
    ase_io = pytest.importorskip("ase.io")
    frames = [_frame(0), _frame(10)]
    ours = tmp_path / "ours.xyz"
    write_extxyz(ours, frames)
    atoms = ase_io.read(ours, index=":")
    assert len(atoms) == 2
    for frame, a in zip(frames, atoms, strict=True):
        s = frame.structure
        np.testing.assert_allclose(a.cell[:], np.asarray(s.box).T, atol=1e-14)
        np.testing.assert_allclose(a.positions, s.positions, atol=1e-14)
        assert a.get_chemical_symbols() == s.chemical_symbols
        assert a.get_potential_energy() == pytest.approx(float(frame.energy), abs=1e-12)
        np.testing.assert_allclose(a.get_forces(), frame.forces, atol=1e-14)
        stress = np.asarray(frame.stress)
        np.testing.assert_allclose(
            a.get_stress(), [stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2],
                             stress[0, 2], stress[0, 1]], atol=1e-14,
        )  # fmt: skip
    theirs = tmp_path / "theirs.xyz"
    ase_io.write(theirs, atoms, format="extxyz")
    back = read_extxyz(theirs, dtype=jnp.float64)
    for frame, b in zip(frames, back, strict=True):
        assert b.structure.symbols == ("Cu", "Ni")
        np.testing.assert_array_equal(b.structure.species, frame.structure.species)
        np.testing.assert_allclose(b.structure.positions, frame.structure.positions, atol=1e-7)
        np.testing.assert_allclose(b.structure.box, frame.structure.box, atol=1e-7)
        np.testing.assert_allclose(b.forces, frame.forces, atol=1e-7)
        np.testing.assert_allclose(b.stress, frame.stress, atol=1e-7)
        assert float(b.energy) == pytest.approx(float(frame.energy))


def test_reader_handles_virial_voigt_stress_and_fixed_symbols(x64, tmp_path):
    path = tmp_path / "dft.xyz"
    path.write_text(
        "2\n"
        'Lattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3:force:R:3 '
        'energy=-7.5 virial="64 0 0 0 64 0 0 0 64" pbc="T T T"\n'
        "Ni 0 0 0 0.1 0 0\nCu 2 2 2 -0.1 0 0\n"
        "2\n"
        'Lattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3 '
        'stress="1 2 3 4 5 6" pbc="T T T"\n'
        "Cu 0 0 0\nCu 2 2 2\n"
    )
    frames = read_extxyz(path, symbols=("Cu", "Ni"), dtype=jnp.float64)
    assert frames[0].structure.chemical_symbols == ["Ni", "Cu"]
    np.testing.assert_allclose(frames[0].stress, -np.eye(3))  # -virial / V
    np.testing.assert_allclose(frames[0].forces[:, 0], [0.1, -0.1])
    np.testing.assert_allclose(frames[1].stress, [[1, 6, 5], [6, 2, 4], [5, 4, 3]])
    assert frames[1].energy is None and frames[1].forces is None
    with pytest.raises(ValueError, match="not in symbols"):
        read_extxyz(path, symbols=("Cu",))
    path.write_text('3\nLattice="1 0 0 0 1 0 0 0 1"\nCu 0 0 0\n')
    with pytest.raises(ValueError, match="ends inside the frame"):
        read_extxyz(path)
