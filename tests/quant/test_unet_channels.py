"""Structured channel pruning of the diffusion U-Net: every ResBlock's inner channels (conv1's
filters) ranked by L1 norm, cut with temb_proj, GroupNorm 2 and conv2's inputs (`mid_ratio`)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from conftest import smoke_config
from jaxgen.models.layers import group_size, inner_width
from jaxgen.models.registry import denoiser_config
from jaxgen.models.unet import UNet
from jaxgen.quant import channels

X = jax.random.uniform(jax.random.key(1), (2, 8, 8, 1), minval=-1, maxval=1)
T = jnp.array([3, 710])


def model_configs(fraction=0.5):
    """(full, pruned) UNetConfig of the smoke U-Net (8 channels, levels 8 and 16 wide)."""
    config = smoke_config(**{"prune.channels": fraction})
    typed = lambda c: denoiser_config(c, num_classes=0, out_channels=1)  # noqa: E731
    return config, typed(config), typed(channels.shrunk_config(config))


def shapes(cfg):
    return jax.eval_shape(UNet(cfg).init, jax.random.key(0), X, T)["params"]


def random_params(cfg, seed):
    """Every leaf ~ N(0, 1/fan_in) (biases and GroupNorm affines too, so each one matters)."""
    rng = np.random.default_rng(seed)
    def draw(s):
        fan_in = np.prod(s.shape[:-1]) or 1
        return (rng.standard_normal(s.shape) / np.sqrt(fan_in)).astype(np.float32)
    return jax.tree.map(draw, shapes(cfg))


def flat(tree):
    return traverse_util.flatten_dict(tree)


def test_inner_width_rounds_to_whole_groups_and_rejects_bad_ratios():
    assert [inner_width(64, r, 8) for r in (1.0, 0.75, 0.5, 0.25, 0.01)] == [64, 48, 32, 16, 8]
    assert group_size(12, 8) == 3 and inner_width(12, 0.5, 8) == 6   # gcd: 4 groups of 3
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match=rf"model.mid_ratio={bad} must be in \(0, 1\]"):
            inner_width(16, bad, 8)


def test_mid_ratio_cuts_only_the_inner_leaves_and_its_default_keeps_the_tree():
    _, full_cfg, small_cfg = model_configs()
    assert full_cfg.mid_ratio == 1.0 and small_cfg.mid_ratio == 0.5
    full, small = flat(shapes(full_cfg)), flat(shapes(small_cfg))
    assert full.keys() == small.keys()
    cut = 0
    for path, s in full.items():
        axis = channels.INNER_AXES.get(path[-2:])
        if axis is None:
            assert small[path].shape == s.shape, path
            continue
        block = path[:-2]
        c_out = full[block + ("conv2", "kernel")].shape[-1]
        assert s.shape[axis] == c_out                                  # default: whole inside
        assert small[path].shape[axis] == c_out // 2, path
        cut += 1
    assert cut == 7 * 8                # 7 inner leaves in each of the smoke U-Net's 8 blocks


def test_pruning_keeps_the_strongest_l1_filters_ranked_on_the_ema():
    config, full_cfg, small_cfg = model_configs(0.75)
    source = {"params": random_params(full_cfg, 0), "ema_params": random_params(full_cfg, 1),
              "step": 7}
    out = channels.shrink_state(source, config, config)
    assert out["step"] == 7
    want_shapes = flat(shapes(small_cfg))
    for key in ("params", "ema_params"):
        assert {p: x.shape for p, x in flat(out[key]).items()} == \
            {p: s.shape for p, s in want_shapes.items()}
    blocks = [p[:-2] for p in flat(source["ema_params"]) if p[-2:] == ("conv1", "kernel")]
    assert len(blocks) == 8                    # 2 down, 2 middle, 4 up
    for block in blocks:
        get = lambda tree, *leaf: np.asarray(flat(tree)[block + leaf])  # noqa: E731
        ranked = get(source["ema_params"], "conv1", "kernel").astype(np.float64)
        norms = np.abs(ranked).sum((0, 1, 2))                          # L1 per filter
        k = get(out["ema_params"], "conv1", "kernel").shape[-1]
        keep = np.sort(np.argsort(-norms)[:k])                         # numpy reference
        assert norms[keep].min() > np.delete(norms, keep).max()
        for key in ("params", "ema_params"):
            for (layer, leaf), axis in channels.INNER_AXES.items():
                np.testing.assert_array_equal(get(out[key], layer, leaf),
                                              np.take(get(source[key], layer, leaf), keep, axis))
            np.testing.assert_array_equal(get(out[key], "norm1", "scale"),
                                          get(source[key], "norm1", "scale"))


def test_cutting_inner_groups_whose_weights_were_zero_leaves_the_output_unchanged():
    """Half the GroupNorm groups inside every block get zero conv1 / temb_proj weights and zero
    conv2 inputs: the full network does not use them, so the rebuilt one computes the same."""
    config, full_cfg, small_cfg = model_configs(0.5)
    params = jax.tree.map(np.copy, random_params(full_cfg, 2))
    rng = np.random.default_rng(3)
    for path, kernel in list(flat(params).items()):
        if path[-2:] != ("conv2", "kernel"):
            continue
        c_out = kernel.shape[-1]
        size = group_size(c_out, full_cfg.num_groups)
        groups = rng.choice(c_out // size, c_out // size // 2, replace=False)
        dead = (groups[:, None] * size + np.arange(size)).ravel()      # whole groups
        block = flat(params)
        for (layer, leaf), axis in channels.INNER_AXES.items():
            if layer != "norm2":                                       # its affine is unused
                index = [slice(None)] * block[path[:-2] + (layer, leaf)].ndim
                index[axis] = dead
                block[path[:-2] + (layer, leaf)][tuple(index)] = 0.0
    small = channels.shrink_state({"params": params}, config, config)["params"]
    y_full = jax.jit(UNet(full_cfg).apply)({"params": params}, X, T)
    y_small = jax.jit(UNet(small_cfg).apply)({"params": small}, X, T)
    assert float(jnp.abs(y_full).mean()) > 0.1
    np.testing.assert_allclose(y_small, y_full, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("bad", [1.0, -0.25])
def test_bad_fractions_and_other_architectures_are_errors(bad):
    with pytest.raises(ValueError, match=rf"config.prune.channels={bad} must be in \[0, 1\)"):
        channels.shrunk_config(smoke_config(**{"prune.channels": bad}))
    with pytest.raises(ValueError, match="not for family 'diffusion' with model.arch 'dit'"):
        channels.shrunk_config(smoke_config(**{"prune.channels": 0.5, "model.arch": "dit"}))


@pytest.mark.slow
def test_channel_pruned_unet_fine_tunes_and_samples(diffusion_workdir, tmp_path):
    """A trained smoke U-Net rebuilt with half of every ResBlock's inside trains on the shared
    loop from it and samples through jaxgen.load with the thinner parameters."""
    import jaxgen
    from jaxgen.train import run
    run(smoke_config(**{"train.steps": 2, "prune.channels": 0.5,
                        "prune.init_from": str(diffusion_workdir)}), tmp_path / "half")
    full, half = jaxgen.load(diffusion_workdir), jaxgen.load(tmp_path / "half")
    kernel = lambda g: g.state["ema_params"]["down1_res0"]["conv1"]["kernel"].shape  # noqa: E731
    assert (kernel(full), kernel(half)) == ((3, 3, 8, 16), (3, 3, 8, 8))
    assert half.sample(2).shape == full.sample(2).shape == (2, 28, 28, 1)
