"""Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017, FID),
in float64 with an eigendecomposition-based matrix square root."""
from __future__ import annotations

import numpy as np


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), covariance (D, D)) of features (N, D), float64, unbiased (N - 1)."""
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need features of shape (N, D) with N >= 2 to fit a Gaussian, "
                         f"got {x.shape}; pass more images")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def psd_sqrt(a: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (D, D) by eigh;
    eigenvalues below 0 (round-off) are clipped to 0."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.maximum(w, 0.0))) @ v.T


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr sqrt(S1 S2) for symmetric PSD S1, S2 (D, D).

    S1 S2 is similar to the symmetric PSD S1^1/2 S2 S1^1/2 = M M^T with M = S1^1/2 S2^1/2, so
    the trace is the sum of M's singular values. Taking them by SVD of M, rather than
    eigenvalues of M M^T, does not square the condition number: round-off stays near
    1e-16 |M| instead of 1e-8 |M| (which shows as FD(x, x) ~ 1e-6 with dead units).
    """
    m = psd_sqrt(s1) @ psd_sqrt(s2)
    return float(np.linalg.svd(m, compute_uv=False).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2, *, eps: float = 1e-6) -> float:
    """d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2), with eps * I added to both
    covariances so singular ones (fewer samples than dimensions, dead units) stay valid."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    if mu1.shape != mu2.shape:
        raise ValueError(f"feature dimensions differ: {mu1.shape} vs {mu2.shape}")
    reg = eps * np.eye(len(mu1))
    s1, s2 = np.asarray(sigma1, np.float64) + reg, np.asarray(sigma2, np.float64) + reg
    d = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
              - 2.0 * trace_sqrt_product(s1, s2))
    return max(d, 0.0)  # round-off can leave -1e-12 for identical sets


def frechet_distance_features(real: np.ndarray, fake: np.ndarray, *, eps: float = 1e-6) -> float:
    """FD between the Gaussians fitted to two feature sets (N1, D) and (N2, D)."""
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake), eps=eps)
