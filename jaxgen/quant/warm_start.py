"""Starting a run from a trained workdir (`config.prune.init_from`): its parameters, EMA and
statistics replace the fresh initialisation; optimiser moments, step and key start anew. Where
the source keeps an EMA, the fine-tune starts from it (the model that samples), not from the
raw iterate: a short fine-tune with a fresh EMA would otherwise drift back to the raw weights."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from pathlib import Path

from jaxgen.quant.prune import ema_key
from jaxgen.utils.trees import path_name

SKIPPED = ("step", "rng", "prune_mask")


def copied_keys(state) -> tuple[str, ...]:
    """The state entries taken from the source: everything but step, key, masks and moments."""
    return tuple(k for k in state if k not in SKIPPED and "opt_state" not in k)


def load_source(path: str, keys: tuple[str, ...]):
    """(config, {key: array tree}) of `keys` from the newest checkpoint of workdir `path` (or
    the WORKDIR/checkpoints/STEP folder `path`)."""
    from jaxgen import sampling  # sampling imports the families, which import this package
    p = Path(path)
    args = (None, p) if p.name.isdigit() and p.parent.name == "checkpoints" else (p, None)
    workdir = p.parent.parent if args[1] else p
    if not (workdir / "config.json").is_file():
        raise ValueError(f"config.prune.init_from={path!r} is not a jaxgen workdir (no "
                         f"{workdir / 'config.json'}); point it at a trained workdir, e.g. "
                         f"runs/demo_v")
    config, _, state, _, _ = sampling.load(*args, keys=keys)
    return config, state


def check_shapes(source, target, path: str) -> None:
    """Every copied leaf has the target's shape, else an error naming the first that differs."""
    src = {path_name(p): x.shape for p, x in jax.tree_util.tree_leaves_with_path(source)}
    for p, x in jax.tree_util.tree_leaves_with_path(target):
        name = path_name(p)
        if src.get(name) != x.shape:
            raise ValueError(f"config.prune.init_from={path!r}: {name} has shape "
                             f"{src.get(name)} there and {x.shape} in this config; start from "
                             f"the config that workdir was trained with ({path}/config.json)")


def make_warm_start(config, cfg):
    """state -> state with the source's entries put in their shardings; None without
    `cfg.init_from`."""
    if not cfg.init_from:
        return None

    def warm_start(state):
        keys = copied_keys(state)
        source_config, source = load_source(cfg.init_from, keys)
        if cfg.channels > 0:
            from jaxgen.quant.channels import shrink_state
            source = shrink_state(source, source_config, config)
        source = dict(source, **{k: source[ema_key(k)] for k in list(source)
                                 if ema_key(k) != k and ema_key(k) in source})
        target = {k: state[k] for k in keys}
        check_shapes(source, target, cfg.init_from)
        # a fresh buffer per leaf: params and EMA may come from one source array, and the
        # train step donates the state (one buffer donated twice is an error)
        moved = jax.tree.map(lambda s, t: jax.device_put(jnp.array(s, t.dtype, copy=True),
                                                         t.sharding),
                             {k: source[k] for k in keys}, target)
        return dict(state, **moved)
    return warm_start
