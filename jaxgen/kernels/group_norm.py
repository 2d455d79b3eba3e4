"""GroupNorm, optionally fused with the SiLU after it, on a native kernel for the CPU back-end."""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxgen.kernels import onednn


def group_norm(x, scale, bias, num_groups: int, epsilon: float = 1e-6, silu: bool = False):
    native = (not onednn._xla_only and onednn.version() is not None and x.ndim >= 2
              and x.dtype == scale.dtype == bias.dtype == jnp.float32
              and jax.default_backend() == "cpu")
    if not native:
        return reference(x, scale, bias, num_groups, epsilon, silu)
    return _gn(x, scale, bias, num_groups, float(epsilon), bool(silu))


def reference(x, scale, bias, num_groups, epsilon=1e-6, silu=False):
    y = nn.GroupNorm(num_groups=num_groups, epsilon=epsilon, dtype=x.dtype).apply(
        {"params": {"scale": scale, "bias": bias}}, x)
    return nn.silu(y) if silu else y


def _stats(x, num_groups, epsilon):
    xg = x.reshape(x.shape[0], -1, num_groups, x.shape[-1] // num_groups)
    mean = jnp.mean(xg, axis=(1, 3))
    var = jnp.mean(jnp.square(xg - mean[:, None, :, None]), axis=(1, 3))
    return mean, lax.rsqrt(var + epsilon)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _gn(x, scale, bias, num_groups, epsilon, silu):
    return _gn_fwd(x, scale, bias, num_groups, epsilon, silu)[0]


def _gn_fwd(x, scale, bias, num_groups, epsilon, silu):
    def default(x, scale, bias):
        return (reference(x, scale, bias, num_groups, epsilon, silu),
                *_stats(x, num_groups, epsilon))

    def cpu(x, scale, bias):
        stat = jax.ShapeDtypeStruct((x.shape[0], num_groups), jnp.float32)
        call = jax.ffi.ffi_call("jaxgen_group_norm_forward",
                                (jax.ShapeDtypeStruct(x.shape, jnp.float32), stat, stat),
                                vmap_method="sequential")
        return call(x, scale, bias, groups=np.int64(num_groups), eps=np.float32(epsilon),
                    silu=silu)

    y, mean, rstd = lax.platform_dependent(x, scale, bias, cpu=cpu, default=default)
    return y, (x, scale, bias, mean, rstd)


def _gn_bwd(num_groups, epsilon, silu, residuals, dy):
    x, scale, bias, mean, rstd = residuals

    def default(x, scale, bias, mean, rstd, dy):
        f = functools.partial(reference, num_groups=num_groups, epsilon=epsilon, silu=silu)
        return jax.vjp(f, x, scale, bias)[1](dy)

    def cpu(x, scale, bias, mean, rstd, dy):
        call = jax.ffi.ffi_call("jaxgen_group_norm_backward",
                                (jax.ShapeDtypeStruct(x.shape, jnp.float32),
                                 jax.ShapeDtypeStruct(scale.shape, jnp.float32),
                                 jax.ShapeDtypeStruct(bias.shape, jnp.float32)),
                                vmap_method="sequential")
        return call(x, scale, bias, mean, rstd, dy, groups=np.int64(num_groups), silu=silu)

    return tuple(lax.platform_dependent(x, scale, bias, mean, rstd, dy, cpu=cpu, default=default))


_gn.defvjp(_gn_fwd, _gn_bwd)
