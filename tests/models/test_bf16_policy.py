"""The bf16 mixed-precision policy in the lowered HLO: convolutions and matmuls in bfloat16,
parameters float32, GroupNorm, attention logits and softmax float32."""
import dataclasses
import re

import jax
import jax.numpy as jnp
import pytest

from jaxgen.models import UNet, UNetConfig
from tests.quant.hlo import group_norm_inputs, ops

SMOKE = UNetConfig(ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,), num_groups=4)


def lowered(dtype: str) -> tuple[str, dict]:
    """(StableHLO text of the forward at compute `dtype`, the parameter shapes)."""
    model = UNet(dataclasses.replace(SMOKE, dtype=dtype))
    x, t = jnp.zeros((2, 8, 8, 1)), jnp.zeros((2,), jnp.int32)
    shapes = jax.eval_shape(model.init, jax.random.key(0), x, t)
    return jax.jit(model.apply).lower(shapes, x, t).as_text(), shapes["params"]


def test_bfloat16_policy_in_hlo():
    text, params = lowered("bfloat16")
    convs = [o for o in ops(text) if o[0] == "convolution"]
    dots = [o for o in ops(text) if o[0] == "dot_general"]
    assert len(convs) == 20 and all(o[1:] == ("bf16", "bf16", "bf16") for o in convs), convs
    # every dot in bf16 but attention's logits q k^T, kept in f32 with the softmax
    attention_blocks = sum("attn" in name for name in params)
    assert sum(o[1:] == ("f32", "f32", "f32") for o in dots) == attention_blocks == 4
    assert sum(o[1:] == ("bf16", "bf16", "bf16") for o in dots) == len(dots) - 4 > 0
    assert {p.dtype for p in jax.tree.leaves(params)} == {jnp.dtype(jnp.float32)}
    # softmax (its exp) and GroupNorm (its mean / variance reductions) run in float32
    logits = "tensor<2x1x16x16x{}>"  # (B, heads, HW, HW) at the 4x4 level
    assert re.search(r"stablehlo\.exponential .*" + logits.format("f32"), text)
    assert not re.search(r"stablehlo\.exponential .*" + logits.format("bf16"), text)
    assert "tensor<2x8x8x4x2xf32>" in group_norm_inputs(text)  # GroupNorm in float32


def test_float32_policy_has_no_bfloat16():
    """The check above fails when the compute dtype is ignored."""
    convs = [o for o in ops(lowered("float32")[0]) if o[0] == "convolution"]
    # 20 3x3 convolutions and, in float32 on CPU, the 5 ResBlock skips as 1x1 convolutions
    assert len(convs) == 25 and all(o[1:] == ("f32", "f32", "f32") for o in convs)


@pytest.mark.slow  # a short training run (~30 s)
def test_bfloat16_trains_the_smoke_config(tmp_path):
    from jaxgen.train import run
    from conftest import smoke_config
    loop = run(smoke_config(**{"train.steps": 2, "model.dtype": "bfloat16"}), tmp_path)
    params = loop.state["params"]
    assert {p.dtype for p in jax.tree.leaves(params)} == {jnp.dtype(jnp.float32)}
    assert all(jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(params))
