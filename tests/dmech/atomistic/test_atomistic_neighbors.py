"""Neighbour lists: complete pair sets, overflow repaired outside jit and reported inside."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.atomistic import (
    NVE,
    LennardJones,
    NeighborListBuilder,
    deform,
    fcc,
    neighbor_list_overflowed,
    rattle,
    run_md,
)


def _brute_force_pairs(positions, box, cutoff):
    x = np.asarray(positions, np.float64)
    cell = np.asarray(box, np.float64)
    inverse = np.linalg.inv(cell)
    pairs = set()
    for i, j in itertools.combinations(range(len(x)), 2):
        ds = inverse @ (x[j] - x[i])
        if np.linalg.norm(cell @ (ds - np.round(ds))) < cutoff:
            pairs.add((i, j))
    return pairs


def _listed_pairs(neighbors, n):
    idx = np.asarray(neighbors.idx)
    return {(min(i, int(j)), max(i, int(j))) for i in range(n) for j in idx[i] if j < n}


@pytest.mark.parametrize("sheared", [False, True])
def test_dense_list_holds_every_pair_within_the_cutoff(sheared):
    s = rattle(fcc(1.6, 4), 0.1, jax.random.key(0))
    if sheared:  # a triclinic (upper-triangular) cell
        s = deform(s, jnp.array([[1.0, 0.05, 0.02], [0.0, 1.0, 0.03], [0.0, 0.0, 1.0]]))
    builder = NeighborListBuilder(2.5, skin=0.2)
    neighbors = builder.allocate(s.positions, s.box)
    listed = _listed_pairs(neighbors, s.n_atoms)
    required = _brute_force_pairs(s.positions, s.box, 2.5)
    assert required <= listed  # every pair inside the cutoff (the skin adds more)
    assert listed <= _brute_force_pairs(s.positions, s.box, 2.7 + 1e-6)


def test_overflow_reallocates_outside_jit_and_is_reported_inside():
    s = fcc(1.6, 4)
    builder = NeighborListBuilder(2.5, skin=0.2, capacity_multiplier=1.0)
    neighbors = builder.allocate(s.positions, s.box)
    # crowd the atoms: compress one half of the cell towards the other
    x = np.asarray(s.positions).copy()
    x[:, 0] = np.where(x[:, 0] < 3.2, 0.8 * x[:, 0], x[:, 0])
    crowded = jnp.asarray(x)
    # inside jit: the overflow is flagged, never silent
    flagged = jax.jit(lambda nbrs, x: builder.update(nbrs, x, s.box))(neighbors, crowded)
    assert bool(neighbor_list_overflowed(flagged))
    # outside jit: the list reallocates itself and is complete
    repaired = builder.update(neighbors, crowded, s.box)
    assert builder.reallocations == 1 and not bool(neighbor_list_overflowed(repaired))
    assert repaired.idx.shape[1] > neighbors.idx.shape[1]
    lj = LennardJones()
    assert float(lj(crowded, s.box, s.species, repaired)) == pytest.approx(
        float(lj(crowded, s.box, s.species)), rel=1e-6
    )


@pytest.mark.slow
def test_md_driver_reallocates_and_redoes_the_chunk():
    crystal = fcc(1.6796, 4)  # the LAMMPS lj density
    lj = LennardJones()
    start = run_md(lj, crystal, NVE(0.005), 10, key=jax.random.key(0), kT_initial=0.1,
                   observe_every=10)  # fmt: skip
    # squeeze the atoms towards the middle of the cell: their neighbour counts grow past the
    # list's capacity during the next run
    middle = 0.5 * jnp.diag(crystal.box)
    squeeze = start.state.set(momentum=-0.5 * (start.state.position - middle[None, :]))
    runs = [
        run_md(lj, start.structure, NVE(0.005), 200, key=jax.random.key(1), state=squeeze,
               capacity_multiplier=1.0, skin=skin, observe_every=50, chunk_steps=100)
        for skin in (0.3, 0.0)  # with a list; all pairs
    ]  # fmt: skip
    assert runs[0].neighbor_reallocations >= 1
    # the repaired run computed the same forces as all pairs: the same trajectory up to
    # round-off
    np.testing.assert_allclose(
        runs[0].observables.total_energy, runs[1].observables.total_energy, rtol=1e-4
    )
