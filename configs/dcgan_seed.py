"""The classic 28x28 textbook DCGAN on Fashion-MNIST, exactly (Radford et al. 2015 recipe).

G: Dense(100 -> 7*7*128), LeakyReLU(0.2), reshape 7x7x128, ConvT(128 -> 64, k4 s2 p1) -> 14x14,
LeakyReLU(0.2), ConvT(64 -> 1, k4 s2 p1) -> 28x28, tanh: 765,633 parameters.
D: Conv(1 -> 64, k4 s2 p1), LeakyReLU(0.2), Conv(64 -> 128, k4 s2 p1), LeakyReLU(0.2), flatten,
Dense(-> 1) logit: 138,561 parameters. Adam(2e-4, beta1 0.5), batch 64, non-saturating BCE,
weights N(0, 0.02), no EMA, no batch norm.

Variants (`--config=configs/dcgan_seed.py:VARIANT`):
  (none)  the real run:  python train.py --config=configs/dcgan_seed.py --workdir=runs/dcgan_seed
          RESULT_PLACEHOLDER
  demo    ~3-5 minutes on 2 CPU cores
  smoke   seconds; used by the tests
"""
from jaxgen.config import base_config


def get_config(arg=None):
    c = base_config()
    c.family = "gan"
    c.model = dict(z_dim=100, g_ch=128, d_ch=64, batch_norm=False, spectral_norm=False,
                   g_act="leaky_relu", init_std=0.02)
    c.gan = dict(loss="non_saturating")
    c.optim.update(lr=2e-4, b1=0.5, b2=0.999, warmup_steps=0, decay="constant", grad_clip=0.0,
                   weight_decay=0.0)
    c.optim.ema_decay = 0.0
    c.train.update(steps=6000, batch_size=64, log_every=200, checkpoint_every=1000,
                   sample_every=2000)
    if arg == "demo":
        c.train.update(steps=2500, log_every=100, checkpoint_every=500, sample_every=0)
    elif arg == "smoke":
        c.model.update(g_ch=8, d_ch=4)
        c.train.update(steps=8, batch_size=8, log_every=2, checkpoint_every=4, sample_every=0,
                       num_samples=4)
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of dcgan_seed; choose demo, smoke or none")
    return c
