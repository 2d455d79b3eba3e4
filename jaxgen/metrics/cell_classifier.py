"""The cell classifier behind the prompt-alignment checker (jaxgen.metrics.prompts).

A small CNN that names the item in one 16x16 cell of a `fashion_compose` canvas: one of the
6 CLASSES of jaxgen.data.prompts, in any of the 6 palette colours. It is trained on the
Fashion-MNIST train split's items of those classes, shrunk and tinted exactly as
jaxgen.data.compose renders cells (`python -m jaxgen.metrics.train_cell_classifier`), and
shipped with a SHA-256 that is checked at load, like the feature net.
"""
from __future__ import annotations

import functools
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.data.pipeline import from_uint8
from jaxgen.data.prompts import CLASSES
from jaxgen.metrics import shipped_weights
from jaxgen.metrics.shipped_weights import write_weights  # noqa: F401  (re-exported)

WEIGHTS_FILE = Path(__file__).resolve().parent / "weights" / "compose_cell_classifier.npz"
WEIGHTS_SHA256 = "c5fdc5b7dff5058fd327f795039de46d5037eaf4bb1088e2965bb0e87b42c81a"
TEST_ACCURACY = 0.9702  # on the Fashion-MNIST test items of CLASSES, tinted, as the trainer reports
CELL_SHAPE = (16, 16, 3)
TRAINER = "jaxgen.metrics.train_cell_classifier"


class CellNet(nn.Module):
    """conv3x3(16) - maxpool - conv3x3(32) - maxpool - dense(64) - dense(6), ReLUs between
    (38k parameters)."""

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """x: float32 (B, 16, 16, 3) in [-1, 1] -> (logits (B, 6), features (B, 64))."""
        for width in (16, 32):
            x = nn.max_pool(nn.relu(nn.Conv(width, (3, 3))(x)), (2, 2), (2, 2))
        features = nn.relu(nn.Dense(64)(x.reshape(x.shape[0], -1)))     # (B, 4*4*32) in
        return nn.Dense(len(CLASSES))(features), features


def read_weights(path=None, sha256: str | None = WEIGHTS_SHA256) -> dict:
    """The classifier's params from `path` (default: the shipped file), its SHA-256 checked
    against `sha256` (None skips the check, for a freshly trained file)."""
    return shipped_weights.read_weights(
        path or WEIGHTS_FILE, sha256, what="cell-classifier", trainer=TRAINER,
        constant="WEIGHTS_SHA256 in jaxgen/metrics/cell_classifier.py")


@functools.lru_cache(maxsize=1)
def default_params() -> dict:
    """The shipped, checksum-verified params (loaded once per process)."""
    return read_weights()


@jax.jit
def _probs(params, x):
    return jax.nn.softmax(CellNet().apply({"params": params}, x)[0])


def classify(cells: np.ndarray, *, params=None, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities float64 (N, 6) of uint8 cells (N, 16, 16, 3). Batches are padded
    to one size, so the network compiles once."""
    cells = np.asarray(cells)
    if cells.dtype != np.uint8 or cells.shape[1:] != CELL_SHAPE:
        raise ValueError(f"the cell classifier takes uint8 (N, 16, 16, 3) cells, got "
                         f"{cells.dtype} {cells.shape}; cut 32x32 canvases with "
                         f"jaxgen.metrics.prompts.cells_of")
    params = default_params() if params is None else params
    size, out = min(batch_size, max(len(cells), 1)), []
    for start in range(0, len(cells), size):
        chunk = cells[start:start + size]
        pad = np.zeros((size - len(chunk), *CELL_SHAPE), np.uint8)
        probs = _probs(params, from_uint8(np.concatenate([chunk, pad])))
        out.append(jax.device_get(probs)[:len(chunk)])
    return np.concatenate(out).astype(np.float64) if out else np.zeros((0, len(CLASSES)))
