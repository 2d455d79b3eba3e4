"""int8 sampling of the GAN generators and the VAE decoder, at their initial weights."""
import jax
import jax.numpy as jnp
import pytest

from jaxgen import data as data_lib
from jaxgen import families, quant
from jaxgen.families.base import init_fn, make_state
from conftest import smoke_config


@pytest.mark.slow  # initialises and compiles three families (~40 s)
@pytest.mark.parametrize("name", ["dcgan_seed", "dcgan_fmnist", "vae_fmnist"])
def test_int8_generate_close_to_float(name):
    config = smoke_config(name)
    family = families.build(config, data_lib.load_dataset(config.data, split="test"))
    state = make_state(init_fn(family, config.seed))
    state8 = quant.quantize_state(family, state)
    keys = quant.family.param_keys(family, state)
    assert all(quant.num_quantized(state8[k]) > 0 for k in keys)
    rng = jax.random.PRNGKey(0)
    ref = family.generate(state, rng=rng, num=4)
    out = quant.int8_family(family).generate(state8, rng=rng, num=4)
    assert out.shape == ref.shape
    assert float(jnp.linalg.norm(out - ref) / jnp.linalg.norm(ref)) < 0.1
