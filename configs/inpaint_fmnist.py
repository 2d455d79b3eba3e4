"""Mask-conditioned inpainting on Fashion-MNIST (Palette-style): a U-Net denoiser that sees the
masked image (hole set to 0, mid grey) and the mask as two extra input channels; each training
example gets its own mask from a mixture of random boxes (0.4), halves (0.3: left, right, top,
bottom) and random strokes (0.3), drawn from its (step, index) key.

Variants (`--config=configs/inpaint_fmnist.py:VARIANT`):
  (none)  the real run:  python train.py --config=configs/inpaint_fmnist.py --workdir=runs/inpaint
  demo    the demo U-Net of configs/ddpm_fmnist.py:demo_v (ch 16, ch_mult (1, 2, 4), one res
          block, v-prediction, DPM-Solver++(2M) on 20 Karras steps), 1,000 steps of 64:
          python train.py --config=configs/inpaint_fmnist.py:demo --workdir=runs/inpaint_demo
          stopped at step 601 on a loaded 2-core CPU: left half PSNR 15.7 dB, FD 54.7 (RePaint
          on demo_v: 17.2 dB, 30.5); README "Inpainting and img2img (first measurements)"
  smoke   seconds; used by the tests

Sample: python sample.py --workdir=runs/inpaint_demo --mode=inpaint --image=x.png \
            --mask=left_half --out=filled.png
"""
from jaxgen.config import fmnist_diffusion, fmnist_smoke

VARIANTS = ("demo", "smoke")


def get_config(arg=None):
    if arg is not None and arg not in VARIANTS:
        raise ValueError(f"unknown variant {arg!r} of inpaint_fmnist; choose one of "
                         f"{VARIANTS} or none")
    c = fmnist_diffusion(prediction="v", p_uncond=0.0)
    c.inpaint = dict(mask_probs=(0.4, 0.3, 0.3), fill_value=0.0)
    c.sample = dict(sampler="dpmpp_2m", steps=20, spacing="karras", eta=0.0)
    c.optim.update(lr=2e-4, warmup_steps=500, ema_decay=0.9995)
    c.train.update(steps=40_000, batch_size=128, log_every=100, checkpoint_every=2000,
                   sample_every=0, num_samples=16)
    if arg == "demo":      # configs/ddpm_fmnist.py:demo_v's U-Net and optimiser
        c.model.update(ch=16, ch_mult=(1, 2, 4), num_res_blocks=1)
        c.optim.update(lr=1e-3, warmup_steps=100, ema_decay=0.995)
        c.train.update(steps=1000, batch_size=64, log_every=50, checkpoint_every=250)
    elif arg == "smoke":
        fmnist_smoke(c)
    return c
