"""families.base: the state's initialisation, compiled with INIT_COMPILE_OPTIONS on CPU."""
import jax
import numpy as np

from jaxgen import data as data_lib
from jaxgen import families
from jaxgen.families.base import init_fn, make_state
from conftest import smoke_config


def test_init_options_change_no_value_beyond_float_rounding():
    """make_state compiles the init with cheap XLA options; its values are the default
    compile's up to float rounding, and the same bits on every call."""
    config = smoke_config("dcgan_seed")
    family = families.build(config, data_lib.load_dataset(config.data, split="train"))
    init = init_fn(family, config.seed)
    ours, again = make_state(init), make_state(init)
    default = jax.jit(init).lower().compile()()
    for a, b, d in zip(jax.tree.leaves(ours), jax.tree.leaves(again), jax.tree.leaves(default)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, d, rtol=1e-5, atol=1e-6)
