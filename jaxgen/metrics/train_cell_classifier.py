"""Trains the cell classifier of the prompt-alignment checker (jaxgen.metrics.cell_classifier).

  python -m jaxgen.metrics.train_cell_classifier [--out jaxgen/metrics/weights/compose_cell_classifier.npz]

Data: the Fashion-MNIST train split's items of the 6 classes of jaxgen.data.prompts, shrunk
to 16x16 and tinted exactly as jaxgen.data.compose renders a cell; every epoch draws each
item's colour anew from the palette. Deterministic from --seed (same stack, same bytes, same
SHA-256). Adam with a cosine decay, batch 128; about a minute on 2 CPU cores.
"""
from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgen.data import from_uint8
from jaxgen.data.compose import PALETTE, get_composer, tint
from jaxgen.metrics import cell_classifier
from jaxgen.metrics.train_feature_net import make_step, train_and_ship


def class_items(split: str, data_path: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The split's 16x16 items of the 6 classes as compose renders them: (uint8 (N, 16, 16),
    class ids int32 (N,) in CLASSES order)."""
    items = get_composer(data_path, split).items
    labels = np.concatenate([np.full(len(x), i, np.int32) for i, x in enumerate(items)])
    return np.concatenate(items), labels


def tinted(items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (N, 16, 16) -> uint8 (N, 16, 16, 3), each in a random palette colour."""
    colours = rng.integers(0, len(PALETTE), len(items))
    return np.rint(tint(items, colours)).astype(np.uint8)


def accuracy(params, items: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    """Top-1 accuracy on tinted items (colours from `seed`)."""
    probs = cell_classifier.classify(tinted(items, np.random.default_rng(seed)), params=params)
    return float(np.mean(probs.argmax(axis=1) == labels))


def train(*, seed: int = 0, epochs: int = 8, batch_size: int = 128, lr: float = 3e-3,
          data_path: str | None = None, log=print) -> tuple[dict, float]:
    """Trains from `seed`; returns (params, test accuracy). Epoch e visits the items in the
    order default_rng([seed, e]).permutation(N), colours from the same generator."""
    items, labels = class_items("train", data_path)
    steps_per_epoch = len(items) // batch_size
    tx = optax.adam(optax.cosine_decay_schedule(lr, epochs * steps_per_epoch))
    model = cell_classifier.CellNet()
    params = model.init(jax.random.PRNGKey(seed),
                        jnp.zeros((1, *cell_classifier.CELL_SHAPE)))["params"]
    opt_state, step = tx.init(params), make_step(tx, model)
    for epoch in range(epochs):
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(items))
        cells = tinted(items[order], rng)                                  # (N, 16, 16, 3)
        t0, losses = time.perf_counter(), []
        for i in range(steps_per_epoch):
            batch = slice(i * batch_size, (i + 1) * batch_size)
            params, opt_state, loss = step(params, opt_state, from_uint8(cells[batch]),
                                           labels[order[batch]])
            losses.append(loss)
        log(f"epoch {epoch + 1}/{epochs}: loss {float(np.mean(jax.device_get(losses))):.4f} "
            f"({time.perf_counter() - t0:.0f} s)")
    return params, accuracy(params, *class_items("test", data_path))


def main(argv):
    train_and_ship(argv, doc=__doc__, module=cell_classifier, train=train, epochs=8)


if __name__ == "__main__":
    main(sys.argv[1:])
