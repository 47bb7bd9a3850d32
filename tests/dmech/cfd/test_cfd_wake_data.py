"""Cylinder-wake snapshots: shapes, symmetry of the unperturbed wake, cache, devices."""

import numpy as np
import pytest

from dmech.cfd import cylinder_wake_dataset
from dmech.cfd._wake_data import strouhal_number
from dmech.data import read_card

SMALL = dict(
    snapshots=4,
    interval=0.5,
    transient=1.0,
    window=((-0.5, 4.0), (-1.0, 1.0)),
    cells_per_diameter=4,
    upstream=2.0,
    downstream=6.0,
    half_width=2.0,
    progress=False,
)


def test_unperturbed_wake_is_symmetric_and_cached(tmp_path):
    path = tmp_path / "wake.dmech"
    data = cylinder_wake_dataset((40.0, 60.0), perturbation=0.0, path=path, **SMALL)
    n_x, n_y = data["x"].size, data["y"].size
    assert data["velocity"].shape == (2, 4, 2, n_x, n_y)
    assert data["vorticity"].shape == (2, 4, n_x, n_y) and data["lift"].shape == (2, 4)
    np.testing.assert_allclose(data["y"], -data["y"][::-1], atol=1e-12)
    dt = float(data["dt"])  # the interval is a whole number of steps
    np.testing.assert_allclose(np.diff(data["times"]), dt * round(0.5 / dt), rtol=1e-12)
    # mirror symmetry about y = 0: u even, v and the vorticity odd, no lift
    u, v, w = data["velocity"][:, :, 0], data["velocity"][:, :, 1], data["vorticity"]
    scale = np.abs(w).max()
    np.testing.assert_allclose(u, u[..., ::-1], atol=1e-4)
    np.testing.assert_allclose(v, -v[..., ::-1], atol=1e-4)
    np.testing.assert_allclose(w, -w[..., ::-1], atol=1e-4 * scale)
    assert np.all(np.abs(data["lift"]) < 1e-3) and np.all(data["drag"] > 0.5)
    # a wake: slower flow behind the cylinder than beside it
    behind = u[:, -1, np.argmin(np.abs(data["x"] - 1.0)), n_y // 2]
    assert np.all(behind < 0.8)
    assert np.all(np.isnan(data["strouhal"]))  # no shedding in so short a run
    card = read_card(path)
    assert card.params["reynolds"] == [40.0, 60.0] and card.params["perturbation"] == 0.0
    again = cylinder_wake_dataset((40.0, 60.0), perturbation=0.0, path=path, **SMALL)
    np.testing.assert_array_equal(again["vorticity"], data["vorticity"])


def test_perturbation_breaks_the_symmetry_and_bad_input_raises(tmp_path):
    data = cylinder_wake_dataset((60.0,), cache=False, **SMALL)
    w = data["vorticity"]
    assert np.max(np.abs(w + w[..., ::-1])) > 1e-3 * np.abs(w).max()
    with pytest.raises(ValueError, match="reynolds"):
        cylinder_wake_dataset((-1.0,), cache=False, **SMALL)
    with pytest.raises(ValueError, match="window"):
        cylinder_wake_dataset(cache=False, **{**SMALL, "window": ((0.0, 50.0), (-1.0, 1.0))})
    with pytest.raises(ValueError, match="interval"):
        cylinder_wake_dataset(cache=False, **{**SMALL, "interval": 0.0})


def test_strouhal_number_of_a_sampled_sine():
    times = np.linspace(0.0, 50.0, 2001)
    st, periods = strouhal_number(times, 0.3 + np.sin(2 * np.pi * 0.165 * times + 0.4))
    assert st == pytest.approx(0.165, rel=1e-4) and periods >= 7
    assert np.isnan(strouhal_number(times[:50], np.sin(times[:50]))[0])
