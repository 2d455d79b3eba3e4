"""Kernel Inception Distance (Binkowski et al. 2018): the unbiased MMD^2 estimate with the
cubic polynomial kernel k(x, y) = (x.y / D + 1)^3, averaged over random subsets."""
from __future__ import annotations

import numpy as np


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(x.y / D + 1)^3 for x (N, D), y (M, D) -> (N, M), float64."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between samples x (m, D) and y (m, D) (Gretton et al. 2012 eq. 3):
    the within-set means leave out the diagonal (k(x_i, x_i)). Can be slightly negative."""
    m = len(x)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())


def kernel_distance(real: np.ndarray, fake: np.ndarray, *, num_subsets: int = 100,
                    subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD^2 over `num_subsets` pairs of random subsets (drawn
    without replacement within a subset) of min(subset_size, N_real, N_fake) examples each.

    real: (N_real, D), fake: (N_fake, D) features. Deterministic given `seed`.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise ValueError(f"KID needs at least 2 real and 2 fake examples, got "
                         f"{len(real)} and {len(fake)}")
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(real[rng.choice(len(real), m, replace=False)],
                            fake[rng.choice(len(fake), m, replace=False)])
              for _ in range(num_subsets)]
    return float(np.mean(values)), float(np.std(values))
