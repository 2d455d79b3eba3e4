"""GroupNorm, optionally fused with the SiLU after it, on a native kernel for the CPU back-end.

XLA:CPU computes a GroupNorm and its gradient as several single-threaded passes over the
activation; the U-Nets and VAEs run one before nearly every convolution. `group_norm` here is
flax's `nn.GroupNorm` (+ `nn.silu`) with a custom VJP whose forward and backward passes are, on
CPU, XLA FFI custom calls (group_norm.cc): each example is normalised in cache, the batch split
over XLA's threads, in 2.6x less time than XLA's for the demo's 28x28 layers (README "Speed on
CPU"). Elsewhere, for bf16 or without the library (`make onednn`), it is flax's own. Results
differ from flax's only by float rounding (the variance is taken in two passes; measured 1e-6
relative). JAXGEN_ONEDNN=0 turns it off with the convolutions (jaxgen/kernels/onednn.py).
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxgen.kernels import onednn


def group_norm(x, scale, bias, num_groups: int, epsilon: float = 1e-6, silu: bool = False):
    """silu(GroupNorm(x)) (or GroupNorm(x)) over (B, ..., C) with `num_groups` groups of
    channels, per-channel `scale` and `bias` (C,); flax's nn.GroupNorm results."""
    native = (onednn.enabled() and x.ndim >= 2
              and x.dtype == scale.dtype == bias.dtype == jnp.float32
              and jax.default_backend() == "cpu")  # elsewhere, no custom VJP recomputing flax's
    if not native:
        return reference(x, scale, bias, num_groups, epsilon, silu)
    return _gn(x, scale, bias, num_groups, float(epsilon), bool(silu))


def reference(x, scale, bias, num_groups, epsilon=1e-6, silu=False):
    """The same with flax's nn.GroupNorm and nn.silu."""
    y = nn.GroupNorm(num_groups=num_groups, epsilon=epsilon, dtype=x.dtype).apply(
        {"params": {"scale": scale, "bias": bias}}, x)
    return nn.silu(y) if silu else y


def _stats(x, num_groups, epsilon):
    """Each example's group mean and 1 / std, (B, groups) each: the kernel's residuals."""
    xg = x.reshape(x.shape[0], -1, num_groups, x.shape[-1] // num_groups)
    mean = jnp.mean(xg, axis=(1, 3))
    var = jnp.mean(jnp.square(xg - mean[:, None, :, None]), axis=(1, 3))
    return mean, lax.rsqrt(var + epsilon)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _gn(x, scale, bias, num_groups, epsilon, silu):
    return _gn_fwd(x, scale, bias, num_groups, epsilon, silu)[0]


def _gn_fwd(x, scale, bias, num_groups, epsilon, silu):
    stat = onednn.result_like(x, (x.shape[0], num_groups))

    def default(x, scale, bias):
        return (reference(x, scale, bias, num_groups, epsilon, silu),
                *_stats(x, num_groups, epsilon))

    def cpu(x, scale, bias):
        call = jax.ffi.ffi_call("jaxgen_group_norm_forward",
                                (onednn.result_like(x, x.shape), stat, stat),
                                vmap_method="sequential")
        return call(x, scale, bias, groups=np.int64(num_groups), eps=np.float32(epsilon),
                    silu=silu)

    y, mean, rstd = onednn.on_cpu(x, scale, bias, cpu=cpu, default=default)
    return y, (x, scale, bias, mean, rstd)


def _gn_bwd(num_groups, epsilon, silu, residuals, dy):
    x, scale, bias, mean, rstd = residuals

    def default(x, scale, bias, mean, rstd, dy):
        f = functools.partial(reference, num_groups=num_groups, epsilon=epsilon, silu=silu)
        return jax.vjp(f, x, scale, bias)[1](dy)

    def cpu(x, scale, bias, mean, rstd, dy):
        like = functools.partial(onednn.result_like, x)
        call = jax.ffi.ffi_call("jaxgen_group_norm_backward",
                                (like(x.shape), like(scale.shape), like(bias.shape)),
                                vmap_method="sequential")
        dx, dscale, dbias = call(x, scale, bias, mean, rstd, dy, groups=np.int64(num_groups),
                                 silu=silu)
        axes = onednn.varying_axes(scale)
        return dx, onednn.sum_to_primal(dscale, axes), onednn.sum_to_primal(dbias, axes)

    return tuple(onednn.on_cpu(x, scale, bias, mean, rstd, dy, cpu=cpu, default=default))


_gn.defvjp(_gn_fwd, _gn_bwd)
