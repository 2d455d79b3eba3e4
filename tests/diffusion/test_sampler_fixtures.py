"""jaxgen's samplers against diffusers' schedulers: golden trajectories written by
benchmarks/sampler_fixtures.py (its docstring says how; torch is not needed here)."""
import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion import sample_loop, schedule_from_betas, timesteps
from jaxgen.diffusion.samplers import make_grid

FIXTURES = np.load(pathlib.Path(__file__).parent / "fixtures" / "samplers.npz")
T, MU, S = 1000, 0.3, 0.5
SCHEDULE = schedule_from_betas(np.linspace(1e-4, 0.02, T))
AB64 = np.cumprod(1.0 - np.linspace(1e-4, 0.02, T))  # float64: 1 - alpha_bar[0] = 1e-4 exact
LOG_SIGMAS = jnp.asarray(np.log(np.sqrt((1.0 - AB64) / AB64)), jnp.float32)
DATA = ("gauss", "mlp")
CASES = sorted(k.split("/", 1)[1] for k in FIXTURES.files
               if k.startswith("gauss/") and not k.endswith("/noise"))
# Tolerance: float32 on both sides, the same schedule (diffusers is handed alpha_bar in
# float64) and the same models; what differs is only the order of float operations (Euler/Heun
# in diffusers carry x in sigma space up to sigma_max = 157, DPM forms exp(-h) - 1 where jaxgen
# uses expm1, Karras t from float32 vs float64 log-sigma tables). Measured: <= 1e-6 on most
# trajectories, 1.6e-5 worst (Heun, Karras, 8 steps, MLP); values are O(1). 5e-5 keeps 3x
# margin while a wrong coefficient, grid point or noise use shows up at >= 1e-3.
ATOL = 5e-5


def vp_at(t):
    """(alpha, sigma) (B, 1, 1, 1) at timesteps t (B,), sigma_vp log-linear between steps."""
    s = jnp.exp(jnp.interp(t.astype(jnp.float32), jnp.arange(T, dtype=jnp.float32), LOG_SIGMAS))
    return (v[:, None, None, None] for v in (1 / jnp.sqrt(1 + s**2), s / jnp.sqrt(1 + s**2)))


def gauss_eps(x, t):
    """The exact eps of per-pixel x0 ~ N(MU, S^2)."""
    alpha, sigma = vp_at(t)
    return sigma * (x - alpha * MU) / (alpha**2 * S**2 + sigma**2)


def mlp_eps(x, t):
    """The fixture's 2-layer tanh MLP on the flattened 4x4 image and a timestep feature,
    x0_net = tanh(MLP), given as eps = (x - alpha x0_net) / sigma."""
    w = {k: jnp.asarray(FIXTURES[k]) for k in ("w1", "wt", "b1", "w2", "b2")}
    t = t.astype(jnp.float32)
    feat = jnp.stack([t / T, jnp.cos(jnp.pi * t / T), jnp.sin(jnp.pi * t / T)], axis=1)  # (B, 3)
    h = jnp.tanh(x.reshape(x.shape[0], 16) @ w["w1"] + feat @ w["wt"] + w["b1"])
    alpha, sigma = vp_at(t)
    return (x - alpha * jnp.tanh(h @ w["w2"] + w["b2"]).reshape(x.shape)) / sigma


def both_eps(x, t):
    """gauss on the first half of the batch, mlp on the second: one compile serves both."""
    half = x.shape[0] // 2
    return jnp.concatenate([gauss_eps(x[:half], t[:half]), mlp_eps(x[half:], t[half:])])


# Case flags that are sampler options (UniPC's; diffusers' solver_order, solver_type,
# lower_order_final).
FLAG_OPTIONS = {"order3": ("order", 3), "bh1": ("solver_type", "bh1"),
                "no_lof": ("lower_order_final", False)}


@functools.cache
def runner(sampler, clip, eta, stochastic, options=()):
    """One jitted sampler per static setting; grids of one length and t dtype share a compile."""
    def run(grid, x_T, noise):
        return sample_loop(both_eps, SCHEDULE, x_T, grid, rng=jax.random.key(0),
                           sampler=sampler, eta=eta, clip_x0=clip,
                           noise=noise if stochastic else None, trajectory=True,
                           **dict(options))[1]
    return jax.jit(run)


def jaxgen_trajectories(case):
    """(gauss, mlp) trajectories (N, 2, 4, 4, 1) of one case, e.g. "ddim/trailing/8/clip"."""
    sampler, spacing, n, *flags = case.split("/")
    x_T = np.concatenate([FIXTURES["x_T"]] * 2)                          # (4, 4, 4, 1)
    noise = None
    if f"gauss/{case}/noise" in FIXTURES.files:
        noise = np.concatenate([FIXTURES[f"{d}/{case}/noise"] for d in DATA], axis=1)
    options = tuple(FLAG_OPTIONS[f] for f in flags if f in FLAG_OPTIONS)
    run = runner(sampler, "clip" in flags, 1.0 if "eta1" in flags else 0.0, noise is not None,
                 options)
    xs = run(make_grid(SCHEDULE, int(n), spacing), x_T, noise)          # (N, 4, 4, 4, 1)
    return np.split(np.asarray(xs), 2, axis=1)


def test_same_schedule_table():
    np.testing.assert_array_equal(SCHEDULE.alpha_bar, FIXTURES["alpha_bar"])


@pytest.mark.parametrize("case", CASES)
def test_trajectory_matches_diffusers(case):
    for data, got in zip(DATA, jaxgen_trajectories(case)):
        want = FIXTURES[f"{data}/{case}"]                 # (N, 2, 4, 4, 1), x after each step
        if {"no_lof", "bh1"} & set(case.split("/")):   # diffusers fails at the last step (see
            got = got[:-1]                               # the fixture script): N - 1 stored
        assert got.shape == want.shape, data
        np.testing.assert_allclose(got[-1], want[-1], atol=ATOL, rtol=0, err_msg=data)
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=0, err_msg=data)


@pytest.mark.parametrize("n", [1, 7, 8, 20, 29, 50, 999])
def test_integer_spacings_are_diffusers(n):
    for spacing in ("linspace", "leading", "trailing"):
        np.testing.assert_array_equal(timesteps(T, n, spacing),
                                      FIXTURES[f"spacing/ddim/{spacing}/{n}"], err_msg=spacing)
    np.testing.assert_array_equal(timesteps(T, n, "trailing"),
                                  FIXTURES[f"spacing/dpm/trailing/{n}"])


@pytest.mark.parametrize("n", [8, 20])
def test_karras_grid_is_diffusers(n):
    grid = make_grid(SCHEDULE, n, "karras")
    np.testing.assert_allclose(grid.sigma_vp, FIXTURES[f"spacing/karras/{n}/sigma"], rtol=1e-5)
    np.testing.assert_allclose(grid.t, FIXTURES[f"spacing/karras/{n}/t"], atol=5e-4)  # 1.8e-4 seen
