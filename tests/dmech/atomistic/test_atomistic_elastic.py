"""Elastic constants by autodiff: Stillinger-Weber silicon against the published values and
against finite differences of the stress; internal relaxation; the Cauchy relation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.atomistic import (
    EV_PER_A3_TO_GPA,
    StillingerWeber,
    ZhouEAM,
    deform,
    diamond,
    elastic_constants,
    evaluate,
    fcc,
    relax_positions,
    to_voigt,
    voigt_strain_tensor,
)

# Cowley (1988), Phys. Rev. Lett. 60, 2379: the 0 K elastic constants of the original
# Stillinger-Weber silicon (as quoted in LAMMPS' examples/ELASTIC), GPa.
COWLEY_1988 = {"C11": 151.4, "C12": 76.4, "C44": 56.4}
A0 = 4 * 2 ** (1 / 6) * 2.0951 / np.sqrt(3)  # SW's diamond lattice constant, 5.43095 Å


@pytest.fixture(scope="module")
def silicon_constants():
    with jax.enable_x64(True):
        crystal = diamond(A0, 2, dtype=jnp.float64)
        result = elastic_constants(StillingerWeber(), crystal)
        return crystal, jax.tree_util.tree_map(np.asarray, result)


def test_stillinger_weber_matches_cowley_1988(silicon_constants):
    _, result = silicon_constants
    c = result.relaxed * EV_PER_A3_TO_GPA
    assert c[0, 0] == pytest.approx(COWLEY_1988["C11"], abs=0.1)
    assert c[0, 1] == pytest.approx(COWLEY_1988["C12"], abs=0.1)
    assert c[3, 3] == pytest.approx(COWLEY_1988["C44"], abs=0.1)
    # cubic symmetry, and internal relaxation softens only the shear C44 of diamond
    np.testing.assert_allclose(np.diag(c)[:3], c[0, 0], rtol=1e-10)
    np.testing.assert_allclose(c[[0, 0, 1], [1, 2, 2]], c[0, 1], rtol=1e-10)
    assert abs(c[0, 3]) < 1e-8 and abs(c[3, 4]) < 1e-8
    unrelaxed = result.unrelaxed * EV_PER_A3_TO_GPA
    assert unrelaxed[0, 0] == pytest.approx(c[0, 0], rel=1e-10)
    assert unrelaxed[3, 3] > 1.9 * c[3, 3]  # 109.8 GPa clamped-ion against 56.4 relaxed
    assert np.abs(result.stress).max() < 1e-10 and result.max_force < 1e-10


def test_unrelaxed_constants_are_the_stress_derivative(x64, silicon_constants):
    crystal, result = silicon_constants
    sw = StillingerWeber()
    stress = jax.jit(lambda x, box: to_voigt(evaluate(sw, x, box, crystal.species).stress))
    step = 1e-5
    for column in (0, 3):  # a normal and a shear strain (engineering γ)
        e = np.zeros(6)
        e[column] = step
        sides = []
        for sign in (1, -1):
            f = jnp.eye(3) + sign * voigt_strain_tensor(jnp.asarray(e))
            sides.append(np.asarray(stress(crystal.positions @ f.T, f @ crystal.box)))
        derivative = (sides[0] - sides[1]) / (2 * step)
        np.testing.assert_allclose(derivative, result.unrelaxed[:, column], rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_relaxed_c44_is_the_stress_derivative_after_relaxing_the_ions(x64, silicon_constants):
    crystal, result = silicon_constants
    sw = StillingerWeber()
    step = 2e-4
    sides = []
    for sign in (1, -1):
        e = np.zeros(6)
        e[3] = sign * step
        strained = deform(crystal, jnp.eye(3) + voigt_strain_tensor(jnp.asarray(e)))
        relaxed, residual = relax_positions(sw, strained, force_tolerance=1e-9, max_steps=20000)
        assert residual < 1e-9
        sides.append(to_voigt(evaluate(sw, relaxed.positions, relaxed.box, relaxed.species).stress))
    c44 = float(sides[0][3] - sides[1][3]) / (2 * step)
    assert c44 == pytest.approx(result.relaxed[3, 3], rel=1e-4)


@pytest.mark.slow
def test_fcc_needs_no_internal_relaxation(x64):
    copper = fcc(3.615, 4, symbol="Cu", dtype=jnp.float64)
    result = elastic_constants(ZhouEAM(("Cu",)), copper)
    np.testing.assert_allclose(result.relaxed, result.unrelaxed, rtol=1e-12)
    c = np.asarray(result.relaxed) * EV_PER_A3_TO_GPA
    # fitted to copper (experiment: 168.3, 122.1, 75.7 GPa)
    np.testing.assert_allclose([c[0, 0], c[0, 1], c[3, 3]], [169.6, 122.1, 75.7], rtol=0.01)
