"""optax optimisers, the one update helper and the EMA convention of every family.

EMA convention: a family whose `optim.ema_decay` > 0 keeps an exponential moving average of
its (generator) parameters in the state, updates it with `ema_update` at the end of each step,
and samples from it unless asked for the raw parameters (`use_ema=False`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def learning_rate(cfg, total_steps: int) -> optax.Schedule:
    """Linear warm-up to `cfg.lr`, then cosine (or constant) decay to `lr * min_lr_ratio`."""
    warmup = min(cfg.warmup_steps, max(total_steps - 1, 0))
    if cfg.decay == "constant":
        return optax.join_schedules(
            [optax.linear_schedule(0.0, cfg.lr, max(warmup, 1)), optax.constant_schedule(cfg.lr)],
            [warmup])
    if cfg.decay != "cosine":
        raise ValueError(f"optim.decay={cfg.decay!r} is not known; use 'cosine' or 'constant'")
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=cfg.lr, warmup_steps=warmup,
        decay_steps=max(total_steps, warmup + 1), end_value=cfg.lr * cfg.min_lr_ratio)


def make_optimizer(cfg, total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """AdamW with global-norm clipping (`cfg.grad_clip` <= 0 disables it) and the schedule."""
    schedule = learning_rate(cfg, total_steps)
    parts = [optax.clip_by_global_norm(cfg.grad_clip)] if cfg.grad_clip > 0 else []
    parts.append(optax.adamw(schedule, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay))
    return optax.chain(*parts), schedule


def freeze_groups(tx: optax.GradientTransformation, frozen: tuple[str, ...]):
    """`tx` for every top-level parameter group except those named in `frozen`, whose updates
    are zero (optax.set_to_zero through multi_transform: no optimiser moments kept for them)."""
    if not frozen:
        return tx

    def labels(params):
        return {k: jax.tree.map(lambda _, k=k: "frozen" if k in frozen else "train", v)
                for k, v in params.items()}
    return optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)


def ema_update(ema_params, params, step, decay: float):
    """ema <- d * ema + (1 - d) * params, with d warmed up as min(decay, (1+step)/(10+step))."""
    step = jnp.asarray(step, jnp.float32)
    d = jnp.minimum(decay, (1.0 + step) / (10.0 + step))
    return jax.tree.map(lambda e, p: d * e + (1.0 - d) * p, ema_params, params)


def apply_gradients(tx: optax.GradientTransformation, grads, opt_state, params):
    """One optimiser update: (params, opt_state) -> (new params, new opt_state)."""
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state
