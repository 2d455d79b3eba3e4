"""A folder of PNG / JPEG files as a `Dataset`; class labels from first-level subfolders."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from jaxgen.data.dataset import Dataset, check_target, conform_pil
from jaxgen.data.split import Part

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ON_CORRUPT = ("error", "skip")
_SHOW_SKIPPED = 5


def list_images(root: Path, key: str = "path", flag: str | None = None) -> list[Path]:
    """Sorted image files under `root` (recursive, suffix case-insensitive); errors name
    `flag` (a command-line flag such as '--image'), else config.data.<key>."""
    flag = flag or f"--config.data.{key}"
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise FileNotFoundError(f"{flag.lstrip('-')}={str(root)!r} {what}; point "
                                f"{flag} at a folder of .png/.jpg images")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"no .png/.jpg/.jpeg images found under {root}; point "
                         f"{flag} at a folder that holds some")
    return files


def folder_root(path: str, key: str = "path") -> Path:
    if not path:
        raise ValueError(f"config.data.source='folder' needs --config.data.{key}=/folder/of/images")
    return Path(path).expanduser()


def folder_classes(path: str) -> list[str] | None:
    """The class names of a folder from its layout alone (nothing is decoded)."""
    root = folder_root(path)
    return class_names(root, list_images(root))


def class_names(root: Path, files: list[Path]) -> list[str] | None:
    """Sorted first-level subfolder names if every image sits in one, else None (unlabelled)."""
    parts = [f.relative_to(root).parts for f in files]
    at_top = [f for f, p in zip(files, parts) if len(p) == 1]
    if at_top:
        if len(at_top) < len(files):
            warnings.warn(f"{root}: {len(at_top)} images (e.g. {at_top[0].name}) sit at the top "
                          f"level and the rest in subfolders; treating the folder as unlabelled")
        return None
    return sorted({p[0] for p in parts})


def _decode(file: Path, image_size: int, channels: int) -> np.ndarray:
    """Opens and fully decodes one file -> uint8 (image_size, image_size, channels)."""
    with Image.open(file) as image:
        image.load()  # truncated files only fail here, not on open
        return conform_pil(image, image_size, channels)


def _decode_all(root, files, image_size, channels, on_corrupt):
    """Returns (uint8 (n, S, S, C) images, indices of the files kept); warns of skipped ones."""
    images, kept, skipped = [], [], []
    for i, file in enumerate(files):
        try:
            images.append(_decode(file, image_size, channels))
            kept.append(i)
        except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as e:
            if on_corrupt == "error":
                raise ValueError(f"cannot decode image {file}: {type(e).__name__}: {e}; "
                                 f"set --config.data.on_corrupt=skip to skip such files") from None
            skipped.append(str(file))
    if skipped:
        warnings.warn(f"{root}: skipped {len(skipped)} of {len(files)} files that could not be "
                      f"decoded, e.g. {skipped[:_SHOW_SKIPPED]}")
    if not images:
        raise ValueError(f"{root}: none of the {len(files)} image files could be decoded")
    return np.stack(images), kept


def _labels(root: Path, files: list[Path], names: list[str] | None) -> np.ndarray | None:
    """int32 (len(files),): each file's first-level subfolder's index in `names`."""
    if names is None:
        return None
    ids = {name: k for k, name in enumerate(names)}
    return np.array([ids[f.relative_to(root).parts[0]] for f in files], np.int32)


def _with_classes(root: Path, names: list[str] | None, classes: list[str] | None):
    """The class list to label with: `classes` (the train folder's) when given."""
    if classes is None or names is None:
        return names
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise ValueError(f"{root}: class subfolders {unknown} are not among the training "
                         f"classes {classes}; give config.data.test_path the same class "
                         f"subfolders as config.data.path")
    return classes


def load_folder(path: str, *, image_size: int, channels: int, on_corrupt: str = "error",
                part: Part = Part(), classes: list[str] | None = None,
                key: str = "path") -> Dataset:
    """The .png/.jpg/.jpeg files under `path` that `part` selects, decoded to uint8
    (N, image_size, image_size, channels).

    Files are listed in sorted path order (deterministic) and split by index. If all images
    sit in first-level subfolders, the sorted subfolder names (or `classes`, the training
    folder's) are the classes; otherwise labels are None.
    on_corrupt: "error" stops at the first undecodable file; "skip" drops such files and warns.
    """
    if on_corrupt not in ON_CORRUPT:
        raise ValueError(f"config.data.on_corrupt={on_corrupt!r}; choose one of {list(ON_CORRUPT)}")
    root = folder_root(path, key)
    check_target(image_size, channels)
    files = list_images(root, key)
    names = _with_classes(root, class_names(root, files), classes)
    files = [files[i] for i in part.ids(len(files), f"folder:{root}")]
    images, kept = _decode_all(root, files, image_size, channels, on_corrupt)
    labels = _labels(root, [files[i] for i in kept], names)  # labels follow their images
    return Dataset(images=images, labels=labels, num_classes=len(names) if names else 0,
                   name=f"folder:{root}{part.describe(len(images))}")
