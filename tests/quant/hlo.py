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


def group_norm_inputs(text: str) -> set[str]:
    """GroupNorms computed in `text`, each as the tensor its statistics are taken over:
    'tensor<BxHxWxGxKxT>' (groups G of K channels, element type T). XLA's GroupNorm reshapes
    to that tensor; on CPU, the native kernel (jaxgen/kernels/normalization.py) is a custom call
    on (B, H, W, G * K) with the group count as an attribute."""
    found = set(re.findall(r"tensor<\d+x\d+x\d+x\d+x\d+x\w+>", text))
    for line in text.splitlines():
        m = re.search(r"custom_call @jaxgen_group_norm_forward\(.*groups = (\d+) .*:\s*"
                      r"\(tensor<([\dx]+)x(\d+)x(\w+)>", line)
        if m:
            groups, lead, c, t = m.groups()
            found.add(f"tensor<{lead}x{groups}x{int(c) // int(groups)}x{t}>")
    return found
