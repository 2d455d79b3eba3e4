"""Text-to-image diffusion on fashion_compose: 32x32 RGB canvases of Fashion-MNIST items with
templated prompts ("a red bag on the left and a green sandal on the right"), conditioned on a
byte-level transformer text encoder (config.text) trained with the denoiser, or loaded from a
masked-LM workdir (--config.text.checkpoint=runs/text_mlm, same width / depth / heads /
max_len) and frozen (--config.text.freeze=true). Classifier-free guidance toward the prompt,
the empty prompt "" as the unconditional input (dropped with diffusion.p_uncond).

Variants (`--config=configs/t2i_compose.py:VARIANT`):
  (none)    U-Net (cross-attention at 16x16 and 8x8), text encoder as configs/text_mlm.py;
            sized for an accelerator
  dit       DiT-S/2-like (256 tokens, width 256, depth 8), cross-attention in every block
  demo      small U-Net (ch 16, 0.76M parameters) + text encoder as configs/text_mlm.py:demo
            (0.12M), batch 32, 1,500 steps, v-prediction (eps-prediction sampled coloured
            noise: its x0 = (x_t - sigma eps) / alpha amplifies eps errors at high noise).
            Measured (README "Text-to-image"): per-cell FD 30.8 at guidance 0 (eps: 227),
            colours follow the prompt (0.20-0.32 of colour constraints met), objects and
            positions mostly do not yet (overall alignment 0.02-0.04)
  dit_demo  small DiT (patch 4, 64 tokens), 1,890 steps: the demo's training FLOPs
  smoke / dit_smoke   seconds; used by the tests

  python train.py --config=configs/t2i_compose.py:demo --workdir=runs/t2i_demo
  python sample.py --workdir=runs/t2i_demo --prompt "a red bag" --prompt "two blue sandals" \\
      --num 8 --guidance 3 --out t2i.png            # + t2i.txt: the prompt of each row
"""
from jaxgen.config import base_config

UNET = dict(arch="unet", ch=64, ch_mult=(1, 2, 2), num_res_blocks=2, attn_resolutions=(16, 8),
            dropout=0.0, num_classes=0, num_groups=8, num_heads=4, dtype="float32")
DIT = dict(arch="dit", patch_size=2, width=256, depth=8, heads=4, mlp_ratio=4,
           pos_embed="sincos", num_classes=0, dropout=0.0, dtype="float32", scan_blocks=False)
TEXT = dict(width=128, depth=4, heads=4, mlp_ratio=4, max_len=80, dropout=0.0,
            dtype="float32", checkpoint="", freeze=False)
# variant -> (model, its changes, text changes)
VARIANTS = {
    None: (UNET, {}, {}),
    "dit": (DIT, {}, {}),
    "demo": (UNET, dict(ch=16, ch_mult=(1, 2, 4), num_res_blocks=1, attn_resolutions=(8,),
                        num_heads=2),
             dict(width=64, depth=2)),
    "dit_demo": (DIT, dict(patch_size=4, width=128, depth=4), dict(width=64, depth=2)),
    "smoke": (UNET, dict(ch=8, ch_mult=(1, 2), num_res_blocks=1, num_groups=4, num_heads=2,
                         attn_resolutions=(16,)), dict(width=32, depth=1, heads=2, mlp_ratio=2)),
    "dit_smoke": (DIT, dict(patch_size=8, width=32, depth=2, heads=2, mlp_ratio=2),
                  dict(width=32, depth=1, heads=2, mlp_ratio=2)),
}


def get_config(arg=None):
    if arg not in VARIANTS:
        raise ValueError(f"unknown variant {arg!r} of t2i_compose; choose one of "
                         f"{[v for v in VARIANTS if v]} or none")
    model, model_changes, text_changes = VARIANTS[arg]
    c = base_config()
    c.family = "diffusion"
    c.data.update(source="fashion_compose", image_size=32, channels=3)
    c.data.compose_seed = 0  # which draw of captioned canvases (jaxgen.data.compose)
    c.model = dict(model, **model_changes)
    c.text = dict(TEXT, **text_changes)
    c.diffusion = dict(schedule="cosine", num_steps=1000, beta_start=1e-4, beta_end=0.02,
                       prediction="v", p_uncond=0.1)
    c.sample = dict(sampler="dpmpp_2m", steps=20, spacing="edm", guidance=3.0)
    c.optim.update(lr=2e-4, warmup_steps=500, ema_decay=0.9995)
    c.train.update(steps=40_000, batch_size=128, log_every=100, checkpoint_every=2000,
                   sample_every=5000)
    if arg in ("demo", "dit_demo"):
        c.optim.update(lr=1e-3, warmup_steps=100, ema_decay=0.995)
        c.train.update(steps=1500, batch_size=32, log_every=50, checkpoint_every=250,
                       sample_every=0, num_samples=16)
        if arg == "dit_demo":  # the demo U-Net's training FLOPs: 16.6 vs 20.9 GFLOP per step
            c.train.steps = 1890  # (XLA cost analysis of the compiled step, batch 32)
    elif arg in ("smoke", "dit_smoke"):
        c.diffusion.num_steps = 100
        c.sample.steps = 4
        c.optim.update(lr=1e-3, warmup_steps=2, ema_decay=0.9)
        c.train.update(steps=8, batch_size=8, log_every=2, checkpoint_every=4, sample_every=0,
                       num_samples=4)
    return c
