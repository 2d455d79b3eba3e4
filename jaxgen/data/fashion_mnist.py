"""Fashion-MNIST from the IDX gzip files of the Debian package `dataset-fashion-mnist`.

`make data` unpacks that package into `<repo>/data/debian`, so the files lie in
`<repo>/data/debian/usr/share/datasets/fashion-mnist/`. We parse IDX ourselves:
a big-endian int32 magic (2051 images, 2049 labels), then int32 sizes, then uint8 data.
"""
from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SPLITS = {"train": "train", "test": "t10k"}  # split -> file prefix
SPLIT_SIZES = {"train": 60000, "test": 10000}
FILES = tuple(f"{prefix}-{kind}-ubyte.gz" for prefix in SPLITS.values()
              for kind in ("images-idx3", "labels-idx1"))
ENV_VAR = "JAXGEN_DATA_DIR"
CACHE_ENV_VAR = "JAXGEN_DATA_CACHE"
_PACKAGE_SUBDIR = Path("usr/share/datasets/fashion-mnist")
_REPO_ROOT = Path(__file__).resolve().parents[2]
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049


def _under(root: str | os.PathLike) -> list[Path]:
    """A user-given folder may hold the .gz files or the unpacked package tree."""
    root = Path(root).expanduser()
    return [root, root / _PACKAGE_SUBDIR, root / "debian" / _PACKAGE_SUBDIR]


def _search_paths(path: str | None) -> list[Path]:
    """Candidate folders, in order. An explicit `path` (or else $JAXGEN_DATA_DIR) is the
    only place searched when given, so a typo is an error rather than a silent fallback."""
    if path:
        return _under(path)
    if os.environ.get(ENV_VAR):
        return _under(os.environ[ENV_VAR])
    return [_REPO_ROOT / "data" / "debian" / _PACKAGE_SUBDIR,
            Path.cwd() / "data" / "debian" / _PACKAGE_SUBDIR,
            Path("/") / _PACKAGE_SUBDIR]


def find_folder(path: str | None = None) -> Path:
    """The first candidate folder holding all 4 IDX files; FileNotFoundError listing them all."""
    looked = []
    for folder in _search_paths(path):
        missing = [f for f in FILES if not (folder / f).is_file()]
        if not missing:
            return folder.resolve()
        why = ("does not exist" if not folder.is_dir() else "holds none of the 4 .gz files"
               if len(missing) == len(FILES) else f"lacks {', '.join(missing)}")
        looked.append(f"  {folder}  ({why})")
    origin = (f"path={path!r}" if path else
              f"${ENV_VAR}={os.environ[ENV_VAR]!r}" if os.environ.get(ENV_VAR) else "default places")
    raise FileNotFoundError(
        f"Fashion-MNIST IDX files not found ({origin}). Looked in:\n" + "\n".join(looked) +
        '\nFix: run "make data" (it unpacks the Debian package dataset-fashion-mnist into '
        "data/debian), or set --config.data.path (or $JAXGEN_DATA_DIR) to the folder "
        "holding the 4 *-ubyte.gz files.")


def _cache_path(file: Path) -> Path | None:
    """Where the parsed copy of `file` lives: $JAXGEN_DATA_CACHE (default
    ~/.cache/jaxgen/data; empty: no copy), one .npy per file path, inode, size and times.
    None for files under 1 MiB, which parse in milliseconds anyway."""
    folder = os.environ.get(CACHE_ENV_VAR, str(Path.home() / ".cache" / "jaxgen" / "data"))
    try:
        stat = file.stat()
    except OSError:  # _read_idx says what is wrong with it
        return None
    if not folder or stat.st_size < 2**20:
        return None
    key = hashlib.sha256(f"{file.resolve()}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:"
                         f"{stat.st_ctime_ns}".encode())
    return Path(folder) / f"{file.name.split('.')[0]}-{key.hexdigest()[:16]}.npy"


def _read_idx_cached(file: Path, magic: int, ndim: int) -> np.ndarray:
    """`_read_idx` through an uncompressed .npy copy: decompressing the 26 MB training images
    took ~0.4 CPU-s of every start-up; the copy loads in milliseconds (the same bytes)."""
    cached = _cache_path(file)
    if cached is not None and cached.is_file():
        with contextlib.suppress(OSError, ValueError):  # unreadable copy: parse again
            array = np.load(cached, allow_pickle=False)
            array.flags.writeable = False  # as the parsed one (the split cache shares it)
            return array
    array = _read_idx(file, magic, ndim)
    if cached is not None:
        with contextlib.suppress(OSError):  # a read-only home only costs the speed-up
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                np.save(f, array, allow_pickle=False)
            tmp.replace(cached)
    return array


def _read_idx(file: Path, magic: int, ndim: int) -> np.ndarray:
    """Parses one gzip IDX file -> uint8 array with the shape its header gives."""
    try:
        with gzip.open(file, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # BadGzipFile is an OSError; truncation an EOFError
        raise ValueError(f"{file}: cannot decompress ({type(e).__name__}: {e}); the file is "
                         f'truncated or corrupt: delete data/debian and run "make data" again') from None
    header = 4 * (1 + ndim)
    if len(raw) < header:
        raise ValueError(f"{file}: only {len(raw)} bytes, shorter than the {header}-byte IDX header")
    found, *dims = np.frombuffer(raw[:header], dtype=">i4").tolist()
    if found != magic:
        raise ValueError(f"{file}: IDX magic number is {found}, expected {magic}")
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise ValueError(f"{file}: {len(raw)} bytes after decompression but the header "
                         f"{dims} needs {expected}; the file is truncated or corrupt")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


@functools.lru_cache(maxsize=4)
def _read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Cached parse of one split; returned arrays are read-only (the cache shares them)."""
    prefix = SPLITS[split]
    images_file = folder / f"{prefix}-images-idx3-ubyte.gz"
    images = _read_idx_cached(images_file, _IMAGES_MAGIC, 3)[..., None]  # (N, 28, 28, 1)
    labels = _read_idx_cached(folder / f"{prefix}-labels-idx1-ubyte.gz", _LABELS_MAGIC, 1)
    if len(images) != len(labels):
        raise ValueError(f"{folder}: {split} split has {len(images)} images but {len(labels)} labels")
    if labels.size and labels.max() >= len(FASHION_MNIST_CLASSES):
        raise ValueError(f"{folder}: {split} labels reach {labels.max()}, expected 0..9")
    labels = labels.astype(np.int32)
    labels.flags.writeable = False
    return images, labels


def load_fashion_mnist(split: str, path: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Loads one Fashion-MNIST split.

    Args:
      split: "train" (60000 examples) or "test" (10000).
      path: folder with the .gz files, or one under which usr/share/datasets/fashion-mnist
        lies; None or "" searches $JAXGEN_DATA_DIR, then the repo's and cwd's
        data/debian/..., then /usr/share/datasets/fashion-mnist.
    Returns:
      images: uint8 (N, 28, 28, 1), read-only; labels: int32 (N,) in 0..9, read-only.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not a Fashion-MNIST split; choose one of {sorted(SPLITS)}")
    return _read_split(find_folder(path), split)
