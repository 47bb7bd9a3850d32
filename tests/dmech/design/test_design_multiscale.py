"""The multiscale bridge: atomistic stiffness to a dmech.fem material (rotation, plane
strain/stress reductions against closed forms), the cantilever against beam theory in two
crystal orientations, and the gradient of the continuum compliance with respect to a
polynomial potential's coefficients against central differences."""

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
    StillingerWeber,
    deform,
    diamond,
    elastic_constants,
    evaluate,
    fit_polynomial_potential,
    make_dataset,
    rattle,
)
from dmech.design import (
    cantilever,
    continuum_stiffness,
    crystal_frame,
    multiscale_compliance,
    rotate_stiffness,
)
from dmech.fem import isotropic_elasticity

# Cowley (1988): Stillinger-Weber silicon, relaxed, GPa
C11, C12, C44 = 151.4, 76.4, 56.4


def _cubic(c11, c12, c44, dtype=jnp.float64):
    c = np.zeros((6, 6))
    c[:3, :3] = c12
    c[np.arange(3), np.arange(3)] = c11
    c[np.arange(3, 6), np.arange(3, 6)] = c44
    return jnp.asarray(c, dtype)


def test_isotropic_reductions_match_fem(x64):
    e, nu = 130.0, 0.28
    c3 = isotropic_elasticity(e, nu, dim=3)
    rotation = crystal_frame((1, 2, 2), (2, 1, -2))  # any rotation leaves it unchanged
    for plane in ("strain", "stress"):
        reduced = continuum_stiffness(c3, plane=plane, rotation=rotation, scale=1.0)
        expected = isotropic_elasticity(e, nu, dim=2, plane=plane)
        np.testing.assert_allclose(reduced, expected, rtol=1e-12, atol=1e-10)
    full = continuum_stiffness(c3, dim=3, plane=None, rotation=rotation, scale=2.0)
    np.testing.assert_allclose(full, 2.0 * c3, rtol=1e-12, atol=1e-10)


def test_cubic_rotated_by_45_degrees_has_the_closed_form(x64):
    c = _cubic(C11, C12, C44)
    rotated = rotate_stiffness(c, crystal_frame((1, 1, 0), (-1, 1, 0)))
    # Nye (1985): axes along [110], [-110], [001]
    mean = (C11 + C12) / 2
    np.testing.assert_allclose(rotated[0, 0], mean + C44, rtol=1e-12)
    np.testing.assert_allclose(rotated[0, 1], mean - C44, rtol=1e-12)
    np.testing.assert_allclose(rotated[5, 5], (C11 - C12) / 2, rtol=1e-12)
    np.testing.assert_allclose(rotated[2, 2], C11, rtol=1e-12)
    np.testing.assert_allclose(rotated[0, 2], C12, rtol=1e-12)
    np.testing.assert_allclose(rotated, rotated.T, atol=1e-12)
    back = rotate_stiffness(rotated, crystal_frame((1, 1, 0), (-1, 1, 0)).T)
    np.testing.assert_allclose(back, c, atol=1e-11)
    # plane stress: 1/E' is the in-plane compliance S_11 of the full 3D inverse
    plane_stress = continuum_stiffness(c, plane="stress", scale=1.0)
    s = np.linalg.inv(np.asarray(c))
    assert 1 / np.linalg.inv(np.asarray(plane_stress))[0, 0] == pytest.approx(1 / s[0, 0])


@pytest.mark.parametrize("x_direction", [(1, 0, 0), (1, 1, 0)])
def test_cantilever_follows_beam_theory_in_each_orientation(x64, x_direction):
    length, height, load = 20.0, 1.0, 1e-3
    part = cantilever(length, height, nx=80, ny=4, dtype=jnp.float64)
    y_direction = (0, 1, 0) if x_direction == (1, 0, 0) else (-1, 1, 0)
    reduced = continuum_stiffness(_cubic(C11, C12, C44), scale=1.0,
                                  rotation=crystal_frame(x_direction, y_direction))  # fmt: skip
    compliance = np.linalg.inv(np.asarray(reduced))
    bending = load * length**3 * compliance[0, 0] / (3 * height**3 / 12)
    shear = load * length * compliance[2, 2] / (5 / 6 * height)  # Timoshenko, κ = 5/6
    result = part.solve(reduced, load)
    assert float(part.tip_deflection(result)) == pytest.approx(bending + shear, rel=5e-3)
    # compliance fᵀu equals the work of the tip load (uniform traction: mean deflection)
    assert float(result.compliance()) == pytest.approx(load * (bending + shear), rel=5e-3)


@pytest.fixture(scope="module")
def small_silicon_potential():
    """A small polynomial potential (first neighbours only: cutoff 2.6 Å, so that the 8-atom
    cubic cell is wide enough) fitted to Stillinger-Weber silicon on rattled, strained
    64-atom cells (wide enough for SW's 3.77 Å), in float64."""
    with jax.enable_x64(True):
        sw = StillingerWeber()
        label = eqx.filter_jit(evaluate)
        frames = []
        for k in range(6):
            k_strain, k_rattle = jax.random.split(jax.random.fold_in(jax.random.key(0), k))
            strain = 0.01 * jax.random.normal(k_strain, (3, 3), jnp.float64)
            crystal = deform(diamond(5.431, 2, dtype=jnp.float64),
                             jnp.eye(3) + 0.5 * (strain + strain.T))  # fmt: skip
            crystal = rattle(crystal, 0.05, k_rattle)
            out = label(sw, crystal.positions, crystal.box, crystal.species)
            frames.append(Frame(crystal, out.energy, out.forces, out.stress))
        dataset = make_dataset(frames, ("Si",), cutoff=2.6)
        basis = PolynomialBasis(1, 2.6, n_radial=4, n_angular=3, l_max=2, inner_cutoff=1.8)
        fit = fit_polynomial_potential(basis, dataset, weights=LossWeights(1.0, 0.05, 1.0))
        return fit.potential


def test_compliance_gradient_through_the_bridge(x64, small_silicon_potential):
    potential = small_silicon_potential
    crystal = diamond(5.431, 1, dtype=jnp.float64)
    relaxed = np.asarray(elastic_constants(potential, crystal).relaxed) * EV_PER_A3_TO_GPA
    # the small fit is a stable diamond crystal near Stillinger-Weber's constants
    assert relaxed[0, 0] == pytest.approx(C11, rel=0.1) and relaxed[3, 3] == pytest.approx(
        C44, rel=0.1
    )
    part = cantilever(10.0, 1.0, nx=10, ny=2, dtype=jnp.float64)
    rotation = crystal_frame((1, 1, 0), (-1, 1, 0))

    def objective(p):
        return multiscale_compliance(p, crystal, part, rotation=rotation, load=0.1)

    value_and_grad = eqx.filter_jit(eqx.filter_value_and_grad(objective))
    value, gradient = value_and_grad(potential)
    direct = part.compliance(continuum_stiffness(jnp.asarray(relaxed), scale=1.0,
                                                 rotation=rotation), 0.1)  # fmt: skip
    assert float(value) == pytest.approx(float(direct), rel=1e-10)
    # central differences (fourth order) along a random direction of the coefficients
    coefficients = potential.coefficients
    # relative perturbations (the coefficients span orders of magnitude)
    direction = jax.random.normal(jax.random.key(1), coefficients.shape, jnp.float64)
    direction = direction * jnp.abs(coefficients)
    step = 1e-5
    # the values from the compiled value-and-gradient program: a second compile costs more
    # than four gradients
    values = [
        float(value_and_grad(eqx.tree_at(lambda p: p.coefficients, potential, c))[0])
        for c in (coefficients + k * step * direction for k in (-2, -1, 1, 2))
    ]
    difference = (8 * (values[2] - values[1]) - (values[3] - values[0])) / (12 * step)
    derivative = float(jnp.sum(gradient.coefficients * direction))
    assert derivative == pytest.approx(difference, rel=1e-6)
    assert abs(derivative) > 1e-3 * abs(float(value))  # the check is not vacuous


def test_bad_input_names_the_argument():
    c = _cubic(C11, C12, C44, jnp.float32)
    with pytest.raises(ValueError, match="stiffness must be a 6x6"):
        continuum_stiffness(c[:3, :3])
    with pytest.raises(ValueError, match="positive definite"):
        continuum_stiffness(_cubic(C11, C12, -C44, jnp.float32))
    with pytest.raises(ValueError, match="symmetric"):
        continuum_stiffness(c.at[0, 1].set(0.0))
    with pytest.raises(ValueError, match="plane"):
        continuum_stiffness(c, plane="shell")
    with pytest.raises(ValueError, match="orthogonal"):
        crystal_frame((1, 0, 0), (1, 1, 0))
    with pytest.raises(ValueError, match="ny must be an even"):
        cantilever(ny=3)
    with pytest.raises(ValueError, match="rotation must be orthogonal"):
        rotate_stiffness(c, 2 * jnp.eye(3))
