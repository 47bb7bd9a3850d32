"""EDMD, kernel EDMD and generator EDMD against systems with known Koopman spectra, the
dictionaries against their definitions, gradients against central differences, bad input."""

from math import comb

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from numpy.polynomial import hermite_e
from scipy.optimize import linear_sum_assignment

from dmech.testing import check_grad
from koopman import (
    AbstractDictionary,
    Concatenate,
    EDMDModel,
    GaussianKernel,
    HermitePolynomials,
    Identity,
    LinearSystem,
    Monomials,
    Pendulum,
    PolynomialKernel,
    RadialBasis,
    SlowManifold,
    delay_embedding,
    edmd,
    eigenfunctions,
    exact_dmd,
    generator_edmd,
    kernel_edmd,
    predict,
    reconstruct,
    total_degree_exponents,
    trajectories,
)

DT = 0.1


class SlowManifoldObservables(AbstractDictionary):
    """``(1, x₁, x₂, x₁²)``: an invariant subspace of the slow-manifold system's Koopman
    operator (a user-defined dictionary)."""

    n_state: int = eqx.field(static=True, default=2)

    def __call__(self, x):
        x = self._check_state(x)
        return jnp.stack([jnp.ones_like(x[0]), x[0], x[1], x[0] ** 2])


def _assert_same_spectrum(found, expected, atol):
    """Equal as multisets of complex numbers (matched by an optimal assignment)."""
    found, expected = np.asarray(found), np.asarray(expected, complex)
    assert found.shape == expected.shape, (found, expected)
    rows, cols = linear_sum_assignment(np.abs(found[:, None] - expected[None, :]))
    np.testing.assert_allclose(found[rows], expected[cols], atol=atol)


@pytest.fixture
def slow_manifold_data(x64):
    system = SlowManifold(-0.05, -1.0)
    x0 = jax.random.uniform(jax.random.PRNGKey(0), (8, 2), jnp.float64, -1.0, 1.0)
    return system, trajectories(system, x0, DT, 20)


def test_slow_manifold_eigenvalues_and_eigenfunctions_are_exact(slow_manifold_data):
    system, data = slow_manifold_data
    model = edmd(data, SlowManifoldObservables(), dt=DT)
    expected = np.array([0.0, *np.asarray(system.koopman_eigenvalues(1)), 2 * float(system.mu)])
    _assert_same_spectrum(model.continuous_eigenvalues, expected, 1e-9)
    # φ(F(x)) = λ φ(x) on fresh states
    later = eigenfunctions(model, data[:, :, 5])
    earlier = eigenfunctions(model, data[:, :, 4])
    np.testing.assert_allclose(later, earlier * model.eigenvalues[None, :], atol=1e-9)
    # forecast and reconstruction from the linear model are exact too
    times = DT * jnp.arange(21.0)
    np.testing.assert_allclose(predict(model, data[3, :, 0], times), data[3], atol=1e-8)
    np.testing.assert_allclose(reconstruct(model, times), data[0], atol=1e-8)


def test_linear_system_monomials_give_sums_of_eigenvalues(x64):
    matrix = jnp.array([[-0.1, 1.0], [-1.0, -0.3]])
    system = LinearSystem(matrix)
    x0 = jax.random.normal(jax.random.PRNGKey(1), (6, 2), jnp.float64)
    data = trajectories(system, x0, DT, 15)
    np.testing.assert_allclose(
        data[0, :, 7], scipy.linalg.expm(np.asarray(matrix) * 7 * DT) @ np.asarray(x0[0]), atol=1e-9
    )
    model = edmd(data, Monomials(2, 2), dt=DT)
    assert model.rank == comb(2 + 2, 2)
    expected = np.concatenate([[0.0], np.asarray(system.koopman_eigenvalues(2))])
    _assert_same_spectrum(model.continuous_eigenvalues, expected, 1e-8)
    # the same span through the polynomial kernel (no features written out)
    kernel_model = kernel_edmd(data, PolynomialKernel(2), rank=6, dt=DT)
    _assert_same_spectrum(kernel_model.continuous_eigenvalues, expected, 1e-7)
    # the Hermite basis spans the same polynomials: same operator up to a change of basis
    hermite = edmd(data, HermitePolynomials(2, 2, scale=jnp.array([2.0, 0.5])), dt=DT)
    _assert_same_spectrum(hermite.continuous_eigenvalues, expected, 1e-8)


def test_identity_dictionary_is_exact_dmd(x64):
    data = trajectories(
        LinearSystem(jnp.array([[0.0, 1.0], [-2.0, -0.2]])), jnp.array([1.0, 0.5]), DT, 30
    )[0]
    model = edmd(data, Identity(2), dt=DT)
    reference = exact_dmd(data, rank=2, dt=DT)
    _assert_same_spectrum(model.eigenvalues, reference.eigenvalues, 1e-12)
    times = DT * jnp.arange(5.0)
    np.testing.assert_allclose(
        predict(model, data[:, 3], times), predict(reference, data[:, 3], times), atol=1e-10
    )


def test_generator_edmd_recovers_the_ornstein_uhlenbeck_spectrum(x64):
    """``dX = −a X dt + √2 dW``: the generator's eigenfunctions are Hermite polynomials with
    eigenvalues ``−k a``; the monomials up to degree 4 span them exactly."""
    rate = 0.7
    states = jax.random.normal(jax.random.PRNGKey(2), (1, 300), jnp.float64)
    sigma = jnp.full((1, 1, 300), np.sqrt(2.0))
    model = generator_edmd(states, -rate * states, Monomials(1, 4), diffusion=sigma)
    np.testing.assert_allclose(
        np.sort(np.asarray(model.continuous_eigenvalues.real)),
        -rate * np.arange(4, -1, -1),
        atol=1e-9,
    )
    # deterministic: a linear system's monomials, as in the discrete-time test
    matrix = jnp.array([[-0.2, 1.0], [-1.0, -0.1]])
    points = jax.random.normal(jax.random.PRNGKey(3), (2, 50), jnp.float64)
    model = generator_edmd(points, matrix @ points, Monomials(2, 2), dt=DT)
    expected = np.concatenate([[0.0], np.asarray(LinearSystem(matrix).koopman_eigenvalues(2))])
    _assert_same_spectrum(model.continuous_eigenvalues, expected, 1e-9)
    # predict uses exp(ω t) (fractional times too)
    times = jnp.array([0.0, 0.05, 0.37])
    exact = np.stack(
        [scipy.linalg.expm(np.asarray(matrix) * t) @ np.asarray(points[:, 0]) for t in times], 1
    )
    np.testing.assert_allclose(predict(model, points[:, 0], times), exact, atol=1e-9)


def test_delays_make_a_partially_observed_oscillator_linear(x64):
    matrix = jnp.array([[0.0, 1.0], [-4.0, -0.1]])
    data = trajectories(LinearSystem(matrix), jnp.array([1.0, 0.0]), 0.05, 120)
    observed = data[:, :1, :]
    model = edmd(observed, Identity(3), delays=2, dt=0.05)
    found = np.asarray(model.continuous_eigenvalues)
    for value in np.linalg.eigvals(np.asarray(matrix)):
        assert np.min(np.abs(found - value)) < 1e-8
    future = predict(model, observed[0, :, :3], 0.05 * jnp.arange(60.0))
    np.testing.assert_allclose(future[0], observed[0, 0, 2:62], atol=1e-8)


def test_pendulum_conserves_energy_and_edmd_forecasts_it(x64):
    x0 = jnp.array([[1.0, 0.0], [0.5, 0.5], [-1.2, 0.3]])
    data = trajectories(Pendulum(), x0, 0.02, 200)
    energy = Pendulum.energy(jnp.moveaxis(data, 1, 0))
    np.testing.assert_allclose(energy, energy[:, :1] * np.ones((1, 201)), atol=1e-9)
    rng = np.random.default_rng(0)
    starts = rng.uniform([-1.5, -1.0], [1.5, 1.0], (40, 2))
    train = trajectories(Pendulum(), jnp.asarray(starts), 0.02, 50)
    model = edmd(train, HermitePolynomials(2, 5), dt=0.02, rank=18)
    forecast = predict(model, data[1, :, 0], 0.02 * jnp.arange(51.0))
    error = np.linalg.norm(forecast - data[1, :, :51]) / np.linalg.norm(data[1, :, :51])
    assert error < 2e-2, error


def test_dictionaries_against_their_definitions(x64):
    exponents = total_degree_exponents(3, 3)
    assert len(exponents) == comb(3 + 3, 3)
    assert exponents[:4] == ((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1))
    x = jnp.array([0.3, -1.2, 2.0])
    monomials = Monomials(3, 3, centre=jnp.array([0.1, 0.0, 1.0]), scale=jnp.array([2.0, 1.0, 0.5]))
    z = (np.asarray(x) - [0.1, 0.0, 1.0]) / [2.0, 1.0, 0.5]
    np.testing.assert_allclose(
        monomials(x), [np.prod(z ** np.array(e)) for e in exponents], rtol=1e-14
    )
    hermite = HermitePolynomials(3, 3)
    expected = [
        np.prod(
            [hermite_e.hermeval(xi, np.eye(4)[k]) for xi, k in zip(np.asarray(x), e, strict=True)]
        )
        for e in exponents
    ]
    np.testing.assert_allclose(hermite(x), expected, rtol=1e-13)
    assert hermite.size == monomials.size == len(exponents)
    centres = jnp.array([[0.0, 0.0, 0.0], [0.3, -1.2, 2.0]])
    for kind, at_zero in (
        ("gaussian", 1.0),
        ("thin_plate", 0.0),
        ("multiquadric", 1.0),
        ("inverse_multiquadric", 1.0),
    ):
        values = RadialBasis(centres, kind, epsilon=2.0)(x)
        assert float(values[1]) == pytest.approx(at_zero)
        assert bool(jnp.all(jnp.isfinite(jax.jacfwd(RadialBasis(centres, kind))(x))))
    r2 = float(jnp.sum(x**2)) / 4.0
    assert float(RadialBasis(centres, "thin_plate", 2.0)(x)[0]) == pytest.approx(
        0.5 * r2 * np.log(r2)
    )
    both = Concatenate([Identity(3), RadialBasis(centres)])
    np.testing.assert_allclose(both(x)[:3], x)
    assert both.size == 5
    hankel = delay_embedding(jnp.arange(12.0).reshape(2, 6), 2)
    np.testing.assert_array_equal(hankel[:, 0], [0.0, 6.0, 1.0, 7.0, 2.0, 8.0])
    assert hankel.shape == (6, 4)
    gaussian = GaussianKernel(1.5)
    assert float(gaussian(x, x + 1.5 / np.sqrt(3))) == pytest.approx(np.exp(-1.0))


def test_forecast_error_gradient_through_edmd(x64):
    rng = np.random.default_rng(4)
    starts = jnp.asarray(rng.uniform(-1.0, 1.0, (4, 2)))
    data = trajectories(Pendulum(0.1), starts, 0.1, 12)
    data = data + 1e-3 * jnp.asarray(rng.standard_normal(data.shape))
    centres = jnp.asarray(rng.uniform(-1.0, 1.0, (6, 2)))

    def loss(d, epsilon):
        dictionary = Concatenate([Identity(2), RadialBasis(centres, "gaussian", epsilon)])
        model = edmd(d[:, :, :10], dictionary, dt=0.1, regularisation=1e-8)
        future = predict(model, d[0, :, 9], 0.1 * jnp.arange(1.0, 4.0))
        return jnp.sum((future - d[0, :, 10:13]) ** 2)

    check_grad(loss, data, jnp.asarray(0.8), argnums=(0, 1), eps=1e-5, num_directions=2)


def test_kernel_edmd_gradient_and_gaussian_forecast(x64):
    rng = np.random.default_rng(5)
    data = trajectories(Pendulum(0.2), jnp.asarray(rng.uniform(-1.0, 1.0, (6, 2))), 0.1, 10)

    def loss(d, sigma):
        model = kernel_edmd(
            d[:, :, :8], GaussianKernel(sigma), rank=12, dt=0.1, regularisation=1e-10
        )
        future = predict(model, d[0, :, 7], 0.1 * jnp.arange(1.0, 3.0))
        return jnp.sum((future - d[0, :, 8:10]) ** 2)

    assert float(loss(data, jnp.asarray(1.0))) < 1e-2 * float(jnp.sum(data[0, :, 8:10] ** 2))
    check_grad(loss, data, jnp.asarray(1.0), argnums=(0, 1), eps=1e-5, num_directions=2)


def test_bad_input_is_named(slow_manifold_data):
    _, data = slow_manifold_data
    with pytest.raises(ValueError, match="dictionary"):
        edmd(data, Monomials(3, 2))
    with pytest.raises(TypeError, match="dictionary"):
        edmd(data, lambda x: x)
    with pytest.raises(TypeError, match="snapshots"):
        edmd(data.astype(jnp.complex128), Identity(2))
    with pytest.raises(ValueError, match="delays"):
        edmd(data[0], Identity(4), shifted=data[0], delays=1)
    with pytest.raises(ValueError, match="regularisation"):
        edmd(data, Identity(2), regularisation=-1.0)
    with pytest.raises(ValueError, match="snapshots"):
        edmd(data[:, :, :1], Identity(2))
    with pytest.raises(ValueError, match="rank"):
        edmd(data, Identity(2), rank=0)
    with pytest.raises(TypeError, match="kernel"):
        kernel_edmd(data, Identity(2))
    model = edmd(data, Identity(2))
    assert isinstance(model, EDMDModel)
    with pytest.raises(ValueError, match="x0"):
        predict(model, jnp.zeros(3), jnp.arange(3.0))
    with pytest.raises(ValueError, match="derivatives"):
        generator_edmd(data[0], data[0, :, :3], Identity(2))
    with pytest.raises(ValueError, match="centres"):
        RadialBasis(jnp.zeros(3))
    with pytest.raises(ValueError, match="kind"):
        RadialBasis(jnp.zeros((2, 2)), "cubic")
    with pytest.raises(ValueError, match="epsilon"):
        RadialBasis(jnp.zeros((2, 2)), epsilon=0.0)
    with pytest.raises(ValueError, match="degree"):
        Monomials(2, 0)
    with pytest.raises(ValueError, match="steps"):
        trajectories(Pendulum(), jnp.zeros(2), 0.1, 0)


def test_dmd_of_kolmogorov_flow_recovers_its_linearisation(x64):
    # Laminar Kolmogorov flow from dmech.cfd: at ν = 0.2, α = 0.1 the shear flow
    # ω* = -k cos(ky) / (ν k² + α) (k = 1) is a stable fixed point of the solver's step. DMD of
    # small perturbations about it (independent pairs x -> step(x)) must recover the eigenvalues
    # of the step's Jacobian at ω* (jax.jacfwd through the solver), to the size of the
    # neglected quadratic terms.
    from dmech.cfd import SpectralNavierStokes2D
    from dmech.geometry import Grid

    grid = Grid((12, 12), (2 * np.pi, 2 * np.pi))
    solver = SpectralNavierStokes2D(grid, viscosity=0.2, drag=0.1, dt=0.05, forcing="kolmogorov",
                                    forcing_wavenumber=1, dtype=jnp.float64)  # fmt: skip
    _, y = (np.asarray(a) for a in grid.periodic_points())
    advance = jax.jit(jax.vmap(lambda w: solver.vorticity(solver.step(solver.init(w))[0])))
    star = -np.cos(y) / (0.2 + 0.1)
    np.testing.assert_allclose(np.asarray(advance(star[None]))[0], star, atol=1e-13)

    flat = lambda w: advance(w.reshape((1, *grid.shape))).reshape(-1)  # noqa: E731
    jacobian = np.asarray(jax.jacfwd(flat)(jnp.asarray(star).reshape(-1)))
    kept = (2 * ((12 - 1) // 3) + 1) ** 2 - 1  # the modes the 2/3 rule keeps, mean removed
    expected = np.linalg.eigvals(jacobian)
    expected = expected[np.argsort(-np.abs(expected))]
    assert np.abs(expected[kept]) < 1e-12  # the rest are dealiased away

    rng = np.random.default_rng(0)
    noise = rng.standard_normal((64, *grid.shape))
    directions = np.asarray(jax.vmap(lambda w: solver.vorticity(solver.init(w)))(noise))
    states = star + 1e-6 * directions / np.abs(directions).max(axis=(1, 2), keepdims=True)
    images = np.asarray(advance(states))
    before = jnp.asarray((states - star).reshape(64, -1).T)
    after = jnp.asarray((images - star).reshape(64, -1).T)
    model = edmd(before, Identity(before.shape[0]), shifted=after, rank=kept, dt=0.05)
    _assert_same_spectrum(model.eigenvalues, expected[:kept], atol=1e-7)
