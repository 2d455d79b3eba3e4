"""Prompt alignment of `fashion_compose` canvases: does a 32x32 canvas show what its prompt says?

The prompt's meaning comes from `jaxgen.data.prompts.parse_prompt`; the canvas is read cell by
cell (2x2 cells of 16x16), GenEval-style, with three constraint types:
  occupancy  a cell is occupied when >= OCCUPIED_PIXELS of its pixels have max(R, G, B) >=
             BRIGHT; the occupied cells must be the prompt's: one (single), the named cell
             (position), exactly n (count), one in each named half (two objects)
  colour     the mean RGB of a cell's bright pixels (>= half its brightest), scaled to max 1,
             nearest to a PALETTE colour scaled alike
  class      the cell classifier (jaxgen.metrics.cell_classifier, a CNN trained on tinted
             Fashion-MNIST cells) names the item's class
Colour and class are checked on every occupied cell where the prompt puts an object (the
whole canvas for single / count, the named cell or half otherwise); an object with no
occupied cell fails them too. A prompt passes when all its constraints hold.

Categories: single, position, count, two_objects (prompt kinds, every constraint), colour
(all prompts, the colour constraints alone), held_out (prompts naming a (colour, class) pair
never in training prompts, every constraint) and overall (all prompts, every constraint).

  python -m jaxgen.metrics.prompts --num 2000 --json   # the checker on real test canvases
scores real canvases against their own prompts: the checker's ceiling (its own errors).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np

from jaxgen.data.compose import CELL, HELD_OUT, PALETTE, load_compose
from jaxgen.data.tokens import decode_text
from jaxgen.data.prompts import CELLS, CLASSES, COLOURS, Spec, parse_prompt
from jaxgen.metrics import cell_classifier

BRIGHT, OCCUPIED_PIXELS = 32, 16  # real cells: >= 24 such pixels when occupied, 0 when empty
CATEGORIES = ("single", "colour", "position", "count", "two_objects", "held_out", "overall")
CATEGORY_OF_KIND = {"single": "single", "position": "position", "count": "count",
                    "pair": "two_objects"}
HALVES = {"left": (0, 2), "right": (1, 3), "top": (0, 1), "bottom": (2, 3)}  # cell ids


@dataclasses.dataclass(frozen=True)
class Reading:
    """What the checker sees in N canvases, per cell k (row k // 2, column k % 2): occupied
    bool (N, 4), colour int (N, 4) (index into COLOURS), cls int (N, 4) (into CLASSES);
    colour and cls are computed for every cell but mean something only where occupied."""
    occupied: np.ndarray
    colour: np.ndarray
    cls: np.ndarray


def cells_of(canvases: np.ndarray) -> np.ndarray:
    """uint8 (N, 32, 32, 3) -> uint8 (N, 4, 16, 16, 3), cell k at row k // 2, column k % 2."""
    canvases = np.asarray(canvases)
    if canvases.dtype != np.uint8 or canvases.shape[1:] != (2 * CELL, 2 * CELL, 3):
        raise ValueError(f"the prompt checker takes uint8 (N, 32, 32, 3) fashion_compose "
                         f"canvases, got {canvases.dtype} {canvases.shape}; convert [-1, 1] "
                         f"floats with jaxgen.data.to_uint8")
    grid = canvases.reshape(-1, 2, CELL, 2, CELL, 3).transpose(0, 1, 3, 2, 4, 5)
    return grid.reshape(-1, 4, CELL, CELL, 3)


def nearest_colour(cells: np.ndarray) -> np.ndarray:
    """uint8 (..., 16, 16, 3) -> COLOURS index (...) of the bright pixels' mean hue."""
    rgb = cells.astype(np.float64)
    level = rgb.max(axis=-1)                                             # (..., 16, 16)
    bright = level >= 0.5 * level.max(axis=(-1, -2), keepdims=True)
    mean = (rgb * bright[..., None]).sum((-2, -3)) / np.maximum(bright.sum((-1, -2)), 1)[..., None]
    hue = mean / np.maximum(mean.max(axis=-1, keepdims=True), 1e-6)      # (..., 3), max 1
    palette = PALETTE / PALETTE.max(axis=1, keepdims=True)              # (6, 3)
    return np.argmin(((hue[..., None, :] - palette) ** 2).sum(-1), axis=-1)


def read(canvases: np.ndarray, *, params=None) -> Reading:
    """Occupancy, colour and class of every cell of uint8 canvases (N, 32, 32, 3)."""
    cells = cells_of(canvases)                                           # (N, 4, 16, 16, 3)
    occupied = (cells.max(axis=-1) >= BRIGHT).sum((-1, -2)) >= OCCUPIED_PIXELS
    probs = cell_classifier.classify(cells.reshape(-1, CELL, CELL, 3), params=params)
    return Reading(occupied, nearest_colour(cells), probs.argmax(axis=1).reshape(-1, 4))


def _places(spec: Spec) -> list[tuple[int, ...]]:
    """The cells each distinct object of `spec` may occupy."""
    if spec.kind == "position":
        return [(CELLS.index(spec.objects[0].where),)]
    if spec.kind == "pair":
        return [HALVES[o.where] for o in spec.objects]
    return [(0, 1, 2, 3)]                                               # single, count


def check(spec: Spec, occupied, colour, cls) -> dict[str, bool]:
    """{"occupancy", "colour", "class"}: whether one canvas (its cells' occupied bool (4,),
    colour (4,) and cls (4,) as in Reading) meets each constraint type of `spec`."""
    on = {k for k in range(4) if occupied[k]}
    places = _places(spec)
    if spec.kind == "pair":
        fits = len(on) == 2 and all(len(on & set(p)) == 1 for p in places)
    elif spec.kind == "position":
        fits = on == set(places[0])
    else:
        fits = len(on) == len(spec.objects)
    seen = [sorted(on & set(p)) for p in places]
    wanted = spec.objects if spec.kind == "pair" else spec.objects[:1]
    colour_ok = all(ks and all(COLOURS[colour[k]] == o.colour for k in ks)
                    for ks, o in zip(seen, wanted))
    class_ok = all(ks and all(CLASSES[cls[k]] == o.cls for k in ks) for ks, o in zip(seen, wanted))
    return {"occupancy": bool(fits), "colour": bool(colour_ok), "class": bool(class_ok)}


def categories(spec: Spec) -> tuple[str, ...]:
    """The categories scored on all constraints that a prompt of `spec` counts in."""
    held = any((o.colour, o.cls) in HELD_OUT for o in spec.objects)
    return (CATEGORY_OF_KIND[spec.kind], "overall") + (("held_out",) if held else ())


def score(prompts: list[str], canvases: np.ndarray, *, params=None) -> dict:
    """Alignment of canvases uint8 (N, 32, 32, 3) with their prompts (N,): {category: fraction
    of its prompts that pass} for CATEGORIES (NaN for a category with no prompt), and
    {"n_<category>": count}, plus "constraints": {type: fraction of all prompts meeting it}."""
    if len(prompts) != len(canvases):
        raise ValueError(f"{len(prompts)} prompts for {len(canvases)} canvases; give one "
                         f"prompt per canvas")
    r = read(canvases, params=params)
    passed = {c: [] for c in CATEGORIES}
    types = {"occupancy": [], "colour": [], "class": []}
    for i, prompt in enumerate(prompts):
        spec = parse_prompt(prompt)
        ok = check(spec, r.occupied[i], r.colour[i], r.cls[i])
        for name, v in ok.items():
            types[name].append(v)
        passed["colour"].append(ok["colour"])
        for c in categories(spec):
            passed[c].append(all(ok.values()))
    out = {c: float(np.mean(v)) if v else float("nan") for c, v in passed.items()}
    out.update({f"n_{c}": len(v) for c, v in passed.items()})
    return dict(out, constraints={k: float(np.mean(v)) for k, v in types.items()})


def real_examples(dataset, num: int, *, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """(prompts, canvases uint8 (n, 32, 32, 3)) of min(num, N) examples of a captioned
    Dataset (jaxgen.data.compose.load_compose), in the fixed random order
    default_rng(seed).permutation(N) (as jaxgen.metrics.training.subset)."""
    ids = np.random.default_rng(seed).permutation(len(dataset))[:num]
    return decode_text(dataset.tokens[ids]), dataset.images[ids]


def format_table(scores: dict, ceiling: dict | None = None) -> str:
    """One line per category: score, prompts, and the fraction of `ceiling` when given."""
    lines = []
    for c in CATEGORIES:
        line = f"{c:12s} {scores[c]:.3f}  ({scores[f'n_{c}']} prompts)"
        if ceiling is not None:
            line += f"  {scores[c] / ceiling[c]:.2f} of the ceiling {ceiling[c]:.3f}"
        lines.append(line)
    return "\n".join(lines)


def main(argv):
    p = argparse.ArgumentParser(prog="python -m jaxgen.metrics.prompts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num", type=int, default=2000, help="real canvases scored")
    p.add_argument("--split", default="test", help="test (held-out pairs included) or train")
    p.add_argument("--seed", type=int, default=0, help="which canvases (a fixed random order)")
    p.add_argument("--data_path", default=None, help="folder of the Fashion-MNIST .gz files")
    p.add_argument("--json", action="store_true", help="end with one JSON line {category: score}")
    args = p.parse_args(argv)
    if args.num < 1:
        p.error(f"--num={args.num}; give at least 1 canvas")
    prompts, canvases = real_examples(load_compose(args.data_path, args.split), args.num,
                                      seed=args.seed)
    scores = score(prompts, canvases)
    print(f"prompt alignment of {len(prompts)} real {args.split} canvases with their own "
          f"prompts (the checker's ceiling):\n{format_table(scores)}")
    print("constraints met: " + ", ".join(f"{k} {v:.3f}" for k, v in scores["constraints"].items()))
    if args.json:
        print(json.dumps({c: scores[c] for c in CATEGORIES}))


if __name__ == "__main__":
    main(sys.argv[1:])
