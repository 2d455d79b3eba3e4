"""Native kernels that XLA:CPU lacks, each behind a drop-in for the function it speeds up."""
from jaxgen.kernels.normalization import group_norm
from jaxgen.kernels.onednn import conv_general_dilated, pointwise_dot_general

__all__ = ["conv_general_dilated", "group_norm", "pointwise_dot_general"]
