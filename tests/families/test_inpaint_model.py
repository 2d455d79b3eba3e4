"""The mask-conditioned inpainting model end to end (slow): smoke training of
configs/inpaint_fmnist.py, `jaxgen.load(...).inpaint` with samplers of the registry and
sample.py --mode inpaint on the trained workdir: known pixels kept exactly, bad input named."""

import numpy as np
import pytest
from PIL import Image

import jaxgen
from conftest import smoke_config
from jaxgen.train import run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("inpaint")
    run(smoke_config("inpaint_fmnist", **{"train.steps": 4}), path)
    return path


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp_2m"])
def test_known_pixels_kept_exactly(workdir, sampler):
    g = jaxgen.load(workdir)
    images = np.asarray(g.dataset.images[:3])
    for mask in ("left_half", "box", "random_strokes"):
        fill = jaxgen.editing.mask_for(mask, images, seed=2)[..., 0]
        out = g.inpaint(images, mask, seed=2, sampler=sampler, steps=3)
        assert out.shape == images.shape and out.dtype == np.uint8
        np.testing.assert_array_equal(out[~fill], images[~fill])
        assert np.mean(out[fill] != images[fill]) > 0.5
    np.testing.assert_array_equal(out, g.inpaint(images, mask, seed=2, sampler=sampler,
                                                 steps=3))


def test_bad_inputs(workdir):
    g = jaxgen.load(workdir)
    images = np.asarray(g.dataset.images[:2])
    with pytest.raises(ValueError, match=r"mask has shape \(14, 14\); expected \(28, 28\)"):
        g.inpaint(images, np.ones((14, 14)))
    with pytest.raises(ValueError, match="mask 0 fills every pixel"):
        g.inpaint(images, np.ones((28, 28)))
    with pytest.raises(ValueError, match="mask 0 fills no pixel"):
        g.inpaint(images, np.zeros((28, 28)))
    with pytest.raises(ValueError, match="does not generate images from nothing"):
        g.sample(2)


def test_sample_script_inpaint(workdir, sample_main, tmp_path, capsys):
    truth = np.asarray(jaxgen.load(workdir).dataset.images[:3])
    np.savez(tmp_path / "x.npz", images=truth)
    common = [f"--workdir={workdir}", f"--image={tmp_path / 'x.npz'}", "--mode=inpaint"]
    sample_main([*common, "--mask=left_half", "--scale=1", f"--out={tmp_path / 'g.png'}",
                 f"--out_dir={tmp_path / 'res'}"])
    assert ("inpaint: sampler=dpmpp_2m, steps=5, spacing=karras, nfe=5, "
            "method=mask-conditioned") in capsys.readouterr().out
    results = np.stack([np.asarray(Image.open(f)) for f in sorted((tmp_path / "res").glob("*"))])
    np.testing.assert_array_equal(results[:, :, 14:], truth[:, :, 14:, 0])
    assert Image.open(tmp_path / "g.png").size == (3 * 30 + 2, 3 * 30 + 2)
    Image.fromarray(np.zeros((14, 14), np.uint8)).save(tmp_path / "small.png")
    for flags, message in (([f"--mask={tmp_path / 'small.png'}"], "is 14x14 but the images"),
                           (["--mask=box", "--resample=5"], "resample=5 given, but this"),
                           (["--mode=generate"], "does not generate images from nothing")):
        with pytest.raises(SystemExit, match=message):
            sample_main([*common, *flags, f"--out={tmp_path / 'e.png'}"])
