"""Exact resume for the GAN (two optimiser states, BN statistics, spectral-norm vectors, EMA of
G), the VAE, the text-to-image diffusion model and SR3 super-resolution: a clean stop and a SIGKILL mid-run both
continue to identical metrics and state.

The uninterrupted reference and the resumed halves run in-process (cheap); only the run that
is killed is a `train.py` subprocess.
"""

import jax
import numpy as np
import pytest

from jaxgen import sampling
from jaxgen.train import run
from jaxgen.train.logging import read_metrics
from conftest import kill_after_checkpoint, smoke_config, start_script

STOP = 60
# dcgan_fmnist:smoke has BN + SN + hinge + EMA; t2i_compose:smoke a text encoder trained with
# the U-Net, prompts dropped per example, EMA; inpaint_fmnist:smoke a mask per example drawn
# from its (step, index) key; sr3_fmnist:smoke low-resolution conditions made from each batch
# with noise augmentation drawn per example (slow: the fast suite keeps the first two)
NAMES = ["dcgan_fmnist", "vae_fmnist", pytest.param("t2i_compose", marks=pytest.mark.slow),
         pytest.param("inpaint_fmnist", marks=pytest.mark.slow),
         pytest.param("sr3_fmnist", marks=pytest.mark.slow)]
OVERRIDES = {"train.steps": 1000, "train.checkpoint_every": 4, "train.log_every": 4}
EXTRA = {"sr3_fmnist": {"sr.noise_aug": 0.2}}   # the condition's noise draws must resume too


def _overrides(name):
    return {**OVERRIDES, **EXTRA.get(name, {})}


def _config(name):
    return smoke_config(name, **_overrides(name))


def _start(name, workdir):
    flags = [f"--config.{k}={v}" for k, v in _overrides(name).items()]
    return start_script("train.py", f"--workdir={workdir}", f"--config=configs/{name}.py:smoke",
                        *flags)


def _rows(workdir):
    return [{k: v for k, v in r.items() if k != "images_per_s"}
            for r in read_metrics(workdir / "metrics.jsonl")]


def _state(workdir):
    _, _, state, _, _ = sampling.load(None, str(workdir / "checkpoints" / str(STOP)))
    return jax.device_get(state)


@pytest.fixture(scope="module", params=NAMES)
def reference(request, tmp_path_factory):
    workdir = tmp_path_factory.mktemp(f"{request.param}_uninterrupted")
    run(_config(request.param), workdir, stop_after=STOP)
    return request.param, workdir


def _assert_same(workdir, reference_dir):
    rows, want = _rows(workdir), _rows(reference_dir)
    assert rows == want and rows[-1]["step"] == STOP
    jax.tree.map(np.testing.assert_array_equal, _state(workdir), _state(reference_dir))


@pytest.mark.slow  # clean-stop resume stays in make test for diffusion (test_loop.py)
def test_clean_stop_then_resume_is_bit_identical(reference, tmp_path):
    name, reference_dir = reference
    run(_config(name), tmp_path, stop_after=8)
    run(_config(name), tmp_path, stop_after=STOP)
    _assert_same(tmp_path, reference_dir)


def test_sigkill_then_resume_is_bit_identical(reference, tmp_path):
    name, reference_dir = reference
    proc = _start(name, tmp_path)
    kill_after_checkpoint(tmp_path, proc, step=8, before=STOP)
    run(_config(name), tmp_path, stop_after=STOP)
    _assert_same(tmp_path, reference_dir)
