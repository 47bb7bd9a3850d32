"""Tests for the reference finite elements of dmech.fem (dmech/fem/_elements.py)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.fem._elements import (
    AbstractElement,
    Hex8,
    Hex20,
    Line2,
    Line3,
    Quad4,
    Quad8,
    Quad9,
    Tet4,
    Tet10,
    Tri3,
    Tri6,
    element,
    tabulate,
)
from dmech.fem._quadrature import REFERENCE_MEASURE, reference_shape
from dmech.testing import assert_no_recompile

ELEMENTS = [Line2(), Line3(), Tri3(), Tri6(), Quad4(), Quad8(), Quad9(), Tet4(), Tet10()]
ELEMENTS += [Hex8(), Hex20()]
IDS = [e.cell_type for e in ELEMENTS]
TOL = 1e-12


def _random_points(e: AbstractElement, n: int, seed: int = 0) -> np.ndarray:
    """Random points inside the reference cell (float64 numpy, shape (n, dim))."""
    rng = np.random.default_rng(seed)
    if reference_shape(e.cell_type) in ("triangle", "tetrahedron"):
        x = rng.uniform(0.0, 1.0, (4 * n, e.dim))
        return x[x.sum(axis=1) < 1.0][:n]
    return rng.uniform(-1.0, 1.0, (n, e.dim))


def _monomial_exponents(dim: int, degree: int) -> list[tuple[int, ...]]:
    return [a for a in itertools.product(range(degree + 1), repeat=dim) if sum(a) <= degree]


def _polynomial(x: np.ndarray, exponents, coeffs) -> tuple[np.ndarray, np.ndarray]:
    """p(x) = Σ c_a x^a and its gradient at x (shape (n, dim))."""
    value = np.zeros(len(x))
    grad = np.zeros(x.shape)
    for a, c in zip(exponents, coeffs, strict=True):
        a = np.array(a)
        value += c * np.prod(x**a, axis=1)
        for k in range(x.shape[1]):
            if a[k] > 0:
                b = a.copy()
                b[k] -= 1
                grad[:, k] += c * a[k] * np.prod(x**b, axis=1)
    return value, grad


@pytest.mark.parametrize("e", ELEMENTS, ids=IDS)
def test_attributes_and_reference_nodes(e):
    nodes = e.reference_nodes()
    assert isinstance(nodes, np.ndarray) and nodes.dtype == np.float64
    assert nodes.shape == (e.num_nodes, e.dim)
    assert len(np.unique(nodes, axis=0)) == e.num_nodes
    assert e.degree in (1, 2)
    assert element(e.cell_type) == e and hash(element(e.cell_type)) == hash(e)
    assert jax.tree_util.tree_leaves(e) == []
    nodes[:] = 7.0  # a copy: the element's nodes are unchanged
    assert np.all(np.abs(e.reference_nodes()) <= 1.0)


def test_node_ordering_follows_vtk():
    np.testing.assert_array_equal(Line3().reference_nodes()[:, 0], [-1, 1, 0])
    np.testing.assert_array_equal(
        Tri6().reference_nodes(), [[0, 0], [1, 0], [0, 1], [0.5, 0], [0.5, 0.5], [0, 0.5]]
    )
    np.testing.assert_array_equal(
        Quad9().reference_nodes(),
        [[-1, -1], [1, -1], [1, 1], [-1, 1], [0, -1], [1, 0], [0, 1], [-1, 0], [0, 0]],
    )
    np.testing.assert_array_equal(Quad8().reference_nodes(), Quad9().reference_nodes()[:8])
    tet = Tet10().reference_nodes()
    np.testing.assert_array_equal(tet[:4], [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    for m, (i, j) in enumerate([(0, 1), (1, 2), (2, 0), (0, 3), (1, 3), (2, 3)]):
        np.testing.assert_array_equal(tet[4 + m], (tet[i] + tet[j]) / 2)
    hex20 = Hex20().reference_nodes()
    np.testing.assert_array_equal(hex20[:8], Hex8().reference_nodes())
    np.testing.assert_array_equal(hex20[:4, 2], -1)
    np.testing.assert_array_equal(hex20[4:8, :2], hex20[:4, :2])
    np.testing.assert_array_equal(hex20[8], [0, -1, -1])
    np.testing.assert_array_equal(hex20[16], [-1, -1, 0])
    # Corners counter-clockwise (positive orientation) in 2D.
    q = Quad4().reference_nodes()
    (ax, ay), (bx, by) = q[1] - q[0], q[3] - q[0]
    assert ax * by - ay * bx > 0


@pytest.mark.parametrize("e", ELEMENTS, ids=IDS)
def test_kronecker_delta_at_the_nodes(e):
    values, _ = tabulate(e, e.reference_nodes())
    np.testing.assert_allclose(values, np.eye(e.num_nodes), atol=TOL)


@pytest.mark.parametrize("e", ELEMENTS, ids=IDS)
def test_partition_of_unity(e):
    values, gradients = tabulate(e, _random_points(e, 20))
    np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=TOL)
    np.testing.assert_allclose(gradients.sum(axis=1), 0.0, atol=TOL)


@pytest.mark.parametrize("e", ELEMENTS, ids=IDS)
def test_completeness_reproduces_polynomials_of_the_degree(e):
    rng = np.random.default_rng(1)
    exponents = _monomial_exponents(e.dim, e.degree)
    x = _random_points(e, 15)
    values, gradients = tabulate(e, x)
    for _ in range(3):
        coeffs = rng.normal(size=len(exponents))
        at_nodes, _ = _polynomial(e.reference_nodes(), exponents, coeffs)
        exact, exact_grad = _polynomial(x, exponents, coeffs)
        np.testing.assert_allclose(values @ at_nodes, exact, atol=TOL)
        np.testing.assert_allclose(
            np.einsum("qik,i->qk", gradients, at_nodes), exact_grad, atol=TOL
        )


@pytest.mark.parametrize("e", ELEMENTS, ids=IDS)
def test_not_complete_one_degree_higher(e):
    # x_0^(degree + 1) is outside every element's space (so the test above can fail).
    x = _random_points(e, 15)
    exponents = [(e.degree + 1,) + (0,) * (e.dim - 1)]
    at_nodes, _ = _polynomial(e.reference_nodes(), exponents, [1.0])
    exact, _ = _polynomial(x, exponents, [1.0])
    assert np.abs(tabulate(e, x)[0] @ at_nodes - exact).max() > 1e-3


def test_quad8_lacks_x2y2_and_quad9_has_it(x64):
    del x64
    x = _random_points(Quad9(), 10)
    exact = x[:, 0] ** 2 * x[:, 1] ** 2
    for e, reproduces in [(Quad8(), False), (Quad9(), True)]:
        nodes = e.reference_nodes()
        interpolant = tabulate(e, x)[0] @ (nodes[:, 0] ** 2 * nodes[:, 1] ** 2)
        assert np.allclose(interpolant, exact, atol=TOL) == reproduces, e
    # Both span the cubic serendipity terms x^2 y and x y^2.
    for e in (Quad8(), Quad9()):
        nodes = e.reference_nodes()
        for f in (lambda p: p[:, 0] ** 2 * p[:, 1], lambda p: p[:, 0] * p[:, 1] ** 2):
            np.testing.assert_allclose(tabulate(e, x)[0] @ f(nodes), f(x), atol=TOL)


@pytest.mark.parametrize("e", ELEMENTS, ids=IDS)
def test_jax_path_agrees_with_tabulate_and_jacfwd_under_jit_and_vmap(e, x64):
    # The JAX methods (jit of vmap) equal the float64 numpy tables checked above, and the
    # closed-form gradients equal forward-mode autodiff of the shape functions.
    del x64
    x = _random_points(e, 12, seed=3)
    values, gradients = tabulate(e, x)
    assert values.dtype == gradients.dtype == np.float64
    assert values.shape == (len(x), e.num_nodes)
    assert gradients.shape == (len(x), e.num_nodes, e.dim)

    @jax.jit
    def evaluate(points):
        return (
            jax.vmap(e.shape_functions)(points),
            jax.vmap(e.shape_gradients)(points),
            jax.vmap(jax.jacfwd(e.shape_functions))(points),
        )

    jax_values, jax_gradients, autodiff = evaluate(jnp.asarray(x))
    assert jax_values.dtype == jax_gradients.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(jax_values), values, atol=TOL)
    np.testing.assert_allclose(np.asarray(jax_gradients), gradients, atol=TOL)
    np.testing.assert_allclose(np.asarray(autodiff), gradients, atol=TOL)


@pytest.mark.parametrize("e", ELEMENTS, ids=IDS)
def test_follows_the_dtype_of_the_input_in_float32(e):
    x = jnp.asarray(_random_points(e, 1)[0], dtype=jnp.float32)
    assert e.shape_functions(x).dtype == jnp.float32
    assert e.shape_gradients(x).dtype == jnp.float32
    # tabulate is float64 whatever JAX's precision mode.
    values, _ = tabulate(e, np.asarray(x)[None])
    assert values.dtype == np.float64


def test_element_is_a_static_argument_without_recompiling():
    def interpolate(e, x):
        return jax.vmap(e.shape_functions)(x).sum()

    f = jax.jit(interpolate, static_argnums=0)
    assert_no_recompile(f, (Quad4(), jnp.zeros((3, 2))), (Quad4(), jnp.ones((3, 2))))
    assert f(Tri6(), jnp.full((3, 2), 0.2)) == pytest.approx(3.0, rel=1e-6)


@pytest.mark.parametrize("e", ELEMENTS, ids=IDS)
def test_mass_matrix_sums_to_the_measure(e):
    points, weights = e.quadrature(2 * e.degree)
    values, _ = tabulate(e, points)
    mass = np.einsum("q,qi,qj->ij", weights, values, values)
    measure = REFERENCE_MEASURE[reference_shape(e.cell_type)]
    assert mass.sum() == pytest.approx(measure, rel=1e-13)
    np.testing.assert_allclose(mass, mass.T, atol=1e-15)
    assert np.linalg.eigvalsh(mass).min() > 0
    # Exact: a higher-degree rule gives the same matrix.
    points, weights = e.quadrature(2 * e.degree + 3)
    values, _ = tabulate(e, points)
    np.testing.assert_allclose(np.einsum("q,qi,qj->ij", weights, values, values), mass, atol=1e-14)


@pytest.mark.parametrize("e", ELEMENTS, ids=IDS)
def test_default_quadrature_integrates_the_stiffness_matrix_exactly(e):
    points, weights = e.quadrature()
    _, grads = tabulate(e, points)
    stiffness = np.einsum("q,qik,qjk->ij", weights, grads, grads)
    points, weights = e.quadrature(2 * e.degree + 2)
    _, grads = tabulate(e, points)
    np.testing.assert_allclose(
        np.einsum("q,qik,qjk->ij", weights, grads, grads), stiffness, atol=1e-13
    )
    np.testing.assert_allclose(stiffness.sum(axis=1), 0.0, atol=1e-13)  # constants: no energy


def _lumped(e: AbstractElement) -> np.ndarray:
    """∫ N_i over the reference cell, as a fraction of its measure."""
    points, weights = e.quadrature(e.degree)
    return weights @ tabulate(e, points)[0] / weights.sum()


def test_closed_form_integrals():
    np.testing.assert_allclose(_lumped(Tri3()), np.full(3, 1 / 3), atol=1e-15)
    np.testing.assert_allclose(_lumped(Tri6()), [0, 0, 0, 1 / 3, 1 / 3, 1 / 3], atol=1e-15)
    np.testing.assert_allclose(_lumped(Tet10()), [-1 / 20] * 4 + [1 / 5] * 6, atol=1e-15)
    np.testing.assert_allclose(_lumped(Quad8()), [-1 / 12] * 4 + [1 / 3] * 4, atol=1e-15)
    np.testing.assert_allclose(_lumped(Quad9()), [1 / 36] * 4 + [1 / 9] * 4 + [4 / 9], atol=1e-15)
    np.testing.assert_allclose(_lumped(Line3()), [1 / 6, 1 / 6, 2 / 3], atol=1e-15)
    # Tri3 mass matrix on the unit triangle: area/12 [[2,1,1],[1,2,1],[1,1,2]].
    points, weights = Tri3().quadrature(2)
    values, _ = tabulate(Tri3(), points)
    expected = 0.5 / 12 * (np.ones((3, 3)) + np.eye(3))
    np.testing.assert_allclose(np.einsum("q,qi,qj->ij", weights, values, values), expected)
    # Quad4 stiffness on [-1,1]^2: the classic (1/6)[[4,-1,-2,-1], ...].
    points, weights = Quad4().quadrature()
    _, grads = tabulate(Quad4(), points)
    row = np.array([4.0, -1.0, -2.0, -1.0]) / 6
    expected = np.stack([np.roll(row, k) for k in range(4)])
    np.testing.assert_allclose(np.einsum("q,qik,qjk->ij", weights, grads, grads), expected)


SKFEM_PAIRS = [
    ("line2", "ElementLineP1", "MeshLine"),
    ("line3", "ElementLineP2", "MeshLine"),
    ("tri3", "ElementTriP1", "MeshTri"),
    ("tri6", "ElementTriP2", "MeshTri"),
    ("quad4", "ElementQuad1", "MeshQuad"),
    ("quad8", "ElementQuadS2", "MeshQuad"),
    ("quad9", "ElementQuad2", "MeshQuad"),
    ("tet4", "ElementTetP1", "MeshTet"),
    ("tet10", "ElementTetP2", "MeshTet"),
    ("hex8", "ElementHex1", "MeshHex"),
    ("hex20", "ElementHexS2", "MeshHex"),
]


@pytest.mark.parametrize(("cell_type", "sk_element", "sk_mesh"), SKFEM_PAIRS)
def test_matches_scikit_fem(cell_type, sk_element, sk_mesh):
    # scikit-fem's reference cells are [0,1]^d for tensor cells (ours: [-1,1]^d) and its node
    # orderings differ, so compare what is invariant: the sorted integrals of the shape
    # functions and the eigenvalues of the mass and stiffness matrices, after scaling.
    skfem = pytest.importorskip("skfem")
    from skfem.models.poisson import laplace, mass, unit_load

    e = element(cell_type)
    dim = e.dim
    if sk_mesh == "MeshTri":
        mesh = skfem.MeshTri(np.array([[0.0, 1, 0], [0, 0, 1]]), np.array([[0], [1], [2]]))
    elif sk_mesh == "MeshTet":
        p = np.array([[0.0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
        mesh = skfem.MeshTet(p, np.array([[0], [1], [2], [3]]))
    else:
        mesh = getattr(skfem, sk_mesh)()  # one unit cell
    basis = skfem.Basis(mesh, getattr(skfem, sk_element)(), intorder=2 * e.degree + 1)
    assert basis.N == e.num_nodes
    sk_mass = skfem.asm(mass, basis).toarray()
    sk_stiffness = skfem.asm(laplace, basis).toarray()
    sk_load = skfem.asm(unit_load, basis)
    tensor = reference_shape(cell_type) not in ("triangle", "tetrahedron")
    volume_ratio = 2.0**dim if tensor else 1.0  # our reference measure / scikit-fem's
    stiffness_ratio = 2.0 ** (dim - 2) if tensor else 1.0  # ∫ ∇N·∇N scales as h^(d-2)

    points, weights = e.quadrature(2 * e.degree)
    values, grads = tabulate(e, points)
    ours_mass = np.einsum("q,qi,qj->ij", weights, values, values)
    ours_stiffness = np.einsum("q,qik,qjk->ij", weights, grads, grads)
    ours_load = weights @ values
    np.testing.assert_allclose(np.sort(ours_load), np.sort(sk_load) * volume_ratio, atol=1e-13)
    np.testing.assert_allclose(
        np.linalg.eigvalsh(ours_mass), np.linalg.eigvalsh(sk_mass) * volume_ratio, atol=1e-13
    )
    np.testing.assert_allclose(
        np.linalg.eigvalsh(ours_stiffness),
        np.linalg.eigvalsh(sk_stiffness) * stiffness_ratio,
        atol=1e-12,
    )


def test_element_registry_and_meshio_names():
    assert element("tri6") == Tri6()
    assert element("triangle") == Tri3()
    assert element("tetra10") == Tet10()
    assert element("hexahedron20") == Hex20()
    assert element("quad") == Quad4()
    with pytest.raises(ValueError, match=r"cell_type.*'tri3'.*'hex8'"):
        element("wedge6")
    with pytest.raises(TypeError):
        element(Quad4)  # type: ignore[arg-type]


def test_bad_points_raise():
    with pytest.raises(ValueError, match="xi"):
        Quad4().shape_functions(jnp.zeros(3))
    with pytest.raises(TypeError):
        Tri3().shape_functions(jnp.zeros(2, dtype=jnp.int32))
    with pytest.raises(ValueError, match="points"):
        tabulate(Hex8(), np.zeros((4, 2)))
    with pytest.raises(TypeError):
        tabulate("hex8", np.zeros((4, 3)))  # type: ignore[arg-type]
