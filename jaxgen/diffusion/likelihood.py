"""The diffusion model's negative ELBO in bits per dimension, for 8-bit images.

Ho et al. 2020 eq. 5 (Sohl-Dickstein et al. 2015), in paper steps t = 1..T:
  L = L_T + sum_{t=2..T} L_{t-1} + L_0,   L_T = KL(q(x_T | x_0) || N(0, I)),
  L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)),   L_0 = -log p(x_0 | x_1),
with p(x_0 | x_1) the discretised Gaussian decoder of eq. 13 (bins of width 2/255 on [-1, 1],
edge bins open), so L upper-bounds -log2 P(x) of the 8-bit image. In array indices
(`schedules.py`: index i is paper step i + 1) L_0 is index 0, L_{t-1} for t >= 2 are
indices 1..T-1 and L_T uses alpha_bar[T-1]. p(x_{t-1} | x_t) has the mean of the posterior
at x0_hat (eq. 7; clipped to [-1, 1] as the samplers do) and a fixed variance: "small"
beta_tilde_t (the DDPM sampler's) or "large" beta_t (Nichol & Dhariwal 2021 sec. 2.1).
The sum over the T - 1 KL terms is exact, or a stratified Monte Carlo estimate that is
unbiased for it (one random step in each of K strata, weighted by the stratum's size).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr

from jaxgen.diffusion.losses import DenoiseFn
from jaxgen.diffusion.samplers import denoise
from jaxgen.diffusion.schedules import Schedule, extract, q_sample

VARIANCES = ("small", "large")


def normal_kl(mean1, logvar1, mean2, logvar2) -> jax.Array:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) elementwise, in nats (broadcasts)."""
    return 0.5 * (logvar2 - logvar1 + jnp.exp(logvar1 - logvar2)
                  + jnp.square(mean1 - mean2) * jnp.exp(-logvar2) - 1.0)


def log_ndtr_diff(hi: jax.Array, lo: jax.Array) -> jax.Array:
    """log(Phi(hi) - Phi(lo)) for lo < hi (either may be infinite), accurate in both tails:
    a bin right of 0 is reflected, Phi(hi) - Phi(lo) = Phi(-lo) - Phi(-hi), so the
    subtraction happens where Phi is small and log_ndtr keeps the digits."""
    flip = lo + hi > 0
    a, b = jnp.where(flip, -hi, lo), jnp.where(flip, -lo, hi)
    la, lb = log_ndtr(a), log_ndtr(b)
    return lb + jnp.log(-jnp.expm1(la - lb))


def discretized_gaussian_log_likelihood(x: jax.Array, mean: jax.Array,
                                        log_scale: jax.Array) -> jax.Array:
    """log P(x's bin) under N(mean, exp(log_scale)^2) (Ho et al. 2020 eq. 13), elementwise.

    x: 8-bit values mapped to [-1, 1] (x = k / 127.5 - 1); its bin is [x - 1/255, x + 1/255],
    and the edge bins extend to -inf (x = -1) and +inf (x = 1), so the 256 bins sum to 1.
    """
    inv_scale = jnp.exp(-log_scale)
    lo = jnp.where(x < -0.999, -jnp.inf, (x - mean - 1.0 / 255) * inv_scale)
    hi = jnp.where(x > 0.999, jnp.inf, (x - mean + 1.0 / 255) * inv_scale)
    return log_ndtr_diff(hi, lo)


def model_log_variance(schedule: Schedule, variance: str) -> jax.Array:
    """log sigma^2 (T,) of p(x_{t-1} | x_t) per index: "small" log beta_tilde, "large" log beta;
    index 0 (the decoder) uses beta_tilde at index 1 in both (as Nichol & Dhariwal's code)."""
    if variance not in VARIANCES:
        raise ValueError(f"variance={variance!r}; choose one of {list(VARIANCES)}")
    if variance == "small":
        return schedule.posterior_log_variance_clipped
    return jnp.log(jnp.append(schedule.posterior_variance[1], schedule.betas[1:]))


def prior_kl(schedule: Schedule, x0: jax.Array) -> jax.Array:
    """L_T = KL(q(x_T | x_0) || N(0, I)) in nats, summed over pixels: (B,)."""
    a_T, var_T = schedule.sqrt_alpha_bar[-1], 1.0 - schedule.alpha_bar[-1]
    kl = normal_kl(a_T * x0, jnp.log(var_T), 0.0, 0.0)
    return jnp.sum(kl, axis=tuple(range(1, x0.ndim)))


def vlb_term(denoise_fn: DenoiseFn, schedule: Schedule, x0: jax.Array, t: jax.Array,
             noise: jax.Array, *, prediction: str = "eps", clip_x0: bool = True,
             variance: str = "small") -> jax.Array:
    """One term of the bound per example, in nats summed over pixels: (B,).

    x0: (B, H, W, C) on the 8-bit grid in [-1, 1]; t: int32 (B,) indices; noise: like x0.
    Index 0 gives the decoder's -log p(x_0 | x_1); index t >= 1 gives
    KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) at x_t = q_sample(x0, t, noise).
    """
    x_t = q_sample(schedule, x0, t, noise).astype(jnp.float32)
    x0_hat, _ = denoise(denoise_fn, schedule, x_t, t, prediction=prediction, clip_x0=clip_x0)
    c1 = extract(schedule.posterior_mean_coef1, t, x0.ndim)
    c2 = extract(schedule.posterior_mean_coef2, t, x0.ndim)
    p_mean = c1 * x0_hat + c2 * x_t                                   # (B, H, W, C)
    p_logvar = extract(model_log_variance(schedule, variance), t, x0.ndim)
    q_logvar = extract(schedule.posterior_log_variance_clipped, t, x0.ndim)
    kl = normal_kl(c1 * x0 + c2 * x_t, q_logvar, p_mean, p_logvar)
    nll = -discretized_gaussian_log_likelihood(x0, p_mean, 0.5 * p_logvar)
    axes = tuple(range(1, x0.ndim))
    return jnp.where(t == 0, jnp.sum(nll, axes), jnp.sum(kl, axes))


def _offset(num_steps: int, k: int) -> float:
    """The smallest c >= 0 for which the geometric spacing of t + c from t = 1 to T in k
    strata makes the first stratum at least one step wide (bisection; the width grows with c
    towards (T - 1) / k >= 1)."""
    width = lambda c: (1 + c) * (((num_steps + c) / (1 + c)) ** (1 / k) - 1)  # noqa: E731
    if width(0.0) >= 1:
        return 0.0
    lo, hi = 0.0, float(num_steps) ** 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if width(mid) < 1 else (lo, mid)
    return hi


def strata(num_steps: int, num_timesteps: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(first index, size) of K strata covering indices 1..T-1, int32 (K,) each.

    The KL terms fall roughly as 1/t, so the strata are spaced geometrically in t + c (c from
    `_offset`): the first ones are single steps (summed exactly), the last ones wide. Against
    equal strata this cuts the estimate's spread per image ~50x at K = 50, T = 1000.
    K = T - 1 (None) makes every stratum one step: the exact sum.
    """
    k = num_steps - 1 if num_timesteps is None else num_timesteps
    if not 1 <= k <= num_steps - 1:
        raise ValueError(f"num_timesteps={num_timesteps} must lie in [1, T-1={num_steps - 1}] "
                         f"(or None for every step); the schedule needs T >= 2")
    if k == num_steps - 1:
        edges = np.arange(1, num_steps + 1)
    else:
        c = _offset(num_steps, k)
        grid = (1 + c) * ((num_steps + c) / (1 + c)) ** (np.arange(k + 1) / k) - c
        edges = np.floor(grid + 0.5).astype(np.int64)  # gaps >= 1, so strictly increasing
        edges[0], edges[-1] = 1, num_steps
    return edges[:-1].astype(np.int32), np.diff(edges).astype(np.int32)


def nll_bound(denoise_fn: DenoiseFn, schedule: Schedule, x0: jax.Array, *, rng: jax.Array,
              num_timesteps: int | None = None, prediction: str = "eps", clip_x0: bool = True,
              variance: str = "small") -> dict[str, jax.Array]:
    """The negative ELBO of 8-bit images x0 (B, H, W, C) in [-1, 1], per example, in bits/dim.

    num_timesteps: None sums all T - 1 KL terms (T network calls per image); K < T - 1 uses
    the stratified estimate (K + 1 calls). Returns float32 (B,) each: "bits_per_dim" (the
    total) and its parts "prior_bpd" (L_T), "diffusion_bpd" (the KL terms), "decoder_bpd" (L_0).
    """
    first, size = strata(schedule.num_steps, num_timesteps)
    first, size, batch = jnp.asarray(first), jnp.asarray(size), x0.shape[0]
    term = lambda t, noise: vlb_term(denoise_fn, schedule, x0, t, noise,  # noqa: E731
                                     prediction=prediction, clip_x0=clip_x0, variance=variance)

    def stratum(total, j):
        k_t, k_noise = jax.random.split(jax.random.fold_in(rng, j))
        t = first[j] + jax.random.randint(k_t, (batch,), 0, size[j])      # (B,)
        return total + size[j] * term(t, jax.random.normal(k_noise, x0.shape)), None

    diffusion, _ = jax.lax.scan(stratum, jnp.zeros(batch), jnp.arange(len(first)))
    k_dec = jax.random.fold_in(rng, len(first))
    decoder = term(jnp.zeros(batch, jnp.int32), jax.random.normal(k_dec, x0.shape))
    prior = prior_kl(schedule, x0)
    per_nat = 1.0 / (math.prod(x0.shape[1:]) * math.log(2.0))
    return {"bits_per_dim": (prior + diffusion + decoder) * per_nat,
            "prior_bpd": prior * per_nat, "diffusion_bpd": diffusion * per_nat,
            "decoder_bpd": decoder * per_nat}
