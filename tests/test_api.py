"""jaxgen.load(...).sample(...) and sample.py over the sampler registry and guidance."""
import numpy as np
import pytest

import jaxgen
from jaxgen.train import run
from conftest import run_script, smoke_config


@pytest.fixture(scope="module")
def workdir(diffusion_workdir):
    return diffusion_workdir


@pytest.fixture(scope="module")
def conditional(tmp_path_factory):
    path = tmp_path_factory.mktemp("cond")
    run(smoke_config(**{"train.steps": 4, "model.num_classes": 1}), path)
    return path


def test_load_restores_only_what_sampling_reads(workdir):
    g = jaxgen.load(workdir)
    assert g.step == 4 and g.config.family == "diffusion"
    assert sorted(g.state) == ["ema_params", "params"]  # no optimiser moments, step or rng
    assert jaxgen.load(workdir / "checkpoints" / "4").step == 4


@pytest.mark.parametrize("sampler,steps,nfe", [("dpmpp_2m", 4, 4), ("heun", 3, 5)])
def test_sample_is_uint8_deterministic_and_reports_nfe(workdir, sampler, steps, nfe):
    g = jaxgen.load(workdir)
    a = g.sample(4, sampler=sampler, steps=steps, seed=1)
    assert a.dtype == np.uint8 and a.shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(a, g.sample(4, sampler=sampler, steps=steps, seed=1))
    assert not np.array_equal(a, g.sample(4, sampler=sampler, steps=steps, seed=2))
    assert g.info(sampler=sampler, steps=steps)["nfe"] == nfe


def test_bad_sampling_options_are_clear(workdir):
    g = jaxgen.load(workdir)
    with pytest.raises(ValueError, match="unconditional.*without labels"):
        g.sample(2, labels=[1])
    with pytest.raises(ValueError, match="guidance=2.0 given, but this model is unconditional"):
        g.sample(2, guidance=2.0)
    with pytest.raises(ValueError, match="sampler 'dpmpp_2m' takes no option 's_churn'"):
        g.sample(2, sampler="dpmpp_2m", s_churn=1.0)
    with pytest.raises(ValueError, match=r"unknown sampler='plms'; choose one of \['ddpm'"):
        g.sample(2, sampler="plms")


@pytest.mark.slow  # trains a second model; guided() itself is tested in tests/diffusion/test_guidance.py
def test_labels_and_guidance_steer_a_conditional_model(conditional):
    g = jaxgen.load(conditional)
    plain = g.sample(2, labels=[0], guidance=0.0, sampler="ddim", steps=3)
    guided = g.sample(2, labels=[0], guidance=4.0, sampler="ddim", steps=3)
    assert not np.array_equal(plain, guided)
    with pytest.raises(ValueError, match=r"labels=\[10\]: each must be a class id in \[0, 9\]"):
        g.sample(2, labels=[10])


def test_sample_script_over_the_registry(workdir, tmp_path):
    out = tmp_path / "grid.png"
    proc = run_script("sample.py", f"--workdir={workdir}", "--sampler=heun", "--steps=3",
                      "--spacing=karras", "--s_churn=0.5", "--num=4", f"--out={out}")
    assert "nfe=5" in proc.stdout and out.is_file()
    bad = run_script("sample.py", f"--workdir={workdir}", "--labels=0,3", "--num=2",
                     f"--out={out}", check=False)
    assert bad.returncode != 0 and "unconditional" in bad.stderr and "Traceback" not in bad.stderr


def test_half_written_checkpoint_is_a_one_line_error(workdir, tmp_path):
    import shutil
    copy = tmp_path / "w"
    shutil.copytree(workdir, copy)
    for f in (copy / "checkpoints" / "4" / "state").rglob("*"):
        if f.is_file() and f.parent.name == "d":
            f.write_bytes(f.read_bytes()[:5])
    proc = run_script("sample.py", f"--checkpoint={copy / 'checkpoints' / '4'}",
                      f"--out={tmp_path / 'x.png'}", check=False)
    # one line says it all; orbax's abandoned parallel reads may log around it at shutdown,
    # from another thread, so their text can land on the same line (seen once in a cold run)
    errors = [l for l in proc.stderr.splitlines() if "sample.py: error: checkpoint" in l]
    assert proc.returncode != 0 and len(errors) == 1, proc.stderr[-3000:]
    assert "cannot be read" in errors[0] and "pick another of [4]" in errors[0]
    tmp_dir = copy / "checkpoints" / "8.orbax-checkpoint-tmp-123"
    proc = run_script("sample.py", f"--checkpoint={tmp_dir}", "--out=x.png", check=False)
    assert proc.returncode != 0 and "expected WORKDIR/checkpoints/STEP" in proc.stderr
    assert (copy / "checkpoints" / "4").is_dir()  # a reader never moves files
