"""DCGAN modules: the textbook parameter counts and shapes, and the custom-VJP transposed conv
(PyTorch ConvTranspose2d semantics; gradients equal to jax.grad of the plain version)."""
import jax
import jax.numpy as jnp
import flax.linen as nn
import numpy as np
import pytest

from jaxgen.families.base import count_params
from jaxgen.models.dcgan import (ConvTranspose, DCGANConfig, Discriminator, Generator,
                                 _dilated_conv, conv_transpose)

SEED = DCGANConfig()  # the textbook 28x28 DCGAN of configs/dcgan_seed.py


def shapes(module, *args, **kw):
    return jax.eval_shape(module.init, jax.random.key(0), *args, **kw)


def test_textbook_parameter_counts():
    g = shapes(Generator(SEED), jnp.zeros((2, 100)))
    d = shapes(Discriminator(SEED), jnp.zeros((2, 28, 28, 1)))
    assert count_params(g["params"]) == 765_633
    assert count_params(d["params"]) == 138_561
    assert set(g) == set(d) == {"params"}  # no batch norm, no spectral-norm state


def test_generator_upsamples_7_14_28_and_discriminator_gives_one_logit():
    g = Generator(SEED)
    variables = g.init(jax.random.key(0), jnp.zeros((1, 100)))
    z = jax.random.normal(jax.random.key(1), (3, 100))
    _, inter = g.apply(variables, z, capture_intermediates=True)
    assert inter["intermediates"]["up1"]["__call__"][0].shape == (3, 14, 14, 64)
    x = g.apply(variables, z)
    assert x.shape == (3, 28, 28, 1) and float(jnp.abs(x).max()) <= 1.0
    d = Discriminator(SEED)
    assert d.apply(d.init(jax.random.key(2), x), x).shape == (3,)


def test_options_add_batch_norm_and_spectral_norm_state():
    cfg = DCGANConfig(batch_norm=True, spectral_norm=True, g_act="relu")
    g = shapes(Generator(cfg), jnp.zeros((2, 100)))
    d = shapes(Discriminator(cfg), jnp.zeros((2, 28, 28, 1)))
    assert g["batch_stats"]["bn_fc"]["mean"].shape == (128,)
    assert "bias" not in g["params"]["fc"] and "bias" not in g["params"]["up1"]  # BN follows
    assert "bias" in g["params"]["up2"]
    assert len(d["batch_stats"]) == 3  # one power-iteration state per layer
    with pytest.raises(ValueError, match="divisible by 4"):
        DCGANConfig(image_size=30)


def _pytorch_conv_transpose(x, weight, stride, padding):
    """ConvTranspose2d by definition: the input-gradient of Conv2d(stride, padding) whose
    weight is PyTorch's (C_in_T, C_out_T, k, k) read as OIHW (O = C_in_T, I = C_out_T)."""
    b, h, w, _ = x.shape
    k, c_out = weight.shape[-1], weight.shape[1]
    h_out = (h - 1) * stride - 2 * padding + k
    conv = lambda y: jax.lax.conv_general_dilated(  # noqa: E731
        y, weight.transpose(2, 3, 1, 0), (stride, stride), [(padding, padding)] * 2,
        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jax.vjp(conv, jnp.zeros((b, h_out, h_out, c_out)))[1](x)[0]


@pytest.mark.parametrize("k,s,p", [(4, 2, 1), (3, 2, 1), (5, 2, 2), (4, 2, 0)])
def test_conv_transpose_is_pytorch_conv_transpose2d(k, s, p):
    x = jax.random.normal(jax.random.key(0), (2, 7, 7, 3))
    weight = jax.random.normal(jax.random.key(1), (3, 5, k, k))        # PyTorch layout
    kernel = jnp.flip(weight.transpose(2, 3, 0, 1), (0, 1))             # (k, k, C_in, C_out)
    want = _pytorch_conv_transpose(x, weight, s, p)
    got = conv_transpose(x, kernel, s, p)
    assert got.shape == (2, (7 - 1) * s - 2 * p + k, (7 - 1) * s - 2 * p + k, 5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    flax_ref = nn.ConvTranspose(5, (k, k), strides=(s, s), padding=[(k - 1 - p,) * 2] * 2)
    np.testing.assert_allclose(
        flax_ref.apply({"params": {"kernel": kernel, "bias": jnp.zeros(5)}}, x), got, atol=1e-5)


@pytest.mark.parametrize("k,s,p", [(4, 2, 1), (3, 2, 1)])
def test_conv_transpose_gradients_match_jax_grad_of_the_plain_version(k, s, p):
    x = jax.random.normal(jax.random.key(0), (3, 7, 7, 8))
    kernel = jax.random.normal(jax.random.key(1), (k, k, 8, 4))
    out = (7 - 1) * s - 2 * p + k
    target = jax.random.normal(jax.random.key(2), (3, out, out, 4))
    fast = jax.grad(lambda x, w: jnp.sum(jnp.tanh(conv_transpose(x, w, s, p)) * target), (0, 1))
    plain = jax.grad(lambda x, w: jnp.sum(jnp.tanh(_dilated_conv(x, w, s, p)) * target), (0, 1))
    for got, want in zip(fast(x, kernel), plain(x, kernel)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(jnp.abs(want).max()))


def test_conv_transpose_module_adds_bias_and_counts_params():
    layer = ConvTranspose(64)
    params = layer.init(jax.random.key(0), jnp.zeros((1, 7, 7, 128)))
    assert count_params(params) == 4 * 4 * 128 * 64 + 64
    assert layer.apply(params, jnp.zeros((2, 7, 7, 128))).shape == (2, 14, 14, 64)
