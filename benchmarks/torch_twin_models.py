"""PyTorch eager twins of jaxgen's diffusion U-Net and DCGAN, for benchmarks/torch_twin.py.

Layer for layer the networks of jaxgen/models/unet.py, layers.py and dcgan.py, written the
plain PyTorch way (NCHW, torch.nn modules, F.scaled_dot_product_attention): the same
parameters, the same FLOPs and, with jaxgen's parameters copied in by `load_flax`, the same
outputs up to float rounding. Module names follow the Flax ones ("down1_res0.conv1"), so the
copy is by name. The details that have to match Flax:
  - GroupNorm over gcd(num_groups, C) groups, epsilon 1e-6; BatchNorm epsilon 1e-5,
    momentum 0.1 (Flax's 0.9 is the weight of the old running value);
  - the 1x1 skip (a Dense over channels in Flax) is a 1x1 conv here, same weights;
  - attention is Flax's MultiHeadDotProductAttention: separate query / key / value / out
    projections, each with a bias, softmax(q k^T / sqrt(head_dim)) v;
  - Flax's SAME padding for the stride-2 conv pads (0, 1) on an even size, not (1, 1);
  - Flax flattens and reshapes NHWC; the Dense layers next to a reshape are permuted on load.
This module imports torch at the top; jaxgen never imports it.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from jaxgen.models.layers import group_size, inner_width


def group_norm(channels: int, num_groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(num_groups, channels), channels, eps=1e-6)


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0):
    """(B,) -> (B, dim), [sin | cos], as jaxgen.models.layers.sinusoidal_embedding."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32)
                      / max(half, 1))
    args = t.float()[:, None] * freqs[None, :]
    return F.pad(torch.cat([torch.sin(args), torch.cos(args)], dim=-1), (0, dim % 2))


def same_pads(size: int, kernel: int = 3, stride: int = 2) -> tuple[int, int]:
    """XLA's SAME padding (low, high) of one spatial dimension: the extra pixel goes high."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class ResBlock(nn.Module):
    """jaxgen.models.layers.ResBlock; its inner width and norm2's groups follow mid_ratio the
    same way (inner_width, group_size)."""
    def __init__(self, c_in, c_out, temb_dim, num_groups, dropout=0.0, skip_rescale=False,
                 mid_ratio=1.0):
        super().__init__()
        c_mid = inner_width(c_out, mid_ratio, num_groups)
        self.norm1 = group_norm(c_in, num_groups)
        self.conv1 = nn.Conv2d(c_in, c_mid, 3, padding=1)
        self.temb_proj = nn.Linear(temb_dim, c_mid)
        self.norm2 = group_norm(c_mid, c_mid // group_size(c_out, num_groups))
        self.conv2 = nn.Conv2d(c_mid, c_out, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else None
        self.scale = 1 / math.sqrt(2) if skip_rescale else 1.0

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return ((self.skip(x) if self.skip is not None else x) + h) * self.scale


class Attention(nn.Module):
    """Flax's MultiHeadDotProductAttention (qkv_features = out_features = C). (B, L, C)."""
    def __init__(self, channels: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.query, self.key, self.value, self.out = (nn.Linear(channels, channels)
                                                      for _ in range(4))

    def forward(self, x):
        b, length, c = x.shape
        q, k, v = (p(x).view(b, length, self.num_heads, -1).transpose(1, 2)
                   for p in (self.query, self.key, self.value))               # (B, heads, L, d)
        h = F.scaled_dot_product_attention(q, k, v)
        return self.out(h.transpose(1, 2).reshape(b, length, c))


class AttnBlock(nn.Module):
    def __init__(self, channels: int, num_heads: int, num_groups: int):
        super().__init__()
        self.norm, self.attn = group_norm(channels, num_groups), Attention(channels, num_heads)

    def forward(self, x):
        b, c, hgt, wid = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)                           # (B, HW, C)
        return x + self.attn(h).transpose(1, 2).reshape(b, c, hgt, wid)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x):
        (top, bottom), (left, right) = same_pads(x.shape[2]), same_pads(x.shape[3])
        return self.conv(F.pad(x, (left, right, top, bottom)))


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class UNet(nn.Module):
    """jaxgen.models.UNet: takes UNetConfig's fields (float32 only) plus the input's size
    and channels. x (B, C, H, W), t (B,) [, label (B,)] -> (B, out_channels, H, W)."""
    def __init__(self, *, ch, ch_mult, num_res_blocks, attn_resolutions, dropout, num_classes,
                 out_channels, num_groups, num_heads, dtype="float32", skip_rescale=False,
                 patch=1, mid_ratio=1.0, image_size, in_channels):
        super().__init__()
        if dtype != "float32":
            raise ValueError(f"the PyTorch twin is float32 only, got dtype={dtype!r}")
        self.ch, self.levels, self.blocks = ch, len(ch_mult), num_res_blocks
        self.num_classes, temb, self.patch = num_classes, 4 * ch, patch
        self.temb_dense0, self.temb_dense1 = nn.Linear(ch, temb), nn.Linear(temb, temb)
        self.class_embed = nn.Embedding(num_classes + 1, temb) if num_classes else None
        self.conv_in = nn.Conv2d(in_channels * patch ** 2, ch, 3, padding=1)
        self._res = functools.partial(ResBlock, temb_dim=temb, num_groups=num_groups,
                                      mid_ratio=mid_ratio,
                                      dropout=dropout, skip_rescale=skip_rescale)
        self._attn_block = functools.partial(AttnBlock, num_heads=num_heads, num_groups=num_groups)
        c, res, skips = self._add_down(ch_mult, image_size // patch, attn_resolutions)
        self.mid_res0, self.mid_attn = self._res(c, c), self._attn_block(c)
        self.mid_res1 = self._res(c, c)
        c = self._add_up(ch_mult, c, res, skips, attn_resolutions)
        self.norm_out = group_norm(c, num_groups)
        self.conv_out = nn.Conv2d(c, out_channels * patch ** 2, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)

    def _add_down(self, ch_mult, res, attn_resolutions):
        """The down path's modules; returns its channels, resolution and skip channels."""
        c, skips = self.ch, [self.ch]
        for level, mult in enumerate(ch_mult):
            for i in range(self.blocks):
                self.add_module(f"down{level}_res{i}", self._res(c, self.ch * mult))
                c = self.ch * mult
                if res in attn_resolutions:
                    self.add_module(f"down{level}_attn{i}", self._attn_block(c))
                skips.append(c)
            if level < len(ch_mult) - 1:
                self.add_module(f"down{level}_downsample", Downsample(c))
                res = math.ceil(res / 2)
                skips.append(c)
        return c, res, skips

    def _add_up(self, ch_mult, c, res, skips, attn_resolutions):
        """The up path's modules, consuming the skip channels; returns its output channels."""
        for level in reversed(range(len(ch_mult))):
            for i in range(self.blocks + 1):
                c_out = self.ch * ch_mult[level]
                self.add_module(f"up{level}_res{i}", self._res(c + skips.pop(), c_out))
                c = c_out
                if res in attn_resolutions:
                    self.add_module(f"up{level}_attn{i}", self._attn_block(c))
            if level > 0:
                self.add_module(f"up{level}_upsample", Upsample(c))
                res *= 2
        return c

    def _attn(self, name, h):
        block = getattr(self, name, None)
        return h if block is None else block(h)

    def forward(self, x, t, label=None):
        temb = self.temb_dense1(F.silu(self.temb_dense0(sinusoidal_embedding(t, self.ch))))
        if self.class_embed is not None:
            label = torch.full_like(t, self.num_classes) if label is None else label
            temb = temb + self.class_embed(label)
        h = self.conv_in(space_to_depth(x, self.patch))
        skips = [h]
        for level in range(self.levels):
            for i in range(self.blocks):
                h = getattr(self, f"down{level}_res{i}")(h, temb)
                h = self._attn(f"down{level}_attn{i}", h)
                skips.append(h)
            if level < self.levels - 1:
                h = getattr(self, f"down{level}_downsample")(h)
                skips.append(h)
        h = self.mid_res1(self.mid_attn(self.mid_res0(h, temb)), temb)
        for level in reversed(range(self.levels)):
            for i in range(self.blocks + 1):
                h = getattr(self, f"up{level}_res{i}")(torch.cat([h, skips.pop()], dim=1), temb)
                h = self._attn(f"up{level}_attn{i}", h)
            if level > 0:
                h = getattr(self, f"up{level}_upsample")(h)
        return depth_to_space(self.conv_out(F.silu(self.norm_out(h))), self.patch)


def space_to_depth(x, p: int):
    """jaxgen.models.layers.space_to_depth in NCHW: channel (row * p + col) * C + c."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(b, p * p * c, h // p, w // p)


def depth_to_space(x, p: int):
    """The inverse of space_to_depth: (B, p*p*C, H, W) -> (B, C, pH, pW)."""
    b, c, h, w = x.shape
    x = x.reshape(b, p, p, c // (p * p), h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(b, c // (p * p), h * p, w * p)


def _act(name: str):
    return nn.ReLU() if name == "relu" else nn.LeakyReLU(0.2)


class Generator(nn.Module):
    """jaxgen.models.dcgan.Generator: z (B, z_dim) -> (B, C, S, S) in [-1, 1]."""
    def __init__(self, *, z_dim, g_ch, image_size, channels, batch_norm, g_act, **_):
        super().__init__()
        self.s, self.g_ch, bias = image_size // 4, g_ch, not batch_norm
        self.fc = nn.Linear(z_dim, self.s * self.s * g_ch, bias=bias)
        self.bn_fc = nn.BatchNorm2d(g_ch, eps=1e-5, momentum=0.1) if batch_norm else nn.Identity()
        self.up1 = nn.ConvTranspose2d(g_ch, g_ch // 2, 4, stride=2, padding=1, bias=bias)
        self.bn_up1 = (nn.BatchNorm2d(g_ch // 2, eps=1e-5, momentum=0.1) if batch_norm
                       else nn.Identity())
        self.up2 = nn.ConvTranspose2d(g_ch // 2, channels, 4, stride=2, padding=1)
        self.act = _act(g_act)

    def forward(self, z):
        h = self.act(self.bn_fc(self.fc(z).view(-1, self.g_ch, self.s, self.s)))
        h = self.act(self.bn_up1(self.up1(h)))
        return torch.tanh(self.up2(h))

    def flax_fixup(self, name: str, value: np.ndarray) -> np.ndarray:
        """Flax reshapes fc's output as (s, s, g_ch), PyTorch as (g_ch, s, s): permute its rows."""
        if not name.startswith("fc."):
            return value
        s, g = self.s, self.g_ch
        rows = value.reshape(s, s, g, -1).transpose(2, 0, 1, 3)                  # (g, s, s, in)
        return rows.reshape(value.shape)


class Discriminator(nn.Module):
    """jaxgen.models.dcgan.Discriminator (no spectral norm): x (B, C, S, S) -> logit (B,)."""
    def __init__(self, *, d_ch, image_size, channels, spectral_norm, **_):
        super().__init__()
        if spectral_norm:
            raise ValueError("the PyTorch twin has no spectral norm; use a config without it")
        self.s, self.d_ch = image_size // 4, d_ch
        self.conv1 = nn.Conv2d(channels, d_ch, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(d_ch, 2 * d_ch, 4, stride=2, padding=1)
        self.fc = nn.Linear(self.s * self.s * 2 * d_ch, 1)

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2)
        return self.fc(h.flatten(1))[:, 0]

    def flax_fixup(self, name: str, value: np.ndarray) -> np.ndarray:
        """Flax flattens (s, s, 2 d_ch), PyTorch (2 d_ch, s, s): permute fc's inputs."""
        if name != "fc.weight":
            return value
        s, c = self.s, 2 * self.d_ch
        return value.reshape(-1, s, s, c).transpose(0, 3, 1, 2).reshape(value.shape)


RENAME = {"kernel": "weight", "scale": "weight", "embedding": "weight", "bias": "bias"}


def flax_items(params, prefix: str = ""):
    """(dotted path, numpy array) for every leaf of a Flax parameter tree."""
    for key, value in params.items():
        if isinstance(value, Mapping):
            yield from flax_items(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", np.array(value)


def from_flax(path: str, value: np.ndarray, transposed: bool) -> np.ndarray:
    """A Flax parameter in the layout of its PyTorch twin."""
    if not path.endswith(".kernel"):
        return value                                    # bias, scale, embedding: as they are
    if value.ndim == 4 and transposed:                  # applied as-is on the dilated input
        return value[::-1, ::-1].transpose(2, 3, 0, 1)  # (kh, kw, in, out) -> (in, out, kh, kw)
    if value.ndim == 4:
        return value.transpose(3, 2, 0, 1)              # (kh, kw, in, out) -> (out, in, kh, kw)
    if value.ndim == 3 and path.endswith("attn.out.kernel"):
        return value.reshape(-1, value.shape[-1]).T     # (heads, d, C) -> (C, heads * d)
    if value.ndim == 3:
        return value.reshape(value.shape[0], -1).T      # (C, heads, d) -> (heads * d, C)
    return value.T                                      # dense (in, out) -> (out, in)


def load_flax(module: nn.Module, params) -> None:
    """Copies Flax `params` into `module` by name. Every parameter on each side must have
    its twin, of the same size, else KeyError / ValueError naming it."""
    targets = dict(module.named_parameters())
    transposed = {n for n, m in module.named_modules() if isinstance(m, nn.ConvTranspose2d)}
    fixup = getattr(module, "flax_fixup", lambda name, value: value)
    loaded = set()
    for path, value in flax_items(params):
        owner, _, leaf = path.rpartition(".")
        name = f"{owner}.{RENAME[leaf]}"
        if name not in targets:
            raise KeyError(f"Flax parameter {path} {value.shape} has no PyTorch twin {name}")
        target = targets[name]
        value = fixup(name, from_flax(path, value, owner in transposed))
        if value.size != target.numel():
            raise ValueError(f"{path} {value.shape} vs PyTorch {name} {tuple(target.shape)}")
        with torch.no_grad():
            target.copy_(torch.from_numpy(np.ascontiguousarray(value)).reshape(target.shape))
        loaded.add(name)
    if loaded != set(targets):
        raise KeyError(f"PyTorch parameters without a Flax twin: {sorted(set(targets) - loaded)}")
