"""Closed-form checks of the linear and cosine noise schedules."""
import math

import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion import Schedule, make_schedule


@pytest.fixture(scope="module", params=["linear", "cosine"])
def schedule(request) -> Schedule:
    return make_schedule(request.param, 1000)


def test_fields_are_float32_of_length_T(schedule):
    assert schedule.num_steps == 1000
    for name, value in vars(schedule).items():
        assert value.shape == (1000,), name
        assert value.dtype == jnp.float32, name


def test_linear_betas_endpoints_and_spacing():
    s = make_schedule("linear", 1000, beta_start=1e-4, beta_end=0.02)
    betas = np.asarray(s.betas, np.float64)
    np.testing.assert_allclose(betas[[0, -1]], [1e-4, 0.02], rtol=1e-6)
    np.testing.assert_allclose(np.diff(betas), (0.02 - 1e-4) / 999, rtol=1e-3)


def test_alpha_bar_is_cumprod_of_alphas(schedule):
    np.testing.assert_allclose(schedule.alphas, 1.0 - np.asarray(schedule.betas), atol=1e-7)
    np.testing.assert_allclose(schedule.alpha_bar, np.cumprod(np.float64(schedule.alphas)),
                               rtol=1e-5)
    np.testing.assert_allclose(schedule.alpha_bar_prev[1:], schedule.alpha_bar[:-1])
    assert float(schedule.alpha_bar_prev[0]) == 1.0
    a, s = schedule.sqrt_alpha_bar, schedule.sqrt_one_minus_alpha_bar
    np.testing.assert_allclose(a ** 2 + s ** 2, 1.0, rtol=1e-6)


def test_alpha_bar_decreases_from_near_one_to_near_zero(schedule):
    alpha_bar = np.asarray(schedule.alpha_bar)
    assert np.all(np.diff(alpha_bar) < 0)
    assert alpha_bar[0] > 0.999 and alpha_bar[-1] < 1e-4


@pytest.mark.parametrize("t", [0, 10, 250, 500, 900])
def test_cosine_alpha_bar_closed_form(t):
    """Index t is the paper's step t+1: alpha_bar[t] = f(t+1) / f(0) (Nichol & Dhariwal eq. 17)."""
    T, s = 1000, 0.008
    f = lambda u: math.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    np.testing.assert_allclose(make_schedule("cosine", T).alpha_bar[t], f(t + 1) / f(0), rtol=1e-5)


def test_cosine_betas_clipped():
    betas = np.asarray(make_schedule("cosine", 1000).betas)
    assert betas.max() == pytest.approx(0.999, rel=1e-6) and betas.min() > 0


def test_posterior_variance_and_mean_coefficients_by_hand():
    s = make_schedule("linear", 100)
    t = 37
    beta, ab, ab_prev = float(s.betas[t]), float(s.alpha_bar[t]), float(s.alpha_bar[t - 1])
    expected_var = beta * (1 - ab_prev) / (1 - ab)                  # Ho et al. 2020 eq. 7
    assert float(s.posterior_variance[t]) == pytest.approx(expected_var, rel=1e-5)
    assert float(s.posterior_mean_coef1[t]) == pytest.approx(beta * math.sqrt(ab_prev) / (1 - ab),
                                                             rel=1e-5)
    assert float(s.posterior_mean_coef2[t]) == pytest.approx(
        (1 - ab_prev) * math.sqrt(1 - beta) / (1 - ab), rel=1e-5)
    assert float(s.posterior_variance[0]) == 0.0
    assert float(s.posterior_log_variance_clipped[0]) == pytest.approx(
        math.log(float(s.posterior_variance[1])), rel=1e-5)


def test_unknown_kind_names_value_and_choices():
    with pytest.raises(ValueError, match=r"'quadratic'.*linear.*cosine"):
        make_schedule("quadratic")
