"""The one .npz reader, for training data and the metrics CLI alike: arrays loaded without
pickle, `images` (uint8 NHW or NHWC) and optional `labels` (int (N,)) checked, each error
naming the file, the value and the fix."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from jaxgen.data.dataset import Dataset, conform
from jaxgen.data.split import Part

NPZ_FIX = ("write it with np.savez(path, images=uint8 array (N, H, W) or (N, H, W, C), "
           "labels=int array (N,) (optional))")
_CHANNEL_FIX = {2: "images[..., :1] keeps the grey channel of grey+alpha",
                4: "images[..., :3] drops the alpha channel of RGBA"}


def read_npz(file: Path, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an .npz (only those of `keys` present, when given; the others are not
    decompressed), loaded without unpickling anything."""
    try:
        with open(file, "rb") as f:  # we own the handle: np.load leaks it on a bad zip
            loaded = np.load(f, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise ValueError(f"{file}: a single .npy array, not an .npz archive; {NPZ_FIX}")
            with loaded as npz:
                wanted = npz.files if keys is None else [k for k in keys if k in npz.files]
                return {key: npz[key] for key in wanted}
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"{file}: not a readable .npz ({type(e).__name__}: {e}); "
                         f"{NPZ_FIX}") from None
    except ValueError as e:  # object (pickled) arrays are refused, and our own error above
        if str(e).startswith(f"{file}: "):
            raise
        raise ValueError(f"{file}: cannot load without pickle ({e}); {NPZ_FIX}") from None


def require_images(arrays: dict[str, np.ndarray], file: Path) -> np.ndarray:
    """arrays["images"], as stored (check it with `check_images`)."""
    if "images" not in arrays:
        raise ValueError(f"{file}: no 'images' array (found keys {sorted(arrays)}); {NPZ_FIX}")
    return arrays["images"]


def read_npz_images(file: Path) -> np.ndarray:
    """The `images` array of an .npz, as stored (check it with `check_images`)."""
    return require_images(read_npz(file), file)


def _value_range(x: np.ndarray) -> str:
    if x.size == 0 or not np.issubdtype(x.dtype, np.number):
        return ""
    return f" (values span [{x.min():.4g}, {x.max():.4g}])"


def check_images(images: np.ndarray, what: str) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, C), C in {1, 3} -> uint8 (N, H, W, C); else a
    ValueError naming `what`, the dtype or shape and the conversion that fixes it."""
    if images.dtype != np.uint8:
        raise ValueError(f"{what}: images have dtype {images.dtype}, expected uint8"
                         f"{_value_range(images)}; convert [-1, 1] floats with "
                         f"jaxgen.data.to_uint8, [0, 1] floats with np.round(x * 255)"
                         f".astype(np.uint8), [0, 255] values with np.clip(x, 0, 255)"
                         f".astype(np.uint8)")
    if images.ndim == 3:
        images = images[..., None]  # (N, H, W) -> (N, H, W, 1)
    if images.ndim != 4 or images.shape[3] not in (1, 3) or 0 in images.shape:
        fix = _CHANNEL_FIX.get(images.shape[3] if images.ndim == 4 else 0,
                               "save one image per row, pixels as (H, W) or (H, W, C)")
        raise ValueError(f"{what}: images have shape {images.shape}; expected (N, H, W) or "
                         f"(N, H, W, C) with C 1 (grey) or 3 (RGB) and N, H, W > 0; {fix}")
    return images


def check_labels(labels: np.ndarray, n: int, what: str) -> np.ndarray:
    """int (n,), >= 0 -> int32 (n,); else a ValueError naming `what`, the value and the fix."""
    if not np.issubdtype(labels.dtype, np.integer) or labels.ndim != 1:
        raise ValueError(f"{what}: 'labels' must be a 1-D integer array, got {labels.dtype} "
                         f"{labels.shape}; save them with labels.astype(np.int32)")
    if len(labels) != n:
        raise ValueError(f"{what}: 'labels' has length {len(labels)} but 'images' has {n} "
                         f"examples; save one label per image (labels[i] for images[i])")
    if labels.size and labels.min() < 0:
        raise ValueError(f"{what}: 'labels' holds negative values (min {labels.min()}); "
                         f"class ids must be 0..num_classes-1")
    return labels.astype(np.int32)


def npz_file(path: str, key: str = "path") -> Path:
    """config.data.<key> as an existing file, or an error saying how to set it."""
    if not path:
        raise ValueError(f"config.data.source='npz' needs --config.data.{key}=/file.npz")
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"config.data.{key}={path!r}: no such .npz file")
    return file


def npz_num_classes(path: str) -> int:
    """max(labels) + 1 of an .npz, reading only its `labels` (0 if it has none)."""
    file = npz_file(path)
    labels = read_npz(file, keys=("labels",)).get("labels")
    if labels is None:
        return 0
    labels = check_labels(labels, len(labels), str(file))
    return int(labels.max()) + 1 if labels.size else 0


def load_npz(path: str, *, image_size: int, channels: int, part: Part = Part(),
             key: str = "path") -> Dataset:
    """The rows `part` selects of an .npz holding `images` and optionally `labels`;
    num_classes is max(labels) + 1 over the whole file, so both splits agree."""
    file = npz_file(path, key)
    arrays = read_npz(file)
    images = check_images(require_images(arrays, file), str(file))
    labels, num_classes = arrays.get("labels"), 0
    if labels is not None:
        labels = check_labels(labels, len(images), str(file))
        num_classes = int(labels.max()) + 1
    ids = part.ids(len(images), f"npz:{file}")
    if not part.whole:  # labels follow their images
        images, labels = images[ids], None if labels is None else labels[ids]
    return Dataset(conform(images, image_size, channels), labels, num_classes,
                   f"npz:{file}{part.describe(len(ids))}")
