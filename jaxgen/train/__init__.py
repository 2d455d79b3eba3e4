"""The training loop, optimisers, EMA, checkpoints and logging."""
from jaxgen.train.loop import run

__all__ = ["run"]
