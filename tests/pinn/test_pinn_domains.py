"""pinn: domains (boxes, disks, space-time, constructive geometry) and collocation samplers."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import qmc

from dmech.testing import assert_no_recompile
from pinn._domains import Box, Disk, SpaceTime, interval, rectangle
from pinn._samplers import ResidualAdaptiveSampler, ResidualRefinementSampler, Sampler


def _evaluate(domain, requests, functions=()):
    """One jitted call: the samples ``{name: (n, where, method)}`` and, for each sample,
    ``{f"{name}.{fn}": vmap(domain.fn)(points)}``."""

    @jax.jit
    def run(key):
        out = {}
        for i, (name, (n, where, method)) in enumerate(requests.items()):
            x = domain.sample(jax.random.fold_in(key, i), n, where=where, method=method)
            out[name] = x
            for fn in functions:
                out[f"{name}.{fn}"] = jax.vmap(getattr(domain, fn))(x)
        return out

    return {k: np.asarray(v) for k, v in run(jax.random.key(0)).items()}


def test_box_samples_its_interior_and_faces_in_proportion_to_area():
    box = Box((0.0, -1.0), (2.0, 1.0))
    slab = Box((0.0, 0.0), (4.0, 1.0))  # faces x = 0, 4 (length 1), y = 0, 1 (length 4)
    methods = ("uniform", "sobol")  # (the methods only change the unit-cube points)
    faces = _evaluate(slab, {m: (4000, "boundary", m) for m in methods}, ("sdf", "normal"))
    inner = _evaluate(
        box,
        {**{m: (2000, "interior", m) for m in methods}, "lhs64": (64, "interior", "lhs"),
         "uniform256": (256, "interior", "uniform")},
        ("contains",),
    )  # fmt: skip
    inner["sobol256"] = inner["sobol"][:256]
    for method in methods:
        x = faces[method]
        assert np.max(np.abs(faces[f"{method}.sdf"])) < 1e-6
        on_long_faces = np.mean((x[:, 1] == 0) | (x[:, 1] == 1))
        assert abs(on_long_faces - 0.8) < 0.03, (method, on_long_faces)
        expected = np.zeros_like(x)
        expected[x[:, 1] == 0] = [0, -1]
        expected[x[:, 1] == 1] = [0, 1]
        expected[x[:, 0] == 0] = [-1, 0]
        expected[x[:, 0] == 4] = [1, 0]
        np.testing.assert_array_equal(faces[f"{method}.normal"], expected)
        assert np.all(inner[f"{method}.contains"])
        np.testing.assert_allclose(inner[method].mean(0), [1.0, 0.0], atol=0.06)
    # a Latin hypercube has one point in each of n strata of every coordinate
    x = inner["lhs64"]
    for axis, (lo, width) in enumerate([(0.0, 2.0), (-1.0, 2.0)]):
        strata = np.floor((x[:, axis] - lo) / width * 64).astype(int)
        np.testing.assert_array_equal(np.sort(strata), np.arange(64))
    # Sobol points are more uniform than random ones (centred L2 discrepancy)
    unit = lambda pts: (pts - [0.0, -1.0]) / 2.0  # noqa: E731
    sobol = qmc.discrepancy(unit(inner["sobol256"]))
    uniform = qmc.discrepancy(unit(inner["uniform256"]))
    assert sobol < 0.3 * uniform, (sobol, uniform)
    # an interval's boundary is its two end points, equally often
    ends = _evaluate(interval(-1.0, 3.0), {"b": (1000, "boundary", "uniform")})["b"]
    assert set(np.unique(ends)) == {-1.0, 3.0} and abs(np.mean(ends == 3.0) - 0.5) < 0.05


def test_disk_samples_uniformly_in_area_and_on_its_circle():
    disk = Disk((1.0, -0.5), 2.0)
    out = _evaluate(
        disk,
        {"x": (20000, "interior", "sobol"), "b": (500, "boundary", "uniform")},
        ("normal", "distance"),
    )
    x, b = out["x"], out["b"]
    r2 = np.sum((x - [1.0, -0.5]) ** 2, axis=1)
    assert np.max(r2) <= 4.0 + 1e-5
    np.testing.assert_allclose(np.mean(r2), 2.0, rtol=0.01)  # E|x - c|² = r²/2
    np.testing.assert_allclose(np.sum((b - [1.0, -0.5]) ** 2, axis=1), 4.0, rtol=1e-5)
    np.testing.assert_allclose(out["b.normal"], (b - [1.0, -0.5]) / 2.0, atol=1e-5)
    assert np.all(out["x.distance"] >= -1e-6)
    np.testing.assert_allclose(out["b.distance"], 0.0, atol=1e-5)


def test_constructive_geometry_boundaries_and_normals():
    plate = rectangle((-2.0, -2.0), (2.0, 2.0)) - Disk((0.0, 0.0), 1.0)
    out = _evaluate(
        plate,
        {"x": (3000, "interior", "uniform"), "b": (6000, "boundary", "uniform")},
        ("normal", "distance"),
    )
    inside, b = out["x"], out["b"]
    assert np.min(np.linalg.norm(inside, axis=1)) >= 1.0 - 1e-6
    assert np.all(np.abs(inside) <= 2.0)
    r = np.linalg.norm(b, axis=1)
    on_hole = np.abs(r - 1.0) < 1e-5
    on_square = np.abs(np.max(np.abs(b), axis=1) - 2.0) < 1e-6
    assert np.all(on_hole | on_square)
    # uniform in length: the hole is 2π of the 16 + 2π of the boundary
    np.testing.assert_allclose(np.mean(on_hole), 2 * math.pi / (16 + 2 * math.pi), atol=0.02)
    normals = out["b.normal"]
    np.testing.assert_allclose(normals[on_hole], -b[on_hole] / r[on_hole, None], atol=1e-5)
    assert np.all(np.sum(normals[on_square] * b[on_square], axis=1) > 1.9)  # outward
    np.testing.assert_allclose(out["b.distance"], 0.0, atol=1e-4)
    assert np.all(out["x.distance"] > -1e-6)
    # a union of two overlapping disks: no boundary point inside the other disk
    pair = Disk((0.0, 0.0), 1.0) | Disk((1.5, 0.0), 1.0)
    out = _evaluate(pair, {"b": (2000, "boundary", "uniform")}, ("sdf",))
    b = out["b"]
    assert np.all(np.abs(out["b.sdf"]) < 1e-5)
    assert np.all(np.linalg.norm(b - [1.5, 0.0], axis=1) > 1 - 1e-5)
    assert np.all(np.linalg.norm(b, axis=1) > 1 - 1e-5)
    lens = Disk((0.0, 0.0), 1.0) & Disk((1.5, 0.0), 1.0)
    assert np.all(_evaluate(lens, {"x": (500, "interior", "uniform")}, ("contains",))["x.contains"])
    with pytest.raises(ValueError, match="`b`"):
        Disk((0.0, 0.0), 1.0) & Disk((5.0, 0.0), 1.0)


def test_space_time_regions():
    domain = SpaceTime(interval(-1.0, 1.0), 0.0, 2.0)
    requests = {"x": (400, "interior", "sobol"), "b": (400, "boundary", "uniform"),
                "i": (100, "initial", "uniform")}  # fmt: skip
    out = _evaluate(domain, requests, ("normal",))
    x, b, i = out["x"], out["b"], out["i"]
    assert x.shape == (400, 2) and np.all((x[:, 1] >= 0) & (x[:, 1] <= 2))
    assert np.all(np.abs(b[:, 0]) == 1.0)
    np.testing.assert_array_equal(out["b.normal"], np.stack([b[:, 0], 0 * b[:, 0]], 1))
    assert np.all(i[:, 1] == 0.0) and np.all(np.abs(i[:, 0]) <= 1)
    hole = SpaceTime(rectangle((0.0, 0.0), (1.0, 1.0)) - Disk((0.5, 0.5), 0.2), 0.0, 1.0)
    out = _evaluate(hole, {"x": (300, "interior", "uniform"), "i": (50, "initial", "sobol")},
                    ("distance",))  # fmt: skip
    assert np.all(np.linalg.norm(out["x"][:, :2] - 0.5, axis=1) >= 0.2 - 1e-6)
    np.testing.assert_allclose(out["i.distance"], 0.0, atol=1e-7)  # zero at t0


def test_sampling_inside_jit_draws_new_points_per_key_without_recompiling():
    domain = SpaceTime(rectangle((0.0, 0.0), (1.0, 1.0)) - Disk((0.5, 0.5), 0.2), 0.0, 1.0)
    sample = jax.jit(lambda k: domain.sample(k, 128, method="sobol"))
    k1, k2 = jax.random.key(1), jax.random.key(2)
    assert not np.allclose(sample(k1), sample(k2))
    assert_no_recompile(sample, (k1,), (k2,))


def test_domains_and_samplers_reject_bad_input():
    with pytest.raises(ValueError, match="`upper"):
        Box((0.0, 1.0), (1.0, 1.0))
    with pytest.raises(ValueError, match="`radius`"):
        Disk((0.0, 0.0), -1.0)
    with pytest.raises(ValueError, match="`t1`"):
        SpaceTime(interval(0.0, 1.0), 1.0, 0.0)
    box = interval(0.0, 1.0)
    with pytest.raises(ValueError, match="`where`"):
        box.sample(jax.random.key(0), 4, where="initial")
    with pytest.raises(ValueError, match="`method`"):
        box.sample(jax.random.key(0), 4, method="halton")
    with pytest.raises((ValueError, TypeError), match="n"):
        box.sample(jax.random.key(0), 0)
    with pytest.raises(ValueError, match="`num_candidates`"):
        ResidualAdaptiveSampler(box, 100, num_candidates=10)
    with pytest.raises(TypeError, match=r"[`']domain[`']"):
        Sampler("box", 10)
    with pytest.raises(ValueError, match="`b`"):
        Disk((0.0, 0.0), 1.0) | interval(0.0, 1.0)


def test_residual_adaptive_sampling_follows_the_residual_density():
    box = interval(0.0, 1.0)
    size = lambda x: x[:, 0]  # noqa: E731 - ε(x) = x
    # RAD: p ∝ ε^k / E[ε^k] + c; k = 1: c = 0 gives p = 2x (mean 2/3), c = 1 gives
    # p = (2x + 1)/2 (mean 7/12)
    for c, mean in ((0.0, 2 / 3), (1.0, 7 / 12)):
        sampler = ResidualAdaptiveSampler(box, 2000, num_candidates=40000, k=1.0, c=c)
        points, mask = sampler.init(jax.random.key(0), jnp.float32)
        new, new_mask = jax.jit(lambda k, p, m, s=sampler: s.resample(k, p, m, size))(
            jax.random.key(1), points, mask
        )
        assert new.shape == (2000, 1) and bool(jnp.all(new_mask == 1))
        assert len(np.unique(np.asarray(new))) == 2000  # without replacement
        np.testing.assert_allclose(float(jnp.mean(new)), mean, atol=0.015)
    # RAR-D adds num_added points per round to a fixed-capacity buffer, then stops
    sampler = ResidualRefinementSampler(box, 100, num_added=50, max_rounds=2, k=2.0, c=0.0)
    points, mask = sampler.init(jax.random.key(0), jnp.float32)
    assert points.shape == (200, 1) and float(jnp.sum(mask)) == 100
    step = jax.jit(lambda k, p, m: sampler.resample(k, p, m, size))
    for round_, expected in enumerate([150, 200, 200]):
        points, mask = step(jax.random.key(10 + round_), points, mask)
        assert float(jnp.sum(mask)) == expected
    added = np.asarray(points[100:, 0])
    assert np.mean(added) > 0.7  # p ∝ x²: mean 3/4
