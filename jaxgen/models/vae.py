"""Convolutional VAE encoder and decoder (Kingma & Welling 2014) for small square images (NHWC).

Encoder x -> (mu, log sigma^2) of a diagonal Gaussian q(z|x); decoder z -> per-pixel
(mean, log scale) of a discretised logistic p(x|z) (see jaxgen.families.vae); prior
p(z) = N(m, L L^T), either N(0, I) or learned (`learned_prior`). Resolution
halves at each level after the first (stride-2 conv down, nearest-resize + conv up: no
transposed convolutions, whose gradient is slow on XLA:CPU).
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.models.layers import Conv, Downsample, ResBlock, Upsample, group_norm


@dataclasses.dataclass(frozen=True)
class VAEConfig:
    """ch: channels of the first level, times ch_mult[i] at level i (resolution / 2^i);
    num_res_blocks per level; latent_dim: size of z; learned_prior: p(z) = N(m, L L^T) with
    m and L trained (else N(0, I)); dtype: the compute dtype of convolutions and dense layers
    (parameters, GroupNorm and the prior stay float32; encoder and decoder return float32)."""
    ch: int = 32
    ch_mult: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    latent_dim: int = 32
    image_size: int = 28
    channels: int = 1
    num_groups: int = 8
    learned_prior: bool = False
    dtype: str = "float32"        # compute dtype; "bfloat16" for mixed precision

    def __post_init__(self):
        factor = 2 ** (len(self.ch_mult) - 1)
        if self.image_size % factor:
            raise ValueError(f"VAE: config.data.image_size={self.image_size} must be divisible "
                             f"by 2^(len(model.ch_mult)-1) = {factor}; shorten model.ch_mult")

    @property
    def base_size(self) -> int:
        return self.image_size // 2 ** (len(self.ch_mult) - 1)


class Encoder(nn.Module):
    """x (B, S, S, C) -> mu (B, latent_dim), log_var (B, latent_dim), float32."""
    config: VAEConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        c, dtype = self.config, jnp.dtype(self.config.dtype)
        h = Conv(c.ch * c.ch_mult[0], (3, 3), dtype=dtype, name="conv_in")(x.astype(dtype))
        h = nn.silu(h)                                                       # (B, S, S, ch)
        for level, mult in enumerate(c.ch_mult):
            if level:
                h = nn.silu(Downsample(c.ch * mult, dtype=dtype, name=f"down_{level}")(h))
            for i in range(c.num_res_blocks):                                # (B, S/2^l, ., .)
                h = ResBlock(c.ch * mult, num_groups=c.num_groups, dtype=dtype,
                             name=f"res_{level}_{i}")(h)
        h = group_norm(h, c.num_groups, dtype, "norm_out", silu=True)
        h = h.reshape(h.shape[0], -1)                                        # (B, s*s*C_top)
        stats = nn.Dense(2 * c.latent_dim, dtype=dtype, name="fc")(h)        # (B, 2 * latent)
        mu, log_var = jnp.split(stats.astype(jnp.float32), 2, axis=-1)
        return mu, log_var


class Decoder(nn.Module):
    """z (B, latent_dim) -> mean (B, S, S, C), log_scale (B, S, S, C) of p(x|z), float32."""
    config: VAEConfig

    @nn.compact
    def __call__(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        c, s, dtype = self.config, self.config.base_size, jnp.dtype(self.config.dtype)
        top = c.ch * c.ch_mult[-1]
        h = nn.Dense(s * s * top, dtype=dtype, name="fc")(z.astype(dtype))
        h = nn.silu(h).reshape(-1, s, s, top)                                # (B, s, s, C_top)
        for level in reversed(range(len(c.ch_mult))):
            mult = c.ch_mult[level]
            for i in range(c.num_res_blocks):
                h = ResBlock(c.ch * mult, num_groups=c.num_groups, dtype=dtype,
                             name=f"res_{level}_{i}")(h)
            if level:                                                        # 2x resolution
                h = nn.silu(Upsample(c.ch * c.ch_mult[level - 1], dtype=dtype,
                                     name=f"up_{level}")(h))
        h = group_norm(h, c.num_groups, dtype, "norm_out", silu=True)
        out = Conv(2 * c.channels, (3, 3), dtype=dtype, name="conv_out")(h)  # (B, S, S, 2C)
        mean, log_scale = jnp.split(out.astype(jnp.float32), 2, axis=-1)
        return mean, log_scale


class VAE(nn.Module):
    """Encoder + decoder + prior. A learned full-covariance Gaussian prior is the same model
    class as N(0, I) followed by an affine map (which the decoder's first Dense could absorb),
    but its optimum is reached directly: for fixed q, the best Gaussian p(z) matches the
    moments of the aggregate posterior, so prior samples land where the decoder was trained."""
    config: VAEConfig

    def setup(self):
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)
        if self.config.learned_prior:
            d = self.config.latent_dim
            self.prior_mean = self.param("prior_mean", nn.initializers.zeros, (d,))
            self.prior_scale = self.param("prior_scale", nn.initializers.zeros, (d, d))

    def __call__(self, x: jax.Array, z: jax.Array):
        return self.encoder(x), self.decoder(z), self.prior()

    def encode(self, x: jax.Array):
        return self.encoder(x)

    def decode(self, z: jax.Array):
        return self.decoder(z)

    def prior(self) -> tuple[jax.Array, jax.Array]:
        """(m (d,), L (d, d)) of p(z) = N(m, L L^T); L lower-triangular with diagonal exp(.)
        of the raw parameter's diagonal (its upper triangle is unused). N(0, I) at init."""
        d = self.config.latent_dim
        if not self.config.learned_prior:
            return jnp.zeros((d,)), jnp.eye(d)
        raw = self.prior_scale
        return self.prior_mean, jnp.tril(raw, -1) + jnp.diag(jnp.exp(jnp.diag(raw)))
