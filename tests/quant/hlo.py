"""Reading operand and result element types of convolutions and dots in lowered StableHLO."""
import re

# `stablehlo.convolution(...) ... : (tensor<AxBxi8>, tensor<...xi8>) -> tensor<...xi32>`
_OP = re.compile(r"stablehlo\.(convolution|dot_general)\b.*:\s*\(tensor<[^>]*x(\w+)>, "
                 r"tensor<[^>]*x(\w+)>\)\s*->\s*tensor<[^>]*x(\w+)>")


def ops(text: str) -> list[tuple[str, str, str, str]]:
    """(op, lhs element type, rhs element type, result element type) of each convolution and
    dot_general in `text` (jax.jit(f).lower(...).as_text())."""
    return [m.groups() for m in map(_OP.search, text.splitlines()) if m]
