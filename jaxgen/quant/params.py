"""Parameter trees <-> int8: every layer's {"kernel", "bias"?} becomes
{"kernel_q": int8, "kernel_scale": float32 (C_out,), "bias"?}; all else stays float32
(norms, embeddings, biases)."""
from __future__ import annotations

import jax

from jaxgen.quant.int8 import dequantize_kernel, quantize_kernel


def _is_layer(node) -> bool:
    return isinstance(node, dict) and "kernel" in node and getattr(node["kernel"], "ndim", 0) >= 2


def quantize_params(tree):
    """The params tree with every layer kernel int8 + per-output-channel scales."""
    if _is_layer(tree):
        q, scale = quantize_kernel(tree["kernel"])
        rest = {k: v for k, v in tree.items() if k != "kernel"}
        return {**rest, "kernel_q": q, "kernel_scale": scale}
    if isinstance(tree, dict):
        return {k: quantize_params(v) for k, v in tree.items()}
    return tree


def dequantize_params(tree):
    """The float32 tree back from `quantize_params` (kernel = q * scale): float arithmetic
    on int8-rounded weights, for back-ends where integer convolution is missing or slow."""
    if isinstance(tree, dict) and "kernel_q" in tree:
        rest = {k: v for k, v in tree.items()
                if k not in ("kernel_q", "kernel_scale", "act_scale")}
        return {**rest, "kernel": dequantize_kernel(tree["kernel_q"], tree["kernel_scale"])}
    if isinstance(tree, dict):
        return {k: dequantize_params(v) for k, v in tree.items()}
    return tree


def num_quantized(tree) -> int:
    """How many layers of `tree` hold int8 kernels."""
    if isinstance(tree, dict):
        return int("kernel_q" in tree) + sum(num_quantized(v) for v in tree.values())
    return 0


def nbytes(tree) -> int:
    """Bytes of all arrays in `tree`."""
    return sum(int(x.size) * x.dtype.itemsize for x in jax.tree.leaves(tree))
