"""The Inception Score's analogue on jaxgen's Fashion-MNIST classifier (Salimans et al. 2016):
exp(E_x KL(p(y|x) || p(y))). 1 for uninformative predictions, up to 10 (the class count) for
confident predictions spread evenly over the classes."""
from __future__ import annotations

import numpy as np


def classifier_score(probs: np.ndarray, *, splits: int = 10) -> tuple[float, float]:
    """(mean, std) over `splits` equal parts of class probabilities (N, C), each part scored
    with its own marginal p(y), as the Inception Score is. float64."""
    p = np.asarray(probs, np.float64)
    splits = max(1, min(splits, len(p)))
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)                        # (1, C)
        kl = np.sum(part * (np.log(part + 1e-12) - np.log(marginal + 1e-12)), axis=1)  # (n,)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
