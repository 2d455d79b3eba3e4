"""optax optimisers, the one update helper and the EMA convention of every family.

EMA convention: a family whose `optim.ema_decay` > 0 keeps an exponential moving average of
its (generator) parameters in the state, updates it with `ema_update` at the end of each step,
and samples from it unless asked for the raw parameters (`use_ema=False`).

On CPU, with jaxgen's kernels built (`make onednn`) and float32 parameters, the AdamW step, the
EMA and the gradients' global norm each run as one native call over all the parameters
(`jaxgen.kernels.optimizer`): the same arithmetic as optax's, compiled in no time instead of
~6 XLA fusions per parameter array. The optimiser state is optax's either way, so a run
resumes on either path.
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxgen.kernels import optimizer as native_optimizer

EPS, EPS_ROOT = 1e-8, 0.0   # optax.adamw's defaults


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


class FusedAdamW(NamedTuple):
    """An optax.GradientTransformation (`init`, `update`: optax's chain(clip_by_global_norm,
    adamw)) with `apply(grads, opt_state, params)`: the whole step, update and apply_updates,
    as one native call; it returns (params, opt_state), or None where the native calls do not
    apply (`jaxgen.kernels.optimizer.native`). `apply_gradients` uses it."""
    init: Callable
    update: Callable
    apply: Callable


def make_optimizer(cfg, total_steps: int) -> tuple[FusedAdamW, optax.Schedule]:
    """AdamW with global-norm clipping (`cfg.grad_clip` <= 0 disables it) and the schedule."""
    schedule = learning_rate(cfg, total_steps)
    parts = [optax.clip_by_global_norm(cfg.grad_clip)] if cfg.grad_clip > 0 else []
    parts.append(optax.adamw(schedule, b1=cfg.b1, b2=cfg.b2, eps=EPS, eps_root=EPS_ROOT,
                             weight_decay=cfg.weight_decay))
    reference = optax.chain(*parts)
    apply = functools.partial(_fused_apply, schedule=schedule, max_norm=cfg.grad_clip,
                              b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay)
    return FusedAdamW(reference.init, reference.update, apply), schedule


def _fused_apply(grads, opt_state, params, *, schedule, max_norm, b1, b2, weight_decay):
    """FusedAdamW.apply. opt_state is optax's: (clip's empty state,)? + ((ScaleByAdamState,
    weight decay's empty state, ScaleByScheduleState),)."""
    adam, decay_state, lr_state = opt_state[-1]
    if not native_optimizer.native(grads, params, adam.mu, adam.nu):
        return None
    count = optax.safe_increment(adam.count)
    clip = max_norm > 0
    scalars = dict(grad_norm=global_norm(grads) if clip else 0.0, max_norm=max_norm,
                   one_minus_b1=1 - b1, b1=b1, one_minus_b2=1 - b2, b2=b2,
                   correction1=1 - b1 ** count, correction2=1 - b2 ** count,
                   eps_root=EPS_ROOT, eps=EPS, weight_decay=weight_decay,
                   step_size=-schedule(lr_state.count))
    mu, nu, params = native_optimizer.adamw(grads, adam.mu, adam.nu, params, scalars, clip=clip)
    adamw_state = (adam._replace(count=count, mu=mu, nu=nu), decay_state,
                   lr_state._replace(count=optax.safe_increment(lr_state.count)))
    return params, (*opt_state[:-1], adamw_state)


def global_norm(tree) -> jax.Array:
    """`optax.tree.norm(tree)`: one native call where `jaxgen.kernels.optimizer.native`."""
    if native_optimizer.native(tree):
        return native_optimizer.global_norm(tree)
    return optax.tree.norm(tree)


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
    if native_optimizer.native(ema_params, params):
        return native_optimizer.ema(ema_params, params, d)
    return jax.tree.map(lambda e, p: d * e + (1.0 - d) * p, ema_params, params)


def apply_gradients(tx: optax.GradientTransformation, grads, opt_state, params):
    """One optimiser update: (params, opt_state) -> (new params, new opt_state). A
    `FusedAdamW` runs its native `apply` where it can."""
    fused = tx.apply(grads, opt_state, params) if isinstance(tx, FusedAdamW) else None
    if fused is not None:
        return fused
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state
