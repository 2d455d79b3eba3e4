"""Image I/O at the library's edge: float [-1, 1] NHWC <-> uint8 PNG files and grids."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def to_uint8(images) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], any shape (numpy or jax array). Values outside
    [-1, 1] are clipped; NaN becomes 0 (black). Rounds half to even. The one such
    conversion in jaxgen (jaxgen.data re-exports it)."""
    x = np.clip(np.nan_to_num(np.asarray(images, np.float32), nan=-1.0), -1.0, 1.0)
    return np.rint((x + 1.0) * 127.5).astype(np.uint8)


def as_uint8(images) -> np.ndarray:
    """uint8 images unchanged; float [-1, 1] ones through `to_uint8`."""
    images = np.asarray(images)
    return images if images.dtype == np.uint8 else to_uint8(images)


def make_grid(images: np.ndarray, ncols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tiles uint8 (N, H, W, C) into one (rows*(H+pad)+pad, cols*(W+pad)+pad, C) image."""
    n, h, w, c = images.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    grid = np.zeros((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), np.uint8)
    for i, img in enumerate(images):
        r, col = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = img
    return grid


def save_png(path, image: np.ndarray) -> Path:
    """Writes uint8 (H, W, 1|3) to `path`, creating folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
    return path


def save_grid(path, images, ncols: int | None = None, scale: int = 1) -> Path:
    """float [-1, 1] or uint8 (N, H, W, C) -> a tiled PNG, upscaled `scale`x (nearest)."""
    grid = make_grid(as_uint8(images), ncols)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    return save_png(path, grid)


def save_captioned_grid(path, images, captions, ncols: int, scale: int = 1) -> Path:
    """One grid row of `ncols` images per caption, each row followed by a strip with its
    caption in PIL's default font (RGB; cut at the grid's width)."""
    images = as_uint8(images)
    rows = []
    for r, caption in enumerate(captions):
        row = make_grid(images[r * ncols:(r + 1) * ncols], ncols)
        row = np.broadcast_to(row, row.shape[:2] + (3,)).repeat(scale, 0).repeat(scale, 1)
        strip = Image.new("RGB", (row.shape[1], 14), (255, 255, 255))
        ImageDraw.Draw(strip).text((2, 1), caption or '"" (unconditional)', fill=(0, 0, 0),
                                   font=ImageFont.load_default())
        rows += [row, np.asarray(strip)]
    return save_png(path, np.concatenate(rows, axis=0))


def save_each(out_dir, images, prefix: str = "sample") -> list[Path]:
    """One PNG per image: out_dir/sample_00000.png, ..."""
    return [save_png(Path(out_dir) / f"{prefix}_{i:05d}.png", img)
            for i, img in enumerate(as_uint8(images))]
