"""`sample.py --eval`: N samples of a trained model scored against the test split, beside
the real-vs-real baseline (train vs test images), plus bits/dim where the family has it."""
from __future__ import annotations

import os
import sys
import time

import jax
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from jaxgen.data import load_dataset
from jaxgen.metrics.compare import compare_images
from jaxgen.metrics.images import to_feature_input
from jaxgen.metrics.training import average_evaluate, generate_batched, subset


def _progress() -> Progress:
    """A bar on stderr, so stdout keeps only the results."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=Console(file=sys.stderr))


def _note(message: str) -> None:
    print(message, file=sys.stderr)


def hardware() -> str:
    devices = jax.devices()
    return f"{len(devices)} x {devices[0].device_kind} ({os.cpu_count()} CPU cores)"


def sample_quality(config, family, state, *, test, num: int, seed: int, options: dict,
                   batch_size: int) -> dict:
    """FD / KID / precision / recall of `num` samples against min(num, N_test) test images,
    with "baseline": the same metrics for as many train images against those test images.
    "test_images" / "n_test_images" name the test set the samples were scored against
    (e.g. "npz:/x.npz [test: 10% held out, 51 images]") and its size; the baseline's
    "train_images" / "n_train_images" the same for the training images."""
    _note(f"scoring against {len(test)} images: {test.name}")
    real, _ = subset(test, num)
    with _progress() as bar:
        task = bar.add_task("sample", total=num)
        t0 = time.perf_counter()
        fake = generate_batched(family, state, rng=jax.random.PRNGKey(seed), num=num,
                                batch_size=batch_size, advance=lambda n: bar.advance(task, n),
                                **options)
    sample_s = time.perf_counter() - t0
    real = to_feature_input(real, "test images", _note)
    result = compare_images(real, to_feature_input(fake, "samples", _note))
    train_ds = load_dataset(config.data, split="train")
    train, _ = subset(train_ds, len(real), seed=1)
    baseline = compare_images(real, to_feature_input(train, "train images", _note))
    baseline.update(what="train vs test images", train_images=train_ds.name,
                    n_train_images=len(train_ds))
    return dict(result, baseline=baseline, test_images=test.name, n_test_images=len(test),
                sample_s=sample_s)


def _likelihood(family, state, *, test, num: int, seed: int) -> dict:
    """The family's per-example metrics (bits/dim) averaged over min(num, N_test) test images."""
    images, labels = subset(test, num)
    with _progress() as bar:
        task = bar.add_task("bits/dim", total=len(images))
        stats = average_evaluate(family, state, images, labels,
                                 rng=jax.random.PRNGKey(seed + 1),
                                 advance=lambda n: bar.advance(task, n))
    return dict(stats, n_likelihood=len(images))


def run(config, family, state, *, test, step: int, num: int, seed: int, options: dict,
        batch_size: int = 500, likelihood: bool = True) -> dict:
    """Everything `sample.py --eval` reports, as one JSON-ready dict (`likelihood=False`
    leaves out bits/dim)."""
    t0 = time.perf_counter()
    result = sample_quality(config, family, state, test=test, num=num, seed=seed,
                            options=options, batch_size=batch_size)
    if likelihood and family.evaluate is not None:
        result.update(_likelihood(family, state, test=test, num=num, seed=seed))
    sample_cfg = config.sample.to_dict() if "sample" in config else {}
    return dict(result, family=config.family, step=step, seed=seed,
                sample_options={**sample_cfg, **options}, wall_s=time.perf_counter() - t0,
                hardware=hardware())
