"""Shared fixtures: the repo root, a smoke config, and a subprocess runner."""
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jaxgen.utils import xla_flags

xla_flags.configure()  # before the first JAX operation, as train.py and sample.py do
from jaxgen.utils import compile_cache  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
compile_cache.enable()  # tests compile the same smoke programs many times


@pytest.fixture
def root() -> Path:
    return ROOT


def load_script(path: str):
    """The module of a repository script (`sample.py`, `benchmarks/x.py`), imported in-process."""
    spec = importlib.util.spec_from_file_location(Path(path).stem + "_script", ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sample_main():
    """sample.py's main(argv)."""
    return load_script("sample.py").main


def smoke_config(name: str = "ddpm_fmnist", **overrides):
    """Loads configs/<name>.py:smoke (or <name> = "file:variant" as given) with
    {"train.steps": "6", ...} overrides applied."""
    from jaxgen import config as config_lib
    file, _, variant = name.partition(":")
    config = config_lib.load_config(str(ROOT / "configs" / f"{file}.py:{variant or 'smoke'}"))
    return config_lib.apply_overrides(config, {k: str(v) for k, v in overrides.items()})


@pytest.fixture(scope="session")
def diffusion_workdir(tmp_path_factory) -> Path:
    """A diffusion smoke workdir trained for 4 steps, shared by the sampling and editing tests
    (read only: copy it before changing anything)."""
    from jaxgen.train import run
    path = tmp_path_factory.mktemp("uncond")
    run(smoke_config(**{"train.steps": 4}), path)
    return path


def untrained_workdir(config, workdir) -> Path:
    """A workdir holding `config`'s config.json and its initial state as checkpoint 0 (no
    training step compiled): for tests that only load or sample a model."""
    from jaxgen.train import loop as loop_lib
    from jaxgen.train.logging import default_console
    workdir = loop_lib.prepare_workdir(workdir)
    loop = loop_lib.Loop(config, workdir, default_console())
    loop_lib.save_config(config, workdir)
    loop.save(0)
    loop.checkpointer.close()
    return workdir


def script_env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("XLA_FLAGS", None)
    return env


def run_script(*args, check=True, timeout=600) -> subprocess.CompletedProcess:
    """Runs `python <script> args...` from the repo root and returns the finished process."""
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, env=script_env(),
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def start_script(*args) -> subprocess.Popen:
    """Starts `python <script> args...` in the background (stdout and stderr merged)."""
    return subprocess.Popen([sys.executable, *map(str, args)], cwd=ROOT, env=script_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_checkpoint(workdir, step, proc, timeout=300):
    """Polls until checkpoint `step` of `workdir` is committed; fails if `proc` ends first."""
    marker = Path(workdir) / "checkpoints" / str(step) / "commit_success.txt"
    t0 = time.time()
    while not marker.exists():
        assert proc.poll() is None, f"training ended early:\n{proc.stdout.read()}"
        assert time.time() - t0 < timeout, "no checkpoint appeared"
        time.sleep(0.02)


def kill_after_checkpoint(workdir, proc, *, step: int, before: int) -> int:
    """SIGKILLs `proc` once checkpoint `step` is committed; checks it died at a logged step in
    [step, before) and returns that step."""
    import signal
    from jaxgen.train.logging import read_metrics
    wait_for_checkpoint(workdir, step, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = max(r["step"] for r in read_metrics(Path(workdir) / "metrics.jsonl"))
    assert step <= killed_at < before, killed_at
    return killed_at
