"""dmech.atomistic: interatomic potentials on jax-md, molecular dynamics, elastic constants.

Every potential is a pure energy function ``E = potential(positions, box, species,
neighbors)`` (an equinox Module whose arrays are its parameters); forces and the virial
stress come by automatic differentiation (`evaluate`).

- Structures: `Structure`, `fcc`, `bcc`, `diamond`, `supercell`, `remove_atoms`,
  `random_vacancies`, `random_alloy`, `deform`, `rattle`, `check_structure`.
- Neighbour lists: `NeighborListBuilder` (jax-md's, reallocating on overflow outside jit and
  reporting it inside), `neighbor_list_overflowed`.
- Classical potentials: `LennardJones`, `StillingerWeber` (silicon, 1985), `ZhouEAM` (Zhou,
  Johnson and Wadley 2004 analytic EAM for Cu, Ag, Au, Ni, Pd, Al and their alloys).
- Forces and stresses: `evaluate`, `forces`, `stress`, `to_voigt`, `from_voigt`.
- Elastic constants: `elastic_constants` (6x6 Voigt, with internal relaxation),
  `relax_positions`.
- Molecular dynamics: `run_md` with `NVE`, `NVTLangevin`, `NVTNoseHoover`, `NPTNoseHoover`;
  observables, RDF, MSD, blow-up detection (`MDBlowUpError`), `write_trajectory`.
- Data: `read_extxyz`, `write_extxyz`, `Frame`; `reference_dataset` (energies, forces and
  stresses sampled by MD from the classical potentials, cached with a card).
- Learned potentials (each an `AbstractLearnedPotential`): `PolynomialPotential` on a
  `PolynomialBasis`, fitted by `fit_polynomial_potential`; training data `make_dataset`
  (`AtomisticDataset`), `split_dataset`, `subset_dataset`, `evaluate_dataset`,
  `LossWeights`; `BehlerParrinelloPotential` on `SymmetryFunctions` (G2, G4/G5), built
  from data by `behler_parrinello_potential`; `EquivariantPotential` (jax-md's NequIP), built
  by `equivariant_potential`; training `potential_loss`, `train_potential`
  (on `dmech.train.fit`),
  `error_report` (`ErrorReport`: meV/atom, meV/Å, GPa), `parity_plot`, `save_potential`,
  `load_potential`, `read_potential_header`.
- Units: `BOLTZMANN_EV_PER_K`, `FEMTOSECOND`, `EV_PER_A3_TO_GPA`, `ATOMIC_MASSES`.
"""

from ._eam import ZHOU_2004_PARAMETERS as ZHOU_2004_PARAMETERS
from ._eam import ZhouEAM as ZhouEAM
from ._elastic import ElasticConstants as ElasticConstants
from ._elastic import elastic_constants as elastic_constants
from ._elastic import relax_positions as relax_positions
from ._elastic import voigt_strain_tensor as voigt_strain_tensor
from ._extxyz import Frame as Frame
from ._extxyz import read_extxyz as read_extxyz
from ._extxyz import write_extxyz as write_extxyz
from ._lennard_jones import LennardJones as LennardJones
from ._md import NVE as NVE
from ._md import AbstractEnsemble as AbstractEnsemble
from ._md import MDBlowUpError as MDBlowUpError
from ._md import MDResult as MDResult
from ._md import NPTNoseHoover as NPTNoseHoover
from ._md import NVTLangevin as NVTLangevin
from ._md import NVTNoseHoover as NVTNoseHoover
from ._md import Observables as Observables
from ._md import run_md as run_md
from ._md import write_trajectory as write_trajectory
from ._mlip_behler_parrinello import BehlerParrinelloPotential as BehlerParrinelloPotential
from ._mlip_behler_parrinello import SymmetryFunctions as SymmetryFunctions
from ._mlip_behler_parrinello import behler_parrinello_potential as behler_parrinello_potential
from ._mlip_data import AbstractLearnedPotential as AbstractLearnedPotential
from ._mlip_data import AtomisticDataset as AtomisticDataset
from ._mlip_data import StructureLabels as StructureLabels
from ._mlip_data import evaluate_dataset as evaluate_dataset
from ._mlip_data import make_dataset as make_dataset
from ._mlip_data import split_dataset as split_dataset
from ._mlip_data import subset_dataset as subset_dataset
from ._mlip_equivariant import EquivariantPotential as EquivariantPotential
from ._mlip_equivariant import equivariant_potential as equivariant_potential
from ._mlip_polynomial import LossWeights as LossWeights
from ._mlip_polynomial import PolynomialBasis as PolynomialBasis
from ._mlip_polynomial import PolynomialFit as PolynomialFit
from ._mlip_polynomial import PolynomialPotential as PolynomialPotential
from ._mlip_polynomial import fit_polynomial_potential as fit_polynomial_potential
from ._mlip_training import ErrorReport as ErrorReport
from ._mlip_training import error_report as error_report
from ._mlip_training import load_potential as load_potential
from ._mlip_training import parity_plot as parity_plot
from ._mlip_training import potential_loss as potential_loss
from ._mlip_training import read_potential_header as read_potential_header
from ._mlip_training import save_potential as save_potential
from ._mlip_training import train_potential as train_potential
from ._neighbors import NeighborList as NeighborList
from ._neighbors import NeighborListBuilder as NeighborListBuilder
from ._neighbors import neighbor_list_overflowed as neighbor_list_overflowed
from ._potential import AbstractPotential as AbstractPotential
from ._potential import Evaluation as Evaluation
from ._potential import check_inputs as check_inputs
from ._potential import evaluate as evaluate
from ._potential import forces as forces
from ._potential import from_voigt as from_voigt
from ._potential import stress as stress
from ._potential import to_voigt as to_voigt
from ._reference_data import REFERENCE_SYSTEMS as REFERENCE_SYSTEMS
from ._reference_data import dataset_frames as dataset_frames
from ._reference_data import reference_dataset as reference_dataset
from ._reference_data import reference_potential as reference_potential
from ._stillinger_weber import StillingerWeber as StillingerWeber
from ._structures import Box as Box
from ._structures import Structure as Structure
from ._structures import bcc as bcc
from ._structures import check_structure as check_structure
from ._structures import deform as deform
from ._structures import diamond as diamond
from ._structures import fcc as fcc
from ._structures import minimum_distance as minimum_distance
from ._structures import perpendicular_widths as perpendicular_widths
from ._structures import random_alloy as random_alloy
from ._structures import random_vacancies as random_vacancies
from ._structures import rattle as rattle
from ._structures import remove_atoms as remove_atoms
from ._structures import supercell as supercell
from ._units import ATOMIC_MASSES as ATOMIC_MASSES
from ._units import BOLTZMANN_EV_PER_K as BOLTZMANN_EV_PER_K
from ._units import EV_PER_A3_TO_GPA as EV_PER_A3_TO_GPA
from ._units import FEMTOSECOND as FEMTOSECOND
from ._units import atomic_mass as atomic_mass

__all__ = [
    "ATOMIC_MASSES",
    "BOLTZMANN_EV_PER_K",
    "EV_PER_A3_TO_GPA",
    "FEMTOSECOND",
    "NVE",
    "REFERENCE_SYSTEMS",
    "ZHOU_2004_PARAMETERS",
    "AbstractEnsemble",
    "AbstractLearnedPotential",
    "AbstractPotential",
    "AtomisticDataset",
    "BehlerParrinelloPotential",
    "Box",
    "ElasticConstants",
    "EquivariantPotential",
    "ErrorReport",
    "Evaluation",
    "Frame",
    "LennardJones",
    "LossWeights",
    "MDBlowUpError",
    "MDResult",
    "NPTNoseHoover",
    "NVTLangevin",
    "NVTNoseHoover",
    "NeighborList",
    "NeighborListBuilder",
    "Observables",
    "PolynomialBasis",
    "PolynomialFit",
    "PolynomialPotential",
    "StillingerWeber",
    "Structure",
    "StructureLabels",
    "SymmetryFunctions",
    "ZhouEAM",
    "atomic_mass",
    "bcc",
    "behler_parrinello_potential",
    "check_inputs",
    "check_structure",
    "dataset_frames",
    "deform",
    "diamond",
    "elastic_constants",
    "equivariant_potential",
    "error_report",
    "evaluate",
    "evaluate_dataset",
    "fcc",
    "fit_polynomial_potential",
    "forces",
    "from_voigt",
    "load_potential",
    "make_dataset",
    "minimum_distance",
    "neighbor_list_overflowed",
    "parity_plot",
    "perpendicular_widths",
    "potential_loss",
    "random_alloy",
    "random_vacancies",
    "rattle",
    "read_extxyz",
    "read_potential_header",
    "reference_dataset",
    "reference_potential",
    "relax_positions",
    "remove_atoms",
    "run_md",
    "save_potential",
    "split_dataset",
    "stress",
    "subset_dataset",
    "supercell",
    "to_voigt",
    "train_potential",
    "voigt_strain_tensor",
    "write_extxyz",
    "write_trajectory",
]
