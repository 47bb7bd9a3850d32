"""Fixtures shared by the finite-element tests."""

import numpy as np
import pytest


def _uniaxial_j2(strains, youngs_modulus, yield_stress, h_iso, h_kin):
    """Closed-form 1D elastoplasticity with linear isotropic and kinematic hardening:
    yield surface ``|σ - β| = σ_y + H_iso α``, backstress rate ``H_kin``."""
    e = youngs_modulus
    plastic = alpha = beta = 0.0
    stresses = []
    for eps in strains:
        xi = e * (eps - plastic) - beta
        f = abs(xi) - (yield_stress + h_iso * alpha)
        if f > 0:
            dgamma = f / (e + h_iso + h_kin)
            plastic += dgamma * np.sign(xi)
            alpha += dgamma
            beta += h_kin * dgamma * np.sign(xi)
        stresses.append(e * (eps - plastic))
    return np.array(stresses)


@pytest.fixture
def uniaxial_j2():
    """The 1D J2 reference: ``uniaxial_j2(strains, E, σ_y, H_iso, H_kin) -> stresses``."""
    return _uniaxial_j2
