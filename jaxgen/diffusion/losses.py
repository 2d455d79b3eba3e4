"""Denoising losses and the conversions between model parametrisations.

A denoiser predicts either eps (Ho et al. 2020) or v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0
(Salimans & Ho 2022, sec. 4 / appendix D). With a_t = sqrt(alpha_bar_t), s_t = sqrt(1 - alpha_bar_t)
and a_t^2 + s_t^2 = 1:  x_0 = a_t x_t - s_t v,  eps = s_t x_t + a_t v.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxgen.diffusion.schedules import Schedule, extract, q_sample

PREDICTIONS = ("eps", "v")

DenoiseFn = Callable[[jax.Array, jax.Array], jax.Array]  # (x_t (B,H,W,C), t (B,)) -> (B,H,W,C)


def check_prediction(prediction: str) -> None:
    if prediction not in PREDICTIONS:
        raise ValueError(f"unknown prediction={prediction!r}; choose one of {list(PREDICTIONS)}")


def v_target(schedule: Schedule, x0: jax.Array, t: jax.Array, noise: jax.Array) -> jax.Array:
    """Salimans & Ho 2022: v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0. (B, H, W, C)."""
    a = extract(schedule.sqrt_alpha_bar, t, x0.ndim)
    s = extract(schedule.sqrt_one_minus_alpha_bar, t, x0.ndim)
    return a * noise - s * x0


def predict_x0_eps(schedule: Schedule, x_t: jax.Array, t: jax.Array, model_out: jax.Array,
                   prediction: str) -> tuple[jax.Array, jax.Array]:
    """(x0_hat, eps_hat), each (B, H, W, C) float32, from a model output in either parametrisation.

    eps: x0_hat = (x_t - s_t eps) / a_t (Ho et al. 2020 eq. 15).  v: x0_hat = a_t x_t - s_t v,
    eps_hat = s_t x_t + a_t v.  x_t, model_out: (B, H, W, C); t: int (B,).
    """
    check_prediction(prediction)
    x_t, out = x_t.astype(jnp.float32), model_out.astype(jnp.float32)
    a = extract(schedule.sqrt_alpha_bar, t, x_t.ndim)
    s = extract(schedule.sqrt_one_minus_alpha_bar, t, x_t.ndim)
    if prediction == "eps":
        return (x_t - s * out) / a, out
    return a * x_t - s * out, s * x_t + a * out


def min_snr_weight(schedule: Schedule, t: jax.Array, prediction: str, gamma: float) -> jax.Array:
    """Min-SNR-gamma loss weight (Hang et al. 2023, eq. 7 and sec. 3.4) per example, (B,):
    min(SNR_t, gamma) / SNR_t for an eps target, min(SNR_t, gamma) / (SNR_t + 1) for v, with
    SNR_t = alpha_bar_t / (1 - alpha_bar_t). Either way the implied x0-space weight is
    min(SNR_t, gamma): high-SNR (low-noise) steps stop dominating the gradient."""
    alpha_bar = schedule.alpha_bar[t]
    snr = alpha_bar / (1.0 - alpha_bar)
    return jnp.minimum(snr, gamma) / (snr if prediction == "eps" else snr + 1.0)


def diffusion_loss(denoise_fn: DenoiseFn, schedule: Schedule, x0: jax.Array, *, t: jax.Array,
                   noise: jax.Array, prediction: str, min_snr_gamma: float = 0.0) -> jax.Array:
    """Per-example mean squared error of the denoiser (Ho et al. 2020 eq. 14, L_simple),
    weighted by `min_snr_weight` when min_snr_gamma > 0.

    x0, noise: (B, H, W, C) float32; t: int32 (B,). The target is eps, or v for
    prediction="v". Returns float32 (B,), the mean over H, W, C; the trainer reduces.
    """
    check_prediction(prediction)
    x_t = q_sample(schedule, x0, t, noise)
    target = noise if prediction == "eps" else v_target(schedule, x0, t, noise)
    out = denoise_fn(x_t, t).astype(jnp.float32)
    mse = jnp.mean(jnp.square(out - target.astype(jnp.float32)), axis=tuple(range(1, x0.ndim)))
    if min_snr_gamma > 0:
        return mse * min_snr_weight(schedule, t, prediction, min_snr_gamma)
    return mse
