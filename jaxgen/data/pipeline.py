"""Batches as a pure function of the step: any step can be produced directly (exact resume),
and the order does not depend on how many devices or processes share it.

Global example position p = step * batch_size + i, i in [0, batch_size). Position p lies in
epoch e = p // N and is example perm_e[p % N], perm_e = default_rng([seed, e]).permutation(N).
A batch may straddle two epochs. Each process takes a contiguous slice of the global batch.
"""
from __future__ import annotations

import functools

import numpy as np

from jaxgen.data.dataset import Dataset


@functools.lru_cache(maxsize=8)
def _permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order of epoch `epoch`: int64 (n,), read-only (shared through the cache)."""
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    perm.flags.writeable = False
    return perm


def example_ids(n: int, positions: np.ndarray, seed: int) -> np.ndarray:
    """Dataset rows for global positions: int64 (b,) -> int64 (b,)."""
    epochs = positions // n
    ids = np.empty_like(positions)
    for epoch in np.unique(epochs):
        here = epochs == epoch
        ids[here] = _permutation(seed, int(epoch), n)[positions[here] % n]
    return ids


def _check_args(step, batch_size, seed, process_index, process_count):
    if batch_size < 1 or step < 0 or seed < 0:
        raise ValueError(f"batch_at needs batch_size >= 1, step >= 0 and seed >= 0; got "
                         f"batch_size={batch_size}, step={step}, seed={seed}")
    if process_count < 1 or not 0 <= process_index < process_count:
        raise ValueError(f"process_index={process_index} must lie in [0, process_count="
                         f"{process_count})")
    if batch_size % process_count:
        raise ValueError(f"global batch_size={batch_size} is not divisible by process_count="
                         f"{process_count}; pick a batch size that is a multiple of it")


def batch_at(ds: Dataset, step: int, *, batch_size: int, seed: int,
             process_index: int = 0, process_count: int = 1) -> dict[str, np.ndarray]:
    """This process's share of global batch number `step`.

    Args:
      ds: the dataset (uint8 images (N, H, W, C)).
      step: global batch number, >= 0.
      batch_size: the global batch size B, a multiple of process_count.
      seed: shuffling seed, >= 0.
      process_index, process_count: this process takes rows
        [process_index * B / P, (process_index + 1) * B / P) of the global batch.
    Returns:
      "image": float32 (b, H, W, C) in [-1, 1]; "label": int32 (b,) (zeros if unlabelled);
      "index": uint32 (b,), the global example position mod 2**32 (per-example RNG keys);
      "tokens": int32 (b, L) caption tokens, only when the dataset has captions (ds.tokens);
      b = B / P.
    """
    _check_args(step, batch_size, seed, process_index, process_count)
    b = batch_size // process_count
    start = int(step) * batch_size + process_index * b
    positions = np.arange(start, start + b, dtype=np.int64)
    ids = example_ids(len(ds), positions, seed)
    labels = ds.labels[ids] if ds.labels is not None else np.zeros(b, np.int32)
    batch = {"image": from_uint8(ds.images[ids]),
             "label": labels.astype(np.int32, copy=False),
             "index": (positions % 2**32).astype(np.uint32)}
    if ds.tokens is not None:
        batch["tokens"] = np.asarray(ds.tokens[ids], np.int32)
    return batch


def num_batches_per_epoch(ds: Dataset, batch_size: int) -> int:
    """ceil(N / batch_size): that many consecutive batches cover every example at least once."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    return -(-len(ds) // batch_size)


def from_uint8(images) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1] (x / 127.5 - 1), any shape."""
    return np.asarray(images, np.float32) / np.float32(127.5) - np.float32(1)
