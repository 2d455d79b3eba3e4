"""benchmarks/sampler_quality.py: NFE ladder, JSON rows and goal lines on a smoke workdir."""
import importlib.util
import json
import sys

import pytest

from conftest import ROOT, smoke_config
from jaxgen.train import run

ROW_KEYS = {"sampler", "steps", "nfe", "spacing", "fd", "seconds_total", "seconds_per_image",
            "compile_s", "num"}


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("sampler_quality",
                                                  ROOT / "benchmarks" / "sampler_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_steps_match_the_target_nfe(bench):
    assert [bench.steps_for("heun", n, 1000) for n in (4, 6, 10, 15, 100)] == [2, 3, 5, 8, 50]
    assert [bench.steps_for("dpmpp_2m", n, 1000) for n in (4, 15, 100)] == [4, 15, 100]
    assert bench.steps_for("ddim", 150, 100) is None          # more steps than the schedule
    assert bench.parse_spacing(["uniform", "heun=karras"]) == {"*": "uniform", "heun": "karras"}
    with pytest.raises(SystemExit, match="SAMPLER=SPACING"):
        bench.parse_spacing(["heun=cosine"])


def test_plot_without_matplotlib_names_the_extra(bench, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # import matplotlib -> ImportError
    with pytest.raises(SystemExit, match=r"pip install -e '\.\[bench\]'"):
        bench.main(["--workdir", "unused", "--plot", "fd.png"])


@pytest.mark.slow  # an end-to-end benchmark run
def test_smoke_workdir_rows_and_goals(bench, tmp_path, capsys):
    run(smoke_config(**{"train.steps": 2, "train.checkpoint_every": 2}), tmp_path / "w")
    out = tmp_path / "bench.json"
    result = bench.main(["--workdir", str(tmp_path / "w"), "--num", "8", "--batch", "8",
                         "--nfe", "4", "--samplers", "dpmpp_2m", "heun",
                         "--reference_steps", "10", "--out", str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[-1]) == json.loads(out.read_text()) == json.loads(json.dumps(result))
    rows = {(r["role"], r["sampler"]): r for r in result["rows"]}
    assert sorted(rows) == [("ladder", "dpmpp_2m"), ("ladder", "heun"), ("reference", "ddpm")]
    assert all(ROW_KEYS <= set(r) and r["num"] == 8 and r["fd"] > 0 for r in rows.values())
    heun, dpm = rows["ladder", "heun"], rows["ladder", "dpmpp_2m"]
    assert (heun["steps"], heun["nfe"], heun["spacing"]) == (2, 3, "edm")
    assert (dpm["steps"], dpm["nfe"], dpm["spacing"]) == (4, 4, "edm")
    ref = rows["reference", "ddpm"]
    assert (ref["steps"], ref["nfe"], ref["spacing"]) == (10, 10, "uniform")
    assert set(result["goals"]) == {"dpmpp_2m", "heun"}
    assert sum(line.startswith("goal ") for line in lines) == 2
