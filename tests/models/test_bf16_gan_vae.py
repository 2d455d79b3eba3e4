"""The bf16 policy of the DCGAN and VAE models in the lowered HLO: convolutions (and their
gradients in a train step) in bfloat16 when `dtype="bfloat16"`, float32 otherwise; parameters,
BatchNorm / spectral-norm statistics and outputs float32. (bf16 samples near float32 ones:
tests/quant/test_precision_families.py.)"""
import dataclasses

import jax
import jax.numpy as jnp
import pytest

from jaxgen.models.dcgan import DCGANConfig, Discriminator, Generator
from jaxgen.models.vae import VAE, VAEConfig
from tests.quant.hlo import group_norm_inputs, ops

GAN = DCGANConfig(z_dim=8, g_ch=8, d_ch=4, batch_norm=True, spectral_norm=True)
VAE_CFG = VAEConfig(ch=8, ch_mult=(1, 2), num_res_blocks=1, latent_dim=4, num_groups=4)
F32 = jnp.dtype(jnp.float32)


def convolutions(text: str) -> list[tuple[str, str, str]]:
    """(lhs, rhs, result) element types of each convolution in StableHLO `text`."""
    return [o[1:] for o in ops(text) if o[0] == "convolution"]


def gan_forwards(dtype: str):
    """Lowered G (train mode: BN batch statistics) and D (spectral norm updated), and
    (G variables, D variables) shapes."""
    cfg = dataclasses.replace(GAN, dtype=dtype)
    gen, disc = Generator(cfg), Discriminator(cfg)
    z, x = jnp.zeros((2, cfg.z_dim)), jnp.zeros((2, 28, 28, 1))
    g_vars = jax.eval_shape(gen.init, jax.random.key(0), z)
    d_vars = jax.eval_shape(disc.init, jax.random.key(1), x)
    g = jax.jit(lambda v, z: gen.apply(v, z, train=True, mutable=["batch_stats"])).lower(g_vars, z)
    d = jax.jit(lambda v, x: disc.apply(v, x, update_stats=True,
                                        mutable=["batch_stats"])).lower(d_vars, x)
    return g, d, (g_vars, d_vars)


def vae_forwards(dtype: str):
    """The VAE's encode and decode lowered, and the parameter shapes."""
    model = VAE(dataclasses.replace(VAE_CFG, dtype=dtype))
    x, z = jnp.zeros((2, 28, 28, 1)), jnp.zeros((2, VAE_CFG.latent_dim))
    params = jax.eval_shape(model.init, jax.random.key(0), x, z)
    lower = lambda method, arg: jax.jit(  # noqa: E731
        lambda p, a: model.apply(p, a, method=method)).lower(params, arg)
    return lower("encode", x), lower("decode", z), params


@pytest.mark.parametrize("dtype,short", [("bfloat16", "bf16"), ("float32", "f32")])
def test_dcgan_convolutions_follow_the_compute_dtype(dtype, short):
    g, d, variables = gan_forwards(dtype)
    # G: two transposed convs (lhs-dilated); D: two strided convs
    assert convolutions(g.as_text()) == [(short,) * 3] * 2
    assert convolutions(d.as_text()) == [(short,) * 3] * 2
    # parameters, BN running statistics, spectral norm's u / sigma; images and logits
    outputs = jax.tree.leaves((g.out_info, d.out_info))
    assert {x.dtype for x in jax.tree.leaves(variables) + outputs} == {F32}
    # BatchNorm's batch mean / variance over (B, H, W) reduced in float32: G's (2, 7, 7, 8)
    assert "tensor<2x7x7x8xf32>" in g.as_text()


@pytest.mark.parametrize("dtype,short", [("bfloat16", "bf16"), ("float32", "f32")])
def test_vae_convolutions_follow_the_compute_dtype(dtype, short):
    enc, dec, params = vae_forwards(dtype)
    enc_text, dec_text = enc.as_text(), dec.as_text()
    # encoder: conv_in, ResBlock x2 (2 convs each), the stride-2 Downsample; decoder: ResBlock
    # x2, Upsample, conv_out
    assert convolutions(enc_text) == convolutions(dec_text) == [(short,) * 3] * 6
    dots = [o[1:] for text in (enc_text, dec_text) for o in ops(text) if o[0] == "dot_general"]
    assert dots and set(dots) == {(short,) * 3}                       # fc layers, 1x1 skips
    # parameters; mu, log_var, decoder mean and log scale (the ELBO's inputs)
    outputs = jax.tree.leaves((enc.out_info, dec.out_info))
    assert {x.dtype for x in jax.tree.leaves(params) + outputs} == {F32}
    assert "tensor<2x28x28x4x2xf32>" in group_norm_inputs(dec_text)  # GroupNorm in float32


def gan_step(dtype: str):
    """(StableHLO of one GAN train step of the smoke config at `dtype`, the new state's shapes)."""
    from conftest import smoke_config
    from jaxgen import families
    from jaxgen.families.base import init_fn, step_fn
    config = smoke_config("dcgan_fmnist", **{"model.dtype": dtype})
    family = families.build(config, None)
    state = jax.eval_shape(init_fn(family, 0))
    b = config.train.batch_size
    batch = dict(image=jax.ShapeDtypeStruct((b, 28, 28, 1), jnp.float32),
                 index=jax.ShapeDtypeStruct((b,), jnp.uint32))
    step = jax.jit(step_fn(family))
    return step.lower(state, batch).as_text(), jax.eval_shape(step, state, batch)[0]


def test_gan_train_step_runs_its_convolutions_in_bf16():
    text, new_state = gan_step("bfloat16")
    convs = convolutions(text)
    # forward and both gradients of every conv, D update then G update; no float32 conv left
    assert len(convs) >= 12 and set(convs) == {("bf16",) * 3}, convs
    assert len(convolutions(gan_step("float32")[0])) == len(convs)
    floats = [x for x in jax.tree.leaves(new_state) if jnp.issubdtype(x.dtype, jnp.floating)]
    assert {x.dtype for x in floats} == {F32}   # params, Adam moments, EMA, BN statistics


@pytest.mark.slow  # two short training runs (~1 min)
@pytest.mark.parametrize("name", ["dcgan_fmnist", "vae_fmnist"])
def test_bfloat16_trains_the_smoke_config(tmp_path, name):
    from conftest import smoke_config
    from jaxgen.train import run
    loop = run(smoke_config(name, **{"train.steps": 2, "model.dtype": "bfloat16"}), tmp_path)
    floats = [x for x in jax.tree.leaves(loop.state) if jnp.issubdtype(x.dtype, jnp.floating)]
    assert {x.dtype for x in floats} == {F32}
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in floats)
