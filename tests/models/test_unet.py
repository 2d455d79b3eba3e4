"""The diffusion U-Net and its layers: shapes, conditioning, dropout, gradients, bf16.

XLA:CPU takes ~9 s to compile a jitted U-Net `init` (the random initialisers), so most
tests build parameters from `jax.eval_shape(init)` filled with numpy draws (`fake_params`)
and share one jitted `apply` per config; `test_init_*` runs the real initialiser once.
"""
import dataclasses
import functools

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.models import (Downsample, ResBlock, UNet, UNetConfig, Upsample, sinusoidal_embedding,
                           upsample_nearest)
from jaxgen.models.layers import depth_to_space, space_to_depth

TINY = UNetConfig(ch=16, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(7, 8),
                  num_groups=4)
COND = dataclasses.replace(TINY, num_classes=10)
TINY_PARAMS = 280_177  # golden count for TINY: changes only when the architecture does


def param_shapes(config, hw=8, label=None):
    x, t = jnp.zeros((2, hw, hw, 1)), jnp.zeros((2,), jnp.int32)
    return jax.eval_shape(UNet(config).init, jax.random.key(0), x, t, label)


@functools.lru_cache(maxsize=None)
def fake_params(config, hw=8):
    """Parameters of the right shapes: kernels ~ N(0, 1/fan_in), GroupNorm scale 1, bias 0.
    Unlike the real init, conv_out is not zero, so outputs depend on every layer."""
    rng = np.random.default_rng(0)

    def fill(path, s):
        name = path[-1].key
        if name == "scale":
            return jnp.ones(s.shape, s.dtype)
        if name == "bias":
            return jnp.zeros(s.shape, s.dtype)
        fan_in = np.prod(s.shape[:-1]) if name == "kernel" else 1
        return jnp.asarray(rng.normal(size=s.shape) / np.sqrt(fan_in), s.dtype)
    label = jnp.zeros((2,), jnp.int32) if config.num_classes else None
    return jax.tree_util.tree_map_with_path(fill, param_shapes(config, hw, label))


@functools.lru_cache(maxsize=None)
def jit_apply(config):
    """One jitted apply per config (op-by-op dispatch of the U-Net is slow)."""
    return jax.jit(UNet(config).apply, static_argnames="train")


def inputs(hw, batch=2, key=1):
    kx, kt = jax.random.split(jax.random.key(key))
    return (jax.random.uniform(kx, (batch, hw, hw, 1), minval=-1, maxval=1),
            jax.random.randint(kt, (batch,), 0, 1000))


def num_params(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


@pytest.mark.parametrize("hw", [28, 32])
def test_output_shape_28_and_32_with_and_without_labels(hw):
    x, t = inputs(hw)
    out = jit_apply(COND)(fake_params(COND, hw), x, t, jnp.array([3, 7], jnp.int32))
    assert out.shape == (2, hw, hw, 1) and out.dtype == jnp.float32
    assert np.all(np.isfinite(out))
    for config, label in [(COND, None), (TINY, None)]:  # shapes only: no compile
        out = jax.eval_shape(UNet(config).apply, fake_params(config, hw), x, t, label)
        assert out.shape == (2, hw, hw, 1) and out.dtype == jnp.float32


def test_labels_change_the_output_and_none_is_the_null_class():
    variables, (x, t) = fake_params(COND), inputs(8)
    apply = jit_apply(COND)
    null = apply(variables, x, t, jnp.full((2,), COND.null_label, jnp.int32))
    np.testing.assert_array_equal(null, apply(variables, x, t, None))
    assert not np.allclose(null, apply(variables, x, t, jnp.array([0, 1], jnp.int32)))


def test_label_without_classes_raises():
    with pytest.raises(ValueError, match="num_classes=0"):
        param_shapes(TINY, 8, label=jnp.zeros((2,), jnp.int32))


def test_bad_spatial_size_raises():
    with pytest.raises(ValueError, match="divisible by 4"):
        param_shapes(TINY, 30)


def test_space_to_depth_blocks_and_inverse():
    """Each p x p block becomes its pixels' channels in (row, col, channel) order, as a
    numpy loop over blocks writes them; depth_to_space undoes it exactly."""
    x = np.arange(2 * 4 * 6 * 3, dtype=np.float32).reshape(2, 4, 6, 3)
    packed = np.asarray(space_to_depth(jnp.asarray(x), 2))
    assert packed.shape == (2, 2, 3, 12)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(packed[:, i, j], x[:, 2 * i:2 * i + 2,
                                                            2 * j:2 * j + 2].reshape(2, 12))
    np.testing.assert_array_equal(depth_to_space(jnp.asarray(packed), 2), x)
    assert space_to_depth(packed, 1) is packed and depth_to_space(packed, 1) is packed


def test_patch_stem_runs_at_half_resolution():
    """patch=2: the first level works at 14x14 on 4 channels and conv_out predicts 4 per
    pixel block; the output is back at 28x28 and its pixels depend on their block's input."""
    config = dataclasses.replace(TINY, ch_mult=(1, 2), attn_resolutions=(7,), patch=2)
    shapes = param_shapes(config, 28)["params"]
    assert shapes["conv_in"]["kernel"].shape == (3, 3, 4, config.ch)
    assert shapes["conv_out"]["kernel"].shape == (3, 3, config.ch, 4)
    x, t = inputs(28)
    apply = jit_apply(config)
    out = apply(fake_params(config, 28), x, t)
    assert out.shape == (2, 28, 28, 1) and np.all(np.isfinite(out))
    moved = apply(fake_params(config, 28), x.at[:, 0, 1].add(1.0), t)
    assert not np.allclose(out[:, 1, 0], moved[:, 1, 0])   # same 2x2 block as the change
    with pytest.raises(ValueError, match="divisible by 4 .*patch=2"):
        param_shapes(config, 26)


def test_parameter_count_is_deterministic():
    """Same count on every call and for 28x28 / 32x32 (attention at 7 / 8, the same level)."""
    assert num_params(param_shapes(TINY, 28)) == num_params(param_shapes(TINY, 28)) == TINY_PARAMS
    assert num_params(param_shapes(TINY, 32)) == TINY_PARAMS
    labels = jnp.zeros((2,), jnp.int32)
    assert num_params(param_shapes(COND, 28, labels)) == TINY_PARAMS + 11 * 4 * TINY.ch


def test_init_is_deterministic_float32_and_zeroes_conv_out():
    config = UNetConfig(ch=8, ch_mult=(1,), num_res_blocks=1, attn_resolutions=(), num_groups=4)
    x, t = inputs(4)
    a = UNet(config).init(jax.random.key(0), x, t)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(a))
    assert not np.any(a["params"]["conv_out"]["kernel"])
    b = UNet(config).init(jax.random.key(0), x, t)
    assert all(np.array_equal(p, q) for p, q in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_dropout_uses_the_dropout_rng():
    config = dataclasses.replace(TINY, dropout=0.5)
    variables, (x, t), apply = fake_params(config), inputs(8), jit_apply(config)
    with pytest.raises(flax.errors.InvalidRngError):
        apply(variables, x, t, train=True)

    def run(k):
        return apply(variables, x, t, train=True, rngs={"dropout": jax.random.key(k)})
    np.testing.assert_array_equal(run(0), run(0))
    assert not np.allclose(run(0), run(1))
    np.testing.assert_array_equal(apply(variables, x, t), jit_apply(TINY)(variables, x, t))


def test_gradients_are_finite_and_reach_the_input_conv():
    config = dataclasses.replace(TINY, ch_mult=(1, 2), attn_resolutions=(4,))  # faster compile
    variables, (x, t) = fake_params(config), inputs(8)
    grads = jax.jit(jax.grad(lambda v: jnp.mean((UNet(config).apply(v, x, t) - x) ** 2)))(variables)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    assert np.any(grads["params"]["conv_in"]["kernel"] != 0)


def test_bfloat16_compute_returns_float32_with_float32_params():
    config = dataclasses.replace(TINY, dtype="bfloat16")
    variables, (x, t) = fake_params(TINY), inputs(8)
    out = jit_apply(config)(variables, x, t)
    ref = jit_apply(TINY)(variables, x, t)
    assert out.dtype == jnp.float32 and np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ref, atol=0.05 * float(jnp.abs(ref).max()))


def test_sinusoidal_embedding():
    emb = sinusoidal_embedding(jnp.array([0, 5]), 8)
    assert emb.shape == (2, 8) and emb.dtype == jnp.float32
    np.testing.assert_allclose(emb[0], [0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_allclose(emb[1, 0], np.sin(5.0), rtol=1e-6)      # frequency 1
    np.testing.assert_allclose(emb[1, 5], np.cos(5.0 * 1e4 ** -0.25), rtol=1e-5)
    assert sinusoidal_embedding(jnp.array([1.5]), 7).shape == (1, 7)


def test_layers_without_time_embedding():
    x = jax.random.normal(jax.random.key(0), (2, 6, 6, 3))
    for module, shape in [(ResBlock(8), (2, 6, 6, 8)), (ResBlock(), (2, 6, 6, 3)),
                          (Downsample(5), (2, 3, 3, 5)), (Upsample(), (2, 12, 12, 3))]:
        out = jax.eval_shape(module.init_with_output, jax.random.key(1), x)[0]
        assert out.shape == shape, module
    np.testing.assert_array_equal(upsample_nearest(x)[:, ::2, ::2], x)
    np.testing.assert_array_equal(upsample_nearest(x)[:, 1::2, 1::2], x)
