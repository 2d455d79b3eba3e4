"""The sampling loop: one `lax.scan` of a registry sampler's step over the grid.

The denoiser is traced once (Heun: twice, its correction sits in a `lax.cond`) and the whole
sampler jits once for a static step count.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.diffusion.losses import DenoiseFn, check_prediction
from jaxgen.diffusion.samplers import registry
from jaxgen.diffusion.samplers.base import Ctx
from jaxgen.diffusion.samplers.grid import (DEFAULT_SPACING, Grid, check_spacing, check_steps,
                                            grid_from_timesteps, make_grid)
from jaxgen.diffusion.schedules import Schedule


def noise_source(rng: jax.Array, noise: jax.Array | None,
                 shape: tuple[int, ...]) -> Callable[[jax.Array], jax.Array]:
    """i -> z_i (B, H, W, C): N(0, I) from fold_in(rng, i), or noise[i] of pre-drawn (N, B, ...)."""
    if noise is not None:
        return lambda i: noise[i].astype(jnp.float32)
    return lambda i: jax.random.normal(jax.random.fold_in(rng, i), shape, jnp.float32)


def make_ctx(denoise_fn: DenoiseFn, schedule: Schedule, grid: Grid,
             draw: Callable[[jax.Array], jax.Array], *, sampler: str, eta: float,
             prediction: str, clip_x0: bool, options: dict[str, Any]) -> Ctx:
    """The context a `sampler` step sees, its options checked and resolved."""
    opts = registry.resolve_options(sampler, eta, options)
    check_prediction(prediction)
    return Ctx(grid, denoise_fn, schedule, prediction, clip_x0, draw, opts)


def sample_loop(denoise_fn: DenoiseFn, schedule: Schedule, x_start: jax.Array,
                ts: np.ndarray | Grid, *, rng: jax.Array, sampler: str = "ddim",
                eta: float = 0.0, prediction: str = "eps", clip_x0: bool = True,
                noise: jax.Array | None = None, trajectory: bool = False,
                **options: Any) -> jax.Array | tuple[jax.Array, jax.Array]:
    """Runs `sampler` from x_start = x_{ts[0]} (B, H, W, C) to x_0 float32 (B, H, W, C).

    ts: descending int32 training steps (static numpy, e.g. from `timesteps`, or a suffix of
    it for SDEdit) or a `Grid` (`make_grid`). noise: optional per-step N(0, I) draws
    (N, B, H, W, C) used instead of rng (to compare with other implementations).
    trajectory=True also returns x after each step, (N, B, H, W, C).
    """
    entry = registry.get(sampler)
    grid = ts if isinstance(ts, Grid) else grid_from_timesteps(schedule, ts)
    x_start = x_start.astype(jnp.float32)
    ctx = make_ctx(denoise_fn, schedule, grid, noise_source(rng, noise, x_start.shape),
                   sampler=sampler, eta=eta, prediction=prediction, clip_x0=clip_x0,
                   options=options)

    def body(state, i):
        state = entry.step(ctx, i, state)
        return state, (state["x"] if trajectory else None)

    state, xs = jax.lax.scan(body, entry.init(ctx, x_start), jnp.arange(grid.steps))
    return (state["x"], xs) if trajectory else state["x"]


def sample(denoise_fn: DenoiseFn, schedule: Schedule, shape: tuple[int, ...], *,
           rng: jax.Array, sampler: str = "ddim", steps: int = 50, eta: float = 0.0,
           prediction: str = "eps", clip_x0: bool = True, spacing: str = DEFAULT_SPACING,
           x_T: jax.Array | None = None, **options: Any) -> jax.Array:
    """Draws x_T ~ N(0, I) of `shape` (B, H, W, C) (or starts from the given x_T) and denoises
    it in `steps` steps of `sampler` (one of SAMPLERS) on the `spacing` grid (grid.SPACINGS).

    denoise_fn(x_t (B,H,W,C), t (B,)) -> eps or v (B,H,W,C); t is int32 on integer grids and
    float32 on fractional ones ("karras", churn). eta is DDIM's; other sampler options
    (`options(sampler)`) are keywords. clip_x0=False gives the pure solver. `steps` must be a
    static Python int. Returns x_0 float32 (B, H, W, C).
    """
    registry.get(sampler)
    check_spacing(spacing)
    check_steps(steps, schedule.num_steps)
    registry.resolve_options(sampler, eta, options, steps)
    if x_T is not None and tuple(x_T.shape) != tuple(shape):
        raise ValueError(f"x_T has shape {tuple(x_T.shape)} but shape={tuple(shape)}; pass "
                         f"matching shapes")
    grid = make_grid(schedule, steps, spacing)
    rng_x, rng_loop = jax.random.split(rng)
    if x_T is None:
        x_T = jax.random.normal(rng_x, shape, jnp.float32)
    return sample_loop(denoise_fn, schedule, x_T, grid, rng=rng_loop, sampler=sampler, eta=eta,
                       prediction=prediction, clip_x0=clip_x0, **options)
