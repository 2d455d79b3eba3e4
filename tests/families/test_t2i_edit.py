"""Text-guided editing (slow: trains a smoke text-to-image model): img2img with a prompt reaches
the denoiser, through `jaxgen.load(...).img2img(..., prompts=[...])` and through
`sample.py --mode img2img --prompt ...`, which give the same images."""
import numpy as np
import pytest
from PIL import Image

import jaxgen
from conftest import smoke_config
from jaxgen.train import run

pytestmark = pytest.mark.slow
EDIT = dict(strength=0.9, seed=3, sampler="ddim", steps=4)


@pytest.fixture(scope="module")
def t2i(tmp_path_factory):
    """A t2i_compose:smoke workdir trained for 6 steps (its zero-initialised output layers are
    non-zero from step 3 on, so the prompt can change the denoiser's output) and 2 inputs."""
    path = tmp_path_factory.mktemp("t2i")
    run(smoke_config("t2i_compose", **{"train.steps": 6, "optim.warmup_steps": 0}), path)
    g = jaxgen.load(path)
    return path, g, np.asarray(g.dataset.images[:2])


def _edit(g, images, prompt):
    return g.img2img(images, prompts=[prompt], **EDIT)


def test_the_prompt_changes_the_edit_and_the_same_prompt_repeats_it(t2i):
    _, g, images = t2i
    red, sandals, empty = (_edit(g, images, p) for p in ("a red bag", "two blue sandals", ""))
    assert red.shape == images.shape and red.dtype == np.uint8
    np.testing.assert_array_equal(red, _edit(g, images, "a red bag"))
    for other in (sandals, empty):       # another prompt, or none, gives another image
        diff = np.abs(red.astype(int) - other.astype(int))
        assert diff.max() > 0 and all(d.any() for d in diff), "a prompt did not reach the model"


def test_sample_script_img2img_prompt_matches_the_api(t2i, tmp_path, capsys):
    import sample
    workdir, g, images = t2i
    np.savez(tmp_path / "in.npz", images=images)
    args = [f"--workdir={workdir}", "--mode=img2img", f"--image={tmp_path / 'in.npz'}",
            f"--strength={EDIT['strength']}", f"--seed={EDIT['seed']}",
            f"--sampler={EDIT['sampler']}", f"--steps={EDIT['steps']}", "--num=2"]
    for prompt in ("a red bag", "two blue sandals"):
        out = tmp_path / prompt.replace(" ", "_")
        sample.main(args + [f"--prompt={prompt}", f"--out_dir={out}"])
        got = np.stack([np.asarray(Image.open(p)) for p in sorted(out.glob("*.png"))])
        np.testing.assert_array_equal(got, _edit(g, images, prompt))
    assert "img2img: sampler=ddim, steps=4" in capsys.readouterr().out
