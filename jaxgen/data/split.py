"""Which rows of a folder / .npz source a split holds: all of them, or a held-out test part.

With no `config.data.test_path`, the test split is a fixed fraction of the source, chosen
by a permutation with its own seed (independent of the training seed, so every run and
every config holds out the same files); the train split is the rest. The row order of
each part is kept as in the source.
"""
from __future__ import annotations

import dataclasses

import numpy as np

SPLITS = ("train", "test")
SPLIT_SEED = 0x7E57  # the held-out permutation's seed; changing it changes every test split


def check_fraction(fraction: float) -> None:
    """A ValueError naming config.data.test_fraction unless it lies in [0, 1)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"config.data.test_fraction={fraction} must lie in [0, 1): the part "
                         f"of the images held out for the test split (0.1 = 10%; 0 = "
                         f"evaluate on the training images)")


def held_out(n: int, fraction: float, what: str) -> np.ndarray:
    """Sorted int64 indices of the floor(n * fraction) rows that form the test split."""
    k = min(int(np.floor(n * fraction + 1e-9)), n - 1)
    if k < 1:
        least = 1 / n if n > 1 else None
        fix = (f"raise --config.data.test_fraction to at least {least:.3g}, or " if least
               else "")
        raise ValueError(f"{what} holds {n} image(s): test_fraction={fraction} holds out none "
                         f"of them for the test split; {fix}set --config.data.test_path to a "
                         f"separate test set, or --config.data.test_fraction=0 to evaluate on "
                         f"the training images")
    return np.sort(np.random.default_rng(SPLIT_SEED).permutation(n)[:k])


@dataclasses.dataclass(frozen=True)
class Part:
    """The rows of one source file / folder that a Dataset holds.

    split: "train" or "test".
    fraction: config.data.test_fraction, the part held out for "test"; 0 = none.
    separate: the test split comes from config.data.test_path, so this source is whole.
    """
    split: str = "train"
    fraction: float = 0.0
    separate: bool = False

    def __post_init__(self):
        if self.split not in SPLITS:
            raise ValueError(f"split={self.split!r}; choose one of {list(SPLITS)}")
        check_fraction(self.fraction)

    @property
    def whole(self) -> bool:
        return self.separate or self.fraction == 0

    def ids(self, n: int, what: str) -> np.ndarray:
        """Sorted int64 row indices of this part among the source's n rows."""
        if self.whole:
            return np.arange(n)
        test = held_out(n, self.fraction, what)
        return test if self.split == "test" else np.setdiff1d(np.arange(n), test)

    def describe(self, count: int) -> str:
        """A suffix for Dataset.name saying which images it holds."""
        pct = f"{self.fraction * 100:.4g}%"
        if self.separate:
            return (f" [test: config.data.test_path, {count} images]" if self.split == "test"
                    else f" [train: all {count} images; test from config.data.test_path]")
        if self.fraction == 0:
            return (f" (train images; no held-out split: {count} images, test_fraction=0)"
                    if self.split == "test" else f" [train: all {count} images; no held-out split]")
        if self.split == "test":
            return f" [test: {pct} held out, {count} images]"
        return f" [train: {count} images; {pct} held out for test]"
