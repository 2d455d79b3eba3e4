"""Ancestral DDPM and DDIM samplers on a strided subsequence of the training timesteps.

Both walk a descending sequence tau_1 > ... > tau_S of training steps; at each step the
denoiser gives (x0_hat, eps_hat) and the update moves x_{tau_i} to x_{tau_{i+1}}, with
alpha_bar = 1 after the last step, so the final update lands on x0_hat. The loop is one
`lax.fori_loop` over a static step count: the denoiser is traced once and the whole
sampler jits once.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.diffusion.losses import DenoiseFn, check_prediction, predict_x0_eps
from jaxgen.diffusion.schedules import Schedule, extract

SAMPLERS = ("ddpm", "ddim")


def timesteps(num_train_steps: int, steps: int) -> np.ndarray:
    """`steps` training timesteps, evenly spaced and descending from T-1 to 0 ("trailing"
    spacing, Lin et al. 2024 sec. 3.3, so the first step sees the noisiest x_T). int32 (steps,).
    steps == T gives T-1, ..., 0; steps == 1 gives [T-1] (one jump from x_T to x_0)."""
    if not 1 <= steps <= num_train_steps:
        raise ValueError(f"sampling steps={steps} must be in [1, {num_train_steps}] "
                         f"(the schedule's num_steps); pass fewer steps")
    return np.round(np.linspace(num_train_steps - 1, 0, steps)).astype(np.int32)


def ddim_step(x0_hat: jax.Array, eps_hat: jax.Array, alpha_bar_t: jax.Array,
              alpha_bar_prev: jax.Array, *, eta: float, noise: jax.Array) -> jax.Array:
    """Song et al. 2021 eq. 12: x_prev = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - sigma^2) eps_hat
    + sigma z, with eq. 16: sigma = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev).
    eta = 0 is deterministic DDIM, eta = 1 the DDPM posterior. Arrays (B, H, W, C); alpha_bars
    broadcast (scalars or (B, 1, 1, 1))."""
    sigma = eta * jnp.sqrt((1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t)
                           * (1.0 - alpha_bar_t / alpha_bar_prev))
    direction = jnp.sqrt(jnp.maximum(1.0 - alpha_bar_prev - sigma**2, 0.0)) * eps_hat
    return jnp.sqrt(alpha_bar_prev) * x0_hat + direction + sigma * noise


def ddpm_step(x_t: jax.Array, x0_hat: jax.Array, alpha_bar_t: jax.Array,
              alpha_bar_prev: jax.Array, *, noise: jax.Array) -> jax.Array:
    """Ancestral step x_prev ~ q(x_prev | x_t, x0_hat) (Ho et al. 2020 eq. 6-7, Algorithm 2 with
    sigma_t^2 = beta_tilde_t). With skipped steps beta = 1 - ab_t / ab_prev is the respaced beta
    of Nichol & Dhariwal 2021 sec. 4. Arrays (B, H, W, C); alpha_bars broadcast."""
    beta = 1.0 - alpha_bar_t / alpha_bar_prev
    coef1 = jnp.sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar_t)
    coef2 = jnp.sqrt(1.0 - beta) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t)
    variance = beta * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar_t)   # 0 at the last step
    return coef1 * x0_hat + coef2 * x_t + jnp.sqrt(jnp.maximum(variance, 0.0)) * noise


def denoise(denoise_fn: DenoiseFn, schedule: Schedule, x_t: jax.Array, t: jax.Array, *,
            prediction: str, clip_x0: bool) -> tuple[jax.Array, jax.Array]:
    """(x0_hat, eps_hat), (B, H, W, C) float32; when clip_x0, x0_hat is clipped to [-1, 1] and
    eps_hat recomputed from it so the two stay consistent with x_t."""
    x0_hat, eps_hat = predict_x0_eps(schedule, x_t, t, denoise_fn(x_t, t), prediction)
    if clip_x0:
        x0_hat = jnp.clip(x0_hat, -1.0, 1.0)
        a = extract(schedule.sqrt_alpha_bar, t, x_t.ndim)
        s = extract(schedule.sqrt_one_minus_alpha_bar, t, x_t.ndim)
        eps_hat = (x_t - a * x0_hat) / s
    return x0_hat, eps_hat


def check_sampler(sampler: str) -> None:
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler={sampler!r}; choose one of {list(SAMPLERS)}")


def sample_loop(denoise_fn: DenoiseFn, schedule: Schedule, x_start: jax.Array, ts: np.ndarray,
                *, rng: jax.Array, sampler: str = "ddim", eta: float = 0.0,
                prediction: str = "eps", clip_x0: bool = True) -> jax.Array:
    """Runs the sampler from x_start = x_{ts[0]} (B, H, W, C) down the descending int32 steps
    `ts` (static numpy, e.g. from `timesteps`, or a suffix of it for SDEdit) to x_0 float32."""
    check_sampler(sampler)
    check_prediction(prediction)
    ab_t = schedule.alpha_bar[ts]                                     # (S,)
    ab_prev = jnp.append(schedule.alpha_bar[ts[1:]], 1.0)             # (S,), 1 after the last
    t_seq = jnp.asarray(ts, jnp.int32)
    batch = x_start.shape[0]

    def body(i, x):
        t = jnp.full((batch,), t_seq[i], jnp.int32)                   # (B,)
        x0_hat, eps_hat = denoise(denoise_fn, schedule, x, t, prediction=prediction,
                                  clip_x0=clip_x0)
        z = jax.random.normal(jax.random.fold_in(rng, i), x.shape, jnp.float32)
        if sampler == "ddim":
            return ddim_step(x0_hat, eps_hat, ab_t[i], ab_prev[i], eta=eta, noise=z)
        return ddpm_step(x, x0_hat, ab_t[i], ab_prev[i], noise=z)

    return jax.lax.fori_loop(0, len(ts), body, x_start.astype(jnp.float32))


def sample(denoise_fn: DenoiseFn, schedule: Schedule, shape: tuple[int, ...], *,
           rng: jax.Array, sampler: str = "ddim", steps: int = 50, eta: float = 0.0,
           prediction: str = "eps", clip_x0: bool = True) -> jax.Array:
    """Draws x_T ~ N(0, I) of `shape` (B, H, W, C) and denoises it in `steps` steps.

    denoise_fn(x_t (B,H,W,C), t int32 (B,)) -> eps or v (B,H,W,C). sampler "ddpm" (ancestral)
    or "ddim" (with eta). `steps` must be a static Python int. Returns x_0 float32 (B,H,W,C).
    """
    check_sampler(sampler)
    ts = timesteps(schedule.num_steps, steps)
    rng_x, rng_loop = jax.random.split(rng)
    x_T = jax.random.normal(rng_x, shape, jnp.float32)
    return sample_loop(denoise_fn, schedule, x_T, ts, rng=rng_loop, sampler=sampler, eta=eta,
                       prediction=prediction, clip_x0=clip_x0)
