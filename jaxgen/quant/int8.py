"""int8 numerics: symmetric quantizers and convolution / matmul with int8 operands and int32
accumulation (`preferred_element_type=jnp.int32`), rescaled to float afterwards.

Weights: per output channel (the kernel's last axis), scale = max|w| / 127 over every other
axis, computed once. Activations: dynamic, scale = max|x| / 127 computed on the fly per
example for convolutions and per token for matmuls, so one image's output never depends on
the other images in its batch. Each scale is constant along the contracted axes, so
  sum_k x_k w_kj = s_x s_w[j] sum_k q(x)_k q(w)_kj
and the integer sum is exact; the only error is the rounding of x and w.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from jax import lax

QMAX = 127.0  # symmetric: -127..127, so negation never overflows


def quantize(x: jax.Array, reduce_axes: Sequence[int]) -> tuple[jax.Array, jax.Array]:
    """(int8 q, float32 scale) with x ~= q * scale; scale = max|x| / 127 over `reduce_axes`
    (kept as size-1 axes), 1 where that max is 0."""
    x = x.astype(jnp.float32)
    amax = jnp.max(jnp.abs(x), axis=tuple(reduce_axes), keepdims=True)
    scale = jnp.where(amax > 0, amax / QMAX, 1.0)
    return jnp.clip(jnp.round(x / scale), -QMAX, QMAX).astype(jnp.int8), scale


def quantize_static(x: jax.Array, scale: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(int8 q, scale) with a fixed (calibrated) float32 scalar scale; values beyond 127 scale
    are clipped."""
    scale = jnp.asarray(scale, jnp.float32)
    return jnp.clip(jnp.round(x.astype(jnp.float32) / scale), -QMAX, QMAX).astype(jnp.int8), scale


def quantize_kernel(kernel: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per-output-channel int8 weights: kernel (..., C_out) -> (int8 same shape, f32 (C_out,))."""
    q, scale = quantize(kernel, range(kernel.ndim - 1))
    return q, scale.reshape(kernel.shape[-1])


def dequantize_kernel(q: jax.Array, scale: jax.Array) -> jax.Array:
    """float32 kernel q * scale (the fallback for back-ends without fast integer ops)."""
    return q.astype(jnp.float32) * scale


def conv(x, q_w, w_scale, *, strides, padding, lhs_dilation=None, rhs_dilation=None,
         groups: int = 1, dims, act_scale=None) -> jax.Array:
    """int8 x int8 -> int32 convolution of float x (B, *spatial, C_in) with the int8 kernel
    q_w (*k, C_in / groups, C_out); float32 (B, *spatial', C_out). `act_scale`: a calibrated
    scalar activation scale (static), else dynamic per example."""
    q_x, x_scale = (quantize(x, range(1, x.ndim)) if act_scale is None    # (B, 1, ..., 1)
                    else quantize_static(x, act_scale))
    y = lax.conv_general_dilated(q_x, q_w, strides, padding, lhs_dilation, rhs_dilation,
                                 dimension_numbers=dims, feature_group_count=groups,
                                 preferred_element_type=jnp.int32)
    return y.astype(jnp.float32) * x_scale * w_scale


def dot(x, q_w, w_scale, axes: tuple[int, ...], act_scale=None) -> jax.Array:
    """int8 x int8 -> int32 contraction of float x's `axes` (non-negative) with the leading
    len(axes) axes of the int8 kernel q_w; float32 (x's other axes, q_w's other axes).
    `act_scale`: a calibrated scalar activation scale, else dynamic per token."""
    q_x, x_scale = quantize(x, axes) if act_scale is None else quantize_static(x, act_scale)
    y = lax.dot_general(q_x, q_w, ((axes, tuple(range(len(axes)))), ((), ())),
                        preferred_element_type=jnp.int32)
    if act_scale is None:
        x_scale = jnp.squeeze(x_scale, axes)                              # x's other axes
        x_scale = x_scale.reshape(x_scale.shape + (1,) * (q_w.ndim - len(axes)))
    return y.astype(jnp.float32) * x_scale * w_scale
