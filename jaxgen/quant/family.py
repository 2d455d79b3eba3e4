"""A family's sampling path in int8: quantized state entries plus generate / modes / tasks /
evaluate run under `int8_arithmetic`, whatever the family's model."""
from __future__ import annotations

import dataclasses
import functools

from jaxgen.families.base import Family, Task
from jaxgen.quant.layers import int8_arithmetic
from jaxgen.quant.params import dequantize_params, num_quantized, quantize_params


def param_keys(family: Family, state: dict) -> list[str]:
    """The state entries sampling reads that hold parameters (e.g. "params", "ema_params";
    the GAN's "g_params", "g_ema_params")."""
    keys = family.inference_keys or tuple(state)
    return [k for k in keys if k in state and k.endswith("params")]


def quantize_state(family: Family, state: dict, *, family_name: str = "this family",
                   act_ranges: dict | None = None) -> dict:
    """`state` with the sampling parameters int8 (`quantize_params`); an error when the family
    has no sampling path or no layer to quantize. `act_ranges` ({layer path: max |input|},
    `jaxgen.quant.calibrate`) adds static activation scales."""
    if family.generate is None:
        raise ValueError(f"{family_name} makes no images, so it has no sampling path to "
                         f"quantize; quantize an image model's workdir (diffusion, gan, vae)")
    out = {**state, **{k: quantize_params(state[k]) for k in param_keys(family, state)}}
    if act_ranges is not None:
        from jaxgen.quant.calibrate import with_act_scales
        out.update({k: with_act_scales(out[k], act_ranges) for k in param_keys(family, state)})
    if not any(num_quantized(out[k]) for k in param_keys(family, state)):
        raise ValueError(f"{family_name} has no Conv / Dense layer in {param_keys(family, state)}"
                         f" to quantize")
    return out


def dequantize_state(family: Family, state: dict) -> dict:
    """The fallback: int8-rounded weights back in float32, sampled by the plain family."""
    return {**state, **{k: dequantize_params(state[k]) for k in param_keys(family, state)}}


def _in_int8(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        with int8_arithmetic():
            return fn(*args, **kwargs)
    return run


def int8_family(family: Family) -> Family:
    """`family` whose sampling functions run layers with int8 kernels in int8 arithmetic;
    give them a `quantize_state` state."""
    wrap = lambda fn: fn and _in_int8(fn)  # noqa: E731
    return dataclasses.replace(
        family, generate=wrap(family.generate), evaluate=wrap(family.evaluate),
        modes={k: wrap(v) for k, v in family.modes.items()},
        tasks={k: Task(wrap(t.run), t.info) for k, t in family.tasks.items()})
