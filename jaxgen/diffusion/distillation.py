"""Progressive distillation (Salimans & Ho 2022, Algorithm 2): one student DDIM step learns two
deterministic DDIM steps of its teacher, on the nested "trailing_exact" grids.

Notation as in the paper, discretised: z_t = alpha_t x + sigma_t eps, the student at N steps
evaluates the N-grid t_i = T i / N - 1 (i = N..1), the teacher the 2N-grid, whose even points
are the N-grid; t' = the midpoint, t'' = the next N-grid point (x_0 after the last one).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.diffusion.losses import DenoiseFn
from jaxgen.diffusion.samplers.base import denoise_at
from jaxgen.diffusion.samplers.grid import at_t, exact_timesteps
from jaxgen.diffusion.schedules import Schedule


def ddim_to(denoise_fn: DenoiseFn, z: jax.Array, t: jax.Array, a_t: jax.Array, s_t: jax.Array,
            a_s: jax.Array, s_s: jax.Array, *, prediction: str, clip_x0: bool) -> jax.Array:
    """One deterministic DDIM step z_t -> z_s (Song et al. 2021 eq. 12, eta = 0):
    z_s = alpha_s x0_hat + sigma_s eps_hat. z (B, H, W, C); t (B,); coefficients broadcast."""
    x0_hat, eps_hat = denoise_at(denoise_fn, z, t, a_t, s_t, prediction=prediction,
                                 clip_x0=clip_x0)
    return a_s * x0_hat + s_s * eps_hat


def distill_target(teacher_fn: DenoiseFn, z_t: jax.Array, t: jax.Array, t_mid: jax.Array,
                   alpha: tuple, sigma: tuple, *, prediction: str,
                   clip_x0: bool = True) -> jax.Array:
    """Salimans & Ho 2022 Algorithm 2: the x-target x~ that makes ONE student DDIM step from t
    land where TWO teacher DDIM steps t -> t' -> t'' land:

        z_t'' = DDIM(DDIM(z_t, t -> t'), t' -> t'')
        x~ = (z_t'' - (sigma_t'' / sigma_t) z_t) / (alpha_t'' - (sigma_t'' / sigma_t) alpha_t)

    z_t (B, H, W, C); t, t_mid (B,) timesteps t, t'; alpha = (alpha_t, alpha_t', alpha_t''),
    sigma likewise, each (B, 1, 1, 1) (t'' = x_0: alpha 1, sigma 0, and x~ = z_t''). The teacher
    predicts `prediction` ("eps" or "v"); clip_x0 as in its sampler. Returns x~ (B, H, W, C).
    """
    (a, a1, a2), (s, s1, s2) = alpha, sigma
    step = dict(prediction=prediction, clip_x0=clip_x0)
    z_mid = ddim_to(teacher_fn, z_t, t, a, s, a1, s1, **step)
    z_end = ddim_to(teacher_fn, z_mid, t_mid, a1, s1, a2, s2, **step)
    ratio = s2 / s
    return (z_end - ratio * z_t) / (a2 - ratio * a)


def truncated_snr(alpha: jax.Array, sigma: jax.Array) -> jax.Array:
    """The "truncated SNR" loss weight max(alpha^2 / sigma^2, 1) (Salimans & Ho 2022 sec. 4)."""
    return jnp.maximum(jnp.square(alpha / sigma), 1.0)


class RoundGrids(NamedTuple):
    """The teacher's 2N_r-step "trailing_exact" grid of every round r, padded to one shape so a
    traced round index can pick a row. R rounds, S = start_steps."""
    steps: jax.Array   # (R,) int32 N_r, the student's steps in round r
    t: jax.Array       # (R, 2S) float32 the 2N_r timesteps, descending
    alpha: jax.Array   # (R, 2S + 1) float32 alpha at them, then 1 (x_0)
    sigma: jax.Array   # (R, 2S + 1) float32 sigma at them, then 0 (x_0)


def round_steps(start_steps: int, final_steps: int) -> list[int]:
    """N_r = start_steps / 2^r down to final_steps, e.g. 64, 32, 16, 8, 4."""
    steps = [start_steps]
    while steps[-1] > final_steps and steps[-1] % 2 == 0:
        steps.append(steps[-1] // 2)
    if steps[-1] != final_steps:
        raise ValueError(f"distill.start_steps={start_steps} does not halve to "
                         f"distill.final_steps={final_steps}; pick final_steps = start_steps / "
                         f"2^k, e.g. start_steps=64, final_steps=4")
    return steps


def round_grids(schedule: Schedule, start_steps: int, final_steps: int) -> RoundGrids:
    """RoundGrids of the 2N_r-step "trailing_exact" grids (`exact_timesteps`, coefficients from
    `at_t`, as `make_grid` builds the grid `sample.py` uses); the student's N_r points are the
    even entries. One `at_t` call for all rounds; entries from 2N_r on are x_0."""
    steps = np.asarray(round_steps(start_steps, final_steps))
    width = 2 * start_steps + 1
    ts = np.stack([np.pad(exact_timesteps(schedule.num_steps, 2 * n), (0, width - 2 * n),
                          mode="edge") for n in steps])                      # (R, 2S + 1)
    vp = at_t(schedule, ts)
    clean = np.arange(width)[None, :] >= 2 * steps[:, None]                  # (R, 2S + 1)
    return RoundGrids(jnp.asarray(steps, jnp.int32), jnp.asarray(ts[:, :-1]),
                      jnp.where(clean, 1.0, vp.alpha), jnp.where(clean, 0.0, vp.sigma))


def draw_points(grids: RoundGrids, r: jax.Array, key: jax.Array):
    """One example's i ~ U{1..N_r} as (t, t') and the coefficients at (t, t', t''): the 2N-grid
    entries k = 2 (N - i), k + 1, k + 2. Scalars, float32."""
    n = grids.steps[r]
    i = jax.random.randint(key, (), 1, n + 1)
    k = 2 * (n - i)
    ts = grids.t[r, k], grids.t[r, k + 1]
    alpha = tuple(grids.alpha[r, k + d] for d in range(3))
    sigma = tuple(grids.sigma[r, k + d] for d in range(3))
    return ts, alpha, sigma


def distill_loss(student_fn: DenoiseFn, teacher_fn: DenoiseFn, x: jax.Array, eps: jax.Array,
                 ts: tuple, alpha: tuple, sigma: tuple, *, teacher_prediction: str,
                 clip_x0: bool = True) -> jax.Array:
    """Per-example loss of Algorithm 2, float32 (B,): max(SNR_t, 1) ||x~ - x_hat(z_t)||^2 (mean
    over H, W, C), the student predicting v (x_hat = alpha_t z_t - sigma_t v_hat).

    x, eps (B, H, W, C); ts = (t, t') (B,) each; alpha, sigma = 3-tuples (B, 1, 1, 1) at
    (t, t', t''). The target is not differentiated.
    """
    (a, s), (t, t_mid) = (alpha[0], sigma[0]), ts
    z_t = a * x + s * eps
    target = jax.lax.stop_gradient(distill_target(
        teacher_fn, z_t, t, t_mid, alpha, sigma, prediction=teacher_prediction,
        clip_x0=clip_x0))
    x_hat = a * z_t - s * student_fn(z_t, t).astype(jnp.float32)
    sq = jnp.mean(jnp.square(target - x_hat), axis=tuple(range(1, x.ndim)))   # (B,)
    return truncated_snr(a, s).reshape(-1) * sq
