"""Routes Linen layers holding int8 kernels to int8 arithmetic, for any model.

`int8_arithmetic()` is a context (a `flax.linen.intercept_methods` interceptor): inside it,
every nn.Conv, nn.Dense, nn.DenseGeneral (so also the projections of
nn.MultiHeadDotProductAttention) and jaxgen's DCGAN ConvTranspose whose parameters hold
"kernel_q" / "kernel_scale" (written by `jaxgen.quant.params.quantize_params`) is computed by
`jaxgen.quant.int8` instead of its own __call__. Nothing in the models changes, so a new model
built from these layers is quantized as is. Attention's activation x activation products
(q k^T and the softmax-weighted sum of v) stay in float.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.linear import canonicalize_padding

from jaxgen.models.dcgan import ConvTranspose
from jaxgen.quant import int8


def _weights(m: nn.Module):
    """(int8 kernel, f32 per-channel scale, bias or None) of a bound layer."""
    bias = m.get_variable("params", "bias") if m.has_variable("params", "bias") else None
    return m.get_variable("params", "kernel_q"), m.get_variable("params", "kernel_scale"), bias


def _act_scale(m: nn.Module):
    """The calibrated activation scale (`jaxgen.quant.calibrate`), or None: dynamic."""
    return m.get_variable("params", "act_scale") if m.has_variable("params", "act_scale") else None


def _finish(y: jax.Array, bias, dtype) -> jax.Array:
    if bias is not None:
        y = y + bias.astype(jnp.float32)
    return y.astype(dtype or jnp.float32)


def _padding(m: nn.Conv, nd: int):
    if isinstance(m.padding, str):
        if m.padding not in ("SAME", "VALID"):
            raise ValueError(f"int8 {type(m).__name__} {m.name!r}: padding={m.padding!r} is not "
                             f"supported (SAME, VALID or explicit); use dequantize=True")
        return m.padding
    return canonicalize_padding(m.padding, nd)


def _conv(m: nn.Conv, x: jax.Array) -> jax.Array:
    """nn.Conv on (B, *spatial, C_in) input (flax's NHWC / HWIO layout)."""
    q_w, scale, bias = _weights(m)
    nd = q_w.ndim - 2
    if x.ndim != nd + 2 or m.mask is not None:
        raise ValueError(f"int8 Conv {m.name!r}: expected a batched {nd + 2}-D input without "
                         f"a mask, got shape {x.shape}; use dequantize=True")
    tup = lambda v: (v,) * nd if isinstance(v, int) else tuple(v or (1,) * nd)  # noqa: E731
    spatial = "HWDXYZ"[:nd]
    y = int8.conv(x, q_w, scale, strides=tup(m.strides), padding=_padding(m, nd),
                  lhs_dilation=tup(m.input_dilation), rhs_dilation=tup(m.kernel_dilation),
                  groups=m.feature_group_count, act_scale=_act_scale(m),
                  dims=(f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"))
    return _finish(y, bias, m.dtype)


def _dense_general(m: nn.DenseGeneral, x: jax.Array) -> jax.Array:
    if m.batch_dims:
        raise ValueError(f"int8 DenseGeneral {m.name!r}: batch_dims={m.batch_dims} is not "
                         f"supported; use dequantize=True")
    axis = (m.axis,) if isinstance(m.axis, int) else tuple(m.axis)
    q_w, scale, bias = _weights(m)
    y = int8.dot(x, q_w, scale, tuple(a % x.ndim for a in axis), _act_scale(m))
    return _finish(y, bias, m.dtype)


def _dense(m: nn.Dense, x: jax.Array) -> jax.Array:
    q_w, scale, bias = _weights(m)
    return _finish(int8.dot(x, q_w, scale, (x.ndim - 1,), _act_scale(m)), bias, m.dtype)


def _conv_transpose(m: ConvTranspose, x: jax.Array) -> jax.Array:
    """jaxgen.models.dcgan.ConvTranspose: the lhs-dilated conv of `dcgan._dilated_conv`."""
    q_w, scale, bias = _weights(m)
    q = q_w.shape[0] - 1 - m.padding
    y = int8.conv(x, q_w, scale, strides=(1, 1), padding=((q, q), (q, q)),
                  lhs_dilation=(m.stride, m.stride), dims=("NHWC", "HWIO", "NHWC"),
                  act_scale=_act_scale(m))
    return _finish(y, bias, m.dtype)


HANDLERS: dict[type, Callable] = {nn.Conv: _conv, nn.Dense: _dense,
                                  nn.DenseGeneral: _dense_general,
                                  ConvTranspose: _conv_transpose}


def _interceptor(next_fun, args, kwargs, context):
    m = context.module
    if context.method_name != "__call__" or not m.has_variable("params", "kernel_q"):
        return next_fun(*args, **kwargs)
    handler = HANDLERS.get(type(m))
    if handler is None:
        raise TypeError(f"{type(m).__name__} at {'/'.join(m.scope.path)} holds an int8 kernel "
                        f"but has no int8 implementation; add one to "
                        f"jaxgen.quant.layers.HANDLERS or sample with dequantize=True")
    return handler(m, *args, **kwargs)


@contextlib.contextmanager
def int8_arithmetic():
    """Inside: layers with int8 kernels compute in int8 (see the module docstring). Traces
    made inside keep it; a jitted function retraces because the parameter tree differs."""
    with nn.intercept_methods(_interceptor):
        yield
