"""The domain feature network behind jaxgen's sample-quality metrics.

A small CNN classifier of Fashion-MNIST; its penultimate layer (128 ReLU units) plays the
role Inception's pool3 layer plays for FID (TF-GAN does the same for MNIST). jaxgen trains
it itself (`python -m jaxgen.metrics.train_feature_net`) and ships the weights with a
SHA-256 that is checked at load, so everyone computes identical numbers. Distances on these
features are "FD (jaxgen Fashion-MNIST features)": not comparable with Inception FIDs.
"""
from __future__ import annotations

import functools
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.data.pipeline import from_uint8
from jaxgen.metrics import shipped_weights
from jaxgen.metrics.shipped_weights import write_weights  # noqa: F401  (re-exported)

WEIGHTS_FILE = Path(__file__).resolve().parent / "weights" / "fmnist_classifier.npz"
WEIGHTS_SHA256 = "d52b1561fb7ca930779efd718db777b3698c28fa22314529e5544c77d5a10a6e"
TEST_ACCURACY = 0.9207  # on the 10,000 Fashion-MNIST test images, as train_feature_net reports
IMAGE_SHAPE = (28, 28, 1)
FEATURE_DIM = 128
NUM_CLASSES = 10


class FeatureNet(nn.Module):
    """conv3x3(32) - maxpool - conv3x3(64) - maxpool - dense(128) - dense(10), ReLUs between."""

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """x: float32 (B, 28, 28, 1) in [-1, 1] -> (logits (B, 10), features (B, 128))."""
        for width in (32, 64):
            x = nn.max_pool(nn.relu(nn.Conv(width, (3, 3))(x)), (2, 2), (2, 2))
        features = nn.relu(nn.Dense(FEATURE_DIM)(x.reshape(x.shape[0], -1)))  # (B, 7*7*64) in
        return nn.Dense(NUM_CLASSES)(features), features


def read_weights(path=None, sha256: str | None = WEIGHTS_SHA256) -> dict:
    """Loads the classifier's params from `path` (default: the shipped file), checking the
    file's SHA-256 against `sha256` (None skips the check, for a freshly trained file)."""
    return shipped_weights.read_weights(
        path or WEIGHTS_FILE, sha256, what="feature-net",
        trainer="jaxgen.metrics.train_feature_net",
        constant="WEIGHTS_SHA256 in jaxgen/metrics/feature_net.py")


@functools.lru_cache(maxsize=1)
def default_params() -> dict:
    """The shipped, checksum-verified params (loaded once per process)."""
    return read_weights()


@jax.jit
def _apply(params, x):
    logits, features = FeatureNet().apply({"params": params}, x)
    return jax.nn.softmax(logits), features


def check_images(images: np.ndarray, what: str = "images") -> np.ndarray:
    """Accepts uint8 (N, 28, 28, 1) or (N, 28, 28); anything else is a ValueError with the fix."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE or len(images) == 0:
        raise ValueError(
            f"{what}: the feature net takes uint8 (N, 28, 28, 1) images, got {images.dtype} "
            f"{images.shape}. Convert float [-1, 1] images with jaxgen.data.to_uint8 and other "
            f"sizes with jaxgen.metrics.images.to_feature_input (grey, 28x28).")
    return images


def extract(images: np.ndarray, *, params=None, batch_size: int = 500,
            what: str = "images") -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features and class probabilities of uint8 (N, 28, 28, 1) images.

    Returns (features float64 (N, 128), probs float64 (N, 10)). Batches are padded to
    `batch_size` so the network compiles once.
    """
    images = check_images(images, what)
    params = default_params() if params is None else params
    feats, probs = [], []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        pad = np.zeros((batch_size - len(chunk), *IMAGE_SHAPE), np.uint8)
        p, f = jax.device_get(_apply(params, from_uint8(np.concatenate([chunk, pad]))))
        probs.append(p[:len(chunk)])
        feats.append(f[:len(chunk)])
    return np.concatenate(feats).astype(np.float64), np.concatenate(probs).astype(np.float64)
