"""Text MLM family: masked-language-model pretraining of the byte-level text encoder
(jaxgen.models.text) on the captions of a captioned source (config.data.source =
"fashion_compose"), BERT-style (Devlin et al. 2019, sec. 3.1 "Task #1: Masked LM").

Masking: each byte token (not PAD/BOS/EOS) is selected with probability `mlm.mask_rate`
(0.15), and at least one per caption; a selected token becomes MASK with probability
`mlm.p_mask` (0.8), a uniformly random byte with `mlm.p_random` (0.1), else stays. The loss
is the cross-entropy of the original byte at the selected positions, averaged per caption
(then over the batch). Masks come from per-example keys of the global example index, so
they do not depend on how the batch is split across devices; so do the dropout masks (one
key per caption, from its index).

The family makes no images (`generate` is None: the loop draws no sample grid; keep
eval.every=0) and is measured with `evaluate_captions` on the test split's captions.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgen.data.tokens import MASK, NUM_BYTES
from jaxgen.families.base import Family, example_keys, mean_over_batch
from jaxgen.families.text_cond import check_captions
from jaxgen.models.text import TextConfig, TextEncoder
from jaxgen import config as config_lib
from jaxgen.optim import apply_gradients, global_norm, make_optimizer


def model_config(config) -> TextConfig:
    return config_lib.section(TextConfig, config.model, where="model")


def mask_tokens(key, tokens, rate: float, p_mask: float, p_random: float):
    """BERT masking of one caption: tokens int32 (L,) -> (inputs int32 (L,), selected bool (L,))."""
    k_sel, k_act, k_byte = jax.random.split(key, 3)
    candidates = tokens < NUM_BYTES                                    # bytes, not specials
    u = jnp.where(candidates, jax.random.uniform(k_sel, tokens.shape), 2.0)
    selected = (u < rate) | ((u == u.min()) & candidates)             # at least one per caption
    r = jax.random.uniform(k_act, tokens.shape)
    random_bytes = jax.random.randint(k_byte, tokens.shape, 0, NUM_BYTES, jnp.int32)
    inputs = jnp.where(selected & (r < p_mask), MASK,
                       jnp.where(selected & (r < p_mask + p_random), random_bytes, tokens))
    return inputs.astype(jnp.int32), selected


def mlm_logits(model, params, inputs, drop_keys=None):
    """Byte logits (B, L, V) of inputs int32 (B, L); with drop_keys (B,) the encoder runs in
    training mode, each caption with its own dropout key (vmap over the batch), so a batch
    split over devices draws the same masks as one device."""
    if drop_keys is None:
        return model.apply({"params": params}, inputs, method="mlm")
    one = lambda x, k: model.apply({"params": params}, x[None], method="mlm",  # noqa: E731
                                   train=True, rngs={"dropout": k})[0]
    return jax.vmap(one)(inputs, drop_keys)


def mlm_terms(model, params, tokens, keys, mlm_cfg, *, drop_keys=None) -> dict:
    """Per-caption (B,) loss (mean cross-entropy over selected positions, nats) and accuracy
    (fraction of selected positions whose argmax is the original byte); masks from keys (B,),
    dropout (training) from drop_keys (B,) when given."""
    mask = lambda k, t: mask_tokens(k, t, mlm_cfg.mask_rate, mlm_cfg.p_mask,  # noqa: E731
                                    mlm_cfg.p_random)
    inputs, selected = jax.vmap(mask)(keys, tokens)                   # (B, L) each
    logits = mlm_logits(model, params, inputs, drop_keys)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, tokens)  # (B, L)
    w = selected.astype(jnp.float32)
    n = jnp.maximum(jnp.sum(w, axis=1), 1.0)                          # (B,)
    correct = (jnp.argmax(logits, axis=-1) == tokens).astype(jnp.float32)
    return dict(loss=jnp.sum(ce * w, axis=1) / n, accuracy=jnp.sum(correct * w, axis=1) / n)


def build(config, dataset) -> Family:
    cfg = model_config(config)
    model, mlm_cfg = TextEncoder(cfg), config.mlm
    length = check_captions(dataset, cfg, "family 'text_mlm'", "model")
    tx, lr = make_optimizer(config.optim, config.train.steps)

    def init(rng):
        params = model.init(rng, jnp.zeros((1, length), jnp.int32), method="mlm")["params"]
        return dict(params=params, opt_state=tx.init(params))

    def loss_fn(params, batch, rng, axis_name):
        k_mask, k_drop = jax.random.split(rng)
        terms = mlm_terms(model, params, batch["tokens"], example_keys(k_mask, batch["index"]),
                          mlm_cfg, drop_keys=example_keys(k_drop, batch["index"]))
        terms = {k: mean_over_batch(v, axis_name) for k, v in terms.items()}
        return terms["loss"], terms

    def train_step(state, batch, *, rng, axis_name=None):
        (_, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state["params"], batch, rng, axis_name)
        params, opt_state = apply_gradients(tx, grads, state["opt_state"], state["params"])
        metrics = dict(loss=terms["loss"], mlm_accuracy=terms["accuracy"],
                       grad_norm=global_norm(grads), lr=lr(state["step"]))
        return {**state, "params": params, "opt_state": opt_state}, metrics

    @jax.jit
    def evaluate(state, batch, *, rng):
        """Held-out per-caption (B,) mlm_loss (nats) and mlm_accuracy; masks from rng + index."""
        terms = mlm_terms(model, state["params"], batch["tokens"],
                          example_keys(rng, batch["index"]), mlm_cfg)
        return dict(mlm_loss=terms["loss"], mlm_accuracy=terms["accuracy"])

    return Family(init=init, train_step=train_step, generate=None,
                  param_groups=lambda state: {"text": state["params"]}, evaluate=evaluate,
                  inference_keys=("params",))


def evaluate_captions(family: Family, state, dataset, *, num: int = 2000, batch_size: int = 500,
                      seed: int = 0) -> dict[str, np.ndarray]:
    """Per-caption metrics of `family.evaluate` on rows 0..num-1 of `dataset` (use the test
    split: its captions are held out, some with HELD_OUT combinations), in row order, masks
    fixed by `seed`: {name: float64 (num,)}. Batches share one shape (one compile)."""
    num, out = min(num, len(dataset)), {}
    size = min(batch_size, num)
    for start in range(0, num, size):
        ids = np.arange(start, start + size) % num                    # the last batch wraps
        batch = {"tokens": dataset.tokens[ids], "index": ids.astype(np.uint32)}
        values = jax.device_get(family.evaluate(state, batch, rng=jax.random.PRNGKey(seed)))
        for name, v in values.items():
            out.setdefault(name, []).append(np.asarray(v, np.float64)[:num - start])
    return {name: np.concatenate(chunks) for name, chunks in out.items()}
