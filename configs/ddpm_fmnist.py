"""DDPM U-Net on Fashion-MNIST (28x28, grayscale).

Variants (`--config=configs/ddpm_fmnist.py:VARIANT`):
  (none)  the real run:  python train.py --config=configs/ddpm_fmnist.py --workdir=runs/ddpm
  demo    `make demo`: 2,000 steps of a 0.27M-parameter U-Net (widths 16 / 32 / 32,
          self-attention in the middle block only), v-prediction, learning rate 1.6e-2: FD
          22.4-22.8 on 2,000 samples (2,400 steps: 21.3; 1,600: 27.2-28.7; 1,500: 30.1; at 1.2e-2:
          30.4-31.3; the earlier 0.69M
          demo at 4e-3: 32.35, with a 1.3x slower step; README "Speed on CPU"); sampled with
          DPM-Solver++(2M) on 10 `edm` steps (as good as 20 Karras steps and 1,000 DDPM steps;
          README "Fast sampling"); no grid at the end of training (make demo draws it with
          sample.py)
  demo_v  the earlier demo recipe (learning rate 1e-3, 20 Karras steps): the teacher the
          distillation, pruning, compression and editing results in the README were measured on
  smoke   seconds; used by the tests
"""
from jaxgen.config import fmnist_diffusion, fmnist_smoke


def get_config(arg=None):
    c = fmnist_diffusion(prediction="eps", p_uncond=0.1)
    c.sample = dict(sampler="ddim", steps=50, eta=0.0)
    c.optim.lr = 2e-4
    c.optim.warmup_steps = 500
    c.optim.ema_decay = 0.9995
    c.train.update(steps=40_000, batch_size=128, log_every=100, checkpoint_every=2000,
                   sample_every=5000)
    if arg in ("demo", "demo_v"):
        c.model.update(ch=16, ch_mult=(1, 2, 4), num_res_blocks=1)
        c.optim.update(lr=1e-3, warmup_steps=100)
        c.optim.ema_decay = 0.995
        c.diffusion.prediction = "v"
        c.sample.update(sampler="dpmpp_2m", steps=20, spacing="karras")
        c.train.update(steps=1500, batch_size=64, log_every=100, checkpoint_every=500,
                       sample_every=0)
    if arg == "demo":
        c.model.update(ch_mult=(1, 2, 2), attn_resolutions=())
        c.optim.lr = 1.6e-2
        c.sample.update(steps=10, spacing="edm")
        c.train.update(steps=2000, num_samples=0)
    if arg == "smoke":
        fmnist_smoke(c)
    elif arg not in (None, "demo", "demo_v"):
        raise ValueError(f"unknown variant {arg!r} of ddpm_fmnist; choose demo, demo_v, smoke "
                         f"or none")
    return c
