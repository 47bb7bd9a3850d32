"""Operator-learning datasets: each generator against its solver's reference on a small case,
determinism from the seed, independence of the batch size and devices, caching with a card;
the Darcy solve against a manufactured solution and a layered closed form, the Gaussian field
against its covariance, the elasticity solve against homogeneous and laminate closed forms."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.fft

from dmech.cfd import burgers_cole_hopf_periodic, burgers_dataset, navier_stokes_dataset
from dmech.data import read_card
from dmech.fem import PCG, SparseLU
from dmech.geometry import Grid
from dmech.testing import assert_convergence_order, check_grad
from operators import _darcy, _elasticity
from operators._darcy import (
    darcy_flow_dataset,
    neumann_gaussian_random_field,
    solve_darcy,
)
from operators._datasets import burgers_operator_dataset, navier_stokes_operator_dataset
from operators._elasticity import (
    INCLUSION,
    MATRIX,
    microstructure_elasticity_dataset,
    random_inclusions,
    solve_uniaxial_strain,
    thresholded_gaussian_microstructure,
)


def _key(seed, i):
    return jax.random.fold_in(jax.random.key(seed), i)


# --- the Gaussian random field ------------------------------------------------------------------


def test_gaussian_field_spectrum_matches_its_covariance():
    """The cosine coefficients of many samples have the variances σ² (π²|k|² + τ²)^{-α}."""
    cells, samples, alpha, tau = 24, 400, 2.0, 3.0
    keys = jax.random.split(jax.random.key(11), samples)
    fields = jax.vmap(lambda k: neumann_gaussian_random_field(k, cells, where="cells"))(keys)
    # the orthonormal DCT-II of values at the cell centres: n × the coefficient of φ_k φ_l
    coefficients = scipy.fft.dctn(np.asarray(fields, np.float64), type=2, norm="ortho",
                                  axes=(1, 2)) / cells  # fmt: skip
    variance = np.mean(coefficients**2, axis=0)
    k = np.arange(cells)
    eigenvalues = np.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2)
    expected = tau ** (2 * alpha - 2) * (eigenvalues + tau**2) ** (-alpha)
    assert variance[0, 0] < 1e-12 * expected[0, 1]  # the mean mode is removed
    ratio = (variance / expected).reshape(-1)[1:]
    # each ratio is a chi-square mean of 400 draws (sd 0.07); 575 of them average to 1 ± 0.003
    assert abs(ratio.mean() - 1) < 0.015
    radius = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2).reshape(-1)[1:]
    for low, high in [(0, 4), (4, 8), (8, 16), (16, 40)]:
        band = (radius > low) & (radius <= high)
        assert abs(ratio[band].mean() - 1) < 0.1, (low, high, ratio[band].mean())
    # the decay up to normalisation: log variance against log(|k|² π² + 9) has slope -α
    slope = np.polyfit(np.log(eigenvalues.reshape(-1)[1:] + tau**2),
                       np.log(variance.reshape(-1)[1:]), 1)[0]  # fmt: skip
    assert abs(slope + alpha) < 0.03


def test_gaussian_field_at_nodes_and_cells_is_one_series(x64):
    """The node values are the same cosine series as the cell values (DCT-I against DCT-II)."""
    cells = 16
    key = jax.random.key(3)
    on_cells = np.asarray(neumann_gaussian_random_field(key, cells, where="cells",
                                                        dtype=jnp.float64))  # fmt: skip
    on_nodes = np.asarray(neumann_gaussian_random_field(key, cells, where="nodes",
                                                        dtype=jnp.float64))  # fmt: skip
    assert on_nodes.shape == (cells + 1, cells + 1) and on_cells.shape == (cells, cells)
    from_cells = scipy.fft.dctn(on_cells, type=2, norm="ortho") / cells
    # DCT-I of f_j = Σ_k a_k cos(π k j / n): n a_k (2n a_0); a_k = √2 c_k for k > 0
    transform = scipy.fft.dctn(on_nodes, type=1)
    scale = np.where(np.arange(cells + 1) == 0, 2.0 * cells, 1.0 * cells)
    weight = np.where(np.arange(cells + 1) == 0, 1.0, np.sqrt(2.0))
    from_nodes = transform / np.outer(scale * weight, scale * weight)
    np.testing.assert_allclose(from_nodes[:cells, :cells], from_cells, atol=1e-14)
    np.testing.assert_allclose(from_nodes[cells], 0.0, atol=1e-14)  # no mode n
    # float32 gives the same field to rounding (the noise is always drawn in float32)
    single = neumann_gaussian_random_field(key, cells, where="cells")
    assert single.dtype == jnp.float32
    np.testing.assert_allclose(single, on_cells, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="where"):
        neumann_gaussian_random_field(key, cells, where="edges")
    with pytest.raises(ValueError, match="tau"):
        neumann_gaussian_random_field(key, cells, tau=0.0)


# --- the Darcy solve ----------------------------------------------------------------------------


_GAUSS_POINTS, _GAUSS_WEIGHTS = np.polynomial.legendre.leggauss(4)


def _l2_error(cells, u_nodes, exact):
    """‖u_h - u‖_{L²} of the bilinear interpolant of nodal values ``(n + 1, n + 1)``, by a
    4×4-point Gauss rule per square."""
    t = (_GAUSS_POINTS + 1) / 2  # on [0, 1]
    shape = np.stack([1 - t, t], axis=1)  # (4 points, 2 corners)
    u = np.asarray(u_nodes)
    corners = np.stack([np.stack([u[:-1, :-1], u[:-1, 1:]], -1),
                        np.stack([u[1:, :-1], u[1:, 1:]], -1)], -2)  # (i, j, p, q) # fmt: skip
    u_h = np.einsum("ap,bq,ijpq->iajb", shape, shape, corners)
    x = (np.arange(cells)[:, None] + t[None, :]) / cells  # (i, a)
    difference = u_h - exact(x[:, :, None, None], x[None, None, :, :])
    weights = np.outer(_GAUSS_WEIGHTS, _GAUSS_WEIGHTS) / (4 * cells**2)  # (a, b)
    return float(np.sqrt(np.einsum("ab,iajb->", weights, difference**2)))


def test_darcy_solve_converges_at_second_order_to_a_manufactured_solution(x64):
    """u = sin πx sin πy with a = 1 + x² + y (per element, at the centres), f = -∇·(a∇u)."""
    pi = np.pi

    def exact(x, y):
        return np.sin(pi * x) * np.sin(pi * y)

    def source(x, y):
        div = (2 * x * pi * np.cos(pi * x) * np.sin(pi * y)
               + pi * np.sin(pi * x) * np.cos(pi * y)
               - (1 + x**2 + y) * 2 * pi**2 * exact(x, y))  # fmt: skip
        return -div

    sizes, errors = [], []
    for cells in (8, 16, 32):
        centres = (np.arange(cells) + 0.5) / cells
        nodes = np.arange(cells + 1) / cells
        xc, yc = np.meshgrid(centres, centres, indexing="ij")
        xn, yn = np.meshgrid(nodes, nodes, indexing="ij")
        u = solve_darcy(jnp.asarray(1 + xc**2 + yc), source=jnp.asarray(source(xn, yn)))
        assert u.shape == (cells + 1, cells + 1) and u.dtype == jnp.float64
        np.testing.assert_array_equal(np.asarray(u)[[0, -1], :], 0.0)
        np.testing.assert_array_equal(np.asarray(u)[:, [0, -1]], 0.0)
        sizes.append(1 / cells)
        errors.append(_l2_error(cells, u, exact))
    assert errors[-1] < 2e-3
    assert_convergence_order(sizes, errors, expected=2.0, tol=0.1)


def _layered_series(x, y, edges, values, terms=3000):
    """``u`` of ``-∇·(a(x) ∇u) = 1``, ``u = 0`` on the boundary of the unit square, ``a``
    piecewise constant in x (layers ``[edges[l], edges[l+1]]`` with ``values[l]``): the sine
    series in y, each coefficient solving ``-(a U')' + a k² U = 4/(kπ/π)`` in closed form
    (a particular constant plus two exponentials per layer, matched at the interfaces)."""
    layers = len(values)
    total = np.zeros((len(x), len(y)))
    for m in range(1, 2 * terms, 2):
        k = m * np.pi
        load = 4 / (m * np.pi)  # 2 ∫ sin(kπ... ) = 4/(mπ) for odd m
        # unknowns per layer: A (e^{k(x - right)}), B (e^{-k(x - left)})
        matrix = np.zeros((2 * layers, 2 * layers))
        rhs = np.zeros(2 * layers)

        def basis(layer, point, derivative=False, _k=k):
            left, right = edges[layer], edges[layer + 1]
            a_part = np.exp(_k * (point - right))
            b_part = np.exp(-_k * (point - left))
            if derivative:
                return _k * a_part, -_k * b_part
            return a_part, b_part

        particular = [load / (values[layer] * k**2) for layer in range(layers)]
        matrix[0, 0:2] = basis(0, edges[0])
        rhs[0] = -particular[0]
        matrix[1, -2:] = basis(layers - 1, edges[-1])
        rhs[1] = -particular[-1]
        for layer in range(layers - 1):
            point = edges[layer + 1]
            row = 2 + 2 * layer
            matrix[row, 2 * layer : 2 * layer + 2] = basis(layer, point)
            matrix[row, 2 * layer + 2 : 2 * layer + 4] = np.negative(basis(layer + 1, point))
            rhs[row] = particular[layer + 1] - particular[layer]
            flux_left = np.multiply(values[layer], basis(layer, point, True))
            flux_right = np.multiply(values[layer + 1], basis(layer + 1, point, True))
            matrix[row + 1, 2 * layer : 2 * layer + 2] = flux_left
            matrix[row + 1, 2 * layer + 2 : 2 * layer + 4] = -flux_right
        coefficients = np.linalg.solve(matrix, rhs)
        profile = np.empty(len(x))
        for layer in range(layers):
            inside = (x >= edges[layer]) & (x <= edges[layer + 1])
            a_part, b_part = basis(layer, x[inside])
            profile[inside] = (particular[layer] + coefficients[2 * layer] * a_part
                               + coefficients[2 * layer + 1] * b_part)  # fmt: skip
        total += np.outer(profile, np.sin(k * y))
    return total


def test_darcy_solve_matches_a_layered_coefficient_in_closed_form(x64):
    edges, values = (0.0, 0.25, 0.75, 1.0), (12.0, 3.0, 12.0)
    sizes, errors = [], []
    for cells in (8, 16, 32):
        centres = (np.arange(cells) + 0.5) / cells
        layer = np.searchsorted(edges[1:-1], centres, side="right")
        a = np.repeat(np.asarray(values)[layer][:, None], cells, axis=1)  # a(x) per element
        u = np.asarray(solve_darcy(jnp.asarray(a)))
        nodes = np.arange(cells + 1) / cells
        exact = _layered_series(nodes, nodes, edges, values)
        sizes.append(1 / cells)
        errors.append(np.sqrt(np.mean((u - exact) ** 2)) / np.sqrt(np.mean(exact**2)))
    assert errors[-1] < 2e-3
    assert_convergence_order(sizes, errors, expected=2.0, tol=0.15)


def test_darcy_solve_gradient_matches_finite_differences(x64):
    weights = jax.random.normal(jax.random.key(2), (5, 5), jnp.float64)
    coefficient = 3.0 + jax.random.uniform(jax.random.key(1), (4, 4), jnp.float64)

    def objective(a):
        return jnp.sum(weights * solve_darcy(a))

    check_grad(objective, coefficient, mode="reverse", num_directions=2)
    with pytest.raises(ValueError, match="coefficient"):
        solve_darcy(jnp.ones((3, 4)))
    with pytest.raises(ValueError, match="positive"):
        solve_darcy(-jnp.ones((3, 3)))
    with pytest.raises(ValueError, match="source"):
        solve_darcy(jnp.ones((3, 3)), source=jnp.ones((3, 3)))


_ONE_CORE_SOLVES = """
import os, jax, jax.numpy as jnp, numpy as np
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from operators import solve_darcy
with jax.enable_x64(True):
    a = jnp.asarray(np.exp(np.random.default_rng(0).normal(size=(421, 421))))
    for k in range(3):
        print(k, float(solve_darcy(a * (1.0 + 0.01 * k)).max()), flush=True)
"""


def test_darcy_solve_at_421_does_not_hang_on_one_core_with_constants_as_arguments():
    # With `jax.pure_callback`, whose device_put of a large unaligned operand (the 12.7 MB
    # matrix at offset 48) the callback then waited for, this hung in two runs of three.
    env = {**os.environ, "JAX_USE_SIMPLIFIED_JAXPR_CONSTANTS": "true", "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    done = subprocess.run(
        [sys.executable, "-c", _ONE_CORE_SOLVES], env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("\n") == 3


# --- the Darcy dataset --------------------------------------------------------------------------


def test_darcy_dataset_matches_its_solver_and_is_deterministic(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DMECH_CACHE_DIR", str(tmp_path))
    assert len(jax.devices()) == 2  # conftest's fake CPU devices
    options = dict(solver_resolution=21, seed=5, solver=SparseLU())
    data = darcy_flow_dataset(5, resolution=11, batch_size=2, return_elements=True, **options)
    assert "5/5" in capsys.readouterr().err
    assert data["inputs"].shape == data["outputs"].shape == (5, 11, 11)
    assert data["inputs"].dtype == data["outputs"].dtype == np.float32
    assert data["coefficient_elements"].shape == (5, 20, 20)
    np.testing.assert_allclose(data["x"], np.linspace(0, 1, 11), atol=1e-7)
    assert set(np.unique(data["inputs"])) == {3.0, 12.0}
    full = darcy_flow_dataset(5, resolution=21, **options)  # from the same cache file
    assert len(list(tmp_path.rglob("*.dmech"))) == 1
    np.testing.assert_array_equal(full["outputs"][:, ::2, ::2], data["outputs"])
    np.testing.assert_array_equal(full["inputs"][:, ::2, ::2], data["inputs"])
    with jax.enable_x64(True):
        for i in (0, 4):
            # sample i: the Gaussian field of fold_in(key(seed), i), thresholded at 0 ...
            field = neumann_gaussian_random_field(_key(5, i), 20, where="cells",
                                                  dtype=jnp.float64)  # fmt: skip
            a = np.where(np.asarray(field) >= 0, 12.0, 3.0)
            np.testing.assert_array_equal(data["coefficient_elements"][i], a)
            nodal = neumann_gaussian_random_field(_key(5, i), 20, dtype=jnp.float64)
            np.testing.assert_array_equal(full["inputs"][i], np.where(nodal >= 0, 12.0, 3.0))
            # ... and its finite-element solution
            u = np.asarray(solve_darcy(jnp.asarray(a)))
            np.testing.assert_allclose(full["outputs"][i], u, rtol=1e-6, atol=1e-9)
    # one device, one sample a batch, fewer samples, no cache: the same samples
    single = darcy_flow_dataset(3, resolution=21, batch_size=1, devices=jax.devices()[:1],
                                cache=False, progress=False, **options)  # fmt: skip
    np.testing.assert_array_equal(single["inputs"], full["inputs"][:3])
    np.testing.assert_allclose(single["outputs"], full["outputs"][:3], rtol=1e-6)
    # batched PCG on the devices solves the same systems
    batched = darcy_flow_dataset(3, resolution=21, batch_size=2, cache=False, progress=False,
                                 **dict(options, solver=PCG(rtol=1e-12)))  # fmt: skip
    np.testing.assert_allclose(batched["outputs"], full["outputs"][:3], rtol=1e-5, atol=1e-9)
    # the card, and a second call that reads the file without solving
    (path,) = tmp_path.rglob("*.dmech")
    card = read_card(path)
    assert card.generator == "operators.darcy_flow_dataset"
    assert card.params["n_samples"] == 5 and card.params["high"] == 12.0
    assert card.params["low"] == 3.0 and card.params["tau"] == 3.0
    assert card.extra["solver"] == "SparseLU"
    monkeypatch.setattr(_darcy, "_generate", lambda *a: pytest.fail("solved again"))
    again = darcy_flow_dataset(5, resolution=6, **options)
    np.testing.assert_array_equal(again["outputs"], full["outputs"][:, ::4, ::4])
    with pytest.raises(ValueError, match="resolution"):
        darcy_flow_dataset(2, resolution=8, solver_resolution=21)
    with pytest.raises(ValueError, match="n_samples"):
        darcy_flow_dataset(0)


# --- the elasticity solve -----------------------------------------------------------------------


def _lame(e, nu):
    return e * nu / ((1 + nu) * (1 - 2 * nu)), e / (2 * (1 + nu))


def test_homogeneous_square_has_the_closed_form_uniform_stress(x64):
    e, nu, strain = 5000.0, 0.3, 0.02
    result = solve_uniaxial_strain(jnp.full((6, 6), e), jnp.full((6, 6), nu), strain_xx=strain)
    lam, mu = _lame(e, nu)
    expected = np.broadcast_to([(lam + 2 * mu) * strain, lam * strain, 0.0], (6, 6, 3))
    np.testing.assert_allclose(result.stress, expected, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(result.out_of_plane_stress, lam * strain, rtol=1e-12)
    np.testing.assert_allclose(result.von_mises, 2 * mu * strain, rtol=1e-12)
    x = np.arange(7) / 6
    np.testing.assert_allclose(result.displacement[..., 0], strain * x[:, None] + 0 * x,
                               atol=1e-14)  # fmt: skip
    np.testing.assert_allclose(result.displacement[..., 1], 0.0, atol=1e-14)


def test_laminates_match_their_closed_form_averages(x64):
    """Layers across the load: the Reuss average of M = λ + 2μ; along it: the Voigt average
    of the plane-strain modulus E' = M - λ²/M plus the lateral constraint ⟨λ/M⟩²/⟨1/M⟩."""
    cells, strain = 8, 0.01
    phase = (np.arange(cells) // 2) % 2 == 1  # four layers, two elements thick
    (e_m, nu_m), (e_i, nu_i) = MATRIX, INCLUSION
    e_layers = np.where(phase, e_i, e_m)
    nu_layers = np.where(phase, nu_i, nu_m)
    lam, mu = _lame(e_layers, nu_layers)
    m = lam + 2 * mu
    reuss = strain / np.mean(1 / m)
    voigt = strain * np.mean(m)
    across = solve_uniaxial_strain(jnp.asarray(np.repeat(e_layers[:, None], cells, 1)),
                                   jnp.asarray(np.repeat(nu_layers[:, None], cells, 1)),
                                   strain_xx=strain)  # fmt: skip
    sigma_xx = np.asarray(across.stress[..., 0])
    np.testing.assert_allclose(sigma_xx, reuss, rtol=1e-10)  # uniform across the layers
    along = solve_uniaxial_strain(jnp.asarray(np.repeat(e_layers[None, :], cells, 0)),
                                  jnp.asarray(np.repeat(nu_layers[None, :], cells, 0)),
                                  strain_xx=strain)  # fmt: skip
    exact = strain * (np.mean(m - lam**2 / m) + np.mean(lam / m) ** 2 / np.mean(1 / m))
    average = float(np.mean(along.stress[..., 0]))
    np.testing.assert_allclose(average, exact, rtol=1e-10)
    assert reuss < average < voigt  # between the bounds, near the Voigt one
    assert (voigt - average) < 0.1 * (voigt - reuss)
    np.testing.assert_allclose(along.stress[..., 1], along.stress[0, 0, 1], rtol=1e-10)


def test_elasticity_solve_gradient_matches_finite_differences(x64):
    key_e, key_nu = jax.random.split(jax.random.key(4))
    e = 1000.0 + 500.0 * jax.random.uniform(key_e, (3, 3), jnp.float64)
    nu = 0.2 + 0.1 * jax.random.uniform(key_nu, (3, 3), jnp.float64)

    def objective(e_in_gpa, nu, strain):  # arguments of order one: one finite-difference step
        result = solve_uniaxial_strain(1000 * e_in_gpa, nu, strain_xx=strain / 100)
        return jnp.sum(result.von_mises) + jnp.sum(result.displacement[..., 1] ** 2)

    strain_in_percent = jnp.asarray(1.0, jnp.float64)
    check_grad(objective, e / 1000, nu, strain_in_percent, argnums=(0, 1, 2), mode="reverse",
               eps=1e-4, num_directions=2)  # fmt: skip
    with pytest.raises(ValueError, match="poissons_ratio"):
        solve_uniaxial_strain(jnp.ones((3, 3)), jnp.full((3, 3), 0.5))
    with pytest.raises(ValueError, match="youngs_modulus"):
        solve_uniaxial_strain(jnp.ones((3, 2)), jnp.ones((3, 2)))


# --- microstructures and the elasticity dataset -------------------------------------------------


def test_random_inclusions_keep_their_distance_and_fraction():
    gap, target = 0.02, 0.3
    centres, radii, accepted = random_inclusions(_key(0, 0), volume_fraction=target, gap=gap)
    c, r = np.asarray(centres)[accepted], np.asarray(radii)[accepted]
    assert len(c) >= 10
    assert np.all((c - r[:, None] >= gap - 1e-6) & (c + r[:, None] <= 1 - gap + 1e-6))
    distance = np.linalg.norm(c[:, None] - c[None], axis=-1)
    clearance = distance - r[:, None] - r[None] - gap
    assert np.all(clearance[~np.eye(len(c), dtype=bool)] >= -1e-6)
    area = np.sum(np.pi * r**2)
    assert target - np.pi * 0.1**2 < area <= target + 1e-6  # full up to a last disc
    with jax.enable_x64(True):  # the draws do not depend on the x64 mode
        again = random_inclusions(_key(0, 0), volume_fraction=target, gap=gap)
    np.testing.assert_array_equal(again[2], accepted)
    phase = thresholded_gaussian_microstructure(_key(0, 1), 20, volume_fraction=0.25)
    assert int(phase.sum()) == 100
    with pytest.raises(ValueError, match="volume_fraction"):
        random_inclusions(_key(0, 0), volume_fraction=1.5)
    with pytest.raises(ValueError, match="radius_range"):
        random_inclusions(_key(0, 0), radius_range=(0.3, 0.2))


@pytest.mark.parametrize("kind", ["inclusions", "gaussian_field"])
def test_elasticity_dataset_matches_its_solver_and_is_deterministic(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("DMECH_CACHE_DIR", str(tmp_path))
    options = dict(microstructure=kind, resolution=16, seed=2, solver=SparseLU(), progress=False)
    data = microstructure_elasticity_dataset(3, batch_size=2, **options)
    assert data["inputs"].shape == data["outputs"].shape == (3, 16, 16)
    assert data["displacement"].shape == (3, 17, 17, 2)
    assert data["outputs"].dtype == np.float32
    assert set(np.unique(data["inputs"])) == {0.0, 1.0}
    np.testing.assert_allclose(data["volume_fraction"], data["inputs"].mean(axis=(1, 2)))
    np.testing.assert_allclose(data["x"][0], 1 / 32) and np.testing.assert_allclose(
        data["x_nodes"][-1], 1.0
    )
    with jax.enable_x64(True):
        for i in range(3):
            # the microstructure of fold_in(key(seed), i) ...
            if kind == "inclusions":
                circles = random_inclusions(_key(2, i))
                phase = np.asarray(_elasticity._inclusion_phase(*circles, 16))
            else:
                phase = np.asarray(thresholded_gaussian_microstructure(_key(2, i), 16))
            np.testing.assert_array_equal(data["inputs"][i], phase)
            # ... and its solve
            e = jnp.where(jnp.asarray(phase), INCLUSION[0], MATRIX[0])
            nu = jnp.where(jnp.asarray(phase), INCLUSION[1], MATRIX[1])
            reference = solve_uniaxial_strain(e, nu, strain_xx=0.01)
            np.testing.assert_allclose(data["outputs"][i], reference.von_mises, rtol=1e-6)
            np.testing.assert_allclose(data["displacement"][i], reference.displacement,
                                       rtol=1e-6, atol=1e-10)  # fmt: skip
    single = microstructure_elasticity_dataset(2, batch_size=1, devices=jax.devices()[:1],
                                               cache=False, **options)  # fmt: skip
    np.testing.assert_array_equal(single["inputs"], data["inputs"][:2])
    np.testing.assert_allclose(single["outputs"], data["outputs"][:2], rtol=1e-6)
    (path,) = tmp_path.rglob("*.dmech")
    card = read_card(path)
    assert card.generator == "operators.microstructure_elasticity_dataset"
    assert card.params["microstructure"] == kind and card.params["matrix"] == list(MATRIX)
    assert card.params["strain_xx"] == 0.01 and "rollers" in card.params["boundary_conditions"]
    monkeypatch.setattr(_elasticity, "_generate", lambda *a: pytest.fail("solved again"))
    again = microstructure_elasticity_dataset(3, batch_size=2, **options)
    np.testing.assert_array_equal(again["outputs"], data["outputs"])
    with pytest.raises(ValueError, match="microstructure"):
        microstructure_elasticity_dataset(2, microstructure="voronoi")
    with pytest.raises(ValueError, match="matrix"):
        microstructure_elasticity_dataset(2, matrix=(1.0, 0.6))


def test_elasticity_dataset_batched_pcg_matches_the_direct_solves():
    options = dict(resolution=12, seed=1, cache=False, progress=False)
    direct = microstructure_elasticity_dataset(2, solver=SparseLU(), **options)
    batched = microstructure_elasticity_dataset(2, solver=PCG(rtol=1e-12), batch_size=2,
                                                **options)  # fmt: skip
    np.testing.assert_allclose(batched["outputs"], direct["outputs"], rtol=1e-4, atol=1e-3)


# --- the wrappers of dmech.cfd's generators -----------------------------------------------------


def test_burgers_operator_dataset_subsamples_one_cached_solve(tmp_path, monkeypatch):
    monkeypatch.setenv("DMECH_CACHE_DIR", str(tmp_path))
    options = dict(solver_resolution=128, seed=3, progress=False)
    coarse = burgers_operator_dataset(3, resolution=32, batch_size=2, **options)
    fine = burgers_operator_dataset(3, resolution=64, batch_size=2, **options)
    assert len(list(tmp_path.rglob("*.dmech"))) == 1  # one solve at 128 points serves both
    assert coarse["inputs"].shape == coarse["outputs"].shape == (3, 32)
    np.testing.assert_array_equal(fine["inputs"][:, ::2], coarse["inputs"])
    np.testing.assert_array_equal(fine["outputs"][:, ::2], coarse["outputs"])
    np.testing.assert_allclose(coarse["x"], np.arange(32) / 32)
    full = burgers_dataset(3, resolution=128, solver_resolution=128, t=1.0, seed=3,
                           batch_size=2, progress=False)  # fmt: skip
    np.testing.assert_array_equal(full["u0"][:, ::4], coarse["inputs"])
    # against the exact (Cole-Hopf) solution of the same initial data
    with jax.enable_x64(True):
        u0 = jnp.asarray(full["u0"], jnp.float64)
        exact = np.asarray(burgers_cole_hopf_periodic(u0, Grid((128,), (1.0,)), 1.0, 0.1))
    np.testing.assert_allclose(coarse["outputs"], exact[:, ::4], atol=2e-6)
    # independent of the batch size (one batch of four, one padded)
    other = burgers_operator_dataset(3, resolution=32, batch_size=4, cache=False, **options)
    np.testing.assert_array_equal(other["inputs"], coarse["inputs"])
    np.testing.assert_allclose(other["outputs"], coarse["outputs"], atol=1e-7)
    with pytest.raises(ValueError, match="divide"):
        burgers_operator_dataset(2, resolution=100, solver_resolution=128)


def test_navier_stokes_operator_dataset_splits_the_trajectories(tmp_path, monkeypatch):
    monkeypatch.setenv("DMECH_CACHE_DIR", str(tmp_path))
    options = dict(viscosity=1e-3, final_time=4.0, input_snapshots=2, resolution=16,
                   solver_resolution=32, dt=0.05, seed=3, progress=False)  # fmt: skip
    data = navier_stokes_operator_dataset(3, batch_size=2, **options)
    assert data["inputs"].shape == (3, 2, 16, 16) and data["outputs"].shape == (3, 2, 16, 16)
    np.testing.assert_allclose(data["t_in"], [1.0, 2.0])
    np.testing.assert_allclose(data["t_out"], [3.0, 4.0])
    np.testing.assert_allclose(data["x"], np.arange(16) / 16)
    # the split of the wrapped generator's trajectories (read from its cache: no new solve)
    wrapped = navier_stokes_dataset(3, viscosity=1e-3, final_time=4.0, snapshot_interval=1.0,
                                    dt=0.05, resolution=32, output_resolution=16, seed=3,
                                    progress=False)  # fmt: skip
    assert len(list(tmp_path.rglob("*.dmech"))) == 1
    np.testing.assert_array_equal(data["inputs"], wrapped["w"][:, :2])
    np.testing.assert_array_equal(data["outputs"], wrapped["w"][:, 2:])
    np.testing.assert_array_equal(data["w0"], wrapped["w0"])
    # the same samples with one device, one sample a batch, fewer samples
    single = navier_stokes_operator_dataset(2, batch_size=1, devices=jax.devices()[:1],
                                            cache=False, **options)  # fmt: skip
    np.testing.assert_allclose(single["outputs"], data["outputs"][:2], rtol=1e-5, atol=1e-6)
    card = read_card(next(tmp_path.rglob("*.dmech")))
    assert card.params["final_time"] == 4.0 and card.params["viscosity"] == 1e-3
    with pytest.raises(ValueError, match="final_time"):
        navier_stokes_operator_dataset(2, viscosity=2e-3)
    with pytest.raises(ValueError, match="input_snapshots"):
        navier_stokes_operator_dataset(2, viscosity=1e-5, input_snapshots=20)
