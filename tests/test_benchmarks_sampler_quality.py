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


def fake_run(rows, **meta) -> dict:
    """A JSON as the script writes it, with rows (role, sampler, steps, nfe, spacing, fd)."""
    keys = ("role", "sampler", "steps", "nfe", "spacing", "fd")
    rows = [dict(zip(keys, r), seconds_per_image=r[3] * 1e-3, compile_s=1.0, num=500)
            for r in rows]
    return dict(dict(benchmark="sampler_quality", workdir="w", step=10, num=500, batch=250,
                     seed=0, rows=rows, runs=["first"]), **meta)


BASE = [("reference", "ddpm", 100, 100, "uniform", 60.0),
        ("ladder", "dpmpp_2m", 20, 20, "edm", 58.0), ("ladder", "dpmpp_2m", 4, 4, "edm", 130.0),
        ("ladder", "dpmpp_2m", 10, 10, "edm", 80.0), ("ladder", "dpmpp_2m", 10, 10, "karras", 61.0),
        ("ladder", "heun", 5, 9, "edm", 70.0), ("ladder", "heun", 2, 3, "edm", 1300.0),
        ("student", "ddim", 4, 4, "trailing_exact", 100.0),
        ("student", "ddim", 1, 1, "trailing_exact", 400.0)]
NEW = [("reference", "ddpm", 1000, 1000, "uniform", 55.0),
       ("ladder", "dpmpp_2m", 10, 10, "edm", 59.0),        # replaces the base's 80.0
       ("student", "ddim", 2, 2, "trailing_exact", 150.0)]  # not in --rows reference ladder


def write(path, result):
    path.write_text(json.dumps(result))
    return str(path)


def test_merge_goals_and_plot_data_from_json(bench, tmp_path, capsys):
    base = write(tmp_path / "base.json", fake_run(BASE))
    new = write(tmp_path / "new.json", fake_run(NEW, runs=["second"]))
    out, png = tmp_path / "merged.json", tmp_path / "plot.png"
    result = bench.main(["--from", new, "--rows", "reference", "ladder", "--merge", base,
                         "--out", str(out), "--plot", str(png)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    rows = {bench.report.row_key(r): r["fd"] for r in result["rows"]}
    assert len(rows) == len(BASE) + 1 and rows["ladder", "dpmpp_2m", 10, "edm"] == 59.0
    assert result["reference"]["steps"] == 1000 and result["runs"] == ["first", "second"]
    # within 1.1 x 55 = 60.5: dpmpp_2m edm from NFE 10 (59), karras never (61), heun never (70)
    dpm, heun = result["goals"]["dpmpp_2m"], result["goals"]["heun"]
    assert (dpm["edm"]["nfe"], dpm["edm"]["seconds_per_image"]) == (10, 0.01)
    assert dpm["edm"]["fd_ratio"] == pytest.approx(59 / 55)
    assert dpm["karras"]["nfe"] is None and dpm["karras"]["best_ratio"] == pytest.approx(61 / 55)
    assert heun["edm"]["nfe"] is None and heun["edm"]["best_ratio"] == pytest.approx(70 / 55)
    student = result["student_goal"]                       # teacher's best: the DDPM-1000 row
    assert student["teacher_best"]["steps"] == 1000 and not student["met"]
    assert student["fd_ratio"] == pytest.approx(100 / 55)
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("goal ") for line in lines) == 4
    series = bench.report.plot_series(result["rows"])
    assert series["references"] == [("DDPM ancestral 1000 steps", 55.0),
                                     ("DDPM ancestral 100 steps", 60.0)]
    assert series["lines"]["dpmpp_2m edm"] == [(4, 130.0), (10, 59.0), (20, 58.0)]
    assert series["lines"]["student ddim trailing_exact"] == [(1, 400.0), (4, 100.0)]
    assert set(series["lines"]) == {"dpmpp_2m edm", "dpmpp_2m karras", "heun edm",
                                    "student ddim trailing_exact"}
    assert bench.report.spaced_ticks([20, 19, 1, 4, 9, 10, 4]) == [1, 4, 9, 10, 19]
    if importlib.util.find_spec("matplotlib") is None:      # the bench extra is optional
        assert not png.exists()
    else:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_merge_refuses_rows_of_another_seed(bench, tmp_path):
    base = write(tmp_path / "base.json", fake_run(BASE))
    new = write(tmp_path / "new.json", fake_run(NEW, seed=1))
    with pytest.raises(ValueError, match="seed is 0, this run's is 1"):
        bench.main(["--from", new, "--merge", base])


def test_plot_without_matplotlib_still_prints_the_json(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # import matplotlib -> ImportError
    source, png = write(tmp_path / "run.json", fake_run(BASE)), tmp_path / "fd.png"
    result = bench.main(["--from", source, "--plot", str(png)])
    out, err = capsys.readouterr()
    assert json.loads(out.strip().splitlines()[-1]) == json.loads(json.dumps(result))
    assert "pip install -e '.[bench]'" in err and not png.exists()


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
    again = bench.main(["--workdir", str(tmp_path / "w"), "--num", "8", "--batch", "8",
                        "--rows", "reference", "--reference_steps", "20", "--merge", str(out)])
    assert [r["steps"] for r in again["rows"]] == [10, 4, 2, 20]      # appended, the rest kept
    assert again["reference"]["steps"] == 20 and len(again["runs"]) == 2
