"""`sample.py --eval` on a text-to-image workdir: samples for the test split's prompts, scored
for prompt alignment (jaxgen.metrics.prompts) at each guidance weight of a sweep, beside the
checker's ceiling on the real canvases of the same prompts, and for sample quality by FD on
per-cell features: every 16x16 cell of a canvas, max over R, G, B (the item's grey level),
resized to 28x28, through the Fashion-MNIST feature net (the tint is left to the colour
check, which the feature net was not trained to see)."""
from __future__ import annotations

import time

import jax
import numpy as np

from jaxgen.data import load_dataset
from jaxgen.metrics import prompts as checker
from jaxgen.metrics.compare import compare_images
from jaxgen.metrics.images import to_feature_input
from jaxgen.metrics.sample_eval import _note, _progress, hardware
from jaxgen.metrics.training import generate_batched, subset

GUIDANCES = (0.0, 1.0, 2.0, 4.0, 8.0)
CELL_FEATURES = ("jaxgen Fashion-MNIST features of each 16x16 cell (max over RGB, resized "
                 "to 28x28), 4 per canvas")


def cell_images(canvases: np.ndarray) -> np.ndarray:
    """uint8 canvases (N, 32, 32, 3) -> the feature net's input uint8 (4N, 28, 28, 1)."""
    cells = checker.cells_of(canvases).max(axis=-1)                     # (N, 4, 16, 16)
    return to_feature_input(cells.reshape(-1, *cells.shape[2:]), "cells", lambda _: None)


def cell_quality(real: np.ndarray, fake: np.ndarray) -> dict:
    """FD / KID / precision / recall of fake canvases against real ones on per-cell features."""
    return dict(compare_images(cell_images(real), cell_images(fake)), features=CELL_FEATURES)


def relative(scores: dict, ceiling: dict) -> dict:
    """Each category's score as a fraction of the checker's ceiling."""
    return {c: scores[c] / ceiling[c] for c in checker.CATEGORIES if ceiling[c] > 0}


def _sample(family, state, prompts, *, seed, guidance, options, batch_size) -> np.ndarray:
    with _progress() as bar:
        task = bar.add_task(f"sample w={guidance:g}", total=len(prompts))
        return generate_batched(family, state, rng=jax.random.PRNGKey(seed), num=len(prompts),
                                batch_size=batch_size, per_sample_prompts=prompts,
                                advance=lambda n: bar.advance(task, n),
                                **dict(options, guidance=guidance))


def sweep(family, state, prompts, real, ceiling, *, seed, guidances, options, batch_size,
          keep: float) -> tuple[list[dict], np.ndarray]:
    """For each guidance weight: alignment by category, its fraction of `ceiling` (the
    checker's scores on `real`, the prompts' own canvases) and the per-cell FD; and the
    samples of guidance `keep` (one of `guidances`)."""
    rows, kept = [], None
    for w in guidances:
        t0 = time.perf_counter()
        fake = _sample(family, state, prompts, seed=seed, guidance=float(w), options=options,
                       batch_size=batch_size)
        scores = checker.score(prompts, fake)
        kept = fake if float(w) == keep else kept
        rows.append(dict(guidance=float(w), alignment={c: scores[c] for c in checker.CATEGORIES},
                         relative=relative(scores, ceiling), constraints=scores["constraints"],
                         fd_cells=cell_quality(real, fake)["fd"],
                         sample_s=time.perf_counter() - t0))
        _note(f"guidance {w:g}:\n{checker.format_table(scores, ceiling)}")
    return rows, kept


def run(config, family, state, *, test, step: int, num: int, seed: int, options: dict,
        guidances=GUIDANCES, batch_size: int = 500) -> dict:
    """Everything `sample.py --eval` reports for a text-to-image model, as one JSON-ready
    dict: at the sampling guidance (options["guidance"], else config.sample.guidance)
    "alignment_<category>", "ceiling_<category>", per-cell "fd" with the train-vs-test
    "baseline", and "guidance_sweep" over `guidances` (the sampling one added)."""
    t0 = time.perf_counter()
    prompts, real = checker.real_examples(test, num)
    ceiling = checker.score(prompts, real)
    w_main = float(options.pop("guidance", config.sample.get("guidance", 1.0)))
    ws = sorted({float(w) for w in guidances} | {w_main})
    rows, fake = sweep(family, state, prompts, real, ceiling, seed=seed, guidances=ws,
                       options=options, batch_size=batch_size, keep=w_main)
    main = next(r for r in rows if r["guidance"] == w_main)
    train, _ = subset(load_dataset(config.data, split="train"), len(real), seed=1)
    result = dict(cell_quality(real, fake), baseline=dict(cell_quality(real, train),
                                                          what="train vs test canvases"))
    result.update({f"alignment_{c}": main["alignment"][c] for c in checker.CATEGORIES})
    result.update({f"ceiling_{c}": ceiling[c] for c in checker.CATEGORIES})
    result.update({f"n_{c}": ceiling[f"n_{c}"] for c in checker.CATEGORIES})
    return dict(result, guidance=w_main, guidance_sweep=rows, test_images=test.name,
                n_test_images=len(test), family=config.family, step=step, seed=seed,
                sample_options={**config.sample.to_dict(), **options, "guidance": w_main},
                wall_s=time.perf_counter() - t0, hardware=hardware())
