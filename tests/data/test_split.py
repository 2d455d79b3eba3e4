"""Train / test splits of folder and .npz sources: held out, from test_path, or none."""
import json

import ml_collections
import numpy as np
import pytest
from PIL import Image

from jaxgen import config as config_lib
from jaxgen.data import load_dataset
from jaxgen.data.split import held_out


def cfg(source, path, **overrides):
    c = dict(source=source, path=str(path), test_path="", test_fraction=0.1, image_size=4,
             channels=1, on_corrupt="error", num_synthetic=0, num_classes=0)
    c.update(overrides)
    return ml_collections.ConfigDict(c)


def traced_npz(file, n, labels=True):
    """Row i is filled with the value i and labelled i % 3, so rows can be traced."""
    images = np.arange(n, dtype=np.uint8)[:, None, None] * np.ones((1, 4, 4), np.uint8)
    extra = dict(labels=np.arange(n) % 3) if labels else {}
    np.savez(file, images=images, **extra)
    return file


def traced_folder(root, n, classes=("a", "b", "c")):
    """Image i (value i) in subfolder classes[i % 3], file names sorted in index order."""
    for i in range(n):
        (root / classes[i % 3]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((4, 4), i, np.uint8)).save(root / classes[i % 3] / f"{i:03d}.png")
    return root


def rows(ds):
    return ds.images[:, 0, 0, 0].astype(int)


def test_held_out_is_fixed_sorted_and_sized():
    assert held_out(10, 0.3, "x").tolist() == held_out(10, 0.3, "x").tolist()
    ids = held_out(30, 0.1, "x")
    assert len(ids) == 3 and np.all(np.diff(ids) > 0)
    assert len(held_out(1000, 0.1, "x")) == 100 and len(held_out(2, 0.99, "x")) == 1


def test_npz_held_out_split_labels_follow(tmp_path):
    file = traced_npz(tmp_path / "d.npz", 30)
    train, test = load_dataset(cfg("npz", file)), load_dataset(cfg("npz", file), "test")
    assert len(test) == 3 and len(train) == 27
    assert sorted(rows(train).tolist() + rows(test).tolist()) == list(range(30))
    for ds in (train, test):
        assert ds.labels.tolist() == (rows(ds) % 3).tolist() and ds.num_classes == 3
    assert test.name == f"npz:{file} [test: 10% held out, 3 images]"
    assert train.name == f"npz:{file} [train: 27 images; 10% held out for test]"
    assert rows(test).tolist() == held_out(30, 0.1, "x").tolist()  # the same every run


def test_folder_held_out_split_labels_follow(tmp_path):
    root = traced_folder(tmp_path, 20)
    train = load_dataset(cfg("folder", root, test_fraction=0.25))
    test = load_dataset(cfg("folder", root, test_fraction=0.25), "test")
    assert (len(train), len(test)) == (15, 5)
    assert sorted(rows(train).tolist() + rows(test).tolist()) == list(range(20))
    for ds in (train, test):  # a/ b/ c/ are classes 0 1 2, and image i sits in i % 3
        assert ds.labels.tolist() == (rows(ds) % 3).tolist() and ds.num_classes == 3
    assert test.name == f"folder:{root} [test: 25% held out, 5 images]"


def test_folder_split_is_by_file_so_skipping_does_not_shift_it(tmp_path):
    root = traced_folder(tmp_path, 20)
    test = rows(load_dataset(cfg("folder", root), "test")).tolist()
    victim = next(i for i in range(20) if i not in test)
    (root / "abc"[victim % 3] / f"{victim:03d}.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="skipped 1 of 18"):
        train = load_dataset(cfg("folder", root, on_corrupt="skip"))
    assert sorted(rows(train).tolist() + test + [victim]) == list(range(20))


@pytest.mark.parametrize("source", ["npz", "folder"])
def test_no_held_out_split_says_so(tmp_path, source):
    path = traced_npz(tmp_path / "d.npz", 5) if source == "npz" else traced_folder(tmp_path, 5)
    train = load_dataset(cfg(source, path, test_fraction=0))
    test = load_dataset(cfg(source, path, test_fraction=0), "test")
    np.testing.assert_array_equal(train.images, test.images)
    assert test.name == f"{source}:{path} (train images; no held-out split: 5 images, test_fraction=0)"
    assert train.name == f"{source}:{path} [train: all 5 images; no held-out split]"


def test_too_small_or_bad_fraction(tmp_path):
    file = traced_npz(tmp_path / "d.npz", 5)
    with pytest.raises(ValueError, match=r"npz:.*d\.npz holds 5 image\(s\): test_fraction=0\.1 "
                                         r"holds out none.*at least 0\.2.*test_path.*"
                                         r"test_fraction=0"):
        load_dataset(cfg("npz", file), "test")
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match=rf"config\.data\.test_fraction={bad} must lie in "
                                             r"\[0, 1\)"):
            load_dataset(cfg("npz", file, test_fraction=bad))


def test_npz_test_path(tmp_path):
    train_file = traced_npz(tmp_path / "train.npz", 12)
    np.savez(tmp_path / "test.npz", images=np.full((4, 4, 4), 99, np.uint8),
             labels=np.array([0, 1, 1, 0]))
    c = cfg("npz", train_file, test_path=str(tmp_path / "test.npz"))
    train, test = load_dataset(c), load_dataset(c, "test")
    assert len(train) == 12 and len(test) == 4 and rows(test).tolist() == [99] * 4
    assert test.num_classes == train.num_classes == 3  # the model is built from either
    assert test.labels.tolist() == [0, 1, 1, 0]
    assert test.name == f"npz:{tmp_path / 'test.npz'} [test: config.data.test_path, 4 images]"
    assert train.name.endswith("[train: all 12 images; test from config.data.test_path]")
    np.savez(tmp_path / "test.npz", images=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(ValueError, match=r"test\.npz.*has no labels but config\.data\.path has 3"):
        load_dataset(c, "test")
    with pytest.raises(FileNotFoundError, match=r"config\.data\.test_path='nowhere\.npz'"):
        load_dataset(cfg("npz", train_file, test_path="nowhere.npz"), "test")


def test_folder_test_path_uses_training_classes(tmp_path):
    root = traced_folder(tmp_path / "train", 9)
    test_root = traced_folder(tmp_path / "test", 2, classes=("c", "a", "b"))  # c/000, a/001
    c = cfg("folder", root, test_path=str(test_root))
    test = load_dataset(c, "test")
    assert test.labels.tolist() == [0, 2] and test.num_classes == 3  # a/001 -> 0, c/000 -> 2
    traced_folder(test_root, 1, classes=("zebra",))
    with pytest.raises(ValueError, match=r"\['zebra'\] are not among the training classes"):
        load_dataset(c, "test")


def test_old_config_json_resumes_as_it_ran():
    """A workdir written before the split existed trained on every image: it keeps doing so
    (test_fraction 0), so its resume stays exact; a new config holds 10% out."""
    old = json.loads(config_lib.to_json(config_lib.base_config()))
    del old["data"]["test_path"], old["data"]["test_fraction"]
    config = config_lib.from_json(json.dumps(old))
    assert config.data.test_path == "" and config.data.test_fraction == 0.0
    config_lib.apply_overrides(config, {"data.test_fraction": "0.2"})
    assert config.data.test_fraction == 0.2
    assert config_lib.from_json(config_lib.to_json(config_lib.base_config())).data.test_fraction == 0.1
