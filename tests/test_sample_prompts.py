"""sample.py --prompt / --prompts_file: one captioned grid row per prompt plus a sidecar list;
prompts for a model without text conditioning are one clear line."""
import numpy as np
import pytest
from PIL import Image

from jaxgen import config as config_lib
from conftest import run_script, smoke_config, untrained_workdir


def test_prompt_on_a_model_without_text_is_a_clear_error(tmp_path):
    workdir = tmp_path / "dit"                  # checked on config.json, before any loading
    workdir.mkdir()
    (workdir / "config.json").write_text(config_lib.to_json(smoke_config("dit_fmnist")))
    proc = run_script("sample.py", f"--workdir={workdir}", "--prompt=a red bag",
                      f"--out={tmp_path / 'g.png'}", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "is not a text-to-image model" in proc.stderr and not (tmp_path / "g.png").exists()


@pytest.mark.slow  # compiles a sampler in a subprocess
def test_prompts_give_one_captioned_row_each(tmp_path):
    workdir = untrained_workdir(smoke_config("t2i_compose:dit_smoke"), tmp_path / "t2i")
    (tmp_path / "prompts.txt").write_text('two blue sandals\n\n""\n')
    out = tmp_path / "grid.png"
    proc = run_script("sample.py", f"--workdir={workdir}", "--prompt=a red bag", "--num=3",
                      f"--prompts_file={tmp_path / 'prompts.txt'}", "--scale=1", f"--out={out}")
    assert "row 2: the empty prompt is the unconditional sample" in proc.stdout
    assert out.with_suffix(".txt").read_text().splitlines() == [
        "row 0: a red bag", "row 1: two blue sandals", 'row 2: "" (unconditional)']
    grid = np.asarray(Image.open(out))
    assert grid.shape == (3 * (32 + 4 + 14), 3 * 34 + 2, 3)   # 3 rows of 3, a caption strip each
    assert grid[36:50].min() < 100 and grid[36:50].max() == 255  # dark text on a white strip


def test_eval_alignment_on_a_model_without_text_is_a_clear_error(tmp_path, capsys):
    import sample
    workdir = tmp_path / "ddpm"                 # checked on config.json, before any loading
    workdir.mkdir()
    (workdir / "config.json").write_text(config_lib.to_json(smoke_config("ddpm_fmnist")))
    for flag in ("--eval_alignment", "--eval_guidance=0,2"):
        with pytest.raises(SystemExit, match=f"{flag.split('=')[0]} given, but .* is not a "
                                             f"text-to-image model"):
            sample.main([f"--workdir={workdir}", "--eval", flag])


@pytest.mark.slow  # samples a text model a few times in a subprocess
def test_eval_on_a_text_model_reports_alignment_by_guidance(tmp_path):
    import json
    workdir = untrained_workdir(smoke_config("t2i_compose"), tmp_path / "t2i")
    proc = run_script("sample.py", f"--workdir={workdir}", "--eval", "--eval_num=8",
                      "--eval_guidance=0,2", "--guidance=2", "--steps=2", "--no-eval_bpd")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    from jaxgen.metrics.prompts import CATEGORIES
    for c in CATEGORIES:
        assert 0 <= result[f"alignment_{c}"] <= 1 or result[f"n_{c}"] == 0
        assert f"ceiling_{c}" in result
    assert [r["guidance"] for r in result["guidance_sweep"]] == [0.0, 2.0]
    assert result["guidance"] == 2.0 and result["fd"] > 0 and "each 16x16 cell" in result["features"]
    assert result["baseline"]["fd"] < result["fd"]     # an untrained model: noise, far from data
