"""`fashion_compose`: captions parse back to their specs, canvases show what they say,
held-out combinations stay out of training, and batches are pure and fast."""
import itertools
import time

import ml_collections
import numpy as np
import pytest

from jaxgen.data import batch_at, load_dataset
from jaxgen.data import compose, prompts
from jaxgen.data.dataset import Dataset, LazyRows
from jaxgen.data.pipeline import example_ids
from jaxgen.data.prompts import CELLS, CLASSES, COLOURS, Obj, Spec, make_prompt, parse_prompt
from jaxgen.data.tokens import decode_text

N = 2000  # examples checked per split


def data_cfg(**overrides):
    cfg = dict(source="fashion_compose", path="", image_size=32, channels=3, on_corrupt="error",
               num_synthetic=64, num_classes=10)
    return ml_collections.ConfigDict({**cfg, **overrides})


@pytest.fixture(scope="module", params=["train", "test"])
def split(request):
    return request.param


@pytest.fixture(scope="module")
def composer(split):
    return compose.get_composer(None, split)


def all_specs():
    """Every meaning the grammar can express."""
    pairs = list(itertools.product(CLASSES, COLOURS))
    for x, c in pairs:
        yield Spec("single", (Obj(x, c),))
        yield from (Spec("position", (Obj(x, c, cell),)) for cell in CELLS)
        yield from (Spec("count", (Obj(x, c),) * n) for n in (2, 3, 4))
    for (x1, c1), (x2, c2) in itertools.product(pairs, pairs):
        if x1 != x2 and c1 != c2:
            yield Spec("pair", (Obj(x1, c1, "left"), Obj(x2, c2, "right")))
            yield Spec("pair", (Obj(x1, c1, "top"), Obj(x2, c2, "bottom")))


def test_every_phrasing_of_every_spec_parses_back():
    texts = set()
    for spec in all_specs():
        for phrasing, first in itertools.product(range(6), (0, 1)):
            text = make_prompt(spec, phrasing, first)
            assert parse_prompt(text) == spec, text
            texts.add(text)
    assert len(texts) == 144 + 432 + 324 + 7200  # single, position, count, pair
    assert max(len(t.encode()) for t in texts) <= prompts.max_prompt_bytes()
    assert prompts.max_prompt_bytes() + 2 <= compose.TOKEN_LEN


def test_parse_normalises_and_rejects():
    spec = parse_prompt("  A Red  BAG in the top left ")
    assert spec == Spec("position", (Obj("bag", "red", "top left"),))
    for bad in ("a red shirt", "a red bag in the middle", "five red bags",
                "a red bag on the left and a green sandal on the top"):
        with pytest.raises(ValueError, match="template grammar|opposite"):
            parse_prompt(bad)


def test_generated_prompts_parse_to_their_spec(composer):
    kinds = set()
    for i in range(N):
        ex = composer.example(i)
        assert parse_prompt(ex.prompt) == ex.spec, (i, ex.prompt)
        kinds.add(ex.spec.kind)
    assert kinds == set(prompts.KINDS)


def test_held_out_combinations(composer, split):
    """Train prompts never mention a HELD_OUT (colour, class); test prompts do."""
    held = set(compose.HELD_OUT)
    seen = [sum((o.colour, o.cls) in held for o in set(composer.example(i).spec.objects)) > 0
            for i in range(N)]
    if split == "train":
        assert not any(seen)
    else:
        assert 0.08 < np.mean(seen) < 0.3, np.mean(seen)


def cell_pixels(canvas, k):
    r, c = divmod(k, 2)
    return canvas[16 * r:16 * r + 16, 16 * c:16 * c + 16].astype(np.float32)  # (16, 16, 3)


def test_canvas_shows_the_spec(composer):
    ids = np.arange(300)
    canvases = composer.canvases(ids)
    assert canvases.shape == (300, 32, 32, 3) and canvases.dtype == np.uint8
    for canvas, i in zip(canvases, ids):
        ex = composer.example(i)
        used = [k for k, cell in enumerate(ex.cells) if cell is not None]
        assert len(used) == len(ex.spec.objects)
        for k, cell in enumerate(ex.cells):
            pixels = cell_pixels(canvas, k)
            if cell is None:
                assert pixels.max() == 0
                continue
            x, c, row = cell
            assert pixels.max() > 60  # an item is drawn there, in its palette colour:
            rgb = pixels.reshape(-1, 3).sum(0)
            np.testing.assert_allclose(rgb / rgb.max(), compose.PALETTE[c] / compose.PALETTE[c].max(),
                                       atol=0.02)
        check_places(ex)


def check_places(ex):
    """Every object the spec places lies in a cell of that place, with its class and colour."""
    drawn = {k: (CLASSES[x], COLOURS[c]) for k, (x, c, _) in
             ((k, cell) for k, cell in enumerate(ex.cells) if cell is not None)}
    region = {"left": (0, 2), "right": (1, 3), "top": (0, 1), "bottom": (2, 3),
              **{name: (k,) for k, name in enumerate(CELLS)}}
    assert sorted(drawn.values()) == sorted((o.cls, o.colour) for o in ex.spec.objects)
    for o in ex.spec.objects:
        if o.where is not None:
            assert any(drawn.get(k) == (o.cls, o.colour) for k in region[o.where]), ex


def test_pure_function_of_split_index_seed(composer, split):
    ids = np.array([5, 17, 4321, 59_999 if split == "train" else 9_999])
    a = composer.canvases(ids)
    compose.sample_example.cache_clear()
    np.testing.assert_array_equal(a, composer.canvases(ids[::-1])[::-1])
    other = compose.get_composer(None, split, seed=1)
    assert [composer.example(i).prompt for i in ids] != [other.example(i).prompt for i in ids]


def test_train_and_test_draw_items_from_their_own_split():
    train, test = compose.get_composer(None, "train"), compose.get_composer(None, "test")
    assert sum(train.counts) == 36_000 and sum(test.counts) == 6_000
    assert train.items[0].shape[1:] == (16, 16) and not train.items[0].flags.writeable


def test_load_dataset_and_batches_with_tokens():
    ds = load_dataset(data_cfg(), "train")
    assert ds.images.shape == (60_000, 32, 32, 3) and ds.tokens.shape == (60_000, 80)
    assert load_dataset(data_cfg(), "test").images.shape[0] == 10_000
    batch_at(ds, 0, batch_size=64, seed=0)  # warm the caches
    t0 = time.perf_counter()
    batch = batch_at(ds, 1000, batch_size=64, seed=0)
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.05, f"a batch of 64 took {elapsed * 1e3:.1f} ms"
    assert batch["image"].shape == (64, 32, 32, 3) and batch["tokens"].dtype == np.int32
    rows = example_ids(len(ds), batch["index"].astype(np.int64), seed=0)
    assert decode_text(batch["tokens"]) == compose.get_composer(None, "train").prompts(rows)
    again = batch_at(ds, 1000, batch_size=64, seed=0)
    for key in batch:
        np.testing.assert_array_equal(batch[key], again[key])


def test_process_slices_concatenate_to_the_global_batch():
    ds = load_dataset(data_cfg(), "test")
    whole = batch_at(ds, 3, batch_size=8, seed=1)
    parts = [batch_at(ds, 3, batch_size=8, seed=1, process_index=p, process_count=2)
             for p in range(2)]
    np.testing.assert_array_equal(whole["tokens"], np.concatenate([p["tokens"] for p in parts]))


def test_bad_target_names_the_fix():
    with pytest.raises(ValueError, match="image_size=28, channels=1.*image_size=32"):
        load_dataset(data_cfg(image_size=28, channels=1))


def test_uncaptioned_batches_have_no_tokens():
    cfg = data_cfg(source="synthetic", image_size=8, channels=1)
    assert "tokens" not in batch_at(load_dataset(cfg), 0, batch_size=4, seed=0)


def test_lazy_rows_indexing():
    rows = LazyRows(5, (2,), np.int32, lambda ids: np.stack([ids, -ids], 1).astype(np.int32))
    assert rows[3].tolist() == [3, -3] and rows[-1].tolist() == [4, -4]
    assert rows[1:3].tolist() == [[1, -1], [2, -2]] and np.asarray(rows).shape == (5, 2)
    with pytest.raises(IndexError, match="outside the 5 rows"):
        rows[np.array([0, 5])]
    images = LazyRows(5, (2, 2, 1), np.uint8, lambda ids: np.zeros((len(ids), 2, 2, 1), np.uint8))
    with pytest.raises(ValueError, match="tokens must be int32"):
        Dataset(images, None, 0, "x", tokens=rows[:].astype(np.int64))
