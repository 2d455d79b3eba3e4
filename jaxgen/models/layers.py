"""Reusable convolutional building blocks (NHWC), shared by the U-Net, VAE and GAN models.

Every module takes `dtype`, the compute dtype (e.g. bfloat16 for mixed precision);
parameters stay float32. Upsampling is nearest-resize + conv rather than a transposed
convolution, whose gradient XLA:CPU computes with a very slow kernel (about 5x slower per
DCGAN step, see jaxgen/models/dcgan.py).
"""
from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen import kernels

Dtype = Any

# nn.Conv (same parameters) that runs on oneDNN on CPU (jaxgen/kernels/onednn.py).
Conv = functools.partial(nn.Conv, conv_general_dilated=kernels.conv_general_dilated)
# nn.Dense (same parameters) that, over an NHWC activation's channels, is a 1x1 convolution on
# oneDNN on CPU.
Pointwise = functools.partial(nn.Dense, dot_general=kernels.pointwise_dot_general)


def sinusoidal_embedding(t: jax.Array, dim: int, max_period: float = 10_000.0) -> jax.Array:
    """Transformer position encoding of (possibly fractional) timesteps (Vaswani et al. 2017
    sec. 3.5; used for t by Ho et al. 2020 appendix B). t: (B,) -> float32 (B, dim), [sin | cos]."""
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / max(half, 1))
    args = jnp.asarray(t, jnp.float32)[:, None] * freqs[None, :]     # (B, half)
    emb = jnp.concatenate([jnp.sin(args), jnp.cos(args)], axis=-1)   # (B, 2 * half)
    return jnp.pad(emb, ((0, 0), (0, dim % 2)))                      # (B, dim)


class GroupNorm(nn.Module):
    """flax's nn.GroupNorm (the same parameters, `scale` and `bias` over C; epsilon 1e-6) on
    float32, optionally followed by SiLU in the same pass; on CPU a native kernel
    (jaxgen/kernels/normalization.py). (B, ..., C) -> same."""
    num_groups: int
    silu: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (c,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (c,), jnp.float32)
        return kernels.group_norm(x, scale, bias, self.num_groups, silu=self.silu)


def group_norm(x: jax.Array, num_groups: int, dtype: Dtype, name: str,
               silu: bool = False) -> jax.Array:
    """GroupNorm (Wu & He 2018) with the largest group count <= num_groups dividing C, then SiLU
    if `silu`.

    Computed in float32 even for bfloat16 compute (mixed-precision practice), returned in
    `dtype`; for float32 the SiLU is taken in the same pass, for bfloat16 after the cast as
    before. Call from inside a compact method: it adds the submodule `name`. (B, ..., C) -> same.
    """
    groups = math.gcd(num_groups, x.shape[-1])
    fused = silu and dtype == jnp.float32
    y = in_float32(GroupNorm(groups, silu=fused, name=name), x, dtype)
    return nn.silu(y) if silu and not fused else y


def in_float32(norm, x: jax.Array, dtype: Dtype) -> jax.Array:
    """`norm(x)` (a GroupNorm, BatchNorm, ... module) computed in float32 whatever the compute
    dtype: its mean / variance reductions, running statistics and affine parameters stay
    float32 (mixed-precision practice). Returned in `dtype`; shape of x."""
    return norm(x.astype(jnp.float32)).astype(dtype)


def upsample_nearest(x: jax.Array, factor: int = 2) -> jax.Array:
    """Nearest-neighbour resize by an integer factor: (B, H, W, C) -> (B, fH, fW, C).
    A broadcast + reshape, so its gradient is a cheap reshape + sum."""
    b, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, factor, w, factor, c))
    return x.reshape(b, h * factor, w * factor, c)


def space_to_depth(x: jax.Array, p: int) -> jax.Array:
    """Pixel unshuffle: each p x p block of pixels becomes p*p*C channels, ordered (row, col,
    channel). (B, H, W, C) -> (B, H/p, W/p, p*p*C); p = 1 returns x."""
    if p == 1:
        return x
    b, h, w, c = x.shape
    x = x.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h // p, w // p, p * p * c)


def depth_to_space(x: jax.Array, p: int) -> jax.Array:
    """Pixel shuffle, the inverse of space_to_depth: (B, H, W, p*p*C) -> (B, pH, pW, C)."""
    if p == 1:
        return x
    b, h, w, c = x.shape
    x = x.reshape(b, h, w, p, p, c // (p * p)).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h * p, w * p, c // (p * p))


def group_size(channels: int, num_groups: int) -> int:
    """Channels per group of group_norm(x, num_groups, ...) on `channels` channels."""
    return channels // math.gcd(num_groups, channels)


def inner_width(c_out: int, mid_ratio: float, num_groups: int) -> int:
    """A ResBlock's inner width (conv1's filters): mid_ratio * c_out rounded to whole groups of
    the block's GroupNorm (group_size(c_out, num_groups) channels each; at least one group), so
    c_out for mid_ratio 1. A thinner middle is what channel pruning of the block leaves (Li et
    al. 2017 sec. 3.3 prune only a residual block's first layer)."""
    if not 0.0 < mid_ratio <= 1.0:
        raise ValueError(f"model.mid_ratio={mid_ratio} must be in (0, 1] (the fraction of a "
                         f"ResBlock's channels kept inside it); pass e.g. --config.model."
                         f"mid_ratio=0.5")
    size = group_size(c_out, num_groups)
    return size * max(1, round(mid_ratio * c_out / size))


class ResBlock(nn.Module):
    """Residual block of Ho et al. 2020 (after Zagoruyko & Komodakis 2016):
    GN -> SiLU -> conv3x3 [+ Dense(SiLU(temb))] -> GN -> SiLU -> dropout -> conv3x3, plus a
    1x1-conv (a Dense over channels) skip when the channel count changes; optionally scaled
    by 1/sqrt(2) (Song et al. 2021b, DDPM++). conv1 has C_mid = inner_width(out_channels,
    mid_ratio, num_groups) filters (all of out_channels by default); the GroupNorm after it keeps
    the block's group size, so a thinner middle has fewer groups (Wu & He 2018 sec. 4 show
    a fixed group size works as well as a fixed count), and zeroed whole groups can be cut
    without changing the block's output.
    (B, H, W, C_in) [, temb (B, D)] -> (B, H, W, out_channels); temb may be None (VAE, GAN)."""
    out_channels: int | None = None
    dropout: float = 0.0
    num_groups: int = 8
    skip_rescale: bool = False
    mid_ratio: float = 1.0
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, temb: jax.Array | None = None, *,
                 train: bool = False) -> jax.Array:
        x = x.astype(self.dtype)
        c_in, c_out = x.shape[-1], self.out_channels or x.shape[-1]
        c_mid = inner_width(c_out, self.mid_ratio, self.num_groups)
        h = group_norm(x, self.num_groups, self.dtype, "norm1", silu=True)
        h = Conv(c_mid, (3, 3), dtype=self.dtype, name="conv1")(h)
        if temb is not None:
            proj = nn.Dense(c_mid, dtype=self.dtype, name="temb_proj")(nn.silu(temb))
            h = h + proj[:, None, None, :]                            # (B, 1, 1, C_mid)
        groups2 = c_mid // group_size(c_out, self.num_groups)
        h = group_norm(h, groups2, self.dtype, "norm2", silu=True)
        h = nn.Dropout(self.dropout)(h, deterministic=not train)      # uses the 'dropout' rng
        h = Conv(c_out, (3, 3), dtype=self.dtype, name="conv2")(h)
        if c_in != c_out:  # 1x1 conv ("NIN") as a Dense (XLA:CPU's 1x1 conv gradients are slow)
            x = Pointwise(c_out, dtype=self.dtype, name="skip")(x)
        out = x + h
        return out / math.sqrt(2) if self.skip_rescale else out


class AttnBlock(nn.Module):
    """Self-attention over the H*W positions with a residual connection (Ho et al. 2020,
    after Wang et al. 2018 non-local blocks): x + MHA(GN(x)). (B, H, W, C) -> (B, H, W, C)."""
    num_heads: int = 1
    num_groups: int = 8
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(self.dtype)
        b, hgt, wid, c = x.shape
        h = group_norm(x, self.num_groups, self.dtype, "norm")
        h = h.reshape(b, hgt * wid, c)                                # (B, HW, C)
        # the softmax in float32 whatever the compute dtype (mixed-precision practice)
        h = nn.MultiHeadDotProductAttention(self.num_heads, dtype=self.dtype, deterministic=True,
                                            force_fp32_for_softmax=True, name="attn")(h)
        return x + h.reshape(b, hgt, wid, c)


class Downsample(nn.Module):
    """Stride-2 conv3x3, 'SAME' padding as in Ho et al. 2020:
    (B, H, W, C) -> (B, ceil(H/2), ceil(W/2), out_channels or C)."""
    out_channels: int | None = None
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c_out = self.out_channels or x.shape[-1]
        return Conv(c_out, (3, 3), strides=(2, 2), padding="SAME", dtype=self.dtype,
                       name="conv")(x.astype(self.dtype))


class Upsample(nn.Module):
    """Nearest x2 resize then conv3x3 (Ho et al. 2020; avoids transposed-conv checkerboards,
    Odena et al. 2016): (B, H, W, C) -> (B, 2H, 2W, out_channels or C)."""
    out_channels: int | None = None
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c_out = self.out_channels or x.shape[-1]
        x = upsample_nearest(x.astype(self.dtype), 2)
        return Conv(c_out, (3, 3), dtype=self.dtype, name="conv")(x)


def add_conditioning(temb: jax.Array, label: jax.Array | None, context, *, num_classes: int,
                     dtype: Dtype, model: str) -> jax.Array:
    """temb (B, D) plus a class embedding (`class_embed`, num_classes + 1 rows: label None is
    the null class id num_classes, Ho & Salimans 2022) and/or a projection of a prompt's pooled
    embedding (`text_proj`; context: a TextContext or None). Call inside a compact method."""
    if num_classes == 0 and label is not None:
        raise ValueError(f"{model} got a label but config.num_classes=0; set num_classes for "
                         f"a class-conditional model or pass label=None")
    if num_classes:
        label = jnp.full(temb.shape[:1], num_classes, jnp.int32) if label is None else label
        temb = temb + nn.Embed(num_classes + 1, temb.shape[-1], dtype=dtype,
                               name="class_embed")(label)
    if context is not None:
        temb = temb + nn.Dense(temb.shape[-1], dtype=dtype, name="text_proj")(context.pooled)
    return temb
