"""UniPC (Zhao et al. 2023): the multistep unified predictor (UniP) and corrector (UniC) in
data-prediction form, B(h) = e^{-h} - 1 ("bh2") or -h ("bh1"), as diffusers'
UniPCMultistepScheduler (predict_x0=True, final_sigmas_type="zero").

With m_j = x0_hat(x_j), lambda the log-SNR, a step from grid point s to t has h = lambda_t -
lambda_s, r_k = (lambda_{s-k} - lambda_s) / h and (Algorithm 2 / eq. 9, data prediction)
  x_t = (sigma_t / sigma_s) x_s - alpha_t (e^{-h} - 1) m_s - alpha_t B(h) sum_k rho_k D_k,
  D_k = (m_{s-k} - m_s) / r_k,
where rho solves sum_k rho_k r_k^{n-1} = b_n = phi_{n+1}(-h) n! / B(h) (n = 1..p, the Vandermonde
system of Theorem 3.1). UniP-p uses the p - 1 nodes r_1..r_{p-1}; UniC-p adds the node r = 1 with
D = m_t - m_s, m_t the model evaluated at the predicted x_t, which the next predictor reuses: the
corrected x_t never sees the model again, so N steps cost N evaluations. A single node takes
rho = 1/2 (UniP-2, UniC-1), as diffusers does; UniP-2 with bh2 is then DPM-Solver++(2M).
Orders warm up (step i uses at most i + 1) and, with lower_order_final, fall to N - i in the
last steps; the last step ends at sigma = 0 (h = inf) and is always first order (m_s itself).
"""
from __future__ import annotations

import functools
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.diffusion.samplers.ancestral import one_per_step
from jaxgen.diffusion.samplers.base import Ctx, Sampler, State

SOLVER_TYPES = ("bh2", "bh1")
ORDERS = (1, 2, 3)
OPTIONS = {"order": 2, "solver_type": "bh2", "lower_order_final": True}


def check(options: Mapping[str, Any], steps: int | None) -> None:
    """Static option values: order in ORDERS (and <= steps, when given), solver_type in
    SOLVER_TYPES, lower_order_final a bool."""
    order, solver_type = options["order"], options["solver_type"]
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order not in ORDERS:
        raise ValueError(f"unipc order={order!r} is not supported; choose one of {list(ORDERS)}")
    if not isinstance(options["lower_order_final"], bool):
        raise ValueError(f"unipc lower_order_final={options['lower_order_final']!r} must be "
                         f"True or False")
    if steps is not None and steps < order:
        raise ValueError(f"unipc order={order} needs steps >= {order}, got steps={steps}; pass "
                         f"more steps or order={steps}")
    if solver_type not in SOLVER_TYPES:
        raise ValueError(f"unknown unipc solver_type={solver_type!r}; choose one of "
                         f"{list(SOLVER_TYPES)}")


def b_vector(h: jax.Array, n: int, solver_type: str) -> tuple[jax.Array, jax.Array]:
    """(B(h), b (n,)) with b_k = phi_{k+1}(-h) k! / B(h), the recursion diffusers uses:
    h phi_1 = e^{-h} - 1, phi_{k+1} = (phi_k - 1 / k!) / (-h) (Zhao et al. 2023, eq. 5)."""
    hh = -h
    B = jnp.expm1(hh) if solver_type == "bh2" else hh
    phi, fact, b = jnp.expm1(hh) / hh - 1.0, 1.0, []
    for k in range(1, n + 1):
        b.append(phi * fact / B)
        fact *= k + 1
        phi = phi / hh - 1.0 / fact
    return B, jnp.stack(b)


def weights(h: jax.Array, r: jax.Array, *, p: int, corrector: bool, solver_type: str,
            size: int) -> jax.Array:
    """Coefficients c (size,) of the differences in x_t = x_lin - alpha_t sum_k c_k d_k, with
    d_k = m_{s-k} - m_s for k = 1..size-1 and, for UniC, d_size = m_t - m_s (c = B rho / r).
    r (size - 1,) are the history nodes; p the (static) order. Zeros for UniP-1."""
    n = p if corrector else p - 1                                  # nodes in the system
    c = jnp.zeros((size,), jnp.float32)
    if n == 0:
        return c
    nodes = jnp.append(r[:n - 1], 1.0) if corrector else r[:n]     # (n,)
    B, b = b_vector(h, n, solver_type)
    if n == 1:
        rho = jnp.full((1,), 0.5)
    else:
        rho = jnp.linalg.solve(jnp.vander(nodes, increasing=True).T, b)   # R rho = b
    coef = B * rho / nodes                                         # (n,)
    if corrector:
        return c.at[:n - 1].set(coef[:-1]).at[-1].set(coef[-1])
    return c.at[:n].set(coef)


def bh_update(ctx: Ctx, s: jax.Array, x: jax.Array, m_s: jax.Array, diffs: jax.Array,
              p: jax.Array, *, corrector: bool) -> jax.Array:
    """x at grid point s + 1 (B, H, W, C) from x and m_s at s; diffs (size, B, H, W, C) the d_k
    of `weights`; p the traced order, picked among the static ones by lax.switch."""
    g, o = ctx.grid, ctx.options
    h = g.lam[s + 1] - g.lam[s]
    size = diffs.shape[0]
    lam_hist = g.lam[jnp.maximum(s - jnp.arange(1, size), 0)]      # (size - 1,)
    r = (lam_hist - g.lam[s]) / h
    branches = [functools.partial(weights, p=q, corrector=corrector,
                                  solver_type=o["solver_type"], size=size)
                for q in range(1, o["order"] + 1)]
    c = jax.lax.switch(p - 1, branches, h, r)                      # (size,)
    x_lin = (g.sigma[s + 1] / g.sigma[s]) * x - g.alpha[s + 1] * jnp.expm1(-h) * m_s
    return x_lin - g.alpha[s + 1] * jnp.tensordot(c, diffs, axes=1)


def order_at(ctx: Ctx, i: jax.Array) -> jax.Array:
    """UniP's order at step i: warm-up min(order, i + 1); lower_order_final caps it at N - i;
    the last step (to sigma = 0) is first order."""
    n, o = ctx.grid.steps, ctx.options
    p = jnp.minimum(o["order"], i + 1)
    if o["lower_order_final"]:
        p = jnp.minimum(p, n - i)
    return jnp.where(i == n - 1, 1, p)


def init(ctx: Ctx, x_T: jax.Array) -> State:
    """x: the predicted x_i; x_prev: the corrected x_{i-1}; m: (order, B, H, W, C) the model
    outputs m_{i-1}, m_{i-2}, ..."""
    m = jnp.zeros((ctx.options["order"], *x_T.shape), jnp.float32)
    return {"x": x_T, "x_prev": x_T, "m": m}


def unipc(ctx: Ctx, i: jax.Array, state: State) -> State:
    """UniC on x_i (with the model output m_i at the predicted x_i), then UniP to x_{i+1}."""
    x, m = state["x"], state["m"]                                  # m: (K, B, H, W, C)
    m_i, _ = ctx.at(x, i)
    s = jnp.maximum(i - 1, 0)
    corrected = bh_update(ctx, s, state["x_prev"], m[0],
                          jnp.concatenate([m[1:] - m[0], (m_i - m[0])[None]]),
                          order_at(ctx, s), corrector=True)
    x = jnp.where(i > 0, corrected, x)
    diffs = jnp.concatenate([m[:-1] - m_i, jnp.zeros_like(m_i)[None]])
    x_next = bh_update(ctx, i, x, m_i, diffs, order_at(ctx, i), corrector=False)
    return {"x": x_next, "x_prev": x, "m": jnp.concatenate([m_i[None], m[:-1]])}


UNIPC = Sampler("unipc", init, unipc, one_per_step, OPTIONS, check=check,
                doc="UniPC multistep predictor-corrector, Zhao et al. 2023 (bh2, order 2)")
