"""Tests for the quadrature rules of dmech.fem (dmech/fem/_quadrature.py)."""

import itertools
import math

import numpy as np
import pytest

from dmech.fem._quadrature import (
    REFERENCE_MEASURE,
    gauss_jacobi,
    gauss_legendre,
    hexahedron_rule,
    line_rule,
    quadrature,
    quadrilateral_rule,
    tetrahedron_rule,
    triangle_rule,
)

EXACT_ATOL = 1e-13


def _exact_simplex(exponents: tuple[int, ...]) -> float:
    """∫ Π x_k^{a_k} over the unit simplex: Π a_k! / (Σ a_k + dim)!."""
    numerator = math.prod(math.factorial(a) for a in exponents)
    return numerator / math.factorial(sum(exponents) + len(exponents))


def _exact_cube(exponents: tuple[int, ...]) -> float:
    """∫ Π x_k^{a_k} over [-1, 1]^dim: Π 2/(a_k + 1) for even a_k, 0 if any is odd."""
    return math.prod(2.0 / (a + 1) if a % 2 == 0 else 0.0 for a in exponents)


SHAPES = {
    # shape: (rule, dim, exact integral, largest degree tested)
    "line": (line_rule, 1, _exact_cube, 15),
    "triangle": (triangle_rule, 2, _exact_simplex, 12),
    "quadrilateral": (quadrilateral_rule, 2, _exact_cube, 11),
    "tetrahedron": (tetrahedron_rule, 3, _exact_simplex, 8),
    "hexahedron": (hexahedron_rule, 3, _exact_cube, 7),
}
CASES = [(shape, d) for shape, spec in SHAPES.items() for d in range(spec[3] + 1)]


def _monomials(dim: int, degree: int) -> list[tuple[int, ...]]:
    return [a for a in itertools.product(range(degree + 1), repeat=dim) if sum(a) <= degree]


def _errors(shape: str, points: np.ndarray, weights: np.ndarray, degree: int) -> np.ndarray:
    """|rule - exact| for every monomial of total degree exactly `degree`."""
    _, dim, exact, _ = SHAPES[shape]
    monomials = [a for a in _monomials(dim, degree) if sum(a) == degree]
    return np.array(
        [abs(weights @ np.prod(points ** np.array(a), axis=1) - exact(a)) for a in monomials]
    )


@pytest.mark.parametrize(("shape", "degree"), CASES)
def test_every_monomial_up_to_the_degree_is_exact(shape, degree):
    rule, dim, _, _ = SHAPES[shape]
    points, weights = rule(degree)
    assert points.dtype == weights.dtype == np.float64
    assert points.shape == (weights.shape[0], dim)
    for k in range(degree + 1):
        errors = _errors(shape, points, weights, k)
        assert errors.max() <= EXACT_ATOL, (shape, degree, k, errors.max())


@pytest.mark.parametrize(("shape", "degree"), [c for c in CASES if c[1] >= 1])
def test_degree_claim_is_not_wasteful(shape, degree):
    # Rules are exact to `degree` (checked above) but not to both `degree + 1` and
    # `degree + 2`: no rule is more than one degree stronger (and so larger) than asked for.
    # (Odd monomials vanish on [-1, 1]^n by symmetry, hence two degrees.)
    points, weights = SHAPES[shape][0](degree)
    errors = [_errors(shape, points, weights, degree + k).max() for k in (1, 2)]
    assert max(errors) > 1e-11  # rounding errors are ~1e-16


@pytest.mark.parametrize(("shape", "degree"), CASES)
def test_positive_weights_summing_to_the_measure_and_interior_points(shape, degree):
    points, weights = SHAPES[shape][0](degree)
    assert np.all(weights > 0.0)
    assert weights.sum() == pytest.approx(REFERENCE_MEASURE[shape], rel=1e-14)
    if shape in ("triangle", "tetrahedron"):
        assert np.all(points > 0.0)
        assert np.all(points.sum(axis=1) < 1.0)
    else:
        assert np.all(np.abs(points) < 1.0)
    # No repeated points.
    assert len(np.unique(points.round(12), axis=0)) == len(points)


@pytest.mark.parametrize(
    ("rule", "sizes"),
    [
        (triangle_rule, {0: 1, 1: 1, 2: 3, 3: 6, 4: 6, 5: 7, 6: 12, 7: 16, 8: 25}),
        (tetrahedron_rule, {0: 1, 1: 1, 2: 4, 3: 8, 4: 14, 5: 14, 6: 64, 7: 64}),
        (quadrilateral_rule, {0: 1, 1: 1, 2: 4, 3: 4, 4: 9, 5: 9}),
        (hexahedron_rule, {1: 1, 2: 8, 3: 8, 4: 27}),
        (line_rule, {1: 1, 2: 2, 3: 2, 4: 3}),
    ],
)
def test_rule_sizes(rule, sizes):
    assert {d: len(rule(d)[1]) for d in sizes} == sizes


@pytest.mark.parametrize("n", range(1, 12))
def test_gauss_legendre(n):
    x, w = gauss_legendre(n)
    assert x.shape == w.shape == (n,)
    assert np.all(np.diff(x) > 0)
    for k in range(2 * n):
        assert w @ x**k == pytest.approx(_exact_cube((k,)), abs=EXACT_ATOL)
    assert abs(w @ x ** (2 * n) - _exact_cube((2 * n,))) > 1e-8


@pytest.mark.parametrize("alpha", [0, 1, 2])
@pytest.mark.parametrize("n", [1, 2, 5])
def test_gauss_jacobi(n, alpha):
    # ∫_0^1 t^k (1 - t)^α dt = k! α! / (k + α + 1)!
    t, w = gauss_jacobi(n, alpha)
    assert np.all((t > 0) & (t < 1)) and np.all(w > 0)
    for k in range(2 * n):
        exact = math.factorial(k) * math.factorial(alpha) / math.factorial(k + alpha + 1)
        assert w @ t**k == pytest.approx(exact, abs=EXACT_ATOL)


@pytest.mark.parametrize(
    ("cell_type", "rule"),
    [
        ("line2", line_rule),
        ("line3", line_rule),
        ("line", line_rule),
        ("tri3", triangle_rule),
        ("tri6", triangle_rule),
        ("triangle", triangle_rule),
        ("quad4", quadrilateral_rule),
        ("quad8", quadrilateral_rule),
        ("quad9", quadrilateral_rule),
        ("quad", quadrilateral_rule),
        ("tet4", tetrahedron_rule),
        ("tet10", tetrahedron_rule),
        ("tetra", tetrahedron_rule),
        ("hex8", hexahedron_rule),
        ("hex20", hexahedron_rule),
        ("hexahedron", hexahedron_rule),
    ],
)
def test_quadrature_dispatches_on_cell_type(cell_type, rule):
    for degree in (0, 3, 4):
        points, weights = quadrature(cell_type, degree)
        expected_points, expected_weights = rule(degree)
        np.testing.assert_array_equal(points, expected_points)
        np.testing.assert_array_equal(weights, expected_weights)


def test_returned_arrays_are_copies():
    points, weights = triangle_rule(4)
    points[:] = -1.0
    weights[:] = 0.0
    points, weights = triangle_rule(4)
    assert np.all(points > 0) and weights.sum() == pytest.approx(0.5)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"cell_type.*'tri3'"):
        quadrature("pentagon", 2)
    with pytest.raises(TypeError, match="cell_type"):
        quadrature(3, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="degree"):
        quadrature("tri3", -1)
    with pytest.raises(TypeError, match="degree"):
        triangle_rule(2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="degree"):
        hexahedron_rule(True)
    with pytest.raises(ValueError, match="`n`"):
        gauss_legendre(0)
    with pytest.raises(ValueError, match="alpha"):
        gauss_jacobi(2, -1)
