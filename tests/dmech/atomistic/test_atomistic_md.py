"""MD drivers: energy conservation, thermostats and barostat, observables, blow-ups."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.atomistic import (
    BOLTZMANN_EV_PER_K,
    FEMTOSECOND,
    NVE,
    LennardJones,
    MDBlowUpError,
    NPTNoseHoover,
    NVTLangevin,
    NVTNoseHoover,
    StillingerWeber,
    ZhouEAM,
    diamond,
    fcc,
    random_alloy,
    read_extxyz,
    run_md,
    write_trajectory,
)


def _drift_per_atom(result, n_atoms, steps):
    """|E(end) - E(start)| and the linear-fit drift over ``steps`` steps, per atom."""
    total = result.observables.total_energy / n_atoms
    slope = np.polyfit(result.observables.step, total, 1)[0]
    return abs(total[-1] - total[0]), abs(slope) * steps


def test_nve_conserves_energy_lennard_jones():
    # LJ fcc (a = 1.5496σ, r_c = 2.5σ shifted) from k_B T = 0.5 (it settles near 0.25)
    crystal = fcc(1.5496, 4)
    steps = 2000
    result = run_md(LennardJones(), crystal, NVE(0.005), steps, key=jax.random.key(0),
                    kT_initial=0.5, observe_every=100, chunk_steps=1000)  # fmt: skip
    end_to_end, drift = _drift_per_atom(result, crystal.n_atoms, 10_000)
    assert end_to_end < 1e-4 and drift < 1e-4  # drift extrapolated to 10k steps
    assert 0.2 < result.observables.temperature[-1] < 0.3


@pytest.mark.slow
def test_nve_energy_drift_below_1e_minus_4_per_atom_over_10k_steps(x64):
    crystal = fcc(1.5496, 4, dtype=jnp.float64)
    result = run_md(LennardJones(), crystal, NVE(0.005), 10_000, key=jax.random.key(0),
                    kT_initial=0.5, observe_every=100, chunk_steps=5000)  # fmt: skip
    end_to_end, drift = _drift_per_atom(result, crystal.n_atoms, 10_000)
    assert end_to_end < 1e-4 and drift < 1e-4


def test_langevin_reaches_the_target_temperature():
    result = run_md(LennardJones(), fcc(1.5496, 4), NVTLangevin(0.005, 0.3, friction=2.0),
                    2000, key=jax.random.key(1), kT_initial=0.05)  # fmt: skip
    mean = np.mean(result.observables.temperature[10:])
    assert mean == pytest.approx(0.3, rel=0.05)


@pytest.mark.slow
def test_nose_hoover_and_npt():
    crystal = fcc(1.5496, 4)
    nh = run_md(LennardJones(), crystal, NVTNoseHoover(0.005, 0.3, tau=0.5), 4000,
                key=jax.random.key(2), kT_initial=0.3)  # fmt: skip
    assert np.mean(nh.observables.temperature[20:]) == pytest.approx(0.3, rel=0.05)
    conserved = nh.observables.conserved / crystal.n_atoms
    assert np.ptp(conserved) < 2e-3
    npt = run_md(LennardJones(), crystal, NPTNoseHoover(0.005, 0.3, pressure=1.0), 6000,
                 key=jax.random.key(3), kT_initial=0.3)  # fmt: skip
    assert np.mean(npt.observables.pressure[30:]) == pytest.approx(1.0, abs=0.3)
    assert np.std(npt.observables.volume) > 0  # the box moves


def test_blowup_is_detected_with_its_step():
    crystal = fcc(1.5496, 4)
    with pytest.raises(MDBlowUpError, match="blew up at step") as caught:
        run_md(LennardJones(), crystal, NVE(0.05), 400, key=jax.random.key(0), kT_initial=50.0,
               observe_every=10, chunk_steps=100, max_kT=1e4, skin=0.0)  # fmt: skip
    assert 0 < caught.value.step <= 400
    result = run_md(LennardJones(), crystal, NVE(0.05), 400, key=jax.random.key(0),
                    kT_initial=50.0, observe_every=10, chunk_steps=100, max_kT=1e4, skin=0.0,
                    throw=False)  # fmt: skip
    assert result.blowup_step == caught.value.step
    assert len(result.observables.step) < 40


def test_observables_rdf_msd_and_trajectory(tmp_path):
    crystal = fcc(1.5496, 4)
    result = run_md(LennardJones(), crystal, NVTLangevin(0.005, 0.2), 400,
                    key=jax.random.key(4), observe_every=50, rdf_bins=50,
                    keep_trajectory=True)  # fmt: skip
    r, g = result.rdf_r, result.rdf
    assert r is not None and g is not None
    assert r[np.argmax(g)] == pytest.approx(1.5496 / np.sqrt(2), abs=0.1)  # nearest neighbours
    assert np.all(g[r < 0.8] == 0)
    msd = result.observables.msd
    assert np.all(msd > 0) and msd[-1] < 0.1  # a solid: atoms rattle in place
    assert result.trajectory.shape == (8, crystal.n_atoms, 3)
    path = tmp_path / "traj.xyz"
    assert write_trajectory(path, result) == 8
    frames = read_extxyz(path)
    np.testing.assert_allclose(frames[-1].structure.positions, result.trajectory[-1], atol=1e-5)


def test_any_potential_runs_stillinger_weber():
    si = diamond(5.431, 2)
    kT = 300 * BOLTZMANN_EV_PER_K
    result = run_md(StillingerWeber(), si, NVE(1.0 * FEMTOSECOND), 500, key=jax.random.key(5),
                    kT_initial=2 * kT, observe_every=50)  # fmt: skip
    total = result.observables.total_energy / si.n_atoms
    assert np.ptp(total) < 1e-4  # eV per atom
    assert result.observables.temperature[-1] == pytest.approx(kT, rel=0.5)


@pytest.mark.slow
def test_any_potential_runs_zhou_eam():
    alloy = random_alloy(fcc(3.57, 4), ("Cu", "Ni"), (0.5, 0.5), jax.random.key(6))
    result = run_md(ZhouEAM(("Cu", "Ni")), alloy, NVE(2.0 * FEMTOSECOND), 1000,
                    key=jax.random.key(7), kT_initial=2 * 600 * BOLTZMANN_EV_PER_K)  # fmt: skip
    assert np.ptp(result.observables.total_energy / alloy.n_atoms) < 2e-4


def test_bad_md_input_raises():
    crystal = fcc(1.5496, 4)
    with pytest.raises(ValueError, match="multiple of observe_every"):
        run_md(LennardJones(), crystal, NVE(0.005), 150, key=jax.random.key(0), kT_initial=0.1)
    with pytest.raises(ValueError, match="kT_initial is required"):
        run_md(LennardJones(), crystal, NVE(0.005), 100, key=jax.random.key(0))
    with pytest.raises(ValueError, match="`dt` must be finite and a positive number"):
        NVE(0.0)
    with pytest.raises(ValueError, match="`kT` must be finite and a positive number"):
        NVTLangevin(0.005, -1.0)
