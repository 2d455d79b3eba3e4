"""DDPM / DDIM samplers: determinism, oracle denoisers, Algorithm 2, errors, single trace."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion import (ddim_step, ddpm_step, make_schedule, q_sample, sample, sample_loop,
                              timesteps)

SHAPE = (2, 8, 8, 1)


def toy_eps(x_t, t):
    """A fixed, nonlinear stand-in for a trained eps-model."""
    return 0.5 * jnp.tanh(x_t) * jnp.cos(t.astype(jnp.float32) / 100.0)[:, None, None, None]


def oracle_eps(schedule, x_star):
    """The exact eps for data concentrated on one point x*: (x_t - sqrt(ab) x*) / sqrt(1 - ab)."""
    def eps_fn(x_t, t):
        a = schedule.sqrt_alpha_bar[t][:, None, None, None]
        s = schedule.sqrt_one_minus_alpha_bar[t][:, None, None, None]
        return (x_t - a * x_star) / s
    return eps_fn


@pytest.fixture(scope="module")
def x_star():
    return jax.random.uniform(jax.random.key(42), SHAPE, minval=-0.9, maxval=0.9)


def test_timesteps_endpoints_and_length():
    ts = timesteps(1000, 50)
    assert ts.dtype == np.int32 and ts.shape == (50,)
    assert ts[0] == 999 and ts[-1] == 0 and np.all(np.diff(ts) < 0)
    np.testing.assert_array_equal(timesteps(10, 10), np.arange(9, -1, -1))
    np.testing.assert_array_equal(timesteps(1000, 1), [999])


@pytest.mark.parametrize("steps", [0, 1001])
def test_bad_steps_raise(steps):
    with pytest.raises(ValueError, match=f"steps={steps}"):
        sample(toy_eps, make_schedule("linear", 1000), SHAPE, rng=jax.random.key(0), steps=steps)


def test_bad_sampler_lists_choices():
    with pytest.raises(ValueError, match=r"'plms'.*ddpm.*ddim"):
        sample(toy_eps, make_schedule("linear", 100), SHAPE, rng=jax.random.key(0), sampler="plms")


def test_ddim_eta0_is_deterministic_given_x_T():
    schedule = make_schedule("linear", 1000)
    run = functools.partial(sample, toy_eps, schedule, SHAPE, steps=20, eta=0.0)
    a, b = run(rng=jax.random.key(0)), run(rng=jax.random.key(0))
    assert a.shape == SHAPE and a.dtype == jnp.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, run(rng=jax.random.key(1)))        # a different x_T
    x_T, ts = jax.random.normal(jax.random.key(3), SHAPE), timesteps(1000, 20)
    c = sample_loop(toy_eps, schedule, x_T, ts, rng=jax.random.key(5), eta=0.0)
    d = sample_loop(toy_eps, schedule, x_T, ts, rng=jax.random.key(6), eta=0.0)
    np.testing.assert_array_equal(c, d)                          # no noise beyond x_T


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("clip_x0", [True, False])
def test_ddim_with_oracle_returns_the_point(x_star, kind, clip_x0):
    schedule = make_schedule(kind, 1000)
    out = sample(oracle_eps(schedule, x_star), schedule, SHAPE, rng=jax.random.key(0),
                 sampler="ddim", steps=25, clip_x0=clip_x0)
    np.testing.assert_allclose(out, x_star, atol=1e-4)


@pytest.mark.parametrize("steps", [100, 10])
def test_ddpm_with_oracle_returns_the_point(x_star, steps):
    schedule = make_schedule("linear", 100)
    out = sample(oracle_eps(schedule, x_star), schedule, SHAPE, rng=jax.random.key(0),
                 sampler="ddpm", steps=steps)
    np.testing.assert_allclose(out, x_star, atol=1e-4)


def test_v_prediction_oracle(x_star):
    schedule = make_schedule("cosine", 1000)
    eps_fn = oracle_eps(schedule, x_star)

    def v_fn(x_t, t):  # v = sqrt(ab) eps - sqrt(1 - ab) x*
        a = schedule.sqrt_alpha_bar[t][:, None, None, None]
        s = schedule.sqrt_one_minus_alpha_bar[t][:, None, None, None]
        return a * eps_fn(x_t, t) - s * x_star
    out = sample(v_fn, schedule, SHAPE, rng=jax.random.key(0), steps=10, prediction="v")
    np.testing.assert_allclose(out, x_star, atol=1e-4)


def test_ddpm_step_equals_ddim_step_with_eta_1(x_star):
    schedule = make_schedule("linear", 1000)
    noise, z = jax.random.normal(jax.random.key(1), (2,) + SHAPE)
    t, t_prev = 600, 550
    x_t = q_sample(schedule, x_star, jnp.full((2,), t), noise)
    ab_t, ab_prev = schedule.alpha_bar[t], schedule.alpha_bar[t_prev]
    np.testing.assert_allclose(ddpm_step(x_t, x_star, ab_t, ab_prev, noise=z),
                               ddim_step(x_star, noise, ab_t, ab_prev, eta=1.0, noise=z),
                               atol=1e-5)


def test_ddpm_sampler_matches_ddim_eta_1():
    schedule = make_schedule("cosine", 1000)
    run = functools.partial(sample, toy_eps, schedule, SHAPE, rng=jax.random.key(2), steps=20)
    np.testing.assert_allclose(run(sampler="ddpm"), run(sampler="ddim", eta=1.0), atol=1e-4)


def test_ddpm_with_all_steps_is_algorithm_2():
    """Ho et al. 2020 Algorithm 2 with sigma_t^2 = beta_tilde_t, written out in float64."""
    T = 20
    schedule = make_schedule("linear", T, beta_start=1e-3, beta_end=0.2)
    x_T, rng = jax.random.normal(jax.random.key(7), SHAPE), jax.random.key(8)
    got = sample_loop(toy_eps, schedule, x_T, timesteps(T, T), rng=rng, sampler="ddpm",
                      clip_x0=False)
    betas, ab = (np.asarray(v, np.float64) for v in (schedule.betas, schedule.alpha_bar))
    x = np.asarray(x_T, np.float64)
    for i, t in enumerate(range(T - 1, -1, -1)):
        eps = np.asarray(toy_eps(jnp.asarray(x, jnp.float32), jnp.full((2,), t)), np.float64)
        mean = (x - betas[t] / np.sqrt(1 - ab[t]) * eps) / np.sqrt(1 - betas[t])
        var = betas[t] * (1 - ab[t - 1]) / (1 - ab[t]) if t > 0 else 0.0
        z = np.asarray(jax.random.normal(jax.random.fold_in(rng, i), SHAPE), np.float64)
        x = mean + np.sqrt(var) * z
    np.testing.assert_allclose(got, x, atol=2e-4)


def test_sampler_jits_and_traces_the_denoiser_once():
    schedule, calls = make_schedule("linear", 1000), []

    def counting_eps(x_t, t):
        calls.append(1)
        return toy_eps(x_t, t)
    run = jax.jit(lambda rng: sample(counting_eps, schedule, SHAPE, rng=rng, steps=30))
    a = run(jax.random.key(0))
    b = run(jax.random.key(1))
    assert len(calls) == 1 and a.shape == SHAPE and not np.allclose(a, b)
    eager = sample(toy_eps, schedule, SHAPE, rng=jax.random.key(0), steps=30)
    np.testing.assert_allclose(a, eager, atol=1e-5)
