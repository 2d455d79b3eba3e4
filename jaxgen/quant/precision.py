"""sample.py --precision: fp32, bf16 (the model's compute dtype; parameters stay float32) or
int8 (quantized on the fly, or as stored by `python -m jaxgen.quant`); `dequantize` swaps int8
arithmetic for float arithmetic on the int8-rounded weights.

fp32 and bf16 are one policy per config: `dtype` of every section whose model takes a compute
dtype (the denoiser, GAN or VAE in `model`; a text encoder in `text`), for training
(`--config.model.dtype=bfloat16`) and for sampling alike."""
from __future__ import annotations

from jaxgen import config as config_lib
from jaxgen import families
from jaxgen.quant.family import dequantize_state, int8_family, param_keys, quantize_state
from jaxgen.quant.params import num_quantized

PRECISIONS = ("fp32", "bf16", "int8")
COMPUTE_DTYPES = {"fp32": "float32", "bf16": "bfloat16"}
DTYPE_SECTIONS = ("model", "text")   # config sections of models with a compute dtype


def is_quantized(family, state) -> bool:
    return any(num_quantized(state[k]) for k in param_keys(family, state))


def compute_dtypes(config) -> set[str]:
    """The compute dtypes `config` names ({"float32"} when no section sets one)."""
    return {config[s].get("dtype", "float32") for s in DTYPE_SECTIONS if s in config}


def with_compute_dtype(config, dtype: str):
    """A copy of `config` whose every model section (DTYPE_SECTIONS present) computes in
    `dtype` ("float32" or "bfloat16"), also a config.json written before it had the key."""
    out = config.copy_and_resolve_references()
    with out.unlocked():
        for name in DTYPE_SECTIONS:
            if name in out:
                out[name].dtype = dtype
    return out


def _float(g, precision: str):
    """(config, family, state) of `g` computing in fp32 or bf16; a family whose model takes no
    compute dtype is a ValueError naming it."""
    config = with_compute_dtype(g.config, COMPUTE_DTYPES[precision])
    try:
        return config, families.build(config, g.dataset), g.state
    except config_lib.UnknownKeys as e:
        if "dtype" not in e.keys:
            raise
        raise ValueError(f"--precision {precision}: the {g.config.family!r} family has no "
                         f"compute-dtype setting (its config.{e.where} takes no dtype), so no "
                         f"{precision} path; sample it with --precision fp32 or int8") from None


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
    if precision in COMPUTE_DTYPES and compute_dtypes(g.config) != {COMPUTE_DTYPES[precision]}:
        parts = _float(g, precision)
    elif precision == "int8" or dequantize or stored8:
        parts = _int8(g, dequantize)
    else:
        return g
    return Generator(*parts, g.step, g.dataset, g.workdir)
