"""Training utilities shared by the learned potentials: the weighted energy/force/stress loss,
gradient training with `dmech.train.fit`, error metrics and reports, parity plots, and
saving/loading a potential."""

from __future__ import annotations

import io
import json
import os
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._custom_types import Array, Key, Scalar
from ..train import EarlyStopping, FitResult, fit
from ._mlip_data import (
    AbstractLearnedPotential,
    AtomisticDataset,
    StructureLabels,
    check_compatible,
    evaluate_dataset,
    evaluate_structure,
)
from ._mlip_polynomial import DEFAULT_WEIGHTS, LossWeights
from ._potential import to_voigt
from ._units import EV_PER_A3_TO_GPA

__all__ = [
    "ErrorReport",
    "error_report",
    "load_potential",
    "parity_plot",
    "potential_loss",
    "read_potential_header",
    "save_potential",
    "train_potential",
]


def potential_loss(
    potential: AbstractLearnedPotential,
    batch: AtomisticDataset,
    weights: LossWeights = DEFAULT_WEIGHTS,
) -> tuple[Scalar, dict[str, Array]]:
    r"""The weighted squared error of energies per atom, forces and stresses on a batch.

    $$L = w_E^2 \langle (\Delta E / N)^2 \rangle + w_F^2 \langle \Delta F_{i\alpha}^2
        \rangle + w_\sigma^2 \langle \Delta\sigma_I^2 \rangle$$

    (means over the structures, the force components of real atoms and the Voigt stress
    components; see `LossWeights`). Forces and stresses come by autodiff of the energy, so
    the gradient of ``L`` differentiates twice.

    Args:
        potential: the learned potential.
        batch: structures with labels (any leading size).
        weights: `LossWeights`.

    Returns:
        ``(L, aux)`` with the unweighted mean squared errors ``energy_mse`` ((eV/atom)²),
        ``force_mse`` ((eV/Å)²) and ``stress_mse`` ((eV/Å³)²), the form `dmech.train.fit`
        records.
    """
    energy, forces, stress = jax.vmap(
        lambda *item: evaluate_structure(potential, *item)
    )(batch.positions, batch.box, batch.species, batch.atom_mask, batch.neighbor_index,
      batch.neighbor_mask)  # fmt: skip
    dtype = energy.dtype
    n_atoms = jnp.sum(batch.atom_mask, axis=1).astype(dtype)
    energy_mse = jnp.mean(((energy - batch.energy.astype(dtype)) / n_atoms) ** 2)
    real = batch.atom_mask[..., None].astype(dtype)
    force_error = (forces - batch.forces.astype(dtype)) * real
    force_mse = jnp.sum(force_error**2) / (3 * jnp.sum(real))
    stress_mse = jnp.mean((to_voigt(stress) - to_voigt(batch.stress.astype(dtype))) ** 2)
    loss = (
        weights.energy**2 * energy_mse
        + weights.forces**2 * force_mse
        + weights.stress**2 * stress_mse
    )
    return loss, {"energy_mse": energy_mse, "force_mse": force_mse, "stress_mse": stress_mse}


class ErrorReport(eqx.Module):
    """Errors of a potential on a dataset, in metal units (meV/atom, meV/Å, GPa).

    Attributes:
        energy_mae_mev_per_atom: mean over structures of ``|ΔE| / N`` (meV/atom).
        energy_rmse_mev_per_atom: its root mean square counterpart.
        force_mae_mev_per_angstrom: mean over the force components of real atoms (meV/Å).
        force_rmse_mev_per_angstrom: root mean square of the same.
        stress_mae_gpa: mean over structures and the six Voigt components (GPa).
        per_structure_energy_mev_per_atom: signed ``ΔE / N`` per structure
            ``(n_structures,)``.
        per_structure_force_mae_mev_per_angstrom: per structure ``(n_structures,)``.
        per_structure_stress_mae_gpa: per structure ``(n_structures,)``.
        per_atom_force_error_mev_per_angstrom: ``|ΔF_i|`` per atom
            ``(n_structures, n_max)``, NaN on padding.
        predictions: the potential's `StructureLabels`.
    """

    energy_mae_mev_per_atom: float
    energy_rmse_mev_per_atom: float
    force_mae_mev_per_angstrom: float
    force_rmse_mev_per_angstrom: float
    stress_mae_gpa: float
    per_structure_energy_mev_per_atom: np.ndarray
    per_structure_force_mae_mev_per_angstrom: np.ndarray
    per_structure_stress_mae_gpa: np.ndarray
    per_atom_force_error_mev_per_angstrom: np.ndarray
    predictions: StructureLabels

    def summary(self) -> dict[str, float]:
        """The scalar metrics as a dictionary (for benchmark reports and logs)."""
        return {
            "energy_mae_mev_per_atom": self.energy_mae_mev_per_atom,
            "energy_rmse_mev_per_atom": self.energy_rmse_mev_per_atom,
            "force_mae_mev_per_angstrom": self.force_mae_mev_per_angstrom,
            "force_rmse_mev_per_angstrom": self.force_rmse_mev_per_angstrom,
            "stress_mae_gpa": self.stress_mae_gpa,
        }


def error_report(
    potential: AbstractLearnedPotential,
    dataset: AtomisticDataset,
    *,
    predictions: StructureLabels | None = None,
    batch_size: int = 8,
) -> ErrorReport:
    """Energy, force and stress errors of ``potential`` on ``dataset`` (eV, Å units in).

    Args:
        potential: the learned potential.
        dataset: labelled structures.
        predictions: the potential's predictions if already computed (`evaluate_dataset`).
        batch_size: structures evaluated together.

    Returns:
        `ErrorReport`.
    """
    if predictions is None:
        predictions = evaluate_dataset(potential, dataset, batch_size=batch_size)
    else:
        check_compatible(potential, dataset)
    mask = np.asarray(dataset.atom_mask)
    n_atoms = mask.sum(axis=1)
    energy = 1e3 * (np.asarray(predictions.energy, np.float64)
                    - np.asarray(dataset.energy, np.float64)) / n_atoms  # fmt: skip
    force = 1e3 * (np.asarray(predictions.forces, np.float64)
                   - np.asarray(dataset.forces, np.float64))  # fmt: skip
    stress = EV_PER_A3_TO_GPA * (
        np.asarray(to_voigt(predictions.stress), np.float64)
        - np.asarray(to_voigt(dataset.stress), np.float64)
    )
    components = np.abs(force[mask])
    per_structure_force = np.array(
        [np.mean(np.abs(force[k][mask[k]])) for k in range(len(n_atoms))]
    )
    per_atom = np.where(mask, np.linalg.norm(force, axis=-1), np.nan)
    return ErrorReport(
        energy_mae_mev_per_atom=float(np.mean(np.abs(energy))),
        energy_rmse_mev_per_atom=float(np.sqrt(np.mean(energy**2))),
        force_mae_mev_per_angstrom=float(np.mean(components)),
        force_rmse_mev_per_angstrom=float(np.sqrt(np.mean(components**2))),
        stress_mae_gpa=float(np.mean(np.abs(stress))),
        per_structure_energy_mev_per_atom=energy,
        per_structure_force_mae_mev_per_angstrom=per_structure_force,
        per_structure_stress_mae_gpa=np.mean(np.abs(stress), axis=1),
        per_atom_force_error_mev_per_angstrom=per_atom,
        predictions=predictions,
    )


def parity_plot(
    dataset: AtomisticDataset,
    predictions: StructureLabels,
    *,
    title: str | None = None,
) -> Any:
    """Parity plots of energies per atom, force components and stress components.

    Args:
        dataset: the labelled structures (the reference, on the horizontal axes).
        predictions: a potential's `StructureLabels` on them (`evaluate_dataset`).
        title: a title for the figure.

    Returns:
        A ``matplotlib.figure.Figure`` with three panels (created without pyplot: nothing
        is shown and no global state changes; save it with ``fig.savefig``).
    """
    from matplotlib.figure import Figure

    mask = np.asarray(dataset.atom_mask)
    n_atoms = mask.sum(axis=1)
    panels = [
        ("energy (eV/atom)", np.asarray(dataset.energy) / n_atoms,
         np.asarray(predictions.energy) / n_atoms),
        ("force component (eV/Å)", np.asarray(dataset.forces)[mask].ravel(),
         np.asarray(predictions.forces)[mask].ravel()),
        ("stress component (GPa)", EV_PER_A3_TO_GPA * np.asarray(to_voigt(dataset.stress)).ravel(),
         EV_PER_A3_TO_GPA * np.asarray(to_voigt(predictions.stress)).ravel()),
    ]  # fmt: skip
    figure = Figure(figsize=(12, 4), layout="constrained")
    axes = figure.subplots(1, 3)
    for ax, (label, reference, predicted) in zip(axes, panels, strict=True):
        low = float(min(reference.min(), predicted.min()))
        high = float(max(reference.max(), predicted.max()))
        ax.plot([low, high], [low, high], color="0.6", linewidth=1)
        ax.scatter(reference, predicted, s=4, alpha=0.5)
        mae = float(np.mean(np.abs(predicted - reference)))
        ax.set_xlabel(f"reference {label}")
        ax.set_ylabel(f"predicted {label}")
        ax.set_title(f"MAE {mae:.3g}")
    if title:
        figure.suptitle(title)
    return figure


def train_potential(
    potential: AbstractLearnedPotential,
    train: AtomisticDataset,
    *,
    key: Key,
    steps: int,
    validation: AtomisticDataset | None = None,
    weights: LossWeights = DEFAULT_WEIGHTS,
    learning_rate: float = 1e-3,
    final_learning_rate: float | None = None,
    batch_size: int | None = 4,
    eval_every: int | None = None,
    patience: int | None = None,
    progress: bool | None = None,
) -> FitResult:
    """Train a learned potential on energies, forces and stresses with `dmech.train.fit`.

    Adam (with global-norm clipping at 10) on `potential_loss`, the learning rate decaying
    exponentially from ``learning_rate`` to ``final_learning_rate`` over ``steps``;
    minibatches of ``batch_size`` structures. With a validation set, the validation energy
    and force MAE are evaluated every ``eval_every`` steps; with ``patience`` the run
    stops early on the force MAE and returns the best parameters.

    Args:
        potential: the initial potential (its non-trainable constants must be wrapped in
            ``stop_gradient`` by the potential itself).
        train: the training structures (`make_dataset` with the potential's cutoff).
        key: PRNG key (batch order).
        steps: optimisation steps.
        validation: held-out structures, or ``None``.
        weights: `LossWeights`.
        learning_rate: the initial Adam learning rate.
        final_learning_rate: the learning rate at the last step (default
            ``learning_rate / 10``).
        batch_size: structures per step (``None``: all).
        eval_every: evaluation interval (default ``max(steps // 10, 1)`` with a
            validation set).
        patience: evaluations without improvement before stopping (``None``: never).
        progress: show a progress bar (default: when stderr is a terminal).

    Returns:
        `dmech.train.FitResult` (``.model`` is the trained potential).

    Raises:
        ValueError: for datasets that do not suit the potential (species, cutoff) and for
            non-positive ``steps`` or ``learning_rate``.
    """
    check_compatible(potential, train)
    if validation is not None:
        check_compatible(potential, validation)
    if not float(learning_rate) > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    final = learning_rate / 10 if final_learning_rate is None else final_learning_rate
    schedule = optax.exponential_decay(learning_rate, max(int(steps), 1), final / learning_rate)
    optimizer = optax.chain(optax.clip_by_global_norm(10.0), optax.adam(schedule))
    if batch_size is not None:
        batch_size = min(int(batch_size), train.n_structures)

    def loss_fn(model, batch, key):
        return potential_loss(model, batch, weights)

    eval_fn = None
    if validation is not None:
        eval_every = eval_every or max(int(steps) // 10, 1)

        def eval_fn(model):
            report = error_report(model, validation)
            return {
                "validation_energy_mae_mev_per_atom": report.energy_mae_mev_per_atom,
                "validation_force_mae_mev_per_angstrom": report.force_mae_mev_per_angstrom,
            }

    stopping = None
    if patience is not None and validation is not None:
        stopping = EarlyStopping(
            monitor="validation_force_mae_mev_per_angstrom", patience=int(patience)
        )
    return fit(
        potential, loss_fn, optimizer, train, key=key, steps=int(steps),
        batch_size=batch_size, eval_fn=eval_fn, eval_every=eval_every,
        early_stopping=stopping, progress=progress,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Saving and loading
# ---------------------------------------------------------------------------------------------

_MAGIC = "dmech-potential"
_VERSION = 1


def _registry() -> dict[str, Any]:
    from ._mlip_polynomial import PolynomialPotential

    classes: dict[str, Any] = {"PolynomialPotential": PolynomialPotential}
    try:
        from ._mlip_behler_parrinello import BehlerParrinelloPotential

        classes["BehlerParrinelloPotential"] = BehlerParrinelloPotential
    except ImportError:  # pragma: no cover - written later in the same package
        pass
    try:
        from ._mlip_equivariant import EquivariantPotential

        classes["EquivariantPotential"] = EquivariantPotential
    except ImportError:  # pragma: no cover
        pass
    return classes


def save_potential(
    path: str | os.PathLike[str],
    potential: AbstractLearnedPotential,
    *,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write a learned potential to a file: a JSON header line, then its arrays.

    The header holds the class, its hyperparameters (``potential.hyperparameters()``:
    everything needed to rebuild its structure), the dtype and ``metadata``; the arrays
    follow as ``equinox.tree_serialise_leaves`` writes them, so `load_potential` returns a
    potential that predicts bit-identically.

    Args:
        path: the file.
        potential: a `PolynomialPotential`, `BehlerParrinelloPotential` or
            `EquivariantPotential`.
        metadata: JSON-serialisable extra information (training set, errors...).

    Raises:
        TypeError: for a potential that cannot be saved.
    """
    name = type(potential).__name__
    if name not in _registry() or not hasattr(potential, "hyperparameters"):
        raise TypeError(f"potential of type {name} cannot be saved; known: {sorted(_registry())}")
    header = {
        "format": _MAGIC,
        "version": _VERSION,
        "class": name,
        "hyperparameters": potential.hyperparameters(),
        "dtype": str(jax.tree_util.tree_leaves(eqx.filter(potential, eqx.is_array))[0].dtype),
        "metadata": metadata or {},
    }
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, potential)
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(json.dumps(header, sort_keys=True).encode() + b"\n")
        handle.write(buffer.getvalue())
    os.replace(tmp, path)


def load_potential(path: str | os.PathLike[str]) -> AbstractLearnedPotential:
    """Read a potential written by `save_potential`.

    Raises:
        ValueError: if the file is not a saved potential or names an unknown class.
    """
    with open(path, "rb") as handle:
        first = handle.readline()
        try:
            header = json.loads(first)
        except ValueError:
            raise ValueError(f"{os.fspath(path)} is not a saved dmech potential") from None
        if not isinstance(header, dict) or header.get("format") != _MAGIC:
            raise ValueError(f"{os.fspath(path)} is not a saved dmech potential")
        classes = _registry()
        if header["class"] not in classes:
            raise ValueError(f"unknown potential class {header['class']!r} in {path}")
        cls = classes[header["class"]]
        skeleton = cls.from_hyperparameters(header["hyperparameters"], dtype=header["dtype"])
        return eqx.tree_deserialise_leaves(handle, skeleton)


def read_potential_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON header of a saved potential (class, hyperparameters, metadata)."""
    with open(path, "rb") as handle:
        return json.loads(handle.readline())
