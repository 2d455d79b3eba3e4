"""img2img and inpainting through the Python API and sample.py on a trained smoke workdir."""

import numpy as np
import pytest
from PIL import Image

import jaxgen
from jaxgen.editing import mask_for, task_tiles


FAST = dict(sampler="ddim", steps=3)                   # one compiled program per task
REPAINT = dict(jump_length=1, resample=2, **FAST)


@pytest.fixture(scope="module")
def g(diffusion_workdir):
    return jaxgen.load(diffusion_workdir)


@pytest.fixture(scope="module")
def images(g):
    return np.asarray(g.dataset.images[:3])


def test_img2img_strength_endpoints(g, images):
    np.testing.assert_array_equal(g.img2img(images, 0.0, **FAST), images)
    edited = g.img2img(images, 0.5, seed=1, **FAST)
    assert edited.dtype == np.uint8 and edited.shape == images.shape
    np.testing.assert_array_equal(edited, g.img2img(images, 0.5, seed=1, **FAST))
    assert np.abs(edited.astype(int) - images).mean() > 5
    assert g.family.tasks["img2img"].info(strength=0.5, **FAST)["nfe"] == 2   # t = 50, 0
    # strength 1 ignores the input: the images plain sampling gives with the same seed
    np.testing.assert_array_equal(g.img2img(images, 1.0, seed=4, **FAST),
                                  g.sample(3, seed=4, **FAST))


def test_inpaint_keeps_every_known_pixel(g, images):
    fill = mask_for("random_strokes", images, seed=2)
    out = g.inpaint(images, "random_strokes", seed=2, **REPAINT)
    keep = ~np.broadcast_to(fill, images.shape)
    np.testing.assert_array_equal(out[keep], images[keep])
    assert np.abs(out.astype(int) - images)[~keep].mean() > 5
    assert g.family.tasks["inpaint"].info(**REPAINT)["nfe"] == 3 + 2


def test_task_tiles_rows():
    x, y = np.zeros((3, 4, 4, 1), np.uint8), np.full((3, 4, 4, 1), 9, np.uint8)
    fill = np.zeros((3, 4, 4, 1), bool)
    fill[:, :2] = True
    tiles, ncols = task_tiles(x, y, fill, ncols=2)       # 2 groups x 3 rows x 2 columns
    assert ncols == 2 and tiles.shape == (12, 4, 4, 1)
    assert (tiles[2][:2] == 128).all() and (tiles[4] == 9).all() and (tiles[11] == 0).all()


@pytest.fixture
def inputs(images, tmp_path):
    """in.npz (the 3 images), m.png (columns 10-19 white), small.png (20x20) in tmp_path."""
    np.savez(tmp_path / "in.npz", images=images)
    mask = np.zeros((28, 28), np.uint8)
    mask[:, 10:20] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    Image.fromarray(np.full((20, 20), 255, np.uint8)).save(tmp_path / "small.png")
    return tmp_path


def test_sample_script_inpaint(sample_main, g, images, inputs, capsys):
    sample_main([f"--workdir={g.workdir}", "--mode=inpaint", f"--image={inputs / 'in.npz'}",
                 f"--mask={inputs / 'm.png'}", "--sampler=ddim", "--steps=3",
                 "--jump_length=1", "--resample=2", "--scale=1", f"--out={inputs / 'g.png'}",
                 f"--out_dir={inputs / 'res'}"])
    assert "inpaint: sampler=ddim, steps=3" in capsys.readouterr().out
    grid = np.asarray(Image.open(inputs / "g.png"))
    assert grid.shape == (3 * 30 + 2, 3 * 30 + 2)           # rows input / masked / result
    result = np.asarray(Image.open(inputs / "res" / "sample_00002.png"))
    np.testing.assert_array_equal(result[:, :10], images[2, :, :10, 0])
    np.testing.assert_array_equal(result[:, 20:], images[2, :, 20:, 0])
    assert np.abs(result[:, 10:20].astype(int) - images[2, :, 10:20, 0]).mean() > 5


@pytest.mark.slow  # a second script run; the task itself is checked through the API above
def test_sample_script_img2img(sample_main, g, images, inputs):
    sample_main([f"--workdir={g.workdir}", "--mode=img2img", f"--image={inputs / 'in.npz'}",
                 "--strength=0.5", "--sampler=ddim", "--steps=3", "--scale=1", "--seed=1",
                 f"--out={inputs / 'e.png'}"])
    grid = np.asarray(Image.open(inputs / "e.png"))
    assert grid.shape == (2 * 30 + 2, 3 * 30 + 2)           # rows input / result
    edited = g.img2img(images, 0.5, seed=1, **FAST)
    np.testing.assert_array_equal(grid[32:60, 2:30], edited[0, ..., 0])  # result row, image 0


def test_bad_arguments_are_clear(g, images):
    with pytest.raises(ValueError, match=r"strength=-0.2 must be a number in \[0, 1\]"):
        g.img2img(images, -0.2)
    with pytest.raises(ValueError, match=r"inpainting runs with sampler \['ddpm', 'ddim'"):
        g.inpaint(images, "box", sampler="dpmpp_2m")
    with pytest.raises(ValueError, match="mask has shape \\(2, 28, 28\\)"):
        g.inpaint(images, np.ones((2, 28, 28)))
    with pytest.raises(ValueError, match="unconditional"):
        g.img2img(images, 0.5, labels=[1])


def script_error(sample_main, g, inputs, *flags) -> str:
    with pytest.raises(SystemExit) as exit_info:
        sample_main([f"--workdir={g.workdir}", *flags, f"--out={inputs / 'o.png'}"])
    text = str(exit_info.value.code)
    assert text.startswith("sample.py: error: ") and "\n" not in text
    return text


def test_sample_script_bad_mask_is_one_line(sample_main, g, inputs):
    text = script_error(sample_main, g, inputs, "--mode=inpaint", f"--image={inputs / 'in.npz'}",
                        f"--mask={inputs / 'small.png'}")
    assert "small.png' is 20x20 but the images are 28x28 (the model's size" in text


@pytest.mark.slow  # one more script run
def test_sample_script_missing_image_is_one_line(sample_main, g, inputs):
    text = script_error(sample_main, g, inputs, "--mode=img2img",
                        f"--image={inputs / 'nope.png'}")
    assert f"--image='{inputs / 'nope.png'}' does not exist; pass a .png/.jpg" in text
