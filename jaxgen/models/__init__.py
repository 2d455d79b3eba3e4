"""Flax Linen modules: the diffusion U-Net and the reusable layers other families share."""
from jaxgen.models.layers import (AttnBlock, Downsample, ResBlock, Upsample, group_norm,
                                  sinusoidal_embedding, upsample_nearest)
from jaxgen.models.unet import UNet, UNetConfig

__all__ = [
    "AttnBlock", "Downsample", "ResBlock", "UNet", "UNetConfig", "Upsample", "group_norm",
    "sinusoidal_embedding", "upsample_nearest",
]
