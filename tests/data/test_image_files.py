"""Images given by path (sample.py --image): one file, a folder, an .npz; notes and errors."""
import numpy as np
import pytest
from PIL import Image

from jaxgen.data.image_files import load_images


def test_file_folder_and_npz_give_the_same_images(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1), dtype=np.uint8)
    for i, img in enumerate(x):
        Image.fromarray(img[..., 0]).save(tmp_path / f"{i}.png")
    np.savez(tmp_path / "x.npz", images=x[..., 0])                     # NHW is fine
    load = lambda p: load_images(p, image_size=28, channels=1, what="--image")  # noqa: E731
    np.testing.assert_array_equal(load(tmp_path / "1.png"), x[1:2])
    np.testing.assert_array_equal(load(tmp_path), x)
    np.testing.assert_array_equal(load(tmp_path / "x.npz"), x)


def test_other_sizes_and_channels_are_converted_with_a_note(tmp_path):
    Image.fromarray(np.full((56, 40, 3), 200, np.uint8)).save(tmp_path / "rgb.png")
    notes = []
    out = load_images(tmp_path / "rgb.png", image_size=28, channels=1, what="--image",
                      notify=notes.append)
    assert out.shape == (1, 28, 28, 1) and out.dtype == np.uint8 and out.min() == 200
    assert notes == [f"note: {tmp_path / 'rgb.png'}: converting images (RGB 40x56) to grey "
                     f"28x28 (centre crop, resize)"]


def test_bad_inputs_name_the_path_and_the_fix(tmp_path):
    load = lambda p: load_images(p, image_size=28, channels=1, what="--image")  # noqa: E731
    with pytest.raises(FileNotFoundError, match=r"--image='.*nope.png' does not exist; pass "
                                                 r"a \.png/\.jpg image, a folder of them, or "
                                                 r"an \.npz"):
        load(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ValueError, match="cannot decode image .*bad.png"):
        load(tmp_path / "bad.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .png/.jpg/.jpeg images found under .*; point "
                                         "--image at a folder that holds some"):
        load(tmp_path / "empty")
    np.savez(tmp_path / "f.npz", images=np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match="dtype float32, expected uint8"):
        load(tmp_path / "f.npz")
