"""Held-out evaluation of a family: sample quality of `family.generate` against the test
split, and the family's own per-example metrics (bits/dim) averaged over test images.
`evaluate` is what the training loop calls every `config.eval.every` steps."""
from __future__ import annotations

import warnings

import jax
import numpy as np

from jaxgen.data import Dataset, from_uint8, load_dataset, to_uint8
from jaxgen.metrics.compare import compare_images
from jaxgen.metrics.images import to_feature_input

_EVAL_STREAM = 0x65766C  # fold_in tag: the eval's key stream, apart from training's


def subset(ds: Dataset, num: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """min(num, N) examples in a fixed random order (sorted folders mix classes too):
    (uint8 (n, H, W, C) images, int32 (n,) labels, zeros when unlabelled)."""
    ids = np.random.default_rng(seed).permutation(len(ds))[:num]
    labels = ds.labels[ids] if ds.labels is not None else np.zeros(len(ids), np.int32)
    return ds.images[ids], labels


def generate_batched(family, state, *, rng, num: int, batch_size: int = 500,
                     advance=lambda n: None, per_sample_prompts=None, **options) -> np.ndarray:
    """uint8 (num, H, W, C) from `family.generate` in equal batches (one compile); batch i
    uses fold_in(rng, i) and the surplus of the last one is dropped. advance(n) after each.
    per_sample_prompts: num prompts, sample j drawn for prompt j (text models)."""
    size, out = min(batch_size, num), []
    for i in range(-(-num // size)):
        if per_sample_prompts is not None:   # the last batch repeats its prompts to full size
            options["prompts"] = list(per_sample_prompts[i * size:(i + 1) * size])
        images = family.generate(state, rng=jax.random.fold_in(rng, i), num=size, **options)
        out.append(to_uint8(jax.device_get(images)))
        advance(size)
    return np.concatenate(out)[:num]


def average_evaluate(family, state, images: np.ndarray, labels: np.ndarray, *, rng,
                     batch_size: int = 250, advance=lambda n: None) -> dict[str, float]:
    """Mean and standard error ("<name>_se") over uint8 images (N, H, W, C) of every
    per-example value `family.evaluate(state, batch, rng=...)` returns. Batches have one
    size (the last is padded with copies of the first image, whose results are dropped)."""
    size, values = min(batch_size, len(images)), {}
    for i, start in enumerate(range(0, len(images), size)):
        n = len(images[start:start + size])
        ids = np.concatenate([np.arange(start, start + n), np.zeros(size - n, np.int64)])
        batch = {"image": from_uint8(images[ids]), "label": labels[ids],
                 "index": ids.astype(np.uint32)}
        out = jax.device_get(family.evaluate(state, batch, rng=jax.random.fold_in(rng, i)))
        for name, v in out.items():
            values.setdefault(name, []).append(np.asarray(v, np.float64)[:n])
        advance(n)
    stats = {}
    for name, chunks in values.items():
        v = np.concatenate(chunks)
        stats.update({name: float(v.mean()), f"{name}_se": float(v.std() / np.sqrt(len(v)))})
    return stats


def eval_key(seed: int) -> jax.Array:
    """The evaluation's root key: fixed across steps, so evals see the same latents."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), _EVAL_STREAM)


def evaluate(family, state, config, *, step: int) -> dict[str, float]:
    """The loop's periodic evaluation on `config.eval.num_samples` images: FD, KID (+ std),
    precision, recall and classifier_score of that many samples against as many test
    images, plus the means of `family.evaluate` (e.g. bits_per_dim) on those test images.
    `step` only labels the call; the keys are fixed so evals are comparable over training."""
    del step
    if family.generate is None:
        raise ValueError("eval.every > 0 scores generated images, and this family makes none; "
                         "set --config.eval.every=0")
    test = load_dataset(config.data, split="test")
    real, labels = subset(test, int(config.eval.num_samples))
    k_gen, k_eval = jax.random.split(eval_key(config.seed))
    fake = generate_batched(family, state, rng=k_gen, num=len(real))
    note = warnings.warn  # a resize note shows once per run (warnings dedupe), not per eval
    results = compare_images(to_feature_input(real, "test images", note),
                             to_feature_input(fake, "samples", note))
    if family.evaluate is not None:
        stats = average_evaluate(family, state, real, labels, rng=k_eval)
        results.update({k: v for k, v in stats.items() if not k.endswith("_se")})
    return {k: float(v) for k, v in results.items() if isinstance(v, (int, float))}
