"""The Python API for scripted sampling:

    import jaxgen
    g = jaxgen.load("runs/demo")                       # or "runs/demo/checkpoints/1500"
    images = g.sample(16, sampler="dpmpp_2m", steps=10, seed=0)   # uint8 (16, 28, 28, 1)
    g.config.model.ch, g.step, g.info(sampler="heun", steps=10)  # {"nfe": 19, ...}
    edited = g.img2img(images, strength=0.6)           # SDEdit (diffusion workdirs)
    filled = g.inpaint(images, "left_half")            # RePaint; known pixels kept exactly
    big = jaxgen.load("runs/sr3_demo").super_resolve(small)   # SR3: 7x7 -> 28x28
    jaxgen.load("runs/t2i_demo").sample(8, prompts=["a red bag"], guidance=3)   # text-to-image

Only what sampling reads is restored (parameters / EMA, not the optimiser moments).
"""
from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from jaxgen import editing, sampling
from jaxgen.utils.images import to_uint8


class Generator:
    """A trained model ready to sample: `config`, `family`, `step`, the test split `dataset`."""

    def __init__(self, config, family, state, step: int, dataset, workdir: Path):
        self.config, self.family, self.state = config, family, state
        self.step, self.dataset, self.workdir = int(step), dataset, workdir

    def sample(self, num: int = 16, *, seed: int = 0, mode: str = "generate",
               **options) -> np.ndarray:
        """uint8 (num, H, W, C) images; same seed and options, same images. `options` are the
        family's (`family.sample_options`: sampler, steps, spacing, guidance, labels, prompts (a
        text-to-image model's, repeated to num), eta, ...);
        `mode` a family's extra mode (VAE: "reconstruct", "interpolate")."""
        if num < 1:
            raise ValueError(f"num={num} must be >= 1")
        images = sampling.generate(self.family, self.state, mode=mode, seed=seed, num=num,
                                   dataset=self.dataset, options=options)
        return to_uint8(jax.device_get(images))

    def img2img(self, images, strength: float = 0.6, *, seed: int = 0,
                **options) -> np.ndarray:
        """SDEdit: uint8 (N, H, W, C) edits of `images` (a uint8 array (N, H, W[, C]), or a
        PNG / folder / .npz path; resized to the model's size with a note) at `strength` in
        [0, 1]: 0 returns the inputs, 1 ignores them. `options` as in `sample`."""
        x = editing.inputs(images, self.config, what="images")
        return editing.run_task(self.family, self.state, "img2img", x, seed=seed,
                                strength=strength, **options)

    def inpaint(self, images, mask="box", *, seed: int = 0, **options) -> np.ndarray:
        """RePaint: uint8 (N, H, W, C) with the `mask` region (True / white = fill) generated
        and every other pixel equal to the input. mask: "box", "left_half", "random_strokes"
        (drawn from `seed`), a PNG path, or an array (N or 1, H, W[, 1]). Options: `sample`'s
        plus jump_length and resample (defaults 10, 10); sampler one of ddpm, ddim, euler,
        heun."""
        x = editing.inputs(images, self.config, what="images")
        fill = editing.mask_for(mask, x, seed)
        return editing.run_task(self.family, self.state, "inpaint", x, seed=seed, mask=fill,
                                **options)

    def super_resolve(self, images, *, seed: int = 0, **options) -> np.ndarray:
        """Super-resolution (a workdir trained with configs/sr3_fmnist.py): uint8 (N, S, S, C)
        upscaled `images` (uint8 (N, s, s[, C]) at the model's low resolution s = S / factor,
        or a PNG / folder / .npz path). `options` as in `sample` (sampler, steps, ...)."""
        from jaxgen import super_resolution
        x = super_resolution.low_res_inputs(images, self.config, what="images")
        return super_resolution.run(self.family, self.state, x, seed=seed, **options)

    def info(self, **options) -> dict:
        """What `sample(**options)` would run, e.g. {"sampler", "steps", "spacing", "nfe"}."""
        return self.family.sample_info(**options) if self.family.sample_info else {}

    def __repr__(self) -> str:
        return (f"Generator({self.config.family}, step {self.step:,}, "
                f"workdir {str(self.workdir)!r})")


def load(path=None, *, checkpoint=None) -> Generator:
    """A workdir (its newest readable checkpoint) or a WORKDIR/checkpoints/STEP folder, given
    as `path` or as `checkpoint=`."""
    if path is not None and checkpoint is None:
        path = Path(path)
        if path.name.isdigit() and path.parent.name == "checkpoints":
            path, checkpoint = None, path
    config, family, state, step, dataset = sampling.load(path, checkpoint, inference=True)
    workdir = sampling.resolve(path, checkpoint)[0]
    return Generator(config, family, state, step, dataset, workdir)
