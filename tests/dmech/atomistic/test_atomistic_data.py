"""Reference datasets: seeded, cached with a card, labels equal to the potential's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.atomistic import (
    REFERENCE_SYSTEMS,
    dataset_frames,
    evaluate,
    read_extxyz,
    reference_dataset,
    reference_potential,
    write_extxyz,
)
from dmech.data import read_card

_SMALL = {
    "temperatures": (600.0,),
    "strains": (),
    "vacancies": (),
    "liquid": False,
    "frames_per_condition": 2,
    "sample_every": 10,
    "equilibration_steps": 20,
    "progress": False,
}


def test_reference_dataset_is_cached_and_labelled(tmp_path, monkeypatch):
    monkeypatch.setenv("DMECH_CACHE_DIR", str(tmp_path))
    data = reference_dataset("silicon", **_SMALL)
    assert data["n_atoms"].tolist() == [64, 64] and data["positions"].shape == (128, 3)
    assert data["kind"].tolist() == [0, 0] and data["temperature"].tolist() == [600.0, 600.0]
    files = list((tmp_path / "atomistic" / "reference").glob("silicon_*.dmech"))
    assert len(files) == 1
    card = read_card(files[0])
    assert card.generator == "dmech.atomistic.reference_dataset"
    assert card.params["temperatures"] == [600.0] and card.params["seed"] == 0
    # a second call loads the file instead of generating
    import dmech.atomistic._reference_data as module

    monkeypatch.setattr(module, "_generate", lambda *a: pytest.fail("regenerated"))
    again = reference_dataset("silicon", **_SMALL)
    for name in data:
        np.testing.assert_array_equal(again[name], data[name])
    # the labels are the potential's energies, forces and stresses (float64)
    frames = dataset_frames(data, REFERENCE_SYSTEMS["silicon"]["symbols"])
    with jax.enable_x64(True):
        sw = reference_potential("silicon")
        positions = jnp.asarray(data["positions"][64:])  # float64 as stored
        result = evaluate(sw, positions, jnp.asarray(data["box"][1]), frames[1].structure.species)
        assert float(result.energy) == pytest.approx(float(data["energy"][1]), rel=1e-12)
        np.testing.assert_allclose(result.forces, data["forces"][64:], atol=1e-10)
        np.testing.assert_allclose(result.stress, data["stress"][1], atol=1e-12)
    # a thermalised crystal: energies above the 0 K -4.3364 eV/atom, forces non-zero
    per_atom = data["energy"] / data["n_atoms"]
    assert np.all(per_atom > -4.34) and np.all(per_atom < -4.2)
    path = tmp_path / "silicon.xyz"
    write_extxyz(path, frames)
    assert len(read_extxyz(path)) == 2


@pytest.mark.slow
def test_reference_dataset_covers_every_condition(tmp_path, monkeypatch):
    monkeypatch.setenv("DMECH_CACHE_DIR", str(tmp_path))
    settings = dict(_SMALL, strains=(0.02,), vacancies=(1,), liquid=True)
    data = reference_dataset("silicon", **settings)
    assert sorted(set(data["kind"].tolist())) == [0, 1, 2, 3]
    per_atom = data["energy"] / data["n_atoms"]
    liquid = per_atom[data["kind"] == 3]
    assert np.all(liquid > -3.9)  # SW liquid lies ~0.6 eV/atom above the crystal
    assert np.all(data["n_atoms"][data["kind"] == 2] == 63)
    strained = data["strain"][data["kind"] == 1]
    assert np.abs(strained).max() == pytest.approx(0.02, rel=0.3)
    again = reference_dataset("silicon", **settings, cache=False)
    np.testing.assert_allclose(again["energy"], data["energy"])  # seeded


def test_bad_dataset_arguments():
    with pytest.raises(ValueError, match="system must be one of"):
        reference_dataset("unobtainium")
    with pytest.raises(ValueError, match="frames_per_condition"):
        reference_dataset("silicon", frames_per_condition=0, cache=False)
