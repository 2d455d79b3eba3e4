"""Images given by path at the edges (sample.py --image, the metrics CLI): a PNG / JPEG file,
a folder of them (recursive, sorted path order), or an .npz (`images`, uint8 NHW or NHWC),
brought to uint8 (N, S, S, C) by the one conversion of `dataset.conform` (centre crop,
resize, grey <-> RGB), with a printed note when anything is converted."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from jaxgen.data.dataset import conform, conform_pil
from jaxgen.data.folder import IMAGE_SUFFIXES, list_images
from jaxgen.data.npz import check_images, read_npz_images

_MODE_NAMES = {1: "grey", 3: "RGB"}
SOURCES_HELP = "a .png/.jpg image, a folder of them, or an .npz file (key 'images')"


def target_name(image_size: int, channels: int) -> str:
    """e.g. 'grey 28x28'."""
    return f"{_MODE_NAMES[channels]} {image_size}x{image_size}"


def decode_file(file: Path, image_size: int, channels: int) -> tuple[np.ndarray, str]:
    """(uint8 (S, S, C), what it was, e.g. 'RGB 56x56'); a corrupt file is a ValueError."""
    try:
        with Image.open(file) as image:
            image.load()  # truncated files only fail here, not on open
            kind = f"{image.mode} {image.size[0]}x{image.size[1]}"
            return conform_pil(image, image_size, channels), kind
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"cannot decode image {file} ({type(e).__name__}: {e}); remove "
                         f"or replace it") from None


def read_files(files: list[Path], where, image_size: int, channels: int, notify=print,
               reason: str = "") -> np.ndarray:
    """Decodes `files` -> uint8 (N, S, S, C); `notify` says when some had to be converted."""
    images, kinds = zip(*(decode_file(f, image_size, channels) for f in files))
    native = {"L" if channels == 1 else "RGB"}
    if {k.split()[0] for k in kinds} != native or any(
            k.split()[1] != f"{image_size}x{image_size}" for k in kinds):
        notify(f"note: {where}: converting images ({', '.join(sorted(set(kinds))[:3])}) to "
               f"{target_name(image_size, channels)} (centre crop, resize){reason}")
    return np.stack(images)


def conform_array(images: np.ndarray, what: str, image_size: int, channels: int,
                  notify=print, reason: str = "") -> np.ndarray:
    """uint8 (N, H, W[, C]), C in {1, 3} (checked) -> uint8 (N, S, S, C), with a note if
    converted."""
    images = check_images(images, what)
    if images.shape[1:] != (image_size, image_size, channels):
        notify(f"note: {what}: converting {images.shape[1:]} images to "
               f"{target_name(image_size, channels)} (centre crop, resize){reason}")
        images = conform(images, image_size, channels)
    return images


def load_images(path, *, image_size: int, channels: int, what: str = "images",
                notify=print, reason: str = "") -> np.ndarray:
    """An image file, a folder of images or an .npz -> uint8 (N, image_size, image_size,
    channels). `what` names the argument in errors and notes (e.g. '--image')."""
    path = Path(path).expanduser()
    if path.is_dir():
        return read_files(list_images(path, flag=what), path, image_size, channels, notify,
                          reason)
    if not path.is_file():
        raise FileNotFoundError(f"{what}={str(path)!r} does not exist; pass {SOURCES_HELP}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return read_files([path], path, image_size, channels, notify, reason)
    return conform_array(read_npz_images(path), f"{what} {path}", image_size, channels,
                         notify, reason)
