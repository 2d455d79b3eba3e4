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
    for t in (0, 10, 17, 31, 49, 50, 80):
        frac = min(max((t - 10) / 40, 0.0), 1.0)
        want = 0.8 + (0.1 - 0.8) * (1.0 - frac) ** 3           # eq. 1, float64
        assert float(prune.sparsity_at(cfg, t)) == pytest.approx(want, abs=1e-6)
    updates = [t for t in range(60) if bool(prune.is_update(cfg, t))]
    assert updates == [10, 17, 24, 31, 38, 45, 50]


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5])
def test_sparsity_outside_unit_interval_is_an_error(bad):
    with pytest.raises(ValueError, match=rf"config.prune.sparsity={bad} must be in \[0, 1\)"):
        prune.PruneConfig(sparsity=bad)
    config = smoke_config(**{"prune.sparsity": bad})
    with pytest.raises(ValueError, match=str(bad)):
        prune.wrap(None, config)


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
    new = prune.global_masks(state, masks, s)
    w = np.concatenate([np.abs(np.asarray(state["params"][k]["kernel"])).ravel()
                        for k in ("conv", "fc")])
    keep = np.concatenate([np.asarray(new["params"][k]["kernel"]).ravel() for k in ("conv", "fc")])
    assert (~keep).sum() == round(s * w.size)
    assert w[~keep].max() <= w[keep].min()      # global: one ranking over both layers
    assert float(prune.mask_sparsity(new)) == pytest.approx(round(s * w.size) / w.size)


def test_pruned_weights_stay_pruned_as_the_sparsity_grows():
    state = _state()
    masks = prune.global_masks(state, prune.initial_masks(state, prune.DEFAULT_INCLUDE), 0.5)
    grown = jax.tree.map(lambda x: x * 100.0, state)   # pruned weights regrew (they cannot)
    later = prune.global_masks(grown, masks, 0.7)
    assert all(bool(jnp.all(l <= m)) for l, m in zip(jax.tree.leaves(later),
                                                      jax.tree.leaves(masks)))


def test_masks_zero_parameters_and_their_ema():
    state = _state()
    masks = prune.global_masks(state, prune.initial_masks(state, prune.DEFAULT_INCLUDE), 0.5)
    out = prune.apply_masks(state, masks)
    for key in ("params", "ema_params"):
        k = out[key]["conv"]["kernel"]
        m = masks["params"]["conv"]["kernel"]
        assert bool(jnp.all(k[~m] == 0)) and bool(jnp.all(k[m] == state[key]["conv"]["kernel"][m]))
        assert bool(jnp.all(out[key]["conv"]["bias"] == state[key]["conv"]["bias"]))
