"""A NumPy/SciPy port of the 88-line topology optimisation code, the benchmark's peer.

Written from the paper (Andreassen, Clausen, Schevenels, Lazarov and Sigmund (2011),
Efficient topology optimization in MATLAB using 88 lines of code, Struct. Multidisc.
Optim. 43, 1-16), keeping its conventions: column-major node and element numbering from the
top left corner, the closed-form Q4 plane-stress stiffness, the filter matrix ``H`` and the
OC bisection. It is deliberately the classic algorithm, not dmech's code path.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def element_stiffness(nu: float) -> np.ndarray:
    """The 8x8 stiffness of a unit square Q4 element, plane stress, ``E = 1``."""
    a11 = np.array([[12, 3, -6, -3], [3, 12, 3, 0], [-6, 3, 12, -3], [-3, 0, -3, 12]])
    a12 = np.array([[-6, -3, 0, 3], [-3, -6, -3, -6], [0, -3, -6, 3], [3, -6, 3, -6]])
    b11 = np.array([[-4, 3, -2, 9], [3, -4, -9, 4], [-2, -9, -4, -3], [9, 4, -3, -4]])
    b12 = np.array([[2, -3, 4, -9], [-3, 2, 9, -2], [4, 9, 2, 3], [-9, -2, 3, 2]])
    a = np.block([[a11, a12], [a12.T, a11]])
    b = np.block([[b11, b12], [b12.T, b11]])
    return (a + nu * b) / (24.0 * (1.0 - nu**2))


def heat_element_conductivity() -> np.ndarray:
    """The 4x4 conductivity matrix of a unit square Q4 element, ``κ = 1`` (88-line paper §5.3)."""
    return (
        np.array([[4, -1, -2, -1], [-1, 4, -1, -2], [-2, -1, 4, -1], [-1, -2, -1, 4]], dtype=float)
        / 6.0
    )


def top88(
    nelx: int,
    nely: int,
    volfrac: float,
    penal: float,
    rmin: float,
    ft: int,
    *,
    e0: float = 1.0,
    emin: float = 1e-9,
    nu: float = 0.3,
    max_iterations: int = 1000,
    tol: float = 0.01,
    problem: str = "mbb",
):
    """Run the 88-line optimisation; ``ft`` 1 = sensitivity filter, 2 = density filter.

    ``problem="mbb"`` is the paper's MBB half-beam; ``"heat"`` its heat-conduction variant
    (section 5.3: scalar Q4 conductivity, ``κ_min = e_min``, a source of 0.01 at every
    node and a heat sink on the middle tenth of the left edge).

    Returns ``(xPhys, compliances, seconds_per_iteration)``, ``xPhys`` of shape
    ``(nely, nelx)`` (row 0 at the top).
    """
    nodenrs = np.arange((1 + nelx) * (1 + nely)).reshape(1 + nelx, 1 + nely).T  # column-major
    if problem == "mbb":
        ke = element_stiffness(nu)
        edofvec = (2 * nodenrs[:-1, :-1] + 2).T.reshape(-1)  # 0-based dof of element node 1
        offsets = np.array([0, 1, 2 * nely + 2, 2 * nely + 3, 2 * nely, 2 * nely + 1, -2, -1])
        ndof = 2 * (nelx + 1) * (nely + 1)
        # unit load down at the top left node, rollers on the left edge, support at the
        # bottom right node
        f = np.zeros(ndof)
        f[1] = -1.0
        fixed = np.union1d(np.arange(0, 2 * (nely + 1), 2), [ndof - 1])
    elif problem == "heat":
        ke = heat_element_conductivity()
        edofvec = (nodenrs[:-1, :-1] + 1).T.reshape(-1)  # each element's lower left node
        offsets = np.array([0, nely + 1, nely, -1])  # counter-clockwise from the lower left
        ndof = (nelx + 1) * (nely + 1)
        f = np.full(ndof, 0.01)
        fixed = np.arange(nely // 2 - nely // 20, nely // 2 + nely // 20 + 1)
    else:
        raise ValueError(f"problem must be 'mbb' or 'heat', got {problem!r}")
    edofmat = edofvec[:, None] + offsets[None, :]
    size = ke.shape[0]
    ik = np.kron(edofmat, np.ones((size, 1), dtype=int)).reshape(-1)
    jk = np.kron(edofmat, np.ones((1, size), dtype=int)).reshape(-1)
    free = np.setdiff1d(np.arange(ndof), fixed)
    # the filter
    reach = int(np.ceil(rmin)) - 1
    ih, jh, sh = [], [], []
    for i1 in range(nelx):
        for j1 in range(nely):
            e1 = i1 * nely + j1
            for i2 in range(max(i1 - reach, 0), min(i1 + reach + 1, nelx)):
                for j2 in range(max(j1 - reach, 0), min(j1 + reach + 1, nely)):
                    e2 = i2 * nely + j2
                    ih.append(e1)
                    jh.append(e2)
                    sh.append(max(0.0, rmin - np.hypot(i1 - i2, j1 - j2)))
    h = sp.csr_matrix((sh, (ih, jh)), shape=(nelx * nely, nelx * nely))
    hs = np.asarray(h.sum(axis=1)).reshape(-1)
    # column-major (nely, nelx) arrays flattened in Fortran order = element numbering
    x = np.full(nely * nelx, volfrac)
    x_phys = x.copy()
    compliances: list[float] = []
    change = 1.0
    start = time.perf_counter()
    while change > tol and len(compliances) < max_iterations:
        sk = (ke.reshape(-1)[None, :] * (emin + x_phys[:, None] ** penal * (e0 - emin))).reshape(-1)
        k = sp.coo_matrix((sk, (ik, jk)), shape=(ndof, ndof)).tocsc()
        k = (k + k.T) / 2
        u = np.zeros(ndof)
        u[free] = spla.spsolve(k[free][:, free], f[free])
        ue = u[edofmat]
        ce = np.einsum("ei,ij,ej->e", ue, ke, ue)
        c = float(np.sum((emin + x_phys**penal * (e0 - emin)) * ce))
        dc = -penal * (e0 - emin) * x_phys ** (penal - 1) * ce
        dv = np.ones_like(x)
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
            if x_phys.sum() > volfrac * nelx * nely:
                l1 = lmid
            else:
                l2 = lmid
        change = float(np.abs(xnew - x).max())
        x = xnew
        compliances.append(c)
    seconds = (time.perf_counter() - start) / max(len(compliances), 1)
    return x_phys.reshape(nelx, nely).T, np.asarray(compliances), seconds
