import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxgen.optim import (apply_gradients, ema_update, freeze_groups, learning_rate,
                          make_optimizer)


def _cfg(**kw):
    base = dict(lr=1e-3, warmup_steps=10, decay="cosine", min_lr_ratio=0.1, b1=0.9, b2=0.999,
                weight_decay=0.0, grad_clip=1.0)
    return ml_collections.ConfigDict({**base, **kw})


def test_warmup_then_cosine_to_floor():
    lr = learning_rate(_cfg(), total_steps=110)
    assert float(lr(0)) == 0.0
    assert float(lr(5)) == pytest.approx(5e-4)
    assert float(lr(10)) == pytest.approx(1e-3)
    assert float(lr(60)) == pytest.approx(1e-4 + 0.5 * (1e-3 - 1e-4), rel=1e-4)  # half-way
    assert float(lr(110)) == pytest.approx(1e-4)


def test_constant_and_bad_decay():
    lr = learning_rate(_cfg(decay="constant"), total_steps=100)
    assert float(lr(50)) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="optim.decay='linear'"):
        learning_rate(_cfg(decay="linear"), total_steps=100)


def test_clipping_bounds_the_update():
    tx, _ = make_optimizer(_cfg(warmup_steps=0, decay="constant", grad_clip=1.0), 10)
    params = {"w": jnp.zeros(4)}
    huge = {"w": jnp.full(4, 1e6)}
    updates, _ = tx.update(huge, tx.init(params), params)
    assert np.all(np.abs(np.asarray(updates["w"])) <= 1e-3 * 1.01)


def test_ema_warmup_and_decay():
    ema, p = {"w": jnp.zeros(2)}, {"w": jnp.ones(2)}
    # step 0: d = min(0.999, 1/10) = 0.1 -> ema = 0.9
    np.testing.assert_allclose(ema_update(ema, p, 0, 0.999)["w"], 0.9, rtol=1e-6)
    # late: d = decay
    np.testing.assert_allclose(ema_update(ema, p, 10**6, 0.99)["w"], 0.01, rtol=1e-4)


def test_frozen_groups_get_no_update_and_no_moments():
    tx, _ = make_optimizer(_cfg(warmup_steps=0, decay="constant"), 10)
    tx = freeze_groups(tx, ("text",))
    params = {"text": {"w": jnp.ones(3)}, "denoiser": {"w": jnp.ones(2)}}
    grads = {"text": {"w": jnp.ones(3)}, "denoiser": {"w": jnp.ones(2)}}
    new, state = apply_gradients(tx, grads, tx.init(params), params)
    np.testing.assert_array_equal(new["text"]["w"], 1.0)
    assert np.all(np.asarray(new["denoiser"]["w"]) < 1.0)
    moments = [x.size for x in jax.tree.leaves(state.inner_states["frozen"])]
    assert sum(moments) == 0, moments
