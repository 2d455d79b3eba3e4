"""Real Fashion-MNIST images for the metric tests (a few thousand, as uint8 NHWC)."""
import numpy as np
import pytest

from jaxgen.data import load_fashion_mnist

N = 2000


@pytest.fixture(scope="module")
def fmnist():
    """{"train": (images, labels), "test": (images, labels)}, the first N of each split."""
    out = {}
    for split in ("train", "test"):
        images, labels = load_fashion_mnist(split)
        out[split] = (np.array(images[:N]), np.array(labels[:N]))
    return out
