"""What every sampler shares: the registry entry, the context its steps see, the denoiser.

A sampler is a `Sampler` entry: pure `init(ctx, x_T) -> state` and `step(ctx, i, state) ->
state` (state a pytree holding the current x_{t_i} (B, H, W, C) as `state["x"]`, in the VP
space the denoiser takes), run for i = 0..N-1 by one `lax.scan`; its own option names with
defaults; `nfe(N)`, the denoiser evaluations for N steps; and `check(options, N or None)`, which
raises a ValueError for option values (or a step count N) the sampler cannot take.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from jaxgen.diffusion.losses import DenoiseFn
from jaxgen.diffusion.samplers.grid import Grid
from jaxgen.diffusion.schedules import Schedule, extract

State = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class Sampler:
    name: str
    init: Callable[["Ctx", jax.Array], State]
    step: Callable[["Ctx", jax.Array, State], State]
    nfe: Callable[[int], int]
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    doc: str = ""
    check: Callable[[Mapping[str, Any], int | None], None] = lambda options, steps: None


def denoise_at(denoise_fn: DenoiseFn, x_t: jax.Array, t: jax.Array, alpha: jax.Array,
               sigma: jax.Array, *, prediction: str, clip_x0: bool) -> tuple[jax.Array, jax.Array]:
    """(x0_hat, eps_hat) float32 (B, H, W, C) of x_t = alpha x_0 + sigma eps at timestep t (B,).

    eps: x0 = (x_t - sigma eps) / alpha (Ho et al. 2020 eq. 15). v (Salimans & Ho 2022):
    x0 = alpha x_t - sigma v, eps = sigma x_t + alpha v. alpha, sigma broadcast against x_t.
    clip_x0 clips x0_hat to [-1, 1] and recomputes eps_hat from it, so the two stay consistent.
    """
    x_t = x_t.astype(jnp.float32)
    out = denoise_fn(x_t, t).astype(jnp.float32)
    if prediction == "eps":
        x0_hat, eps_hat = (x_t - sigma * out) / alpha, out
    else:
        x0_hat, eps_hat = alpha * x_t - sigma * out, sigma * x_t + alpha * out
    if clip_x0:
        x0_hat = jnp.clip(x0_hat, -1.0, 1.0)
        eps_hat = (x_t - alpha * x0_hat) / sigma
    return x0_hat, eps_hat


def denoise(denoise_fn: DenoiseFn, schedule: Schedule, x_t: jax.Array, t: jax.Array, *,
            prediction: str, clip_x0: bool) -> tuple[jax.Array, jax.Array]:
    """`denoise_at` at integer training steps t (B,), reading alpha, sigma from the schedule."""
    a = extract(schedule.sqrt_alpha_bar, t, x_t.ndim)
    s = extract(schedule.sqrt_one_minus_alpha_bar, t, x_t.ndim)
    return denoise_at(denoise_fn, x_t, t, a, s, prediction=prediction, clip_x0=clip_x0)


@dataclasses.dataclass(frozen=True)
class Ctx:
    """What init/step see: the grid, the denoiser, per-step noise and the resolved options."""
    grid: Grid
    denoise_fn: DenoiseFn
    schedule: Schedule
    prediction: str
    clip_x0: bool
    draw: Callable[[jax.Array], jax.Array]   # i -> z_i ~ N(0, I) (B, H, W, C)
    options: Mapping[str, Any]

    def denoise(self, x: jax.Array, t: jax.Array, alpha: jax.Array,
                sigma: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(x0_hat, eps_hat) of the VP-space x (B, H, W, C) at a scalar timestep t."""
        t_b = jnp.full(x.shape[:1], t, t.dtype)                       # (B,)
        return denoise_at(self.denoise_fn, x, t_b, alpha, sigma, prediction=self.prediction,
                          clip_x0=self.clip_x0)

    def at(self, x: jax.Array, i: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(x0_hat, eps_hat) at grid step i."""
        g = self.grid
        if jnp.issubdtype(g.t.dtype, jnp.integer):   # table gathers: bit-identical to before
            return denoise(self.denoise_fn, self.schedule, x, jnp.full(x.shape[:1], g.t[i]),
                           prediction=self.prediction, clip_x0=self.clip_x0)
        return self.denoise(x, g.t[i], g.alpha[i], g.sigma[i])
