"""Structured channel pruning (`config.prune.channels`): the network is rebuilt with fewer
channels, so it is smaller and faster, and starts from the trained one's strongest filters.

Filters are ranked by the L1 norm of their weights (Li et al. 2017, "Pruning Filters for
Efficient ConvNets"); a layer keeps its top round((1 - channels) * C) filters, and the next
layer keeps the matching input channels. Implemented for the DCGAN generator, a plain chain
fc (z -> s*s*g_ch) -> BN -> up1 (g_ch -> g_ch/2) -> BN -> up2 (g_ch/2 -> C): the run's
`model.g_ch` becomes the kept width (even, so up1 keeps half of it); the discriminator is left
whole. The U-Net's residual and skip connections couple the channels of many layers, which
would have to be pruned together; that is not implemented, and asking for it is an error.
"""
from __future__ import annotations

import copy

import jax.numpy as jnp
import numpy as np


def kept_width(g_ch: int, channels: float) -> int:
    """The generator's base width after removing the fraction `channels` (even, >= 2)."""
    return max(2, 2 * int(round(g_ch * (1.0 - channels) / 2)))


def shrunk_config(config):
    """`config` with the pruned widths (a copy), or `config` itself when nothing is pruned."""
    fraction = float(config.get("prune", {}).get("channels", 0.0))
    if fraction == 0.0:
        return config
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"config.prune.channels={fraction} must be in [0, 1) (the fraction of "
                         f"channels removed); pass e.g. --config.prune.channels=0.5")
    if config.family != "gan":
        raise ValueError(f"config.prune.channels={fraction}: structured channel pruning is "
                         f"implemented for the DCGAN generator (family 'gan'), not for family "
                         f"{config.family!r}; use --config.prune.sparsity for unstructured "
                         f"pruning instead")
    out = copy.deepcopy(config)
    out.model.g_ch = kept_width(config.model.g_ch, fraction)
    return out


def top_l1(kernel, axis: int, k: int) -> np.ndarray:
    """Sorted indices of the k filters along `axis` with the largest L1 norm."""
    other = tuple(d for d in range(kernel.ndim) if d != axis)
    norms = np.abs(np.asarray(kernel, np.float64)).sum(axis=other)
    return np.sort(np.argsort(-norms, kind="stable")[:k])


def select_generator(tree: dict, k1: np.ndarray, k2: np.ndarray, s2: int) -> dict:
    """A generator's params or BN statistics with fc / bn_fc / up1 outputs k1 kept (and up1's
    inputs), up1 / bn_up1 outputs k2 kept (and up2's inputs). s2: fc's spatial positions."""
    def fc(x):  # (..., s*s*G) -> (..., s*s*G')
        lead = x.shape[:-1]
        return x.reshape(*lead, s2, -1)[..., k1].reshape(*lead, s2 * len(k1))
    rules = {("fc", "kernel"): fc, ("fc", "bias"): fc,
             ("up1", "kernel"): lambda x: x[:, :, k1][..., k2], ("up1", "bias"): lambda x: x[k2],
             ("up2", "kernel"): lambda x: x[:, :, k2]}
    out = {}
    for layer, leaves in tree.items():
        keep = k1 if layer == "bn_fc" else k2 if layer == "bn_up1" else None
        out[layer] = {name: (jnp.asarray(rules[(layer, name)](np.asarray(x)))
                             if (layer, name) in rules else
                             jnp.asarray(np.asarray(x)[keep]) if keep is not None else x)
                      for name, x in leaves.items()}
    return out


def shrink_state(source: dict, source_config, config) -> dict:
    """The source GAN state with the generator (params, EMA, BN statistics) cut to the widths
    of `config` by L1 rank, taken on the EMA weights when kept (the sampled ones)."""
    g_ch = source_config.model.g_ch
    width = kept_width(g_ch, float(config.prune.channels))
    ranked = source.get("g_ema_params", source["g_params"])
    s2 = ranked["fc"]["kernel"].shape[1] // g_ch
    fc = np.asarray(ranked["fc"]["kernel"]).reshape(-1, s2, g_ch)        # (z, s*s, G)
    k1 = top_l1(fc, 2, width)
    up1 = np.asarray(ranked["up1"]["kernel"])[:, :, k1]                   # (4, 4, G', G/2)
    k2 = top_l1(up1, 3, width // 2)
    out = dict(source)
    for key in ("g_params", "g_ema_params", "g_stats"):
        if key in source:
            out[key] = select_generator(source[key], k1, k2, s2)
    return out
