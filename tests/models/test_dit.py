"""The DiT denoiser: shapes, adaLN-Zero identity at init, the parameter count, scanned blocks,
class and prompt conditioning (PAD tokens masked out of cross-attention)."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.models import DiT, DiTConfig, TextContext
from jaxgen.models.dit import DiTBlock, patchify, unpatchify

TINY = DiTConfig(patch_size=7, width=32, depth=2, heads=2, mlp_ratio=2, num_classes=10)


def num_params(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def inputs(hw=28, c=1, batch=2, key=1):
    kx, kt = jax.random.split(jax.random.key(key))
    return (jax.random.uniform(kx, (batch, hw, hw, c), minval=-1, maxval=1),
            jax.random.randint(kt, (batch,), 0, 1000))


def context(batch=2, length=6, dim=16, key=2, keep_len=4):
    h = jax.random.normal(jax.random.key(key), (batch, length, dim))
    keep = jnp.arange(length)[None].repeat(batch, 0) < keep_len
    return TextContext(h, keep, h[:, 0] * 0.5)


def perturbed(params, key=3, scale=0.1):
    """Parameters with noise added, so the zero-initialised adaLN / output layers are live."""
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(key), len(leaves))
    return jax.tree.unflatten(tree, [p + scale * jax.random.normal(k, p.shape)
                                     for p, k in zip(leaves, keys)])


def expected_params(cfg: DiTConfig, in_ch: int, tokens: int) -> int:
    """DiT's parameter count: patch embed, time MLP, class table, per block adaLN (6D) +
    qkv + out + MLP, final adaLN (2D) + projection; a learned position table adds N * D."""
    d, p, r = cfg.width, cfg.patch_size, cfg.mlp_ratio
    out = p * p * cfg.out_channels
    block = (6 * d * d + 6 * d) + (3 * d * d + 3 * d) + (d * d + d) + (2 * r * d * d + r * d + d)
    classes = (cfg.num_classes + 1) * d if cfg.num_classes else 0
    return ((p * p * in_ch * d + d) + 2 * (d * d + d) + classes + cfg.depth * block
            + (2 * d * d + 2 * d) + (d * out + out) + (tokens * d if cfg.pos_embed == "learned" else 0))


RGB_LEARNED = dataclasses.replace(TINY, patch_size=4, num_classes=0, out_channels=3,
                                  pos_embed="learned")


@pytest.mark.parametrize("cfg,hw,c", [(TINY, 28, 1), (RGB_LEARNED, 32, 3)])
def test_shapes_and_parameter_count(cfg, hw, c):
    x, t = inputs(hw, c)
    label = jnp.array([1, 2], jnp.int32) if cfg.num_classes else None
    shapes = jax.eval_shape(DiT(cfg).init, jax.random.key(0), x, t, label)
    assert num_params(shapes) == expected_params(cfg, c, (hw // cfg.patch_size) ** 2)
    out = jax.eval_shape(DiT(cfg).apply, shapes, x, t, label)
    assert out.shape == (2, hw, hw, cfg.out_channels) and out.dtype == jnp.float32


def test_patchify_round_trip_and_bad_size():
    x, _ = inputs(28, 3)
    np.testing.assert_array_equal(unpatchify(patchify(x, 7), 7, 28, 28), x)
    assert patchify(x, 7).shape == (2, 16, 7 * 7 * 3)
    with pytest.raises(ValueError, match="divisible by patch_size=7"):
        jax.eval_shape(DiT(TINY).init, jax.random.key(0), *inputs(30))


@pytest.fixture(scope="module")
def init_params():
    """TINY's real initial parameters, with cross-attention (one jitted init for the module)."""
    return jax.jit(DiT(TINY).init)(jax.random.key(0), *inputs(), None, context=context())["params"]


@pytest.fixture(scope="module")
def apply():
    return jax.jit(DiT(TINY).apply)


def test_adaln_zero_block_is_the_identity_at_init_and_the_model_outputs_zero(init_params, apply):
    x = jax.random.normal(jax.random.key(0), (2, 16, 32))
    c = jax.random.normal(jax.random.key(1), (2, 32))
    block = jax.jit(DiTBlock(TINY).apply)
    params = {"params": init_params["block0"]}
    np.testing.assert_array_equal(block(params, x, c, context(dim=16)), x)
    assert not np.any(apply({"params": init_params}, *inputs(), None, context=context()))
    assert np.any(block(perturbed(params), x, c, context(dim=16)) != x)   # the test can fail


def test_scanned_blocks_equal_the_unrolled_stack(init_params, apply):
    x, t = inputs()
    params = perturbed(init_params)
    blocks = [params.pop(f"block{i}") for i in range(TINY.depth)]
    stacked = dict(params, blocks=jax.tree.map(lambda *a: jnp.stack(a), *blocks))
    unrolled = dict(params, **{f"block{i}": b for i, b in enumerate(blocks)})
    scan = dataclasses.replace(TINY, scan_blocks=True)
    assert jax.tree.map(jnp.shape, stacked) == jax.tree.map(jnp.shape, jax.eval_shape(
        DiT(scan).init, jax.random.key(0), x, t, None, context=context())["params"])
    np.testing.assert_allclose(
        jax.jit(DiT(scan).apply)({"params": stacked}, x, t, None, context=context()),
        apply({"params": unrolled}, x, t, None, context=context()), rtol=1e-5, atol=1e-6)


def test_labels_and_prompts_condition_and_pad_tokens_are_masked(init_params, apply):
    x, t = inputs()
    variables = {"params": perturbed(init_params)}
    labels = lambda v: jnp.full((2,), v, jnp.int32)  # noqa: E731
    base = apply(variables, x, t, labels(TINY.null_label), context=context())
    np.testing.assert_array_equal(base, apply(variables, x, t, None, context=context()))
    assert not np.allclose(base, apply(variables, x, t, labels(3), context=context()))
    other = context(key=5)
    assert not np.allclose(base, apply(variables, x, t, labels(TINY.null_label), context=other))
    garbage_pad = context()._replace(h=context().h.at[:, 4:].set(other.h[:, 4:]))
    np.testing.assert_allclose(apply(variables, x, t, labels(TINY.null_label), context=garbage_pad),
                               base, rtol=1e-6, atol=1e-6)
