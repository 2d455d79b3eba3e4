import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
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


def _trees(seed, scale, shapes):
    keys = jax.random.split(jax.random.PRNGKey(seed), len(shapes))
    return {name: scale * jax.random.normal(k, shape) for (name, shape), k in zip(shapes.items(),
                                                                                    keys)}


SHAPES = {"kernel": (3, 3, 16, 32), "bias": (5,), "big": (150_000,)}  # big: split over threads


@pytest.mark.parametrize("grad_clip,weight_decay", [(1.0, 0.0), (1.0, 0.01), (0.0, 0.01)])
def test_fused_adamw_is_optax_adamw(grad_clip, weight_decay):
    """FusedAdamW.apply (one native call on CPU) gives optax's chain(clip_by_global_norm, adamw)
    + apply_updates up to float rounding, over steps that clip and steps that do not, with the
    same optimiser state (a run resumes on either path)."""
    tx, _ = make_optimizer(_cfg(warmup_steps=2, grad_clip=grad_clip,
                                weight_decay=weight_decay), 8)
    fused = jax.jit(lambda g, s, p: apply_gradients(tx, g, s, p))
    params = _trees(0, 1.0, SHAPES)
    assert "jaxgen_adamw" in fused.lower(params, tx.init(params), params).as_text()

    @jax.jit
    def reference(g, s, p):
        updates, s = tx.update(g, s, p)
        return optax.apply_updates(p, updates), s

    ours, theirs = (params, tx.init(params)), (params, tx.init(params))
    for step in range(6):
        grads = _trees(step + 1, 10.0 if step % 2 else 1e-3, SHAPES)  # norm ~400 or ~0.04
        ours, theirs = fused(grads, ours[1], ours[0]), reference(grads, theirs[1], theirs[0])
        assert jax.tree.structure(ours) == jax.tree.structure(theirs)
        for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6 * float(np.max(np.abs(b))))
    assert not np.allclose(ours[0]["kernel"], params["kernel"], rtol=1e-3)  # it did train


def test_fused_adamw_falls_back_to_optax_for_bfloat16():
    tx, _ = make_optimizer(_cfg(lr=0.1, warmup_steps=0, decay="constant"), 10)
    params = {"w": jnp.ones(4, jnp.bfloat16)}
    apply = jax.jit(lambda g, s, p: apply_gradients(tx, g, s, p))
    assert "jaxgen_adamw" not in apply.lower(params, tx.init(params), params).as_text()
    new, _ = apply(params, tx.init(params), params)
    assert new["w"].dtype == jnp.bfloat16 and np.all(np.asarray(new["w"]) < 1)
