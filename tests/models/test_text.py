"""Byte tokenizer and the text transformer: shapes, padding invariance, Unicode, length errors."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.models.text import (BOS, EOS, MASK, PAD, VOCAB_SIZE, TextConfig, TextEncoder,
                                decode_text, encode_text)

CFG = TextConfig(width=32, depth=2, heads=4, max_len=64, dropout=0.5)  # dropout: train only
TEXTS = ["a red bag", "three yellow sandals in a row", "x"]


def apply(params, tokens, cfg=CFG, **kw):
    """Jitted apply: one compile per shape beats op-by-op dispatch on CPU."""
    return _apply(cfg, params, jnp.asarray(tokens), **kw)


@functools.partial(jax.jit, static_argnames=("cfg", "method", "train"))
def _apply(cfg, params, tokens, method="__call__", train=False, rngs=None):
    return TextEncoder(cfg).apply({"params": params}, tokens, method=method, train=train,
                                  rngs=rngs)


def init(cfg=CFG):
    tokens = jnp.zeros((1, cfg.max_len), jnp.int32)
    init_fn = functools.partial(TextEncoder(cfg).init, method="mlm")
    return jax.jit(init_fn)(jax.random.PRNGKey(0), tokens)["params"]


@pytest.fixture(scope="module")
def params():
    return init()


def test_tokens_layout():
    t = encode_text(["ab"], 6)
    assert t.dtype == np.int32 and t.tolist() == [[BOS, 97, 98, EOS, PAD, PAD]]
    assert VOCAB_SIZE == 260 and {PAD, BOS, EOS, MASK} == {256, 257, 258, 259}


def test_shapes(params):
    tokens = encode_text(TEXTS, 32)
    h, pooled = apply(params, tokens)
    assert h.shape == (3, 32, 32) and pooled.shape == (3, 32) and h.dtype == jnp.float32
    logits = apply(params, tokens, method="mlm")
    assert logits.shape == (3, 32, VOCAB_SIZE)
    assert {"pos_embed", "mlm_bias", "token_embed", "block0", "block1"} <= set(params)


def test_padding_invariance(params):
    """Same outputs (up to float32 summation order) whether padded to 32 or to 64."""
    h32, p32 = apply(params, encode_text(TEXTS, 32))
    h64, p64 = apply(params, encode_text(TEXTS, 64))
    np.testing.assert_allclose(p32, p64, atol=1e-6, rtol=1e-6)
    keep = encode_text(TEXTS, 32) != PAD
    np.testing.assert_allclose(h32[keep], h64[:, :32][keep], atol=1e-5, rtol=1e-5)


def test_outputs_depend_on_the_text(params):
    _, pooled = apply(params, encode_text(["a red bag", "a blue bag"], 32))
    assert float(jnp.abs(pooled[0] - pooled[1]).max()) > 1e-3


def test_unicode_round_trip():
    texts = ["naïve café", "日本語のテキスト", "a 👗 and a 👜", "", "tab\tnew\nline"]
    tokens = encode_text(texts, 40)
    assert decode_text(tokens) == texts
    assert (tokens[:, 0] == BOS).all() and tokens.max() < VOCAB_SIZE and tokens.min() >= 0
    assert (tokens[3, :2] == [BOS, EOS]).all()


def test_too_long_is_an_error_naming_both_lengths():
    with pytest.raises(ValueError, match=r"10 UTF-8 bytes needs 12 tokens.*max_len=8.*truncate"):
        encode_text(["0123456789"], 8)
    with pytest.raises(ValueError, match="max_len=1"):
        encode_text(["a"], 1)
    with pytest.raises(TypeError, match="sequence of texts"):
        encode_text("a red bag", 16)


def test_truncate_keeps_bos_and_eos():
    t = encode_text(["0123456789", "日本"], 8, truncate=True)
    assert t[0].tolist() == [BOS, *b"012345", EOS]
    assert decode_text(t) == ["012345", "日本"]
    cut = encode_text(["日本語"], 6, truncate=True)  # 9 bytes cut to 4: one and a third chars
    assert decode_text(cut) == ["日\ufffd"]


def test_model_rejects_tokens_past_max_len(params):
    with pytest.raises(ValueError, match=r"\(1, 65\).*max_len=64"):
        TextEncoder(CFG).apply({"params": params}, jnp.asarray(encode_text(["a"], 65)))
    with pytest.raises(ValueError, match="divisible by heads=3"):
        TextConfig(width=32, heads=3)


def test_dropout_only_in_training(params):
    tokens = encode_text(TEXTS, 32)
    a = apply(params, tokens)[1]
    np.testing.assert_array_equal(a, apply(params, tokens)[1])
    b = apply(params, tokens, train=True, rngs={"dropout": jax.random.PRNGKey(1)})[1]
    assert not np.allclose(a, b)
