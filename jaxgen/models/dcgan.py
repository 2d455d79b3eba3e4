"""DCGAN generator and discriminator (Radford et al. 2015) for small square images (NHWC).

The generator upsamples twice with exact transposed convolutions, PyTorch's
`ConvTranspose2d(kernel 4, stride 2, padding 1)`. XLA:CPU computes the gradient of an
lhs-dilated convolution with a very slow kernel (measured on 2 CPU cores, textbook DCGAN,
batch 64, both updates: 291 ms per step with plain `nn.ConvTranspose` vs 60 ms with this
custom_vjp, the same numbers to 1e-6 relative; PyTorch eager 70 ms on the same CPU), so `conv_transpose` carries a `jax.custom_vjp` whose gradients are those of the
plain strided convolution it is the adjoint of — the same numbers, computed the fast way.
"""
from __future__ import annotations

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen import kernels
from jaxgen.models.layers import Conv, Dtype, in_float32

_DIMS = ("NHWC", "HWIO", "NHWC")


def _dilated_conv(x, kernel, stride: int, padding: int):
    """Transposed conv as an lhs-dilated conv, padded k-1-p:
    (B, H, W, C_in) -> (B, s(H-1)+k-2p, s(W-1)+k-2p, C_out)."""
    q = kernel.shape[0] - 1 - padding
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), ((q, q), (q, q)),
                                        lhs_dilation=(stride, stride), dimension_numbers=_DIMS)


def _strided_conv(y, kernel, stride: int, padding: int):
    """The adjoint: the plain stride-s conv with the kernel flipped and its in/out swapped,
    (B, H', W', C_out) -> (B, H, W, C_in)."""
    adjoint = jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)          # (k, k, C_out, C_in)
    return kernels.conv_general_dilated(y, adjoint, (stride, stride),
                                        ((padding, padding), (padding, padding)),
                                        dimension_numbers=_DIMS)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv_transpose(x, kernel, stride: int = 2, padding: int = 1):
    """PyTorch `ConvTranspose2d(kernel k, stride s, padding p)`, output_padding 0, no bias.

    x: (B, H, W, C_in); kernel: (k, k, C_in, C_out), applied as-is to x dilated by s and
    padded by k-1-p (as `nn.ConvTranspose(padding=k-1-p)`). Returns (B, s(H-1)+k-2p, ., C_out).
    """
    return _dilated_conv(x, kernel, stride, padding)


def _conv_transpose_fwd(x, kernel, stride, padding):
    return _dilated_conv(x, kernel, stride, padding), (x, kernel)


def _conv_transpose_bwd(stride, padding, residuals, dy):
    """y = T_K x and T_K^T = S_K (the strided conv), so <dy, T_K x> = <S_K dy, x>:
    dx = S_K dy, and dK is the weight-gradient of S_K at input dy and cotangent x."""
    x, kernel = residuals
    dx, pullback = jax.vjp(lambda k: _strided_conv(dy, k, stride, padding), kernel)
    return dx, pullback(x)[0]  # H_out + 2p - k = s (H - 1), so dx has x's shape exactly


conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


class ConvTranspose(nn.Module):
    """`conv_transpose` [+ bias]: (B, H, W, C_in) -> (B, 2H, 2W, features) for k4 s2 p1,
    computed in `dtype` (float32 parameters cast to it, as nn.Conv does)."""
    features: int
    kernel_size: int = 4
    stride: int = 2
    padding: int = 1
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.normal(0.02)
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features))
        y = conv_transpose(x.astype(self.dtype), kernel.astype(self.dtype), self.stride,
                           self.padding)
        if not self.use_bias:
            return y
        return y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)


@dataclasses.dataclass(frozen=True)
class DCGANConfig:
    """z_dim: latent size; g_ch: generator channels at the base (image_size/4) resolution,
    halved after the first upsampling; d_ch: discriminator channels of its first conv, doubled
    by the second; g_act: "leaky_relu" (0.2) or "relu"; init_std: N(0, init_std) weights;
    dtype: the compute dtype of convolutions and dense layers (parameters, BatchNorm and
    spectral-norm statistics stay float32; both nets return float32)."""
    z_dim: int = 100
    g_ch: int = 128
    d_ch: int = 64
    image_size: int = 28
    channels: int = 1
    batch_norm: bool = False
    spectral_norm: bool = False
    g_act: str = "leaky_relu"
    init_std: float = 0.02
    dtype: str = "float32"        # compute dtype; "bfloat16" for mixed precision

    def __post_init__(self):
        if self.image_size % 4:
            raise ValueError(f"DCGAN needs config.data.image_size divisible by 4 (two stride-2 "
                             f"stages), got {self.image_size}; resize the data, e.g. to 28 or 32")
        if self.g_act not in ("leaky_relu", "relu"):
            raise ValueError(f"config.model.g_act={self.g_act!r}: use 'leaky_relu' or 'relu'")


def _act(name: str):
    return nn.relu if name == "relu" else functools.partial(nn.leaky_relu, negative_slope=0.2)


class Generator(nn.Module):
    """z (B, z_dim) -> image (B, S, S, C) in [-1, 1]: Dense -> reshape (S/4)^2 -> [BN] act ->
    ConvT(g_ch/2) [BN] act -> ConvT(C) -> tanh (BN per channel, as in Radford et al.; the layers
    before a BN have no bias: its gradient would be zero up to rounding, which Adam inflates).
    `bn_momentum=0` makes a train-mode call store the batch's own statistics (used for the
    standing statistics of the EMA generator)."""
    config: DCGANConfig
    axis_name: str | None = None
    bn_momentum: float = 0.9

    def _norm_act(self, h, train: bool, name: str):
        if self.config.batch_norm:
            norm = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                                axis_name=self.axis_name, name=name)
            h = in_float32(norm, h, h.dtype)
        return _act(self.config.g_act)(h)

    @nn.compact
    def __call__(self, z: jax.Array, *, train: bool = False) -> jax.Array:
        c, init = self.config, nn.initializers.normal(self.config.init_std)
        dtype = jnp.dtype(c.dtype)
        s, bias = c.image_size // 4, not c.batch_norm  # BN's shift makes a bias before it moot
        h = nn.Dense(s * s * c.g_ch, use_bias=bias, kernel_init=init, dtype=dtype,
                     name="fc")(z)                                         # (B, s*s*g_ch)
        h = h.reshape(-1, s, s, c.g_ch)                                    # (B, s, s, g_ch)
        h = self._norm_act(h, train, "bn_fc")
        h = ConvTranspose(c.g_ch // 2, use_bias=bias, kernel_init=init, dtype=dtype,
                          name="up1")(h)                                   # (B, 2s, 2s, g_ch/2)
        h = self._norm_act(h, train, "bn_up1")
        h = ConvTranspose(c.channels, kernel_init=init, dtype=dtype, name="up2")(h)  # 4s x 4s
        return jnp.tanh(h.astype(jnp.float32))


class Discriminator(nn.Module):
    """image (B, S, S, C) -> logit (B,): Conv(d_ch, k4 s2 p1) LReLU -> Conv(2 d_ch, k4 s2 p1)
    LReLU -> flatten -> Dense(1); each layer optionally spectrally normalised (Miyato et al. 2018),
    its power-iteration state in the "batch_stats" collection."""
    config: DCGANConfig

    def _layer(self, layer, h, update_stats: bool):
        if self.config.spectral_norm:
            return nn.SpectralNorm(layer)(h, update_stats=update_stats)
        return layer(h)

    @nn.compact
    def __call__(self, x: jax.Array, *, update_stats: bool = False) -> jax.Array:
        c, init = self.config, nn.initializers.normal(self.config.init_std)
        dtype = jnp.dtype(c.dtype)
        lrelu = functools.partial(nn.leaky_relu, negative_slope=0.2)
        conv = functools.partial(Conv, kernel_size=(4, 4), strides=(2, 2),
                                 padding=((1, 1), (1, 1)), kernel_init=init, dtype=dtype)
        h = lrelu(self._layer(conv(c.d_ch, name="conv1"), x.astype(dtype), update_stats))
        h = lrelu(self._layer(conv(2 * c.d_ch, name="conv2"), h, update_stats))  # (B, S/4, S/4, 2d)
        h = h.reshape(h.shape[0], -1)                                            # (B, S^2/16 * 2d)
        logit = self._layer(nn.Dense(1, kernel_init=init, dtype=dtype, name="fc"), h, update_stats)
        return logit[:, 0].astype(jnp.float32)                                   # (B,)
