"""int8 post-training quantization: integer arithmetic in the HLO, accuracy against float,
and every layer kind the interceptor handles (Conv, Dense, DenseGeneral, ConvTranspose)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import quant
from jaxgen.models import UNet, UNetConfig
from jaxgen.models.dcgan import ConvTranspose
from tests.quant.hlo import ops

# the smoke config's U-Net (configs/ddpm_fmnist.py:smoke) at 16x16, attention at 8x8
SMOKE = UNetConfig(ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,), num_groups=4)
SMOKE_LAYERS = 51  # Conv / Dense / DenseGeneral layers of SMOKE: changes with the architecture


def fake_params(module, *args, seed=0):
    """Parameters of `module` drawn with numpy: kernels N(0, 1/fan_in), the rest N(0, 0.1),
    so every layer (also the U-Net's zero-initialised output conv) carries signal."""
    shapes = jax.eval_shape(module.init, jax.random.key(0), *args)["params"]
    rng = np.random.default_rng(seed)

    def draw(path, s):
        fan_in = int(np.prod(s.shape[:-1])) if path[-1].key == "kernel" else 10.0
        return jnp.asarray(rng.normal(0, fan_in ** -0.5, s.shape), jnp.float32)
    return jax.tree_util.tree_map_with_path(draw, shapes)


def unet_inputs(hw=8, b=2):
    x = jnp.asarray(np.random.default_rng(1).normal(size=(b, hw, hw, 1)), jnp.float32)
    return x, jnp.array([7, 60])[:b]


def int8_apply(module):
    def apply(params, *args):
        with quant.int8_arithmetic():
            return module.apply({"params": params}, *args)
    return jax.jit(apply)


def rel_err(a, b) -> float:
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


@pytest.fixture(scope="module")
def smoke_unet():
    model, (x, t) = UNet(SMOKE), unet_inputs()
    return model, fake_params(model, x, t), (x, t)


def test_quantized_unet_hlo_is_integer(smoke_unet):
    model, params, args = smoke_unet
    q = quant.quantize_params(params)
    found = ops(int8_apply(model).lower(q, *args).as_text())
    convs = [o for o in found if o[0] == "convolution"]
    int_dots = [o for o in found if o[0] == "dot_general" and o[1:] == ("i8", "i8", "i32")]
    float_dots = [o for o in found if o[0] == "dot_general" and o not in int_dots]
    assert convs and all(o[1:] == ("i8", "i8", "i32") for o in convs), convs
    assert len(convs) + len(int_dots) == quant.num_quantized(q) == SMOKE_LAYERS
    attention_blocks = sum("attn" in name for name in params)
    assert len(float_dots) == 2 * attention_blocks  # q k^T and weights x v stay float
    float_ops = ops(jax.jit(model.apply).lower({"params": params}, *args).as_text())
    assert not any(o[1] == "i8" for o in float_ops)  # the check does tell float from int8


@pytest.mark.slow  # compiles the U-Net twice (~10 s)
def test_int8_unet_compiles_to_int32_convolutions_close_to_float(smoke_unet):
    model, params, args = smoke_unet
    q = quant.quantize_params(params)
    compiled = int8_apply(model).lower(q, *args).compile()
    conv_types = {line.split("=")[1].split("[")[0].strip()
                  for line in compiled.as_text().splitlines() if " convolution(" in line}
    # integer after XLA's passes too; XLA:CPU widens most s8 operands to s32 (all of them
    # under jaxgen's CPU flags), so only the result type is checked here
    assert conv_types == {"s32"}, conv_types
    ref = jax.jit(model.apply)({"params": params}, *args)
    out = compiled(q, *args)
    assert out.dtype == jnp.float32
    assert rel_err(out, ref) < 0.05
    fallback = jax.jit(model.apply)({"params": quant.dequantize_params(q)}, *args)
    assert rel_err(fallback, ref) < 0.05 and rel_err(fallback, out) > 0  # two real paths


class _Layers(nn.Module):
    @nn.compact
    def __call__(self, x):                                            # (B, 4, 4, 3)
        h = nn.Conv(6, (3, 3), strides=2, padding=((1, 1), (0, 2)))(x)
        h = ConvTranspose(5)(h)
        h = nn.DenseGeneral((2, 4), axis=-1)(h)                       # (B, H, W, 2, 4)
        h = nn.DenseGeneral(3, axis=(-2, -1))(h)
        return nn.Dense(2)(h)


def test_each_layer_kind_matches_float():
    model = _Layers()
    x = jnp.asarray(np.random.default_rng(2).normal(size=(3, 4, 4, 3)), jnp.float32)
    params = fake_params(model, x)
    q = quant.quantize_params(params)
    assert quant.num_quantized(q) == 5
    apply8 = int8_apply(model)
    out = apply8(q, x)
    assert rel_err(out, model.apply({"params": params}, x)) < 0.05
    # per-example / per-token activation scales: an image's output ignores its batch
    np.testing.assert_allclose(apply8(q, x[1:2])[0], out[1], rtol=1e-5, atol=1e-6)


def test_weights_per_output_channel_and_4x_smaller(smoke_unet):
    _, params, _ = smoke_unet
    q = quant.quantize_params(params)
    layer = q["conv_in"]
    assert layer["kernel_q"].dtype == jnp.int8 and layer["kernel_scale"].shape == (8,)
    assert int(jnp.abs(layer["kernel_q"]).max(axis=(0, 1, 2)).min()) == 127
    # 3.46x here (ch=8: biases and norms weigh more); 3.84x on the demo U-Net (README)
    assert quant.nbytes(params) / quant.nbytes(q) >= 3.4


def test_unknown_layer_with_int8_kernel_is_named():
    class Custom(nn.Module):
        @nn.compact
        def __call__(self, x):
            return x @ self.param("kernel", nn.initializers.ones, (3, 2))

    class Outer(nn.Module):
        @nn.compact
        def __call__(self, x):
            return Custom(name="custom")(x)

    x = jnp.ones((1, 3))
    q = quant.quantize_params(Outer().init(jax.random.key(0), x)["params"])
    with pytest.raises(TypeError, match="Custom at custom .*no int8 implementation"):
        with quant.int8_arithmetic():
            Outer().apply({"params": q}, x)
