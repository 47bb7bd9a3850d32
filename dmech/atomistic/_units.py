"""Units of dmech.atomistic: "metal" units (eV, Å, amu) and Lennard-Jones reduced units.

Kernels are unit-free (as in jax-md): energies, lengths and masses are whatever the
potential's parameters are in. The classical potentials shipped here use

- *metal units* (Stillinger-Weber, EAM): energy eV, length Å, mass amu (g/mol), so the
  time unit is ``Å √(amu/eV) = 10.1805 fs``, temperature enters as ``k_B T`` in eV, stress
  is in eV/Å³ (``× 160.2177`` for GPa);
- *reduced units* (Lennard-Jones): ``ε = σ = m = k_B = 1``, time ``σ √(m/ε)``.
"""

from __future__ import annotations

import math

__all__ = [
    "ATOMIC_MASSES",
    "BOLTZMANN_EV_PER_K",
    "EV_PER_A3_TO_GPA",
    "FEMTOSECOND",
    "atomic_mass",
]

# CODATA 2018: k_B = 8.617333262e-5 eV/K.
BOLTZMANN_EV_PER_K = 8.617333262e-5
# 1 eV/Å³ = 1.602176634e-19 J / 1e-30 m³ = 160.2176634 GPa.
EV_PER_A3_TO_GPA = 160.2176634
# The metal time unit Å √(amu/eV) in seconds: 1e-10 √(1.66053906660e-27 / 1.602176634e-19).
_METAL_TIME_UNIT_S = 1e-10 * math.sqrt(1.66053906660e-27 / 1.602176634e-19)
# One femtosecond in metal time units (about 0.0982).
FEMTOSECOND = 1e-15 / _METAL_TIME_UNIT_S

# Standard atomic weights (IUPAC 2013, amu) of the elements the shipped potentials cover;
# "X" is the Lennard-Jones reduced-unit particle of mass 1.
ATOMIC_MASSES: dict[str, float] = {
    "X": 1.0,
    "Si": 28.0855,
    "Cu": 63.546,
    "Ni": 58.6934,
    "Ag": 107.8682,
    "Au": 196.96657,
    "Al": 26.9815385,
    "Pd": 106.42,
    "Pt": 195.084,
    "Pb": 207.2,
    "Fe": 55.845,
    "Mo": 95.95,
    "Ta": 180.94788,
    "W": 183.84,
    "Mg": 24.305,
    "Co": 58.933194,
    "Ti": 47.867,
    "Zr": 91.224,
    "Ar": 39.948,
}


def atomic_mass(symbol: str) -> float:
    """The mass of an element in amu (``"X"``: 1, the reduced-unit particle).

    Raises:
        ValueError: for a symbol without a mass in `ATOMIC_MASSES`, naming it.
    """
    try:
        return ATOMIC_MASSES[symbol]
    except KeyError:
        raise ValueError(
            f"no atomic mass for symbol {symbol!r}; known: {', '.join(sorted(ATOMIC_MASSES))} "
            "(pass `masses` explicitly)"
        ) from None
