"""The metric maths on small hand-checkable inputs: FD, KID, precision / recall, the
classifier score."""
import itertools

import numpy as np
import pytest

from jaxgen.metrics.classifier_score import classifier_score
from jaxgen.metrics.frechet import frechet_distance, frechet_distance_features, psd_sqrt
from jaxgen.metrics.kid import kernel_distance, mmd2_unbiased, polynomial_kernel
from jaxgen.metrics.precision_recall import knn_radii, precision_recall


def _spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_fd_of_1d_gaussians():
    # (mu1 - mu2)^2 + (sigma1 - sigma2)^2 = 1 + (1 - 2)^2
    assert frechet_distance([0.0], [[1.0]], [1.0], [[4.0]], eps=0) == pytest.approx(2.0)


def test_fd_matches_eigenvalues_of_the_product():
    """tr sqrt(S1 S2) = sum sqrt(eig(S1 S2)) (real, >= 0) for non-commuting S1, S2."""
    rng = np.random.default_rng(0)
    s1, s2, mu1, mu2 = _spd(rng, 6), _spd(rng, 6), rng.normal(size=6), rng.normal(size=6)
    tr_sqrt = np.sqrt(np.linalg.eigvals(s1 @ s2).real).sum()
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(mu1, s1, mu2, s2, eps=0) == pytest.approx(expected, rel=1e-9)
    r = psd_sqrt(s1)
    np.testing.assert_allclose(r @ r, s1, atol=1e-9)


def test_fd_is_zero_on_itself_symmetric_and_finite_when_singular():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 32)), rng.normal(size=(12, 32)) + 0.5  # N < D: singular
    assert frechet_distance_features(x, x) == pytest.approx(0.0, abs=1e-8)
    d_xy, d_yx = frechet_distance_features(x, y), frechet_distance_features(y, x)
    assert np.isfinite(d_xy) and d_xy > 0 and d_xy == pytest.approx(d_yx, rel=1e-9)
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance_features(x[:1], y)


def test_mmd2_matches_the_double_sums():
    rng = np.random.default_rng(2)
    x, y, m = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)) + 1.0, 5
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / m**2
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)
    assert polynomial_kernel(x, y).shape == (5, 5)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    same, same_std = kernel_distance(a, b, num_subsets=20, subset_size=200)
    shifted, _ = kernel_distance(a, b + 0.5, num_subsets=20, subset_size=200)
    assert abs(same) < 3 * same_std + 1e-3 and shifted > 10 * abs(same)
    assert kernel_distance(a, b, num_subsets=5, seed=7) == kernel_distance(a, b, num_subsets=5, seed=7)


def test_knn_radii_in_1d():
    x = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]])
    np.testing.assert_array_equal(knn_radii(x, k=1), [1, 1, 4, 9, 16])   # squared
    np.testing.assert_array_equal(knn_radii(x, k=2, chunk=2), [9, 4, 9, 16, 49])
    with pytest.raises(ValueError, match="k=5"):
        knn_radii(x, k=5)


def test_precision_recall_on_clusters():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(200, 2)) * 0.1, rng.normal(size=(200, 2)) * 0.1 + 5.0
    both = np.concatenate([a, b])
    assert precision_recall(both, both) == (1.0, 1.0)
    assert precision_recall(a, b) == (0.0, 0.0)
    precision, recall = precision_recall(both, a + rng.normal(size=a.shape) * 0.01)
    assert precision > 0.95 and 0.45 < recall < 0.55  # mode dropping: recall halves


def test_classifier_score_bounds():
    n, c = 1000, 10
    assert classifier_score(np.full((n, c), 1 / c))[0] == pytest.approx(1.0)
    assert classifier_score(np.eye(c)[np.arange(n) % c])[0] == pytest.approx(c, rel=1e-6)
    assert classifier_score(np.eye(c)[np.zeros(n, int)])[0] == pytest.approx(1.0)
