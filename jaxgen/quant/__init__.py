"""int8 post-training quantization with int8 arithmetic (int8 x int8 -> int32 convolutions
and matmuls), for the sampling path of any family built from Linen layers.

    state8 = quant.quantize_state(family, state)       # int8 kernels + float32 scales
    images = quant.int8_family(family).generate(state8, rng=rng, num=16)
    # fallback where integer convolution is slow or missing: float math on int8 weights
    images = family.generate(quant.dequantize_state(family, state8), rng=rng, num=16)

`python -m jaxgen.quant --workdir W --out W/int8` writes a quantized checkpoint that
sample.py and `jaxgen.load` read like any workdir.
"""
from jaxgen.quant.family import dequantize_state, int8_family, quantize_state
from jaxgen.quant.layers import HANDLERS, int8_arithmetic
from jaxgen.quant.precision import PRECISIONS, with_precision
from jaxgen.quant.params import dequantize_params, nbytes, num_quantized, quantize_params

__all__ = ["HANDLERS", "dequantize_params", "dequantize_state", "int8_arithmetic",
           "int8_family", "nbytes", "num_quantized", "quantize_params", "quantize_state",
           "PRECISIONS", "with_precision"]
