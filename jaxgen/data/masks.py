"""Inpainting masks: bool (N, S, S, 1), True = fill (generate), False = keep.

Built in: `box` (the centre square of half the side), `left_half` (columns [0, S/2)) and
`random_strokes` (2-4 thick random polylines per image, seeded: image i's strokes come from
(seed, i)). A PNG mask is white = fill, black = keep (grey > 127 counts as white).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

MASKS = ("box", "left_half", "random_strokes")
MASK_HELP = (f"pass a PNG (white = fill, black = keep) or one of {', '.join(MASKS)}")


def box(size: int) -> np.ndarray:
    """The centre square of side size // 2, bool (size, size)."""
    m, lo = np.zeros((size, size), bool), size // 4
    m[lo:lo + size // 2, lo:lo + size // 2] = True
    return m


def left_half(size: int) -> np.ndarray:
    m = np.zeros((size, size), bool)
    m[:, :size // 2] = True
    return m


def random_strokes(size: int, rng: np.random.Generator) -> np.ndarray:
    """2-4 polylines of 2-4 segments, width ~size/7, bool (size, size); never empty."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    width = max(1, round(size / 7))
    for _ in range(rng.integers(2, 5)):
        points = [tuple(p) for p in rng.uniform(0, size - 1, (rng.integers(3, 6), 2))]
        draw.line(points, fill=255, width=width, joint="curve")
    return np.asarray(canvas) > 127


def builtin_mask(name: str, size: int, num: int, seed: int = 0) -> np.ndarray:
    """`num` masks of a built-in kind, bool (num, size, size, 1)."""
    if name == "random_strokes":
        masks = [random_strokes(size, np.random.default_rng([seed, i])) for i in range(num)]
        return np.stack(masks)[..., None]
    fn = {"box": box, "left_half": left_half}[name]
    return np.broadcast_to(fn(size)[None, :, :, None], (num, size, size, 1))


def read_mask_png(file: Path) -> np.ndarray:
    """A mask image -> bool (H, W), white = fill."""
    try:
        with Image.open(file) as image:
            image.load()
            return np.asarray(image.convert("L")) > 127
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"--mask={str(file)!r} cannot be decoded ({type(e).__name__}: {e}); "
                         f"{MASK_HELP}") from None


def check_mask(mask: np.ndarray, what: str) -> np.ndarray:
    """Each mask must fill some pixels and keep some."""
    for i, m in enumerate(mask):
        if not m.any():
            raise ValueError(f"{what}: mask {i} fills no pixel (all black), so there is nothing "
                             f"to inpaint; paint the region to fill white")
        if m.all():
            raise ValueError(f"{what}: mask {i} fills every pixel (all white), so no pixel is "
                             f"kept; that is plain sampling (--mode=generate), or paint the "
                             f"region to keep black")
    return mask


def file_mask(spec, size: int) -> np.ndarray:
    """A PNG mask of `size` x `size` -> bool (1, size, size, 1)."""
    file = Path(spec).expanduser()
    if not file.is_file():
        raise ValueError(f"--mask={str(spec)!r} is neither a file nor a built-in mask; "
                         f"{MASK_HELP}")
    mask = read_mask_png(file)
    if mask.shape != (size, size):
        raise ValueError(f"--mask={str(spec)!r} is {mask.shape[1]}x{mask.shape[0]} but the "
                         f"images are {size}x{size} (the model's size, to which inputs are "
                         f"resized); pass a {size}x{size} mask, white = fill")
    return mask[None, :, :, None]


def array_mask(spec, size: int, num: int) -> np.ndarray:
    """An array (H, W) or (N or 1, H, W[, 1]), nonzero = fill -> bool (N or 1, H, W, 1)."""
    mask = np.asarray(spec) != 0
    mask = mask[None] if mask.ndim == 2 else mask
    mask = mask[..., None] if mask.ndim == 3 else mask
    if mask.ndim != 4 or mask.shape[1:] != (size, size, 1) or len(mask) not in (1, num):
        raise ValueError(f"mask has shape {np.shape(spec)}; expected ({size}, {size}), "
                         f"(1 or {num}, {size}, {size}) or (1 or {num}, {size}, {size}, 1), "
                         f"nonzero = fill")
    return mask


def load_mask(spec, *, size: int, num: int, seed: int = 0) -> np.ndarray:
    """A built-in name, a PNG path or an array -> bool (num, size, size, 1), True = fill. A
    file or array must be size x size (the model's images)."""
    if isinstance(spec, str) and spec in MASKS:
        return check_mask(builtin_mask(spec, size, num, seed), f"--mask={spec}")
    if isinstance(spec, (str, Path)):
        mask, what = file_mask(spec, size), f"--mask={str(spec)!r}"
    else:
        mask, what = array_mask(spec, size, num), "mask"
    return check_mask(np.broadcast_to(mask, (num, size, size, 1)), what)
