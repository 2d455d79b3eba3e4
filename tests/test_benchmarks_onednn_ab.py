"""benchmarks/onednn_ab.py on the smoke U-Net: both steps built, oneDNN's custom calls only in
one of them, the same state after one step up to float rounding."""
import json

import pytest

from conftest import load_script


@pytest.mark.slow  # compiles two smoke train steps (30-50 s); tests/kernels covers the kernels
def test_onednn_ab_compares_the_two_steps(tmp_path, capsys):
    out = tmp_path / "ab.json"
    load_script("benchmarks/onednn_ab.py").main(
        ["--configs", "configs/ddpm_fmnist.py:smoke", "--steps", "2", "--out", str(out)])
    result = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == result
    (row,) = result["results"]
    assert set(row["custom_calls"]["xla"].values()) == {0}
    assert row["custom_calls"]["onednn"]["onednn_conv"] > 0
    assert row["custom_calls"]["onednn"]["group_norm"] > 0
    assert 0 < row["max_rel_state_diff_after_one_step"] < 1e-4
    assert row["onednn_ms"] > 0 and row["xla_ms"] > 0
