"""Noise schedules of the discrete-time diffusion process and the forward sample q(x_t | x_0).

Index convention: t = 0 .. T-1, where array index t is the paper's step t + 1
(Ho et al. 2020 count 1 .. T). t = 0 is the least noisy step, so
`alpha_bar[0] = alphas[0] = 1 - betas[0]` and `alpha_bar[t] = prod_{s<=t} alphas[s]`.
"""
from __future__ import annotations

import math

import flax
import jax
import jax.numpy as jnp
import numpy as np

SCHEDULES = ("linear", "cosine")


@flax.struct.dataclass
class Schedule:
    """Per-step constants of a variance-preserving diffusion; every field float32 (T,).

    betas, alphas = 1 - betas, alpha_bar = cumprod(alphas), alpha_bar_prev (1 at t=0),
    sqrt_alpha_bar, sqrt_one_minus_alpha_bar, and the posterior q(x_{t-1} | x_t, x_0)
    of Ho et al. 2020 eq. 6-7: mean = coef1 * x_0 + coef2 * x_t, variance = beta_tilde_t.
    """
    betas: jax.Array
    alphas: jax.Array
    alpha_bar: jax.Array
    alpha_bar_prev: jax.Array
    sqrt_alpha_bar: jax.Array
    sqrt_one_minus_alpha_bar: jax.Array
    posterior_variance: jax.Array
    posterior_log_variance_clipped: jax.Array
    posterior_mean_coef1: jax.Array
    posterior_mean_coef2: jax.Array

    @property
    def num_steps(self) -> int:
        """T, the number of training timesteps (static: read from the array shape)."""
        return self.betas.shape[0]


def linear_betas(num_steps: int, beta_start: float, beta_end: float) -> np.ndarray:
    """Ho et al. 2020 sec. 4: betas spaced linearly from beta_1 to beta_T. float64 (T,)."""
    return np.linspace(beta_start, beta_end, num_steps, dtype=np.float64)


def cosine_betas(num_steps: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Nichol & Dhariwal 2021 eq. 17: alpha_bar(t) = f(t) / f(0),
    f(t) = cos^2(((t/T + s) / (1 + s)) * pi/2), beta_t = 1 - alpha_bar(t) / alpha_bar(t-1),
    clipped at `max_beta` to avoid the singularity at t = T. float64 (T,)."""
    def f(t):
        return np.cos((t / num_steps + s) / (1 + s) * math.pi / 2) ** 2

    t = np.arange(num_steps + 1, dtype=np.float64)
    alpha_bar = f(t) / f(0.0)                                    # (T + 1,), paper t = 0..T
    return np.minimum(1.0 - alpha_bar[1:] / alpha_bar[:-1], max_beta)


def schedule_from_betas(betas: np.ndarray) -> Schedule:
    """All derived constants from betas (T,), computed in float64 and stored as float32."""
    betas = np.asarray(betas, dtype=np.float64)
    alphas = 1.0 - betas
    alpha_bar = np.cumprod(alphas)
    alpha_bar_prev = np.append(1.0, alpha_bar[:-1])
    # Ho et al. 2020 eq. 7: beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) * beta_t.
    post_var = betas * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
    # post_var[0] = 0; its log is clipped to post_var[1] (as in Ho et al.'s code).
    post_log_var = np.log(np.append(post_var[1], post_var[1:])) if len(betas) > 1 else np.zeros(1)
    fields = dict(
        betas=betas, alphas=alphas, alpha_bar=alpha_bar, alpha_bar_prev=alpha_bar_prev,
        sqrt_alpha_bar=np.sqrt(alpha_bar), sqrt_one_minus_alpha_bar=np.sqrt(1.0 - alpha_bar),
        posterior_variance=post_var, posterior_log_variance_clipped=post_log_var,
        posterior_mean_coef1=betas * np.sqrt(alpha_bar_prev) / (1.0 - alpha_bar),
        posterior_mean_coef2=(1.0 - alpha_bar_prev) * np.sqrt(alphas) / (1.0 - alpha_bar))
    return Schedule(**{k: jnp.asarray(v, dtype=jnp.float32) for k, v in fields.items()})


def make_schedule(kind: str, num_steps: int = 1000, *, beta_start: float = 1e-4,
                  beta_end: float = 0.02) -> Schedule:
    """Builds a Schedule of `num_steps` steps: "linear" (Ho et al. 2020; uses beta_start,
    beta_end) or "cosine" (Nichol & Dhariwal 2021, s = 0.008, betas clipped at 0.999)."""
    if kind not in SCHEDULES:
        raise ValueError(f"unknown noise schedule kind={kind!r}; choose one of {list(SCHEDULES)}")
    if num_steps < 1:
        raise ValueError(f"num_steps={num_steps} must be >= 1")
    if kind == "linear":
        return schedule_from_betas(linear_betas(num_steps, beta_start, beta_end))
    return schedule_from_betas(cosine_betas(num_steps))


def extract(values: jax.Array, t: jax.Array, ndim: int = 4) -> jax.Array:
    """values[t] reshaped to broadcast against an (B, ...) array of rank `ndim`: (B, 1, 1, 1)."""
    return values[t].reshape((-1,) + (1,) * (ndim - 1))


def q_sample(schedule: Schedule, x0: jax.Array, t: jax.Array, noise: jax.Array) -> jax.Array:
    """Ho et al. 2020 eq. 4: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps.

    x0, noise: (B, H, W, C); t: int32 (B,). Returns x_t (B, H, W, C) in x0's dtype.
    """
    a = extract(schedule.sqrt_alpha_bar, t, x0.ndim)
    s = extract(schedule.sqrt_one_minus_alpha_bar, t, x0.ndim)
    return (a * x0 + s * noise).astype(x0.dtype)
