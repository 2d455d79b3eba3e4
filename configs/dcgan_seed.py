"""The classic 28x28 textbook DCGAN on Fashion-MNIST, exactly (Radford et al. 2015 recipe).

G: Dense(100 -> 7*7*128), LeakyReLU(0.2), reshape 7x7x128, ConvT(128 -> 64, k4 s2 p1) -> 14x14,
LeakyReLU(0.2), ConvT(64 -> 1, k4 s2 p1) -> 28x28, tanh: 765,633 parameters.
D: Conv(1 -> 64, k4 s2 p1), LeakyReLU(0.2), Conv(64 -> 128, k4 s2 p1), LeakyReLU(0.2), flatten,
Dense(-> 1) logit: 138,561 parameters. Adam(2e-4, beta1 0.5), batch 64, non-saturating BCE,
weights N(0, 0.02), no EMA, no batch norm.

Variants (`--config=configs/dcgan_seed.py:VARIANT`):
  (none)  the real run:  python train.py --config=configs/dcgan_seed.py --workdir=runs/dcgan_seed
          5,000 steps (320k images, 5.3 epochs) in 9.4 min on 2 shared CPU cores (564 s wall
          in three resumed segments, 179 + 213 + 172 s, under loads from 2 to 10; 48 ms/step
          on a quiet machine); final d_loss 0.92, g_loss 1.06, d_real 0.66, d_fake 0.31 (mean
          sigmoid outputs). Samples: recognisable tops, trousers and dresses with checkerboard
          texture; no shoes or bags (partial mode collapse) (docs/images/dcgan_seed.png).
  demo    2,000 steps, ~4 min (estimated from the real run's step time)
  smoke   seconds; used by the tests
"""
from jaxgen.config import base_config


def get_config(arg=None):
    c = base_config()
    c.family = "gan"
    c.model = dict(z_dim=100, g_ch=128, d_ch=64, batch_norm=False, spectral_norm=False,
                   g_act="leaky_relu", init_std=0.02, dtype="float32")
    c.gan = dict(loss="non_saturating")
    c.optim.update(lr=2e-4, b1=0.5, b2=0.999, warmup_steps=0, decay="constant", grad_clip=0.0,
                   weight_decay=0.0)
    c.optim.ema_decay = 0.0
    c.train.update(steps=5000, batch_size=64, log_every=200, checkpoint_every=1000,
                   sample_every=1000)
    if arg == "demo":
        c.train.update(steps=2000, log_every=100, checkpoint_every=500, sample_every=0)
    elif arg == "smoke":
        c.model.update(g_ch=8, d_ch=4)
        c.train.update(steps=8, batch_size=8, log_every=2, checkpoint_every=4, sample_every=0,
                       num_samples=4)
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of dcgan_seed; choose demo, smoke or none")
    return c
