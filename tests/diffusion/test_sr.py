"""Super-resolution inputs: box downsampling (known values, PIL's BOX filter as reference,
anti-aliasing), bicubic upsampling, the image Conditioning and the factor check."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxgen.diffusion.sr import check_factor, downsample, lr_condition, upsample
from jaxgen.families.conditioning import Conditioning


def test_downsample_known_values():
    x = jnp.arange(16.0).reshape(1, 4, 4, 1)                 # rows 0..3, 4..7, ...
    np.testing.assert_array_equal(downsample(x, 2)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_downsample_matches_pil_box():
    x = np.random.default_rng(0).uniform(-1, 1, (28, 28)).astype(np.float32)
    ref = np.asarray(Image.fromarray(x, mode="F").resize((7, 7), Image.BOX), np.float64)
    np.testing.assert_allclose(downsample(jnp.asarray(x)[None, :, :, None], 4)[0, :, :, 0],
                               ref, atol=1e-6)


def test_downsample_is_anti_aliased():
    """A checkerboard at the Nyquist frequency averages to its mean instead of aliasing to a
    constant of +-1 (which plain subsampling x[::2, ::2] gives)."""
    board = np.where(np.add.outer(np.arange(28), np.arange(28)) % 2, 1.0, -1.0)
    x = jnp.asarray(board, jnp.float32)[None, :, :, None]
    np.testing.assert_allclose(downsample(x, 2), 0.0, atol=1e-7)
    assert np.all(np.abs(x[:, ::2, ::2]) == 1.0)


def test_upsample_bicubic_shapes_and_constants():
    x = jnp.full((2, 7, 7, 3), 0.25)
    assert upsample(x, 4).shape == (2, 28, 28, 3)
    np.testing.assert_allclose(upsample(x, 4), 0.25, atol=1e-6)
    np.testing.assert_array_equal(upsample(jnp.eye(2)[None, :, :, None], 2, "nearest")[0, :, :, 0],
                                  np.kron(np.eye(2), np.ones((2, 2))))


def test_check_factor_names_value_and_choices():
    assert check_factor(4, 28) == 4
    with pytest.raises(ValueError, match=r"factor=3 .* 28; choose one of \[2, 4, 7, 14, 28\]"):
        check_factor(3, 28)


@pytest.fixture
def cond():
    images = np.random.default_rng(1).uniform(-1, 1, (3, 28, 28, 1)).astype(np.float32)
    return Conditioning("image", factor=4, noise_aug=0.2, default_images=images)


def test_image_conditioning_shapes(cond):
    hr = jnp.asarray(cond.default_images)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    clean = Conditioning("image", factor=4, default_images=cond.default_images)
    np.testing.assert_allclose(clean.train_input({"image": hr}, keys, 0.0), lr_condition(hr, 4))
    noisy = cond.train_input({"image": hr}, keys, 0.0)
    assert noisy.shape == hr.shape
    assert 0 < float(jnp.std(noisy - lr_condition(hr, 4))) < 0.2     # std ~ U[0, 0.2]
    assert cond.null.shape == (28, 28, 1) and cond.null_input(2).shape == (2, 28, 28, 1)
    assert cond.sample_input(5).shape == (5, 28, 28, 1)                 # defaults cycled
    lr = np.zeros((2, 7, 7, 1), np.float32)
    lr[1] = 0.5
    out = cond.sample_input(3, images=lr)
    np.testing.assert_allclose(out[:, 0, 0, 0], [0.0, 0.5, 0.0], atol=1e-6)


def test_image_conditioning_bad_inputs(cond):
    with pytest.raises(ValueError, match=r"shape \(2, 14, 14, 1\).*x4 from \(N, 7, 7, 1\)"):
        cond.sample_input(2, images=np.zeros((2, 14, 14, 1)))
    with pytest.raises(ValueError, match="conditioned on a low-resolution image only"):
        cond.sample_input(2, labels=[1])
    with pytest.raises(ValueError, match="not image-conditioned"):
        Conditioning("none").sample_input(2, images=np.zeros((2, 7, 7, 1)))
