"""Data sources -> `Dataset`: Fashion-MNIST, an image folder, an .npz file, synthetic shapes.

`load_dataset(config.data, split)` is the one entry point the trainer calls; every
source comes back as uint8 (N, image_size, image_size, channels).
"""
from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np

from jaxgen.data.compose import load_compose
from jaxgen.data.dataset import Dataset, check_target, conform
from jaxgen.data.fashion_mnist import FASHION_MNIST_CLASSES, find_folder, load_fashion_mnist
from jaxgen.data.folder import folder_classes, load_folder
from jaxgen.data.npz import load_npz, npz_num_classes
from jaxgen.data.split import SPLITS, Part, check_fraction

SOURCES = ("fashion_mnist", "folder", "npz", "synthetic", "fashion_compose")


@functools.lru_cache(maxsize=8)
def _fashion_mnist(folder: Path, split: str, image_size: int, channels: int) -> Dataset:
    """Cached, so a 32x32 or RGB variant is resized once per process."""
    images, labels = load_fashion_mnist(split, str(folder))
    images = conform(images, image_size, channels)
    images.flags.writeable = False
    return Dataset(images, labels, len(FASHION_MNIST_CLASSES), f"fashion_mnist:{split}")


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


def _load_file(cfg, path: str, key: str, part: Part, size: int, channels: int,
               classes=None) -> Dataset:
    """One folder / .npz (config.data.<key> = path), the rows `part` selects."""
    if cfg.source == "folder":
        return load_folder(path, image_size=size, channels=channels, on_corrupt=cfg.on_corrupt,
                           part=part, classes=classes, key=key)
    return load_npz(path, image_size=size, channels=channels, part=part, key=key)


def _like_train(test: Dataset, num_classes: int) -> Dataset:
    """A test set from config.data.test_path, given the training source's num_classes."""
    if (test.labels is None) != (num_classes == 0):
        has = "no labels" if test.labels is None else f"{test.num_classes} classes"
        raise ValueError(f"{test.name} has {has} but config.data.path has {num_classes} "
                         f"classes; give config.data.test_path the layout of config.data.path "
                         f"(class subfolders / a 'labels' array, or neither)")
    if test.num_classes > num_classes:
        raise ValueError(f"{test.name}: labels reach {test.num_classes - 1} but config.data.path "
                         f"has only {num_classes} classes (0..{num_classes - 1})")
    return dataclasses.replace(test, num_classes=num_classes)


def _folder_or_npz(cfg, split: str, size: int, channels: int) -> Dataset:
    """The train or test split of a folder / .npz source (see jaxgen/data/split.py)."""
    fraction, test_path = float(cfg.test_fraction), str(cfg.test_path)
    check_fraction(fraction)
    part = Part(split, fraction, separate=bool(test_path))
    if split == "train" or not test_path:
        return _load_file(cfg, cfg.path, "path", part, size, channels)
    if cfg.source == "folder":
        classes = folder_classes(cfg.path)
        test = _load_file(cfg, test_path, "test_path", part, size, channels, classes)
        return _like_train(test, len(classes or ()))
    test = _load_file(cfg, test_path, "test_path", part, size, channels)
    return _like_train(test, npz_num_classes(cfg.path))


def load_dataset(cfg, split: str = "train") -> Dataset:
    """Builds the dataset `config.data` describes.

    cfg: the `config.data` ConfigDict (source, path, test_path, test_fraction, image_size,
      channels, on_corrupt, num_synthetic, num_classes).
    split: "train" or "test". Fashion-MNIST has its own test split and the synthetic one is
      drawn with another seed. A folder / .npz serves config.data.test_path as "test" when
      set, else holds out the fixed fraction test_fraction of its images (0: "test" is the
      training images, and the name says so). Dataset.name states which images it holds.
    Returns a Dataset with uint8 images (N, image_size, image_size, channels).
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r}; choose one of {list(SPLITS)}")
    size, channels = int(cfg.image_size), int(cfg.channels)
    check_target(size, channels)
    source = cfg.source
    if source == "fashion_mnist":
        return _fashion_mnist(find_folder(cfg.path or None), split, size, channels)
    if source in ("folder", "npz"):
        return _folder_or_npz(cfg, split, size, channels)
    if source == "synthetic":
        return make_synthetic(int(cfg.num_synthetic), int(cfg.num_classes), image_size=size,
                              channels=channels, seed=SPLITS.index(split))
    if source == "fashion_compose":  # captioned canvases; data.compose_seed picks the draw
        return load_compose(cfg.path, split, image_size=size, channels=channels,
                            seed=int(cfg.get("compose_seed", 0)))
    raise ValueError(f"config.data.source={source!r} is not known; choose one of {list(SOURCES)}")
