"""A small pre-LN transformer text encoder over UTF-8 bytes (for text-to-image conditioning).

Tokens are byte ids 0..255 plus PAD, BOS, EOS, MASK (jaxgen.data.tokens; vocab 260), so any
Unicode text encodes without a vocabulary file. Architecture: token + learned positional
embedding -> `depth` pre-LN blocks x + MHA(LN(x)), x + MLP(LN(x)) (Vaswani et al. 2017 with
the pre-LN placement of Xiong et al. 2020) with PAD keys masked out of attention -> final LN.

    h, pooled = TextEncoder(cfg).apply({"params": p}, tokens)     # (B, L, D), (B, D)
    logits = TextEncoder(cfg).apply({"params": p}, tokens, method="mlm")  # (B, L, 260)

`pooled` is the mean of h over the non-PAD positions (BOS, bytes and EOS), so neither it nor
h at those positions depends on how much padding follows. The MLM head is BERT's (Devlin et
al. 2019): Dense -> GELU -> LN -> logits tied to the token embedding, plus a bias.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.data.tokens import BOS, EOS, MASK, PAD, VOCAB_SIZE, decode_text, encode_text

Dtype = Any
__all__ = ["BOS", "EOS", "MASK", "PAD", "VOCAB_SIZE", "TextConfig", "TextEncoder",
           "decode_text", "encode_text"]


@dataclasses.dataclass(frozen=True)
class TextConfig:
    """Hyperparameters of `TextEncoder`. width D must be divisible by heads; max_len is the
    longest token sequence (BOS + bytes + EOS) the positional embedding covers."""
    width: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: int = 4
    max_len: int = 80
    dropout: float = 0.0
    dtype: str = "float32"        # compute dtype; parameters and LayerNorms stay float32

    def __post_init__(self):
        if self.width % self.heads:
            raise ValueError(f"TextConfig width={self.width} is not divisible by heads="
                             f"{self.heads}; pick a width that is a multiple of heads")


class SelfAttention(nn.Module):
    """Multi-head self-attention softmax(q k^T / sqrt(d_h)) v (Vaswani et al. 2017 eq. 1) with
    PAD keys masked out. (B, L, D), keep bool (B, L) -> (B, L, D). Heads are laid out
    (B, H, L, d_h) so XLA:CPU runs plain batched matmuls (several times faster here than
    flax's MultiHeadDotProductAttention)."""
    heads: int
    dropout: float = 0.0
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, keep: jax.Array, *, train: bool = False) -> jax.Array:
        b, length, d = x.shape
        qkv = nn.Dense(3 * d, dtype=self.dtype, name="qkv")(x)
        qkv = qkv.reshape(b, length, 3, self.heads, d // self.heads)
        q, k, v = qkv.transpose(2, 0, 3, 1, 4)                         # (B, H, L, d_h) each
        s = jnp.matmul(q, k.swapaxes(-1, -2)).astype(jnp.float32)      # (B, H, L, L)
        s = jnp.where(keep[:, None, None, :], s / math.sqrt(d // self.heads),
                      jnp.finfo(jnp.float32).min)
        p = nn.Dropout(self.dropout, deterministic=not train)(jax.nn.softmax(s, axis=-1))
        out = jnp.matmul(p.astype(self.dtype), v)                      # (B, H, L, d_h)
        out = out.transpose(0, 2, 1, 3).reshape(b, length, d)          # (B, L, D)
        return nn.Dense(d, dtype=self.dtype, name="out")(out)


class Block(nn.Module):
    """x + Drop(MHA(LN(x), key mask)), then x + Drop(MLP(LN(x))). (B, L, D) -> (B, L, D)."""
    config: TextConfig

    @nn.compact
    def __call__(self, x: jax.Array, keep: jax.Array, *, train: bool = False) -> jax.Array:
        cfg, dtype = self.config, jnp.dtype(self.config.dtype)
        drop = nn.Dropout(cfg.dropout, deterministic=not train)
        h = nn.LayerNorm(name="norm1")(x.astype(jnp.float32)).astype(dtype)
        h = SelfAttention(cfg.heads, cfg.dropout, dtype, name="attn")(h, keep, train=train)
        x = x + drop(h)
        h = nn.LayerNorm(name="norm2")(x.astype(jnp.float32)).astype(dtype)
        h = nn.gelu(nn.Dense(cfg.mlp_ratio * cfg.width, dtype=dtype, name="mlp_in")(h))
        return x + drop(nn.Dense(cfg.width, dtype=dtype, name="mlp_out")(h))


class TextEncoder(nn.Module):
    """tokens int32 (B, L), L <= max_len -> (h float32 (B, L, D), pooled float32 (B, D))."""
    config: TextConfig

    def setup(self):
        cfg, init = self.config, nn.initializers.normal(0.02)
        self.token_embed = nn.Embed(VOCAB_SIZE, cfg.width, embedding_init=init)
        self.pos_embed = self.param("pos_embed", init, (cfg.max_len, cfg.width))
        self.blocks = [Block(cfg, name=f"block{i}") for i in range(cfg.depth)]
        self.norm = nn.LayerNorm()
        self.mlm_dense = nn.Dense(cfg.width)
        self.mlm_norm = nn.LayerNorm()
        self.mlm_bias = self.param("mlm_bias", nn.initializers.zeros, (VOCAB_SIZE,))

    def __call__(self, tokens: jax.Array, *, train: bool = False) -> tuple[jax.Array, jax.Array]:
        self._check(tokens)
        keep = tokens != PAD                                           # (B, L)
        x = self.token_embed(tokens) + self.pos_embed[:tokens.shape[1]]  # (B, L, D)
        x = x.astype(jnp.dtype(self.config.dtype))
        for block in self.blocks:
            x = block(x, keep, train=train)
        h = self.norm(x.astype(jnp.float32))                           # (B, L, D)
        w = keep.astype(jnp.float32)[..., None]                        # (B, L, 1)
        pooled = jnp.sum(h * w, axis=1) / jnp.maximum(jnp.sum(w, axis=1), 1.0)
        return h, pooled

    def mlm_logits(self, h: jax.Array) -> jax.Array:
        """BERT's MLM head: (B, L, D) -> float32 (B, L, VOCAB_SIZE)."""
        h = self.mlm_norm(nn.gelu(self.mlm_dense(h)))
        return self.token_embed.attend(h) + self.mlm_bias

    def mlm(self, tokens: jax.Array, *, train: bool = False) -> jax.Array:
        """tokens (B, L) -> MLM logits (B, L, VOCAB_SIZE); initialise with this method so
        the head's parameters exist too."""
        return self.mlm_logits(self(tokens, train=train)[0])

    def _check(self, tokens: jax.Array) -> None:
        if tokens.ndim != 2 or tokens.shape[1] > self.config.max_len:
            raise ValueError(f"TextEncoder tokens have shape {tokens.shape}; expected (B, L) "
                             f"with L <= max_len={self.config.max_len}; encode with "
                             f"encode_text(texts, max_len) or raise TextConfig.max_len")
