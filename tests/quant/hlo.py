"""Reading operand and result element types of convolutions and dots in lowered StableHLO."""
import re

# `stablehlo.convolution(...) ... : (tensor<AxBxi8>, tensor<...xi8>) -> tensor<...xi32>`; on
# CPU, float32 convolutions are oneDNN custom calls (jaxgen/kernels/onednn.py)
_OP = re.compile(r"stablehlo\.(convolution|dot_general|custom_call @jaxgen_onednn_conv)\w*\b.*:"
                 r"\s*\(tensor<[^>]*x(\w+)>, tensor<[^>]*x(\w+)>\)\s*->\s*tensor<[^>]*x(\w+)>")


def ops(text: str) -> list[tuple[str, str, str, str]]:
    """(op, lhs element type, rhs element type, result element type) of each convolution
    (XLA's or oneDNN's) and dot_general in `text` (jax.jit(f).lower(...).as_text())."""
    found = [m.groups() for m in map(_OP.search, text.splitlines()) if m]
    return [("convolution" if op.startswith("custom_call") else op, *types)
            for op, *types in found]
