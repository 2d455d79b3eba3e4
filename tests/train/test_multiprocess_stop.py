"""SIGTERM to one process of a 2-process run: every process stops at the same step, they save
one checkpoint together, and the resumed run is bit-identical to an uninterrupted one."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxgen import sampling
from jaxgen.train.logging import read_metrics
from conftest import ROOT, run_script, script_env, wait_for_checkpoint

STOP = 60
ARGS = ["train.py", "--config=configs/ddpm_fmnist.py:smoke", "--config.train.steps=1000",
        "--config.train.checkpoint_every=4", "--config.train.log_every=4",
        "--config.parallel.fsdp=2", "--config.parallel.min_fsdp_size=0"]
LAUNCH = ["-m", "jaxgen.launch", "--num_processes=2", "--devices_per_process=1"]


def children(pid: int) -> list[int]:
    """Pids whose parent is `pid` (from /proc), oldest first."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append((int(fields[19]), int(stat.parent.name)))  # (start time, pid)
    return [p for _, p in sorted(found)]


def _state(workdir, step):
    return jax.device_get(sampling.load(None, str(workdir / "checkpoints" / str(step)))[2])


@pytest.mark.slow  # three 2-process runs: about 4 minutes on 2 cores
def test_sigterm_to_one_process_stops_all_at_one_step(tmp_path):
    reference = tmp_path / "reference"
    run_script(*LAUNCH, *ARGS, f"--workdir={reference}", f"--stop_after={STOP}")
    workdir = tmp_path / "stopped"
    launcher = subprocess.Popen([sys.executable, *LAUNCH, *ARGS, f"--workdir={workdir}"],
                                cwd=ROOT, env=script_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    wait_for_checkpoint(workdir, 8, launcher)
    procs = children(launcher.pid)
    assert len(procs) == 2, procs
    os.kill(procs[1], signal.SIGTERM)  # process 1 only: process 0 must learn it and stop too
    out, _ = launcher.communicate(timeout=300)
    assert launcher.returncode == 128 + signal.SIGTERM, out
    stopped = int(out.split("SIGTERM at step ")[1].split(";")[0].replace(",", ""))
    assert 8 <= stopped < STOP, out
    saved = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir())
    assert saved[-1] == stopped and (workdir / "checkpoints" / str(stopped) /
                                     "commit_success.txt").is_file()
    run_script(*LAUNCH, *ARGS, f"--workdir={workdir}", f"--stop_after={STOP}")
    losses = lambda w: [(r["step"], r["loss"]) for r in read_metrics(w / "metrics.jsonl")]  # noqa: E731
    assert losses(workdir) == losses(reference)
    jax.tree.map(np.testing.assert_array_equal, _state(workdir, STOP), _state(reference, STOP))
