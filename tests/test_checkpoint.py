"""Checkpoint restore never loses a run: which errors mean "unreadable", fault injection, and
the orbax handler override that the pinned version still needs."""
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from jaxgen.checkpoint import (Checkpointer, CheckpointError, StateMismatchError,
                               is_unreadable, write_small_arrays_whole)

STATE = dict(a=jnp.arange(1000.0), b=dict(c=jnp.ones((64, 64))), step=jnp.int32(3))
ABSTRACT = jax.eval_shape(lambda: STATE)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A checkpoint directory with steps 1 and 2."""
    root = tmp_path_factory.mktemp("ckpt") / "checkpoints"
    c = Checkpointer(root)
    c.save(1, STATE, dict(step=1))
    c.save(2, jax.tree.map(lambda x: x + 1, STATE), dict(step=2))
    c.close()
    return root


def copy(saved, tmp_path):
    target = tmp_path / "checkpoints"
    shutil.copytree(saved, target)
    return target


def _files(step_dir, pattern):
    return [f for f in step_dir.glob(pattern) if f.is_file()]


def truncate_data(d):
    for f in _files(d, "state/ocdbt.process_0/d/*"):
        os.truncate(f, f.stat().st_size // 2)


def empty_data(d):
    for f in _files(d, "state/d/*"):
        os.truncate(f, 0)


def remove_manifest(d):
    (d / "state" / "manifest.ocdbt").unlink()


def garble_meta(d):
    (d / "meta" / "metadata").write_bytes(b"\xff\xfe{not json")


def truncate_meta(d):
    (d / "meta" / "metadata").write_text('{"step')


def remove_state(d):
    shutil.rmtree(d / "state")


def truncate_metadata(d):
    f = d / "state" / "_METADATA"
    os.truncate(f, f.stat().st_size // 2)


CORRUPTIONS = [truncate_data, empty_data, remove_manifest, garble_meta, truncate_meta,
               remove_state, truncate_metadata]


def _error(directory, step):
    with pytest.raises(Exception) as info:
        Checkpointer(directory, quarantine=False).restore(step, ABSTRACT)
    return info.value


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda f: f.__name__)
def test_each_corruption_is_unreadable_and_falls_back(saved, tmp_path, corrupt):
    """The exception types seen (tensorstore NOT_FOUND / DATA_LOSS / OUT_OF_RANGE ValueErrors,
    orbax's wrapping Exception, JSONDecodeError, UnicodeDecodeError, a missing item KeyError)
    all classify as unreadable; the trainer moves step 2 aside and resumes from step 1."""
    directory = copy(saved, tmp_path)
    corrupt(directory / "2")
    assert is_unreadable(_error(directory, 2))
    with pytest.warns(UserWarning, match="could not be read"):
        state, meta = Checkpointer(directory).restore_latest(ABSTRACT)
    assert meta["step"] == 1
    np.testing.assert_array_equal(state["a"], STATE["a"])
    assert not (directory / "2").exists()
    assert (tmp_path / "checkpoints_corrupt" / "2").is_dir()


@pytest.mark.parametrize("error", [
    MemoryError(), RuntimeError("INTERNAL: device lost"), TypeError("a bug"),
    ValueError("RESOURCE_EXHAUSTED: out of memory while reading"),
    ValueError("NOT_FOUND: x, then CANCELLED: interrupted read"),
    ValueError("sharding mismatch"), KeyError("params")])
def test_other_errors_are_not_corruption(error):
    assert not is_unreadable(error)


def test_a_non_corruption_error_moves_nothing(saved, tmp_path, monkeypatch):
    directory = copy(saved, tmp_path)
    def fail(self, step, abstract, only=None):
        raise RuntimeError("RESOURCE_EXHAUSTED-free device error")
    monkeypatch.setattr(Checkpointer, "restore", fail)
    with pytest.raises(RuntimeError, match="device error") as info:
        Checkpointer(directory).restore_latest(ABSTRACT)
    assert any(str(directory / "2") in note for note in info.value.__notes__)
    assert sorted(p.name for p in directory.iterdir()) == ["1", "2"]
    assert not (tmp_path / "checkpoints_corrupt").exists()


def test_none_readable_is_an_error_that_lists_them_and_moves_nothing(saved, tmp_path):
    directory = copy(saved, tmp_path)
    truncate_data(directory / "1")
    remove_manifest(directory / "2")
    with pytest.raises(CheckpointError, match=r"none of the 2 checkpoints") as info:
        Checkpointer(directory).restore_latest(ABSTRACT)
    assert str(directory / "1") in str(info.value) and str(directory / "2") in str(info.value)
    assert sorted(p.name for p in directory.iterdir()) == ["1", "2"]


def test_reader_skips_but_never_moves(saved, tmp_path):
    directory = copy(saved, tmp_path)
    truncate_data(directory / "2")
    with pytest.warns(UserWarning, match="left it in place"):
        _, meta = Checkpointer(directory, quarantine=False).restore_latest(ABSTRACT)
    assert meta["step"] == 1 and (directory / "2").is_dir()


def test_another_structure_is_a_mismatch_not_corruption(saved, tmp_path):
    directory = copy(saved, tmp_path)
    other = jax.eval_shape(lambda: dict(STATE, a=jnp.zeros(7)))
    with pytest.raises(StateMismatchError, match="omit --config"):
        Checkpointer(directory).restore_latest(other)
    assert sorted(p.name for p in directory.iterdir()) == ["1", "2"]


def test_orbax_default_still_slices_small_arrays():
    """orbax 0.12.8's default ArrayHandler splits replicated arrays of any size across replicas
    (min_slice_bytes None); `write_small_arrays_whole` exists for that. If this fails, orbax
    changed its default: check whether the override can go."""
    assert ocp.type_handlers.ArrayHandler()._min_slice_bytes_for_replica_parallel is None
    write_small_arrays_whole()
    handler = ocp.type_handlers.get_type_handler(jax.Array)
    assert handler._min_slice_bytes_for_replica_parallel == 2**20
    assert handler._array_metadata_store is not None


def test_metrics_rows_past_the_restored_step_are_kept_aside(tmp_path):
    from jaxgen.train.logging import MetricsWriter, read_metrics
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(dict(step=s, loss=1.0 / s)) + "\n" for s in (2, 4, 6, 8)))
    writer = MetricsWriter(path, resume_step=4)
    writer.write(dict(step=6, loss=0.5))
    assert [r["step"] for r in read_metrics(path)] == [2, 4, 6]
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.after_4.jsonl")] == [6, 8]
