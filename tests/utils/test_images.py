import numpy as np
from PIL import Image

from jaxgen.utils.images import make_grid, save_each, save_grid, to_uint8


def test_to_uint8_endpoints_and_clipping():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 3.0], np.float32)
    np.testing.assert_array_equal(to_uint8(x), [0, 0, 128, 255, 255])


def test_grid_layout():
    imgs = np.stack([np.full((2, 3, 1), i, np.uint8) for i in range(5)])
    g = make_grid(imgs, ncols=3, pad=1)
    assert g.shape == (2 * 3 + 1, 3 * 4 + 1, 1)
    assert g[1, 1, 0] == 0 and g[1, 5, 0] == 1 and g[4, 1, 0] == 3
    assert g[4, 9, 0] == 0  # the sixth slot is empty


def test_save_grid_and_each(tmp_path):
    imgs = np.random.default_rng(0).uniform(-1, 1, (4, 5, 5, 3)).astype(np.float32)
    path = save_grid(tmp_path / "g.png", imgs, ncols=2, scale=2)
    assert Image.open(path).size == ((2 * 7 + 2) * 2, (2 * 7 + 2) * 2)
    paths = save_each(tmp_path / "each", imgs)
    assert len(paths) == 4
    np.testing.assert_array_equal(np.asarray(Image.open(paths[1])), to_uint8(imgs[1]))


def test_one_to_uint8_for_data_and_images():
    import jaxgen.data
    assert jaxgen.data.to_uint8 is to_uint8
    assert to_uint8(np.array([np.nan, -np.inf, np.inf, 0.5])).tolist() == [0, 0, 255, 191]
