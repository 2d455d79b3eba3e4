"""Global magnitude pruning: the schedule, the exact sparsity of the masks, masks applied to the
parameters and their EMA through steps and a resume, starting from a trained workdir, and
structured channel pruning of the DCGAN generator."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.quant import prune
from conftest import smoke_config


def schedule(**kw):
    return prune.PruneConfig(**{"sparsity": 0.8, "start_step": 10, "end_step": 50, "every": 7,
                                **kw})


def test_schedule_is_zhu_gupta_cubic():
    cfg = schedule(initial_sparsity=0.1)
    t = np.array([0, 10, 17, 31, 49, 50, 80])
    frac = np.clip((t - 10) / 40, 0.0, 1.0)
    want = 0.8 + (0.1 - 0.8) * (1.0 - frac) ** 3                 # eq. 1, float64
    np.testing.assert_allclose(prune.sparsity_at(cfg, t), want, atol=1e-6)
    updates = np.flatnonzero(prune.is_update(cfg, np.arange(60)))
    assert updates.tolist() == [10, 17, 24, 31, 38, 45, 50]


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5])
def test_sparsity_outside_unit_interval_is_an_error(bad):
    with pytest.raises(ValueError, match=rf"config.prune.sparsity={bad} must be in \[0, 1\)"):
        prune.PruneConfig(sparsity=bad)
    config = smoke_config(**{"prune.sparsity": bad})
    with pytest.raises(ValueError, match=str(bad)):
        prune.wrap(None, config)


masks_at = jax.jit(prune.global_masks)


def _state(seed=0):
    ks = jax.random.split(jax.random.PRNGKey(seed), 3)
    params = {"conv": {"kernel": jax.random.normal(ks[0], (3, 3, 4, 8)),
                       "bias": jax.random.normal(ks[1], (8,))},
              "fc": {"kernel": jax.random.normal(ks[2], (37, 5))}}
    return {"params": params, "ema_params": jax.tree.map(lambda x: x + 1.0, params)}


@pytest.mark.parametrize("s", [0.25, 0.5, 0.9, 0.333])
def test_global_mask_hits_the_sparsity_exactly_and_prunes_the_smallest(s):
    state = _state()
    masks = prune.initial_masks(state, prune.DEFAULT_INCLUDE)
    assert set(masks["params"]) == {"conv", "fc"} and "bias" not in masks["params"]["conv"]
    new = masks_at(state, masks, s)
    w = np.concatenate([np.abs(np.asarray(state["params"][k]["kernel"])).ravel()
                        for k in ("conv", "fc")])
    keep = np.concatenate([np.asarray(new["params"][k]["kernel"]).ravel() for k in ("conv", "fc")])
    assert (~keep).sum() == round(s * w.size)
    assert w[~keep].max() <= w[keep].min()      # global: one ranking over both layers
    assert float(prune.mask_sparsity(new)) == pytest.approx(round(s * w.size) / w.size)


def test_pruned_weights_stay_pruned_as_the_sparsity_grows():
    state = _state()
    masks = masks_at(state, prune.initial_masks(state, prune.DEFAULT_INCLUDE), 0.5)
    grown = jax.tree.map(lambda x: x * 100.0, state)   # pruned weights regrew (they cannot)
    later = masks_at(grown, masks, 0.7)
    assert all(bool(jnp.all(l <= m)) for l, m in zip(jax.tree.leaves(later),
                                                      jax.tree.leaves(masks)))


def test_masks_zero_parameters_and_their_ema():
    state = _state()
    masks = masks_at(state, prune.initial_masks(state, prune.DEFAULT_INCLUDE), 0.5)
    out = jax.jit(prune.apply_masks)(state, masks)
    for key in ("params", "ema_params"):
        k = out[key]["conv"]["kernel"]
        m = masks["params"]["conv"]["kernel"]
        assert bool(jnp.all(k[~m] == 0)) and bool(jnp.all(k[m] == state[key]["conv"]["kernel"][m]))
        assert bool(jnp.all(out[key]["conv"]["bias"] == state[key]["conv"]["bias"]))


def _load(workdir, step=None):
    from jaxgen import sampling
    ckpt = None if step is None else str(workdir / "checkpoints" / str(step))
    _, _, state, _, _ = sampling.load(None if ckpt else workdir, ckpt)
    return jax.device_get(state)


def _check_masked(state, cfg, step):
    """The masks have the scheduled sparsity of the last update, and params / EMA are zero
    exactly where the masks are."""
    masks = state[prune.MASK_KEY]
    last = max(t for t in range(step + 1) if bool(prune.is_update(cfg, t)))
    n = sum(m.size for m in jax.tree.leaves(masks))
    zeros = sum(int((~m).sum()) for m in jax.tree.leaves(masks))
    assert zeros == round(float(prune.sparsity_at(cfg, last)) * n)
    for key in ("params", "ema_params"):
        flat = {"/".join(p): x for p, x in _flat(state[key]).items()}
        for p, m in _flat(masks["params"]).items():
            assert np.all(flat["/".join(p)][~m] == 0)


def _flat(tree):
    from flax import traverse_util
    return traverse_util.flatten_dict(tree)


@pytest.mark.slow
def test_training_keeps_pruned_weights_zero_and_resumes_exactly(tmp_path):
    from jaxgen.train import run
    config = smoke_config("prune_fmnist", **{"train.checkpoint_every": 2})
    cfg = prune.prune_config(config)
    run(config, tmp_path / "straight")
    run(config, tmp_path / "resumed", stop_after=4)
    _check_masked(_load(tmp_path / "resumed", 4), cfg, 4)
    run(config, tmp_path / "resumed")
    a, b = _load(tmp_path / "straight", 8), _load(tmp_path / "resumed", 8)
    jax.tree.map(np.testing.assert_array_equal, a, b)
    _check_masked(a, cfg, 8)
    assert float(prune.mask_sparsity(a[prune.MASK_KEY])) == pytest.approx(0.5, abs=1e-4)


@pytest.mark.slow
def test_init_from_a_workdir_starts_from_its_weights(tmp_path, diffusion_workdir):
    from jaxgen.train import loop as loop_lib
    from jaxgen.train.logging import default_console
    config = smoke_config("prune_fmnist", **{"prune.init_from": str(diffusion_workdir)})
    loop = loop_lib.Loop(config, tmp_path, default_console())
    loop.checkpointer.close()
    source = _load(diffusion_workdir)
    for key in ("params", "ema_params"):   # both start from the source's EMA (what samples)
        jax.tree.map(np.testing.assert_array_equal, jax.device_get(loop.state[key]),
                     source["ema_params"])
    assert not all(jax.tree.leaves(jax.tree.map(np.array_equal, source["params"],
                                                source["ema_params"])))
    assert int(loop.state["step"]) == 0
    loop.state, _ = loop.train_step(loop.state, loop.batch(0))   # donates params and EMA
    bad = smoke_config("prune_fmnist", **{"prune.init_from": str(diffusion_workdir),
                                          "model.ch": 16})
    with pytest.raises(ValueError, match="has shape"):
        loop_lib.Loop(bad, tmp_path / "bad", default_console())


def test_channel_pruned_generator_equals_the_full_one_without_those_channels():
    """The rebuilt DCGAN generator (half the channels, top filters by L1) computes exactly what
    the full one computes once the removed channels' outgoing weights are zero."""
    from jaxgen.families.gan import model_config
    from jaxgen.models.dcgan import Generator
    from jaxgen.quant import channels
    config = smoke_config("dcgan_fmnist", **{"prune.channels": 0.5})
    full_cfg = model_config(config)
    small_cfg = model_config(channels.shrunk_config(config))
    assert (full_cfg.g_ch, small_cfg.g_ch) == (8, 4)
    z = jax.random.normal(jax.random.PRNGKey(1), (3, full_cfg.z_dim))
    v = Generator(full_cfg).init(jax.random.PRNGKey(0), z)
    rng = np.random.default_rng(0)
    v = jax.tree.map(lambda x: np.asarray(x) + 0.3 * rng.standard_normal(x.shape, np.float32), v)
    v["batch_stats"] = jax.tree.map(np.abs, v["batch_stats"])        # variances > 0
    source = {"g_params": v["params"], "g_stats": v["batch_stats"]}
    small = channels.shrink_state(source, config, config)
    y_small = Generator(small_cfg).apply({"params": small["g_params"],
                                          "batch_stats": small["g_stats"]}, z)
    fc = np.asarray(v["params"]["fc"]["kernel"]).reshape(full_cfg.z_dim, -1, 8)
    norms1 = np.abs(fc).sum((0, 1))
    k1 = channels.top_l1(fc, 2, 4)
    assert norms1[k1].min() >= np.delete(norms1, k1).max()
    up1 = np.asarray(v["params"]["up1"]["kernel"])[:, :, k1]
    k2 = channels.top_l1(up1, 3, 2)
    p = jax.tree.map(np.copy, v["params"])
    p["up1"]["kernel"][:, :, np.setdiff1d(np.arange(8), k1)] = 0
    p["up2"]["kernel"][:, :, np.setdiff1d(np.arange(4), k2)] = 0
    y_full = Generator(full_cfg).apply({"params": p, "batch_stats": v["batch_stats"]}, z)
    np.testing.assert_allclose(y_small, y_full, atol=1e-6)
    assert small["g_params"]["fc"]["kernel"].shape == (full_cfg.z_dim, 7 * 7 * 4)


@pytest.mark.slow
def test_channel_pruned_dcgan_fine_tunes_and_samples(tmp_path):
    """A trained smoke DCGAN, rebuilt with half the generator channels, trains on the shared
    loop and samples through jaxgen.load with the smaller parameters."""
    import jaxgen
    from jaxgen.train import run
    run(smoke_config("dcgan_fmnist", **{"train.steps": 2}), tmp_path / "full")
    run(smoke_config("dcgan_fmnist", **{"train.steps": 2, "prune.channels": 0.5,
                                        "prune.init_from": str(tmp_path / "full")}),
        tmp_path / "half")
    full, half = jaxgen.load(tmp_path / "full"), jaxgen.load(tmp_path / "half")
    assert half.state["g_params"]["up1"]["kernel"].shape == (4, 4, 4, 2)
    assert full.state["g_params"]["up1"]["kernel"].shape == (4, 4, 8, 4)
    assert half.sample(3).shape == full.sample(3).shape == (3, 28, 28, 1)
    with pytest.raises(ValueError, match="family 'gan'"):
        from jaxgen.quant.channels import shrunk_config
        shrunk_config(smoke_config("vae_fmnist", **{"prune.channels": 0.5}))
