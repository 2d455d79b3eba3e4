"""The in-memory `Dataset` every source returns, and the resize / channel conversion
that brings any source to the configured `(image_size, image_size, channels)`."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np
from PIL import Image

_PIL_MODES = {1: "L", 3: "RGB"}


class LazyRows:
    """A read-only (N, *row_shape) array whose rows are computed when indexed:
    `rows[ids]` -> render(int64 ids (b,)) -> (b, *row_shape). For data that are a pure
    function of the example index (jaxgen.data.compose): nothing is stored but the renderer."""

    def __init__(self, n: int, row_shape: tuple[int, ...], dtype, render: Callable):
        self.shape, self.dtype, self.render = (n, *row_shape), np.dtype(dtype), render
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self[np.array([key])][0]
        ids = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(key)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise IndexError(f"LazyRows takes an int, a slice or a 1-D integer array, got {key!r}")
        if ids.size and (ids.min() < -len(self) or ids.max() >= len(self)):
            raise IndexError(f"row ids span [{ids.min()}, {ids.max()}], outside the {len(self)} rows")
        return self.render(ids.astype(np.int64) % len(self))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.asarray(self[:], dtype)


@dataclasses.dataclass(frozen=True, repr=False)
class Dataset:
    """Images, optional labels and optional caption tokens, held in host memory.

    images: uint8 (N, H, W, C), C in {1, 3}; an np.ndarray or a LazyRows rendering rows on demand.
    labels: int32 (N,) in [0, num_classes), or None when the source is unlabelled.
    num_classes: number of classes; 0 if unlabelled.
    name: where the data came from, for messages.
    tokens: int32 (N, L) byte tokens of each example's caption (jaxgen.data.tokens: BOS,
      UTF-8 bytes, EOS, PAD), array or LazyRows; None when the source has no captions.
    """
    images: Any
    labels: np.ndarray | None
    num_classes: int
    name: str
    tokens: Any = None

    def __post_init__(self):
        self._check_images_and_labels()
        self._check_tokens()

    def _check_images_and_labels(self):
        x = self.images
        if not isinstance(x, (np.ndarray, LazyRows)) or x.dtype != np.uint8 or x.ndim != 4:
            raise ValueError(f"Dataset {self.name!r}: images must be a uint8 array (N, H, W, C), "
                             f"got {type(x).__name__} {getattr(x, 'dtype', '')} "
                             f"{getattr(x, 'shape', '')}")
        if len(x) == 0:
            raise ValueError(f"Dataset {self.name!r} holds no images")
        if self.labels is None:
            if self.num_classes != 0:
                raise ValueError(f"Dataset {self.name!r}: num_classes={self.num_classes} "
                                 f"but there are no labels (use 0)")
            return
        y = self.labels
        if y.dtype != np.int32 or y.shape != (len(x),):
            raise ValueError(f"Dataset {self.name!r}: labels must be int32 ({len(x)},), "
                             f"got {y.dtype} {y.shape}")
        if y.min() < 0 or y.max() >= self.num_classes:
            raise ValueError(f"Dataset {self.name!r}: labels span [{y.min()}, {y.max()}], "
                             f"outside [0, num_classes={self.num_classes})")

    def _check_tokens(self):
        t = self.tokens
        if t is None:
            return
        if not isinstance(t, (np.ndarray, LazyRows)) or t.dtype != np.int32 or t.ndim != 2 \
                or len(t) != len(self.images):
            raise ValueError(f"Dataset {self.name!r}: tokens must be int32 ({len(self.images)}, L), "
                             f"got {type(t).__name__} {getattr(t, 'dtype', '')} "
                             f"{getattr(t, 'shape', '')}; encode captions with "
                             f"jaxgen.data.tokens.encode_text")

    def __repr__(self) -> str:
        labels = "None" if self.labels is None else f"int32{self.labels.shape}"
        tokens = "" if self.tokens is None else f", tokens=int32{self.tokens.shape}"
        return (f"Dataset(name={self.name!r}, images=uint8{self.images.shape}, labels={labels}, "
                f"num_classes={self.num_classes}{tokens})")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one example."""
        return tuple(self.images.shape[1:])


def check_target(image_size: int, channels: int) -> None:
    """Raises a ValueError naming the bad `config.data` value."""
    if channels not in _PIL_MODES:
        raise ValueError(f"config.data.channels={channels} is not supported; use 1 (grey) or 3 (RGB)")
    if image_size < 1:
        raise ValueError(f"config.data.image_size={image_size} must be a positive number of pixels")


def conform_pil(image: Image.Image, image_size: int, channels: int) -> np.ndarray:
    """Any PIL image -> uint8 (image_size, image_size, channels).

    Non-square images are centre-cropped to a square first (no aspect distortion);
    shrinking uses LANCZOS, enlarging BICUBIC.
    """
    image = image.convert(_PIL_MODES[channels])
    w, h = image.size
    if w != h:
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        image = image.crop((left, top, left + s, top + s))
    if image.size != (image_size, image_size):
        shrink = image.size[0] > image_size
        resample = Image.Resampling.LANCZOS if shrink else Image.Resampling.BICUBIC
        image = image.resize((image_size, image_size), resample=resample)
    return np.asarray(image, dtype=np.uint8).reshape(image_size, image_size, channels)


def conform(images: np.ndarray, image_size: int, channels: int) -> np.ndarray:
    """uint8 (N, H, W, C) -> uint8 (N, image_size, image_size, channels); no copy if it fits."""
    check_target(image_size, channels)
    if images.shape[1:] == (image_size, image_size, channels):
        return images
    if images.shape[1:3] == (image_size, image_size) and images.shape[3] == 1:
        return np.repeat(images, channels, axis=3)  # grey -> RGB, as PIL's "L" -> "RGB"
    grey = images.shape[3] == 1
    out = np.empty((len(images), image_size, image_size, channels), np.uint8)
    for i, x in enumerate(images):
        pil = Image.fromarray(x[..., 0] if grey else x)  # (H, W) -> "L", (H, W, 3) -> "RGB"
        out[i] = conform_pil(pil, image_size, channels)
    return out
