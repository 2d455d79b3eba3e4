"""Every parallel layout logs the losses and reaches the parameters of one device.

Runs happen in subprocesses with simulated CPU devices (the device count is fixed when JAX
starts): one with 1 device (the reference), one with 8 (every mode, every family), one with 2
(resuming an 8-device FSDP checkpoint), and 2 processes x 2 devices through jaxgen.launch.

Tolerance: losses and logged metrics to rtol 1e-5, final parameters to atol 2e-5 + rtol 1e-5
(measured worst: 7e-7 relative on metrics, 1.7e-6 absolute on parameters, after 8 steps). The
layouts sum batch terms in another order (per-device partial sums, then an all-reduce), a
float32 rounding difference of about 1e-7 that the 8 Adam steps carry on; an update is
lr * m / (sqrt(v) + eps), so the parameters differ in absolute terms (a fraction of lr = 1e-3).
"""
import json
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxgen import sampling
from jaxgen.utils.trees import path_name
from jaxgen.train.logging import read_metrics
from conftest import ROOT, run_script, script_env

# name -> (config[:variant], *overrides): one entry per landed family, plus dropout, whose masks
# come from each example's own key so that a split batch draws the same masks as one device,
# and the text-to-image U-Net and DiT (prompt dropping per example, text encoder in the step).
FAMILIES = {"ddpm_fmnist": ("ddpm_fmnist",), "dcgan_fmnist": ("dcgan_fmnist",),
            "vae_fmnist": ("vae_fmnist",),
            "ddpm_dropout": ("ddpm_fmnist", "--config.model.dropout=0.1"),
            "t2i_unet": ("t2i_compose",), "t2i_dit": ("t2i_compose:dit_smoke",)}
FSDP = ["--config.parallel.data=2", "--config.parallel.fsdp=4", "--config.parallel.min_fsdp_size=0"]
MODES = {
    "jit": [],
    "jit_fsdp": FSDP,
    "shard_map": ["--config.parallel.mode=shard_map"],
    "shard_map_fsdp": ["--config.parallel.mode=shard_map", *FSDP],
    "pmap": ["--config.parallel.mode=pmap"],
}
METRIC_RTOL, PARAM_ATOL, PARAM_RTOL = 1e-5, 2e-5, 1e-5


def drive(out, runs, devices: int) -> dict:
    """tests/parallel/driver.py over `runs` [(workdir, config name, *flags)] on `devices`."""
    args = [a for run in runs for a in ("--", *map(str, run))][1:]
    env = dict(script_env(), XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    proc = subprocess.run([sys.executable, "tests/parallel/driver.py", str(out), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return {r["workdir"]: r for r in json.loads(out.read_text())["runs"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{"ref"|mode: {family: workdir}} plus the 8-device summaries and the cross-mesh workdir."""
    tmp = tmp_path_factory.mktemp("parallel")
    ref = {f: tmp / f"{f}-ref" for f in FAMILIES}
    drive(tmp / "ref.json", [(ref[f], *FAMILIES[f]) for f in FAMILIES], devices=1)
    modes = {m: {f: tmp / f"{f}-{m}" for f in FAMILIES} for m in MODES}
    resume = tmp / "resume"
    summary = drive(tmp / "eight.json", [(modes[m][f], *FAMILIES[f], *MODES[m])
                                         for m in MODES for f in FAMILIES]
                    + [(resume, "ddpm_fmnist", *FSDP, "--stop_after=4")], devices=8)
    shutil.copy(resume / "state.npz", tmp / "saved_on_8.npz")
    drive(tmp / "two.json", [(resume, "ddpm_fmnist", "--restore_only"), (resume, "ddpm_fmnist")],
          devices=2)
    return dict(ref=ref, modes=modes, summary=summary, resume=resume, tmp=tmp)


def assert_same_metrics(workdir, reference):
    got, want = read_metrics(workdir / "metrics.jsonl"), read_metrics(reference / "metrics.jsonl")
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for g, w in zip(got, want):
        for key in set(w) - {"images_per_s"}:
            np.testing.assert_allclose(g[key], w[key], rtol=METRIC_RTOL, err_msg=f"{key} step {w['step']}")


def assert_same_state(got: dict, want: dict, exact=False):
    assert sorted(got) == sorted(want)
    for key in want:
        if exact or want[key].dtype.kind != "f":
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
        else:
            np.testing.assert_allclose(got[key], want[key], atol=PARAM_ATOL, rtol=PARAM_RTOL, err_msg=key)


def npz(path) -> dict:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


QUICK = "ddpm_dropout"                       # `make test`: the full matrix is marked slow
QUICK_MODES = ("shard_map", "pmap")           # one program per device: each draws its own masks


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One family (the U-Net with dropout 0.1) in the per-device step kinds, on 2 devices."""
    tmp = tmp_path_factory.mktemp("quick")
    ref = tmp / "ref"
    drive(tmp / "ref.json", [(ref, *FAMILIES[QUICK])], devices=1)
    modes = {m: tmp / m for m in QUICK_MODES}
    drive(tmp / "two.json", [(modes[m], *FAMILIES[QUICK], *MODES[m]) for m in QUICK_MODES],
          devices=2)
    return ref, modes


@pytest.mark.slow  # the full matrix covers it; make test keeps tests/families/test_sharded_step.py
@pytest.mark.parametrize("mode", QUICK_MODES)
def test_dropout_run_matches_one_device(quick, mode):
    ref, modes = quick
    assert_same_metrics(modes[mode], ref)
    assert_same_state(npz(modes[mode] / "state.npz"), npz(ref / "state.npz"))


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("family", list(FAMILIES))
def test_mode_matches_one_device(runs, family, mode):
    workdir, ref = runs["modes"][mode][family], runs["ref"][family]
    assert_same_metrics(workdir, ref)
    assert_same_state(npz(workdir / "state.npz"), npz(ref / "state.npz"))


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES)[:3])
def test_fsdp_really_shards_the_state(runs, family):
    fsdp, dp = (runs["summary"][str(runs["modes"][m][family])] for m in ("jit_fsdp", "jit"))
    assert fsdp["mesh"] == {"data": 2, "fsdp": 4, "tensor": 1, "stage": 1}
    assert fsdp["sharded_leaves"] > 0.7 * fsdp["leaves"]
    # about a quarter per device; the leaves no size-4 split fits (e.g. (3,3,1,2)) stay whole
    assert max(fsdp["bytes_per_device"]) < 0.27 * fsdp["total_bytes"], fsdp
    assert dp["bytes_per_device"] == [dp["total_bytes"]] * 8


@pytest.mark.slow
def test_checkpoint_moves_between_meshes_exactly(runs):
    """Saved at step 4 on 8 devices (FSDP 2x4): read back on 2 devices (data parallel) and on 1
    (sample.py's path) bit for bit, then training on 2 devices goes on as one device would."""
    saved = npz(runs["tmp"] / "saved_on_8.npz")
    assert_same_state(npz(runs["resume"] / "restored.npz"), saved, exact=True)
    _, _, state, step, _ = sampling.load(None, str(runs["resume"] / "checkpoints" / "4"))
    assert step == 4
    assert_same_state(flat(state), saved, exact=True)
    assert_same_metrics(runs["resume"], runs["ref"]["ddpm_fmnist"])
    assert_same_state(npz(runs["resume"] / "state.npz"), npz(runs["ref"]["ddpm_fmnist"] / "state.npz"))


def flat(state) -> dict:
    return {path_name(p): np.asarray(x) for p, x in jax.tree_util.tree_flatten_with_path(state)[0]}


@pytest.mark.slow
def test_two_processes_through_the_launcher_match_one(runs, tmp_path):
    workdir = tmp_path / "two_processes"
    proc = run_script("-m", "jaxgen.launch", "--num_processes=2", "--devices_per_process=2",
                      "train.py", "--config=configs/ddpm_fmnist.py:smoke", f"--workdir={workdir}",
                      "--config.parallel.fsdp=2", "--config.parallel.min_fsdp_size=0")
    assert "[0] finished at step 8" in proc.stdout and "[1] finished" not in proc.stdout
    ref = runs["ref"]["ddpm_fmnist"]
    assert_same_metrics(workdir, ref)  # one copy of each row: process 0 alone writes
    assert (workdir / "samples" / "step_00000008.png").is_file()
    _, _, state, _, _ = sampling.load(workdir)
    assert_same_state(flat(state), npz(ref / "state.npz"))

