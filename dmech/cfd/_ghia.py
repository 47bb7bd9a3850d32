"""Published reference data for the lid-driven cavity: Ghia, Ghia and Shin (1982).

Ghia, U., Ghia, K. N. and Shin, C. T. (1982), "High-Re solutions for incompressible flow
using the Navier-Stokes equations and a multigrid method", Journal of Computational
Physics 48(3), 387-411, doi:10.1016/0021-9991(82)90058-4.

Unit square cavity, lid ``y = 1`` moving at ``u = 1``, ``Re = U L / ν``; steady solutions of
the vorticity-stream function equations on a uniform 129 × 129 grid (257 × 257 at
Re = 10000). The tables below are

- Table I: ``u`` along the vertical line through the geometric centre (``x = 0.5``), at the
  17 ordinates ``GHIA_Y`` (the published grid points 129, 126, 125, ..., 8, 1);
- Table II: ``v`` along the horizontal line through the geometric centre (``y = 0.5``), at
  the 17 abscissae ``GHIA_X`` (the grid points 129, 125, 124, ..., 9, 1);

for Re = 100 and Re = 1000, as printed (five decimals), in the paper's order (from the
lid downwards, from the right wall leftwards). The values include the wall points (the
boundary conditions). Checked against the tables' structure: ``u`` decreases from the lid
to a single minimum (Re = 100: -0.21090 at y = 0.4531; Re = 1000: -0.38289 at y = 0.1719)
and returns to zero at the bottom; ``v`` falls from zero at the right wall to a single
minimum (-0.24533 at x = 0.8047; -0.51550 at x = 0.9063), changes sign once near the
centre and has a single maximum (0.17527 at x = 0.2344; 0.37095 at x = 0.1563).

The tables are a reference at the one-percent level, not to round-off: the MAC solver's
steady Re = 100 solutions approach a centreline difference of about 0.009 (32², 64², 128²:
0.0086, 0.0091, 0.0092) instead of zero, which measures the tables' own accuracy there
(their grid is 129², their scheme second order).
"""

from __future__ import annotations

import numpy as np

__all__ = ["GHIA_U", "GHIA_V", "GHIA_X", "GHIA_Y", "ghia_centrelines", "ghia_max_abs_error"]

#: Ordinates of Table I (the vertical centreline ``x = 0.5``), from the lid down.
GHIA_Y = np.array(
    [1.0000, 0.9766, 0.9688, 0.9609, 0.9531, 0.8516, 0.7344, 0.6172, 0.5000,
     0.4531, 0.2813, 0.1719, 0.1016, 0.0703, 0.0625, 0.0547, 0.0000]
)  # fmt: skip

#: Abscissae of Table II (the horizontal centreline ``y = 0.5``), from the right wall.
GHIA_X = np.array(
    [1.0000, 0.9688, 0.9609, 0.9531, 0.9453, 0.9063, 0.8594, 0.8047, 0.5000,
     0.2344, 0.2266, 0.1563, 0.0938, 0.0781, 0.0703, 0.0625, 0.0000]
)  # fmt: skip

#: Table I: ``u(0.5, y)`` at ``GHIA_Y``, by Reynolds number.
GHIA_U = {
    100: np.array(
        [1.00000, 0.84123, 0.78871, 0.73722, 0.68717, 0.23151, 0.00332, -0.13641,
         -0.20581, -0.21090, -0.15662, -0.10150, -0.06434, -0.04775, -0.04192,
         -0.03717, 0.00000]
    ),
    1000: np.array(
        [1.00000, 0.65928, 0.57492, 0.51117, 0.46604, 0.33304, 0.18719, 0.05702,
         -0.06080, -0.10648, -0.27805, -0.38289, -0.29730, -0.22220, -0.20196,
         -0.18109, 0.00000]
    ),
}  # fmt: skip

#: Table II: ``v(x, 0.5)`` at ``GHIA_X``, by Reynolds number.
GHIA_V = {
    100: np.array(
        [0.00000, -0.05906, -0.07391, -0.08864, -0.10313, -0.16914, -0.22445,
         -0.24533, 0.05454, 0.17527, 0.17507, 0.16077, 0.12317, 0.10890, 0.10091,
         0.09233, 0.00000]
    ),
    1000: np.array(
        [0.00000, -0.21388, -0.27669, -0.33714, -0.39188, -0.51550, -0.42665,
         -0.31966, 0.02526, 0.32235, 0.33075, 0.37095, 0.32627, 0.30353, 0.29012,
         0.27485, 0.00000]
    ),
}  # fmt: skip


def ghia_centrelines(reynolds: int) -> dict[str, np.ndarray]:
    """Ghia et al.'s centreline tables for one Reynolds number (100 or 1000).

    Args:
        reynolds: 100 or 1000.

    Returns:
        ``{"y": GHIA_Y, "u": u(0.5, y), "x": GHIA_X, "v": v(x, 0.5)}`` (copies, float64),
        for a unit cavity with a unit lid speed.
    """
    if reynolds not in GHIA_U:
        raise ValueError(f"reynolds must be one of {sorted(GHIA_U)}, got {reynolds!r}")
    return {
        "y": GHIA_Y.copy(),
        "u": GHIA_U[reynolds].copy(),
        "x": GHIA_X.copy(),
        "v": GHIA_V[reynolds].copy(),
    }


def ghia_max_abs_error(
    profiles: dict[str, np.ndarray], reynolds: int, lid_speed: float = 1.0
) -> dict[str, float]:
    """The largest absolute differences from Ghia's tables, in units of the lid speed.

    The computed centreline profiles are interpolated to Ghia's points by cubic splines
    (not-a-knot; the profiles must include the wall values).

    Args:
        profiles: ``{"y", "u", "x", "v"}``: ``u`` along the vertical centreline at the
            (increasing, normalised to [0, 1]) ordinates ``y``, ``v`` along the horizontal
            centreline at the abscissae ``x`` (see ``cavity_centrelines``).
        reynolds: 100 or 1000.
        lid_speed: the lid speed the velocities are divided by.

    Returns:
        ``{"u": max |u/U - u_Ghia|, "v": max |v/U - v_Ghia|, "max": the larger}``.
    """
    from scipy.interpolate import CubicSpline

    table = ghia_centrelines(reynolds)
    u = CubicSpline(profiles["y"], np.asarray(profiles["u"]) / lid_speed)(table["y"])
    v = CubicSpline(profiles["x"], np.asarray(profiles["v"]) / lid_speed)(table["x"])
    err_u = float(np.max(np.abs(u - table["u"])))
    err_v = float(np.max(np.abs(v - table["v"])))
    return {"u": err_u, "v": err_v, "max": max(err_u, err_v)}
