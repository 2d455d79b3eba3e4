"""Sample-quality and likelihood metrics.

PSNR / SSIM per image (`similarity`, uint8 (N, H, W, C) pairs); FD / KID / improved
precision-recall / the classifier score on the penultimate features of jaxgen's own
Fashion-MNIST classifier (`feature_net`, weights shipped with a SHA-256), and the averaging
of a family's per-example `evaluate` (bits/dim) over the test split.
  python -m jaxgen.metrics --real A.npz --fake B.npz --json      two image sets
  python sample.py --workdir=runs/demo --eval                     a trained model
"""
from jaxgen.metrics.classifier_score import classifier_score
from jaxgen.metrics.compare import FD_LABEL, compare_features, compare_images
from jaxgen.metrics.feature_net import extract
from jaxgen.metrics.frechet import frechet_distance, frechet_distance_features
from jaxgen.metrics.images import load_images, to_feature_input
from jaxgen.metrics.kid import kernel_distance
from jaxgen.metrics.precision_recall import precision_recall
from jaxgen.metrics.similarity import psnr, ssim

__all__ = ["FD_LABEL", "classifier_score", "compare_features", "compare_images", "extract",
           "frechet_distance", "frechet_distance_features", "kernel_distance", "load_images",
           "precision_recall", "psnr", "ssim", "to_feature_input"]
