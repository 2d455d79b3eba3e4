"""Convolutional VAE on Fashion-MNIST with a discretised-logistic decoder (true ELBO on 8-bit data).

Encoder 28 -> 14 -> 7 (ResBlocks, stride-2 convs) -> q(z|x) = N(mu, diag sigma^2), z in R^32;
decoder mirrors it (nearest-resize + conv up) -> per-pixel logistic mean and log scale.
Loss: the beta-weighted negative ELBO in bits/dim (vae.beta = 1: the true ELBO).

Variants (`--config=configs/vae_fmnist.py:VARIANT`):
  (none)  the real run:  python train.py --config=configs/vae_fmnist.py --workdir=runs/vae_fmnist
          RESULT_PLACEHOLDER
  demo    ~3-5 minutes on 2 CPU cores
  smoke   seconds; used by the tests
"""
from jaxgen.config import base_config


def get_config(arg=None):
    c = base_config()
    c.family = "vae"
    c.model = dict(ch=32, ch_mult=(1, 2, 2), num_res_blocks=1, latent_dim=32, num_groups=8)
    c.vae = dict(beta=1.0)
    c.optim.update(lr=1e-3, warmup_steps=200, decay="cosine", min_lr_ratio=0.1, grad_clip=1.0)
    c.train.update(steps=4000, batch_size=128, log_every=200, checkpoint_every=1000,
                   sample_every=2000)
    if arg == "demo":
        c.train.update(steps=1500, log_every=100, checkpoint_every=500, sample_every=0)
    elif arg == "smoke":
        c.model.update(ch=8, ch_mult=(1, 2), latent_dim=4, num_groups=4)
        c.optim.update(warmup_steps=2)
        c.train.update(steps=8, batch_size=8, log_every=2, checkpoint_every=4, sample_every=0,
                       num_samples=4)
    elif arg is not None:
        raise ValueError(f"unknown variant {arg!r} of vae_fmnist; choose demo, smoke or none")
    return c
