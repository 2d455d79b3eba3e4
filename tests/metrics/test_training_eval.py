"""Evaluation inside training (eval/* rows in metrics.jsonl) and `sample.py --eval`."""
import json

import numpy as np
import pytest

from jaxgen.train import run
from jaxgen.train.logging import read_metrics
from conftest import load_script, smoke_config

EVAL_KEYS = {"fd", "kid", "kid_std", "precision", "recall", "classifier_score", "bits_per_dim"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("evalrun")
    run(smoke_config(**{"train.steps": 4}), d)
    return d


@pytest.mark.slow  # compiles the whole evaluation inside a training run
def test_training_logs_eval_rows(tmp_path):
    workdir = tmp_path
    run(smoke_config(**{"eval.every": 8, "eval.num_samples": 20}), workdir)
    rows = read_metrics(workdir / "metrics.jsonl")
    evals = [r for r in rows if "eval/fd" in r]
    assert [r["step"] for r in evals] == [8]
    assert {f"eval/{k}" for k in EVAL_KEYS} <= set(evals[0])
    assert all(np.isfinite(v) for v in evals[0].values())
    assert all("loss" in r for r in rows if r not in evals)  # training rows are unchanged


def test_sample_py_eval_writes_json(workdir, capsys):
    sample = load_script("sample.py")
    sample.main([f"--workdir={workdir}", "--eval", "--eval_num=20", "--eval_batch=10",
                 "--steps=3"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result == json.loads((workdir / "eval.json").read_text())
    assert EVAL_KEYS <= set(result) and result["n_fake"] == 20
    assert {"fd", "kid", "precision", "recall"} <= set(result["baseline"])
    assert result["test_images"].startswith("fashion_mnist:test") and result["n_test_images"] > 0
    assert result["baseline"]["train_images"].startswith("fashion_mnist:train")
    assert result["baseline"]["n_train_images"] > 0
    assert result["sample_options"]["steps"] == 3 and result["step"] == 4
    assert result["bits_per_dim"] > 0 and result["n_likelihood"] == 20


def test_sample_py_eval_without_bpd(workdir, capsys):
    """--no-eval_bpd (what `make demo` uses) scores samples only."""
    sample = load_script("sample.py")
    sample.main([f"--workdir={workdir}", "--eval", "--eval_num=10", "--eval_batch=10",
                 "--steps=2", "--no-eval_bpd", f"--eval_out={workdir / 'eval_nobpd.json'}"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "fd" in result and result["n_fake"] == 10
    assert "bits_per_dim" not in result and "n_likelihood" not in result
