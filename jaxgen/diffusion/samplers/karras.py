"""Euler and Heun solvers of the probability-flow ODE in EDM's sigma space (Karras et al. 2022).

With x = x_t / alpha_t and sigma = sigma_vp (grid.py), the PF-ODE of a VP model is
dx/dsigma = (x - D(x; sigma)) / sigma (EDM eq. 3 with s(t) = 1, sigma(t) = t), D the denoiser
x0_hat. The scan carries the VP x_t (what the network takes); each step maps it to sigma space
and back. Optional stochastic churn is EDM Algorithm 2 lines 4-6: at sigma_i in [S_tmin, S_tmax],
gamma = min(S_churn / N, sqrt(2) - 1), sigma_hat = (1 + gamma) sigma_i and
x_hat = x + sqrt(sigma_hat^2 - sigma_i^2) S_noise z; D is then evaluated at sigma_hat (a
fractional timestep).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxgen.diffusion.samplers.ancestral import init_x, one_per_step
from jaxgen.diffusion.samplers.base import Ctx, Sampler, State
from jaxgen.diffusion.samplers.grid import at_sigma, t_of_sigma

CHURN = {"s_churn": 0.0, "s_tmin": 0.0, "s_tmax": math.inf, "s_noise": 1.0}  # EDM Alg. 2 S_*


def churned(ctx: Ctx, i: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(sigma_hat, x_hat, D(x_hat; sigma_hat)) for the sigma-space x (B, H, W, C) at step i."""
    g, o = ctx.grid, ctx.options
    if isinstance(o["s_churn"], (int, float)) and o["s_churn"] == 0:
        x0_hat, _ = ctx.at(x * g.alpha[i], i)                       # no churn: the grid point
        return g.sigma_vp[i], x, x0_hat
    sigma = g.sigma_vp[i]
    gamma = jnp.where((o["s_tmin"] <= sigma) & (sigma <= o["s_tmax"]),
                      jnp.minimum(o["s_churn"] / g.steps, math.sqrt(2.0) - 1.0), 0.0)
    sigma_hat = sigma * (1.0 + gamma)
    # sqrt(sigma_hat^2 - sigma^2), written so that it is exactly 0 (never sqrt of a rounding
    # error, which XLA's fused multiply-adds can make negative) when gamma = 0.
    x_hat = x + sigma * jnp.sqrt(gamma * (2.0 + gamma)) * o["s_noise"] * ctx.draw(i)
    churn = gamma > 0                                                  # else stay on the grid
    vp = at_sigma(sigma_hat)
    t_hat = jnp.where(churn, t_of_sigma(ctx.schedule, sigma_hat), g.t[i].astype(jnp.float32))
    alpha = jnp.where(churn, vp.alpha, g.alpha[i])
    x0_hat, _ = ctx.denoise(x_hat * alpha, t_hat, alpha, jnp.where(churn, vp.sigma, g.sigma[i]))
    return sigma_hat, x_hat, x0_hat


def euler(ctx: Ctx, i: jax.Array, state: State) -> State:
    """EDM Algorithm 2 without the correction (lines 4-8)."""
    g = ctx.grid
    sigma_hat, x_hat, x0_hat = churned(ctx, i, state["x"] / g.alpha[i])
    d = (x_hat - x0_hat) / sigma_hat                                   # dx/dsigma, eq. 3
    x_next = x_hat + (g.sigma_vp[i + 1] - sigma_hat) * d
    return {"x": x_next * g.alpha[i + 1]}


def heun(ctx: Ctx, i: jax.Array, state: State) -> State:
    """EDM Algorithm 2 (Algorithm 1 when S_churn = 0): an Euler step, then the trapezoidal
    correction (lines 9-11) unless sigma_{i+1} = 0, so N steps cost 2N - 1 evaluations."""
    g = ctx.grid
    sigma_hat, x_hat, x0_hat = churned(ctx, i, state["x"] / g.alpha[i])
    d = (x_hat - x0_hat) / sigma_hat
    sigma_next = g.sigma_vp[i + 1]
    x_next = x_hat + (sigma_next - sigma_hat) * d

    def correct(x_next):
        x0_next, _ = ctx.at(x_next * g.alpha[i + 1], i + 1)
        d_next = (x_next - x0_next) / sigma_next
        return x_hat + (sigma_next - sigma_hat) * 0.5 * (d + d_next)

    x_next = jax.lax.cond(i < g.steps - 1, correct, lambda x: x, x_next)
    return {"x": x_next * g.alpha[i + 1]}


EULER = Sampler("euler", init_x, euler, one_per_step, CHURN,
                doc="Euler on the PF-ODE in sigma space (Karras et al. 2022), optional churn")
HEUN = Sampler("heun", init_x, heun, lambda steps: 2 * steps - 1, CHURN,
               doc="Heun 2nd order, EDM Algorithm 1/2 (Karras et al. 2022); last step Euler")
