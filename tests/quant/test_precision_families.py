"""--precision fp32 / bf16 on the GAN and VAE families, also from a config.json written before
their models had a compute dtype (the error for a family without one: test_store.py)."""
import jax
import numpy as np
import pytest

from conftest import smoke_config
from jaxgen import families, quant
from jaxgen.api import Generator
from jaxgen.families.base import init_fn, make_state


def old_generator(name: str) -> Generator:
    """A freshly initialised smoke model of configs/<name>.py whose config has no model.dtype."""
    config = smoke_config(name)
    with config.unlocked():
        del config.model["dtype"]
    family = families.build(config, None)
    return Generator(config, family, make_state(init_fn(family, 0)), 0, None, "w")


@pytest.mark.parametrize("name", ["vae_fmnist", "dcgan_fmnist"])
def test_bf16_samples_are_near_float32_ones(name):
    g = old_generator(name)
    g16 = quant.with_precision(g, "bf16")
    assert g16.config.model.dtype == "bfloat16" and "dtype" not in g.config.model
    assert quant.with_precision(g, "fp32") is g                       # float32 already
    assert quant.with_precision(g16, "fp32").config.model.dtype == "float32"
    key = jax.random.key(0)
    f32 = np.asarray(g.family.generate(g.state, rng=key, num=8, use_ema=False))
    bf16 = np.asarray(g16.family.generate(g16.state, rng=key, num=8, use_ema=False))
    assert bf16.dtype == np.float32 and bf16.shape == f32.shape == (8, 28, 28, 1)
    # off by bf16 rounding (8 significant bits: ~0.4% per operation), not more, and not zero
    err, scale = np.abs(bf16 - f32), np.abs(f32).max()
    assert scale > 0 and 0 < err.max() < 0.05 * scale, (err.max(), scale)
    assert err.mean() < 0.01 * scale
