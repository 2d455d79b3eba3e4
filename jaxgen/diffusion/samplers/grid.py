"""The discrete VP schedule at continuous t / sigma, step spacings, and the sampling grid.

Notation (Kingma et al. 2021; Lu et al. 2022; Karras et al. 2022 "EDM"): x_t = alpha_t x_0 +
sigma_t eps with alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t); the log-SNR
lambda_t = log(alpha_t / sigma_t); and the EDM noise level of a VP model (EDM Table 1)
sigma_vp = sigma_t / alpha_t = sqrt((1 - alpha_bar) / alpha_bar), the "Karras sigma" in which
x / alpha_t follows dx/dsigma_vp = eps (EDM eq. 3). lambda = -log(sigma_vp).

Between the T training steps sigma_vp is interpolated linearly in log sigma_vp (k-diffusion's
DiscreteSchedule; diffusers' `_sigma_to_t` is the same inverse map), so a denoiser taking integer
t can be evaluated at a fractional t (the U-Net's sinusoidal embedding takes floats).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.diffusion.schedules import Schedule

INTEGER_SPACINGS = ("uniform", "trailing", "leading", "linspace")
SPACINGS = (*INTEGER_SPACINGS, "karras", "edm", "trailing_exact")
DEFAULT_SPACING = "uniform"
KARRAS_RHO = 7.0  # EDM eq. 5 and sec. 3: rho = 7
# EDM sec. 5 / Table 1: sigma_min = 0.002, sigma_max = 80. The "edm" spacing clips the
# schedule's [sigma_vp(0), sigma_vp(T-1)] to this range: a cosine schedule's sigma_vp(T-1) is
# 2e4, and a Heun step from sigma_i to sigma_{i+1} scales an error in D(x_{i+1}) by
# (sigma_i - sigma_{i+1}) / (2 sigma_{i+1}) (its trapezoid: x_hat + (sigma_{i+1} - sigma_i)
# (d_i + d_{i+1}) / 2, d_{i+1} = (x_{i+1} - D) / sigma_{i+1}): 5 Karras steps of that range
# make ratios 6, 10, 34, 1600.
EDM_SIGMA_MIN, EDM_SIGMA_MAX = 0.002, 80.0


class VP(NamedTuple):
    """Coefficients at a noise level; each float32 of the input's shape."""
    alpha: jax.Array      # sqrt(alpha_bar)
    sigma: jax.Array      # sqrt(1 - alpha_bar)
    lam: jax.Array        # log-SNR lambda = log(alpha / sigma)
    sigma_vp: jax.Array   # sigma / alpha, EDM's sigma


def at_sigma(sigma_vp: jax.Array) -> VP:
    """VP coefficients at EDM noise level sigma_vp >= 0: alpha = 1 / sqrt(1 + sigma_vp^2)."""
    sigma_vp = jnp.asarray(sigma_vp, jnp.float32)
    alpha = jax.lax.rsqrt(1.0 + sigma_vp**2)
    sigma = sigma_vp * alpha
    return VP(alpha, sigma, jnp.log(alpha) - jnp.log(sigma), sigma_vp)


def log_sigmas(schedule: Schedule) -> jax.Array:
    """log sigma_vp at the T training steps, increasing in t. float32 (T,)."""
    return jnp.log(schedule.sqrt_one_minus_alpha_bar) - jnp.log(schedule.sqrt_alpha_bar)


def sigma_at(schedule: Schedule, t: jax.Array) -> jax.Array:
    """sigma_vp at continuous t in [0, T-1] (log-linear between steps; clamped outside)."""
    steps = jnp.arange(schedule.num_steps, dtype=jnp.float32)
    return jnp.exp(jnp.interp(jnp.asarray(t, jnp.float32), steps, log_sigmas(schedule)))


def at_t(schedule: Schedule, t: jax.Array) -> VP:
    """VP coefficients at continuous t (the table's values, to float32 rounding, at integer t)."""
    return at_sigma(sigma_at(schedule, t))


def t_of_sigma(schedule: Schedule, sigma_vp: jax.Array) -> jax.Array:
    """Fractional timestep of a noise level: the inverse of `sigma_at` (diffusers' `_sigma_to_t`,
    k-diffusion's `sigma_to_t`), clamped to [0, T-1]. float32 of sigma_vp's shape."""
    ls, T = log_sigmas(schedule), schedule.num_steps
    if T == 1:
        return jnp.zeros_like(jnp.asarray(sigma_vp, jnp.float32))
    log_s = jnp.log(jnp.maximum(jnp.asarray(sigma_vp, jnp.float32), 1e-10))
    low = jnp.clip(jnp.searchsorted(ls, log_s, side="right") - 1, 0, T - 2)
    w = jnp.clip((log_s - ls[low]) / (ls[low + 1] - ls[low]), 0.0, 1.0)
    return low + w


def check_spacing(spacing: str) -> None:
    if spacing not in SPACINGS:
        raise ValueError(f"unknown spacing={spacing!r}; choose one of {list(SPACINGS)}")


def check_steps(steps: int, num_train_steps: int) -> None:
    if not 1 <= steps <= num_train_steps:
        raise ValueError(f"sampling steps={steps} must be in [1, {num_train_steps}] "
                         f"(the schedule's num_steps); pass fewer steps")


def timesteps(num_train_steps: int, steps: int, spacing: str = DEFAULT_SPACING) -> np.ndarray:
    """`steps` descending integer training timesteps, int32 (steps,). T = num_train_steps.

    uniform:  round(linspace(T-1, 0, N)), both ends (jaxgen's original; the first step sees the
              noisiest x_T). Equals diffusers' DDIM "linspace" except N = 1 and rare .5 ties.
    linspace: round(linspace(0, T-1, N))[::-1] (diffusers' DDIMScheduler; N = 1 gives [0]).
    leading:  arange(N) * (T // N), reversed (diffusers, steps_offset = 0).
    trailing: round(arange(T, 0, -T / N)) - 1 (diffusers; Lin et al. 2024 Table 2), first N.
    diffusers' Euler/Heun keep "linspace" unrounded and DPM-Solver takes N + 1 points and drops
    the last for linspace/leading; here every sampler uses the N-point integer grids above.
    """
    check_steps(steps, num_train_steps)
    T, N = num_train_steps, steps
    if spacing == "uniform":
        ts = np.round(np.linspace(T - 1, 0, N))
    elif spacing == "linspace":
        ts = np.linspace(0, T - 1, N).round()[::-1]
    elif spacing == "leading":
        ts = (np.arange(0, N) * (T // N)).round()[::-1]
    elif spacing == "trailing":
        ts = np.round(np.arange(T, 0, -T / N))[:N] - 1
    else:
        raise ValueError(f"spacing={spacing!r} has no integer timesteps; choose one of "
                         f"{list(INTEGER_SPACINGS)}")
    return ts.astype(np.int32)


def exact_timesteps(num_train_steps: int, steps: int) -> np.ndarray:
    """trailing_exact: t_i = T i / N - 1 for i = N..1, unrounded, float32 (N,) descending.

    "trailing" without the rounding: the discrete form of Salimans & Ho 2022 Algorithm 2's
    t = i / N. T i / N and T (2i) / (2N) are the same rational, each rounded once, so the N-step
    grid is exactly every other point of the 2N-step grid (progressive distillation needs that;
    "uniform" and "trailing" round and do not nest). The last step lands on x_0 from T / N - 1.
    """
    check_steps(steps, num_train_steps)
    i = np.arange(steps, 0, -1, dtype=np.float64)
    return (num_train_steps * i / steps - 1.0).astype(np.float32)


def karras_sigmas(sigma_min: float, sigma_max: float, steps: int,
                  rho: float = KARRAS_RHO) -> jax.Array:
    """EDM eq. 5: sigma_i = (smax^(1/rho) + i/(N-1) (smin^(1/rho) - smax^(1/rho)))^rho,
    i = 0..N-1, descending. float32 (N,)."""
    ramp = jnp.linspace(0.0, 1.0, steps, dtype=jnp.float32)
    lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    return (hi + ramp * (lo - hi)) ** rho


class Grid(NamedTuple):
    """The N sampling steps and the end point. Index i = 0..N-1 is a model evaluation at
    timestep t[i]; the coefficient arrays have N + 1 entries, the last the clean end
    (alpha_bar = 1, sigma = sigma_vp = 0, lambda = +inf)."""
    t: jax.Array          # (N,) int32, or float32 for fractional timesteps
    alpha_bar: jax.Array  # (N + 1,)
    alpha: jax.Array      # (N + 1,)
    sigma: jax.Array      # (N + 1,)
    sigma_vp: jax.Array   # (N + 1,)
    lam: jax.Array        # (N + 1,)

    @property
    def steps(self) -> int:
        return self.t.shape[0]


def grid_from_timesteps(schedule: Schedule, ts: np.ndarray) -> Grid:
    """Grid at integer timesteps `ts` (descending, static): the schedule's table values."""
    ts = np.asarray(ts, np.int32)
    alpha = jnp.append(schedule.sqrt_alpha_bar[ts], 1.0)
    sigma = jnp.append(schedule.sqrt_one_minus_alpha_bar[ts], 0.0)
    return Grid(jnp.asarray(ts), jnp.append(schedule.alpha_bar[ts], 1.0), alpha, sigma,
                sigma / alpha, jnp.log(alpha) - jnp.log(sigma))


def grid_from_sigmas(schedule: Schedule, sigma_vp: jax.Array) -> Grid:
    """Grid at descending noise levels sigma_vp (N,), evaluated at fractional t (float32)."""
    vp = at_sigma(jnp.append(sigma_vp, 0.0))
    return Grid(t_of_sigma(schedule, sigma_vp), vp.alpha**2, vp.alpha, vp.sigma, vp.sigma_vp,
                vp.lam)


def grid_from_fractional(schedule: Schedule, ts: np.ndarray) -> Grid:
    """Grid at descending fractional timesteps `ts` (N,) float32, coefficients from `at_t`."""
    ts = jnp.asarray(ts, jnp.float32)
    vp = at_t(schedule, ts)
    alpha, sigma = jnp.append(vp.alpha, 1.0), jnp.append(vp.sigma, 0.0)
    return Grid(ts, alpha**2, alpha, sigma, sigma / alpha,
                jnp.log(alpha) - jnp.log(sigma))


def make_grid(schedule: Schedule, steps: int, spacing: str = DEFAULT_SPACING) -> Grid:
    """The grid of `steps` steps; "karras" spans the schedule's sigma_vp range
    [sigma_vp(0), sigma_vp(T-1)] (as k-diffusion and diffusers' DPM-Solver do); "edm" is the
    same ramp on that range clipped to [EDM_SIGMA_MIN, EDM_SIGMA_MAX] (x_T ~ N(0, I) is then
    taken as x at sigma_vp <= 80, as EDM does); "trailing_exact" is `exact_timesteps` at
    fractional t (it nests: N in 2N)."""
    check_spacing(spacing)
    if spacing == "trailing_exact":
        return grid_from_fractional(schedule, exact_timesteps(schedule.num_steps, steps))
    if spacing not in ("karras", "edm"):
        return grid_from_timesteps(schedule, timesteps(schedule.num_steps, steps, spacing))
    check_steps(steps, schedule.num_steps)
    s = jnp.exp(log_sigmas(schedule))
    lo, hi = s[0], s[-1]
    if spacing == "edm":
        lo, hi = jnp.maximum(lo, EDM_SIGMA_MIN), jnp.minimum(hi, EDM_SIGMA_MAX)
    return grid_from_sigmas(schedule, karras_sigmas(lo, hi, steps))
