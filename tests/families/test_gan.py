"""GAN family: losses, one jitted step (both nets move, all finite), sampling, smoke run."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import data as data_lib
from jaxgen import families, sampling
from jaxgen.families import gan
from jaxgen.train import run
from jaxgen.train.logging import read_metrics
from jaxgen.families.base import init_fn, make_state, step_fn
from conftest import smoke_config

CONFIGS = ["dcgan_seed", "dcgan_fmnist"]  # fmnist smoke: batch norm + spectral norm + hinge + EMA


def test_losses_at_zero_logits_and_their_signs():
    zero = jnp.zeros(3)
    np.testing.assert_allclose(gan.d_loss("non_saturating", zero, zero), 2 * np.log(2), rtol=1e-6)
    np.testing.assert_allclose(gan.g_loss("non_saturating", zero), np.log(2), rtol=1e-6)
    np.testing.assert_allclose(gan.d_loss("hinge", zero, zero), 2.0)
    np.testing.assert_allclose(gan.g_loss("hinge", jnp.array([0.5])), -0.5)
    # a confident, correct D has ~0 loss; the non-saturating G loss is large when D wins
    assert float(gan.d_loss("non_saturating", jnp.array([20.0]), jnp.array([-20.0]))[0]) < 1e-8
    assert float(gan.g_loss("non_saturating", jnp.array([-20.0]))[0]) > 19.9


def test_latents_depend_only_on_the_example_index():
    key, index = jax.random.key(0), jnp.arange(8, dtype=jnp.uint32)
    whole = gan.latents(key, index, 5)
    halves = jnp.concatenate([gan.latents(key, index[:4], 5), gan.latents(key, index[4:], 5)])
    np.testing.assert_array_equal(whole, halves)


def _one_step(name):
    config = smoke_config(name)
    dataset = data_lib.load_dataset(config.data, split="train")
    family = families.build(config, dataset)
    state = make_state(init_fn(family, config.seed))
    batch = data_lib.batch_at(dataset, 0, batch_size=config.train.batch_size, seed=0)
    new, metrics = jax.jit(step_fn(family))(state, batch)
    return family, jax.device_get(state), jax.device_get(new), jax.device_get(metrics)


def _changed(a, b) -> bool:
    return any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("name", CONFIGS)
def test_one_step_moves_g_and_d_and_stays_finite(name):
    family, before, after, metrics = _one_step(name)
    assert set(metrics) >= {"loss", "d_loss", "g_loss", "d_real", "d_fake", "lr"}
    assert metrics["loss"] == metrics["g_loss"]
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    assert 0 < metrics["d_real"] < 1 and 0 < metrics["d_fake"] < 1  # mean sigmoid outputs
    for key in ("g_params", "d_params", "g_opt_state", "d_opt_state"):
        assert _changed(before[key], after[key]), key
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(after))
    assert after["step"] == 1 and set(family.param_groups(after)) == {"generator", "discriminator"}
    if name == "dcgan_fmnist":
        for key in ("g_stats", "d_stats", "g_ema_params"):
            assert _changed(before[key], after[key]), key
    else:
        assert not {"g_stats", "d_stats", "g_ema_params"} & set(after)


def test_unknown_loss_is_an_error_naming_the_key():
    config = smoke_config("dcgan_seed", **{"gan.loss": "wasserstein"})
    with pytest.raises(ValueError, match="config.gan.loss='wasserstein'"):
        gan.check_config(config)


@pytest.mark.parametrize("name", CONFIGS)
def test_smoke_train_then_sample(name, tmp_path):
    run(smoke_config(name), tmp_path)
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [2, 4, 6, 8]
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in rows)
    assert (tmp_path / "samples" / "step_00000008.png").is_file()
    _, family, state, step, ds = sampling.load(tmp_path)
    images = [np.asarray(sampling.generate(family, state, mode="generate", seed=s, num=4,
                                           dataset=ds, options=o))
              for s, o in [(0, {}), (0, {}), (1, {}), (0, {"use_ema": False})]]
    assert images[0].shape == (4, 28, 28, 1) and np.abs(images[0]).max() <= 1.0
    np.testing.assert_array_equal(images[0], images[1])
    assert not np.array_equal(images[0], images[2])
    assert np.array_equal(images[0], images[3]) == (name == "dcgan_seed")  # EMA only in fmnist


def test_reuse_last_recomputes_for_new_or_host_arrays():
    calls = []
    f = gan.reuse_last(lambda a, b: calls.append(1) or a + b)
    x, y = jnp.ones(3), jnp.zeros(3)
    assert np.array_equal(f(x, y), f(x, y)) and len(calls) == 1       # the same objects: reused
    np.testing.assert_array_equal(f(x + 1, y), 2 * np.ones(3))          # equal shapes, new values
    host = np.ones(3)
    f(host, y), f(host, y)                                               # NumPy can change in place
    assert len(calls) == 4


def test_ema_standing_stats_follow_the_state_they_are_reused_for():
    """Chunked sampling reuses the EMA generator's standing statistics; a changed state
    (here, perturbed EMA parameters) gets its own, equal to a fresh family's."""
    config = smoke_config("dcgan_fmnist")
    dataset = data_lib.load_dataset(config.data, split="train")
    family, key = families.build(config, dataset), jax.random.key(0)
    state = make_state(init_fn(family, config.seed))
    first = np.asarray(family.generate(state, rng=key, num=4))
    np.testing.assert_array_equal(first, family.generate(state, rng=key, num=4))
    moved = dict(state, g_ema_params=jax.tree.map(lambda p: p * 1.5, state["g_ema_params"]))
    fresh = families.build(config, dataset).generate(moved, rng=key, num=4)
    np.testing.assert_array_equal(family.generate(moved, rng=key, num=4), fresh)
    assert not np.array_equal(first, fresh)
