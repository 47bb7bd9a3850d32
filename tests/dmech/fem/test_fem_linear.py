"""Linear FE physics: patch tests, manufactured solutions with observed orders, the Timoshenko
cantilever, scikit-fem cross-checks, and gradients against finite differences (float64)."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.fem import (
    DirichletBC,
    FunctionSpace,
    apply_dirichlet,
    diffusion_matrix,
    elasticity_matrix,
    isotropic_elasticity,
    linear_solve,
    solve_linear_elasticity,
    source_vector,
    traction_vector,
)
from dmech.geometry import boundary_nodes, box_mesh, rectangle_mesh, select_facets, select_nodes
from dmech.testing import assert_convergence_order, check_grad

TYPES_2D = ["tri3", "tri6", "quad4", "quad8", "quad9"]
TYPES_3D = ["tet4", "tet10", "hex8"]
DEGREE = {
    "tri3": 1,
    "quad4": 1,
    "tet4": 1,
    "hex8": 1,
    "tri6": 2,
    "quad8": 2,
    "quad9": 2,
    "tet10": 2,
}


def _mesh(cell_type, n, distort=0.0, seed=0):
    if cell_type in TYPES_2D:
        mesh = rectangle_mesh(n, n, cell_type=cell_type)
    else:
        mesh = box_mesh(n, n, n, cell_type=cell_type)
    if distort:
        # Move interior vertices randomly (midside nodes follow their edges' ends).
        p = np.asarray(mesh.points).copy()
        corners = np.unique(np.asarray(mesh.cells)[:, : {2: 4, 3: 8}[mesh.dim]])
        interior = np.setdiff1d(corners, boundary_nodes(mesh))
        rng = np.random.default_rng(seed)
        p[interior] += distort / n * rng.uniform(-1, 1, (len(interior), mesh.dim))
        if DEGREE[cell_type] == 2:
            p = _recentre_midside(mesh, p)
        mesh = mesh.with_points(jnp.asarray(p), validate=True)  # no inverted cell
    return mesh


def _recentre_midside(mesh, p):
    """Put every midside node at the mean of its edge's end nodes (straight-sided cells)."""
    from dmech.fem import element

    elem = element(mesh.cell_type)
    ref = elem.reference_nodes()
    cells = np.asarray(mesh.cells)
    ncorner = {"tri6": 3, "quad8": 4, "quad9": 4, "tet10": 4}[mesh.cell_type]
    from dmech.fem import tabulate

    # Linear (corner) interpolation of the positions of higher-order nodes.
    corner_elem = element(
        {"tri6": "tri3", "quad8": "quad4", "quad9": "quad4", "tet10": "tet4"}[mesh.cell_type]
    )
    shape, _ = tabulate(corner_elem, ref[ncorner:])
    for cell in cells:
        p[cell[ncorner:]] = shape @ p[cell[:ncorner]]
    return p


@pytest.mark.parametrize("cell_type", TYPES_2D + TYPES_3D)
def test_patch_test_reproduces_a_linear_field(x64, cell_type):
    mesh = _mesh(cell_type, 3, distort=0.25)
    dim = mesh.dim
    space = FunctionSpace(mesh, components=dim)
    rng = np.random.default_rng(1)
    grad_u = rng.normal(size=(dim, dim)) * 1e-2
    exact = np.asarray(mesh.points) @ grad_u.T + rng.normal(size=dim)
    fixed = space.dofs(boundary_nodes(mesh))
    c = isotropic_elasticity(200.0, 0.3, dim=dim, plane="strain" if dim == 2 else None)
    result = solve_linear_elasticity(
        space, c, dirichlet=DirichletBC(fixed, exact.reshape(-1)[fixed])
    )
    np.testing.assert_allclose(result.displacement, exact, atol=1e-12)


def _manufactured_poisson(cell_type, n):
    mesh = _mesh(cell_type, n)
    space = FunctionSpace(mesh)
    # Errors and loads are integrated with a finer rule than the stiffness matrix.
    fine = FunctionSpace(mesh, quadrature_degree=2 * DEGREE[cell_type] + 4)
    bc = DirichletBC(space.dofs(boundary_nodes(mesh)))
    return float(_poisson_error(space, fine, bc))


@eqx.filter_jit
def _poisson_error(space, fine, bc):
    """L2 error of -Δu = f, u = 0 on the boundary, exact u = Π sin(π x_i)."""
    dim = space.mesh.dim

    def exact(x):
        return jnp.prod(jnp.sin(jnp.pi * x), axis=-1)

    xq = fine.quadrature_points()
    f = source_vector(fine, (dim * jnp.pi**2 * exact(xq))[..., None])
    a, f = apply_dirichlet(diffusion_matrix(space, 1.0), f, bc)
    u = linear_solve(a, f)
    dx, _ = fine.geometry()
    return jnp.sqrt(jnp.sum(dx * (fine.interpolate_at_quadrature(u) - exact(xq)) ** 2))


@pytest.mark.parametrize(
    ("cell_type", "sizes"),
    [
        # default run: a linear simplex, a quadratic 2D and a 3D element (the patch test above
        # covers every element type by default); the others are slow
        ("tri3", (4, 8, 16)),
        pytest.param("quad4", (4, 8, 16), marks=pytest.mark.slow),
        pytest.param("tri6", (2, 4, 8), marks=pytest.mark.slow),
        ("quad8", (2, 4, 8)),
        pytest.param("quad9", (2, 4, 8), marks=pytest.mark.slow),
        pytest.param("tet4", (4, 6, 8), marks=pytest.mark.slow),
        ("hex8", (3, 5, 7)),
        pytest.param("tet10", (2, 3, 4), marks=pytest.mark.slow),
    ],
)
def test_poisson_l2_error_converges_at_the_theoretical_order(x64, cell_type, sizes):
    errors = [_manufactured_poisson(cell_type, n) for n in sizes]
    hs = [1.0 / n for n in sizes]
    assert_convergence_order(hs, errors, expected=DEGREE[cell_type] + 1, tol=0.2)


def _timoshenko(length=10.0, depth=1.0, load=1.0, e=1000.0, nu=0.3):
    inertia = depth**3 / 12

    def displacement(x, y):
        ux = (
            -load
            * y
            / (6 * e * inertia)
            * ((6 * length - 3 * x) * x + (2 + nu) * (y**2 - depth**2 / 4))
        )
        uy = (
            load
            / (6 * e * inertia)
            * (
                3 * nu * y**2 * (length - x)
                + (4 + 5 * nu) * depth**2 * x / 4
                + (3 * length - x) * x**2
            )
        )
        return np.stack([ux, uy], -1)

    tip = load * length**3 / (3 * e * inertia) + (4 + 5 * nu) * load * depth**2 * length / (
        24 * e * inertia
    )
    return displacement, tip, inertia


@pytest.mark.parametrize(
    ("cell_type", "nx", "ny", "rtol"),
    [("quad8", 40, 4, 1e-3), ("quad9", 40, 4, 1e-3), ("tri6", 40, 4, 2e-3), ("quad4", 80, 8, 3e-2)],
)
def test_cantilever_tip_deflection_matches_timoshenko(x64, cell_type, nx, ny, rtol):
    length, depth, load, e, nu = 10.0, 1.0, 1.0, 1000.0, 0.3
    displacement, tip, inertia = _timoshenko(length, depth, load, e, nu)
    mesh = rectangle_mesh(
        nx, ny, cell_type=cell_type, lower=(0.0, -depth / 2), upper=(length, depth / 2)
    )
    space = FunctionSpace(mesh, components=2)
    p = np.asarray(mesh.points)
    clamp = select_nodes(mesh, lambda x: np.isclose(x[:, 0], 0.0))
    fixed = space.dofs(clamp)
    values = displacement(p[:, 0], p[:, 1]).reshape(-1)[fixed]
    end = select_facets(mesh, lambda x: np.isclose(x[:, 0], length))
    y = p[end.cells][..., 1]  # (facets, nodes per facet)
    shear = load / (2 * inertia) * (depth**2 / 4 - y**2)
    traction = np.stack([np.zeros_like(shear), shear], -1)
    c = isotropic_elasticity(e, nu, dim=2, plane="stress")
    result = solve_linear_elasticity(
        space,
        c,
        dirichlet=DirichletBC(fixed, values),
        traction_facets=end,
        traction=traction,
    )
    tip_node = np.argmin(np.hypot(p[:, 0] - length, p[:, 1]))
    assert float(result.displacement[tip_node, 1]) == pytest.approx(tip, rel=rtol)


def test_same_answer_as_scikit_fem(x64):
    skfem = pytest.importorskip("skfem", reason="scikit-fem is in the test extra")
    from skfem.models.elasticity import lame_parameters, linear_elasticity

    for cell_type, mesh_cls, elem in (
        ("tri3", skfem.MeshTri, skfem.ElementTriP1()),
        ("quad4", skfem.MeshQuad, skfem.ElementQuad1()),
        ("tet4", skfem.MeshTet, skfem.ElementTetP1()),
    ):
        mesh = _mesh(cell_type, 4 if cell_type != "tet4" else 3, distort=0.3)
        dim = mesh.dim
        p, t = np.asarray(mesh.points), np.asarray(mesh.cells)
        sk_mesh = mesh_cls(p.T.copy(), t.T.copy())
        e, nu = 3.0, 0.27
        c = isotropic_elasticity(e, nu, dim=dim, plane="strain" if dim == 2 else None)
        space = FunctionSpace(mesh, components=dim)
        # The same quadrature on both sides (distorted quads have rational integrands).
        basis = skfem.Basis(sk_mesh, skfem.ElementVector(elem), intorder=space.quadrature_degree)
        k = elasticity_matrix(space, c)
        k_sk = skfem.asm(linear_elasticity(*lame_parameters(e, nu)), basis)
        # skfem orders vector dofs node by node too ("interleaved" ElementVector).
        np.testing.assert_allclose(k.todense(), k_sk.toarray(), rtol=1e-10, atol=1e-12)
        clamp = space.dofs(select_nodes(mesh, lambda x: np.isclose(x[:, 0], 0.0)))
        f = np.zeros(space.num_dofs)
        f[space.dofs(select_nodes(mesh, lambda x: np.isclose(x[:, 0], 1.0)), 1)] = -0.1
        u_sk = skfem.solve(*skfem.condense(k_sk, f, D=clamp))
        u = solve_linear_elasticity(
            space, c, dirichlet=DirichletBC(clamp), point_load=f
        ).displacement
        rel = np.linalg.norm(u.reshape(-1) - u_sk) / np.linalg.norm(u_sk)
        assert rel < 1e-10, (cell_type, rel)


def _compliance_problem(cell_type="quad4", n=4):
    mesh = _mesh(cell_type, n)
    dim = mesh.dim
    space = FunctionSpace(mesh, components=dim)
    clamp = space.dofs(select_nodes(mesh, lambda x: np.isclose(x[:, 0], 0.0)))
    right = select_facets(mesh, lambda x: np.isclose(x[:, 0], 1.0))
    return mesh, space, clamp, right


@pytest.mark.parametrize("solver", ["lu", "pcg"])
def test_compliance_gradients_match_finite_differences(x64, solver):
    from dmech.fem import PCG, SparseLU

    sol = SparseLU() if solver == "lu" else PCG(rtol=1e-12)
    mesh, space, clamp, right = _compliance_problem()
    moduli = 1.0 + 0.5 * jnp.sin(jnp.arange(mesh.num_cells, dtype=jnp.float64))

    def compliance(moduli, traction, clamp_values):
        c = isotropic_elasticity(moduli, 0.3, dim=2, plane="stress")
        result = solve_linear_elasticity(
            space,
            c,
            dirichlet=DirichletBC(clamp, clamp_values),
            traction_facets=right,
            traction=traction,
            solver=sol,
        )
        return result.compliance() + jnp.sum(result.displacement**2)

    traction = jnp.array([0.1, -0.3])
    values = 0.01 * jnp.cos(jnp.arange(len(clamp), dtype=jnp.float64))
    check_grad(compliance, moduli, traction, values, argnums=(0, 1, 2), mode="reverse")


def test_displacement_target_gradient_through_the_mesh_coordinates(x64):
    mesh, space, clamp, right = _compliance_problem("tri3", 3)
    c = isotropic_elasticity(1.0, 0.3, dim=2, plane="strain")

    def tip(points):
        moved = eqx.tree_at(lambda s: s.mesh.points, space, points)  # same static data
        u = solve_linear_elasticity(
            moved,
            c,
            dirichlet=DirichletBC(clamp),
            traction_facets=right,
            traction=jnp.array([0.0, -1.0]),
        ).displacement
        return u[-1, 1]

    check_grad(tip, mesh.points, mode="reverse")


def test_traction_vector_integrates_the_load_exactly(x64):
    mesh = rectangle_mesh(3, 5, cell_type="quad8", upper=(2.0, 3.0))
    space = FunctionSpace(mesh, components=2)
    top = select_facets(mesh, lambda x: np.isclose(x[:, 1], 3.0))
    f = traction_vector(space, top, jnp.array([0.5, -2.0]))
    np.testing.assert_allclose(f.reshape(-1, 2).sum(0), [0.5 * 2.0, -2.0 * 2.0], rtol=1e-12)
    b = source_vector(space, jnp.array([1.0, 3.0]))
    np.testing.assert_allclose(b.reshape(-1, 2).sum(0), [6.0, 18.0], rtol=1e-12)


def test_bad_material_and_shapes_raise_naming_the_argument():
    with pytest.raises(ValueError, match="youngs_modulus"):
        isotropic_elasticity(-1.0, 0.3, dim=3)
    with pytest.raises(ValueError, match="poissons_ratio"):
        isotropic_elasticity(1.0, 0.5, dim=3)
    with pytest.raises(ValueError, match="plane"):
        isotropic_elasticity(1.0, 0.3, dim=2)
    mesh = rectangle_mesh(2, 2)
    space = FunctionSpace(mesh, components=2)
    with pytest.raises(ValueError, match="stiffness"):
        elasticity_matrix(space, jnp.eye(6))
    with pytest.raises(ValueError, match="components"):
        FunctionSpace(mesh, components=0)


def _kirsch_stress(x, y, s=1.0, a=1.0):
    """Kirsch's stresses around a hole of radius a in an infinite plate under σ_xx = s."""
    r2 = x**2 + y**2
    t = np.arctan2(y, x)
    q2, q4 = a**2 / r2, a**4 / r2**2
    srr = s / 2 * (1 - q2) + s / 2 * (1 - 4 * q2 + 3 * q4) * np.cos(2 * t)
    stt = s / 2 * (1 + q2) - s / 2 * (1 + 3 * q4) * np.cos(2 * t)
    srt = -s / 2 * (1 + 2 * q2 - 3 * q4) * np.sin(2 * t)
    c, n = np.cos(t), np.sin(t)
    sxx = srr * c**2 - 2 * srt * n * c + stt * n**2
    syy = srr * n**2 + 2 * srt * n * c + stt * c**2
    sxy = (srr - stt) * n * c + srt * (c**2 - n**2)
    return np.stack([sxx, syy, sxy], -1)


def _kirsch_error(size):
    from dmech.fem import stress
    from dmech.geometry import plate_with_hole_mesh

    width, e, nu = 4.0, 1.0, 0.3
    mesh = plate_with_hole_mesh(width, 1.0, size=size, cell_type="tri6")
    space = FunctionSpace(mesh, components=2)
    p = np.asarray(mesh.points)
    left = space.dofs(select_nodes(mesh, lambda x: np.isclose(x[:, 0], 0.0)), 0)
    bottom = space.dofs(select_nodes(mesh, lambda x: np.isclose(x[:, 1], 0.0)), 1)
    fixed = np.union1d(left, bottom)  # symmetry planes
    tractions, facets = [], []
    for axis in (0, 1):  # exact tractions σ·n on the outer edges x = width and y = width
        edge = select_facets(mesh, lambda x, axis=axis: np.isclose(x[:, axis], width))
        sig = _kirsch_stress(p[edge.cells][..., 0], p[edge.cells][..., 1])
        t = sig[..., [0, 2]] if axis == 0 else sig[..., [2, 1]]
        tractions.append(t)
        facets.append(edge.cells)
    c = isotropic_elasticity(e, nu, dim=2, plane="stress")
    result = solve_linear_elasticity(
        space,
        c,
        dirichlet=DirichletBC(fixed),
        traction_facets=np.concatenate(facets),
        traction=jnp.asarray(np.concatenate(tractions)),
    )
    sig_h = np.asarray(stress(space, result.displacement, c))
    xq = np.asarray(space.quadrature_points())
    sig = _kirsch_stress(xq[..., 0], xq[..., 1])
    dx, _ = space.geometry()
    dx = np.asarray(dx)[..., None]
    rel = np.sqrt(np.sum(dx * (sig_h - sig) ** 2) / np.sum(dx * sig**2))
    near_top = np.unravel_index(np.argmin(np.hypot(xq[..., 0], xq[..., 1] - 1.0)), xq.shape[:2])
    return rel, sig_h[near_top][0], sig[near_top][0]


def test_plate_with_hole_matches_kirsch(x64):
    pytest.importorskip("gmsh", reason="gmsh is in the test extra")
    coarse, _, _ = _kirsch_error(0.8)
    fine, peak_h, peak = _kirsch_error(0.4)
    # Measured: relative L2 stress error 6.4e-3 (size 0.8) and 1.8e-3 (0.4), order ~1.8.
    assert fine < 0.4 * coarse
    assert fine < 3e-3
    assert peak_h == pytest.approx(peak, rel=5e-3)  # the stress concentration, near 3
    assert 2.9 < peak < 3.0


@pytest.mark.parametrize("dim", [2, 3])
def test_anisotropic_stiffness_equals_the_b_matrix_form(x64, dim):
    # K = ∫ Bᵀ C B dx is assembled on gradients (no B); check it against the textbook form
    # for a random anisotropic C that is constant, per cell and per quadrature point.
    from dmech.fem._linear import _strain_displacement

    mesh = rectangle_mesh(3, 2, cell_type="quad4") if dim == 2 else box_mesh(2, 2, 1)
    space = FunctionSpace(mesh, components=dim)
    nv, cells, q = 3 * (dim - 1), mesh.num_cells, space.num_quadrature_points
    rng = np.random.default_rng(0)
    a = rng.normal(size=(cells, q, nv, nv))
    c_q = jnp.asarray(np.einsum("cqvw,cquw->cqvu", a, a) + np.eye(nv))
    dx, grads = space.geometry()
    b = _strain_displacement(grads)
    for c in (c_q[0, 0], c_q[:, 0], c_q):
        cq = jnp.broadcast_to(c if c.ndim == 4 else (c[:, None] if c.ndim == 3 else c), c_q.shape)
        expected = np.einsum("cq,cqvi,cqvw,cqwj->cij", dx, b, cq, b)
        dense = np.zeros((space.num_dofs, space.num_dofs))
        for dofs, ke in zip(space.element_dofs, expected, strict=True):
            dense[np.ix_(dofs, dofs)] += ke
        np.testing.assert_allclose(elasticity_matrix(space, c).todense(), dense, atol=1e-12)
