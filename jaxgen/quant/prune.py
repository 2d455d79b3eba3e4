"""Global magnitude pruning (unstructured) on the shared training loop.

`config.prune` (every config has it; sparsity 0 and no init_from leave the family untouched):

    sparsity          final fraction s_f of the pruned weights that are zero, in [0, 1)
    initial_sparsity  s_i at start_step (default 0)
    start_step, end_step, every
                      the schedule of Zhu & Gupta 2017 ("To prune, or not to prune", eq. 1):
                      s_t = s_f + (s_i - s_f) (1 - (t - t_0) / (t_1 - t_0))^power
                      at t = t_0, t_0 + every, ..., t_1 (and t_1 itself); the mask is fixed after
    power             3 in the paper (cubic: prunes fast while the weights are redundant)
    include           regex over leaf paths ("params/down_0/conv/kernel") of the weights to
                      prune; default every conv / dense kernel of the sampled network
    init_from         a trained workdir (or WORKDIR/checkpoints/STEP) whose parameters, EMA and
                      statistics start the run, instead of `config.seed`'s initialisation

The binary masks live in the train state (`state["prune_mask"]`, the tree of the included
kernels), so a resumed run continues with the same masks. After every optimiser update the
masks are applied to the parameters and to their EMA, so the pruned weights stay exactly zero
and the sampled model is the masked one. The pruning is global: one magnitude ranking over all
included kernels, so layers that matter less lose more.
"""
from __future__ import annotations

import dataclasses
import re

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jaxgen import config as config_lib
from jaxgen.families.base import Family

MASK_KEY = "prune_mask"
# The sampled network's kernels: the diffusion / VAE "params", the GAN generator "g_params".
DEFAULT_INCLUDE = r"(params|g_params)/.*kernel"


@dataclasses.dataclass(frozen=True)
class PruneConfig:
    """`config.prune`, typed (see the module docstring)."""
    sparsity: float = 0.0
    initial_sparsity: float = 0.0
    start_step: int = 0
    end_step: int = 0
    every: int = 10
    power: float = 3.0
    include: str = DEFAULT_INCLUDE
    init_from: str = ""
    channels: float = 0.0  # structured pruning (jaxgen/quant/channels.py)

    def __post_init__(self):
        for name in ("sparsity", "initial_sparsity"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"config.prune.{name}={value} must be in [0, 1) (the fraction "
                                 f"of weights set to zero); pass e.g. --config.prune.{name}=0.5")
        if self.initial_sparsity > self.sparsity:
            raise ValueError(f"config.prune.initial_sparsity={self.initial_sparsity} exceeds "
                             f"config.prune.sparsity={self.sparsity}; a pruned weight stays "
                             f"pruned, so the sparsity can only grow")
        if self.start_step < 0 or self.end_step < self.start_step or self.every < 1:
            raise ValueError(f"config.prune: start_step={self.start_step}, end_step="
                             f"{self.end_step}, every={self.every} need 0 <= start_step <= "
                             f"end_step and every >= 1")

    @property
    def active(self) -> bool:
        return self.sparsity > 0 or bool(self.init_from) or self.channels > 0


def prune_config(config) -> PruneConfig:
    return config_lib.section(PruneConfig, config.get("prune"), where="prune")


def sparsity_at(cfg: PruneConfig, t):
    """s_t of Zhu & Gupta 2017 eq. 1 after t steps (float32; s_f from t_1 on)."""
    span = max(cfg.end_step - cfg.start_step, 1)
    frac = jnp.clip((jnp.asarray(t, jnp.float32) - cfg.start_step) / span, 0.0, 1.0)
    return cfg.sparsity + (cfg.initial_sparsity - cfg.sparsity) * (1.0 - frac) ** cfg.power


def is_update(cfg: PruneConfig, t):
    """Whether the masks are recomputed after step t: t_0, t_0 + every, ..., and t_1."""
    t = jnp.asarray(t)
    inside = (t >= cfg.start_step) & (t <= cfg.end_step)
    return inside & (((t - cfg.start_step) % cfg.every == 0) | (t == cfg.end_step))


def ema_key(group: str) -> str:
    """The EMA entry of a parameter entry: "params" -> "ema_params", "g_params" -> "g_ema_params"."""
    return group.replace("params", "ema_params", 1)


def initial_masks(state, include: str) -> dict:
    """All-ones bool masks for the leaves of `state` whose path fully matches `include`,
    nested like the state ({"params": {"conv_in": {"kernel": mask}}})."""
    flat = traverse_util.flatten_dict({k: v for k, v in state.items() if isinstance(v, dict)})
    masks = {k: jnp.ones(v.shape, bool) for k, v in flat.items()
             if re.fullmatch(include, "/".join(map(str, k)))}
    if not masks:
        raise ValueError(f"config.prune.include={include!r} matches no parameter; paths look "
                         f"like {'/'.join(map(str, next(iter(flat))))!r}")
    return traverse_util.unflatten_dict(masks)


def global_masks(state, masks: dict, sparsity) -> dict:
    """New masks zeroing exactly round(sparsity * N) of the N masked weights: the smallest by
    magnitude over all of them together. Weights already pruned rank below every live one, so
    they stay pruned while the sparsity grows."""
    flat_m = traverse_util.flatten_dict(masks)
    flat_w = traverse_util.flatten_dict({k: state[k] for k in masks})
    keys = list(flat_m)
    score = jnp.concatenate([jnp.where(flat_m[k], jnp.abs(flat_w[k]), -1.0).ravel()
                             for k in keys])                                    # (N,)
    n = score.shape[0]
    k_prune = jnp.round(sparsity * n).astype(jnp.int32)
    order = jnp.argsort(score, stable=True)
    keep = jnp.zeros(n, bool).at[order].set(jnp.arange(n) >= k_prune)        # (N,)
    parts = jnp.split(keep, np.cumsum([flat_m[k].size for k in keys])[:-1].tolist())
    return traverse_util.unflatten_dict({k: p.reshape(flat_m[k].shape)
                                         for k, p in zip(keys, parts)})


def apply_masks(state, masks: dict):
    """`state` with every masked weight, and its EMA, set to zero."""
    out = dict(state)
    for group, tree in masks.items():
        for key in (group, ema_key(group)):
            if key in state:
                flat = traverse_util.flatten_dict(state[key])
                for path, m in traverse_util.flatten_dict(tree).items():
                    flat[path] = jnp.where(m, flat[path], jnp.zeros_like(flat[path]))
                out[key] = traverse_util.unflatten_dict(flat)
    return out


def mask_sparsity(masks: dict):
    """The fraction of masked-out weights, float32 scalar."""
    leaves = jax.tree.leaves(masks)
    zeros = sum(jnp.sum(~m, dtype=jnp.int32) for m in leaves)
    return zeros / sum(m.size for m in leaves)


def wrap(family: Family, config) -> Family:
    """`family` with pruning masks in its state, updated on the schedule and applied after each
    optimiser update; returned unchanged when `config.prune` asks for nothing."""
    cfg = prune_config(config)
    if not cfg.active:
        return family
    from jaxgen.quant.warm_start import make_warm_start  # reads checkpoints: only when asked

    def init(rng):
        state = family.init(rng)
        return dict(state, **{MASK_KEY: initial_masks(state, cfg.include)})

    def train_step(state, batch, *, rng, axis_name=None):
        new, metrics = family.train_step(state, batch, rng=rng, axis_name=axis_name)
        t = state["step"] + 1
        masks = jax.lax.cond(is_update(cfg, t),
                             lambda: global_masks(new, state[MASK_KEY], sparsity_at(cfg, t)),
                             lambda: state[MASK_KEY])
        new = apply_masks(dict(new, **{MASK_KEY: masks}), masks)
        return new, dict(metrics, sparsity=mask_sparsity(masks))

    return dataclasses.replace(family, init=init, train_step=train_step,
                               warm_start=make_warm_start(config, cfg))
