"""`python -m jaxgen.metrics` on .npz files and image folders, and its errors."""
import json

import numpy as np
import pytest
from PIL import Image

from real_images import fmnist  # noqa: F401  (a fixture)
from jaxgen.metrics.__main__ import main
from conftest import run_script

KEYS = {"fd", "kid", "kid_std", "precision", "recall", "n_real", "n_fake"}
FAST = ["--kid_subsets", "5", "--kid_subset_size", "200"]


@pytest.fixture(scope="module")
def files(fmnist, tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    np.savez(d / "real.npz", images=fmnist["test"][0][:500])             # NHWC
    np.savez(d / "fake.npz", images=fmnist["train"][0][:400, :, :, 0])  # NHW
    rgb = d / "rgb"
    rgb.mkdir()
    for i, x in enumerate(fmnist["train"][0][:60, :, :, 0]):  # 56x56 RGB PNGs
        Image.fromarray(x).resize((56, 56)).convert("RGB").save(rgb / f"{i:03d}.png")
    return d


def test_module_entry_point_prints_json_last(files):
    proc = run_script("-m", "jaxgen.metrics", "--real", files / "real.npz",
                      "--fake", files / "fake.npz", "--json", *FAST, timeout=120)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert KEYS <= set(result) and (result["n_real"], result["n_fake"]) == (500, 400)
    assert "FD (jaxgen Fashion-MNIST features)" in proc.stdout


def test_folder_of_rgb_images_is_converted_with_a_note(files, capsys):
    result = main(["--real", str(files / "real.npz"), "--fake", str(files / "rgb"), *FAST])
    assert result["n_fake"] == 60 and np.isfinite(result["fd"])
    assert "converting images (RGB 56x56) to grey 28x28" in capsys.readouterr().err


@pytest.mark.parametrize("images, match", [
    (None, "no 'images' array"),
    (np.zeros((4, 28, 28), np.float32), "dtype float32, expected uint8"),
    (np.zeros((4, 28, 28, 4), np.uint8), r"shape \(4, 28, 28, 4\)"),
])
def test_bad_npz_is_an_error_naming_file_and_fix(files, tmp_path, images, match):
    bad = tmp_path / "bad.npz"
    np.savez(bad, **({"pixels": np.zeros(3)} if images is None else {"images": images}))
    with pytest.raises(ValueError, match=match):
        main(["--real", str(files / "real.npz"), "--fake", str(bad)])


def test_missing_path_is_an_error(files):
    with pytest.raises(FileNotFoundError, match="--fake='nowhere.npz' does not exist"):
        main(["--real", str(files / "real.npz"), "--fake", "nowhere.npz"])
