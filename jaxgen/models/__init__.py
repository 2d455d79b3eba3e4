"""Flax Linen modules: the diffusion U-Net and DiT, the text encoder, and the reusable layers
the families share."""
from jaxgen.models.layers import (AttnBlock, Downsample, ResBlock, Upsample, group_norm,
                                  sinusoidal_embedding, upsample_nearest)
from jaxgen.models.unet import UNet, UNetConfig

__all__ = [
    "AttnBlock", "Downsample", "ResBlock", "UNet", "UNetConfig", "Upsample", "group_norm",
    "sinusoidal_embedding", "upsample_nearest",
]
from jaxgen.models.dcgan import (ConvTranspose, DCGANConfig, Discriminator, Generator,  # noqa: E402
                                 conv_transpose)
from jaxgen.models.vae import VAE, VAEConfig  # noqa: E402

__all__ += ["ConvTranspose", "DCGANConfig", "Discriminator", "Generator", "VAE", "VAEConfig",
            "conv_transpose"]
from jaxgen.models.text import TextConfig, TextEncoder  # noqa: E402

__all__ += ["TextConfig", "TextEncoder"]
from jaxgen.models.attention import Attention, CrossAttnBlock, TextContext  # noqa: E402
from jaxgen.models.dit import DiT, DiTConfig  # noqa: E402

__all__ += ["Attention", "CrossAttnBlock", "DiT", "DiTConfig", "TextContext"]
