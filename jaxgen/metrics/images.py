"""Image sets for the metrics CLI: an .npz (`images`, uint8 NHW or NHWC) or a folder of
PNG / JPEG files, brought to the feature net's input, uint8 (N, 28, 28, 1)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from jaxgen.data.dataset import conform, conform_pil
from jaxgen.data.folder import list_images
from jaxgen.data.npz import check_images, read_npz_images
from jaxgen.metrics.feature_net import IMAGE_SHAPE


def to_feature_input(images: np.ndarray, what: str, notify=print) -> np.ndarray:
    """uint8 (N, H, W[, C]), C in {1, 3} -> uint8 (N, 28, 28, 1). Other sizes are centre-
    cropped to a square and resized, RGB becomes grey (ITU-R 601 luma); `notify` says so."""
    images = check_images(images, what)
    if images.shape[1:] != IMAGE_SHAPE:
        notify(f"note: {what}: converting {images.shape[1:]} images to grey 28x28 (centre "
               f"crop, resize), the feature net's input (it was trained on Fashion-MNIST)")
        images = conform(images, IMAGE_SHAPE[0], IMAGE_SHAPE[2])
    return images


def read_folder_images(root: Path, notify=print) -> np.ndarray:
    """Every .png/.jpg/.jpeg under `root`, in sorted path order -> uint8 (N, 28, 28, 1);
    `notify` says when some had to be converted (grey, centre crop, resize)."""
    images, kinds = [], set()
    for file in list_images(root):
        try:
            with Image.open(file) as image:
                kinds.add(f"{image.mode} {image.size[0]}x{image.size[1]}")
                images.append(conform_pil(image, IMAGE_SHAPE[0], IMAGE_SHAPE[2]))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise ValueError(f"cannot decode image {file} ({type(e).__name__}: {e}); remove "
                             f"or replace it") from None
    if kinds != {"L 28x28"}:
        notify(f"note: {root}: converting images ({', '.join(sorted(kinds)[:3])}) to grey "
               f"28x28 (centre crop, resize), the feature net's input")
    return np.stack(images)


def load_images(path, what: str = "images", notify=print) -> np.ndarray:
    """An .npz file or an image folder -> uint8 (N, 28, 28, 1)."""
    path = Path(path).expanduser()
    if path.is_dir():
        return read_folder_images(path, notify)
    if not path.is_file():
        raise FileNotFoundError(f"{what}={str(path)!r} does not exist; pass an .npz file "
                                f"(key 'images') or a folder of .png/.jpg images")
    return to_feature_input(read_npz_images(path), f"{what} {path}", notify)
