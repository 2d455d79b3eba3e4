"""The sampler registry: options, NFE, errors, x_T, the continuous schedule, churn, and the
convergence order of the ODE solvers against the exact PF-ODE map of Gaussian data."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion import SAMPLERS, make_schedule, nfe, sample, sample_loop, sampler_options
from jaxgen.diffusion.samplers import at_t, make_grid, sigma_at, t_of_sigma

SHAPE = (2, 4, 4, 1)
SCHEDULE = make_schedule("linear", 1000)
MU, S = 0.3, 0.5


def toy_eps(x_t, t):
    return 0.5 * jnp.tanh(x_t) * jnp.cos(t.astype(jnp.float32) / 100.0)[:, None, None, None]


def gauss_eps_of(schedule):
    """The exact eps of per-pixel x0 ~ N(MU, S^2): x_t ~ N(alpha MU, alpha^2 S^2 + sigma^2)."""
    def eps(x_t, t):
        vp = at_t(schedule, t)
        alpha, sigma = vp.alpha[:, None, None, None], vp.sigma[:, None, None, None]
        return sigma * (x_t - alpha * MU) / (alpha**2 * S**2 + sigma**2)
    return eps


gauss_eps = gauss_eps_of(SCHEDULE)


def test_registry_lists_samplers_options_and_nfe():
    assert SAMPLERS == ("ddpm", "ddim", "euler", "heun", "dpmpp_2m", "dpmpp_2m_sde", "unipc")
    assert sampler_options("ddim") == {"eta": 0.0}
    assert set(sampler_options("heun")) == {"s_churn", "s_tmin", "s_tmax", "s_noise"}
    assert sampler_options("dpmpp_2m") == {}
    assert sampler_options("unipc") == {"order": 2, "solver_type": "bh2",
                                        "lower_order_final": True}
    assert [nfe(s, 10) for s in SAMPLERS] == [10, 10, 10, 19, 10, 10, 10]


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_nfe_counts_denoiser_calls(sampler):
    calls = []

    def counting_eps(x_t, t):
        calls.append(1)
        return toy_eps(x_t, t)
    with jax.disable_jit():   # the scan runs in Python; lax.cond runs one branch
        sample(counting_eps, SCHEDULE, SHAPE, rng=jax.random.key(0), sampler=sampler, steps=3)
    assert len(calls) == nfe(sampler, 3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(spacing="cosine"), r"spacing='cosine'.*uniform.*karras"),
    (dict(sampler="euler", s_churn=1.0, foo=2), r"'euler' takes no option 'foo'.*s_churn"),
    (dict(sampler="dpmpp_2m", eta=0.5), r"eta=0.5 applies to sampler \['ddim'\]"),
    (dict(spacing="karras", steps=0), r"steps=0 must be in \[1, 1000\]"),
    (dict(sampler="unipc", solver="bh2"), r"'unipc' takes no option 'solver'.*'order'"),
    (dict(sampler="unipc", order=4), r"order=4 is not supported; choose one of \[1, 2, 3\]"),
    (dict(sampler="unipc", order=3, steps=2), r"order=3 needs steps >= 3, got steps=2"),
    (dict(sampler="unipc", solver_type="bh3"), r"solver_type='bh3'.*\['bh2', 'bh1'\]"),
    (dict(sampler="unipc", lower_order_final="no"), r"lower_order_final='no' must be True"),
])
def test_bad_arguments_raise_one_line(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample(toy_eps, SCHEDULE, SHAPE, rng=jax.random.key(0), **kwargs)


def test_x_T_is_the_start():
    rng, x_T = jax.random.key(4), jax.random.normal(jax.random.key(5), SHAPE)
    run = functools.partial(sample, toy_eps, SCHEDULE, SHAPE, steps=5)
    got = run(rng=rng, x_T=x_T)
    want = sample_loop(toy_eps, SCHEDULE, x_T, make_grid(SCHEDULE, 5), rng=rng)
    np.testing.assert_array_equal(got, want)
    drawn = jax.random.normal(jax.random.split(rng)[0], SHAPE)
    np.testing.assert_array_equal(run(rng=rng), run(rng=rng, x_T=drawn))


def test_continuous_schedule():
    t = jnp.array([0.0, 3.25, 499.5, 998.75, 999.0])
    np.testing.assert_allclose(t_of_sigma(SCHEDULE, sigma_at(SCHEDULE, t)), t, atol=2e-3)
    ts = jnp.array([0, 500, 999])
    vp = at_t(SCHEDULE, ts)
    np.testing.assert_allclose(vp.alpha, SCHEDULE.sqrt_alpha_bar[ts], rtol=1e-5)
    np.testing.assert_allclose(vp.sigma, SCHEDULE.sqrt_one_minus_alpha_bar[ts], rtol=1e-5)
    np.testing.assert_allclose(vp.lam, -jnp.log(vp.sigma_vp), rtol=1e-5)
    grid = make_grid(SCHEDULE, 10, "karras")
    assert grid.t.dtype == jnp.float32 and grid.sigma_vp[-1] == 0 and grid.alpha[-1] == 1


def test_churn_gated_off_is_plain_heun():
    run = functools.partial(sample, gauss_eps, SCHEDULE, SHAPE, sampler="heun", steps=6,
                            clip_x0=False)
    plain = run(rng=jax.random.key(0))
    gated = run(rng=jax.random.key(0), s_churn=40.0, s_tmax=1e-3)   # no sigma_i <= 1e-3
    np.testing.assert_allclose(gated, plain, atol=1e-5)
    churned = run(rng=jax.random.key(0), s_churn=40.0)
    assert np.all(np.isfinite(churned)) and np.abs(churned - plain).max() > 1e-3


@functools.cache
def gauss_runner(sampler, schedule_name="linear", options=()):
    schedule = make_schedule(schedule_name, 1000)
    return jax.jit(lambda grid, x_T: sample_loop(gauss_eps_of(schedule), schedule, x_T, grid,
                                                 rng=jax.random.key(0), sampler=sampler,
                                                 clip_x0=False, **dict(options)))


def gauss_errors(sampler, steps, spacing, schedule_name="linear", options=()):
    """RMS errors vs the exact PF-ODE end point of per-pixel N(MU, S^2) data, one per steps."""
    schedule = make_schedule(schedule_name, 1000)
    x_T = jax.random.normal(jax.random.key(0), (4, 8, 8, 1))
    alpha_T, sigma_T = schedule.sqrt_alpha_bar[-1], schedule.sqrt_one_minus_alpha_bar[-1]
    # The PF-ODE keeps every marginal Gaussian, N(alpha MU, alpha^2 S^2 + sigma^2), and its flow
    # is monotone per pixel, so it maps standardized values to standardized values:
    exact = MU + S * (x_T - alpha_T * MU) / jnp.sqrt(alpha_T**2 * S**2 + sigma_T**2)
    run = gauss_runner(sampler, schedule_name, options)
    return [float(jnp.sqrt(jnp.mean((run(make_grid(schedule, n, spacing), x_T) - exact) ** 2)))
            for n in steps]


# RMS error vs the exact PF-ODE end point at 10 / 20 trailing steps (linear schedule): DDIM =
# Euler 0.124 / 0.065 (order 0.92), Heun 0.062 / 0.019 (1.71), DPM-Solver++(2M) 0.091 / 0.021
# (2.13), UniPC-2 0.086 / 0.0193 (2.16), UniPC-3 0.085 / 0.0184 (2.21: the first-order last
# step to sigma = 0 bounds every multistep solver here). Bounds: the order estimate
# log2(e_N / e_2N) > 0.8 (first order), > 1.6 (second), and the error at 20 steps within 25%
# of those numbers.
@pytest.mark.parametrize("sampler, options, order, err20", [
    ("ddim", (), 0.8, 0.065), ("euler", (), 0.8, 0.065), ("heun", (), 1.6, 0.019),
    ("dpmpp_2m", (), 1.6, 0.021), ("unipc", (), 1.6, 0.0193),
    ("unipc", (("order", 3),), 1.6, 0.0184)])
def test_convergence_order_on_gaussian_data(sampler, options, order, err20):
    errs = gauss_errors(sampler, (10, 20), "trailing", options=options)
    assert np.log2(errs[0] / errs[1]) > order, errs
    assert errs[1] < 1.25 * err20, errs


def test_heun_few_steps_on_a_cosine_schedule():
    """The cosine schedule's sigma_vp(T-1) is 2e4: Karras sigmas over that whole range give
    5 steps at 2e4, 3.5e3, 346, 10, 0.006, and Heun's trapezoid scales an error in D at
    sigma_{i+1} by (sigma_i - sigma_{i+1}) / (2 sigma_{i+1}) (up to 800 here). Measured RMS
    error at 5 steps (9 NFE): karras 4.63, edm (sigma_max 80) 0.70; at 10 steps 0.99 / 0.092."""
    cosine = make_schedule("cosine", 1000)
    grid = make_grid(cosine, 5, "edm")
    np.testing.assert_allclose(grid.sigma_vp[0], 80.0, rtol=1e-6)
    np.testing.assert_allclose(grid.sigma_vp[-2], make_grid(cosine, 5, "karras").sigma_vp[-2],
                               rtol=1e-5)                           # sigma_vp(0) = 0.0064
    edm5, edm10 = gauss_errors("heun", (5, 10), "edm", "cosine")
    karras5, = gauss_errors("heun", (5,), "karras", "cosine")
    assert edm5 < 0.9 and edm10 < 0.12 and karras5 > 4 * edm5, (edm5, edm10, karras5)
