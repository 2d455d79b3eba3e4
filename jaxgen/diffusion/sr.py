"""Super-resolution inputs (SR3, Saharia et al. 2021, sec. 2.4): the low-resolution image,
upsampled to the target size, is concatenated to the denoiser's noisy input as extra channels.

    lr = downsample(hr, factor)           # (B, H/f, W/f, C): box average over f x f blocks
    x_lr = upsample(lr, factor)           # (B, H, W, C): bicubic, what the model sees

Downsampling is the area (box) filter: each low-resolution pixel is the mean of its f x f
block, the exact anti-aliased integral of the image over that pixel (PIL's BOX / OpenCV's
INTER_AREA for integer factors), so `downsample(upsample(...))` tests consistency without a
filter of its own. Upsampling is Keys' bicubic (a = -0.5, `jax.image.resize`), not clipped.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def check_factor(factor: int, size: int, where: str = "config.sr.factor") -> int:
    """`factor` as an int, checked: >= 2 and dividing the image side `size`."""
    if int(factor) != factor or factor < 2 or size % int(factor):
        divisors = [f for f in range(2, size + 1) if size % f == 0]
        raise ValueError(f"{where}={factor} must be an integer >= 2 dividing the image size "
                         f"{size}; choose one of {divisors}")
    return int(factor)


def downsample(hr: jax.Array, factor: int) -> jax.Array:
    """Box average over factor x factor blocks: (B, H, W, C) -> (B, H/f, W/f, C)."""
    b, h, w, c = hr.shape
    blocks = hr.reshape(b, h // factor, factor, w // factor, factor, c)
    return blocks.mean(axis=(2, 4))


def upsample(lr: jax.Array, factor: int, method: str = "bicubic") -> jax.Array:
    """(B, h, w, C) -> (B, h f, w f, C) by `method` ("bicubic", "nearest", "linear")."""
    b, h, w, c = lr.shape
    return jax.image.resize(lr, (b, h * factor, w * factor, c), method=method)


def lr_condition(hr: jax.Array, factor: int) -> jax.Array:
    """The model's conditioning image of a high-resolution batch: upsample(downsample(hr)),
    (B, H, W, C) -> (B, H, W, C)."""
    return upsample(downsample(hr, factor), factor)
