"""Classical potentials: closed forms, published values, peers (jax-md, ASE, a direct
transcription of the EAM paper), forces and stresses against finite differences."""

import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.atomistic import (
    EV_PER_A3_TO_GPA,
    ZHOU_2004_PARAMETERS,
    LennardJones,
    NeighborListBuilder,
    StillingerWeber,
    ZhouEAM,
    deform,
    diamond,
    elastic_constants,
    evaluate,
    fcc,
    random_alloy,
    rattle,
    stress,
)
from dmech.testing import assert_no_recompile, check_grad


def _fcc_lattice_vectors(radius: float) -> np.ndarray:
    """Every fcc lattice vector (cubic lattice constant 1) shorter than ``radius``."""
    n = math.ceil(2 * radius) + 1
    grid = np.array(list(itertools.product(range(-n, n + 1), repeat=3)))
    points = grid[np.sum(grid, axis=1) % 2 == 0] / 2.0
    length = np.linalg.norm(points, axis=1)
    return points[(length > 0) & (length < radius)]


def _lj_closed_form(cutoff: float):
    """fcc LJ (σ = ε = 1, energy-shifted at the cutoff) at 0 K from lattice sums over the
    shells inside the cutoff: a₀ = (2 T₁₂ / T₆)^{1/6}, the energy per atom and the Born
    elastic constants C_ijkl = (1/2Ω) Σ_R (φ'' - φ'/R) R_i R_j R_k R_l / R²."""
    a = 1.55
    for _ in range(20):  # the shells inside the cutoff depend on a: iterate to a fixed point
        rho = _fcc_lattice_vectors(cutoff / a)
        length = np.linalg.norm(rho, axis=1)
        t6, t12 = np.sum(length**-6), np.sum(length**-12)
        a_new = (2 * t12 / t6) ** (1 / 6)
        if abs(a_new - a) < 1e-15:
            break
        a = a_new
    shift = 4 * (cutoff**-12 - cutoff**-6)
    energy = 2 * (t12 * a**-12 - t6 * a**-6) - 0.5 * len(rho) * shift
    r_vec = rho * a
    r = np.linalg.norm(r_vec, axis=1)
    weight = 4 * (168 * r**-16 - 48 * r**-10)  # (φ'' - φ'/r) / r² for φ = 4(r⁻¹² - r⁻⁶)
    omega = a**3 / 4

    def c(i, j, k, m):
        return np.sum(weight * r_vec[:, i] * r_vec[:, j] * r_vec[:, k] * r_vec[:, m]) / (2 * omega)

    return a, energy, c(0, 0, 0, 0), c(0, 0, 1, 1), c(1, 2, 1, 2)


def test_lennard_jones_fcc_matches_lattice_sums(x64):
    a_ref, energy_ref, c11_ref, c12_ref, c44_ref = _lj_closed_form(2.5)
    lj = LennardJones(cutoff=2.5)
    crystal = fcc(1.0, 4, dtype=jnp.float64)

    def energy(a):
        return lj(crystal.positions * a, crystal.box * a, crystal.species) / crystal.n_atoms

    a = 1.55
    gradient, curvature = jax.jit(jax.grad(energy)), jax.jit(jax.grad(jax.grad(energy)))
    for _ in range(8):  # Newton on dE/da = 0
        a -= float(gradient(a)) / float(curvature(a))
    assert a == pytest.approx(a_ref, rel=1e-12)
    assert float(energy(a)) == pytest.approx(energy_ref, rel=1e-12)
    c = np.asarray(elastic_constants(lj, fcc(a, 4, dtype=jnp.float64)).relaxed)
    np.testing.assert_allclose([c[0, 0], c[0, 1], c[3, 3]], [c11_ref, c12_ref, c44_ref], rtol=1e-9)
    assert c[0, 1] == pytest.approx(c[3, 3], rel=1e-9)  # the Cauchy relation of pair potentials
    # the untruncated lattice sums (A₆ = 14.45392, A₁₂ = 12.13188; Kittel ch. 3) are near
    assert a_ref / np.sqrt(2) == pytest.approx((2 * 12.13188 / 14.45392) ** (1 / 6), rel=1e-2)


def _rattled(builder, a, repeats, key=0, amplitude=0.05, **kwargs):
    crystal = builder(a, repeats, dtype=jnp.float64, **kwargs)
    return rattle(crystal, amplitude, jax.random.key(key))


def test_lennard_jones_matches_ase(x64):
    ase = pytest.importorskip("ase")
    from ase.calculators.lj import LennardJones as AseLJ

    s = deform(_rattled(fcc, 1.6, 4), jnp.array([[1.0, 0.03, 0.0], [0.0, 1.0, 0.0], [0, 0, 1.0]]))
    atoms = ase.Atoms("Ar" * s.n_atoms, positions=np.asarray(s.positions),
                      cell=np.asarray(s.box).T, pbc=True)  # fmt: skip
    atoms.calc = AseLJ(sigma=1.0, epsilon=1.0, rc=2.5, smooth=False)
    result = evaluate(LennardJones(cutoff=2.5), s.positions, s.box, s.species)
    assert float(result.energy) == pytest.approx(atoms.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(result.forces, atoms.get_forces(), atol=1e-11)
    voigt = atoms.get_stress()  # xx yy zz yz xz xy, (1/V) dE/dε
    ours = np.asarray(result.stress)
    np.testing.assert_allclose(
        [ours[0, 0], ours[1, 1], ours[2, 2], ours[1, 2], ours[0, 2], ours[0, 1]], voigt,
        atol=1e-12,
    )  # fmt: skip


def test_stillinger_weber_matches_paper_and_jax_md(x64):
    from dmech.atomistic._jax_md import energy as jmd_energy
    from dmech.atomistic._jax_md import space

    sw = StillingerWeber()
    # diamond Si: nearest neighbours at 2^{1/6} σ, energy -2ε per atom (SW 1985)
    a0 = 4 * 2 ** (1 / 6) * 2.0951 / np.sqrt(3)
    crystal = diamond(a0, 2, dtype=jnp.float64)
    per_atom = float(sw(crystal.positions, crystal.box, crystal.species)) / crystal.n_atoms
    assert per_atom == pytest.approx(-2 * 50 * 4.184 / 96.48533212, rel=1e-10)
    # jax-md's implementation: the same reduced parameters, ε = 2.16826 eV (2.5e-5 above
    # 50 kcal/mol); with ε set equal the energies and forces agree
    s = _rattled(diamond, 5.431, 2, key=3, amplitude=0.1)
    displacement, _ = space.periodic_general(s.box, fractional_coordinates=False)
    with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
        reference = jmd_energy.stillinger_weber(displacement, epsilon=float(sw.epsilon))
        e_ref = float(reference(s.positions))
        f_ref = np.asarray(-jax.grad(reference)(s.positions))
    result = evaluate(sw, s.positions, s.box, s.species)
    assert float(result.energy) == pytest.approx(e_ref, rel=1e-8)
    np.testing.assert_allclose(result.forces, f_ref, atol=1e-6)
    defaults = jmd_energy.stillinger_weber.__defaults__
    assert defaults[:7] == (2.0951, 7.049556277, 0.6022245584, 21.0, 1.2, 2.16826, 1.0)
    assert float(sw.epsilon) == pytest.approx(2.168206, abs=1e-6)


def _zhou_eam_direct(positions, cell, symbols, elements, cutoff, onset):
    """The EAM energy transcribed from Zhou, Johnson and Wadley (2004), Eqs. (1)-(5), with
    plain loops over atoms and images (independent of the vectorised implementation)."""
    par = {e: ZHOU_2004_PARAMETERS[e] for e in elements}

    def taper(r):
        x = min(max((r - onset) / (cutoff - onset), 0.0), 1.0)
        return 1 - 10 * x**3 + 15 * x**4 - 6 * x**5

    def f(e, r):
        p = par[e]
        return (
            p["fe"]
            * math.exp(-p["beta"] * (r / p["re"] - 1))
            / (1 + (r / p["re"] - p["lam"]) ** 20)
        )

    def phi(e, r):
        p = par[e]
        x = r / p["re"]
        return p["A"] * math.exp(-p["alpha"] * (x - 1)) / (1 + (x - p["kappa"]) ** 20) - p[
            "B"
        ] * math.exp(-p["beta"] * (x - 1)) / (1 + (x - p["lam"]) ** 20)

    def embed(e, rho):
        p = par[e]
        rn, r0 = 0.85 * p["rhoe"], 1.15 * p["rhoe"]
        if rho < rn:
            return sum(p[f"Fn{i}"] * (rho / rn - 1) ** i for i in range(4))
        if rho < r0:
            return sum(p[f"F{i}"] * (rho / p["rhoe"] - 1) ** i for i in range(4))
        return p["Fe"] * (1 - p["eta"] * math.log(rho / p["rhos"])) * (rho / p["rhos"]) ** p["eta"]

    n = len(positions)
    inverse = np.linalg.inv(cell)
    total = 0.0
    for i in range(n):
        rho = 0.0
        for j in range(n):
            if i == j:
                continue
            ds = inverse @ (positions[j] - positions[i])
            r = float(np.linalg.norm(cell @ (ds - np.round(ds))))
            if r >= cutoff:
                continue
            a, b = symbols[i], symbols[j]
            rho += taper(r) * f(b, r)
            pair = 0.5 * (f(b, r) / f(a, r) * phi(a, r) + f(a, r) / f(b, r) * phi(b, r))
            total += 0.5 * taper(r) * pair
        total += embed(symbols[i], rho)
    return total


def test_zhou_eam_matches_the_paper(x64):
    eam = ZhouEAM(("Cu", "Ni"))
    # fitted lattice constants √2 r_e and cohesive energies (Cu 3.54, Ni 4.45 eV)
    for element, cohesive in (("Cu", 3.54), ("Ni", 4.45)):
        pure = ZhouEAM((element,))
        a0 = np.sqrt(2) * ZHOU_2004_PARAMETERS[element]["re"]
        crystal = fcc(a0, 4, symbol=element, dtype=jnp.float64)
        result = evaluate(pure, crystal.positions, crystal.box, crystal.species)
        assert float(result.energy) / crystal.n_atoms == pytest.approx(-cohesive, abs=2e-3)
        assert np.abs(np.asarray(result.stress)).max() * EV_PER_A3_TO_GPA < 0.05  # ~equilibrium
    alloy = rattle(
        random_alloy(fcc(3.57, 4, dtype=jnp.float64), ("Cu", "Ni"), (0.5, 0.5), jax.random.key(1)),
        0.08,
        jax.random.key(2),
    )
    ours = float(eam(alloy.positions, alloy.box, alloy.species))
    direct = _zhou_eam_direct(
        np.asarray(alloy.positions), np.asarray(alloy.box),
        [alloy.symbols[int(s)] for s in alloy.species], ("Cu", "Ni"), 6.0, 5.5,
    )  # fmt: skip
    assert ours == pytest.approx(direct, rel=1e-12)


# Finite differences need smooth energies: the force-shifted LJ (the energy-shifted one has a
# force jump at the cutoff), and an alloy whose densities stay clear of ρ₀ = 1.15 ρ_e, where
# the published embedding function jumps by ~1e-5 eV (Zhou et al. 2004).
_CASES = {
    "lj": lambda: (LennardJones(cutoff=2.5, shift="force"), _rattled(fcc, 1.6, 4)),
    "sw": lambda: (StillingerWeber(), _rattled(diamond, 5.431, 2, amplitude=0.1)),
    "eam": lambda: (
        ZhouEAM(("Cu", "Ni")),
        rattle(
            random_alloy(
                fcc(3.66, 4, dtype=jnp.float64), ("Cu", "Ni"), (0.5, 0.5), jax.random.key(4)
            ),
            0.03,
            jax.random.key(5),
        ),
    ),
}


_SLOW_EAM = [pytest.param("eam", marks=pytest.mark.slow), "lj", "sw"]


@pytest.mark.parametrize("name", _SLOW_EAM)
def test_forces_and_stress_against_finite_differences(x64, name):
    potential, s = _CASES[name]()
    # a triclinic cell: shear the structure
    s = deform(s, jnp.array([[1.0, 0.02, -0.01], [0.0, 1.0, 0.015], [0.0, 0.0, 1.0]]))
    builder = NeighborListBuilder(potential.cutoff, skin=0.2)
    neighbors = builder.allocate(s.positions, s.box)
    result = evaluate(potential, s.positions, s.box, s.species, neighbors)
    plain = evaluate(potential, s.positions, s.box, s.species)
    assert float(result.energy) == pytest.approx(float(plain.energy), rel=1e-12)
    np.testing.assert_allclose(result.forces, plain.forces, atol=1e-10)
    # forces: minus the gradient, checked along random directions by central differences
    check_grad(lambda x: potential(x, s.box, s.species, neighbors), s.positions, eps=1e-4)
    step = 1e-5
    x = np.asarray(s.positions)
    for atom, axis in ((0, 0), (7, 2)):
        shifted = [x.copy(), x.copy()]
        shifted[0][atom, axis] += step
        shifted[1][atom, axis] -= step
        e_plus, e_minus = (float(potential(jnp.asarray(y), s.box, s.species)) for y in shifted)
        assert -(e_plus - e_minus) / (2 * step) == pytest.approx(
            float(result.forces[atom, axis]), rel=1e-6, abs=1e-8
        )
    # stress: the strain derivative of the energy per volume, each component
    volume = abs(float(jnp.linalg.det(s.box)))
    for i, j in ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)):
        strain = np.zeros((3, 3))
        strain[i, j] = strain[j, i] = step
        energies = []
        for sign in (1, -1):
            f = jnp.eye(3) + sign * jnp.asarray(strain)
            energies.append(float(potential(s.positions @ f.T, f @ s.box, s.species)))
        derivative = (energies[0] - energies[1]) / (2 * step) / volume
        factor = 1.0 if i == j else 2.0  # a symmetric shear strain moves both σ_ij and σ_ji
        assert derivative == pytest.approx(factor * float(result.stress[i, j]), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(
    "name",
    ["lj", pytest.param("sw", marks=pytest.mark.slow), pytest.param("eam", marks=pytest.mark.slow)],
)
def test_parameter_gradients(x64, name):
    potential, s = _CASES[name]()
    check_grad(lambda p: p(s.positions, s.box, s.species), potential, eps=1e-5)


def test_sparse_neighbor_list_and_orthorhombic_box(x64):
    lj = LennardJones(cutoff=2.5)
    s = _rattled(fcc, 1.6, 4)
    sparse = NeighborListBuilder(2.5, skin=0.3, format="sparse").allocate(s.positions, s.box)
    reference = evaluate(lj, s.positions, s.box, s.species)
    for box, neighbors in ((s.box, sparse), (jnp.diag(s.box), None)):
        result = evaluate(lj, s.positions, box, s.species, neighbors)
        assert float(result.energy) == pytest.approx(float(reference.energy), rel=1e-12)
        np.testing.assert_allclose(result.forces, reference.forces, atol=1e-10)
        np.testing.assert_allclose(result.stress, reference.stress, atol=1e-12)
    sw = StillingerWeber()
    si = _rattled(diamond, 5.431, 2)
    sparse_si = NeighborListBuilder(sw.cutoff, format="sparse").allocate(si.positions, si.box)
    with pytest.raises(ValueError, match="dense"):
        sw(si.positions, si.box, si.species, sparse_si)


def test_dtype_follows_input_and_new_parameters_do_not_recompile():
    s = rattle(fcc(1.6, 4), 0.05, jax.random.key(0))
    result = evaluate(LennardJones(), s.positions, s.box, s.species)
    assert result.energy.dtype == jnp.float32 and result.forces.dtype == jnp.float32
    energy = eqx.filter_jit(lambda p, x: p(x, s.box, s.species))
    assert_no_recompile(
        energy, (LennardJones(1.0, 1.0), s.positions), (LennardJones(1.05, 0.9), s.positions + 0.01)
    )


@pytest.mark.slow
def test_vmap_over_configurations_matches_a_loop():  # float32
    lj = LennardJones()
    base = fcc(1.6, 4)
    batch = jnp.stack([rattle(base, 0.05, jax.random.key(k)).positions for k in range(3)])
    energies = jax.vmap(lambda x: lj(x, base.box, base.species))(batch)
    loop = jnp.stack([lj(x, base.box, base.species) for x in batch])
    np.testing.assert_allclose(energies, loop, rtol=1e-6)
    stresses = jax.vmap(lambda x: stress(lj, x, base.box, base.species))(batch)
    assert stresses.shape == (3, 3, 3)
