"""img2img by SDEdit (Meng et al. 2021, Algorithm 1): noise an image part-way and denoise it.

The input x_0 is forward-noised to the grid step t_k nearest strength * T (T the schedule's
training steps), x_{t_k} = alpha_k x_0 + sigma_k eps (Ho et al. 2020 eq. 4), and any sampler of
the registry runs the remaining N - k steps of its grid. strength = 0 returns the input;
strength = 1 starts from pure noise on the whole grid, which is plain sampling (the same draws
as `sample` with the same rng).
"""
from __future__ import annotations

import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.diffusion.losses import DenoiseFn
from jaxgen.diffusion.samplers import registry
from jaxgen.diffusion.samplers.grid import (DEFAULT_SPACING, INTEGER_SPACINGS, Grid,
                                            check_spacing, check_steps, exact_timesteps,
                                            make_grid, timesteps)
from jaxgen.diffusion.samplers.loop import sample_loop
from jaxgen.diffusion.schedules import Schedule


def check_strength(strength: float) -> float:
    if not (isinstance(strength, numbers.Real) and not isinstance(strength, bool)
            and 0.0 <= strength <= 1.0):
        raise ValueError(f"strength={strength!r} must be a number in [0, 1] (0 returns the "
                         f"input, 1 ignores it); pass e.g. --strength=0.6")
    return float(strength)


def start_index(grid_t: np.ndarray, strength: float, num_train_steps: int) -> int:
    """k in [0, N]: the grid step whose timestep is nearest strength * T (the noisier on a
    tie); N (no step) for strength 0. grid_t: the grid's N descending timesteps."""
    if strength == 0.0:
        return len(grid_t)
    return int(np.argmin(np.abs(np.asarray(grid_t, np.float64) - strength * num_train_steps)))


def suffix(grid: Grid, k: int) -> Grid:
    """The grid's steps k..N-1 (and its end point)."""
    return Grid(*(a[k:] for a in grid))


def grid_timesteps(schedule: Schedule, steps: int, spacing: str = DEFAULT_SPACING) -> np.ndarray:
    """The N descending timesteps of `make_grid(schedule, steps, spacing)` as numpy, computed
    on the host even under `jit` (the schedule must be concrete: closed over, not an argument)."""
    check_spacing(spacing)
    if spacing in INTEGER_SPACINGS:
        return timesteps(schedule.num_steps, steps, spacing)
    if spacing == "trailing_exact":
        return exact_timesteps(schedule.num_steps, steps)
    with jax.ensure_compile_time_eval():
        return np.asarray(make_grid(schedule, steps, spacing).t)


def start_step(schedule: Schedule, strength: float, steps: int,
               spacing: str = DEFAULT_SPACING) -> tuple[int, float | None]:
    """(k, t_k): where SDEdit at `strength` starts on the grid (k = N, t None: no step)."""
    check_steps(steps, schedule.num_steps)
    ts = grid_timesteps(schedule, steps, spacing)
    k = start_index(ts, check_strength(strength), schedule.num_steps)
    return k, (float(ts[k]) if k < steps else None)


def sdedit(denoise_fn: DenoiseFn, schedule: Schedule, x0: jax.Array, *, rng: jax.Array,
           strength: float, sampler: str = "ddim", steps: int = 50, eta: float = 0.0,
           prediction: str = "eps", clip_x0: bool = True, spacing: str = DEFAULT_SPACING,
           **options: Any) -> jax.Array:
    """Edits x0 (B, H, W, C) in [-1, 1] at `strength` in [0, 1] (static): float32 (B, H, W, C).

    Runs N - k steps of `sampler` on the `steps`-step `spacing` grid (`start_step`); the other
    arguments are `sample`'s. The schedule must be concrete (closed over, not a jit argument).
    """
    registry.get(sampler)
    registry.resolve_options(sampler, eta, options, steps)
    k, _ = start_step(schedule, strength, steps, spacing)
    x0 = jnp.asarray(x0, jnp.float32)
    if k == steps:
        return x0
    grid = make_grid(schedule, steps, spacing)
    rng_x, rng_loop = jax.random.split(rng)
    eps = jax.random.normal(rng_x, x0.shape, jnp.float32)
    x_start = eps if strength == 1.0 else grid.alpha[k] * x0 + grid.sigma[k] * eps
    return sample_loop(denoise_fn, schedule, x_start, suffix(grid, k), rng=rng_loop,
                       sampler=sampler, eta=eta, prediction=prediction, clip_x0=clip_x0,
                       **options)
