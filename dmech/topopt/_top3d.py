"""A NumPy/SciPy implementation of top3d, the `topopt-3d` benchmark's peer.

Written from the paper (Liu and Tovar (2014), An efficient 3D topology optimization code
written in Matlab, Struct. Multidisc. Optim. 50, 1175-1196), keeping its algorithm and
conventions: top3d's node, element and dof numbering, the 24x24 hex8 stiffness of a unit
cube with ``E = 1``, assembly of ``K`` from precomputed index arrays (``edofMat``, ``iK``,
``jK``), modified SIMP, the filter matrix ``H`` and the OC bisection of the 88-line code. It is
deliberately the classic algorithm, not dmech's code path. Two equivalent shortcuts: ``K`` is
assembled on the free dofs directly (``iK``, ``jK`` mapped to them once), not sliced as
``K(freedofs, freedofs)`` every iteration, and top3d's ``K = (K + K')/2`` is left out because
``K_e`` is symmetric to the last bit.

The problem is dmech's 3D :func:`~dmech.topopt.cantilever`: clamped at ``x = 0``, a unit
downward load spread evenly over the nodes of the bottom edge (``z = 0``) of the face
``x = nelx`` (top3d puts ``-1`` on every node of that edge instead). top3d draws the vertical
axis as its ``y`` (rows of each layer counted from the top) and the depth as its ``z``, so the
peer runs top3d with top3d's ``(x, y, z)`` equal to dmech's ``(x, z, y)``:

- element (column ``i``, row ``r`` from the top, layer ``l``) is number
  ``l nelx nelz + i nelz + r`` and is dmech's cell with centroid
  ``(i + 1/2, l + 1/2, nelz - r - 1/2)``;
- node (column ``i``, row ``r``, layer ``l``) is number
  ``l (nelx + 1)(nelz + 1) + i (nelz + 1) + r``, at dmech's point ``(i, l, nelz - r)``;
- dof ``3 node + c`` is top3d's component ``c``, dmech's component ``(0, 2, 1)[c]``.

:func:`top3d` returns the physical densities already in dmech's axes, as an array of shape
``(nelx, nely, nelz)`` indexed by the cell's ``(x, y, z)`` grid position (``z`` from the
bottom): ``rho[floor(cx), floor(cy), floor(cz)]`` for a dmech cell of centroid ``(cx, cy, cz)``.
"""

from __future__ import annotations

import itertools
import time
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

# top3d's local nodes in its own frame (x right, y up, z into the depth), in edofMat's column
# order: counter-clockwise in the x-y plane from the lower left corner on the element's first
# layer, then the same four on its second layer.
LOCAL_NODES = np.array(
    [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]]
)
# top3d's component c is dmech's component DMECH_COMPONENT[c] (top3d's y is dmech's z).
DMECH_COMPONENT = np.array([0, 2, 1])


class Top3dResult(NamedTuple):
    """What :func:`top3d` returns.

    Attributes:
        physical: the final physical densities, shape ``(nelx, nely, nelz)`` in dmech's axes.
        compliances: the compliance of each iteration's physical design, shape ``(k,)``.
        seconds: the wall time of each iteration, shape ``(k,)``.
        cg_steps: CG iterations of each iteration's solve, shape ``(k,)`` (empty for the
            direct solver).
    """

    physical: np.ndarray
    compliances: np.ndarray
    seconds: np.ndarray
    cg_steps: np.ndarray


def element_stiffness(nu: float) -> np.ndarray:
    """The 24x24 stiffness of a unit cube hex8 element, ``E = 1``, in top3d's node order.

    ``K_e = ∫ Bᵀ D B dx`` by 2x2x2 Gauss quadrature (exact for the trilinear cube), dofs
    ``(u_x, u_y, u_z)`` of node 1, then node 2, ...; symmetrised to round-off.
    """
    lam = nu / ((1 + nu) * (1 - 2 * nu))
    mu = 1 / (2 * (1 + nu))
    # Voigt order xx, yy, zz, yz, xz, xy with engineering shear strains
    d = lam * np.outer([1, 1, 1, 0, 0, 0], [1, 1, 1, 0, 0, 0]) + mu * np.diag([2, 2, 2, 1, 1, 1])
    gauss = 0.5 + np.array([-0.5, 0.5]) / np.sqrt(3.0)  # on [0, 1], weights 1/2 each
    corners = LOCAL_NODES.astype(float)
    ke = np.zeros((24, 24))
    for point in itertools.product(gauss, repeat=3):
        p = np.asarray(point)
        # trilinear N_a = Π_k (1 - c_ak + (2 c_ak - 1) p_k); grad[a, k] = ∂N_a/∂x_k
        factors = 1 - corners + (2 * corners - 1) * p
        grad = np.empty((8, 3))
        for k in range(3):
            others = np.prod(np.delete(factors, k, axis=1), axis=1)
            grad[:, k] = (2 * corners[:, k] - 1) * others
        b = np.zeros((6, 24))
        b[0, 0::3], b[1, 1::3], b[2, 2::3] = grad[:, 0], grad[:, 1], grad[:, 2]
        b[3, 1::3], b[3, 2::3] = grad[:, 2], grad[:, 1]
        b[4, 0::3], b[4, 2::3] = grad[:, 2], grad[:, 0]
        b[5, 0::3], b[5, 1::3] = grad[:, 1], grad[:, 0]
        ke += b.T @ d @ b / 8.0
    return 0.5 * (ke + ke.T)


def filter_matrix(nelx: int, nely: int, nelz: int, rmin: float) -> sp.csr_matrix:
    """top3d's ``H``, ``H_ij = max(0, r_min - |c_i - c_j|)``, in top3d's element numbering.

    top3d's six nested loops vectorised: one pass per neighbour offset ``(dl, di, dr)``
    within ``ceil(r_min) - 1`` cells (layer, column, row), over every element at once.
    """
    rows, layers = nelz, nely  # top3d's nely and nelz
    number = np.arange(nelx * rows * layers).reshape(layers, nelx, rows)
    reach = int(np.ceil(rmin)) - 1
    ih, jh, sh = [], [], []
    for offset in itertools.product(range(-reach, reach + 1), repeat=3):
        weight = rmin - float(np.sqrt(np.sum(np.square(offset))))
        if weight <= 0:
            continue
        here = tuple(
            slice(max(0, -o), n - max(0, o)) for o, n in zip(offset, number.shape, strict=True)
        )
        there = tuple(
            slice(max(0, o), n - max(0, -o)) for o, n in zip(offset, number.shape, strict=True)
        )
        ih.append(number[here].reshape(-1))
        jh.append(number[there].reshape(-1))
        sh.append(np.full(ih[-1].size, weight))
    n = number.size
    return sp.csr_matrix(
        (np.concatenate(sh), (np.concatenate(ih), np.concatenate(jh))), shape=(n, n)
    )


def top3d(
    nelx: int,
    nely: int,
    nelz: int,
    volfrac: float,
    penal: float,
    rmin: float,
    ft: int,
    *,
    e0: float = 1.0,
    emin: float = 1e-9,
    nu: float = 0.3,
    max_iterations: int = 200,
    tol: float = 0.01,
    solver: str = "direct",
    rtol: float = 1e-8,
) -> Top3dResult:
    """Run top3d's compliance minimisation on dmech's 3D cantilever.

    Args:
        nelx, nely, nelz: elements along dmech's x (length), y (depth) and z (height).
        volfrac: the allowed volume fraction.
        penal: the SIMP penalty ``p``: ``E = E_min + ρ^p (E_0 - E_min)``.
        rmin: the filter radius, in elements.
        ft: 1 = sensitivity filter, 2 = density filter.
        e0, emin, nu: the solid and void Young's moduli and Poisson's ratio.
        max_iterations, tol: stop after ``max_iterations`` or when the largest change of a
            design variable is at most ``tol``.
        solver: ``"direct"`` (SuperLU, in the symmetric mode dmech's ``SparseLU`` uses; top3d's
            backslash is CHOLMOD's Cholesky, which SciPy does not have) or
            ``"cg"`` (SciPy's CG with a Jacobi preconditioner, from zero every iteration,
            stopping at ``‖b - K u‖₂ < rtol ‖b‖₂`` as ``dmech.fem.PCG`` does).
        rtol: the relative residual tolerance of ``"cg"``.

    Returns:
        A :class:`Top3dResult`.
    """
    if ft not in (1, 2):
        raise ValueError(f"ft must be 1 (sensitivity) or 2 (density), got {ft!r}")
    if solver not in ("direct", "cg"):
        raise ValueError(f"solver must be 'direct' or 'cg', got {solver!r}")
    rows, layers = nelz, nely  # top3d's nely (vertical, rows from the top) and nelz (depth)
    nele = nelx * rows * layers
    layer_nodes = (nelx + 1) * (rows + 1)
    ndof = 3 * layer_nodes * (layers + 1)
    # edofMat (0-based): node 1 of each element is the lower left corner of its first layer
    nodegrd = np.arange(layer_nodes).reshape(nelx + 1, rows + 1)  # [column, row]
    nodeids = nodegrd[:-1, :-1].reshape(-1)[None, :] + layer_nodes * np.arange(layers)[:, None]
    edofvec = 3 * (nodeids.reshape(-1) + 1)
    face = np.array([0, 1, 2, 3 * rows + 3, 3 * rows + 4, 3 * rows + 5])
    face = np.concatenate([face, 3 * rows + np.array([0, 1, 2]), [-3, -2, -1]])
    edofmat = edofvec[:, None] + np.concatenate([face, 3 * layer_nodes + face])[None, :]
    # supports: every node of column 0, all three components
    fixednid = (np.arange(layers + 1)[:, None] * layer_nodes + np.arange(rows + 1)).reshape(-1)
    fixed = np.sort(np.concatenate([3 * fixednid, 3 * fixednid + 1, 3 * fixednid + 2]))
    free = np.setdiff1d(np.arange(ndof), fixed)
    # load: top3d's -y (dmech's -z) on the bottom row of column nelx, every layer, total 1
    loadnid = np.arange(layers + 1) * layer_nodes + nelx * (rows + 1) + rows
    f = np.zeros(ndof)
    f[3 * loadnid + 1] = -1.0 / loadnid.size
    # iK, jK restricted to the free dofs: K(freedofs, freedofs) assembled directly
    ke = element_stiffness(nu)
    index = np.full(ndof, -1)
    index[free] = np.arange(free.size)
    ik = np.repeat(index[edofmat], 24, axis=1).reshape(-1)  # kron(edofMat, ones(24, 1))
    jk = np.tile(index[edofmat], (1, 24)).reshape(-1)  # kron(edofMat, ones(1, 24))
    keep = (ik >= 0) & (jk >= 0)
    ik, jk = ik[keep], jk[keep]
    ke_flat = ke.reshape(-1)
    f_free = f[free]
    # the filter
    h = filter_matrix(nelx, nely, nelz, rmin)
    hs = np.asarray(h.sum(axis=1)).reshape(-1)
    # the loop
    x = np.full(nele, float(volfrac))
    x_phys = x.copy()
    compliances: list[float] = []
    seconds: list[float] = []
    cg_steps: list[int] = []
    steps = [0]

    def count(_):  # CG's callback, once per CG iteration
        steps[0] += 1

    change = 1.0
    while change > tol and len(compliances) < max_iterations:
        start = time.perf_counter()
        stiffness = emin + x_phys**penal * (e0 - emin)
        sk = (ke_flat[None, :] * stiffness[:, None]).reshape(-1)[keep]
        k = sp.coo_matrix((sk, (ik, jk)), shape=(free.size, free.size))
        u = np.zeros(ndof)
        if solver == "direct":
            lu = spla.splu(
                k.tocsc(),
                permc_spec="MMD_AT_PLUS_A",
                diag_pivot_thresh=0.0,
                options={"SymmetricMode": True},
            )
            u[free] = lu.solve(f_free)
        else:
            k = k.tocsr()
            steps[0] = 0
            u[free], info = spla.cg(
                k,
                f_free,
                x0=np.zeros(free.size),
                rtol=rtol,
                atol=0.0,
                M=sp.diags(1.0 / k.diagonal()),  # Jacobi
                callback=count,
            )
            if info != 0:
                raise RuntimeError(f"top3d: CG did not converge in {info} iterations")
            cg_steps.append(steps[0])
        ue = u[edofmat]
        ce = np.einsum("ei,ij,ej->e", ue, ke, ue)
        c = float(np.sum(stiffness * ce))
        dc = -penal * (e0 - emin) * x_phys ** (penal - 1) * ce
        dv = np.ones(nele)
        if ft == 1:
            dc = h @ (x * dc) / hs / np.maximum(1e-3, x)
        else:
            dc = h @ (dc / hs)
            dv = h @ (dv / hs)
        l1, l2, move = 0.0, 1e9, 0.2
        while (l2 - l1) / (l1 + l2) > 1e-3:
            lmid = 0.5 * (l2 + l1)
            xnew = np.maximum(
                0.0,
                np.maximum(
                    x - move, np.minimum(1.0, np.minimum(x + move, x * np.sqrt(-dc / dv / lmid)))
                ),
            )
            x_phys = xnew if ft == 1 else (h @ xnew) / hs
            if x_phys.sum() > volfrac * nele:
                l1 = lmid
            else:
                l2 = lmid
        change = float(np.abs(xnew - x).max())
        x = xnew
        compliances.append(c)
        seconds.append(time.perf_counter() - start)
    # top3d's [layer, column, row from the top] -> dmech's [x, y, z from the bottom]
    physical = x_phys.reshape(layers, nelx, rows).transpose(1, 0, 2)[:, :, ::-1]
    return Top3dResult(
        np.ascontiguousarray(physical),
        np.asarray(compliances),
        np.asarray(seconds),
        np.asarray(cg_steps, dtype=int),
    )
