"""Data: sources (Fashion-MNIST IDX, image folder, npz, synthetic) -> `Dataset`, and
`batch_at`, the step -> batch function with per-process slices and exact resume."""
from jaxgen.data.dataset import Dataset
from jaxgen.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist
from jaxgen.data.pipeline import batch_at, from_uint8, num_batches_per_epoch
from jaxgen.data.sources import SOURCES, load_dataset
from jaxgen.utils.images import to_uint8  # the one float -> uint8 conversion, re-exported

__all__ = ["Dataset", "FASHION_MNIST_CLASSES", "SOURCES", "batch_at", "from_uint8",
           "load_dataset", "load_fashion_mnist", "num_batches_per_epoch", "to_uint8"]
