"""Mask-conditioned inpainting's inputs: the condition layout, the training masks (a pure
function of (step, example index), every kind of the mixture drawn), the config checks."""
import functools

import jax
import flax.linen as nn
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import smoke_config
from jaxgen.diffusion.inpaint_cond import (TRAIN_MASKS, inpaint_condition, paste,
                                           train_condition)
from jaxgen.families.base import example_keys
from jaxgen.data.masks import load_mask
from jaxgen.editing import run_task
from jaxgen.families.base import Family
from jaxgen.families.diffusion_inpaint import (InpaintConfig, build_inpaint_network,
                                               inpaint_settings, make_model_inpaint)

S, N = 16, 120


def test_condition_layout_against_numpy():
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, (2, S, S, 3))
    fill = rng.random((2, S, S, 1)) < 0.3
    c = np.asarray(inpaint_condition(x0, fill, fill_value=-1.0), np.float64)
    assert c.shape == (2, S, S, 4) and c.dtype == np.float64
    want = np.concatenate([np.where(fill, -1.0, x0), fill.astype(np.float64)], -1)
    np.testing.assert_allclose(c, want, atol=1e-7)            # float32 of the float64 inputs
    one = np.asarray(inpaint_condition(x0, fill[:1]))          # one mask for the batch
    np.testing.assert_array_equal(one[1, ..., 3], fill[0, ..., 0])
    out = np.asarray(paste(np.zeros_like(x0), x0, fill))
    np.testing.assert_array_equal(out, np.where(fill, 0.0, x0).astype(np.float32))


@functools.partial(jax.jit, static_argnames=("probs",))
def _draw(step, index, probs):
    keys = example_keys(jax.random.fold_in(jax.random.PRNGKey(3), step), index)
    return train_condition(jnp.zeros((len(index), S, S, 1)), keys, probs)[..., 1] > 0.5


def _masks(step, start=0, probs=(0.4, 0.3, 0.3)):
    """The masks of examples start .. start + N - 1 at `step`, bool (N, S, S); one compile."""
    return np.asarray(_draw(step, jnp.arange(start, start + N, dtype=jnp.uint32), probs))


def _kind(m: np.ndarray) -> str:
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    h = S // 2
    if m.sum() == S * h and (m[:, :h].all() or m[:, h:].all() or m[:h].all() or m[h:].all()):
        return "half"
    rect = m[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return "box" if rect.all() else "strokes"


def test_training_masks_are_a_function_of_step_and_index():
    a = _masks(5)
    np.testing.assert_array_equal(a, _masks(5))                       # same keys, same masks
    np.testing.assert_array_equal(a[60:], _masks(5, start=60)[:60])   # another split agrees
    assert not np.array_equal(a, _masks(6))                           # another step differs
    assert len({m.tobytes() for m in a}) > 60                         # and other examples


def test_training_masks_cover_every_kind():
    masks = _masks(0)
    kinds = [_kind(m) for m in masks]
    counts = {k: kinds.count(k) for k in TRAIN_MASKS}
    assert all(n >= 20 for n in counts.values()), counts               # 48 / 36 / 36 expected
    assert all(0 < m.sum() < S * S for m in masks)                     # never empty nor full
    halves = {m.tobytes() for m, k in zip(masks, kinds) if k == "half"}
    assert len(halves) == 4                                            # left, right, top, bottom
    boxes = [m for m, k in zip(masks, kinds) if k == "box"]
    sides = [(m.any(1).sum(), m.any(0).sum()) for m in boxes]
    assert min(map(min, sides)) >= S // 4 and max(map(max, sides)) <= 3 * S // 4


def test_single_kind_mixture():
    halves = _masks(0, probs=(0.0, 1.0, 0.0))
    assert halves.shape == (N, S, S) and (halves.sum(axis=(1, 2)) == S * S // 2).all()


def test_model_task_keeps_known_pixels_exactly():
    """The task's paste-back on uint8 inputs, with a stand-in sampler that returns noise and
    records the condition it was given."""
    cond = build_inpaint_network(smoke_config("inpaint_fmnist"), None, nn.Dense(1))[1]
    seen = {}

    def generate(params, *, rng, num, images, **options):
        seen.update(images=np.asarray(images), options=options)
        return jax.random.uniform(rng, (num, 28, 28, 1), minval=-1, maxval=1)

    task = make_model_inpaint(generate, lambda **o: dict(nfe=o.get("steps")), cond)
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1), np.uint8)
    fill = load_mask("left_half", size=28, num=3)
    out = run_task(Family(None, None, None, None, tasks={"inpaint": task}), {"params": 0},
                   "inpaint", images, mask=fill, steps=4)
    np.testing.assert_array_equal(out[~fill[..., 0]], images[~fill[..., 0]])
    assert np.mean(out[fill[..., 0]] != images[fill[..., 0]]) > 0.9
    assert seen["images"].shape == (3, 28, 28, 2) and seen["options"] == dict(steps=4)
    np.testing.assert_array_equal(seen["images"][..., 1], fill[..., 0])
    assert task.info(mask=fill, steps=4) == dict(nfe=4, method="mask-conditioned")
    with pytest.raises(ValueError, match="resample=3 given, but this workdir is a mask-cond"):
        task.run({"params": 0}, images, rng=None, mask=fill, resample=3)
    with pytest.raises(ValueError, match="does not sample from nothing; use --mode=inpaint"):
        cond.sample_input(2)
    with pytest.raises(ValueError, match=r"condition of shape \(2, 28, 28, 1\) given"):
        cond.sample_input(2, images=np.zeros((2, 28, 28, 1)))


def test_config_checks():
    assert smoke_config("inpaint_fmnist").inpaint.mask_probs == (0.4, 0.3, 0.3)
    assert inpaint_settings(smoke_config()) is None
    with pytest.raises(ValueError, match=r"mask_probs=\(0.5, 0.6, 0.0\) must be 3 prob"):
        InpaintConfig(mask_probs=(0.5, 0.6, 0.0))
    with pytest.raises(ValueError, match="fill_value=2.0 must be in"):
        InpaintConfig(fill_value=2.0)
    with pytest.raises(ValueError, match="set together with model.num_classes"):
        build_inpaint_network(smoke_config("inpaint_fmnist", **{"model.num_classes": 10}),
                              None, None)
    with pytest.raises(ValueError, match="unknown variant 'tiny' of inpaint_fmnist"):
        smoke_config("inpaint_fmnist:tiny")
