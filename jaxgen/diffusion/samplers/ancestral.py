"""DDPM (ancestral) and DDIM samplers in VP space, on any grid (alpha_bar = 1 after the last
step, so the final update lands on x0_hat)."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.diffusion.samplers.base import Ctx, Sampler, State


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


def init_x(ctx: Ctx, x_T: jax.Array) -> State:
    return {"x": x_T}


def ddim(ctx: Ctx, i: jax.Array, state: State) -> State:
    x0_hat, eps_hat = ctx.at(state["x"], i)
    ab, eta = ctx.grid.alpha_bar, ctx.options["eta"]
    deterministic = isinstance(eta, (int, float)) and eta == 0   # sigma z = 0: skip the draw
    z = jnp.zeros((), jnp.float32) if deterministic else ctx.draw(i)
    return {"x": ddim_step(x0_hat, eps_hat, ab[i], ab[i + 1], eta=eta, noise=z)}


def ddpm(ctx: Ctx, i: jax.Array, state: State) -> State:
    x0_hat, _ = ctx.at(state["x"], i)
    ab = ctx.grid.alpha_bar
    return {"x": ddpm_step(state["x"], x0_hat, ab[i], ab[i + 1], noise=ctx.draw(i))}


def one_per_step(steps: int) -> int:
    return steps


DDPM = Sampler("ddpm", init_x, ddpm, one_per_step,
               doc="ancestral DDPM, Ho et al. 2020 Algorithm 2 (respaced betas on a sub-grid)")
DDIM = Sampler("ddim", init_x, ddim, one_per_step, {"eta": 0.0},
               doc="DDIM, Song et al. 2021 eq. 12; eta = 0 deterministic, 1 the DDPM posterior")
