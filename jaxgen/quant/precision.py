"""sample.py --precision: fp32, bf16 (the model's compute dtype; parameters stay float32) or
int8 (quantized on the fly, or as stored by `python -m jaxgen.quant`); `dequantize` swaps int8
arithmetic for float arithmetic on the int8-rounded weights."""
from __future__ import annotations

from jaxgen import families
from jaxgen.quant.family import dequantize_state, int8_family, param_keys, quantize_state
from jaxgen.quant.params import num_quantized

PRECISIONS = ("fp32", "bf16", "int8")


def is_quantized(family, state) -> bool:
    return any(num_quantized(state[k]) for k in param_keys(family, state))


def _bf16(g):
    if "dtype" not in g.config.model:
        raise ValueError(f"--precision bf16: the {g.config.family} model has no model.dtype "
                         f"setting; sample it with --precision fp32 or int8")
    config = g.config.copy_and_resolve_references()
    config.model.dtype = "bfloat16"
    return config, families.build(config, g.dataset), g.state


def _int8(g, dequantize: bool):
    name = f"family {g.config.family!r}"
    state = g.state if is_quantized(g.family, g.state) else quantize_state(g.family, g.state,
                                                                           family_name=name)
    if dequantize:
        plain = families.build(g.config, g.dataset)
        return g.config, plain, dequantize_state(plain, state)
    family = g.family if is_quantized(g.family, g.state) else int8_family(g.family)
    return g.config, family, state


def with_precision(g, precision: str | None = None, *, dequantize: bool = False):
    """The `jaxgen.api.Generator` `g` sampling at `precision` (None: as stored)."""
    from jaxgen.api import Generator
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not known; choose one of {PRECISIONS}")
    stored8 = is_quantized(g.family, g.state)
    if stored8 and precision in ("fp32", "bf16"):
        raise ValueError(f"{g.workdir} holds int8 weights; sample it with --precision int8, or "
                         f"add --dequantize for float arithmetic on them")
    if dequantize and precision in ("fp32", "bf16"):
        raise ValueError(f"--dequantize applies to int8 weights, not --precision {precision}")
    if precision == "bf16":
        parts = _bf16(g)
    elif precision == "int8" or dequantize or stored8:
        parts = _int8(g, dequantize)
    else:
        return g
    return Generator(*parts, g.step, g.dataset, g.workdir)
