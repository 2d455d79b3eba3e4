"""Data sources -> `Dataset`: Fashion-MNIST, an image folder, an .npz file, synthetic shapes.

`load_dataset(config.data, split)` is the one entry point the trainer calls; every
source comes back as uint8 (N, image_size, image_size, channels).
"""
from __future__ import annotations

import functools
import zipfile
from pathlib import Path

import numpy as np

from jaxgen.data.compose import load_compose
from jaxgen.data.dataset import Dataset, check_target, conform
from jaxgen.data.fashion_mnist import FASHION_MNIST_CLASSES, find_folder, load_fashion_mnist
from jaxgen.data.folder import load_folder

SOURCES = ("fashion_mnist", "folder", "npz", "synthetic", "fashion_compose")
SPLITS = ("train", "test")


@functools.lru_cache(maxsize=8)
def _fashion_mnist(folder: Path, split: str, image_size: int, channels: int) -> Dataset:
    """Cached, so a 32x32 or RGB variant is resized once per process."""
    images, labels = load_fashion_mnist(split, str(folder))
    images = conform(images, image_size, channels)
    images.flags.writeable = False
    return Dataset(images, labels, len(FASHION_MNIST_CLASSES), f"fashion_mnist:{split}")


def _npz_labels(file: Path, labels: np.ndarray, n: int) -> np.ndarray:
    if not np.issubdtype(labels.dtype, np.integer) or labels.ndim != 1:
        raise ValueError(f"{file}: 'labels' must be a 1-D integer array, got {labels.dtype} "
                         f"{labels.shape}; save them with labels.astype(np.int32)")
    if len(labels) != n:
        raise ValueError(f"{file}: 'labels' has length {len(labels)} but 'images' has {n} "
                         f"examples; they must match")
    if labels.size and labels.min() < 0:
        raise ValueError(f"{file}: 'labels' holds negative values (min {labels.min()}); "
                         f"class ids must be 0..num_classes-1")
    return labels.astype(np.int32)


def _npz_images(file: Path, images: np.ndarray) -> np.ndarray:
    if images.dtype != np.uint8:
        raise ValueError(f"{file}: 'images' has dtype {images.dtype}, expected uint8; convert "
                         f"with np.clip(x, 0, 255).astype(np.uint8) (from [0, 1] floats: "
                         f"np.round(x * 255).astype(np.uint8))")
    if images.ndim == 3:
        images = images[..., None]  # (N, H, W) -> (N, H, W, 1)
    if images.ndim != 4 or images.shape[3] not in (1, 3) or 0 in images.shape:
        raise ValueError(f"{file}: 'images' has shape {images.shape}; expected (N, H, W) or "
                         f"(N, H, W, C) with C in (1, 3) and N, H, W > 0")
    return images


def _read_npz(file: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz, without unpickling anything."""
    fix = "write it with np.savez(path, images=..., labels=...)"
    try:
        with open(file, "rb") as f:  # we own the handle: np.load leaks it on a bad zip
            loaded = np.load(f, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                return {"<a single .npy array, not an .npz archive>": loaded}
            with loaded as npz:
                return {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"{file}: not a readable .npz ({type(e).__name__}: {e}); {fix}") from None
    except ValueError as e:  # pickled / object arrays are refused
        raise ValueError(f"{file}: cannot load without pickle ({e}); {fix}") from None


def load_npz(path: str, *, image_size: int, channels: int) -> Dataset:
    """An .npz holding `images` (uint8 NHW or NHWC) and optionally `labels` (int, (N,))."""
    if not path:
        raise ValueError("config.data.source='npz' needs --config.data.path=/file.npz")
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"config.data.path={path!r}: no such .npz file")
    arrays = _read_npz(file)
    if "images" not in arrays:
        raise ValueError(f"{file}: no 'images' array; found keys {sorted(arrays)}, "
                         f"expected key 'images' (and optionally 'labels')")
    images, labels = arrays["images"], arrays.get("labels")
    images = conform(_npz_images(file, images), image_size, channels)
    if labels is None:
        return Dataset(images, None, 0, f"npz:{file}")
    labels = _npz_labels(file, labels, len(images))
    return Dataset(images, labels, int(labels.max()) + 1, f"npz:{file}")


def make_synthetic(num: int, num_classes: int, *, image_size: int, channels: int,
                   seed: int = 0) -> Dataset:
    """Class-dependent shapes: class k is a bright disc (k even) or square (k odd) centred on
    a circle at angle 2*pi*k/num_classes, on a dark background with mild noise.
    Labels k = i % num_classes. Deterministic given `seed`. Images uint8 (num, S, S, C)."""
    if num < 1 or num_classes < 1:
        raise ValueError(f"synthetic source needs num_synthetic >= 1 and num_classes >= 1, "
                         f"got {num} and {num_classes}")
    rng = np.random.default_rng(seed)
    s, k = image_size, np.arange(num) % num_classes
    angle = 2 * np.pi * k / num_classes
    jitter = rng.uniform(-0.03, 0.03, (2, num)) * s
    cy = (s / 2 + 0.27 * s * np.sin(angle) + jitter[0])[:, None, None]
    cx = (s / 2 + 0.27 * s * np.cos(angle) + jitter[1])[:, None, None]
    r = (0.17 * s * rng.uniform(0.9, 1.1, num))[:, None, None]
    yy, xx = np.mgrid[:s, :s].astype(np.float32) + 0.5  # pixel centres, (S, S) each
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
    square = np.maximum(np.abs(yy - cy), np.abs(xx - cx)) <= 0.85 * r
    mask = np.where((k % 2 == 0)[:, None, None], disc, square)[..., None]  # (N, S, S, 1)
    hue = k[:, None] / num_classes + np.arange(channels) / 3  # (N, C); grey when C = 1
    colour = 0.55 + 0.45 * np.cos(2 * np.pi * hue) if channels == 3 else np.ones((num, 1))
    fg = (rng.uniform(190, 250, (num, 1)) * colour)[:, None, None, :]  # (N, 1, 1, C)
    x = 25 + mask * (fg - 25) + rng.normal(0, 6, (num, s, s, channels)).astype(np.float32)
    images = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return Dataset(images, k.astype(np.int32), num_classes, f"synthetic:seed{seed}")


def load_dataset(cfg, split: str = "train") -> Dataset:
    """Builds the dataset `config.data` describes.

    cfg: the `config.data` ConfigDict (source, path, image_size, channels, on_corrupt,
      num_synthetic, num_classes).
    split: "train" or "test". Only Fashion-MNIST has a held-out split; the synthetic test
      split is drawn with another seed; folder and npz serve the same files for both.
    Returns a Dataset with uint8 images (N, image_size, image_size, channels).
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r}; choose one of {list(SPLITS)}")
    size, channels = int(cfg.image_size), int(cfg.channels)
    check_target(size, channels)
    source = cfg.source
    if source == "fashion_mnist":
        return _fashion_mnist(find_folder(cfg.path or None), split, size, channels)
    if source == "folder":
        return load_folder(cfg.path, image_size=size, channels=channels, on_corrupt=cfg.on_corrupt)
    if source == "npz":
        return load_npz(cfg.path, image_size=size, channels=channels)
    if source == "synthetic":
        return make_synthetic(int(cfg.num_synthetic), int(cfg.num_classes), image_size=size,
                              channels=channels, seed=SPLITS.index(split))
    if source == "fashion_compose":  # captioned canvases; data.compose_seed picks the draw
        return load_compose(cfg.path, split, image_size=size, channels=channels,
                            seed=int(cfg.get("compose_seed", 0)))
    raise ValueError(f"config.data.source={source!r} is not known; choose one of {list(SOURCES)}")
