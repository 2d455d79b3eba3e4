"""Multi-head attention for the denoisers: self-attention over image positions and
cross-attention from image positions to text tokens (Rombach et al. 2022, sec. 3.3).

Heads are laid out (B, H, L, d_h) and multiplied with plain batched matmuls: on XLA:CPU this
runs several times faster than flax's MultiHeadDotProductAttention, and it computes the same
softmax(q k^T / sqrt(d_h)) v (Vaswani et al. 2017 eq. 1) as `jax.nn.dot_product_attention`.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.models.layers import group_norm

Dtype = Any


class TextContext(NamedTuple):
    """A prompt as a denoiser sees it: token embeddings h float32 (B, L, D), keep bool (B, L)
    (False at PAD: masked out of cross-attention) and the pooled embedding float32 (B, D)."""
    h: jax.Array
    keep: jax.Array
    pooled: jax.Array


def dot_attention(q, k, v, keep=None) -> jax.Array:
    """softmax(q k^T / sqrt(d_h)) v over (B, H, L, d_h) heads; keep bool (B, L_k) masks keys.
    q (B, H, L_q, d_h), k / v (B, H, L_k, d_h) -> (B, H, L_q, d_h), in q's dtype."""
    s = jnp.matmul(q, k.swapaxes(-1, -2)).astype(jnp.float32) / math.sqrt(q.shape[-1])
    if keep is not None:
        s = jnp.where(keep[:, None, None, :], s, jnp.finfo(jnp.float32).min)
    return jnp.matmul(jax.nn.softmax(s, axis=-1).astype(q.dtype), v)


def _heads(x: jax.Array, heads: int) -> jax.Array:
    """(B, L, H * d_h) -> (B, H, L, d_h)."""
    b, length, d = x.shape
    return x.reshape(b, length, heads, d // heads).transpose(0, 2, 1, 3)


def _qkv_heads(qkv: jax.Array, heads: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(B, L, H * 3 * d_h), head-major (each head's q, k, v side by side) -> q, k, v
    (B, H, L, d_h). Head-major, as Megatron-LM lays out its fused QKV, so that splitting the
    kernel's output axis into T contiguous blocks gives each device whole heads (H / T of them,
    with their q, k and v): tensor parallelism needs no exchange inside attention."""
    b, length, d3 = qkv.shape
    qkv = qkv.reshape(b, length, heads, 3, d3 // (3 * heads))    # (B, L, H, 3, d_h)
    q, k, v = qkv.transpose(3, 0, 2, 1, 4)                        # (B, H, L, d_h) each
    return q, k, v


class Attention(nn.Module):
    """Multi-head attention of x (B, L, D) to itself, or to `context` (B, L_k, D_k) with key mask
    `keep` (B, L_k) -> (B, L, D). `zero_out` zero-initialises the output projection, so a
    residual branch built on it starts as the identity (adaLN-Zero, Peebles & Xie 2023 sec. 3.2)."""
    heads: int
    zero_out: bool = False
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x, context=None, keep=None) -> jax.Array:
        b, length, d = x.shape
        dense = lambda n, name: nn.Dense(n, dtype=self.dtype, name=name)  # noqa: E731
        if context is None:
            q, k, v = _qkv_heads(dense(3 * d, "qkv")(x), self.heads)
        else:
            q = _heads(dense(d, "q")(x), self.heads)
            kv = dense(2 * d, "kv")(context.astype(self.dtype))
            k, v = (_heads(a, self.heads) for a in jnp.split(kv, 2, axis=-1))
        out = dot_attention(q, k, v, keep)                                       # (B, H, L, d_h)
        out = out.transpose(0, 2, 1, 3).reshape(b, length, d)                  # (B, L, D)
        init = nn.initializers.zeros if self.zero_out else nn.initializers.lecun_normal()
        return nn.Dense(d, dtype=self.dtype, kernel_init=init, name="out")(out)


class CrossAttnBlock(nn.Module):
    """x + CrossAttn(GN(x), text tokens) over the H*W positions (the U-Net's text layer; the
    output projection starts at zero, so the block starts as the identity).
    (B, H, W, C), TextContext -> (B, H, W, C)."""
    num_heads: int = 1
    num_groups: int = 8
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, context: TextContext) -> jax.Array:
        x = x.astype(self.dtype)
        b, hgt, wid, c = x.shape
        h = group_norm(x, self.num_groups, self.dtype, "norm").reshape(b, hgt * wid, c)
        h = Attention(self.num_heads, zero_out=True, dtype=self.dtype, name="attn")(
            h, context.h, context.keep)
        return x + h.reshape(b, hgt, wid, c)
