"""Mask-conditioned inpainting in the diffusion family (`config.inpaint`; Palette, Saharia et al.
2022): the SR3 seam (`models.conditioned.ImageConditioned`, image conditioning) with the masked
image and the mask as the C + 1 condition channels (`jaxgen.diffusion.inpaint_cond`).

config.inpaint = dict(mask_probs=(0.4, 0.3, 0.3),   # mixture over box, half, strokes
                      fill_value=0.0)               # the hole's value in the masked image

The loss is the plain diffusion loss over the whole image: the known pixels are in the
condition, so predicting them is easy and costs little capacity, and the loss keeps the
objective (and the samplers' noise prediction) that of an ordinary denoiser, as in Palette.
Sampling runs any sampler of the registry on the whole image and pastes the known pixels back,
so they equal the input exactly. Plain generation (no input image) is an error.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxgen import config as config_lib
from jaxgen.diffusion.inpaint_cond import TRAIN_MASKS, inpaint_condition, paste
from jaxgen.families.base import Task, sampling_params
from jaxgen.families.conditioning import Conditioning
from jaxgen.models.conditioned import ImageConditioned


@dataclasses.dataclass(frozen=True)
class InpaintConfig:
    """`config.inpaint`: the training mask mixture (probabilities of TRAIN_MASKS: box, half,
    strokes) and the value of the hole's pixels in the masked image."""
    mask_probs: tuple[float, ...] = (0.4, 0.3, 0.3)
    fill_value: float = 0.0

    def __post_init__(self):
        p = np.asarray(self.mask_probs, np.float64)
        if p.shape != (len(TRAIN_MASKS),) or p.min() < 0 or not np.isclose(p.sum(), 1.0):
            raise ValueError(f"config.inpaint.mask_probs={self.mask_probs} must be "
                             f"{len(TRAIN_MASKS)} probabilities of {list(TRAIN_MASKS)} summing "
                             f"to 1, e.g. (0.4, 0.3, 0.3)")
        if not -1.0 <= self.fill_value <= 1.0:
            raise ValueError(f"config.inpaint.fill_value={self.fill_value} must be in [-1, 1] "
                             f"(the images' range; 0 is mid grey)")


def inpaint_settings(config) -> InpaintConfig | None:
    """The checked `config.inpaint` section, or None for a model without one."""
    return config_lib.section(InpaintConfig, config.inpaint, where="inpaint") \
        if "inpaint" in config else None


def build_inpaint_network(config, dataset, denoiser):
    """(ImageConditioned model, inpainting Conditioning, pretrained(params) -> params, frozen)."""
    cfg = inpaint_settings(config)
    if config.model.get("num_classes", 0) or "text" in config or "sr" in config:
        raise ValueError("config.inpaint is set together with model.num_classes, config.text "
                         "or config.sr; a mask-conditioned model is conditioned on the masked "
                         "image only: pass --config.model.num_classes=0, drop the others")
    # default_images: only its shape is read (the null input's); there is no default input
    shape = (1, config.data.image_size, config.data.image_size, config.data.channels)
    cond = Conditioning("image", image_task="inpaint", default_images=np.zeros(shape, np.float32),
                        mask_probs=tuple(float(p) for p in cfg.mask_probs),
                        fill_value=float(cfg.fill_value))
    return ImageConditioned(denoiser), cond, (lambda p: p), ()


def make_model_inpaint(generate, info, cond: Conditioning) -> Task:
    """The "inpaint" Task of a mask-conditioned model: run(state, images float32 (N, H, W, C)
    in [-1, 1], *, rng, mask bool (N or 1, H, W, 1), use_ema=True, **sampler options) ->
    float32 (N, H, W, C), equal to `images` exactly where mask is False."""
    def run(state, images, *, rng, mask, use_ema=True, **options):
        _no_repaint_options(options)
        x0 = jnp.asarray(images, jnp.float32)
        fill = jnp.asarray(np.asarray(mask, bool))
        c = inpaint_condition(x0, fill, cond.fill_value)     # (N, H, W, C + 1)
        out = generate(sampling_params(state, use_ema), rng=rng, num=len(x0), images=c,
                       **options)
        return paste(out, x0, fill)

    def task_info(mask=None, **options) -> dict:
        _no_repaint_options(options)
        return dict(info(**options), method="mask-conditioned")

    return Task(run, task_info)


def _no_repaint_options(options: dict) -> None:
    given = sorted(k for k in ("jump_length", "resample") if options.get(k) is not None)
    if given:
        raise ValueError(f"{given[0]}={options[given[0]]} given, but this workdir is a mask-"
                         f"conditioned inpainting model (config.inpaint), which needs no "
                         f"RePaint resampling; drop --jump_length / --resample")
    for k in ("jump_length", "resample"):
        options.pop(k, None)
