"""Classifier-free guidance (Ho & Salimans 2022) as a denoiser wrapper for the samplers.

Convention (the one families/diffusion.py uses): out~ = out_c + w (out_c - out_u), i.e.
eps~ = (1 + w) eps_c - w eps_u, so w = 0 is the plain conditional model (Ho & Salimans' eq. 6
has the same w; many codebases write the scale s = 1 + w). It applies to eps or v outputs
alike (both are affine in the score). The conditional and unconditional passes run as one
call on a doubled batch. With `interval=(lo, hi)` guidance is applied only where the EDM noise
level sigma_vp of the step lies in [lo, hi] (Kynkaanniemi et al. 2024); elsewhere w = 0.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxgen.diffusion.losses import DenoiseFn
from jaxgen.diffusion.samplers.grid import sigma_at
from jaxgen.diffusion.schedules import Schedule

CondDenoiseFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]  # (x_t, t, labels) -> out


def guided(denoise_fn: CondDenoiseFn, labels: jax.Array, *, weight: float | jax.Array,
           null_label, interval: tuple[float, float] | None = None,
           schedule: Schedule | None = None) -> DenoiseFn:
    """A denoise_fn(x_t (B,H,W,C), t (B,)) for the samplers, guiding `denoise_fn` toward
    `labels` with weight w. labels: class ids (B,), or any per-example condition (B, ...) such
    as a prompt's tokens (B, L); `null_label`: one example's unconditional input, broadcast to
    labels' shape (the null class id, or the tokens of the empty prompt). `interval` (lo, hi)
    in sigma_vp needs the `schedule` (t -> sigma_vp, fractional t allowed)."""
    if interval is not None and schedule is None:
        raise ValueError("guided(interval=...) needs schedule= to map t to sigma; pass it")

    def guided_fn(x_t: jax.Array, t: jax.Array) -> jax.Array:
        null = jnp.broadcast_to(jnp.asarray(null_label, labels.dtype), labels.shape)
        out = denoise_fn(jnp.concatenate([x_t, x_t]), jnp.concatenate([t, t]),
                         jnp.concatenate([labels, null]))                # (2B, H, W, C)
        cond, uncond = jnp.split(out, 2)
        w = jnp.broadcast_to(jnp.asarray(weight, cond.dtype), t.shape)  # (B,)
        if interval is not None:
            sigma = sigma_at(schedule, t)                                # (B,)
            w = jnp.where((sigma >= interval[0]) & (sigma <= interval[1]), w, 0.0)
        return cond + w.reshape((-1,) + (1,) * (cond.ndim - 1)) * (cond - uncond)

    return guided_fn
