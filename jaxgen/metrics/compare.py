"""Two image sets -> FD, KID, precision / recall on the jaxgen feature net (one dict)."""
from __future__ import annotations

import numpy as np

from jaxgen.metrics import feature_net
from jaxgen.metrics.classifier_score import classifier_score
from jaxgen.metrics.frechet import frechet_distance_features
from jaxgen.metrics.kid import kernel_distance
from jaxgen.metrics.precision_recall import precision_recall

FD_LABEL = "FD (jaxgen Fashion-MNIST features)"


def features_id() -> str:
    """Names the feature net the numbers were computed on, for the JSON output."""
    return f"jaxgen-fmnist-classifier sha256:{feature_net.WEIGHTS_SHA256[:16]}"


def compare_features(real: np.ndarray, fake: np.ndarray, *, k: int = 3, num_subsets: int = 100,
                     subset_size: int = 1000, seed: int = 0) -> dict:
    """Metrics of fake features (M, D) against real features (N, D).

    Returns {"fd", "kid", "kid_std", "precision", "recall", "n_real", "n_fake"}; KID over
    `num_subsets` subsets of min(subset_size, N, M); precision / recall with k-NN radii.
    """
    kid, kid_std = kernel_distance(real, fake, num_subsets=num_subsets,
                                   subset_size=subset_size, seed=seed)
    precision, recall = precision_recall(real, fake, k=k)
    return dict(fd=frechet_distance_features(real, fake), kid=kid, kid_std=kid_std,
                precision=precision, recall=recall, n_real=len(real), n_fake=len(fake))


def compare_images(real: np.ndarray, fake: np.ndarray, **options) -> dict:
    """As `compare_features` on uint8 (N, 28, 28, 1) image sets, plus the fake set's
    "classifier_score" (the Inception Score analogue) and "features" (the net's id)."""
    real_f, _ = feature_net.extract(real, what="real images")
    fake_f, fake_p = feature_net.extract(fake, what="fake images")
    result = compare_features(real_f, fake_f, **options)
    return dict(result, classifier_score=classifier_score(fake_p)[0], features=features_id())
