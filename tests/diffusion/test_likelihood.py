"""The negative ELBO in bits/dim: decoder normalisation, KL closed forms, the oracle
denoiser, and the stratified estimate's unbiasedness."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion import make_schedule, q_sample
from jaxgen.diffusion.likelihood import (discretized_gaussian_log_likelihood, log_ndtr_diff,
                                         nll_bound, normal_kl, strata, vlb_term)

GRID = jnp.arange(256, dtype=jnp.float32) / 127.5 - 1.0  # the 8-bit values in [-1, 1]


def _phi(z):
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


@pytest.mark.parametrize("mean", [-1.3, -0.41, 0.0, 0.73, 1.05])
@pytest.mark.parametrize("log_scale", [-7.0, -4.0, -1.0, 0.5])
def test_decoder_bins_sum_to_one(mean, log_scale):
    logp = jax.jit(discretized_gaussian_log_likelihood)(GRID, jnp.float32(mean),
                                                        jnp.float32(log_scale))
    assert np.isfinite(logp).all()
    np.testing.assert_allclose(float(jnp.exp(logp).sum()), 1.0, atol=2e-5)


def test_decoder_matches_cdf_difference():
    mean, scale = 0.1, 0.02
    for k in (0, 100, 140, 255):
        x = k / 127.5 - 1.0
        lo = -math.inf if k == 0 else (x - mean - 1 / 255) / scale
        hi = math.inf if k == 255 else (x - mean + 1 / 255) / scale
        expected = _phi(hi) - _phi(lo)
        got = discretized_gaussian_log_likelihood(jnp.float32(x), mean, math.log(scale))
        np.testing.assert_allclose(float(jnp.exp(got)), expected, rtol=1e-4, atol=1e-30)


def test_log_ndtr_diff_is_accurate_in_both_tails():
    left = float(log_ndtr_diff(jnp.float32(-30.0), jnp.float32(-30.1)))
    right = float(log_ndtr_diff(jnp.float32(30.1), jnp.float32(30.0)))
    assert np.isfinite(left) and left == pytest.approx(right, rel=1e-5)
    # Phi(-30) ~ 4.9e-198: the bin holds ~ 0.95 of it (density ratio over the bin)
    assert -460 < left < -450


def test_normal_kl_closed_forms():
    assert float(normal_kl(0.0, 0.0, 0.0, 0.0)) == 0.0
    assert float(normal_kl(1.0, 0.0, 0.0, 0.0)) == pytest.approx(0.5)
    assert float(normal_kl(0.0, 2.0, 0.0, 0.0)) == pytest.approx(0.5 * (-2 + math.e**2 - 1), rel=1e-6)


def test_strata_cover_every_step_once():
    first, size = strata(20, None)
    np.testing.assert_array_equal(first, np.arange(1, 20))
    assert (size == 1).all()
    for T, k in [(20, 3), (1000, 50), (1000, 5), (100, 98), (2, 1)]:
        first, size = strata(T, k)
        assert len(first) == k and (size >= 1).all()
        covered = np.concatenate([np.arange(f, f + s) for f, s in zip(first, size)])
        np.testing.assert_array_equal(covered, np.arange(1, T))
    _, size = strata(1000, 50)
    assert (size[:3] == 1).all() and size[-1] > 50  # fine where the terms are large
    for bad in (0, 20):
        with pytest.raises(ValueError, match="num_timesteps"):
            strata(20, bad)


def _bound(denoise_fn, schedule, x0, *, rng, num_timesteps=None):
    """nll_bound, jitted (eager, its scan and ops compile one by one)."""
    fn = lambda x, r: nll_bound(denoise_fn, schedule, x, rng=r, num_timesteps=num_timesteps)  # noqa: E731
    return jax.jit(fn)(x0, rng)


def _image(seed=0, shape=(1, 6, 6, 1)):
    pixels = np.random.default_rng(seed).integers(0, 256, shape)
    pixels[..., 0, 0, :] = 0  # an edge value in every image
    return jnp.asarray(pixels / 127.5 - 1.0, jnp.float32)


def test_oracle_denoiser_pays_only_prior_and_decoder():
    """A denoiser that knows x0 (eps = (x_t - a x0) / s) makes every KL term vanish; the
    decoder then costs exactly its bin mass around x0 at scale sqrt(beta_tilde_1)."""
    schedule, x0 = make_schedule("cosine", 50), _image()
    a, s = schedule.sqrt_alpha_bar, schedule.sqrt_one_minus_alpha_bar
    oracle = lambda x_t, t: (x_t - a[t][:, None, None, None] * x0) / s[t][:, None, None, None]  # noqa: E731
    out = _bound(oracle, schedule, x0, rng=jax.random.PRNGKey(0))
    assert float(out["diffusion_bpd"][0]) < 1e-4
    sigma = math.exp(0.5 * float(schedule.posterior_log_variance_clipped[0]))
    h = (1 / 255) / sigma
    x = np.asarray(x0).ravel()
    mass = np.where(np.abs(x) > 0.999, _phi(h), _phi(h) - _phi(-h))
    np.testing.assert_allclose(float(out["decoder_bpd"][0]), np.mean(-np.log2(mass)), rtol=1e-4)
    total = out["prior_bpd"] + out["diffusion_bpd"] + out["decoder_bpd"]
    np.testing.assert_allclose(out["bits_per_dim"], total, rtol=1e-6)


def test_kl_term_is_the_scaled_error_of_x0_hat():
    """With equal variances the KL is c1^2 |x0 - x0_hat|^2 / (2 beta_tilde_t)."""
    schedule, x0 = make_schedule("linear", 40), _image(1)
    t, noise = jnp.array([7]), jax.random.normal(jax.random.PRNGKey(1), x0.shape)
    const = lambda x_t, t_: jnp.full_like(x_t, 0.3)  # noqa: E731
    term = jax.jit(lambda x, t_, n: vlb_term(const, schedule, x, t_, n, clip_x0=False))
    got = float(term(x0, t, noise)[0])
    x_t = q_sample(schedule, x0, t, noise)
    x0_hat = (x_t - schedule.sqrt_one_minus_alpha_bar[7] * 0.3) / schedule.sqrt_alpha_bar[7]
    c1, var = schedule.posterior_mean_coef1[7], schedule.posterior_variance[7]
    expected = float(c1**2 * jnp.sum((x0 - x0_hat) ** 2) / (2 * var))
    assert got == pytest.approx(expected, rel=1e-4)


def test_stratified_estimate_is_unbiased():
    """Averaged over many examples, K strata and the exact sum agree within the noise."""
    schedule = make_schedule("cosine", 30)
    x0 = jnp.repeat(_image(2), 512, axis=0)  # (512, 6, 6, 1)
    blurry = lambda x_t, t: 0.5 * x_t  # noqa: E731  a poor, smooth eps-predictor
    exact = _bound(blurry, schedule, x0, rng=jax.random.PRNGKey(3))["diffusion_bpd"]
    approx = _bound(blurry, schedule, x0, rng=jax.random.PRNGKey(4),
                       num_timesteps=4)["diffusion_bpd"]
    se = math.sqrt((np.var(exact) + np.var(approx)) / len(x0))
    assert abs(float(np.mean(exact) - np.mean(approx))) < 4 * se
    assert np.var(approx) > np.var(exact)  # the price of fewer network calls


def test_better_denoiser_has_lower_bound():
    schedule, x0 = make_schedule("cosine", 30), _image(3)
    a, s = schedule.sqrt_alpha_bar, schedule.sqrt_one_minus_alpha_bar
    oracle = lambda x_t, t: (x_t - a[t][:, None, None, None] * x0) / s[t][:, None, None, None]  # noqa: E731
    zero = lambda x_t, t: jnp.zeros_like(x_t)  # noqa: E731
    rng = jax.random.PRNGKey(5)
    good = float(_bound(oracle, schedule, x0, rng=rng)["bits_per_dim"][0])
    bad = float(_bound(zero, schedule, x0, rng=rng)["bits_per_dim"][0])
    assert 0 < good < bad
