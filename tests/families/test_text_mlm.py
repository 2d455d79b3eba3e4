"""Text MLM family: BERT masking statistics, errors, a smoke run through the shared loop,
and (slow) the demo's accuracy on held-out captions."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import config as config_lib
from jaxgen import data as data_lib
from jaxgen import families, sampling
from jaxgen.data import compose
from jaxgen.data.prompts import parse_prompt
from jaxgen.data.tokens import BOS, EOS, MASK, NUM_BYTES, PAD, decode_text, encode_text
from jaxgen.families import text_mlm
from jaxgen.families.base import example_keys
from jaxgen.train import run
from jaxgen.train.logging import read_metrics
from conftest import ROOT, smoke_config


def mask_batch(tokens, index, seed=0):
    keys = example_keys(jax.random.PRNGKey(seed), jnp.asarray(index, jnp.uint32))
    mask = jax.jit(jax.vmap(lambda k, t: text_mlm.mask_tokens(k, t, 0.15, 0.8, 0.1)))
    return [np.asarray(a) for a in mask(keys, jnp.asarray(tokens))]


def test_masking_is_bert_style_and_keyed_by_example():
    texts = [f"a red bag number {i} " * 3 for i in range(400)]
    tokens = encode_text(texts, 80)
    inputs, selected = mask_batch(tokens, np.arange(400))
    special = tokens >= NUM_BYTES
    assert not selected[special].any() and (inputs[special] == tokens[special]).all()
    assert selected.any(axis=1).all()                       # at least one per caption
    assert abs(selected.sum() / (~special).sum() - 0.15) < 0.01
    changed = inputs[selected]
    frac_mask = np.mean(changed == MASK)
    frac_keep = np.mean(changed == tokens[selected])
    assert abs(frac_mask - 0.8) < 0.03 and 0.1 < frac_keep < 0.15  # 10% kept + random hits
    assert (inputs[~selected] == tokens[~selected]).all()
    # caption i's mask depends on its index only, not on its place in the batch
    again, _ = mask_batch(tokens[::-1], np.arange(400)[::-1])
    np.testing.assert_array_equal(inputs, again[::-1])


def test_build_errors_name_the_fix():
    config = smoke_config("text_mlm")
    plain = data_lib.Dataset(np.zeros((2, 4, 4, 1), np.uint8), None, 0, "plain")
    with pytest.raises(ValueError, match="data.source=fashion_compose"):
        families.build(config, plain)
    ds = data_lib.load_dataset(config.data, "test")
    small = config_lib.apply_overrides(smoke_config("text_mlm"), {"model.max_len": "40"})
    with pytest.raises(ValueError, match="80 tokens but model.max_len=40"):
        families.build(small, ds)
    assert families.build(config, ds).generate is None  # no images: the loop draws no grid


def test_smoke_run_lowers_the_loss_and_evaluates(tmp_path):
    config = smoke_config("text_mlm", **{"train.steps": 30})
    run(config, tmp_path)  # a finished run draws no sample grid for a family without images
    losses = [r["loss"] for r in read_metrics(tmp_path / "metrics.jsonl")]
    assert len(losses) == 6 and losses[-1] < 0.8 * losses[0], losses
    _, family, state, step, test = sampling.load(tmp_path)
    assert step == 30 and test.name.startswith("fashion_compose:test")
    out = text_mlm.evaluate_captions(family, state, test, num=50, batch_size=32)
    assert out["mlm_accuracy"].shape == (50,) and np.isfinite(out["mlm_loss"]).all()
    assert 0.0 <= out["mlm_accuracy"].min() and out["mlm_accuracy"].max() <= 1.0


@pytest.mark.slow
def test_demo_predicts_held_out_captions(tmp_path):
    """The demo config's MLM accuracy on test-split captions (chance: 1/256 per byte), also on
    captions naming a held-out (colour, class) pair never seen in training."""
    config = config_lib.load_config(str(ROOT / "configs" / "text_mlm.py:demo"))
    run(config, tmp_path)
    _, family, state, _, test = sampling.load(tmp_path)
    out = text_mlm.evaluate_captions(family, state, test, num=2000)
    held = np.array([any((o.colour, o.cls) in compose.HELD_OUT for o in parse_prompt(t).objects)
                     for t in decode_text(test.tokens[np.arange(2000)])])
    acc = out["mlm_accuracy"]
    print(f"held-out MLM accuracy {acc.mean():.3f} (all test captions), "
          f"{acc[held].mean():.3f} ({held.sum()} with held-out pairs), loss {out['mlm_loss'].mean():.3f}")
    assert acc.mean() > 0.6 and acc[held].mean() > 0.5


def test_dropout_masks_are_per_caption():
    """With dropout, caption i's loss depends on its own key only, not on its batch place."""
    cfg = text_mlm.TextConfig(width=16, depth=1, heads=2, mlp_ratio=2, max_len=24, dropout=0.5)
    model, mlm_cfg = text_mlm.TextEncoder(cfg), smoke_config("text_mlm").mlm
    tokens = jnp.asarray(encode_text([f"a red bag {i}" for i in range(6)], 24))
    params = model.init(jax.random.PRNGKey(0), tokens[:1], method="mlm")["params"]
    keys = example_keys(jax.random.PRNGKey(1), jnp.arange(6, dtype=jnp.uint32))
    drops = example_keys(jax.random.PRNGKey(2), jnp.arange(6, dtype=jnp.uint32))
    terms = jax.jit(lambda t, k, d: text_mlm.mlm_terms(model, params, t, k, mlm_cfg,
                                                       drop_keys=d)["loss"])
    loss = np.asarray(terms(tokens, keys, drops))
    np.testing.assert_allclose(np.asarray(terms(tokens[::-1], keys[::-1], drops[::-1]))[::-1],
                               loss, rtol=1e-5)
    plain = np.asarray(jax.jit(lambda t, k: text_mlm.mlm_terms(model, params, t, k, mlm_cfg)
                               ["loss"])(tokens, keys))
    assert not np.allclose(loss, plain)                       # dropout did act
