"""A stronger DCGAN on Fashion-MNIST: batch norm in G, an EMA of G for sampling (with standing
BN statistics), optional spectral norm in D, non-saturating or hinge loss.

Same 7x7 -> 14 -> 28 layout as configs/dcgan_seed.py, so a step costs about the same on CPU;
the gains come from BN + ReLU in G (Radford et al. 2015) and sampling from an exponential
moving average of G's weights (Yazici et al. 2019).

Variants (`--config=configs/dcgan_fmnist.py:VARIANT`):
  (none)  the real run:
          python train.py --config=configs/dcgan_fmnist.py --workdir=runs/dcgan_fmnist
          5,000 steps (320k images) in 6.0 min on 2 shared CPU cores (358 s wall in two
          resumed segments, 185 + 173 s); final d_loss 1.35, g_loss 0.60, d_real 0.53,
          d_fake 0.48. EMA samples: smooth, diverse pullovers, T-shirts, trousers, sneakers,
          sandals, ankle boots, bags (docs/images/dcgan_fmnist.png), clearly better than the
          seed DCGAN at the same images seen.
  demo    2,500 steps, ~3 min (estimated from the real run's step time)
  smoke   seconds; used by the tests (batch norm, spectral norm, hinge loss and EMA all on)
"""
from jaxgen.config import base_config


def get_config(arg=None):
    c = base_config()
    c.family = "gan"
    c.model = dict(z_dim=100, g_ch=128, d_ch=64, batch_norm=True, spectral_norm=False,
                   g_act="relu", init_std=0.02, dtype="float32")
    c.gan = dict(loss="non_saturating")
    c.optim.update(lr=2e-4, b1=0.5, b2=0.999, warmup_steps=0, decay="constant", grad_clip=0.0,
                   weight_decay=0.0)
    c.optim.ema_decay = 0.999
    c.train.update(steps=5000, batch_size=64, log_every=200, checkpoint_every=1000,
                   sample_every=1000)
    if arg == "demo":
        c.optim.ema_decay = 0.995
        c.train.update(steps=2500, log_every=100, checkpoint_every=500, sample_every=0)
    elif arg == "smoke":
        c.model.update(g_ch=8, d_ch=4, spectral_norm=True)
        c.gan.loss = "hinge"
        c.optim.ema_decay = 0.9
        c.train.update(steps=8, batch_size=8, log_every=2, checkpoint_every=4, sample_every=0,
                       num_samples=4)
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of dcgan_fmnist; choose demo, smoke or none")
    return c
