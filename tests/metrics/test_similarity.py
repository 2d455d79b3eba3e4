"""PSNR / SSIM against scikit-image values pinned by benchmarks/similarity_fixtures.py."""
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.metrics import psnr, ssim

FIXTURES = np.load(pathlib.Path(__file__).parent / "fixtures" / "similarity.npz")


@pytest.mark.parametrize("name", ["grey", "rgb"])
def test_matches_scikit_image(name):
    a, b = FIXTURES[f"{name}_a"], FIXTURES[f"{name}_b"]
    np.testing.assert_allclose(psnr(a, b), FIXTURES[f"{name}_psnr"], rtol=1e-12)
    np.testing.assert_allclose(ssim(a, b), FIXTURES[f"{name}_ssim"], rtol=0, atol=1e-10)
    # jax arrays and the swapped order give the same (both metrics are symmetric)
    np.testing.assert_allclose(ssim(jnp.asarray(b), jnp.asarray(a)), FIXTURES[f"{name}_ssim"],
                               atol=1e-10)


def test_pinned_values_span_the_range():
    """The fixture is a real check: the pairs range from near-identical to unrelated."""
    s = FIXTURES["grey_ssim"]
    assert s.max() > 0.9 and s.min() < 0.0


def test_identical_images():
    a = FIXTURES["rgb_a"]
    assert np.all(np.isinf(psnr(a, a))) and np.all(psnr(a, a) > 0)
    np.testing.assert_allclose(ssim(a, a), 1.0, atol=1e-12)


def test_one_value_per_image():
    a, b = FIXTURES["grey_a"], FIXTURES["grey_b"]
    assert psnr(a, b).shape == (4,) and ssim(a[:2], b[:2]).shape == (2,)
    np.testing.assert_allclose(ssim(a[1:2], b[1:2]), FIXTURES["grey_ssim"][1:2], atol=1e-10)


def test_bad_input_names_the_shapes():
    a = FIXTURES["grey_a"]
    with pytest.raises(ValueError, match=r"shapes \(4, 28, 28, 1\) and \(3, 28, 28, 1\)"):
        psnr(a, a[:3])
    with pytest.raises(ValueError, match=r"uint8.*float32 \(4, 28, 28, 1\).*to_uint8"):
        ssim(a.astype(np.float32), a)
    with pytest.raises(ValueError, match=r"shapes \(28, 28, 1\) and \(28, 28, 1\).*\(N, H, W, C\)"):
        psnr(a[0], a[0])
    with pytest.raises(ValueError, match="smaller than the 11x11 SSIM window"):
        ssim(a[:, :8, :8], a[:, :8, :8])
