"""Metrics to `metrics.jsonl`, a rich progress bar, and the parameter-count table."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class MetricsWriter:
    """Appends one JSON object per logged step. On resume, rows past the restored step (written
    after the checkpoint by a run that then died) move to `metrics.after_<step>.jsonl` beside it,
    so the log matches the state and no row is lost; rows up to the step are never touched."""

    def __init__(self, path, *, resume_step: int):
        self.path = Path(path)
        rows = read_metrics(self.path) if self.path.exists() else []
        later = [r for r in rows if r.get("step", 0) > resume_step]
        if later:
            backup = self.path.with_name(f"{self.path.stem}.after_{resume_step}.jsonl")
            with backup.open("a") as f:
                f.write(_lines(later))
            tmp = self.path.with_suffix(".jsonl.tmp")
            tmp.write_text(_lines([r for r in rows if r.get("step", 0) <= resume_step]))
            tmp.replace(self.path)  # atomic: a kill here leaves the old file or the new one

    def write(self, row: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")


def _lines(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def read_metrics(path) -> list[dict]:
    """Reads metrics.jsonl; a torn last line (a kill mid-write) is ignored."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def non_finite(metrics: dict) -> list[str]:
    return [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]


def make_progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                    console=console, disable=not console.is_terminal)


def format_metrics(step: int, metrics: dict) -> str:
    keys = [k for k in ("loss", "images_per_s", "lr") if k in metrics]
    keys += [k for k in metrics if k not in keys and k not in ("step", "images_seen")][:4]
    parts = [f"{k}={metrics[k]:.4g}" if isinstance(metrics[k], float) else f"{k}={metrics[k]}"
             for k in keys]
    return f"step {step} " + " ".join(parts)


def print_param_counts(console: Console, groups: dict[str, int]) -> None:
    for name, n in groups.items():
        console.print(f"parameters {name}: {n:,}")


def default_console() -> Console:
    return Console(file=sys.stdout, highlight=False)
