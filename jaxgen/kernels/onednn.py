"""Convolutions on oneDNN for the CPU back-end.

XLA:CPU computes small 3x3 convolutions (28x28 images, 16-48 channels) 2-4x slower than oneDNN,
the library PyTorch runs on CPU, and their weight gradients are the worst (README "Speed on
CPU"). `conv_general_dilated` here is `lax.conv_general_dilated` with a custom VJP whose three
passes (forward, input gradient, weight gradient) are, on CPU, XLA FFI custom calls into oneDNN
(conv_onednn.cc). Each call splits the batch over XLA's own CPU threads, one single-threaded
oneDNN call per part, so that it shares the cores with the rest of the step instead of
competing with it. On other back-ends, for other dtypes, layouts, groups or dilations, or when
the library is not built, it is XLA's own convolution throughout. Results differ from XLA's
only by float rounding (sums are taken in another order; measured 1e-6 relative).

The library is built by `make onednn` (part of `make demo` and `make test`; needs g++ and
Debian's libdnnl packages) into build/onednn/. JAXGEN_ONEDNN=0 turns it off; JAXGEN_ONEDNN=PATH
loads the library at PATH. Being a custom VJP, a convolution here supports reverse-mode
differentiation (grad, vjp), vmap, jit and shard_map, but not forward-mode (jvp): set
JAXGEN_ONEDNN=0 for that.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

ENV = "JAXGEN_ONEDNN"
LIBRARY = Path(__file__).resolve().parents[2] / "build" / "onednn" / "libjaxgen_onednn.so"
TARGETS = {"jaxgen_onednn_conv_forward": "JaxgenConvForward",
           "jaxgen_onednn_conv_input_grad": "JaxgenConvBackwardData",
           "jaxgen_onednn_conv_weight_grad": "JaxgenConvBackwardWeights",
           "jaxgen_group_norm_forward": "JaxgenGroupNormForward",
           "jaxgen_group_norm_backward": "JaxgenGroupNormBackward",
           "jaxgen_global_norm": "JaxgenGlobalNorm",
           "jaxgen_adamw": "JaxgenAdamW",
           "jaxgen_ema": "JaxgenEma"}
NHWC = ("NHWC", "HWIO", "NHWC")
_xla_only = False


@functools.cache
def version() -> str | None:
    """The oneDNN version in use, after loading the library and registering its FFI target;
    None when it is turned off or not built. A library named in JAXGEN_ONEDNN must load."""
    setting = os.environ.get(ENV, "")
    if setting == "0":
        return None
    path = Path(setting) if setting else LIBRARY
    if not path.exists():
        if setting:
            raise FileNotFoundError(f"{ENV}={setting}: no such file; build it with `make onednn`, "
                                    f"or set {ENV}=0 for XLA's own convolutions")
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:
        if setting:
            raise OSError(f"{ENV}={setting} does not load: {e}; rebuild it with `make onednn`, "
                          f"or set {ENV}=0") from e
        warnings.warn(f"{path} does not load ({e}); using XLA's convolutions. Rebuild it with "
                      f"`make onednn`, or set {ENV}=0 to silence this", stacklevel=2)
        return None
    for name, symbol in TARGETS.items():
        jax.ffi.register_ffi_target(name,
                                    jax.ffi.pycapsule(getattr(lib, symbol)), platform="cpu")
    lib.JaxgenOnednnVersion.restype = ctypes.c_char_p
    return lib.JaxgenOnednnVersion().decode()


@contextlib.contextmanager
def xla_only():
    """Convolutions and GroupNorms traced inside this context are XLA's own (for side-by-side
    timings: benchmarks/onednn_ab.py)."""
    global _xla_only
    before, _xla_only = _xla_only, True
    try:
        yield
    finally:
        _xla_only = before


def enabled() -> bool:
    """Whether jaxgen's native kernels are traced now: the library loads, outside `xla_only`."""
    return not _xla_only and version() is not None


def cpu_only() -> bool:
    """Whether CPU is the only back-end JAX has started, so every program runs on CPU."""
    return set(jax.extend.backend.backends()) == {"cpu"}


def on_cpu(*args, cpu, default):
    """`lax.platform_dependent(*args, cpu=cpu, default=default)`, or `cpu(*args)` alone where
    CPU is the only back-end (`cpu_only`): platform_dependent traces every branch, and tracing
    the XLA fallbacks (a convolution's VJP for each gradient) was 70% of the demo train step's
    tracing time, paid at every start."""
    if cpu_only():
        return cpu(*args)
    return lax.platform_dependent(*args, cpu=cpu, default=default)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         batch_group_count=1, precision=None, preferred_element_type=None):
    """`lax.conv_general_dilated`, same signature and result; see the module docstring."""
    fused = (_native_operands(lhs, rhs, preferred_element_type) and rhs.ndim == 4
             and feature_group_count == batch_group_count == 1
             and all(d == 1 for d in (lhs_dilation or ()) + (rhs_dilation or ()))
             and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
             == lax.conv_dimension_numbers(lhs.shape, rhs.shape, NHWC))
    if not fused:
        return lax.conv_general_dilated(
            lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
            feature_group_count, batch_group_count, precision, preferred_element_type)
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
    return _conv(lhs, rhs, tuple(window_strides), tuple(tuple(p) for p in padding), precision)


def pointwise_dot_general(lhs, rhs, dimension_numbers, precision=None,
                          preferred_element_type=None):
    """`lax.dot_general` for `nn.Dense(dot_general=...)`: a Dense over the channels of an NHWC
    activation (a 1x1 convolution, e.g. a ResBlock's skip) runs as a oneDNN 1x1 convolution, as
    `conv_general_dilated` does (XLA:CPU computes these matmuls at ~20-40 GFLOP/s, oneDNN's 1x1
    convolution at ~3x that); anything else is lax.dot_general."""
    pointwise = (_native_operands(lhs, rhs, preferred_element_type) and rhs.ndim == 2
                 and tuple(map(tuple, dimension_numbers[0])) == ((3,), (0,))
                 and not any(dimension_numbers[1]))
    if not pointwise:
        return lax.dot_general(lhs, rhs, dimension_numbers, precision, preferred_element_type)
    return _conv(lhs, rhs[None, None], (1, 1), ((0, 0), (0, 0)), precision)


def _native_operands(lhs, rhs, preferred_element_type) -> bool:
    """Whether the kernels are traced now and take these operands: a 4-D float32 activation,
    a float32 kernel, a float32 result."""
    return (enabled() and lhs.ndim == 4 and lhs.dtype == rhs.dtype == jnp.float32
            and preferred_element_type in (None, jnp.float32))


def _xla_conv(x, kernel, strides, padding, precision):
    return lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=NHWC,
                                    precision=precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv(x, kernel, strides, padding, precision):
    xla = functools.partial(_xla_conv, strides=strides, padding=padding, precision=precision)
    onednn = functools.partial(_call, "forward", jax.eval_shape(xla, x, kernel).shape,
                               strides=strides, padding=padding)
    return on_cpu(x, kernel, cpu=onednn, default=xla)


def _conv_fwd(x, kernel, strides, padding, precision):
    return _conv(x, kernel, strides, padding, precision), (x, kernel)


def _conv_bwd(strides, padding, precision, residuals, dy):
    x, kernel = residuals
    conv = functools.partial(_xla_conv, strides=strides, padding=padding, precision=precision)
    xla_dx = lambda dy, k: jax.vjp(lambda x: conv(x, k), x)[1](dy)[0]  # noqa: E731
    xla_dw = lambda x, dy: jax.vjp(lambda k: conv(x, k), kernel)[1](dy)[0]  # noqa: E731
    call = functools.partial(_call, strides=strides, padding=padding)
    dx = on_cpu(dy, kernel, default=xla_dx, cpu=functools.partial(
        call, "input_grad", x.shape, varying=varying_axes(x)))
    dw = on_cpu(x, dy, default=xla_dw, cpu=functools.partial(
        call, "weight_grad", kernel.shape, varying=varying_axes(kernel)))
    return dx, dw


_conv.defvjp(_conv_fwd, _conv_bwd)


def _call(name, out_shape, a, b, *, strides, padding, varying=None):
    """One oneDNN pass as an FFI call: forward (x, kernel) -> y, input_grad (dy, kernel) -> dx,
    weight_grad (x, dy) -> dkernel, for `lax.conv_general_dilated(x, kernel, strides, padding,
    dimension_numbers=NHWC)` with explicit padding pairs. Inside shard_map, a gradient is
    summed over the mesh axes its primal does not vary over (`varying`), as JAX's own
    transpose of the convolution does. Only reached once `version()` has registered them."""
    (top, bottom), (left, right) = padding
    a, b = _same_varying_axes(a, b)
    call = jax.ffi.ffi_call(f"jaxgen_onednn_conv_{name}", result_like(a, out_shape),
                            vmap_method="sequential")
    y = call(a, b, stride_h=np.int64(strides[0]), stride_w=np.int64(strides[1]),
             pad_top=np.int64(top), pad_bottom=np.int64(bottom), pad_left=np.int64(left),
             pad_right=np.int64(right))
    return y if varying is None else sum_to_primal(y, varying)


def varying_axes(x) -> frozenset:
    """The shard_map mesh axes x varies over (empty outside shard_map)."""
    return jax.typeof(x).manual_axis_type.varying


def result_like(x, shape):
    """A float32 FFI result of `shape` that, inside shard_map, varies over the mesh axes x does."""
    return jax.typeof(x).update(shape=shape, dtype=jnp.float32, weak_type=False)


def sum_to_primal(grad, varying: frozenset):
    """A gradient computed per shard, summed over the mesh axes it varies over and its primal
    does not (`varying`, the primal's), as JAX's own transposes do inside shard_map."""
    summed = tuple(varying_axes(grad) - varying)
    return lax.psum(grad, summed) if summed else grad


def _same_varying_axes(a, b):
    """Inside shard_map, both operands (and so the result) vary over the mesh axes either varies
    over, as XLA's own convolution's result would."""
    va, vb = varying_axes(a), varying_axes(b)
    if vb - va:
        a = lax.pcast(a, tuple(vb - va), to="varying")
    if va - vb:
        b = lax.pcast(b, tuple(va - vb), to="varying")
    return a, b

