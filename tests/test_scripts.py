"""The entry scripts turn bad flags into one clear line and a non-zero exit."""
from conftest import run_script


def test_train_typo_in_override_is_a_clear_error(tmp_path):
    proc = run_script("train.py", f"--workdir={tmp_path}", "--config=configs/ddpm_fmnist.py:smoke",
                      "--config.train.stpes=3", check=False)
    assert proc.returncode != 0
    assert "did you mean 'train.steps'" in proc.stderr and "Traceback" not in proc.stderr


def test_train_without_config_on_empty_workdir(tmp_path):
    proc = run_script("train.py", f"--workdir={tmp_path}", check=False)
    assert proc.returncode != 0 and "not a jaxgen workdir" in proc.stderr


def test_sample_on_missing_workdir(tmp_path):
    proc = run_script("sample.py", f"--workdir={tmp_path / 'nope'}", "--out=x.png", check=False)
    assert proc.returncode != 0 and "config.json" in proc.stderr and "Traceback" not in proc.stderr


def test_sample_needs_an_output(tmp_path):
    proc = run_script("sample.py", f"--workdir={tmp_path}", check=False)
    assert proc.returncode == 2 and "--out" in proc.stderr


def test_train_zero_batch_size_is_a_clear_error(tmp_path):
    proc = run_script("train.py", f"--workdir={tmp_path}", "--config=configs/ddpm_fmnist.py:smoke",
                      "--config.train.batch_size=0", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "config.train.batch_size=0 must be >= 1" in proc.stderr
    assert not (tmp_path / "config.json").exists()
