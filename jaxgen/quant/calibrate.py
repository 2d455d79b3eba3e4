"""Static int8 calibration: activation scales measured once, stored with the int8 weights.

The float model samples `num` images (batches of `batch`) while an interceptor records, for
every layer that int8 computes (`jaxgen.quant.layers.HANDLERS`), the largest |input| it saw;
the layer's scale is then act_scale = max|x| / 127, a float32 scalar next to its kernel_q /
kernel_scale. With it the int8 layers quantize their input with that fixed scale (values past
it clip) instead of computing max|x| per example at run time. A layer the sampler never calls
keeps scale 1.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgen.quant.int8 import QMAX
from jaxgen.quant.layers import HANDLERS


def _record(amax: dict, path: tuple, value) -> None:
    amax[path] = max(amax.get(path, 0.0), float(value))


def _recorder(amax: dict):
    def interceptor(next_fun, args, kwargs, context):
        m = context.module
        if context.method_name == "__call__" and type(m) in HANDLERS:
            jax.debug.callback(functools.partial(_record, amax, tuple(m.scope.path)),
                               jnp.max(jnp.abs(args[0])))
        return next_fun(*args, **kwargs)
    return interceptor


def check_sizes(num: int, batch: int) -> None:
    if batch < 1 or num < batch:
        raise ValueError(f"--calibrate {num}: the calibration set of {num} images is smaller "
                         f"than one calibration batch of {batch}; pass --calibrate {max(batch, 1)} "
                         f"or more, or a smaller --calibrate_batch")


def activation_ranges(family, state, *, num: int, batch: int, seed: int = 0,
                      **options) -> dict:
    """{layer path: max |input|} over `num` // `batch` float sampling batches."""
    check_sizes(num, batch)
    amax: dict = {}
    jax.clear_caches()  # a cached trace would run without the interceptor
    with nn.intercept_methods(_recorder(amax)):
        for i in range(num // batch):
            images = family.generate(state, rng=jax.random.PRNGKey(seed + i), num=batch,
                                     **options)
            jax.block_until_ready(images)
    jax.effects_barrier()
    return amax


def with_act_scales(tree, amax: dict, path: tuple = ()):
    """The int8 params tree with act_scale = max|x| / 127 beside every kernel_q."""
    if isinstance(tree, dict) and "kernel_q" in tree:
        return {**tree, "act_scale": jnp.float32(max(amax.get(path, QMAX), 1e-12) / QMAX)}
    if isinstance(tree, dict):
        return {k: with_act_scales(v, amax, path + (k,)) for k, v in tree.items()}
    return tree
