"""Inpainting masks: the built-in shapes, seeded strokes, PNG masks and their errors."""
import numpy as np
import pytest
from PIL import Image

from jaxgen.data.masks import MASKS, builtin_mask, load_mask


def test_builtin_shapes():
    box = load_mask("box", size=28, num=3)
    assert box.shape == (3, 28, 28, 1) and box.dtype == bool
    assert box[0, 7:21, 7:21].all() and box.sum() == 3 * 14 * 14
    half = load_mask("left_half", size=28, num=1)[0, ..., 0]
    assert half[:, :14].all() and not half[:, 14:].any()


def test_random_strokes_are_seeded_and_differ_per_image():
    a = builtin_mask("random_strokes", 28, 4, seed=0)
    np.testing.assert_array_equal(a, builtin_mask("random_strokes", 28, 4, seed=0))
    assert not np.array_equal(a, builtin_mask("random_strokes", 28, 4, seed=1))
    assert not np.array_equal(a[0], a[1])
    fraction = a.mean(axis=(1, 2, 3))
    assert np.all((fraction > 0.05) & (fraction < 0.8)), fraction


def test_png_mask_white_fills(tmp_path):
    m = np.zeros((28, 28), np.uint8)
    m[3:10, 5:20] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    mask = load_mask(str(tmp_path / "m.png"), size=28, num=2)
    assert mask.shape == (2, 28, 28, 1)
    np.testing.assert_array_equal(mask[1, ..., 0], m > 0)
    np.testing.assert_array_equal(load_mask(m, size=28, num=2)[0, ..., 0], m > 0)   # array


def test_bad_masks_name_the_value_and_the_fix(tmp_path):
    Image.fromarray(np.full((20, 32), 255, np.uint8)).save(tmp_path / "wide.png")
    with pytest.raises(ValueError, match=r"wide.png' is 32x20 but the images are 28x28.*28x28 "
                                         r"mask"):
        load_mask(str(tmp_path / "wide.png"), size=28, num=1)
    with pytest.raises(ValueError, match=r"--mask='boxx' is neither a file nor a built-in mask; "
                                         r"pass a PNG .* or one of box, left_half, random_strokes"):
        load_mask("boxx", size=28, num=1)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="bad.png' cannot be decoded"):
        load_mask(str(tmp_path / "bad.png"), size=28, num=1)
    with pytest.raises(ValueError, match="mask 0 fills no pixel"):
        load_mask(np.zeros((1, 28, 28)), size=28, num=1)
    with pytest.raises(ValueError, match="mask 1 fills every pixel .*--mode=generate"):
        load_mask(np.stack([np.eye(28), np.ones((28, 28))]), size=28, num=2)
    with pytest.raises(ValueError, match=r"mask has shape \(3, 28, 28\); expected \(28, 28\), "
                                         r"\(1 or 2, 28"):
        load_mask(np.ones((3, 28, 28)), size=28, num=2)
    assert MASKS == ("box", "left_half", "random_strokes")
