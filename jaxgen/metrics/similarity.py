"""Full-reference image similarity: PSNR and SSIM, one value per image.

Both take uint8 (N, H, W, C) arrays (numpy or jax) with data range 255 and compute in float64.
SSIM is Wang et al. 2004 (eq. 13) with an 11x11 Gaussian window, sigma 1.5, K1 = 0.01,
K2 = 0.03, population (not sample) covariances, averaged over the pixels whose window lies
inside the image and then over channels: scikit-image's `structural_similarity(...,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)`, which
tests/metrics/fixtures/similarity.json pins (benchmarks/similarity_fixtures.py writes it).
"""
from __future__ import annotations

import numpy as np

DATA_RANGE = 255.0
SSIM_SIGMA, SSIM_RADIUS = 1.5, 5      # radius = int(3.5 sigma + 0.5): the 11-tap window
SSIM_K1, SSIM_K2 = 0.01, 0.03


def check_pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Two uint8 (N, H, W, C) arrays of one shape -> float64 copies; else a ValueError naming
    both shapes / dtypes."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"images must be uint8 in [0, 255], got {a.dtype} {a.shape} and "
                         f"{b.dtype} {b.shape}; convert [-1, 1] floats with "
                         f"jaxgen.utils.images.to_uint8")
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"images have shapes {a.shape} and {b.shape}; pass two uint8 arrays "
                         f"of one shape (N, H, W, C)")
    return a.astype(np.float64), b.astype(np.float64)


def psnr(a, b) -> np.ndarray:
    """Peak signal-to-noise ratio 10 log10(255^2 / MSE) in dB per image, float64 (N,);
    inf where the two images are identical (MSE = 0)."""
    a, b = check_pair(a, b)
    mse = np.mean((a - b) ** 2, axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(DATA_RANGE**2 / mse)


def gaussian_window(sigma: float = SSIM_SIGMA, radius: int = SSIM_RADIUS) -> np.ndarray:
    """The normalised 1-D Gaussian taps, float64 (2 radius + 1,) (scipy's gaussian_filter)."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def local_mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Gaussian-weighted means over every window inside the image: the separable filter,
    (N, H, W, C) -> (N, H - 2r, W - 2r, C) ('valid' positions only)."""
    k = len(w)
    h, wd = x.shape[1] - k + 1, x.shape[2] - k + 1
    rows = sum(w[i] * x[:, i:i + h] for i in range(k))
    return sum(w[i] * rows[:, :, i:i + wd] for i in range(k))


def ssim(a, b) -> np.ndarray:
    """Mean structural similarity per image, float64 (N,) in [-1, 1]; 1 for identical
    images. H and W must be at least 11 (the window)."""
    x, y = check_pair(a, b)
    size = 2 * SSIM_RADIUS + 1
    if min(x.shape[1:3]) < size:
        raise ValueError(f"images of shape {a.shape} are smaller than the {size}x{size} SSIM "
                         f"window; pass images of at least {size}x{size} pixels")
    w = gaussian_window()
    mx, my = local_mean(x, w), local_mean(y, w)
    vx, vy = local_mean(x * x, w) - mx**2, local_mean(y * y, w) - my**2
    cxy = local_mean(x * y, w) - mx * my
    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.mean(axis=(1, 2, 3))     # channels weigh equally: the mean of per-channel means
