"""Counts the collectives XLA puts into a tensor-parallel DiT (2 simulated devices, tensor=2)
and prints {"forward": {op: count}, "gradient": {...}, "max_abs_diff": forward vs 1 device}.
Megatron's split needs exactly one all-reduce after each block's attention and MLP forward
(2 x depth), and as many again for the gradients of their inputs.

  XLA_FLAGS=--xla_force_host_platform_device_count=2 python tests/parallel/collectives.py
"""
import collections
import json
import re

import jax
import jax.numpy as jnp

from jaxgen.models import DiT, DiTConfig, dit
from jaxgen.parallel import rules
from jaxgen.parallel.mesh import ParallelConfig, make_mesh

CONFIG = DiTConfig(patch_size=4, width=32, depth=2, heads=4, mlp_ratio=2)
OPS = "all-reduce|all-gather|reduce-scatter|all-to-all|collective-permute"


def collectives(fn, *args) -> dict:
    text = jax.jit(fn).lower(*args).compile().as_text()
    return dict(collections.Counter(re.findall(rf"= \S+ ({OPS})\(", text)))


def main():
    mesh = make_mesh(ParallelConfig(tensor=2))   # data 1 x tensor 2 on the 2 devices
    model, x, t = DiT(CONFIG), jnp.zeros((2, 16, 16, 1)), jnp.zeros((2,), jnp.int32)
    params = model.init(jax.random.key(0), x, t)["params"]
    cfg = rules.with_model_rules(ParallelConfig(tensor=2), mesh,
                                 lambda n: dit.tensor_rules(CONFIG, n))
    split = jax.device_put(params, rules.named(mesh, rules.state_specs(params, cfg, mesh)))
    forward = lambda p: model.apply({"params": p}, x, t)  # noqa: E731
    loss = lambda p: jnp.mean(forward(p) ** 2)  # noqa: E731
    diff = jnp.abs(jax.jit(forward)(split) - forward(params)).max()
    print(json.dumps(dict(forward=collectives(forward, split),
                          gradient=collectives(jax.grad(loss), split),
                          max_abs_diff=float(diff), depth=CONFIG.depth)))


if __name__ == "__main__":
    main()
