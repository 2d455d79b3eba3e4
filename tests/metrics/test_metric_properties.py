"""The metric behaves as a metric on real images: zero on itself, small between the real
splits, rising with noise and blur, and mode dropping costs recall but not precision."""
import numpy as np
import pytest
from PIL import Image, ImageFilter

from real_images import fmnist  # noqa: F401  (a fixture)
from jaxgen.metrics import feature_net
from jaxgen.metrics.compare import compare_features

KID = dict(num_subsets=10, subset_size=500)


def noisy(images, sigma, seed=0):
    """Gaussian noise with std sigma * 255 (sigma a fraction of the pixel range)."""
    noise = np.random.default_rng(seed).normal(0.0, sigma * 255, images.shape)
    return np.clip(np.rint(images + noise), 0, 255).astype(np.uint8)


def blurred(images, radius):
    return np.stack([np.asarray(Image.fromarray(x[..., 0]).filter(
        ImageFilter.GaussianBlur(radius)))[..., None] for x in images])


@pytest.fixture(scope="module")
def feats(fmnist):
    return {split: feature_net.extract(images)[0] for split, (images, _) in fmnist.items()}


@pytest.fixture(scope="module")
def baseline(feats):
    return compare_features(feats["test"], feats["train"], **KID)


def _scores(feats, image_sets):
    """compare_features of the test images (real) against each image set."""
    return [compare_features(feats["test"], feature_net.extract(x)[0], **KID) for x in image_sets]


def test_fd_of_a_set_with_itself_is_zero(feats):
    r = compare_features(feats["test"], feats["test"], **KID)
    assert r["fd"] == pytest.approx(0.0, abs=1e-6)
    assert r["precision"] == 1.0 and r["recall"] == 1.0


def test_train_vs_test_is_small(baseline, fmnist, feats):
    noise = _scores(feats, [noisy(fmnist["train"][0], 0.05)])[0]
    assert baseline["fd"] < 0.2 * noise["fd"], (baseline, noise)
    assert baseline["precision"] > 0.7 and baseline["recall"] > 0.7


@pytest.mark.parametrize("kind", ["noise", "blur"])
def test_fd_and_kid_rise_monotonically(kind, baseline, fmnist, feats):
    train = fmnist["train"][0]
    sets = ([noisy(train, s) for s in (0.05, 0.1, 0.2)] if kind == "noise"
            else [blurred(train, r) for r in (0.5, 1.0, 2.0)])
    results = [baseline] + _scores(feats, sets)
    fds, kids = [r["fd"] for r in results], [r["kid"] for r in results]
    assert np.all(np.diff(fds) > 0), fds
    assert np.all(np.diff(kids) > 0), kids  # KID ranks as FD does


def test_dropping_half_the_classes(baseline, fmnist, feats):
    """Mode dropping: FD rises and recall falls, while precision stays high."""
    images, labels = fmnist["train"]
    half = compare_features(feats["test"], feature_net.extract(images[labels < 5])[0], **KID)
    assert half["fd"] > 3 * baseline["fd"] and half["kid"] > 3 * baseline["kid"]
    assert half["recall"] < baseline["recall"] - 0.25, (half, baseline)
    assert half["precision"] > 0.8 * baseline["precision"], (half, baseline)
