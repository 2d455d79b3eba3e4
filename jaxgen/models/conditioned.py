"""A denoiser conditioned on a prompt: tokens -> TextEncoder -> (token embeddings, pooled) ->
the denoiser's `context` (cross-attention keys / values, pooled embedding added to the time
embedding; Rombach et al. 2022 sec. 3.3, Saharia et al. 2022 sec. 2.1).

    model = TextConditioned(TextConfig(...), UNet(...) or DiT(...), freeze=False)
    out = model.apply({"params": p}, x, t, tokens, train=False)   # p = {"text", "denoiser"}

It has the denoisers' signature (x, t, label, *, train) with the label slot holding the
prompt's tokens int32 (B, L), so the samplers and classifier-free guidance (whose null input is
the empty prompt's tokens) need no change.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.data.tokens import PAD
from jaxgen.models.attention import TextContext
from jaxgen.models.text import TextConfig, TextEncoder


class TextConditioned(nn.Module):
    """(x (B, H, W, C), t (B,), tokens int32 (B, L), *, train) -> the denoiser's output.
    `freeze`: the encoder runs in inference mode and passes no gradient to its parameters."""
    text: TextConfig
    denoiser: nn.Module
    freeze: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, t: jax.Array, tokens: jax.Array | None, *,
                 train: bool = False) -> jax.Array:
        if tokens is None or tokens.ndim != 2 or not jnp.issubdtype(tokens.dtype, jnp.integer):
            raise ValueError(f"a text-conditioned denoiser takes prompt tokens int (B, L), got "
                             f"{None if tokens is None else (tokens.dtype, tokens.shape)}; the "
                             f"unconditional input is the empty prompt: encode_text([''], L)")
        h, pooled = TextEncoder(self.text, name="text")(tokens, train=train and not self.freeze)
        if self.freeze:
            h, pooled = jax.lax.stop_gradient((h, pooled))
        return self.denoiser(x, t, None, train=train, context=TextContext(h, tokens != PAD, pooled))


class ImageConditioned(nn.Module):
    """A denoiser that also sees an image (SR3, Saharia et al. 2021 sec. 2.4): the condition
    (B, H, W, C_c), e.g. the upsampled low-resolution image, is concatenated to the noisy input
    as extra channels. (x (B, H, W, C), t (B,), image (B, H, W, C_c), *, train) -> the
    denoiser's output (B, H, W, out_channels); the denoiser (U-Net or DiT) takes C + C_c
    input channels and no label."""
    denoiser: nn.Module

    @nn.compact
    def __call__(self, x: jax.Array, t: jax.Array, image: jax.Array | None, *,
                 train: bool = False) -> jax.Array:
        if image is None or image.shape[:3] != x.shape[:3]:
            raise ValueError(f"an image-conditioned denoiser takes a condition image (B, H, W, "
                             f"C_c) the size of its input {tuple(x.shape)}, got "
                             f"{None if image is None else tuple(image.shape)}; upsample the "
                             f"low-resolution image first (jaxgen.diffusion.sr.upsample)")
        h = jnp.concatenate([x, image.astype(x.dtype)], axis=-1)   # (B, H, W, C + C_c)
        return self.denoiser(h, t, None, train=train)
