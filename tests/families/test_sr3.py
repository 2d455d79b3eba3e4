"""SR3 and its regression twin end to end (slow): smoke training of configs/sr3_fmnist.py (U-Net
diffusion, regression, DiT), `jaxgen.load(...).super_resolve` and sample.py --mode super_resolve
on the trained workdir, with and without the data-consistency projection (`lr_consistency`)."""

import numpy as np
import pytest
from PIL import Image

import jax.numpy as jnp

import jaxgen
from conftest import load_script, smoke_config
from jaxgen import super_resolution as sr
from jaxgen.data import from_uint8
from jaxgen.diffusion.sr import downsample
from jaxgen.train import run

FAST = dict(sampler="ddim", steps=3)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("sr3")
    run(smoke_config("sr3_fmnist", **{"train.steps": 4}), path)
    return path


@pytest.mark.parametrize("variant", ["smoke_regression", "smoke_dit"])
def test_smoke_training_of_the_variants(variant, tmp_path):
    loop = run(smoke_config(f"sr3_fmnist:{variant}", **{"train.steps": 4}), tmp_path)
    assert int(loop.state["step"]) == 4
    out = jaxgen.load(tmp_path).super_resolve(np.zeros((2, 7, 7, 1), np.uint8), **FAST)
    assert out.shape == (2, 28, 28, 1) and out.dtype == np.uint8


def _levels_off(hr: np.ndarray, lr: np.ndarray) -> float:
    """Largest |box average of uint8 hr - uint8 lr| in 8-bit levels (float, no rounding)."""
    down = downsample(jnp.asarray(from_uint8(hr)), len(hr[0]) // len(lr[0]))
    return float(np.max(np.abs(np.asarray(down) - from_uint8(lr)))) * 127.5


def test_lr_consistency_makes_results_average_back_to_the_input(workdir):
    g = jaxgen.load(workdir)
    lr = sr.downsample_uint8(np.asarray(g.dataset.images[:4]), 4)
    free = g.super_resolve(lr, seed=2, **FAST)
    held = g.super_resolve(lr, seed=2, lr_consistency=True, **FAST)
    assert _levels_off(free, lr) > 5            # a 4-step model: far from its input
    assert _levels_off(held, lr) <= 0.5         # the uint8 rounding of the result only
    assert g.family.tasks["super_resolve"].info(lr_consistency=True, **FAST)["lr_consistency"]


def test_super_resolve_api(workdir):
    g = jaxgen.load(workdir)
    lr = np.asarray(g.dataset.images[:2])[:, ::4, ::4]          # any 7x7 images
    out = g.super_resolve(lr, seed=1, **FAST)
    assert out.shape == (2, 28, 28, 1) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, g.super_resolve(lr, seed=1, **FAST))
    assert g.family.tasks["super_resolve"].info(**FAST) == dict(sampler="ddim", steps=3,
                                                                spacing="karras", nfe=3,
                                                                factor=4)
    with pytest.raises(ValueError, match="images of 28x28 given"):
        g.super_resolve(np.asarray(g.dataset.images[:2]))
    with pytest.raises(ValueError, match="image-conditioned"):
        g.super_resolve(lr, guidance=2.0)


def test_sample_script_super_resolve(workdir, tmp_path, capsys):
    module = load_script("sample.py")
    truth = np.asarray(jaxgen.load(workdir).dataset.images[:3])
    np.savez(tmp_path / "hr.npz", images=truth)
    module.main([f"--workdir={workdir}", "--mode=super_resolve",
                 f"--ground_truth={tmp_path / 'hr.npz'}", "--sampler=ddim", "--steps=3",
                 "--scale=1", f"--out={tmp_path / 'g.png'}", f"--out_dir={tmp_path / 'res'}"])
    assert "super_resolve: sampler=ddim, steps=3" in capsys.readouterr().out
    grid = np.asarray(Image.open(tmp_path / "g.png"))
    assert grid.shape == (4 * 30 + 2, 3 * 30 + 2)           # LR / bicubic / SR / truth
    np.testing.assert_array_equal(grid[3 * 30 + 2:4 * 30, 2:30], truth[0, ..., 0])
    assert len(list((tmp_path / "res").glob("*.png"))) == 3
    Image.fromarray(truth[0, ..., 0]).save(tmp_path / "big.png")
    module.main([f"--workdir={workdir}", "--mode=super_resolve", "--lr_consistency",
                 f"--ground_truth={tmp_path / 'hr.npz'}", "--sampler=ddim", "--steps=3",
                 f"--out_dir={tmp_path / 'held'}"])
    assert "lr_consistency=True" in capsys.readouterr().out
    held = np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / "held").glob("*"))])
    assert _levels_off(held[..., None], sr.downsample_uint8(truth, 4)) <= 0.5
    with pytest.raises(SystemExit, match="images of 28x28 given, but this model upsamples x4"):
        module.main([f"--workdir={workdir}", "--mode=super_resolve",
                     f"--image={tmp_path / 'big.png'}", f"--out={tmp_path / 'x.png'}"])
