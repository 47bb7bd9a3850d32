"""Reference datasets for training interatomic potentials, generated offline by the classical
potentials (no DFT is reachable): energies, forces and stresses of configurations sampled by
MD at several temperatures, strains, with vacancies and in the liquid."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ..data import cache_dir, load_or_generate
from ._eam import ZhouEAM
from ._extxyz import Frame
from ._lennard_jones import LennardJones
from ._md import NVTLangevin, run_md
from ._potential import AbstractPotential, evaluate
from ._stillinger_weber import StillingerWeber
from ._structures import (
    Structure,
    deform,
    diamond,
    fcc,
    random_alloy,
    random_vacancies,
)
from ._units import BOLTZMANN_EV_PER_K, FEMTOSECOND

__all__ = ["REFERENCE_SYSTEMS", "dataset_frames", "reference_dataset", "reference_potential"]

GENERATOR = "dmech.atomistic.reference_dataset"
KINDS = ("thermal", "strained", "vacancy", "liquid")

# Per system: the potential, the crystal, the MD settings and the default conditions.
# Temperatures are in K for the metal-unit systems and in k_B T (ε) for Lennard-Jones.
REFERENCE_SYSTEMS: dict[str, dict[str, Any]] = {
    "lennard-jones": {
        "description": "Lennard-Jones (reduced units, r_c = 2.5σ, energy-shifted), fcc 4x4x4 "
        "(256 atoms) at a = 1.5496σ",
        "lattice": "fcc",
        "lattice_constant": 1.5496,
        "repeats": 4,
        "symbols": ("X",),
        "dt": 0.005,
        "friction": 1.0,
        "kelvin": False,
        "temperatures": (0.1, 0.3, 0.6),
        "liquid_temperature": 1.2,
        "liquid_scale": (4 / 0.8) ** (1 / 3) / 1.5496,  # density 0.8 σ⁻³
        "melt_temperature": 2.0,
    },
    "silicon": {
        "description": "Stillinger-Weber silicon (1985 parameters), diamond 2x2x2 (64 atoms) at "
        "a = 5.431 Å",
        "lattice": "diamond",
        "lattice_constant": 5.431,
        "repeats": 2,
        "symbols": ("Si",),
        "dt": 1.0 * FEMTOSECOND,
        "friction": 0.1,
        "kelvin": True,
        "temperatures": (300.0, 900.0, 1500.0),
        "liquid_temperature": 2500.0,
        "liquid_scale": (2.33 / 2.57) ** (1 / 3),  # liquid Si is ~10% denser
        "melt_temperature": 4000.0,
    },
    "cu-ni": {
        "description": "Zhou-Johnson-Wadley EAM Cu50Ni50 random fcc alloy 4x4x4 (256 atoms) at "
        "a = 3.567 Å",
        "lattice": "fcc",
        "lattice_constant": 3.567,
        "repeats": 4,
        "symbols": ("Cu", "Ni"),
        "dt": 2.0 * FEMTOSECOND,
        "friction": 0.1,
        "kelvin": True,
        "temperatures": (300.0, 900.0, 1500.0),
        "liquid_temperature": 2200.0,
        "liquid_scale": 1.02,
        "melt_temperature": 3500.0,
    },
}


def reference_potential(system: str) -> AbstractPotential:
    """The classical potential that labels a reference system's data.

    Raises:
        ValueError: for an unknown system.
    """
    _system(system)
    if system == "lennard-jones":
        return LennardJones()
    if system == "silicon":
        return StillingerWeber()
    return ZhouEAM(("Cu", "Ni"))


def _system(name: str) -> dict[str, Any]:
    if name not in REFERENCE_SYSTEMS:
        raise ValueError(f"system must be one of {sorted(REFERENCE_SYSTEMS)}, got {name!r}")
    return REFERENCE_SYSTEMS[name]


def _crystal(config: dict[str, Any], key, dtype) -> Structure:
    builder = fcc if config["lattice"] == "fcc" else diamond
    crystal = builder(
        config["lattice_constant"], config["repeats"], symbol=config["symbols"][0], dtype=dtype
    )
    if len(config["symbols"]) > 1:
        share = 1.0 / len(config["symbols"])
        crystal = random_alloy(crystal, config["symbols"], [share] * len(config["symbols"]), key)
    return crystal


def _random_strain(key, magnitude: float) -> np.ndarray:
    """A random symmetric strain whose largest eigenvalue magnitude is ``|magnitude|``, with
    the sign of ``magnitude`` on the volumetric part."""
    a = np.asarray(jax.random.normal(key, (3, 3)), dtype=np.float64)
    sym = 0.5 * (a + a.T)
    sym /= np.max(np.abs(np.linalg.eigvalsh(sym)))
    sym = 0.5 * sym + 0.5 * np.sign(magnitude) * np.eye(3)
    return abs(magnitude) * sym / np.max(np.abs(np.linalg.eigvalsh(sym)))


def reference_dataset(
    system: str = "silicon",
    *,
    temperatures: Sequence[float] | None = None,
    strains: Sequence[float] = (-0.02, -0.01, 0.01, 0.02),
    vacancies: Sequence[int] = (1, 2),
    liquid: bool = True,
    frames_per_condition: int = 10,
    sample_every: int = 50,
    equilibration_steps: int = 1000,
    seed: int = 0,
    cache: bool = True,
    path: str | Path | None = None,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    r"""Energies, forces and stresses of MD-sampled configurations, from a classical potential.

    The training data of the learned potentials: ``system`` is ``"silicon"``
    (Stillinger-Weber), ``"cu-ni"`` (Zhou-Johnson-Wadley EAM, random Cu₅₀Ni₅₀) or
    ``"lennard-jones"`` (reduced units); see `REFERENCE_SYSTEMS`. For each condition a
    Langevin NVT run (`run_md`) equilibrates ``equilibration_steps`` steps, then
    ``frames_per_condition`` frames are taken every ``sample_every`` steps and labelled by
    `evaluate` (float64):

    - ``thermal``: the crystal at each temperature;
    - ``strained``: the crystal under a random homogeneous strain of each magnitude in
      ``strains`` (the sign sets compression or tension), at the lowest temperature;
    - ``vacancy``: the crystal with each number of random vacancies in ``vacancies``, at the
      middle temperature;
    - ``liquid``: melted at a high temperature, then sampled in the liquid at the system's
      liquid density.

    Every condition draws its keys from ``fold_in(key(seed), condition)``, so a dataset is
    reproducible; it is cached with `dmech.data.load_or_generate` under
    ``dmech.data.cache_dir("atomistic", "reference")``, one file per parameter set, with a
    card holding every parameter.

    Args:
        system: ``"silicon"``, ``"cu-ni"`` or ``"lennard-jones"``.
        temperatures: the thermal conditions (K; ``k_B T`` in ε for Lennard-Jones); default
            the system's three.
        strains: strain magnitudes (dimensionless).
        vacancies: numbers of vacancies.
        liquid: whether to include the liquid.
        frames_per_condition: frames per condition.
        sample_every: MD steps between frames.
        equilibration_steps: MD steps before the first frame.
        seed: the seed.
        cache: read and write the cache.
        path: the cache file (default: named by the parameters in the cache directory).
        progress: a progress bar on stderr.

    Returns:
        Arrays (NumPy; ragged per-atom data concatenated over frames):
        ``positions`` ``(n_total, 3)``, ``forces`` ``(n_total, 3)``, ``species``
        ``(n_total,)``, ``n_atoms`` ``(n_frames,)``, ``box`` ``(n_frames, 3, 3)``,
        ``energy`` ``(n_frames,)``, ``stress`` ``(n_frames, 3, 3)``, ``kind``
        ``(n_frames,)`` (index into ``("thermal", "strained", "vacancy", "liquid")``),
        ``temperature`` ``(n_frames,)`` (the condition's, K or ε), ``strain``
        ``(n_frames, 3, 3)``. Units: eV, Å, eV/Å, eV/Å³ (reduced units for Lennard-Jones).
        `dataset_frames` turns them into `Frame` objects (and `write_extxyz` into a file).

    Raises:
        ValueError: for an unknown system or non-positive counts.

    References:
        Stillinger and Weber (1985), Phys. Rev. B 31, 5262. Zhou, Johnson and Wadley (2004),
        Phys. Rev. B 69, 144113.
    """
    config = _system(system)
    for name, value in (
        ("frames_per_condition", frames_per_condition),
        ("sample_every", sample_every),
    ):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if int(equilibration_steps) != equilibration_steps or equilibration_steps < 0:
        raise ValueError(f"equilibration_steps must be a non-negative integer, got "
                         f"{equilibration_steps!r}")  # fmt: skip
    temperatures = tuple(
        float(t) for t in (config["temperatures"] if temperatures is None else temperatures)
    )
    if not temperatures or min(temperatures) <= 0:
        raise ValueError(f"temperatures must be positive, got {temperatures!r}")
    params = {
        "system": system,
        "temperatures": list(temperatures),
        "strains": [float(s) for s in strains],
        "vacancies": [int(v) for v in vacancies],
        "liquid": bool(liquid),
        "frames_per_condition": int(frames_per_condition),
        "sample_every": int(sample_every),
        "equilibration_steps": int(equilibration_steps),
        "seed": int(seed),
        "description": config["description"],
        "md": f"Langevin NVT (BAOAB), dt = {config['dt']:.6g} time units, friction "
        f"{config['friction']} per time unit",
        "version": 1,
    }

    def generate():
        return _generate(config, params, progress)

    if not cache:
        return generate()
    if path is None:
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
        path = cache_dir("atomistic", "reference") / f"{system}_{digest}.dmech"
    arrays, _ = load_or_generate(
        path, generate, generator=GENERATOR, params=params,
        extra={"kinds": list(KINDS), "symbols": list(config["symbols"])},
    )  # fmt: skip
    return {name: np.asarray(value) for name, value in arrays.items()}


def _conditions(config, params) -> list[tuple[str, float, float, int]]:
    temperatures = params["temperatures"]
    conditions = [("thermal", t, 0.0, 0) for t in temperatures]
    conditions += [("strained", min(temperatures), s, 0) for s in params["strains"]]
    middle = sorted(temperatures)[len(temperatures) // 2]
    conditions += [("vacancy", middle, 0.0, v) for v in params["vacancies"] if v > 0]
    if params["liquid"]:
        conditions.append(("liquid", config["liquid_temperature"], 0.0, 0))
    return conditions


def _generate(config, params, progress) -> dict[str, np.ndarray]:
    base = jax.random.key(params["seed"])
    conditions = _conditions(config, params)
    names = ("positions", "forces", "species", "n_atoms", "box", "energy", "stress", "kind",
             "temperature", "strain")  # fmt: skip
    rows: dict[str, list] = {k: [] for k in names}
    bar = tqdm(conditions, desc=f"reference data {params['system']}", unit="condition",
               file=sys.stderr, disable=not progress)  # fmt: skip
    with jax.enable_x64(True):
        potential = reference_potential(params["system"])
        label = eqx.filter_jit(evaluate)
        for index, (kind, temperature, strain, vacancies) in enumerate(bar):
            key = jax.random.fold_in(base, index)
            k_alloy, k_strain, k_vacancy, k_md, k_melt = jax.random.split(key, 5)
            crystal = _crystal(config, k_alloy, jnp.float64)
            deformation = np.eye(3)
            if kind == "strained":
                deformation = np.eye(3) + _random_strain(k_strain, strain)
            elif kind == "liquid":
                deformation = config["liquid_scale"] * np.eye(3)
            crystal = deform(crystal, jnp.asarray(deformation))
            if vacancies:
                crystal = random_vacancies(crystal, vacancies, k_vacancy)
            kT = temperature * BOLTZMANN_EV_PER_K if config["kelvin"] else temperature
            ensemble = NVTLangevin(config["dt"], kT, friction=config["friction"])
            start = crystal
            if kind == "liquid":
                hot = config["melt_temperature"]
                melt_kT = hot * BOLTZMANN_EV_PER_K if config["kelvin"] else hot
                start = _melt(potential, crystal, config, melt_kT, params, k_melt)
            # one run: equilibration, then the sampled frames (one compiled chunk shape)
            every = params["sample_every"]
            skip = -(-params["equilibration_steps"] // every)
            sampled = run_md(
                potential, start, ensemble, (skip + params["frames_per_condition"]) * every,
                key=k_md, observe_every=every, keep_trajectory=True,
            )  # fmt: skip
            for positions in sampled.trajectory[skip:]:  # type: ignore[index]
                x = jnp.asarray(positions)
                result = label(potential, x, crystal.box, crystal.species)
                rows["positions"].append(np.asarray(x))
                rows["forces"].append(np.asarray(result.forces))
                rows["species"].append(np.asarray(crystal.species))
                rows["n_atoms"].append(crystal.n_atoms)
                rows["box"].append(np.asarray(crystal.box))
                rows["energy"].append(float(result.energy))
                rows["stress"].append(np.asarray(result.stress))
                rows["kind"].append(KINDS.index(kind))
                rows["temperature"].append(temperature)
                rows["strain"].append(deformation - np.eye(3))
    return {
        "positions": np.concatenate(rows["positions"]),
        "forces": np.concatenate(rows["forces"]),
        "species": np.concatenate(rows["species"]).astype(np.int32),
        "n_atoms": np.asarray(rows["n_atoms"], np.int64),
        "box": np.stack(rows["box"]),
        "energy": np.asarray(rows["energy"], np.float64),
        "stress": np.stack(rows["stress"]),
        "kind": np.asarray(rows["kind"], np.int32),
        "temperature": np.asarray(rows["temperature"], np.float64),
        "strain": np.stack(rows["strain"]),
    }


def _melt(potential, crystal, config, melt_kT, params, key) -> Structure:
    """Melt the crystal by a hot Langevin run (as long as the equilibration, at least
    20 samples' worth of steps)."""
    every = params["sample_every"]
    steps = max(params["equilibration_steps"], 20 * every)
    steps = -(-steps // every) * every
    hot = NVTLangevin(config["dt"], melt_kT, friction=config["friction"])
    return run_md(
        potential, crystal, hot, steps, key=key, observe_every=every, keep_trajectory=True
    ).structure


def dataset_frames(arrays: dict[str, np.ndarray], symbols: Sequence[str]) -> list[Frame]:
    """The frames of a `reference_dataset` (for `write_extxyz` or training).

    Args:
        arrays: the dataset's arrays.
        symbols: the species' names (``REFERENCE_SYSTEMS[system]["symbols"]``).
    """
    frames = []
    offsets = np.concatenate([[0], np.cumsum(arrays["n_atoms"])])
    for k in range(len(arrays["n_atoms"])):
        sl = slice(int(offsets[k]), int(offsets[k + 1]))
        structure = Structure(
            positions=jnp.asarray(arrays["positions"][sl]),
            box=jnp.asarray(arrays["box"][k]),
            species=jnp.asarray(arrays["species"][sl], dtype=jnp.int32),
            symbols=tuple(symbols),
        )
        frames.append(
            Frame(
                structure=structure,
                energy=jnp.asarray(arrays["energy"][k]),
                forces=jnp.asarray(arrays["forces"][sl]),
                stress=jnp.asarray(arrays["stress"][k]),
            )
        )
    return frames
