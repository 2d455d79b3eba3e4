"""jaxgen: train and sample image generative models (diffusion, GAN, VAE) with JAX and Flax.

    g = jaxgen.load("runs/demo"); images = g.sample(16, sampler="dpmpp_2m", steps=10)
"""


def load(path):
    """A trained workdir or checkpoint folder, ready to sample (see `jaxgen.api`)."""
    from jaxgen.api import load as _load  # imported on use: `import jaxgen` stays light
    return _load(path)


__all__ = ["load"]
