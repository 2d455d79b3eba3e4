"""Image sets for the metrics CLI: an .npz (`images`, uint8 NHW or NHWC) or a folder of
PNG / JPEG files, brought to the feature net's input, uint8 (N, 28, 28, 1)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxgen.data.folder import list_images
from jaxgen.data.image_files import conform_array, load_images as load_any, read_files
from jaxgen.metrics.feature_net import IMAGE_SHAPE

_SIZE, _CHANNELS = IMAGE_SHAPE[0], IMAGE_SHAPE[2]
_WHY = ", the feature net's input (it was trained on Fashion-MNIST)"


def to_feature_input(images: np.ndarray, what: str, notify=print) -> np.ndarray:
    """uint8 (N, H, W[, C]), C in {1, 3} -> uint8 (N, 28, 28, 1). Other sizes are centre-
    cropped to a square and resized, RGB becomes grey (ITU-R 601 luma); `notify` says so."""
    return conform_array(images, what, _SIZE, _CHANNELS, notify, _WHY)


def read_folder_images(root: Path, notify=print) -> np.ndarray:
    """Every .png/.jpg/.jpeg under `root`, in sorted path order -> uint8 (N, 28, 28, 1);
    `notify` says when some had to be converted (grey, centre crop, resize)."""
    return read_files(list_images(root), root, _SIZE, _CHANNELS, notify, _WHY)


def load_images(path, what: str = "images", notify=print) -> np.ndarray:
    """An .npz file or an image folder (or one image file) -> uint8 (N, 28, 28, 1)."""
    return load_any(path, image_size=_SIZE, channels=_CHANNELS, what=what, notify=notify,
                    reason=_WHY)
