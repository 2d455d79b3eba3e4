"""Start-up work before the first step: what compiles, and when."""
import logging
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxgen.families.base import init_fn, root_keys
from jaxgen.train import run
from jaxgen.train.loop import abstract
from jaxgen.utils import compile_cache
from conftest import smoke_config


def _compiled(caplog) -> list[str]:
    """The names of the programs jax compiled while `caplog` listened (jax.log_compiles)."""
    return [r.getMessage().split(" ")[1] for r in caplog.records
            if r.getMessage().startswith("Compiling ")]


def test_initial_state_runs_no_eager_op(caplog):
    """The root keys are split inside the jitted init: building the state is one program,
    and its keys are bit-identical to the eager split of config.seed."""
    family = types.SimpleNamespace(init=lambda key: {"params": jax.random.normal(key, (3,))})
    with jax.log_compiles(True), caplog.at_level(logging.WARNING, logger="jax"):
        init = init_fn(family, 7)
        shapes = jax.eval_shape(init)
    assert _compiled(caplog) == []
    assert shapes["rng"].shape == (2,) and shapes["step"].dtype == jnp.int32
    state = jax.jit(init)()
    k_init, k_train = root_keys(7)  # eagerly
    np.testing.assert_array_equal(state["rng"], k_train)
    np.testing.assert_array_equal(state["params"], jax.random.normal(k_init, (3,)))
    assert int(state["step"]) == 0


def _step_and_inputs():
    sharding = NamedSharding(jax.make_mesh((1,), ("data",)), P())
    step = jax.jit(lambda s, b: ({"w": s["w"] * 2 + b.sum()}, b.mean()), donate_argnums=0,
                   in_shardings=({"w": sharding}, sharding), out_shardings=({"w": sharding}, sharding))
    state = {"w": jax.device_put(jnp.arange(6.0).reshape(2, 3), sharding)}
    batch = jax.device_put(jnp.ones(4), sharding)
    return step, state, batch


def test_compile_ahead_is_reused_by_the_first_call(caplog):
    step, state, batch = _step_and_inputs()
    compile_cache.compile_ahead(step, *jax.tree.map(abstract, (state, batch))).join()
    with jax.log_compiles(True), caplog.at_level(logging.WARNING, logger="jax"):
        new_state, mean = step(state, batch)
    assert _compiled(caplog) == []
    np.testing.assert_array_equal(new_state["w"], np.arange(6.0).reshape(2, 3) * 2 + 4)
    assert float(mean) == 1.0


def test_compile_ahead_leaves_errors_to_the_call():
    bad = jax.jit(lambda x: x @ x)
    compile_cache.compile_ahead(bad, jax.ShapeDtypeStruct((2, 3), jnp.float32)).join()  # quiet
    with pytest.raises(TypeError, match="dot_general"):
        bad(jnp.ones((2, 3)))


@pytest.mark.slow  # a smoke training run
def test_fresh_run_compiles_init_and_step_once_each(tmp_path, caplog):
    jax.config.update("jax_log_compiles", True)  # for every thread (the context is per thread)
    try:
        with caplog.at_level(logging.WARNING, logger="jax"):
            run(smoke_config(**{"train.steps": 1, "train.num_samples": 0}), tmp_path)
    finally:
        jax.config.update("jax_log_compiles", False)
    names = _compiled(caplog)
    assert names.count("jit(init)") == 1 and names.count("jit(step)") == 1, names
