"""End-to-end smoke training in-process: files written, resume exactness, NaN guard."""
import json

import jax
import numpy as np
import pytest

from jaxgen import sampling
from jaxgen.train import run
from jaxgen.train.logging import read_metrics
from conftest import smoke_config


def _params(workdir, step=None):
    ckpt = f"{workdir}/checkpoints/{step}" if step else None
    _, _, state, _, _ = sampling.load(None if ckpt else workdir, ckpt)
    return jax.device_get(state)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("ref")
    run(smoke_config(), workdir)
    return workdir


def test_smoke_run_writes_everything(reference):
    rows = read_metrics(reference / "metrics.jsonl")
    assert [r["step"] for r in rows] == [2, 4, 6, 8]
    for key in ("step", "images_seen", "loss", "lr", "grad_norm", "images_per_s"):
        assert all(np.isfinite(r[key]) for r in rows), key
    assert rows[-1]["images_seen"] == 8 * 8
    assert json.loads((reference / "config.json").read_text())["family"] == "diffusion"
    assert sorted(p.name for p in (reference / "checkpoints").iterdir() if p.name.isdigit()) == ["4", "8"]
    assert (reference / "samples" / "step_00000008.png").is_file()


@pytest.mark.slow  # 60 steps; every family smoke test checks finite updates
def test_training_lowers_the_loss(tmp_path):
    config = smoke_config(**{"train.steps": 60, "train.log_every": 10,
                             "train.checkpoint_every": 60, "train.num_samples": 0})
    run(config, tmp_path)
    losses = [r["loss"] for r in read_metrics(tmp_path / "metrics.jsonl")]
    assert np.mean(losses[-2:]) < 0.7 * losses[0], losses
    assert not (tmp_path / "samples").exists()  # num_samples=0: no final grid


def test_clean_stop_then_resume_is_bit_identical(reference, tmp_path):
    run(smoke_config(), tmp_path, stop_after=4)
    assert max(r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")) == 4
    run(smoke_config(), tmp_path)
    assert read_losses(tmp_path) == read_losses(reference)
    jax.tree.map(np.testing.assert_array_equal, _params(tmp_path), _params(reference))


def read_losses(workdir):
    return [(r["step"], r["loss"], r["grad_norm"]) for r in read_metrics(workdir / "metrics.jsonl")]


def test_resume_on_finished_run_changes_nothing(reference):
    before = _params(reference)
    run(smoke_config(), reference)
    jax.tree.map(np.testing.assert_array_equal, before, _params(reference))


def test_nan_loss_stops_and_keeps_the_good_checkpoint(tmp_path):
    run(smoke_config(), tmp_path, stop_after=4)
    bad = smoke_config(**{"optim.lr": "1e30", "train.steps": 40,
                          "train.checkpoint_every": 20})
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        run(bad, tmp_path)
    steps = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == [4]


def test_sampling_is_deterministic_and_in_range(reference):
    config, family, state, step, ds = sampling.load(reference)
    assert step == 8
    a = sampling.generate(family, state, mode="generate", seed=3, num=4, dataset=ds, options={})
    b = sampling.generate(family, state, mode="generate", seed=3, num=4, dataset=ds, options={})
    c = sampling.generate(family, state, mode="generate", seed=4, num=4, dataset=ds, options={})
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    assert a.shape == (4, 28, 28, 1) and float(abs(a).max()) <= 1.0


def test_sampling_option_errors(reference):
    config, family, state, step, ds = sampling.load(reference)
    with pytest.raises(ValueError, match="do not apply"):
        sampling.generate(family, state, mode="generate", seed=0, num=2, dataset=ds,
                          options={"temperature": 2.0})
    with pytest.raises(ValueError, match="--mode='zoom'"):
        sampling.generate(family, state, mode="zoom", seed=0, num=2, dataset=ds, options={})
    with pytest.raises(ValueError, match="checkpoints/STEP"):
        sampling.load(None, str(reference / "checkpoints"))
    with pytest.raises(FileNotFoundError, match="available steps"):
        sampling.load(None, str(reference / "checkpoints" / "3"))


def test_config_change_that_breaks_the_checkpoint_is_an_error(tmp_path):
    run(smoke_config(), tmp_path, stop_after=4)
    with pytest.raises(ValueError, match="does not fit the state this config builds"):
        run(smoke_config(**{"model.ch": 16}), tmp_path)
    assert (tmp_path / "checkpoints" / "4").is_dir()  # nothing moved or lost


def test_failed_restore_never_restarts_the_run(reference, tmp_path, monkeypatch):
    """Fault injection: a restore that raises a non-corruption error stops the run; nothing is
    moved, config.json and metrics.jsonl are untouched, no step-0 state is trained."""
    from jaxgen.checkpoint import Checkpointer
    import shutil
    shutil.copytree(reference, tmp_path, dirs_exist_ok=True)
    before = {p: p.read_bytes() for p in (tmp_path / "metrics.jsonl", tmp_path / "config.json")}
    def fail(self, step, abstract, only=None):
        raise RuntimeError("injected device error")
    monkeypatch.setattr(Checkpointer, "restore", fail)
    with pytest.raises(RuntimeError, match="injected device error"):
        run(smoke_config(**{"train.steps": 12}), tmp_path)
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["4", "8"]
    assert not (tmp_path / "checkpoints_corrupt").exists()


def test_changed_model_fails_before_config_json_is_written(reference, tmp_path):
    from jaxgen.checkpoint import StateMismatchError
    import shutil
    shutil.copytree(reference, tmp_path, dirs_exist_ok=True)
    before = (tmp_path / "config.json").read_text()
    with pytest.raises(StateMismatchError, match="omit --config"):
        run(smoke_config(**{"model.ch": 16}), tmp_path)
    assert (tmp_path / "config.json").read_text() == before


def test_unwritable_workdir_is_a_clear_error(tmp_path):
    from jaxgen.train.loop import WorkdirError
    (tmp_path / "a_file").write_text("")
    with pytest.raises(WorkdirError, match=r"a_file/run cannot be written.*writable folder"):
        run(smoke_config(), tmp_path / "a_file" / "run")
