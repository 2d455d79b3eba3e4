"""DiT, the diffusion transformer of Peebles & Xie 2023 ("Scalable Diffusion Models with
Transformers"), with adaLN-Zero conditioning and optional cross-attention to a prompt.

x (B, H, W, C) -> patchify (p x p patches, a Dense over each, sec. 3.2 "Patchify") + 2-D
position embedding (fixed sin-cos as in the paper, or learned) -> N = H W / p^2 tokens of
width D -> `depth` blocks -> final adaLN + Dense to p^2 C_out values per token -> unpatchify.

Conditioning c = MLP(sinusoidal(t)) + class embedding (null id `num_classes` for
classifier-free guidance) + Dense(pooled prompt). Each block is adaLN-Zero (sec. 3.2): from
SiLU(c) a zero-initialised Dense gives (shift, scale, gate) for the attention and the MLP,
  x = x + gate_1 * Attn(LN(x) (1 + scale_1) + shift_1)
  x = x + CrossAttn(LN(x), text tokens)          (with a prompt; zero-initialised output)
  x = x + gate_2 * MLP(LN(x) (1 + scale_2) + shift_2)
so every block, and the zero-initialised final layer, starts as the identity / zero. Prompts
enter by cross-attention in every block (as PixArt-alpha, Chen et al. 2023), not by
concatenating text tokens to the image tokens.

The blocks all take and return one (B, N, D) array with (c, context) broadcast, so
`scan_blocks=True` runs them as one `nn.scan` over stacked parameters (leading axis `depth`,
under params/blocks): one block compiled once, and a stack a pipeline can split by stage.
While a pipeline plan is active (`config.parallel.pipeline.stages` > 1, in the jit training
step) that stack runs as a GPipe schedule over the "stage" mesh axis (jaxgen/parallel/pipeline.py)
with the same parameters; patch embedding, conditioning and the output head stay outside it.
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.models.attention import Attention
from jaxgen.models.layers import add_conditioning, sinusoidal_embedding
from jaxgen.parallel import pipeline

POS_EMBEDS = ("sincos", "learned")


@dataclasses.dataclass(frozen=True)
class DiTConfig:
    """Hyperparameters of `DiT`. width D must be divisible by heads and by 4 (sin-cos halves
    per axis); the image side must be divisible by patch_size."""
    patch_size: int = 2
    width: int = 256
    depth: int = 6
    heads: int = 4
    mlp_ratio: int = 4
    pos_embed: str = "sincos"     # "sincos" (fixed) or "learned"
    num_classes: int = 0          # 0: unconditional; else labels 0..num_classes-1 + null id
    out_channels: int = 1
    dropout: float = 0.0          # on the MLP's hidden layer
    dtype: str = "float32"        # compute dtype; parameters and LayerNorms stay float32
    scan_blocks: bool = False     # one nn.scan over stacked block parameters

    def __post_init__(self):
        if self.width % self.heads or self.width % 4:
            raise ValueError(f"DiTConfig width={self.width} must be divisible by heads="
                             f"{self.heads} and by 4; pick e.g. width={4 * self.heads * 8}")
        if self.pos_embed not in POS_EMBEDS:
            raise ValueError(f"DiTConfig pos_embed={self.pos_embed!r}; choose one of "
                             f"{list(POS_EMBEDS)}")

    @property
    def null_label(self) -> int:
        return self.num_classes


def sincos_2d(grid_h: int, grid_w: int, dim: int) -> np.ndarray:
    """Fixed 2-D position embedding (MAE, He et al. 2022): dim/2 channels encode the row, dim/2
    the column, each [sin | cos] at frequencies 10000^(-i / (dim/4)) (as `sinusoidal_embedding`).
    Plain numpy: a constant of the traced model. -> float32 (grid_h * grid_w, dim), row-major."""
    quarter = dim // 4
    freqs = np.exp(-np.log(10_000.0) * np.arange(quarter) / quarter)         # (dim/4,)
    rows, cols = np.meshgrid(np.arange(grid_h), np.arange(grid_w), indexing="ij")
    args = [a.reshape(-1, 1) * freqs[None] for a in (rows, cols)]           # (N, dim/4) each
    return np.concatenate([f(a) for a in args for f in (np.sin, np.cos)], -1).astype(np.float32)


def patchify(x: jax.Array, p: int) -> jax.Array:
    """(B, H, W, C) -> (B, H/p * W/p, p * p * C), patches row-major."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(x: jax.Array, p: int, h: int, w: int) -> jax.Array:
    """Inverse of `patchify`: (B, H/p * W/p, p * p * C) -> (B, H, W, C)."""
    b, _, d = x.shape
    c = d // (p * p)
    x = x.reshape(b, h // p, w // p, p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


def layer_norm(x: jax.Array, name: str, affine: bool = False) -> jax.Array:
    """LayerNorm in float32 (eps 1e-6; no scale / bias for adaLN, which supplies them)."""
    norm = nn.LayerNorm(epsilon=1e-6, use_bias=affine, use_scale=affine, name=name)
    return norm(x.astype(jnp.float32))


def modulate(x, shift, scale):
    """adaLN: x (B, N, D) * (1 + scale) + shift, shift / scale (B, 1, D)."""
    return x * (1.0 + scale) + shift


def ada_params(c: jax.Array, n: int, width: int, name: str) -> list[jax.Array]:
    """n modulation vectors (B, 1, D) from SiLU(c) (B, D) through a zero-initialised Dense."""
    mod = nn.Dense(n * width, kernel_init=nn.initializers.zeros, name=name)(nn.silu(c))
    return jnp.split(mod[:, None, :], n, axis=-1)


class DiTBlock(nn.Module):
    """One adaLN-Zero block: x (B, N, D), c (B, D), context (TextContext or None) -> (B, N, D)."""
    config: DiTConfig
    train: bool = False   # an attribute, not an argument, so nn.scan passes arrays only

    @nn.compact
    def __call__(self, x: jax.Array, c: jax.Array, context=None) -> jax.Array:
        cfg, dtype = self.config, jnp.dtype(self.config.dtype)
        shift1, scale1, gate1, shift2, scale2, gate2 = ada_params(c, 6, cfg.width, "adaLN")
        h = modulate(layer_norm(x, "norm1"), shift1, scale1).astype(dtype)
        x = x + gate1 * Attention(cfg.heads, dtype=dtype, name="attn")(h)
        if context is not None:
            h = layer_norm(x, "norm_cross", affine=True).astype(dtype)
            x = x + Attention(cfg.heads, zero_out=True, dtype=dtype, name="cross_attn")(
                h, context.h, context.keep)
        h = modulate(layer_norm(x, "norm2"), shift2, scale2).astype(dtype)
        h = nn.gelu(nn.Dense(cfg.mlp_ratio * cfg.width, dtype=dtype, name="mlp_in")(h))
        h = nn.Dropout(cfg.dropout, deterministic=not self.train)(h)
        h = nn.Dense(cfg.width, dtype=dtype, name="mlp_out")(h)
        return (x + gate2 * h).astype(jnp.float32)


# Megatron-LM tensor parallelism (Shoeybi et al. 2019, sec. 3) as sharding rules: in each block
# the fused QKV (head-major, see attention.py) and mlp_in are split on their output axis,
# attn/out and mlp_out on their input axis, so a device holds H / T heads and 1/T of the MLP's
# hidden units, and each branch ends in one all-reduce (of the partial (B, N, D) products).
# Cross-attention, adaLN, norms, embeddings and the final layer stay replicated: they are a
# small part of a block (adaLN's 6 D^2 is the largest), and cross-attention over a handful of
# text tokens is cheap to repeat. (parameter suffix, dimension split over "tensor")
TENSOR_SPLITS = (("attn/qkv/kernel", 1), ("attn/qkv/bias", 0), ("attn/out/kernel", 0),
                 ("mlp_in/kernel", 1), ("mlp_in/bias", 0), ("mlp_out/kernel", 0))


def tensor_rules(cfg: DiTConfig, tensor: int, scope: str = "") -> tuple:
    """`parallel.rules` entries splitting every block over a "tensor" axis of `tensor` devices,
    for unrolled blocks (".../block3/attn/qkv/kernel") and scanned ones (".../blocks/...", one
    leading depth axis). They match the parameters, their optimiser moments and the EMA; `scope`
    ("denoiser/" behind a text encoder) keeps them off other networks' blocks."""
    hidden = cfg.mlp_ratio * cfg.width
    if cfg.heads % tensor or hidden % tensor:
        raise ValueError(f"parallel.tensor={tensor} must divide the DiT's heads ({cfg.heads}) and "
                         f"MLP width ({cfg.mlp_ratio} x {cfg.width} = {hidden}); choose a "
                         f"tensor size that divides both, or change model.heads / model.mlp_ratio")
    rules = []
    for suffix, dim in TENSOR_SPLITS:
        for block, lead in ((r"block\d+", 0), ("blocks", 1)):
            spec = (None,) * (lead + dim) + ("tensor",)
            rules.append((rf"(.*/)?{scope}{block}/{suffix}", spec))
    return tuple(rules)


class ScannedBlock(DiTBlock):
    """`DiTBlock` in nn.scan's (carry, broadcast...) -> (carry, output) form."""

    def __call__(self, x, c, context=None):
        return super().__call__(x, c, context), None


class DiT(nn.Module):
    """eps / v predictor, the UNet's signature: x (B, H, W, C) float32, t (B,) int or float,
    label (B,) int32 or None, context a TextContext or None -> (B, H, W, out_channels) float32."""
    config: DiTConfig

    @nn.compact
    def __call__(self, x: jax.Array, t: jax.Array, label: jax.Array | None = None, *,
                 train: bool = False, context=None) -> jax.Array:
        cfg, p = self.config, self.config.patch_size
        b, h, w, _ = self._check_input(x)
        tokens = nn.Dense(cfg.width, name="patch_embed")(patchify(x, p))    # (B, N, D)
        tokens = tokens + self._pos_embed(h // p, w // p)
        c = self._embed(jnp.broadcast_to(t, (b,)), label, context)           # (B, D)
        tokens = self._blocks(tokens, c, context, train)
        shift, scale = ada_params(c, 2, cfg.width, "final_adaLN")
        out = modulate(layer_norm(tokens, "final_norm"), shift, scale)
        out = nn.Dense(p * p * cfg.out_channels, kernel_init=nn.initializers.zeros,
                       name="final_proj")(out)                                # (B, N, p^2 C)
        return unpatchify(out, p, h, w).astype(jnp.float32)

    def _check_input(self, x: jax.Array):
        p = self.config.patch_size
        if x.ndim != 4 or x.shape[1] % p or x.shape[2] % p:
            raise ValueError(f"DiT input shape {x.shape}: expected (B, H, W, C) with H and W "
                             f"divisible by patch_size={p}; resize the images or change "
                             f"model.patch_size")
        return x.shape

    def _pos_embed(self, grid_h: int, grid_w: int) -> jax.Array:
        """(N, D): fixed sin-cos, or a learned table of that shape."""
        fixed = sincos_2d(grid_h, grid_w, self.config.width)
        if self.config.pos_embed == "sincos":
            return jnp.asarray(fixed)
        return self.param("pos_embed", nn.initializers.normal(0.02), fixed.shape)

    def _embed(self, t, label, context) -> jax.Array:
        """c = MLP(sinusoidal(t)) (+ class) (+ pooled prompt): (B,) -> (B, D)."""
        cfg = self.config
        c = nn.Dense(cfg.width, name="t_dense0")(sinusoidal_embedding(t, cfg.width))
        c = nn.Dense(cfg.width, name="t_dense1")(nn.silu(c))
        return add_conditioning(c, label, context, num_classes=cfg.num_classes,
                                dtype=jnp.float32, model="DiT")

    def _blocks(self, x, c, context, train):
        cfg = self.config
        if not cfg.scan_blocks:
            for i in range(cfg.depth):
                x = DiTBlock(cfg, train, name=f"block{i}")(x, c, context)
            return x
        stack = nn.scan(ScannedBlock, variable_axes={"params": 0},
                        split_rngs={"params": True, "dropout": True},
                        in_axes=(nn.broadcast, nn.broadcast), length=cfg.depth)
        plan = pipeline.current()
        if plan is None or self.is_initializing():
            return stack(cfg, train, name="blocks")(x, c, context)[0]
        stacked = self.variables["params"]["blocks"]   # (depth, ...) leaves, split by stage
        return pipeline.run(plan, stage_fn(cfg, train), stacked, x, (c, context))


def stage_fn(cfg: DiTConfig, train: bool):
    """(stacked params (L/S, ...), x (b, N, D), (c (b, D), context)) -> (b, N, D): one pipeline
    stage, its L/S blocks in order (as the nn.scan above, on that slice of the stack)."""
    block = ScannedBlock(cfg, train, parent=None)

    def stage(params, x, extras):
        c, context = extras
        layer = lambda h, p: block.apply({"params": p}, h, c, context)  # noqa: E731
        return jax.lax.scan(layer, x, params)[0]
    return stage
