"""The diffusion U-Net of Ho et al. 2020 (PixelCNN++-style backbone), with DDPM++ options.

Time t -> sinusoidal embedding -> MLP (4*ch); optional class embedding added to it, with
an extra "null" class id `num_classes` for classifier-free guidance (Ho & Salimans 2022).
With a prompt (`context`, a TextContext) its pooled embedding is added too, and a
cross-attention layer to the text tokens follows every self-attention layer.
Down path: `num_res_blocks` ResBlocks per level (+ self-attention at `attn_resolutions`),
stride-2 conv between levels; middle Res-Attn-Res; up path of `num_res_blocks + 1`
ResBlocks per level on skip concatenations, nearest-resize + conv between levels.
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.models.attention import CrossAttnBlock
from jaxgen.models.layers import (AttnBlock, Conv, Downsample, ResBlock, Upsample,
                                  add_conditioning, depth_to_space, group_norm,
                                  sinusoidal_embedding, space_to_depth)


@dataclasses.dataclass(frozen=True)
class UNetConfig:
    """Hyperparameters of `UNet`. attn_resolutions are feature-map heights H at which
    attention is used (28x28 input with ch_mult=(1, 2, 2) has levels at 28, 14, 7)."""
    ch: int = 64
    ch_mult: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (7,)
    dropout: float = 0.0
    num_classes: int = 0          # 0: unconditional; else labels 0..num_classes-1 + null id
    out_channels: int = 1
    num_groups: int = 8
    num_heads: int = 1
    dtype: str = "float32"        # compute dtype; "bfloat16" for mixed precision
    skip_rescale: bool = False    # DDPM++: scale ResBlock outputs by 1/sqrt(2)
    patch: int = 1                # >1: a space-to-depth stem (pixel unshuffle) by this factor
    mid_ratio: float = 1.0        # <1: thinner ResBlock insides (what channel pruning leaves)

    @property
    def null_label(self) -> int:
        """The class id meaning "no label" (classifier-free guidance)."""
        return self.num_classes


class UNet(nn.Module):
    """eps / v predictor. x (B, H, W, C) float32, t (B,) int or float timesteps,
    label (B,) int32 or None, context a TextContext or None -> (B, H, W, out_channels) float32.
    H and W must be divisible by 2 ** (len(ch_mult) - 1)."""
    config: UNetConfig

    @property
    def compute_dtype(self):
        return jnp.dtype(self.config.dtype)

    @nn.compact
    def __call__(self, x: jax.Array, t: jax.Array, label: jax.Array | None = None, *,
                 train: bool = False, context=None) -> jax.Array:
        cfg = self.config
        self._check_input(x)
        temb = self._embed(jnp.broadcast_to(t, x.shape[:1]), label, context)  # (B, 4ch)
        x = space_to_depth(x, cfg.patch)                              # (B, H/p, W/p, p*p*C)
        h = Conv(cfg.ch, (3, 3), dtype=self.compute_dtype, name="conv_in")(x)
        h, skips = self._down(h, temb, train, context)
        h = self._middle(h, temb, train, context)
        h = self._up(h, temb, skips, train, context)
        h = group_norm(h, cfg.num_groups, self.compute_dtype, "norm_out", silu=True)
        out = Conv(cfg.out_channels * cfg.patch ** 2, (3, 3), dtype=self.compute_dtype,
                      kernel_init=nn.initializers.zeros, name="conv_out")(h)
        return depth_to_space(out, cfg.patch).astype(jnp.float32)

    def _check_input(self, x: jax.Array) -> None:
        cfg = self.config
        factor = cfg.patch * 2 ** (len(cfg.ch_mult) - 1)
        if x.ndim != 4 or x.shape[1] % factor or x.shape[2] % factor:
            raise ValueError(f"UNet input shape {x.shape}: expected (B, H, W, C) with H and W "
                             f"divisible by {factor} for ch_mult={cfg.ch_mult} and "
                             f"patch={cfg.patch}; resize the images or use fewer levels")

    def _embed(self, t: jax.Array, label: jax.Array | None, context) -> jax.Array:
        """Time (+ class, + pooled prompt) embedding, (B,) -> (B, 4 * ch)."""
        cfg, dim = self.config, 4 * self.config.ch
        temb = sinusoidal_embedding(t, cfg.ch)                        # (B, ch)
        temb = nn.Dense(dim, dtype=self.compute_dtype, name="temb_dense0")(temb)
        temb = nn.Dense(dim, dtype=self.compute_dtype, name="temb_dense1")(nn.silu(temb))
        return add_conditioning(temb, label, context, num_classes=cfg.num_classes,
                                dtype=self.compute_dtype, model="UNet")

    def _res(self, channels: int, name: str) -> ResBlock:
        cfg = self.config
        return ResBlock(channels, dropout=cfg.dropout, num_groups=cfg.num_groups,
                        skip_rescale=cfg.skip_rescale, mid_ratio=cfg.mid_ratio,
                        dtype=self.compute_dtype, name=name)

    def _attn(self, h: jax.Array, name: str, context, force: bool = False) -> jax.Array:
        """Self-attention (then cross-attention to the prompt, given one) when the feature
        map's height is in attn_resolutions (or `force`)."""
        if not force and h.shape[1] not in self.config.attn_resolutions:
            return h
        cfg = self.config
        h = AttnBlock(cfg.num_heads, cfg.num_groups, dtype=self.compute_dtype, name=name)(h)
        if context is None:
            return h
        return CrossAttnBlock(cfg.num_heads, cfg.num_groups, dtype=self.compute_dtype,
                              name=f"{name}_cross")(h, context)

    def _down(self, h, temb, train, context):
        """Returns the bottom feature map and the skips, conv_in's output first."""
        cfg, skips = self.config, [h]
        for level, mult in enumerate(cfg.ch_mult):
            for i in range(cfg.num_res_blocks):
                h = self._res(cfg.ch * mult, f"down{level}_res{i}")(h, temb, train=train)
                h = self._attn(h, f"down{level}_attn{i}", context)
                skips.append(h)
            if level < len(cfg.ch_mult) - 1:
                h = Downsample(dtype=self.compute_dtype, name=f"down{level}_downsample")(h)
                skips.append(h)
        return h, skips

    def _middle(self, h, temb, train, context):
        channels = h.shape[-1]
        h = self._res(channels, "mid_res0")(h, temb, train=train)
        h = self._attn(h, "mid_attn", context, force=True)
        return self._res(channels, "mid_res1")(h, temb, train=train)

    def _up(self, h, temb, skips, train, context):
        """Consumes the skips in reverse, num_res_blocks + 1 per level."""
        cfg, skips = self.config, list(skips)
        for level in reversed(range(len(cfg.ch_mult))):
            for i in range(cfg.num_res_blocks + 1):
                h = jnp.concatenate([h, skips.pop().astype(h.dtype)], axis=-1)
                h = self._res(cfg.ch * cfg.ch_mult[level], f"up{level}_res{i}")(
                    h, temb, train=train)
                h = self._attn(h, f"up{level}_attn{i}", context)
            if level > 0:
                h = Upsample(dtype=self.compute_dtype, name=f"up{level}_upsample")(h)
        return h
