"""`fashion_compose`: captioned 32x32 RGB canvases of tinted Fashion-MNIST items.

Canvas: a 2x2 grid of 16x16 cells on black; each used cell holds one Fashion-MNIST item
(of the 6 classes a 16x16 classifier separates reliably: a tiny MLP checker at 16x16 reached
item accuracy 0.85 over all 10 classes, with T-shirt / shirt / pullover / coat the weak ones,
and 0.925 on real canvases restricted to these 6), shrunk anti-aliased 28 -> 16 and tinted with one colour of PALETTE. The caption
is a template prompt (jaxgen.data.prompts) of one of 4 kinds, drawn with equal odds:
single "a red sneaker", position "a blue bag in the top left", count "three yellow bags",
pair "a red bag on the left and a green sandal on the right".

Example `index` of `split` is a pure function of (split, index, seed): its own RNG is
random.Random("fashion_compose/<split>/<seed>/<index>") and items come from Fashion-MNIST's
own split, so test canvases never reuse a training item. A split has as many examples as
Fashion-MNIST's (60,000 / 10,000); they are rendered when a batch asks for them.

Held-out combinations: no training prompt mentions a (colour, class) pair of HELD_OUT;
test prompts draw from all 36 pairs, so about 1 test object in 9 is one never seen in
training (compositional generalisation).
"""
from __future__ import annotations

import dataclasses
import functools
import random
from pathlib import Path

import numpy as np

from jaxgen.data.dataset import Dataset, LazyRows, conform
from jaxgen.data.fashion_mnist import SPLIT_SIZES, find_folder, load_fashion_mnist
from jaxgen.data.prompts import CELLS, CLASSES, COLOURS, FMNIST_IDS, NUMBERS, Obj, Spec, make_prompt
from jaxgen.data.tokens import encode_text

HELD_OUT = (("purple", "dress"), ("green", "trouser"), ("yellow", "sneaker"), ("blue", "bag"))
PALETTE = np.array([(255, 40, 40), (40, 220, 40), (40, 90, 255), (255, 230, 30),
                    (255, 255, 255), (170, 60, 255)], np.float32)  # RGB of COLOURS
CELL, IMAGE_SIZE = 16, 32
TOKEN_LEN = 80  # >= bos + prompts.max_prompt_bytes() (71) + eos


@dataclasses.dataclass(frozen=True)
class Example:
    """One caption and where its objects lie: cells[k] is None (empty) or (class id in
    CLASSES, colour id in COLOURS, item row of that class in the split's items), cell k at
    row k // 2, column k % 2."""
    prompt: str
    spec: Spec
    cells: tuple


def tint(items: np.ndarray, colours) -> np.ndarray:
    """uint8 items (..., 16, 16) in colour ids `colours` (int or int array (...)) -> float32
    (..., 16, 16, 3) in [0, 255]: each grey level times PALETTE[colour] / 255 (a cell of the
    canvas before rounding)."""
    rgb = PALETTE[np.asarray(colours)][..., None, None, :]                 # (..., 1, 1, 3)
    return np.asarray(items, np.float32)[..., None] * rgb / 255.0


def combos(split: str) -> list[tuple[int, int]]:
    """(class id, colour id) pairs prompts of `split` may mention."""
    return [(x, c) for x in range(len(CLASSES)) for c in range(len(COLOURS))
            if split == "test" or (COLOURS[c], CLASSES[x]) not in HELD_OUT]


def _pick(rng: random.Random, seq):
    """A uniform choice from the stream of rng.random() alone (stable across Python versions)."""
    return seq[int(rng.random() * len(seq))]


def _shuffled(rng: random.Random, seq) -> list:
    """Fisher-Yates on rng.random()."""
    out = list(seq)
    for i in range(len(out) - 1, 0, -1):
        j = int(rng.random() * (i + 1))
        out[i], out[j] = out[j], out[i]
    return out


def _place(rng, counts, objs, cells) -> tuple:
    """(class, colour) objs into the given cells -> the 4-tuple of Example.cells."""
    out = [None] * 4
    for (x, c), k in zip(objs, cells):
        out[k] = (x, c, int(rng.random() * counts[x]))
    return tuple(out)


def _pair(rng, allowed, counts) -> tuple[Spec, tuple, int]:
    """Two objects of distinct class and colour in opposite halves."""
    a = _pick(rng, allowed)
    b = _pick(rng, [p for p in allowed if p[0] != a[0] and p[1] != a[1]])
    horizontal = rng.random() < 0.5
    r, s = int(rng.random() * 2), int(rng.random() * 2)   # the free row (or column) of each
    cells = (2 * r, 2 * s + 1) if horizontal else (r, 2 + s)
    where = ("left", "right") if horizontal else ("top", "bottom")
    objs = tuple(Obj(CLASSES[x], COLOURS[c], w) for (x, c), w in zip((a, b), where))
    return Spec("pair", objs), _place(rng, counts, (a, b), cells), int(rng.random() * 2)


def _layout(rng, kind, allowed, counts) -> tuple[Spec, tuple, int]:
    """(spec, cells, which pair object the sentence names first) for one kind."""
    if kind == "pair":
        return _pair(rng, allowed, counts)
    x, c = _pick(rng, allowed)
    n = 2 + int(rng.random() * 3) if kind == "count" else 1
    cells = _shuffled(rng, range(4))[:n]
    where = CELLS[cells[0]] if kind == "position" else None
    spec = Spec(kind, (Obj(CLASSES[x], COLOURS[c], where),) * n)
    return spec, _place(rng, counts, [(x, c)] * n, cells), 0


@functools.lru_cache(maxsize=2**16)
def sample_example(split: str, index: int, seed: int, counts: tuple[int, ...]) -> Example:
    """Example `index` of `split`; counts[x]: how many items of class x the split holds."""
    rng = random.Random(f"fashion_compose/{split}/{seed}/{index}")
    kind = _pick(rng, ("single", "position", "count", "pair"))
    spec, cells, first = _layout(rng, kind, combos(split), counts)
    phrasing = int(rng.random() * 6)  # 6: a multiple of every kind's number of phrasings
    return Example(make_prompt(spec, phrasing, first), spec, cells)


@functools.lru_cache(maxsize=4)
def _items(folder: Path, split: str) -> tuple[np.ndarray, ...]:
    """Per class of CLASSES: its items of the split, shrunk to uint8 (n_x, 16, 16), read-only."""
    images, labels = load_fashion_mnist(split, str(folder))
    out = []
    for label in FMNIST_IDS:
        small = conform(images[labels == label], CELL, 1)[..., 0]   # (n_x, 16, 16)
        small.flags.writeable = False
        out.append(small)
    return tuple(out)


class Composer:
    """Renders examples of one (split, seed) from the split's cached 16x16 items."""

    def __init__(self, folder: Path, split: str, seed: int):
        self.items = _items(folder, split)
        self.split, self.seed = split, seed
        self.counts = tuple(len(x) for x in self.items)

    def example(self, index: int) -> Example:
        return sample_example(self.split, int(index), self.seed, self.counts)

    def prompts(self, ids) -> list[str]:
        return [self.example(i).prompt for i in ids]

    def tokens(self, ids) -> np.ndarray:
        """int64 (b,) -> int32 (b, TOKEN_LEN)."""
        return encode_text(self.prompts(ids), TOKEN_LEN)

    def canvases(self, ids) -> np.ndarray:
        """int64 (b,) -> uint8 (b, 32, 32, 3): tinted items on black, cell k at (k // 2, k % 2)."""
        cells = np.zeros((len(ids), 4, CELL, CELL, 3), np.float32)       # (b, 4, 16, 16, 3)
        for i, index in enumerate(ids):
            for k, cell in enumerate(self.example(index).cells):
                if cell is not None:
                    x, c, row = cell
                    cells[i, k] = tint(self.items[x][row], c)
        grid = cells.reshape(len(ids), 2, 2, CELL, CELL, 3).transpose(0, 1, 3, 2, 4, 5)
        return np.rint(grid.reshape(len(ids), IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _composer(folder: Path, split: str, seed: int) -> Composer:
    return Composer(folder, split, seed)


def get_composer(path: str | None, split: str, seed: int = 0) -> Composer:
    """The cached Composer of `split`; `path` as for Fashion-MNIST (None: default places)."""
    if split not in SPLIT_SIZES:
        raise ValueError(f"split={split!r}; choose one of {sorted(SPLIT_SIZES)}")
    return _composer(find_folder(path or None), split, int(seed))


def load_compose(path: str | None, split: str, *, image_size: int = 32, channels: int = 3,
                 seed: int = 0) -> Dataset:
    """The `fashion_compose` split as a Dataset: images uint8 (N, 32, 32, 3) and tokens
    int32 (N, TOKEN_LEN), both rendered on indexing; no labels. `path` as for Fashion-MNIST."""
    if (image_size, channels) != (IMAGE_SIZE, 3):
        raise ValueError(f"config.data.source='fashion_compose' makes 32x32 RGB canvases but "
                         f"config.data has image_size={image_size}, channels={channels}; set "
                         f"--config.data.image_size=32 --config.data.channels=3")
    composer, n = get_composer(path, split, seed), SPLIT_SIZES[split]
    images = LazyRows(n, (IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8, composer.canvases)
    tokens = LazyRows(n, (TOKEN_LEN,), np.int32, composer.tokens)
    return Dataset(images, None, 0, f"fashion_compose:{split}:seed{seed}", tokens=tokens)


def compose_example(split: str, index: int, *, seed: int = 0,
                    path: str | None = None) -> tuple[np.ndarray, Example]:
    """(canvas uint8 (32, 32, 3), Example) of example `index` of `split`."""
    composer = get_composer(path, split, seed)
    return composer.canvases(np.array([index]))[0], composer.example(index)
