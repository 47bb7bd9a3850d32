"""Material-point constitutive laws: linear elasticity against the Voigt stiffness, J2
plasticity against the closed-form 1D elastoplastic response in uniaxial stress (isotropic,
kinematic with the Bauschinger effect, mixed, perfect), a hand computation in pure shear, the
consistent tangent against finite differences and Simo-Hughes' closed form, consistency and
plastic incompressibility, parameter gradients, transforms, and the learned-law wrapper."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dmech.fem import isotropic_elasticity
from dmech.fem._materials import (
    LearnedLaw,
    j2_initial_state,
    j2_plasticity,
    linear_elastic,
)
from dmech.testing import check_grad

E, NU, SIGMA_Y = 200e3, 0.3, 250.0
MU = E / (2 * (1 + NU))
KAPPA = E / (3 * (1 - 2 * NU))
EPS_Y = SIGMA_Y / E
MEMBER = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])


def _params(h_iso=0.0, h_kin=0.0, **overrides):
    params = {
        "youngs_modulus": E,
        "poissons_ratio": NU,
        "yield_stress": SIGMA_Y,
        "isotropic_hardening": h_iso,
        "kinematic_hardening": h_kin,
    }
    params.update(overrides)
    return {k: jnp.asarray(v) for k, v in params.items()}


def _state(plastic_strain, alpha, backstress):
    return {
        "plastic_strain": jnp.asarray(plastic_strain, dtype=jnp.float64),
        "equivalent_plastic_strain": jnp.asarray(alpha, dtype=jnp.float64),
        "backstress": jnp.asarray(backstress, dtype=jnp.float64),
    }


def _tensor_norm(voigt, *, engineering):
    """Frobenius norm of a symmetric tensor given in Voigt order (numpy)."""
    voigt = np.asarray(voigt)
    shear_weight = 0.5 if engineering else 2.0
    return np.sqrt(np.sum(voigt[:3] ** 2) + shear_weight * np.sum(voigt[3:] ** 2))


def _deviator(voigt):
    voigt = np.asarray(voigt, dtype=np.float64).copy()
    voigt[:3] -= voigt[:3].sum() / 3
    return voigt


# --- linear elasticity ----------------------------------------------------------------------


def test_linear_elastic_matches_isotropic_stiffness(x64):
    strain = jnp.array([1e-3, -2e-4, 3e-4, 5e-4, -1e-4, 2e-4])
    params = {"youngs_modulus": jnp.asarray(E), "poissons_ratio": jnp.asarray(NU)}
    stress, state = linear_elastic(strain, (), params)
    expected = np.asarray(isotropic_elasticity(E, NU, dim=3)) @ np.asarray(strain)
    np.testing.assert_allclose(stress, expected, rtol=1e-13, atol=1e-12)
    assert state == ()
    tangent = jax.jacfwd(lambda e: linear_elastic(e, (), params)[0])(jnp.zeros(6))
    np.testing.assert_allclose(tangent, isotropic_elasticity(E, NU, dim=3), rtol=1e-13)


def test_linear_elastic_rejects_bad_input():
    good = {"youngs_modulus": 1.0, "poissons_ratio": 0.25}
    with pytest.raises(ValueError, match="poissons_ratio"):
        linear_elastic(jnp.zeros(6), (), {"youngs_modulus": 1.0, "poissons_ratio": 0.5})
    with pytest.raises(ValueError, match="youngs_modulus"):
        linear_elastic(jnp.zeros(6), (), {"youngs_modulus": -1.0, "poissons_ratio": 0.2})
    with pytest.raises(ValueError, match="youngs_modulus"):
        linear_elastic(jnp.zeros(6), (), {"poissons_ratio": 0.2})
    with pytest.raises(ValueError, match="strain"):
        linear_elastic(jnp.zeros(3), (), good)


# --- J2 plasticity: uniaxial stress against the 1D closed form --------------------------------


@jax.jit
def _uniaxial_stress_driver(params, eps_path):
    """Mixed control: ε_xx prescribed, the other five strains solved (Newton with the
    autodiff tangent) so that the other five stresses vanish, carrying the history."""

    def step(carry, exx):
        lateral, state = carry

        def law(lat):
            return j2_plasticity(jnp.concatenate([exx[None], lat]), state, params)

        def newton(_, lat):
            residual = law(lat)[0][1:]
            jac = jax.jacfwd(lambda x: law(x)[0][1:])(lat)
            return lat - jnp.linalg.solve(jac, residual)

        lateral = jax.lax.fori_loop(0, 12, newton, lateral)
        stress, new_state = law(lateral)
        return (lateral, new_state), (stress, new_state)

    init = (jnp.zeros(5, eps_path.dtype), j2_initial_state(dtype=eps_path.dtype))
    _, (stresses, states) = jax.lax.scan(step, init, eps_path)
    return stresses, states


# 0 -> 3 ε_y -> -3 ε_y -> 0 in steps of ε_y/10 (integer grid, so reversal points are exact)
_STEPS = np.concatenate([np.arange(0, 31), np.arange(29, -31, -1), np.arange(-29, 1)])
_EPS_PATH = _STEPS * (EPS_Y / 10)


@pytest.mark.parametrize(
    "h_iso, h_kin",
    [(10e3, 0.0), (0.0, 10e3), (6e3, 4e3), (0.0, 0.0)],
    ids=["isotropic", "kinematic", "mixed", "perfect"],
)
def test_uniaxial_stress_cycle_matches_1d_closed_form(x64, uniaxial_j2, h_iso, h_kin):
    stresses, states = _uniaxial_stress_driver(_params(h_iso, h_kin), jnp.asarray(_EPS_PATH))
    stresses = np.asarray(stresses)
    np.testing.assert_allclose(stresses[:, 1:], 0.0, atol=1e-9 * SIGMA_Y)  # uniaxial stress
    reference = uniaxial_j2(_EPS_PATH, E, SIGMA_Y, h_iso, h_kin)
    np.testing.assert_allclose(stresses[:, 0], reference, rtol=1e-10, atol=1e-10 * SIGMA_Y)

    # tangent modulus after yield: E H_t / (E + H_t) (points 20..30 are on the loading branch)
    h_t = h_iso + h_kin
    slope = (stresses[30, 0] - stresses[20, 0]) / (_EPS_PATH[30] - _EPS_PATH[20])
    np.testing.assert_allclose(slope, E * h_t / (E + h_t), rtol=1e-9, atol=1e-9 * E)

    # reverse yield: elastic unloading down to σ_max - 2σ_y (kinematic), -σ_max (isotropic)
    sigma_max = stresses[30, 0]
    reverse_yield = {"isotropic": -sigma_max, "kinematic": sigma_max - 2 * SIGMA_Y}
    alpha = np.asarray(states["equivalent_plastic_strain"])
    if h_kin == 0.0 and h_iso > 0:
        expected = reverse_yield["isotropic"]
    elif h_iso == 0.0 and h_kin > 0:
        expected = reverse_yield["kinematic"]
    else:
        expected = None
    if expected is not None:
        # last point of elastic unloading from ε_max = 3 ε_y
        k = 30 + int(np.floor((sigma_max - expected) / (E * EPS_Y / 10) + 1e-9))
        elastic_line = sigma_max - E * (_EPS_PATH[30] - _EPS_PATH)
        np.testing.assert_allclose(stresses[31 : k + 1, 0], elastic_line[31 : k + 1], rtol=1e-10)
        np.testing.assert_allclose(alpha[31 : k + 1], alpha[30], rtol=1e-12)
        assert stresses[k, 0] >= expected - 1e-9 * SIGMA_Y
        assert alpha[k + 1] > alpha[30] * (1 + 1e-6)  # plastic right after
        assert stresses[k + 1, 0] > elastic_line[k + 1] + 1e-3 * SIGMA_Y
        if h_iso == 0.0:  # σ_max - 2σ_y lies on the strain grid: reverse yield exactly there
            assert k == 50
            np.testing.assert_allclose(stresses[k, 0], expected, rtol=1e-10)

    # plastic incompressibility along the whole cycle
    np.testing.assert_allclose(np.sum(states["plastic_strain"][:, :3], axis=1), 0.0, atol=1e-15)


# --- J2 plasticity: single steps --------------------------------------------------------------


def test_pure_shear_step_matches_hand_computation(x64):
    """Engineering shear: yield in shear at τ = σ_y/√3, i.e. γ_y = σ_y/(√3 μ)."""
    h_iso, h_kin = 2e3, 3e3
    params = _params(h_iso, h_kin)
    gamma_y = SIGMA_Y / (np.sqrt(3) * MU)
    virgin = j2_initial_state(dtype=jnp.float64)
    for component in (3, 4, 5):
        below = jnp.zeros(6).at[component].set(0.999 * gamma_y)
        stress, state = j2_plasticity(below, virgin, params)
        assert float(state["equivalent_plastic_strain"]) == 0.0
        np.testing.assert_allclose(stress[component], MU * 0.999 * gamma_y, rtol=1e-14)

        gamma = 3 * gamma_y
        stress, state = j2_plasticity(jnp.zeros(6).at[component].set(gamma), virgin, params)
        # ‖ξ_tr‖ = 2μ (γ/2) √2; n_xy = 1/√2
        dgamma = (np.sqrt(2) * MU * gamma - np.sqrt(2 / 3) * SIGMA_Y) / (
            2 * MU + 2 * (h_iso + h_kin) / 3
        )
        tau = MU * gamma - 2 * MU * dgamma / np.sqrt(2)
        expected = np.zeros(6)
        expected[component] = tau
        np.testing.assert_allclose(stress, expected, rtol=1e-13, atol=1e-12 * SIGMA_Y)
        # engineering plastic shear strain 2 Δγ n_xy; back stress (2/3) H_kin Δγ n_xy
        np.testing.assert_allclose(
            state["plastic_strain"][component], np.sqrt(2) * dgamma, rtol=1e-13
        )
        np.testing.assert_allclose(
            state["backstress"][component], 2 / 3 * h_kin * dgamma / np.sqrt(2), rtol=1e-13
        )
        np.testing.assert_allclose(
            state["equivalent_plastic_strain"], np.sqrt(2 / 3) * dgamma, rtol=1e-13
        )


_PLASTIC_STATE = (
    [1e-3, -4e-4, -6e-4, 2e-4, -3e-4, 5e-4],
    1.1e-3,
    [40.0, -10.0, -30.0, 5.0, -8.0, 12.0],
)
_PLASTIC_STRAIN = [5e-3, -1e-3, -1.5e-3, 2e-3, -1e-3, 3e-3]


def test_return_is_consistent_and_incompressible(x64):
    h_iso, h_kin = 4e3, 7e3
    params = _params(h_iso, h_kin)
    state_n = _state(*_PLASTIC_STATE)
    stress, state = j2_plasticity(jnp.asarray(_PLASTIC_STRAIN), state_n, params)
    alpha = float(state["equivalent_plastic_strain"])
    assert alpha > float(state_n["equivalent_plastic_strain"])  # the step is plastic
    # on the updated yield surface
    xi = _deviator(stress) - np.asarray(state["backstress"])
    radius = np.sqrt(2 / 3) * (SIGMA_Y + h_iso * alpha)
    np.testing.assert_allclose(_tensor_norm(xi, engineering=False), radius, rtol=1e-12)
    # plastic strain stays deviatoric; its increment is normal and measured by α
    plastic = np.asarray(state["plastic_strain"])
    np.testing.assert_allclose(plastic[:3].sum(), 0.0, atol=1e-16)
    increment = plastic - np.asarray(state_n["plastic_strain"])
    dalpha = alpha - float(state_n["equivalent_plastic_strain"])
    np.testing.assert_allclose(
        np.sqrt(2 / 3) * _tensor_norm(increment, engineering=True), dalpha, rtol=1e-12
    )
    # Prager: Δβ = (2/3) H_kin Δε^p (tensor components: halve the engineering shear)
    increment_tensor = np.concatenate([increment[:3], increment[3:] / 2])
    np.testing.assert_allclose(
        np.asarray(state["backstress"]) - np.asarray(state_n["backstress"]),
        2 / 3 * h_kin * increment_tensor,
        rtol=1e-12,
        atol=1e-12 * SIGMA_Y,
    )
    # elastic law on the elastic strain: σ = C (ε - ε^p)
    elastic = np.asarray(isotropic_elasticity(E, NU, dim=3)) @ (
        np.asarray(_PLASTIC_STRAIN) - plastic
    )
    np.testing.assert_allclose(stress, elastic, rtol=1e-12, atol=1e-12 * SIGMA_Y)


def test_elastic_step_keeps_state_and_matches_hooke(x64):
    state_n = _state(*_PLASTIC_STATE)
    strain = np.asarray(_PLASTIC_STATE[0]) + 1e-4 * np.array([1.0, 0.5, -0.3, 0.2, 0.1, -0.4])
    stress, state = j2_plasticity(jnp.asarray(strain), state_n, _params(4e3, 7e3))
    for name in state:
        np.testing.assert_array_equal(state[name], state_n[name])
    expected = np.asarray(isotropic_elasticity(E, NU, dim=3)) @ (
        strain - np.asarray(_PLASTIC_STATE[0])
    )
    np.testing.assert_allclose(stress, expected, rtol=1e-12, atol=1e-12 * SIGMA_Y)


# --- consistent tangent -------------------------------------------------------------------------


def _central_difference_tangent(fn, x, h):
    x = np.asarray(x)
    columns = []
    for j in range(x.size):
        dx = np.zeros_like(x)
        dx[j] = h
        columns.append(
            (np.asarray(fn(jnp.asarray(x + dx))) - np.asarray(fn(jnp.asarray(x - dx)))) / (2 * h)
        )
    return np.stack(columns, axis=1)


def _simo_hughes_tangent(strain, state_n, h_iso, h_kin):
    """Box 3.2: C = κ 1⊗1 + 2μθ (I - 1⊗1/3) - 2μ θ̄ n⊗n (Voigt, engineering strain)."""
    elastic = np.asarray(strain) - np.asarray(state_n["plastic_strain"])
    trial = np.asarray(isotropic_elasticity(E, NU, dim=3)) @ elastic
    xi = _deviator(trial) - _deviator(state_n["backstress"])
    xi_norm = _tensor_norm(xi, engineering=False)
    f = xi_norm - np.sqrt(2 / 3) * (SIGMA_Y + h_iso * float(state_n["equivalent_plastic_strain"]))
    assert f > 0
    dgamma = f / (2 * MU + 2 * (h_iso + h_kin) / 3)
    n = xi / xi_norm
    theta = 1 - 2 * MU * dgamma / xi_norm
    theta_bar = 1 / (1 + (h_iso + h_kin) / (3 * MU)) - (1 - theta)
    identity = np.diag([1.0, 1.0, 1.0, 0.5, 0.5, 0.5])
    ones = np.outer(MEMBER, MEMBER)
    return (
        KAPPA * ones + 2 * MU * theta * (identity - ones / 3) - 2 * MU * theta_bar * np.outer(n, n)
    )


def test_tangent_at_zero_strain_is_the_elastic_stiffness(x64):
    params = _params(1e3, 1e3)
    virgin = j2_initial_state(dtype=jnp.float64)
    zero = jnp.zeros(6)
    forward = jax.jit(jax.jacfwd(lambda e: j2_plasticity(e, virgin, params)[0]))(zero)
    reverse = jax.jit(jax.jacrev(lambda e: j2_plasticity(e, virgin, params)[0]))(zero)
    stiffness = np.asarray(isotropic_elasticity(E, NU, dim=3))
    assert np.all(np.isfinite(forward)) and np.all(np.isfinite(reverse))
    np.testing.assert_allclose(forward, stiffness, rtol=1e-13, atol=1e-9)
    np.testing.assert_allclose(reverse, stiffness, rtol=1e-13, atol=1e-9)
    # gradients with respect to the parameters and the state are finite too
    grads = jax.jit(jax.grad(lambda p, s: jnp.sum(j2_plasticity(zero, s, p)[0]), argnums=(0, 1)))(
        params, virgin
    )
    assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))


def test_tangent_matches_finite_differences_and_simo_hughes(x64):
    h_iso, h_kin = 4e3, 7e3
    params = _params(h_iso, h_kin)
    state_n = _state(*_PLASTIC_STATE)

    @jax.jit
    def stress(e):
        return j2_plasticity(e, state_n, params)[0]

    # elastic point
    elastic_point = np.asarray(_PLASTIC_STATE[0]) + 1e-4
    tangent = jax.jacfwd(stress)(jnp.asarray(elastic_point))
    np.testing.assert_allclose(tangent, isotropic_elasticity(E, NU, dim=3), rtol=1e-12, atol=1e-7)
    np.testing.assert_allclose(
        tangent, _central_difference_tangent(stress, elastic_point, 1e-8), rtol=1e-6, atol=1e-3
    )
    # plastic point
    tangent = np.asarray(jax.jacfwd(stress)(jnp.asarray(_PLASTIC_STRAIN)))
    fd = _central_difference_tangent(stress, _PLASTIC_STRAIN, 1e-8)
    np.testing.assert_allclose(tangent, fd, rtol=1e-6, atol=1e-3)
    np.testing.assert_allclose(
        tangent, _simo_hughes_tangent(_PLASTIC_STRAIN, state_n, h_iso, h_kin), rtol=1e-11, atol=1e-6
    )
    assert not np.allclose(tangent, isotropic_elasticity(E, NU, dim=3), rtol=1e-3)
    np.testing.assert_allclose(tangent, tangent.T, rtol=1e-12, atol=1e-6)  # associative flow
    check_grad(stress, jnp.asarray(_PLASTIC_STRAIN), eps=1e-8, rtol=1e-6)


# --- parameter gradients ------------------------------------------------------------------------

_NAMES = (
    "youngs_modulus",
    "poissons_ratio",
    "yield_stress",
    "isotropic_hardening",
    "kinematic_hardening",
)
_BASE = np.array([E, NU, SIGMA_Y, 5e3, 8e3])
_DIRECTION = np.array([1.0, -0.4, -0.3, 0.25, 0.35, 0.6])
# load to 2.4 ε_y, 4 ε_y, unload part way, reverse to yield, then reload
_PATH = np.outer([1.2, 2.0, 1.1, -0.7, -1.6, 0.3], 2 * EPS_Y * _DIRECTION)


@jax.jit
def _final_stress(scale, path):
    params = {
        name: jnp.asarray(b) * (1 + s) for name, b, s in zip(_NAMES, _BASE, scale, strict=True)
    }

    def step(state, strain):
        stress, state = j2_plasticity(strain, state, params)
        return state, stress

    _, stresses = jax.lax.scan(step, j2_initial_state(dtype=path.dtype), path)
    return stresses[-1] / SIGMA_Y


def test_parameter_gradients_match_finite_differences(x64):
    path = jnp.asarray(_PATH)
    zero = jnp.zeros(len(_NAMES))
    # the path is plastic in several steps (so the hardening moduli matter)
    alphas = []
    state = j2_initial_state(dtype=jnp.float64)
    law = jax.jit(j2_plasticity)
    for strain in path:
        state = law(strain, state, dict(zip(_NAMES, jnp.asarray(_BASE), strict=True)))[1]
        alphas.append(float(state["equivalent_plastic_strain"]))
    assert len(set(alphas)) >= 3
    check_grad(_final_stress, zero, path, eps=1e-6, rtol=1e-6, num_directions=4)
    # each parameter on its own, by central differences of relative step 1e-6
    jacobian = np.asarray(jax.jacfwd(_final_stress)(zero, path))
    for i, name in enumerate(_NAMES):
        dx = np.zeros(len(_NAMES))
        dx[i] = 1e-6
        fd = (
            np.asarray(_final_stress(jnp.asarray(dx), path))
            - np.asarray(_final_stress(jnp.asarray(-dx), path))
        ) / 2e-6
        np.testing.assert_allclose(jacobian[:, i], fd, rtol=1e-6, atol=1e-8, err_msg=name)
    assert np.all(np.abs(jacobian[:, 2:]) > 0)  # yield stress and hardening moduli matter


# --- transforms and dtypes ----------------------------------------------------------------------


def test_vmap_and_jit_agree_with_a_loop(x64):
    params = _params(3e3, 2e3)
    key_strain, key_state = jax.random.split(jax.random.key(0))
    # three points well inside the elastic range (virgin), four loaded beyond yield
    scale = EPS_Y * jnp.array([0.05, 0.1, 0.2, 2.0, 4.0, 6.0, 8.0])[:, None]
    strains = scale * jax.random.normal(key_strain, (7, 6), dtype=jnp.float64)
    plastic = 1e-3 * jax.random.normal(key_state, (7, 6), dtype=jnp.float64)
    plastic = plastic.at[:, 2].set(-plastic[:, 0] - plastic[:, 1]).at[:3].set(0.0)
    states = {**j2_initial_state((7,), dtype=jnp.float64), "plastic_strain": plastic}
    batched = jax.jit(jax.vmap(j2_plasticity, in_axes=(0, 0, None)))
    stresses, new_states = batched(strains, states, params)
    assert stresses.shape == (7, 6)
    assert jax.tree_util.tree_structure(new_states) == jax.tree_util.tree_structure(states)
    yielded = np.asarray(new_states["equivalent_plastic_strain"]) > 0
    assert not np.any(yielded[:3]) and np.all(yielded[3:])
    single = jax.jit(j2_plasticity)
    for i in range(7):
        state_i = jax.tree_util.tree_map(lambda x, i=i: x[i], states)
        stress_i, new_i = single(strains[i], state_i, params)
        np.testing.assert_allclose(stresses[i], stress_i, rtol=1e-13, atol=1e-10)
        for name in new_i:
            np.testing.assert_allclose(new_states[name][i], new_i[name], rtol=1e-13, atol=1e-16)

    # the FE layer's use: per-point tangents (elastic ones equal C), per-point parameters
    @jax.jit
    def tangents_and_field(strains, states, yield_field):
        tangents = jax.vmap(lambda e, s: jax.jacfwd(lambda x: j2_plasticity(x, s, params)[0])(e))(
            strains, states
        )
        field = jax.vmap(lambda e, s, y: j2_plasticity(e, s, {**params, "yield_stress": y})[0])(
            strains, states, yield_field
        )
        return tangents, field

    yield_field = jnp.linspace(200.0, 300.0, 7)
    tangents, per_point = tangents_and_field(strains, states, yield_field)
    assert tangents.shape == (7, 6, 6) and np.all(np.isfinite(tangents))
    stiffness = np.asarray(isotropic_elasticity(E, NU, dim=3))
    np.testing.assert_allclose(tangents[:3], np.broadcast_to(stiffness, (3, 6, 6)), rtol=1e-12)
    assert not np.allclose(tangents[3:], np.broadcast_to(stiffness, (4, 6, 6)), rtol=1e-3)
    for i in (0, 5):
        state_i = jax.tree_util.tree_map(lambda x, i=i: x[i], states)
        params_i = {**params, "yield_stress": yield_field[i]}
        np.testing.assert_allclose(
            per_point[i], single(strains[i], state_i, params_i)[0], rtol=1e-13, atol=1e-10
        )


def test_no_recompile_for_new_parameter_values(x64):
    traces = []

    @jax.jit
    def law(strain, state, params):
        traces.append(None)
        return j2_plasticity(strain, state, params)

    state = j2_initial_state(dtype=jnp.float64)
    strain = jnp.asarray(_PLASTIC_STRAIN)
    first, _ = law(strain, state, _params(1e3, 2e3))
    second, _ = law(strain, state, _params(5e3, 0.0, yield_stress=300.0))
    assert len(traces) == 1
    assert not np.allclose(first, second)


def test_float32_follows_the_strain_dtype():
    params = {k: float(v) for k, v in zip(_NAMES, _BASE, strict=True)}
    strain = jnp.asarray(_PLASTIC_STRAIN, dtype=jnp.float32)
    state = j2_initial_state(dtype=jnp.float32)
    stress, new_state = j2_plasticity(strain, state, params)
    assert stress.dtype == jnp.float32
    assert all(v.dtype == jnp.float32 for v in new_state.values())
    tangent = jax.jit(jax.jacfwd(lambda e: j2_plasticity(e, state, params)[0]))(
        jnp.zeros(6, jnp.float32)
    )
    assert tangent.dtype == jnp.float32 and np.all(np.isfinite(tangent))
    assert linear_elastic(strain, (), params)[0].dtype == jnp.float32


def test_j2_rejects_bad_input():
    state = j2_initial_state()
    strain = jnp.zeros(6)
    with pytest.raises(ValueError, match="yield_stress"):
        j2_plasticity(strain, state, _params(yield_stress=-1.0))
    with pytest.raises(ValueError, match="isotropic_hardening"):
        j2_plasticity(strain, state, _params(h_iso=-5.0))
    with pytest.raises(ValueError, match="kinematic_hardening"):
        params = _params()
        del params["kinematic_hardening"]
        j2_plasticity(strain, state, params)
    with pytest.raises(ValueError, match="yield_stress"):
        j2_plasticity(strain, state, _params(yield_stress=jnp.ones(3)))
    with pytest.raises(ValueError, match="strain"):
        j2_plasticity(jnp.zeros((2, 6)), state, _params())
    with pytest.raises(ValueError, match="plastic_strain"):
        j2_plasticity(strain, {**state, "plastic_strain": jnp.zeros(3)}, _params())
    with pytest.raises(ValueError, match="state"):
        j2_plasticity(strain, (), _params())
    with pytest.raises(ValueError, match="batch_shape"):
        j2_initial_state((-1,))
    # checks on values are skipped on tracers: the law still traces under jit
    jax.jit(j2_plasticity)(strain, state, _params())


# --- learned laws -----------------------------------------------------------------------------


class _ToyLaw(eqx.Module):
    """A learned-law stand-in: linear elasticity with a trainable modulus and a counter state."""

    log_modulus: jax.Array

    def __call__(self, strain, state, params):
        stress = jnp.exp(self.log_modulus) * strain * params["scale"]
        return stress, state + 1


def test_learned_law_forwards_and_flags_out_of_range(x64):
    model = _ToyLaw(jnp.asarray(np.log(10.0)))
    lower = -jnp.arange(1.0, 7.0) * 1e-3
    upper = jnp.arange(1.0, 7.0) * 1e-3
    law = LearnedLaw(model, lower, upper)
    strain = jnp.asarray([5e-4, -1e-3, 0.0, 2e-3, 4e-3, -6e-3])
    stress, state = law(strain, jnp.asarray(0), {"scale": jnp.asarray(2.0)})
    expected_stress, expected_state = model(strain, jnp.asarray(0), {"scale": jnp.asarray(2.0)})
    np.testing.assert_array_equal(stress, expected_stress)
    assert int(state) == int(expected_state) == 1

    assert not bool(law.out_of_range(strain))  # inside, including on the boundary
    assert bool(law.out_of_range(strain.at[0].set(1.5e-3)))
    assert bool(law.out_of_range(strain.at[5].set(-6.1e-3)))
    width = 12e-3
    assert not bool(law.out_of_range(strain.at[5].set(-6e-3 - 0.5e-6 * width)))  # tolerance
    batch = jnp.stack([strain, strain.at[2].set(1.0), -strain])
    np.testing.assert_array_equal(law.out_of_range(batch), [False, True, False])
    assert law.out_of_range(batch).shape == (3,)

    # a module: jit, vmap and gradients with respect to the model's parameters
    batched = eqx.filter_jit(eqx.filter_vmap(law, in_axes=(0, None, None)))
    stresses, _ = batched(batch, jnp.asarray(0), {"scale": jnp.asarray(1.0)})
    assert stresses.shape == (3, 6)
    grads = eqx.filter_grad(lambda m: jnp.sum(m(strain, 0, {"scale": jnp.asarray(1.0)})[0]))(law)
    np.testing.assert_allclose(grads.model.log_modulus, 10.0 * float(jnp.sum(strain)), rtol=1e-12)


def test_learned_law_from_training_strains(x64):
    strains = jax.random.uniform(
        jax.random.key(1), (50, 6), minval=-2e-3, maxval=3e-3, dtype=jnp.float64
    )
    strains = strains.at[:, 2].set(0.0)  # plane strain: ε_zz held at zero
    law = LearnedLaw.from_training_strains(linear_elastic, strains)
    np.testing.assert_array_equal(law.strain_lower, np.min(strains, axis=0))
    np.testing.assert_array_equal(law.strain_upper, np.max(strains, axis=0))
    assert not np.any(np.asarray(law.out_of_range(strains)))
    assert not bool(law.out_of_range(strains[0].at[2].set(1e-12)))  # round-off in ε_zz
    assert bool(law.out_of_range(strains[0].at[2].set(1e-6)))

    wide = LearnedLaw.from_training_strains(linear_elastic, strains, margin=0.1)
    span = np.max(strains, axis=0) - np.min(strains, axis=0)
    np.testing.assert_allclose(wide.strain_lower, np.min(strains, axis=0) - 0.1 * span)
    np.testing.assert_allclose(wide.strain_upper, np.max(strains, axis=0) + 0.1 * span)
    outside = law.strain_upper + 0.05 * span
    assert bool(law.out_of_range(outside)) and not bool(wide.out_of_range(outside))


def test_learned_law_rejects_bad_input():
    lower, upper = -jnp.ones(6), jnp.ones(6)
    with pytest.raises(ValueError, match="strain_lower"):
        LearnedLaw(linear_elastic, -jnp.ones(5), upper)
    with pytest.raises(ValueError, match="strain_upper"):
        LearnedLaw(linear_elastic, lower, jnp.ones((6, 1)))
    with pytest.raises(ValueError, match="strain_lower must not exceed strain_upper"):
        LearnedLaw(linear_elastic, upper, lower)
    with pytest.raises(TypeError, match="model"):
        LearnedLaw("not a law", lower, upper)
    with pytest.raises(ValueError, match="rtol"):
        LearnedLaw(linear_elastic, lower, upper, rtol=-1.0)
    with pytest.raises(ValueError, match="strains"):
        LearnedLaw.from_training_strains(linear_elastic, jnp.zeros((4, 5)))
    with pytest.raises(ValueError, match="strains"):
        LearnedLaw.from_training_strains(linear_elastic, jnp.zeros((0, 6)))
    with pytest.raises(ValueError, match="margin"):
        LearnedLaw.from_training_strains(linear_elastic, jnp.zeros((4, 6)), margin=-0.1)
    with pytest.raises(ValueError, match="strain"):
        LearnedLaw(linear_elastic, lower, upper).out_of_range(jnp.zeros(5))
