"""Improved precision and recall (Kynkaanniemi et al. 2019): each set's manifold is the
union of balls around its points with radius the distance to the k-th nearest neighbour;
precision is the share of fake points inside the real manifold, recall the share of real
points inside the fake one."""
from __future__ import annotations

import numpy as np


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (N, M) between a (N, D) and b (M, D), float64, >= 0."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d, 0.0)


def knn_radii(x: np.ndarray, k: int = 3, chunk: int = 1000) -> np.ndarray:
    """Squared distance from each point of x (N, D) to its k-th nearest other point: (N,).
    Computed `chunk` rows at a time, so memory is chunk x N, not N x N."""
    if not 1 <= k < len(x):
        raise ValueError(f"k={k} nearest neighbours need more than k points; got {len(x)}")
    out = np.empty(len(x))
    for s in range(0, len(x), chunk):
        d = _sq_distances(x[s:s + chunk], x)                  # (c, N), column s+i is self (0)
        out[s:s + chunk] = np.partition(d, k, axis=1)[:, k]   # index 0 is the point itself
    return out


def coverage(manifold: np.ndarray, radii: np.ndarray, query: np.ndarray,
             chunk: int = 1000) -> float:
    """Share of query points (Q, D) within radii (N,) (squared) of some manifold point (N, D)."""
    inside = np.zeros(len(query), bool)
    for s in range(0, len(query), chunk):
        d = _sq_distances(query[s:s + chunk], manifold)       # (c, N)
        inside[s:s + chunk] = (d <= radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, *, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of fake features (M, D) against real features (N, D)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    precision = coverage(real, knn_radii(real, k), fake)
    recall = coverage(fake, knn_radii(fake, k), real)
    return precision, recall
