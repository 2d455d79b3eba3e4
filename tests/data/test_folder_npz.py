"""The image-folder and .npz sources, and each of their errors."""
import ml_collections
import numpy as np
import pytest
from PIL import Image

from jaxgen.data import load_dataset


def cfg(source, path, **overrides):
    c = dict(source=source, path=str(path), test_path="", test_fraction=0.0, image_size=8,
             channels=3, on_corrupt="error", num_synthetic=0, num_classes=0)
    c.update(overrides)
    return ml_collections.ConfigDict(c)


def save(path, size=(10, 6), mode="RGB", value=200):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode in ("L", "P") else (value,) * len(mode)).save(path)
    return path


def truncated_png(path):
    Image.effect_noise((64, 64), 60).convert("RGB").save(path)  # noise compresses poorly
    path.write_bytes(path.read_bytes()[:200])
    return path


@pytest.fixture
def class_folder(tmp_path):
    save(tmp_path / "dog" / "b.png", mode="RGBA")
    save(tmp_path / "cat" / "a.JPG", size=(5, 5), mode="L", value=100)
    save(tmp_path / "cat" / "sub" / "c.jpeg", size=(20, 30))
    (tmp_path / "dog" / "notes.txt").write_text("not an image; ignored")
    return tmp_path


@pytest.mark.parametrize("channels", [1, 3])
def test_folder_classes_resize_and_convert(class_folder, channels):
    ds = load_dataset(cfg("folder", class_folder, channels=channels))
    assert ds.images.shape == (3, 8, 8, channels) and ds.images.dtype == np.uint8
    assert ds.num_classes == 2 and ds.labels.tolist() == [0, 0, 1]  # cat/a, cat/sub/c, dog/b
    assert abs(int(ds.images[0].mean()) - 100) <= 2  # the grey JPEG survived the conversions


def test_folder_unlabelled_and_centre_crop(tmp_path):
    image = np.zeros((4, 12), np.uint8)
    image[:, 4:8] = 255  # the centre square is white, the sides black
    Image.fromarray(image).save(tmp_path / "wide.png")
    ds = load_dataset(cfg("folder", tmp_path, image_size=4, channels=1))
    assert ds.labels is None and ds.num_classes == 0
    assert ds.images.min() == 255


def test_folder_corrupt_image_is_named(class_folder):
    bad = truncated_png(class_folder / "dog" / "broken.png")
    with pytest.raises(ValueError, match=rf"cannot decode image {bad}: .*; set "
                                         rf"--config\.data\.on_corrupt=skip") as err:
        load_dataset(cfg("folder", class_folder))
    assert "\n" not in str(err.value)


def test_folder_skip_counts_corrupt(class_folder):
    truncated_png(class_folder / "dog" / "broken.png")
    (class_folder / "cat" / "garbage.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.warns(UserWarning, match=r"skipped 2 of 5 .*garbage\.jpg.*broken\.png"):
        ds = load_dataset(cfg("folder", class_folder, on_corrupt="skip"))
    assert len(ds) == 3 and ds.labels.tolist() == [0, 0, 1]


def test_folder_all_corrupt_and_bad_option(tmp_path):
    (tmp_path / "x.png").write_bytes(b"nope")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="none of the 1"):
        load_dataset(cfg("folder", tmp_path, on_corrupt="skip"))
    with pytest.raises(ValueError, match=r"on_corrupt='ignore'.*\['error', 'skip'\]"):
        load_dataset(cfg("folder", tmp_path, on_corrupt="ignore"))


def test_folder_missing_or_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.*does not exist"):
        load_dataset(cfg("folder", tmp_path / "nowhere"))
    with pytest.raises(ValueError, match=rf"no \.png/\.jpg/\.jpeg images found under {tmp_path}"):
        load_dataset(cfg("folder", tmp_path))
    with pytest.raises(ValueError, match="needs --config.data.path"):
        load_dataset(cfg("folder", ""))


def test_npz_nhw_with_labels(tmp_path):
    file = tmp_path / "d.npz"
    np.savez(file, images=np.full((5, 8, 8), 7, np.uint8), labels=np.array([0, 3, 1, 3, 2]))
    ds = load_dataset(cfg("npz", file, channels=1))
    assert ds.images.shape == (5, 8, 8, 1) and ds.images.max() == 7
    assert ds.labels.dtype == np.int32 and ds.num_classes == 4


def test_npz_nhwc_resized_unlabelled(tmp_path):
    file = tmp_path / "d.npz"
    np.savez(file, images=np.full((3, 16, 16, 3), 50, np.uint8))
    ds = load_dataset(cfg("npz", file, image_size=8, channels=1))
    assert ds.images.shape == (3, 8, 8, 1) and ds.labels is None and ds.num_classes == 0
    assert np.all(np.abs(ds.images.astype(int) - 50) <= 1)


@pytest.mark.parametrize("arrays,pattern", [
    (dict(pixels=np.zeros((2, 4, 4), np.uint8)),
     r"d\.npz: no 'images' array \(found keys \['pixels'\]\); write it with np\.savez"),
    (dict(images=np.full((2, 4, 4), 0.5, np.float32)),
     r"d\.npz: images have dtype float32, expected uint8 \(values span \[0\.5, 0\.5\]\); "
     r"convert \[-1, 1\] floats with jaxgen\.data\.to_uint8, \[0, 1\] floats with np\.round"),
    (dict(images=np.zeros((2, 4, 4, 2), np.uint8)),
     r"d\.npz: images have shape \(2, 4, 4, 2\).*C 1 \(grey\) or 3 \(RGB\).*images\[\.\.\., :1\]"),
    (dict(images=np.zeros((2, 4, 4, 4), np.uint8)),
     r"d\.npz: images have shape \(2, 4, 4, 4\).*images\[\.\.\., :3\] drops the alpha"),
    (dict(images=np.zeros((4, 4), np.uint8)), r"shape \(4, 4\).*one image per row"),
    (dict(images=np.zeros((3, 4, 4), np.uint8), labels=np.zeros(2, int)),
     r"d\.npz: 'labels' has length 2 but 'images' has 3 examples; save one label per image"),
    (dict(images=np.zeros((2, 4, 4), np.uint8), labels=np.zeros(2)),
     r"d\.npz: 'labels' must be a 1-D integer array, got float64 \(2,\).*astype\(np\.int32\)"),
    (dict(images=np.zeros((2, 4, 4), np.uint8), labels=np.array([0, -1])),
     r"d\.npz: 'labels' holds negative values \(min -1\)"),
])
def test_npz_errors_name_file_value_and_fix(tmp_path, arrays, pattern):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(ValueError, match=pattern) as err:
        load_dataset(cfg("npz", tmp_path / "d.npz"))
    assert "\n" not in str(err.value)


def test_npz_missing_unreadable_or_pickled(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such .npz"):
        load_dataset(cfg("npz", tmp_path / "absent.npz"))
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 broken zip")
    with pytest.raises(ValueError, match="junk.npz"):
        load_dataset(cfg("npz", tmp_path / "junk.npz"))
    np.savez(tmp_path / "obj.npz", images=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="obj.npz.*without pickle"):
        load_dataset(cfg("npz", tmp_path / "obj.npz"))


def test_folder_mixed_layout_is_unlabelled_with_warning(class_folder):
    save(class_folder / "top.png")
    with pytest.warns(UserWarning, match="1 images .*top.png.*unlabelled"):
        ds = load_dataset(cfg("folder", class_folder))
    assert len(ds) == 4 and ds.labels is None


def test_npy_instead_of_npz(tmp_path):
    np.save(tmp_path / "d.npy", np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(ValueError, match=r"d\.npy: a single \.npy array, not an \.npz.*images="):
        load_dataset(cfg("npz", tmp_path / "d.npy"))


def test_metrics_cli_reads_npz_through_data():
    from jaxgen.data import image_files, npz
    from jaxgen.metrics import images
    assert images.load_any is image_files.load_images
    assert image_files.read_npz_images is npz.read_npz_images
    assert image_files.check_images is npz.check_images
