"""Structured channel pruning (`config.prune.channels`): the network is rebuilt with fewer
channels, so it is smaller and faster, and starts from the trained one's strongest filters.

Filters are ranked by the L1 norm of their weights (Li et al. 2017, "Pruning Filters for
Efficient ConvNets"); a layer keeps its top filters and the next layer the matching input
channels. Two networks:

- The DCGAN generator, a plain chain fc (z -> s*s*g_ch) -> BN -> up1 (g_ch -> g_ch/2) -> BN
  -> up2 (g_ch/2 -> C): `model.g_ch` becomes round((1 - channels) * g_ch) (even, so up1 keeps
  half of it); the discriminator is left whole.
- The diffusion U-Net, pruned as Li et al. prune ResNets (sec. 3.3): only the inside of every
  ResBlock, conv1's filters (= temb_proj's outputs = GN2's channels = conv2's input channels),
  which no residual, skip or concatenation ties to another layer, so each block is ranked and
  cut alone. `model.mid_ratio` becomes (1 - channels) times its value: every block keeps
  `layers.inner_width` of its out channels (a multiple of the GroupNorm group count).
"""
from __future__ import annotations

import copy
from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np

from jaxgen.models.layers import inner_width
from jaxgen.quant.prune import ema_key

# A ResBlock's leaves that carry its inner channels, and the axis they sit on.
INNER_AXES = {("conv1", "kernel"): 3, ("conv1", "bias"): 0, ("temb_proj", "kernel"): 1,
              ("temb_proj", "bias"): 0, ("norm2", "scale"): 0, ("norm2", "bias"): 0,
              ("conv2", "kernel"): 2}


def kept_width(g_ch: int, channels: float) -> int:
    """The generator's base width after removing the fraction `channels` (even, >= 2)."""
    return max(2, 2 * int(round(g_ch * (1.0 - channels) / 2)))


def is_unet(config) -> bool:
    return config.family == "diffusion" and config.model.get("arch", "unet") == "unet"


def shrunk_config(config):
    """`config` with the pruned widths (a copy), or `config` itself when nothing is pruned."""
    fraction = float(config.get("prune", {}).get("channels", 0.0))
    if fraction == 0.0:
        return config
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"config.prune.channels={fraction} must be in [0, 1) (the fraction of "
                         f"channels removed); pass e.g. --config.prune.channels=0.5")
    out = copy.deepcopy(config)
    if config.family == "gan":
        out.model.g_ch = kept_width(config.model.g_ch, fraction)
    elif is_unet(config):
        with out.unlocked():
            out.model.mid_ratio = float(config.model.get("mid_ratio", 1.0)) * (1.0 - fraction)
    else:
        raise ValueError(f"config.prune.channels={fraction}: structured channel pruning is "
                         f"implemented for the DCGAN generator (family 'gan') and the diffusion "
                         f"U-Net (family 'diffusion', model.arch 'unet'), not for family "
                         f"{config.family!r} with model.arch "
                         f"{config.get('model', {}).get('arch', 'unet')!r}; use "
                         f"--config.prune.sparsity for unstructured pruning instead")
    return out


def top_l1(kernel, axis: int, k: int) -> np.ndarray:
    """Sorted indices of the k filters along `axis` with the largest L1 norm."""
    other = tuple(d for d in range(kernel.ndim) if d != axis)
    norms = np.abs(np.asarray(kernel, np.float64)).sum(axis=other)
    return np.sort(np.argsort(-norms, kind="stable")[:k])


def select(tree: Mapping, rules: dict) -> dict:
    """{layer: {leaf: array}} with rules[(layer, leaf)] = (indices, axis) kept along axis;
    leaves without a rule are returned as they are."""
    def cut(layer, name, x):
        if (layer, name) not in rules:
            return x
        idx, axis = rules[(layer, name)]
        return jnp.asarray(np.take(np.asarray(x), idx, axis=axis))
    return {layer: {name: cut(layer, name, x) for name, x in leaves.items()}
            for layer, leaves in tree.items()}


def ranked_groups(source: dict, group: str) -> tuple[dict, list[str]]:
    """The tree to rank filters on (the EMA when kept: the sampled weights) and the entries of
    `source` to cut, for parameter entry `group` ("params", "g_params")."""
    ema = ema_key(group)
    return source.get(ema, source[group]), [k for k in (group, ema) if k in source]


def select_generator(tree: dict, k1: np.ndarray, k2: np.ndarray, s2: int) -> dict:
    """A generator's params or BN statistics with fc / bn_fc / up1 outputs k1 kept (and up1's
    inputs), up1 / bn_up1 outputs k2 kept (and up2's inputs). s2: fc's spatial positions."""
    def fc(x):  # (..., s*s*G) -> (..., s*s*G')
        lead = x.shape[:-1]
        return x.reshape(*lead, s2, -1)[..., k1].reshape(*lead, s2 * len(k1))
    rules = {("up1", "kernel"): (k1, 2), ("up1", "bias"): (k2, 0), ("up2", "kernel"): (k2, 2)}
    rules.update({("bn_fc", n): (k1, 0) for n in tree.get("bn_fc", {})})
    rules.update({("bn_up1", n): (k2, 0) for n in tree.get("bn_up1", {})})
    out = select(tree, rules)
    if "up1" in out:                                                  # then its outputs
        out["up1"]["kernel"] = jnp.asarray(np.asarray(out["up1"]["kernel"])[..., k2])
    if "fc" in out:
        out["fc"] = {n: jnp.asarray(fc(np.asarray(x))) for n, x in tree["fc"].items()}
    return out


def shrink_generator(source: dict, source_config, config) -> dict:
    """The source GAN state with the generator (params, EMA, BN statistics) cut to the widths
    of `config` by L1 rank."""
    g_ch = source_config.model.g_ch
    width = kept_width(g_ch, float(config.prune.channels))
    ranked, keys = ranked_groups(source, "g_params")
    s2 = ranked["fc"]["kernel"].shape[1] // g_ch
    fc = np.asarray(ranked["fc"]["kernel"]).reshape(-1, s2, g_ch)        # (z, s*s, G)
    k1 = top_l1(fc, 2, width)
    up1 = np.asarray(ranked["up1"]["kernel"])[:, :, k1]                   # (4, 4, G', G/2)
    k2 = top_l1(up1, 3, width // 2)
    out = dict(source)
    for key in keys + (["g_stats"] if "g_stats" in source else []):
        out[key] = select_generator(source[key], k1, k2, s2)
    return out


def res_blocks(tree, path: tuple = ()):
    """(path, block) of every ResBlock (a dict with conv1, conv2 and norm2) in a params tree."""
    if not isinstance(tree, Mapping):
        return
    if {"conv1", "conv2", "norm2"} <= tree.keys():
        yield path, tree
        return
    for name, sub in tree.items():
        yield from res_blocks(sub, path + (name,))


def replace_at(tree: Mapping, path: tuple, value) -> dict:
    """A copy of nested dict `tree` with tree[path[0]][path[1]]... set to value."""
    if not path:
        return value
    return {**tree, path[0]: replace_at(tree[path[0]], path[1:], value)}


def shrink_unet(source: dict, config) -> dict:
    """The source diffusion state with every ResBlock's inner channels (params and EMA) cut to
    the width `config`'s pruned model gives it, keeping conv1's filters of largest L1 norm."""
    ratio = float(shrunk_config(config).model.mid_ratio)
    groups = int(config.model.num_groups)
    ranked, keys = ranked_groups(source, "params")
    keep = {}
    for path, block in res_blocks(ranked):
        kernel = block["conv1"]["kernel"]                               # (3, 3, C_in, C_mid)
        width = inner_width(block["conv2"]["kernel"].shape[-1], ratio, groups)
        keep[path] = top_l1(kernel, 3, width)
    out = dict(source)
    for key in keys:
        for path, block in res_blocks(source[key]):
            rules = {leaf: (keep[path], axis) for leaf, axis in INNER_AXES.items()}
            out[key] = replace_at(out[key], path, select(block, rules))
    return out


def shrink_state(source: dict, source_config, config) -> dict:
    """The source state (family of `config`) with the pruned layers cut to `config`'s widths
    by L1 rank, taken on the EMA weights when kept (the sampled ones)."""
    if config.family == "gan":
        return shrink_generator(source, source_config, config)
    return shrink_unet(source, config)
