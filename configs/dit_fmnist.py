"""DiT (Peebles & Xie 2023) denoiser on Fashion-MNIST (28x28, grayscale), class-conditional
with classifier-free guidance; schedule, optimiser and sampler as configs/ddpm_fmnist.py.

Variants (`--config=configs/dit_fmnist.py:VARIANT`):
  (none)  DiT-S/2: patch 2 (196 tokens), width 384, depth 12, 6 heads; sized for an accelerator
          python train.py --config=configs/dit_fmnist.py --workdir=runs/dit
  demo    patch 4 (49 tokens), width 128, depth 4: a few minutes on 2 CPU cores
  smoke   seconds; used by the tests
  python sample.py --workdir=runs/dit --labels=0,5,9 --guidance=2 --out=dit.png
"""
from pathlib import Path

from jaxgen.config import load_config

MODEL = dict(arch="dit", patch_size=2, width=384, depth=12, heads=6, mlp_ratio=4,
             pos_embed="sincos", num_classes=10, dropout=0.0, dtype="float32", scan_blocks=False)
VARIANTS = {None: {}, "demo": dict(patch_size=4, width=128, depth=4, heads=4),
            "smoke": dict(patch_size=7, width=32, depth=2, heads=2, mlp_ratio=2)}


def get_config(arg=None):
    if arg not in VARIANTS:
        raise ValueError(f"unknown variant {arg!r} of dit_fmnist; choose demo, smoke or none")
    spec = str(Path(__file__).with_name("ddpm_fmnist.py")) + (f":{arg}" if arg else "")
    c = load_config(spec)   # data, diffusion, optimiser, sampler and train sections
    c.unlock()
    c.model = dict(MODEL, **VARIANTS[arg])
    return c
