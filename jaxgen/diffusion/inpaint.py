"""Training-free inpainting by RePaint (Lugmayr et al. 2022) on any trained denoiser.

Levels n = 0..N index the sampler's grid (n = 0: x_T, pure noise; n = N: x_0). Each step
n -> n + 1 runs the sampler on the whole image and then puts back the known region forward-
noised to the new level, x_known = alpha_{n+1} x_0 + sigma_{n+1} eps (Algorithm 1, lines
5-8), so at n = N the known pixels are x_0 exactly. Resampling (sec. 4.2) jumps back
`jump_length` levels with q(x_{n-j} | x_n) = N(sqrt(ab_{n-j} / ab_n) x_n, (1 - ab_{n-j} / ab_n) I)
and denoises them again, `resample` - 1 times, at r = j, 2j, ... <= N - j levels before the end
(jump_length = 1 is Algorithm 1's U-fold resampling at every step; resample = 1 is plain
sampling with the known region replaced). Every step and jump draws fresh noise from
fold_in(rng, position in the schedule), so a revisited level never reuses a key.

Samplers: those whose state is the current x alone (`REPAINT_SAMPLERS`); multistep solvers keep
a history that a jump back invalidates.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.diffusion.losses import DenoiseFn
from jaxgen.diffusion.samplers import registry
from jaxgen.diffusion.samplers.base import Ctx
from jaxgen.diffusion.samplers.grid import DEFAULT_SPACING, make_grid
from jaxgen.diffusion.samplers.loop import make_ctx
from jaxgen.diffusion.schedules import Schedule

REPAINT_SAMPLERS = ("ddpm", "ddim", "euler", "heun")


def check_repaint(sampler: str, jump_length: int, resample: int) -> None:
    registry.get(sampler)
    if sampler not in REPAINT_SAMPLERS:
        raise ValueError(f"inpainting runs with sampler {list(REPAINT_SAMPLERS)}, not "
                         f"{sampler!r} (a multistep solver's history does not survive "
                         f"RePaint's jumps back); pass e.g. --sampler=ddpm")
    for name, value in (("jump_length", jump_length), ("resample", resample)):
        if not (isinstance(value, (int, np.integer)) and value >= 1):
            raise ValueError(f"{name}={value!r} must be an integer >= 1 (RePaint's defaults "
                             f"are jump_length=10, resample=10; resample=1 does no resampling)")


def repaint_schedule(steps: int, jump_length: int, resample: int) -> np.ndarray:
    """The RePaint walk over levels as int32 (K, 2) rows (n_from, n_to): n_to = n_from + 1 is
    a denoising step, n_to = n_from - jump_length a jump back. Denoising steps: N + (resample
    - 1) * jump_length * (number of jump points r = j, 2j, ... <= N - j)."""
    ops, n = [], 0
    jumps_left = {steps - r: resample - 1 for r in range(jump_length, steps - jump_length + 1,
                                                         jump_length)}
    while n < steps:
        ops.append((n, n + 1))
        n += 1
        if jumps_left.get(n, 0) > 0:
            jumps_left[n] -= 1
            ops.append((n, n - jump_length))
            n -= jump_length
    return np.asarray(ops, np.int32).reshape(-1, 2)


def repaint_nfe(sampler: str, steps: int, jump_length: int, resample: int) -> int:
    """Denoiser evaluations of `repaint` (Heun: 2 per step, 1 on the last)."""
    ops = repaint_schedule(steps, jump_length, resample)
    down = ops[ops[:, 1] > ops[:, 0]]
    per_step = 2 if sampler == "heun" else 1
    return int(per_step * len(down) - (sampler == "heun") * np.sum(down[:, 1] == steps))


def _merge(x_gen, x0, fill, alpha, sigma, key):
    """Generated pixels where `fill`, the known ones noised to (alpha, sigma) elsewhere."""
    known = alpha * x0 + sigma * jax.random.normal(key, x0.shape, jnp.float32)
    return jnp.where(fill, x_gen, known)


def _walk(ctx: Ctx, step, x0: jax.Array, fill: jax.Array, rng: jax.Array, ops: np.ndarray):
    """Runs the walk from x_T; returns x at level N (B, H, W, C)."""
    g = ctx.grid

    def down(x, n, key):
        k_step, k_known = jax.random.split(key)
        draw = lambda i: jax.random.normal(k_step, x.shape, jnp.float32)  # noqa: E731
        x_gen = step(dataclasses.replace(ctx, draw=draw), n, {"x": x})["x"]
        return _merge(x_gen, x0, fill, g.alpha[n + 1], g.sigma[n + 1], k_known)

    def up(x, n_from, n_to, key):
        ratio = g.alpha_bar[n_to] / g.alpha_bar[n_from]      # ab_{n-j} / ab_n: forward noising
        return jnp.sqrt(ratio) * x + jnp.sqrt(1.0 - ratio) * jax.random.normal(key, x.shape)

    def body(x, op):
        s, n_from, n_to = op[0], op[1], op[2]
        key = jax.random.fold_in(rng, s)
        x = jax.lax.cond(n_to > n_from, lambda x: down(x, n_from, key),
                         lambda x: up(x, n_from, n_to, key), x)
        return x, None

    rows = np.concatenate([np.arange(len(ops), dtype=np.int32)[:, None], ops], axis=1)
    x_T = jax.random.normal(jax.random.fold_in(rng, len(ops)), x0.shape, jnp.float32)
    return jax.lax.scan(body, x_T, jnp.asarray(rows))[0]


def repaint(denoise_fn: DenoiseFn, schedule: Schedule, x0: jax.Array, fill: jax.Array, *,
            rng: jax.Array, sampler: str = "ddpm", steps: int = 50, jump_length: int = 10,
            resample: int = 10, eta: float = 0.0, prediction: str = "eps",
            clip_x0: bool = True, spacing: str = DEFAULT_SPACING,
            **options: Any) -> jax.Array:
    """Inpaints x0 (B, H, W, C) in [-1, 1] where `fill` (bool, broadcasting to x0: (B or 1,
    H, W, 1 or C)) is True; float32 (B, H, W, C), equal to x0 exactly where fill is False.

    steps / spacing / sampler options as in `sample`; jump_length, resample static ints.
    """
    check_repaint(sampler, jump_length, resample)
    grid = make_grid(schedule, steps, spacing)
    x0 = jnp.asarray(x0, jnp.float32)
    ctx = make_ctx(denoise_fn, schedule, grid, None, sampler=sampler, eta=eta,
                   prediction=prediction, clip_x0=clip_x0, options=options)
    fill = jnp.broadcast_to(jnp.asarray(fill, bool), x0.shape)
    ops = repaint_schedule(steps, jump_length, resample)
    return _walk(ctx, registry.get(sampler).step, x0, fill, rng, ops)
