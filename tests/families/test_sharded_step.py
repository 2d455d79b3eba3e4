"""The GAN, VAE and text-to-image DiT steps honour `axis_name`: run per shard under
`jax.shard_map` on 2 simulated CPU devices (batch split, state replicated), one step gives the
unsharded step's metrics and state (global batch means, global BatchNorm statistics,
per-example keys from the index: noise and prompt dropping).

Runs in a subprocess: the device count is fixed when JAX starts.
"""
import json

import pytest

from conftest import run_script

SCRIPT = r"""
import json, sys
import jax
jax.config.update("jax_num_cpu_devices", 2)
import numpy as np
from jax.sharding import Mesh, PartitionSpec as P
sys.path.insert(0, "tests")
from conftest import smoke_config
from jaxgen import data as data_lib, families
from jaxgen.families.base import init_fn, make_state

out = {}
for name in sys.argv[1:]:
    config = smoke_config(name)
    ds = data_lib.load_dataset(config.data, split="train")
    family = families.build(config, ds)
    state = make_state(init_fn(family, 0))
    batch = data_lib.batch_at(ds, 0, batch_size=8, seed=0)
    rng = jax.random.PRNGKey(3)
    want = jax.jit(lambda s, b: family.train_step(s, b, rng=rng))(state, batch)
    step = lambda s, b: family.train_step(s, b, rng=rng, axis_name="data")
    sharded = jax.shard_map(step, mesh=Mesh(np.array(jax.devices()), ("data",)),
                            in_specs=(P(), P("data")), out_specs=(P(), P()))
    got = jax.jit(sharded)(state, batch)
    errors = [float(np.max(np.abs(np.asarray(a) - np.asarray(b)))
                    / (float(np.max(np.abs(np.asarray(b)))) + 1e-7))
              for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)) if np.size(b)]
    out[name] = max(errors)
print(json.dumps(out))
"""


def check_sharded_steps(*names):
    proc = run_script("-c", SCRIPT, *names)
    errors = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(errors) == set(names)
    assert all(e < 1e-3 for e in errors.values()), errors


def test_one_sharded_step_equals_the_unsharded_step():
    check_sharded_steps("dcgan_seed", "t2i_compose:dit_smoke")


@pytest.mark.slow
def test_one_sharded_step_equals_the_unsharded_step_more_families():
    check_sharded_steps("dcgan_fmnist", "vae_fmnist")
