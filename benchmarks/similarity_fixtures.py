"""Writes reference PSNR / SSIM values from scikit-image, for tests/metrics/test_similarity.py.
A development script: the tests never run it.

    python3 -m venv /work/devenv && /work/devenv/bin/pip install scikit-image numpy
    /work/devenv/bin/python benchmarks/similarity_fixtures.py
    -> tests/metrics/fixtures/similarity.npz  (scikit-image 0.26.0 wrote the committed one)

Image pairs (seeded, no data files): smooth random fields with a hard-edged square, as
uint8 grey (4, 28, 28, 1) and RGB (3, 16, 20, 3); each reference is a copy with Gaussian
noise, a one-pixel shift, a contrast change, or (grey only) an unrelated field. SSIM is
`structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, channel_axis=-1)`; PSNR `peak_signal_noise_ratio(a, b,
data_range=255)`.
"""
from __future__ import annotations

import pathlib

import numpy as np
import skimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests/metrics/fixtures/similarity.npz"


def field(rng: np.random.Generator, h: int, w: int, c: int) -> np.ndarray:
    """A smooth field (coarse noise upsampled) plus a bright square; uint8 (h, w, c)."""
    coarse = rng.uniform(0, 255, (h // 4 + 1, w // 4 + 1, c))
    x = np.kron(coarse, np.ones((4, 4, 1)))[:h, :w]
    top, left = rng.integers(0, h // 2), rng.integers(0, w // 2)
    x[top:top + h // 3, left:left + w // 3] = 240
    return np.clip(x, 0, 255).astype(np.uint8)


def variants(rng: np.random.Generator, a: np.ndarray, n: int) -> np.ndarray:
    """The references: noisy, shifted, contrast-changed, unrelated (first n of them)."""
    noisy = np.clip(a + rng.normal(0, 20, a.shape), 0, 255)
    shifted = np.roll(a, 1, axis=1)
    contrast = np.clip(0.6 * (a.astype(np.float64) - 128) + 140, 0, 255)
    other = field(rng, *a.shape)
    return np.stack([noisy, shifted, contrast, other][:n]).astype(np.uint8)


def pairs(seed: int, n: int, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = np.stack([field(rng, *shape) for _ in range(n)])
    b = np.stack([variants(rng, x, n)[i] for i, x in enumerate(a)])
    return a, b


def reference(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(psnr (N,), ssim (N,)) from scikit-image, float64."""
    p = [peak_signal_noise_ratio(x, y, data_range=255) for x, y in zip(a, b)]
    s = [structural_similarity(x, y, data_range=255, gaussian_weights=True, sigma=1.5,
                               use_sample_covariance=False, channel_axis=-1)
         for x, y in zip(a, b)]
    return np.array(p), np.array(s)


def main():
    arrays = {}
    for name, seed, n, shape in (("grey", 0, 4, (28, 28, 1)), ("rgb", 1, 3, (16, 20, 3))):
        a, b = pairs(seed, n, shape)
        p, s = reference(a, b)
        arrays.update({f"{name}_a": a, f"{name}_b": b, f"{name}_psnr": p, f"{name}_ssim": s})
        print(name, "psnr", np.round(p, 4).tolist(), "ssim", np.round(s, 6).tolist())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, skimage_version=np.array(skimage.__version__), **arrays)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
