"""Super-resolution at the edges: low-resolution inputs checked against the model's sizes
(files, folders, arrays), channel conversion with a note, the comparison grid rows."""
import numpy as np
import pytest
from PIL import Image

from conftest import smoke_config
from jaxgen import super_resolution as sr


@pytest.fixture(scope="module")
def config():
    return smoke_config("sr3_fmnist")              # x4: 7x7 -> 28x28, grey


def test_config_variants():
    assert smoke_config("sr3_fmnist:x2").sr.factor == 2
    assert smoke_config("sr3_fmnist:demo_regression").sr.objective == "regression"
    assert smoke_config("sr3_fmnist:smoke_dit").model.arch == "dit"
    with pytest.raises(ValueError, match="unknown variant 'x3'"):
        smoke_config("sr3_fmnist:x3")


def test_larger_input_names_both_sizes(config, tmp_path):
    with pytest.raises(ValueError, match="images of 28x28 given, but this model upsamples x4 "
                                         "from 7x7 to 28x28"):
        sr.low_res_inputs(np.zeros((2, 28, 28), np.uint8), config)
    Image.fromarray(np.zeros((14, 14), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="--image: images of 14x14 given"):
        sr.low_res_inputs(tmp_path / "a.png", config)


def test_other_channels_converted_with_a_note(config, tmp_path):
    notes = []
    rgb = np.zeros((3, 7, 7, 3), np.uint8)
    rgb[..., 0] = 255
    out = sr.low_res_inputs(rgb, config, notify=notes.append)
    assert out.shape == (3, 7, 7, 1) and out.dtype == np.uint8 and out.max() > 0
    assert "converting" in notes[0]
    Image.fromarray(rgb[0]).save(tmp_path / "b.png")
    assert sr.low_res_inputs(tmp_path, config, notify=notes.append).shape == (1, 7, 7, 1)


def test_ground_truth_is_box_averaged(config):
    truth = np.zeros((2, 28, 28, 1), np.uint8)
    truth[:, :4, :4] = 255                                      # one bright 4x4 block
    lr, kept = sr.inputs_and_truth(config, ground_truth=truth)
    assert lr.shape == (2, 7, 7, 1) and lr[0, 0, 0, 0] == 255 and lr[0, 1:].max() == 0
    np.testing.assert_array_equal(kept, truth)
    with pytest.raises(ValueError, match="--image has 1 images but --ground_truth 2"):
        sr.inputs_and_truth(config, image=lr[:1], ground_truth=truth)


def test_not_a_super_resolution_workdir():
    with pytest.raises(ValueError, match="needs a super-resolution workdir"):
        sr.factor_of(smoke_config())


def test_comparison_rows():
    lr = np.full((3, 7, 7, 1), 100, np.uint8)
    out = np.full((3, 28, 28, 1), 7, np.uint8)
    tiles, ncols = sr.comparison_tiles(lr, out, 4, truth=out, ncols=2)
    assert ncols == 2 and tiles.shape == (16, 28, 28, 1)       # 2 groups x 4 rows x 2
    assert np.all(tiles[:2] == 100) and np.all(tiles[2:4] == 100) and np.all(tiles[4:6] == 7)
