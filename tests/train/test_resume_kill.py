"""Exact resume across process death: SIGKILL mid-run, and SIGTERM (saves, then exits)."""
import signal

import jax
import numpy as np
import pytest

# Subprocess runs of 120 steps each (minutes on 2 cores); `make test` keeps SIGKILL resume for
# the GAN and VAE (tests/train/test_resume_families.py) and every corruption kind
# (tests/test_checkpoint.py).
pytestmark = pytest.mark.slow

from jaxgen import sampling
from jaxgen.train.logging import read_metrics
from conftest import kill_after_checkpoint, run_script, start_script, wait_for_checkpoint

STOP = 120
ARGS = ["--config=configs/ddpm_fmnist.py:smoke", "--config.train.steps=1000",
        "--config.train.checkpoint_every=4", "--config.train.log_every=4"]


def _train(workdir, *extra, **kw):
    return run_script("train.py", f"--workdir={workdir}", *ARGS, *extra, **kw)


def _start(workdir):
    return start_script("train.py", f"--workdir={workdir}", *ARGS)



def _state(workdir):
    _, _, state, step, _ = sampling.load(None, str(workdir / "checkpoints" / str(STOP)))
    return jax.device_get(state)


def _losses(workdir):
    return [(r["step"], r["loss"], r["grad_norm"], r["lr"]) for r in read_metrics(workdir / "metrics.jsonl")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    _train(workdir, f"--stop_after={STOP}")
    return workdir


def _assert_same(workdir, reference):
    assert _losses(workdir) == _losses(reference)
    assert max(s for s, *_ in _losses(workdir)) == STOP
    jax.tree.map(np.testing.assert_array_equal, _state(workdir), _state(reference))


def test_sigkill_then_resume_is_bit_identical(reference, tmp_path):
    proc = _start(tmp_path)
    kill_after_checkpoint(tmp_path, proc, step=8, before=STOP)
    _train(tmp_path, f"--stop_after={STOP}")
    _assert_same(tmp_path, reference)


def test_sigterm_saves_then_resume_is_bit_identical(reference, tmp_path):
    proc = _start(tmp_path)
    wait_for_checkpoint(tmp_path, 8, proc)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert "SIGTERM at step" in out
    stopped = int(out.split("SIGTERM at step ")[1].split(";")[0].replace(",", ""))
    assert (tmp_path / "checkpoints" / str(stopped)).is_dir()
    assert stopped < STOP
    _train(tmp_path, f"--stop_after={STOP}")
    _assert_same(tmp_path, reference)


def test_corrupt_latest_checkpoint_falls_back(reference, tmp_path):
    _train(tmp_path, "--stop_after=12")
    for f in (tmp_path / "checkpoints" / "12" / "state").rglob("*"):
        if f.is_file() and f.parent.name == "d":
            f.write_bytes(f.read_bytes()[:5])  # truncate every data file
    proc = _train(tmp_path, f"--stop_after={STOP}")
    assert "could not be read" in proc.stderr
    assert (tmp_path / "checkpoints_corrupt" / "12").is_dir()
    _assert_same(tmp_path, reference)
