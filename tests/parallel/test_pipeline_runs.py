"""Pipeline-parallel training (GPipe over the "stage" axis) logs the losses and reaches the
parameters of one device; each device holds 1/S of the block stack; checkpoints move between
stage counts bit for bit. Subprocesses with simulated CPU devices (tests/parallel/driver.py),
tolerances as test_equivalence.py. All slow: `make test-slow`.
"""
import shutil

import numpy as np
import pytest

from jaxgen import sampling
from conftest import run_script
from test_equivalence import assert_same_metrics, assert_same_state, drive, flat, npz

CONFIG = "dit_compose"   # :smoke, DiT depth 4 with stacked blocks, batch 8, 8 steps


def stages(S, M=4, *more):
    return (f"--config.parallel.pipeline.stages={S}", f"--config.parallel.pipeline.microbatches={M}",
            *more)


# name -> (devices, flags)
RUNS = {"S4_M4": (4, stages(4, 4)), "S4_M8": (4, stages(4, 8)),
        "S2_M4_data2": (4, stages(2, 4, "--config.parallel.data=2")),
        "S2_M4_fsdp2": (4, stages(2, 4, "--config.parallel.fsdp=2",
                                  "--config.parallel.min_fsdp_size=0")),
        "S2_M8": (2, stages(2, 8)),
        "S2_M4_data2_tensor2": (8, stages(2, 4, "--config.parallel.data=2",
                                          "--config.parallel.tensor=2"))}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    ref, resume = tmp / "ref", tmp / "resume"
    drive(tmp / "one.json", [(ref, CONFIG)], devices=1)
    summary = {}
    for devices in (8, 4, 2):
        batch = [(tmp / name, CONFIG, *flags) for name, (n, flags) in RUNS.items() if n == devices]
        if devices == 4:   # saved at step 4 with 4 stages
            batch.append((resume, CONFIG, *stages(4), "--stop_after=4"))
        elif devices == 2:   # read back and continued data parallel on 2 devices
            batch += [(resume, CONFIG, "--restore_only"), (resume, CONFIG)]
        out = drive(tmp / f"{devices}.json", batch, devices=devices)
        summary.update(out)
        if devices == 4:
            shutil.copy(resume / "state.npz", tmp / "saved_with_4_stages.npz")
    return dict(tmp=tmp, ref=ref, resume=resume, summary=summary)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUNS))
def test_pipeline_matches_one_device(runs, name):
    workdir = runs["tmp"] / name
    assert_same_metrics(workdir, runs["ref"])
    assert_same_state(npz(workdir / "state.npz"), npz(runs["ref"] / "state.npz"))


@pytest.mark.slow
def test_each_stage_holds_a_quarter_of_the_blocks(runs):
    run = runs["summary"][str(runs["tmp"] / "S4_M4")]
    assert run["mesh"] == {"data": 1, "fsdp": 1, "tensor": 1, "stage": 4}
    assert run["blocks_bytes_per_device"] == [run["blocks_bytes"] // 4] * 4   # params, moments, EMA
    others = run["total_bytes"] - run["blocks_bytes"]                        # replicated
    assert run["bytes_per_device"] == [others + run["blocks_bytes"] // 4] * 4


@pytest.mark.slow
def test_stage_and_tensor_split_the_blocks_together(runs):
    run = runs["summary"][str(runs["tmp"] / "S2_M4_data2_tensor2")]
    assert run["mesh"] == {"data": 2, "fsdp": 1, "tensor": 2, "stage": 2}
    fractions = run["split_fractions"]
    for leaf in ("params/denoiser/blocks/attn/qkv/kernel", "ema_params/denoiser/blocks/mlp_in/kernel",
                 "opt_state/1/0/mu/denoiser/blocks/mlp_out/kernel"):
        assert fractions[leaf] == 0.25                       # 1/S of the blocks x 1/T of each
    assert fractions["params/denoiser/blocks/adaLN/kernel"] == 0.5   # stage only


@pytest.mark.slow
def test_checkpoint_of_4_stages_resumes_on_1_device_and_data_parallel(runs):
    saved = npz(runs["tmp"] / "saved_with_4_stages.npz")
    assert_same_state(npz(runs["resume"] / "restored.npz"), saved, exact=True)   # 2 devices
    _, _, state, step, _ = sampling.load(None, str(runs["resume"] / "checkpoints" / "4"))
    assert step == 4
    assert_same_state(flat(state), saved, exact=True)                            # 1 device
    assert_same_metrics(runs["resume"], runs["ref"])
    assert_same_state(npz(runs["resume"] / "state.npz"), npz(runs["ref"] / "state.npz"))


@pytest.mark.slow
def test_two_processes_with_4_stages_match_one(runs, tmp_path):
    workdir = tmp_path / "two_processes"
    proc = run_script("-m", "jaxgen.launch", "--num_processes=2", "--devices_per_process=2",
                      "train.py", f"--config=configs/{CONFIG}.py:smoke", f"--workdir={workdir}",
                      *stages(4))
    assert "[0] pipeline: 4 stages x 4 microbatches, bubble (S-1)/(M+S-1) = 0.429" in proc.stdout
    assert "[0] finished at step 8" in proc.stdout
    assert_same_metrics(workdir, runs["ref"])
    _, _, state, _, _ = sampling.load(workdir)
    assert_same_state(flat(state), npz(runs["ref"] / "state.npz"))
