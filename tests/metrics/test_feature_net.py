"""The shipped classifier: its checksum, its byte-exact writer, its accuracy, its inputs."""
import numpy as np
import pytest

from real_images import fmnist  # noqa: F401  (a fixture)
from jaxgen.metrics import feature_net


def test_shipped_weights_match_their_checksum():
    params = feature_net.read_weights()  # raises on a mismatch
    assert params["Dense_0"]["kernel"].shape == (7 * 7 * 64, feature_net.FEATURE_DIM)


def test_tampered_or_missing_weights_are_refused(tmp_path):
    raw = bytearray(feature_net.WEIGHTS_FILE.read_bytes())
    raw[-100] ^= 1
    bad = tmp_path / "w.npz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="SHA-256 is .* expected " + feature_net.WEIGHTS_SHA256):
        feature_net.read_weights(bad)
    with pytest.raises(FileNotFoundError, match="train_feature_net"):
        feature_net.read_weights(tmp_path / "missing.npz")


def test_writer_reproduces_the_shipped_file(tmp_path):
    """write_weights is byte-deterministic: re-writing the params gives the same hash."""
    digest = feature_net.write_weights(tmp_path / "w.npz", feature_net.read_weights())
    assert digest == feature_net.WEIGHTS_SHA256


def test_accuracy_on_test_images(fmnist):
    images, labels = fmnist["test"]
    features, probs = feature_net.extract(images)
    assert features.shape == (len(images), 128) and features.dtype == np.float64
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.mean(probs.argmax(axis=1) == labels) >= 0.9


def test_extract_rejects_floats_and_other_sizes():
    with pytest.raises(ValueError, match="to_uint8"):
        feature_net.extract(np.zeros((4, 28, 28, 1), np.float32))
    with pytest.raises(ValueError, match="to_feature_input"):
        feature_net.extract(np.zeros((4, 32, 32, 3), np.uint8))
