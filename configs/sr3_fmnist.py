"""SR3 super-resolution on Fashion-MNIST (Saharia et al. 2021): a U-Net denoiser that sees the
low-resolution image (box-averaged f x f, bicubic-upsampled back to 28x28) as an extra input
channel; the low-resolution images are made from each training batch on the fly.

Variants (`--config=configs/sr3_fmnist.py:VARIANT`):
  x4          7 -> 28:   python train.py --config=configs/sr3_fmnist.py:x4 --workdir=runs/sr3_x4
  x2          14 -> 28
  demo        a small x4 U-Net (164k parameters: two levels, no attention) for a shared
              2-core CPU; stopped at step 951: FD 46.7 vs bicubic 312.4, consistency 29.8 dB
              (regression twin: FD 53.4, 41.3 dB); at step 1,390: FD 42.0, 30.4 dB, and with
              the sampling-time projection (lr_consistency=True) FD 39.8, 73.7 dB; README
              "Super-resolution x4 and x2"
  smoke       seconds; used by the tests
  Suffixes: `_x2` (demo_x2, smoke_x2): the variant's network at factor 2 (14 -> 28):
              python train.py --config=configs/sr3_fmnist.py:demo_x2 --workdir=runs/sr3_demo_x2
              stopped at step 1,051: FD 30.0 vs bicubic 129.3, consistency 36.4 dB; with
              lr_consistency=True FD 26.1, 68.3 dB (regression twin, 600 steps: FD 26.2, 42.5 dB)
  `_regression` (x4_regression, demo_regression, demo_x2_regression, ...): the same network trained
  with a plain L2 loss to predict the 28x28 image (`sr.objective="regression"`); `_dit`: the
  DiT denoiser of configs/dit_fmnist.py (same variant size) instead of the U-Net.
"""
from pathlib import Path

from jaxgen.config import fmnist_diffusion, fmnist_smoke, load_config

VARIANTS = ("x4", "x2", "demo", "smoke")
SUFFIXES = ("regression", "dit", "x2")


def dit_model(variant: str) -> dict:
    """configs/dit_fmnist.py's model section of `variant` (x4 / x2: the full DiT-S/2), with no
    class labels."""
    size = variant if variant in ("demo", "smoke") else ""
    spec = str(Path(__file__).with_name("dit_fmnist.py")) + (f":{size}" if size else "")
    return dict(load_config(spec).model.to_dict(), num_classes=0)


def get_config(arg=None):
    variant, *suffixes = (arg or "x4").split("_")
    if variant not in VARIANTS or not set(suffixes) <= set(SUFFIXES):
        raise ValueError(f"unknown variant {arg!r} of sr3_fmnist; choose one of {VARIANTS}, "
                         f"optionally with suffixes {SUFFIXES} (e.g. demo_regression)")
    objective = "regression" if "regression" in suffixes else ""
    c = fmnist_diffusion(prediction="v", p_uncond=0.0)
    c.sr = dict(factor=2 if "x2" in (variant, *suffixes) else 4, noise_aug=0.0,
                objective=objective or "diffusion")
    c.sample = dict(sampler="dpmpp_2m", steps=20, spacing="karras", eta=0.0)
    c.optim.update(lr=2e-4, warmup_steps=500, ema_decay=0.9995)
    c.train.update(steps=40_000, batch_size=128, log_every=100, checkpoint_every=2000,
                   sample_every=5000, num_samples=16)
    if variant == "demo":   # two levels (28, 14) suffice for a local task; cheap on a CPU
        c.model.update(ch=16, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=())
        c.optim.update(lr=1e-3, warmup_steps=50, ema_decay=0.99)
        c.train.update(steps=1500, batch_size=32, log_every=50, checkpoint_every=250,
                       sample_every=0)
    elif variant == "smoke":
        fmnist_smoke(c)
    if "dit" in suffixes:
        c.model = dit_model(variant)
    return c
