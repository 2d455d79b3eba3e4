"""Fashion-MNIST IDX loading, the synthetic source and `load_dataset` dispatch."""
import gzip

import ml_collections
import numpy as np
import pytest

from jaxgen.data import FASHION_MNIST_CLASSES, Dataset, load_dataset, load_fashion_mnist
from jaxgen.data import fashion_mnist


def data_cfg(**overrides):
    cfg = dict(source="fashion_mnist", path="", test_path="", test_fraction=0.1, image_size=28,
               channels=1, on_corrupt="error", num_synthetic=64, num_classes=10)
    cfg.update(overrides)
    return ml_collections.ConfigDict(cfg)


def real_folder():
    return fashion_mnist.find_folder(None)  # `make test` unpacks it first ("make data")


def write_idx(folder, n=6, rows=4, cols=4, *, truncate=None, magic=2051):
    """A tiny fake Fashion-MNIST (both splits) in `folder`; optionally truncates one file."""
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        images = rng.integers(0, 256, (n, rows, cols), dtype=np.uint8)
        header = np.array([magic, n, rows, cols], ">i4").tobytes()
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + images.tobytes()))
        labels = np.arange(n, dtype=np.uint8) % 10
        header = np.array([2049, n], ">i4").tobytes()
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(header + labels.tobytes()))
    if truncate:
        file = folder / truncate
        file.write_bytes(file.read_bytes()[: len(file.read_bytes()) // 2])
    return folder


@pytest.mark.parametrize("split,n", [("train", 60000), ("test", 10000)])
def test_fashion_mnist_real_splits(split, n):
    images, labels = load_fashion_mnist(split, str(real_folder()))
    assert images.shape == (n, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int32
    assert images.min() == 0 and images.max() == 255
    assert set(np.unique(labels)) == set(range(10))
    assert len(FASHION_MNIST_CLASSES) == 10 and FASHION_MNIST_CLASSES[9] == "Ankle boot"


def test_fashion_mnist_is_cached_and_read_only():
    folder = str(real_folder())
    a, _ = load_fashion_mnist("test", folder)
    b, _ = load_fashion_mnist("test", folder)
    assert a is b and not a.flags.writeable


def test_fashion_mnist_bad_split():
    with pytest.raises(ValueError, match=r"'validation'.*\['test', 'train'\]"):
        load_fashion_mnist("validation")


def test_fashion_mnist_not_found_lists_places(tmp_path, monkeypatch):
    places = [tmp_path / "a", tmp_path / "b"]
    monkeypatch.setattr(fashion_mnist, "_search_paths", lambda path: places)
    with pytest.raises(FileNotFoundError) as err:
        load_fashion_mnist("train")
    message = str(err.value)
    assert all(str(p) in message for p in places)
    assert 'run "make data"' in message and "--config.data.path" in message


def test_explicit_path_is_authoritative(tmp_path, monkeypatch):
    monkeypatch.delenv(fashion_mnist.ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError, match="usr/share/datasets/fashion-mnist"):
        load_fashion_mnist("train", str(tmp_path))


def test_env_var_and_package_layout(tmp_path, monkeypatch):
    folder = tmp_path / "usr/share/datasets/fashion-mnist"
    folder.mkdir(parents=True)
    write_idx(folder, n=7)
    monkeypatch.setenv(fashion_mnist.ENV_VAR, str(tmp_path))
    images, labels = load_fashion_mnist("test")
    assert images.shape == (7, 4, 4, 1) and labels.tolist() == [0, 1, 2, 3, 4, 5, 6]


def test_partial_folder_names_missing_files(tmp_path):
    write_idx(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="lacks t10k-labels-idx1-ubyte.gz"):
        load_fashion_mnist("train", str(tmp_path))


def test_truncated_idx_names_file(tmp_path):
    write_idx(tmp_path, n=50, truncate="train-images-idx3-ubyte.gz")
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz.*(truncated|corrupt)"):
        load_fashion_mnist("train", str(tmp_path))


def test_wrong_magic_and_short_payload(tmp_path):
    write_idx(tmp_path, magic=1234)
    with pytest.raises(ValueError, match="magic number is 1234, expected 2051"):
        load_fashion_mnist("test", str(tmp_path))
    write_idx(tmp_path)  # valid again, then a labels file that claims 9 labels but holds 3
    header = np.array([2049, 9], ">i4").tobytes()
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(header + b"\0\1\2"))
    with pytest.raises(ValueError, match=r"t10k-labels.*header \[9\] needs 17"):
        load_fashion_mnist("test", str(tmp_path))


def test_load_dataset_fashion_mnist_resized_rgb(tmp_path):
    write_idx(tmp_path, n=5, rows=28, cols=28)
    ds = load_dataset(data_cfg(path=str(tmp_path), image_size=32, channels=3), "train")
    assert ds.images.shape == (5, 32, 32, 3) and ds.images.dtype == np.uint8
    assert ds.num_classes == 10 and ds.labels.dtype == np.int32
    grey = ds.images[..., 0]
    assert np.array_equal(grey, ds.images[..., 1]) and np.array_equal(grey, ds.images[..., 2])


def test_load_dataset_real_default_search():
    real_folder()
    ds = load_dataset(data_cfg(), "test")
    assert isinstance(ds, Dataset) and ds.images.shape == (10000, 28, 28, 1)


@pytest.mark.parametrize("channels", [1, 3])
def test_synthetic_deterministic_and_class_dependent(channels):
    cfg = data_cfg(source="synthetic", num_synthetic=40, num_classes=4, image_size=16,
                   channels=channels)
    a, b = load_dataset(cfg), load_dataset(cfg)
    assert a.images.shape == (40, 16, 16, channels) and a.images.dtype == np.uint8
    np.testing.assert_array_equal(a.images, b.images)
    assert a.labels.tolist() == [i % 4 for i in range(40)] and a.num_classes == 4
    means = np.stack([a.images[a.labels == k].mean(0) for k in range(4)]).astype(np.float32)
    gaps = [np.abs(means[i] - means[j]).max() for i in range(4) for j in range(i + 1, 4)]
    assert min(gaps) > 100  # each class puts its bright shape somewhere else
    test = load_dataset(cfg, "test")
    assert not np.array_equal(test.images, a.images)


def test_synthetic_bad_sizes():
    with pytest.raises(ValueError, match="num_classes >= 1"):
        load_dataset(data_cfg(source="synthetic", num_classes=0))


def test_unknown_source_and_bad_target():
    with pytest.raises(ValueError, match=r"'imagenet'.*fashion_mnist.*folder.*npz.*synthetic"):
        load_dataset(data_cfg(source="imagenet"))
    with pytest.raises(ValueError, match="channels=2"):
        load_dataset(data_cfg(source="synthetic", channels=2))
    with pytest.raises(ValueError, match="split='val'"):
        load_dataset(data_cfg(source="synthetic"), "val")


def test_dataset_validates():
    images = np.zeros((3, 2, 2, 1), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        Dataset(images.astype(np.float32), None, 0, "x")
    with pytest.raises(ValueError, match="outside"):
        Dataset(images, np.array([0, 1, 5], np.int32), 3, "x")


def test_parsed_copy_is_the_same_and_follows_the_file(tmp_path, monkeypatch):
    """Large IDX files are parsed once into $JAXGEN_DATA_CACHE; a later load reads that copy
    (same bytes, still read-only), and a rewritten file is parsed again."""
    monkeypatch.setenv(fashion_mnist.CACHE_ENV_VAR, str(tmp_path / "cache"))
    folder = tmp_path / "idx"
    folder.mkdir()
    write_idx(folder, n=1400, rows=28, cols=28)  # random pixels: > 1 MiB gzipped
    file = folder / "train-images-idx3-ubyte.gz"
    parsed = fashion_mnist._read_idx(file, 2051, 3)
    first = fashion_mnist._read_idx_cached(file, 2051, 3)
    assert [p.suffix for p in (tmp_path / "cache").iterdir()] == [".npy"]
    again = fashion_mnist._read_idx_cached(file, 2051, 3)
    np.testing.assert_array_equal(first, parsed)
    np.testing.assert_array_equal(again, parsed)
    assert again.shape == (1400, 28, 28) and not again.flags.writeable
    write_idx(folder, n=1500, rows=28, cols=28, truncate="train-images-idx3-ubyte.gz")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        fashion_mnist._read_idx_cached(file, 2051, 3)
