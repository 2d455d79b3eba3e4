"""Super-resolution inputs: box downsampling (known values, PIL's BOX filter as reference,
anti-aliasing), bicubic upsampling, the image Conditioning and the factor check; the data-
consistency projection (a float64 least-norm reference) and the denoiser that applies it."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxgen.diffusion.samplers.base import denoise_at
from jaxgen.diffusion.samplers.grid import at_sigma, sigma_at
from jaxgen.diffusion.schedules import make_schedule
from jaxgen.diffusion.sr import (check_factor, consistent_denoiser, downsample, lr_condition,
                                 project_x0, upsample)
from jaxgen.families.conditioning import Conditioning
from jaxgen.families.diffusion_sampling import consistency_input


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
    with pytest.raises(ValueError, match="lr_consistency=True given, but this model has no"):
        consistency_input(Conditioning("class", num_classes=10), 2, None)
    np.testing.assert_array_equal(consistency_input(cond, 4, None),
                                  downsample(jnp.asarray(cond.default_images), 4)[np.array([0, 1, 2, 0])])


def _box_matrix(size: int, factor: int) -> np.ndarray:
    """float64 A (s^2, S^2): the block mean of a flattened S x S image, s = S / factor."""
    s = size // factor
    rows = np.arange(size)[:, None] // factor * s + np.arange(size)[None, :] // factor
    return np.eye(s * s)[rows.ravel()].T / factor**2


def test_projection_is_the_orthogonal_projection_onto_consistent_images():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 8, 8, 1)).astype(np.float32)
    lr = rng.uniform(-1, 1, (2, 2, 2, 1)).astype(np.float32)
    got = np.asarray(project_x0(jnp.asarray(x), jnp.asarray(lr), 4, clip=False))
    a = _box_matrix(8, 4)                                  # x - A^T (A A^T)^-1 (A x - lr)
    for i in range(2):
        xi, li = x[i, ..., 0].astype(np.float64).ravel(), lr[i, ..., 0].astype(np.float64).ravel()
        want = xi - a.T @ np.linalg.solve(a @ a.T, a @ xi - li)
        np.testing.assert_allclose(got[i, ..., 0].ravel(), want, atol=1e-5)
    np.testing.assert_allclose(downsample(jnp.asarray(got), 4), lr, atol=1e-6)


def test_projection_with_clip_stays_consistent_on_a_black_background():
    rng = np.random.default_rng(3)
    hr = np.clip(rng.normal(-0.8, 0.5, (4, 28, 28, 1)), -1, 1).astype(np.float32)
    hr[:, :8] = -1.0                                       # black rows: lr at the range's edge
    lr = downsample(jnp.asarray(hr), 4)
    x0 = jnp.asarray(hr + rng.normal(0, 0.3, hr.shape).astype(np.float32))
    out = project_x0(x0, lr, 4)
    assert float(jnp.min(out)) >= -1 and float(jnp.max(out)) <= 1
    np.testing.assert_allclose(downsample(out, 4), lr, atol=1e-5)
    plain = project_x0(x0, lr, 4, clip=False)
    clipped = downsample(jnp.clip(plain, -1, 1), 4)       # clipping after it breaks consistency
    assert float(jnp.max(jnp.abs(clipped - lr))) > 1e-2
    small = 0.5 * jnp.tanh(x0)                             # nothing clips: the plain projection
    np.testing.assert_allclose(project_x0(small, 0.5 * lr, 4),
                               project_x0(small, 0.5 * lr, 4, clip=False), atol=1e-5)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_consistent_denoiser_gives_consistent_x0_at_any_t(prediction):
    schedule = make_schedule("cosine", 100)
    rng = np.random.default_rng(4)
    x_t = jnp.asarray(rng.normal(size=(3, 8, 8, 1)), jnp.float32)
    lr = jnp.asarray(rng.uniform(-0.5, 0.5, (3, 4, 4, 1)), jnp.float32)
    raw = lambda x, t: 0.5 * x + 0.1 * t.reshape(-1, 1, 1, 1)  # noqa: E731  any network
    fn = consistent_denoiser(raw, schedule, lr, 2, prediction=prediction, clip=False)
    for t in (jnp.array([0, 40, 90]), jnp.array([0.5, 17.25, 80.0])):  # x0 from eps is ill-
        # conditioned at t = T-1 (alpha ~ 0)
        vp = at_sigma(sigma_at(schedule, t).reshape(-1, 1, 1, 1))
        x0, _ = denoise_at(fn, x_t, t, vp.alpha, vp.sigma, prediction=prediction,
                           clip_x0=False)
        np.testing.assert_allclose(downsample(x0, 2), lr, atol=2e-4)
        raw_x0, _ = denoise_at(raw, x_t, t, vp.alpha, vp.sigma, prediction=prediction,
                               clip_x0=False)
        assert float(jnp.max(jnp.abs(downsample(raw_x0, 2) - lr))) > 0.1
