"""Text-to-image diffusion: the empty prompt as the null input, prompt dropping, one training
step of each denoiser behind the text encoder (frozen or trained), and loading the encoder
from a masked-LM workdir."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import data as data_lib, families
from jaxgen.checkpoint import Checkpointer
from jaxgen import config as config_lib
from jaxgen.data.tokens import BOS, EOS, PAD, encode_text
from jaxgen.families.base import init_fn, step_fn
from jaxgen.families.conditioning import Conditioning
from jaxgen.families.text_cond import build_text_network, load_encoder, text_settings
from jaxgen.models.registry import make_denoiser
from conftest import smoke_config

TEXT = Conditioning("text", max_len=12)


def test_the_null_prompt_is_the_empty_prompt_and_drops_follow_p_uncond():
    np.testing.assert_array_equal(TEXT.null, [BOS, EOS] + [PAD] * 10)
    tokens = encode_text(["a red bag", "two bags"], 12)
    keys = jax.random.split(jax.random.key(0), 2)
    batch = {"tokens": tokens, "label": np.array([3, 4], np.int32)}
    np.testing.assert_array_equal(TEXT.train_input(batch, keys, 0.0), tokens)
    np.testing.assert_array_equal(TEXT.train_input(batch, keys, 1.0), [TEXT.null] * 2)
    classes = Conditioning("class", num_classes=10)
    np.testing.assert_array_equal(classes.train_input(batch, keys, 1.0), [10, 10])
    assert Conditioning().train_input(batch, keys, 1.0) is None


def test_prompt_inputs_repeat_and_bad_prompts_are_clear_errors():
    got = TEXT.sample_input(3, prompts=["a", ""])
    np.testing.assert_array_equal(got, encode_text(["a", "", "a"], 12))
    with pytest.raises(ValueError, match="not text-conditioned"):
        Conditioning("class", num_classes=10).sample_input(2, prompts=["a red bag"])
    with pytest.raises(ValueError, match="conditioned on prompts; pass prompts="):
        TEXT.sample_input(2, labels=[1])
    with pytest.raises(ValueError, match=r"needs 18 tokens .* max_len=12"):
        TEXT.sample_input(2, prompts=["a red bag on the"])


@pytest.mark.slow  # make test: a DiT text step runs in tests/families/test_sharded_step.py
@pytest.mark.parametrize("name,freeze", [("t2i_compose:smoke", True),
                                         ("t2i_compose:dit_smoke", False)])
def test_one_text_conditioned_step(name, freeze):
    config = smoke_config(name, **{"text.freeze": freeze, "optim.warmup_steps": 0})
    dataset = data_lib.load_dataset(config.data, split="train")
    family = families.build(config, dataset)
    state = jax.jit(init_fn(family, 0))()
    batch = data_lib.batch_at(dataset, 0, batch_size=8, seed=0)
    step, new = jax.jit(step_fn(family)), state
    for _ in range(3):   # zero-initialised output layers: gradients reach the encoder at step 3
        new, metrics = step(new, batch)
    assert np.isfinite(float(metrics["loss"])) and float(metrics["grad_norm"]) > 0
    leaves = lambda s, k: jax.tree.leaves(s["params"][k])  # noqa: E731
    changed = lambda k: any(not np.array_equal(a, b)  # noqa: E731
                            for a, b in zip(leaves(state, k), leaves(new, k)))
    assert changed("denoiser") and changed("text") != freeze
    assert set(family.param_groups(state)) == {config.model.arch, "text"}


def _text_mlm_workdir(tmp_path, checkpoint=True):
    """A text_mlm workdir with random encoder parameters as checkpoint 0 (or no checkpoint)."""
    config = smoke_config("text_mlm")
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "config.json").write_text(config_lib.to_json(config))
    if not checkpoint:
        return tmp_path
    family = families.build(config, data_lib.load_dataset(config.data, split="train"))
    rng = np.random.default_rng(0)
    fill = lambda s: (rng.normal(size=s.shape).astype(s.dtype)  # noqa: E731
                      if s.dtype.kind == "f" else np.zeros(s.shape, s.dtype))
    ckpt = Checkpointer(tmp_path / "checkpoints")
    ckpt.save(0, jax.tree.map(fill, jax.eval_shape(init_fn(family, 1))), dict(step=0, images_seen=0))
    ckpt.close()
    return tmp_path


def test_text_checkpoint_is_loaded_and_a_mismatch_names_the_keys(tmp_path):
    workdir = _text_mlm_workdir(tmp_path)
    config = smoke_config("t2i_compose", **{"text.checkpoint": str(workdir)})
    loaded = load_encoder(str(workdir), text_settings(config)[0])
    dataset = data_lib.load_dataset(config.data, split="test")
    model, _, pretrained, _ = build_text_network(config, dataset, make_denoiser(
        config, num_classes=0, out_channels=3))
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)),
                            jnp.zeros((1,), jnp.int32), jnp.zeros((1, 80), jnp.int32))["params"]
    params = pretrained(jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes))
    assert set(params["text"]) < set(loaded)               # the MLM head stays behind
    jax.tree.map(np.testing.assert_array_equal, params["text"],
                 {k: loaded[k] for k in params["text"]})
    wide = smoke_config("t2i_compose", **{"text.checkpoint": str(workdir), "text.width": 64})
    with pytest.raises(ValueError, match=r"--config.text.width=32 \(is 64\)"):
        load_encoder(str(workdir), text_settings(wide)[0])
    with pytest.raises(ValueError, match="text.checkpoint=.*no checkpoint"):
        load_encoder(str(_text_mlm_workdir(tmp_path / "empty", False)), text_settings(config)[0])
