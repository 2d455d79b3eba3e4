"""Super-resolution at the edges: low-resolution inputs in, uint8 upscaled images and grids out.

    low_res_inputs("in.png" | folder | .npz | uint8 array, config)   uint8 (N, s, s, C)
    downsample_uint8(hr, factor)             uint8 (N, s, s, C): the model's box average
    run(family, state, lr, seed=0)           uint8 (N, S, S, C), S = s * factor
    comparison_tiles(lr, sr, factor, truth)  tiles for save_grid: rows LR (nearest) / bicubic /
                                             SR (/ ground truth)

A super-resolution workdir has `config.sr`; inputs must be exactly its low resolution
(image_size / sr.factor); other channel counts are converted with a note.
"""
from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from jaxgen import editing
from jaxgen.data import from_uint8
from jaxgen.data.folder import IMAGE_SUFFIXES, list_images
from jaxgen.data.image_files import conform_array, load_images
from jaxgen.data.npz import check_images, read_npz_images
from jaxgen.diffusion.sr import downsample, upsample
from jaxgen.utils.images import to_uint8


def factor_of(config) -> int:
    """The workdir's upsampling factor; a workdir without `config.sr` is a ValueError."""
    if "sr" not in config:
        raise ValueError("--mode=super_resolve needs a super-resolution workdir (its config has "
                         "no sr section); train one: python train.py "
                         "--config=configs/sr3_fmnist.py:demo --workdir=runs/sr3_demo")
    return int(config.sr.factor)


def _sizes(source) -> set[tuple[int, int]]:
    """The (H, W) sizes of the images in an array, an image file, a folder or an .npz."""
    if isinstance(source, (np.ndarray, jax.Array)):
        return {tuple(check_images(np.asarray(source), "images").shape[1:3])}
    path = Path(source).expanduser()
    if path.is_file() and path.suffix.lower() not in IMAGE_SUFFIXES:
        return {tuple(read_npz_images(path).shape[1:3])}
    files = list_images(path, flag="--image") if path.is_dir() else [path]
    sizes = set()
    for f in files if path.exists() else []:
        with Image.open(f) as image:
            sizes.add(image.size[::-1])
    return sizes


def low_res_inputs(source, config, *, what: str = "--image", notify=print) -> np.ndarray:
    """uint8 (N, s, s, C), s = image_size / sr.factor, from a path or a uint8 array (N, s, s[,
    C]). An image of another size is a ValueError naming both sizes."""
    size, factor = config.data.image_size, factor_of(config)
    low = size // factor
    wrong = sorted(hw for hw in _sizes(source) if hw != (low, low))
    if wrong:
        h, w = wrong[-1]
        raise ValueError(f"{what}: images of {h}x{w} given, but this model upsamples x{factor} "
                         f"from {low}x{low} to {size}x{size}; pass {low}x{low} images, or "
                         f"give {size}x{size} images as the ground truth to upscale their "
                         f"box-averaged {low}x{low} versions")
    if isinstance(source, (np.ndarray, jax.Array)):
        return conform_array(np.asarray(source), what, low, config.data.channels, notify)
    return load_images(source, image_size=low, channels=config.data.channels, what=what,
                       notify=notify)


def downsample_uint8(images: np.ndarray, factor: int) -> np.ndarray:
    """uint8 (N, S, S, C) -> uint8 (N, S/f, S/f, C): the box average the model was trained on."""
    return to_uint8(downsample(jnp.asarray(from_uint8(images)), factor))


def run(family, state, images: np.ndarray, *, seed: int = 0, **options) -> np.ndarray:
    """uint8 (N, S, S, C) super-resolved versions of uint8 low-resolution `images`."""
    return editing.run_task(family, state, "super_resolve", images, seed=seed, **options)


def comparison_tiles(lr: np.ndarray, sr: np.ndarray, factor: int,
                     truth: np.ndarray | None = None, ncols: int = 8):
    """(uint8 tiles, columns) for `save_grid`: per group of `ncols` images the rows LR
    (nearest-upsampled), bicubic, SR and, when given, the ground truth."""
    x = jnp.asarray(from_uint8(lr))
    rows = [to_uint8(upsample(x, factor, "nearest")), to_uint8(upsample(x, factor)), sr]
    return editing.row_tiles(rows + ([] if truth is None else [truth]), ncols)


def inputs_and_truth(config, image=None, ground_truth=None, num: int | None = None,
                     notify=print) -> tuple[np.ndarray, np.ndarray | None]:
    """(uint8 low-resolution inputs (N, s, s, C), uint8 ground truth (N, S, S, C) or None):
    `image` as given, else the box-averaged `ground_truth`; the first `num` of each."""
    if image is None and ground_truth is None:
        raise ValueError("super-resolution needs --image (low-resolution PNG, folder or .npz) "
                         "and/or --ground_truth (full-size images to downsample and compare)")
    truth = None if ground_truth is None else editing.inputs(
        ground_truth, config, what="--ground_truth", notify=notify)[:num]
    lr = downsample_uint8(truth, factor_of(config)) if image is None else low_res_inputs(
        image, config, notify=notify)[:num]
    if truth is not None and len(truth) != len(lr):
        raise ValueError(f"--image has {len(lr)} images but --ground_truth {len(truth)}; give "
                         f"as many of each (or only --ground_truth)")
    return lr, truth
