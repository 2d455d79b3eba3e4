"""Image-to-image tasks at the edge: input images and masks in, uint8 results and grids out.

    inputs(path or uint8 array, config)          uint8 (N, S, S, C) at the model's size
    mask_for("box" | "m.png" | array, images, seed)   bool (N, S, S, 1), True = fill
    run_task(family, state, "inpaint", images, seed=0, mask=fill)   uint8 (N, S, S, C)
    task_tiles(images, results, fill)            tiles for save_grid: rows input / masked / result
    row_tiles([row0, row1, ...])                 the same for any rows of equal length
"""
from __future__ import annotations

import jax
import numpy as np

from jaxgen.data import from_uint8
from jaxgen.data.image_files import conform_array, load_images
from jaxgen.data.masks import load_mask
from jaxgen.utils.images import to_uint8

MASK_GREY = 128   # what the masked-input row shows where the mask fills


def inputs(source, config, *, what: str = "--image", notify=print) -> np.ndarray:
    """An image file, a folder, an .npz, or a uint8 array (N, H, W[, C]) -> uint8 (N, S, S,
    C) at config.data's image_size and channels (converted with a note when they differ)."""
    size, channels = config.data.image_size, config.data.channels
    if isinstance(source, (np.ndarray, jax.Array)):
        return conform_array(np.asarray(source), what, size, channels, notify)
    return load_images(source, image_size=size, channels=channels, what=what, notify=notify)


def task_of(family, name: str):
    if name not in family.tasks:
        kinds = sorted(family.tasks) or "none"
        raise ValueError(f"--mode={name} is not available for this workdir's family (its image-"
                         f"to-image tasks: {kinds}); use a diffusion workdir")
    return family.tasks[name]


def run_task(family, state, name: str, images: np.ndarray, *, seed: int = 0,
             **options) -> np.ndarray:
    """uint8 (N, S, S, C) results of task `name` on uint8 `images` (N, S, S, C)."""
    task = task_of(family, name)
    out = task.run(state, from_uint8(images), rng=jax.random.PRNGKey(seed), **options)
    return to_uint8(jax.device_get(out))


def mask_for(spec, images: np.ndarray, seed: int = 0) -> np.ndarray:
    """The inpainting mask of uint8 `images` (N, S, S, C): bool (N, S, S, 1), True = fill,
    from a built-in name (random_strokes drawn from `seed`), a PNG path or an array."""
    return load_mask(spec, size=images.shape[1], num=len(images), seed=seed)


def masked(images: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """The inputs with the region to fill painted grey, uint8 (N, S, S, C)."""
    return np.where(fill, np.uint8(MASK_GREY), images)


def task_tiles(images: np.ndarray, results: np.ndarray, fill: np.ndarray | None = None,
               ncols: int = 8) -> tuple[np.ndarray, int]:
    """(uint8 tiles (M, S, S, C), columns) for `save_grid`: for each group of `ncols` images a
    row of inputs, (a row of masked inputs,) and a row of results; short rows padded black."""
    rows = [images] + ([] if fill is None else [masked(images, fill)]) + [results]
    return row_tiles(rows, ncols)


def row_tiles(rows: list[np.ndarray], ncols: int = 8) -> tuple[np.ndarray, int]:
    """(uint8 tiles (M, S, S, C), columns) for `save_grid`: `rows` (each uint8 (N, S, S, C))
    interleaved, one row of each per group of `ncols` images; short rows padded black."""
    images = rows[0]
    ncols = min(ncols, len(images))
    tiles = []
    for lo in range(0, len(images), ncols):
        for row in rows:
            chunk = row[lo:lo + ncols]
            pad = np.zeros((ncols - len(chunk), *chunk.shape[1:]), np.uint8)
            tiles.append(np.concatenate([chunk, pad]))
    return np.concatenate(tiles), ncols
