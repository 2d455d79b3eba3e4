"""DPM-Solver++(2M) and its SDE variant: multistep data-prediction solvers in log-SNR time.

With h_i = lambda_{i+1} - lambda_i, r_i = h_{i-1} / h_i and x0_hat_i = D(x_i):
  D_i = x0_hat_i + (x0_hat_i - x0_hat_{i-1}) / (2 r_i)               (Lu et al. 2022, Alg. 2)
  ODE: x_{i+1} = (sigma_{i+1} / sigma_i) x_i - alpha_{i+1} (e^{-h} - 1) D_i
  SDE: x_{i+1} = (sigma_{i+1} / sigma_i) e^{-h} x_i + alpha_{i+1} (1 - e^{-2h}) D_i
                 + sigma_{i+1} sqrt(1 - e^{-2h}) z_i
(the SDE is diffusers' algorithm_type="sde-dpmsolver++", solver_type="midpoint"). The first step
has no history and the last ends at sigma = 0 (h = inf), so both are first order (D_i =
x0_hat_i), as diffusers does with final_sigmas_type="zero": its lower_order_final rule for
< 15 steps then changes nothing for a 2nd-order solver. N steps cost N evaluations.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.diffusion.samplers.ancestral import one_per_step
from jaxgen.diffusion.samplers.base import Ctx, Sampler, State


def init(ctx: Ctx, x_T: jax.Array) -> State:
    return {"x": x_T, "x0_prev": jnp.zeros_like(x_T)}


def multistep_d(ctx: Ctx, i: jax.Array, x0_hat: jax.Array, x0_prev: jax.Array) -> jax.Array:
    """D_i of Lu et al. 2022 Algorithm 2; x0_hat itself at the first and last step."""
    lam = ctx.grid.lam
    r = (lam[i] - lam[i - 1]) / (lam[i + 1] - lam[i])                 # h_{i-1} / h_i
    first_order = (i == 0) | (i == ctx.grid.steps - 1)
    return jnp.where(first_order, x0_hat, x0_hat + 0.5 * (x0_hat - x0_prev) / r)


def dpmpp_2m(ctx: Ctx, i: jax.Array, state: State) -> State:
    g, x = ctx.grid, state["x"]
    x0_hat, _ = ctx.at(x, i)
    h = g.lam[i + 1] - g.lam[i]
    d = multistep_d(ctx, i, x0_hat, state["x0_prev"])
    x_next = (g.sigma[i + 1] / g.sigma[i]) * x - g.alpha[i + 1] * jnp.expm1(-h) * d
    return {"x": x_next, "x0_prev": x0_hat}


def dpmpp_2m_sde(ctx: Ctx, i: jax.Array, state: State) -> State:
    g, x = ctx.grid, state["x"]
    x0_hat, _ = ctx.at(x, i)
    h = g.lam[i + 1] - g.lam[i]
    d = multistep_d(ctx, i, x0_hat, state["x0_prev"])
    one_minus_e2h = -jnp.expm1(-2.0 * h)                              # 1 - e^{-2h}
    x_next = ((g.sigma[i + 1] / g.sigma[i]) * jnp.exp(-h) * x + g.alpha[i + 1] * one_minus_e2h * d
              + g.sigma[i + 1] * jnp.sqrt(one_minus_e2h) * ctx.draw(i))
    return {"x": x_next, "x0_prev": x0_hat}


DPMPP_2M = Sampler("dpmpp_2m", init, dpmpp_2m, one_per_step,
                   doc="DPM-Solver++(2M), Lu et al. 2022 Algorithm 2")
DPMPP_2M_SDE = Sampler("dpmpp_2m_sde", init, dpmpp_2m_sde, one_per_step,
                       doc="SDE-DPM-Solver++(2M), midpoint (diffusers' sde-dpmsolver++)")
