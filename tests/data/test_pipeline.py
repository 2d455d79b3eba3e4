"""`batch_at`: a pure function of the step, sliced per process, exact across epochs."""
import numpy as np
import pytest

from jaxgen.data import Dataset, batch_at, from_uint8, num_batches_per_epoch, to_uint8

N = 10


@pytest.fixture(scope="module")
def ds():
    """Example i is filled with the value 10 * i and labelled i % 3, so rows can be traced."""
    images = (np.arange(N, dtype=np.uint8) * 10)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8)
    return Dataset(images, (np.arange(N) % 3).astype(np.int32), 3, "tiny")


def rows(batch):
    """Dataset rows a batch holds, recovered from the traced pixel values."""
    return np.rint((batch["image"][:, 0, 0, 0] + 1) * 127.5 / 10).astype(int)


def test_batch_types_ranges_and_determinism(ds):
    a = batch_at(ds, 3, batch_size=4, seed=0)
    b = batch_at(ds, 3, batch_size=4, seed=0)
    assert a["image"].shape == (4, 2, 2, 1) and a["image"].dtype == np.float32
    assert a["label"].dtype == np.int32 and a["index"].dtype == np.uint32
    assert a["image"].min() >= -1 and a["image"].max() <= 1
    assert a["index"].tolist() == [12, 13, 14, 15]
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(a["label"], rows(a) % 3)


def test_every_example_once_per_epoch(ds):
    batch_size = 4
    steps = num_batches_per_epoch(ds, batch_size)
    assert steps == 3
    seen = np.concatenate([rows(batch_at(ds, s, batch_size=batch_size, seed=7))
                           for s in range(5 * steps)])  # 60 positions = 6 full epochs
    for epoch in seen.reshape(-1, N):
        assert sorted(epoch.tolist()) == list(range(N))
    assert len({tuple(e) for e in seen.reshape(-1, N)}) > 1  # reshuffled each epoch


def test_straddling_batch_follows_both_epochs(ds):
    seed = 3
    batch = batch_at(ds, 2, batch_size=4, seed=seed)  # positions 8..11
    perm0 = np.random.default_rng([seed, 0]).permutation(N)
    perm1 = np.random.default_rng([seed, 1]).permutation(N)
    assert rows(batch).tolist() == [perm0[8], perm0[9], perm1[0], perm1[1]]


def test_batch_larger_than_dataset(ds):
    batch = batch_at(ds, 1, batch_size=25, seed=0)  # positions 25..49 span 3 epochs
    assert batch["index"].tolist() == list(range(25, 50))
    counts = np.bincount(rows(batch), minlength=N)
    assert counts.min() >= 2 and counts.sum() == 25


@pytest.mark.parametrize("process_count", [1, 2, 4])
def test_process_slices_concatenate_to_global_batch(ds, process_count):
    whole = batch_at(ds, 5, batch_size=8, seed=1)
    parts = [batch_at(ds, 5, batch_size=8, seed=1, process_index=i, process_count=process_count)
             for i in range(process_count)]
    for key in whole:
        np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), whole[key])
    assert len(parts[0]["index"]) == 8 // process_count


def test_seeds_give_different_orders(ds):
    a = np.concatenate([rows(batch_at(ds, s, batch_size=5, seed=0)) for s in range(2)])
    b = np.concatenate([rows(batch_at(ds, s, batch_size=5, seed=1)) for s in range(2)])
    assert sorted(a) == sorted(b) and not np.array_equal(a, b)


def test_unlabelled_gives_zero_labels():
    unlabelled = Dataset(np.zeros((3, 2, 2, 1), np.uint8), None, 0, "u")
    assert batch_at(unlabelled, 0, batch_size=4, seed=0)["label"].tolist() == [0, 0, 0, 0]


def test_index_wraps_at_2_to_32(ds):
    step = 2**32 // 4 - 1  # positions 2**32 - 4 .. 2**32 + 3
    assert batch_at(ds, step + 1, batch_size=4, seed=0)["index"].tolist() == [0, 1, 2, 3]
    assert batch_at(ds, step, batch_size=4, seed=0)["index"][-1] == 2**32 - 1


def test_bad_arguments(ds):
    with pytest.raises(ValueError, match="batch_size=6.*process_count=4"):
        batch_at(ds, 0, batch_size=6, seed=0, process_count=4)
    with pytest.raises(ValueError, match=r"process_index=2.*process_count=2"):
        batch_at(ds, 0, batch_size=4, seed=0, process_index=2, process_count=2)
    with pytest.raises(ValueError, match="step=-1"):
        batch_at(ds, -1, batch_size=4, seed=0)


def test_uint8_round_trip():
    x = np.arange(256, dtype=np.uint8)
    assert from_uint8(x).min() == -1 and from_uint8(x).max() == 1
    np.testing.assert_array_equal(to_uint8(from_uint8(x)), x)
    assert to_uint8(np.array([-3.0, 2.0, np.nan, 0.0])).tolist() == [0, 255, 0, 128]
