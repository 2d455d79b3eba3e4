"""The rows of benchmarks/sampler_quality.py read back: the reference, the goals, the merge of
several runs into one JSON, the Markdown table and the FD-against-NFE plot: plain data, so
that a JSON can be merged, re-read and plotted without loading a model.

A row: dict(role="reference" | "ladder" | "student", sampler, steps, nfe, spacing, fd,
seconds_per_image, ...). Rows are keyed by (role, sampler, steps, spacing): a merged row of the
same key replaces the older one."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from jaxgen.metrics.compare import FD_LABEL

GOAL_SAMPLERS, GOAL_RATIO = ("dpmpp_2m", "heun"), 1.10   # FD <= 1.1 x the reference's
STUDENT_GOAL_STEPS, STUDENT_GOAL_RATIO = 4, 1.25          # student FD <= 1.25 x teacher's best
COLUMNS = ("sampler", "steps", "nfe", "spacing", "fd", "seconds_per_image", "compile_s", "num")
COMPARABLE = ("workdir", "num", "batch", "seed", "test_images", "features")   # same x_T, same data
BENCH_EXTRA = "pip install -e '.[bench]'"


def row_key(row: dict) -> tuple:
    return row["role"], row["sampler"], row["steps"], row["spacing"]


def merge_rows(base: list[dict], new: list[dict]) -> list[dict]:
    """base's rows, those with a key in `new` replaced in place, then new's other rows."""
    merged = {row_key(r): r for r in base}
    merged.update((row_key(r), r) for r in new)
    return list(merged.values())


def check_comparable(base: dict, run: dict, what: str) -> None:
    """Raises ValueError when a COMPARABLE field differs: rows of other seeds, batches (x_T
    is drawn per batch) or test images would not be comparable."""
    for k in COMPARABLE:
        if k in base and k in run and base[k] != run[k]:
            raise ValueError(f"{what}: its {k} is {base[k]!r}, this run's is {run[k]!r}; rows "
                             f"are comparable only at the same {k}: rerun with {k} {base[k]!r}")


def read_json(path: str, what: str) -> dict:
    """A JSON this script wrote (--out); ValueError naming `what` and the path otherwise."""
    try:
        result = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{what} {path}: not a readable JSON ({e}); give a JSON this script "
                         f"wrote with --out") from None
    if result.get("benchmark") != "sampler_quality" or "rows" not in result:
        raise ValueError(f"{what} {path}: not a sampler_quality JSON (no rows); give one this "
                         f"script wrote with --out")
    return result


def from_json(paths: list[str], roles) -> dict:
    """The rows of the --from JSONs whose role is in `roles`, merged in order, with the first
    one's metadata; each JSON's "runs" (or its path) in "runs"."""
    first, rows, runs = None, [], []
    for path in paths:
        part = read_json(path, "--from")
        first = first or part
        check_comparable(first, part, f"--from {path}")
        rows = merge_rows(rows, [r for r in part["rows"] if r["role"] in roles])
        runs += part.get("runs", [f"(rows of {path})"])
    return dict(first, rows=rows, runs=runs)


def merged(run: dict, base_path: str | None) -> dict:
    """run's rows merged into the --merge JSON's (and its runs appended), or run alone."""
    if base_path is None:
        return run
    base = read_json(base_path, "--merge")
    check_comparable(base, run, f"--merge {base_path}")
    return dict(base, rows=merge_rows(base["rows"], run["rows"]),
                runs=[*base.get("runs", []), *run["runs"]])


def reference_of(rows: list[dict]) -> dict | None:
    """The reference row with the most steps (DDPM-1000 before DDPM-100), None without one."""
    return max((r for r in rows if r["role"] == "reference"), key=lambda r: r["steps"],
               default=None)


def first_within(rows: list[dict], fd: float, ratio: float) -> dict:
    """The first of `rows` (NFE order) with FD <= ratio x fd: its nfe, steps, fd, fd_ratio and
    seconds_per_image (all None when none is), plus the best ratio over all rows."""
    ratios = [r["fd"] / fd for r in rows]
    hit = next((i for i, q in enumerate(ratios) if q <= ratio), None)
    keys = ("nfe", "steps", "fd", "seconds_per_image")
    out = {k: None if hit is None else rows[hit][k] for k in keys}
    return dict(out, fd_ratio=None if hit is None else ratios[hit],
                best_ratio=min(ratios, default=None))


def goals(rows: list[dict], reference_fd: float) -> dict:
    """{sampler: {spacing: first_within(its ladder rows, reference_fd, 1.1)}} per goal
    sampler; {} for a sampler that was not run."""
    out = {}
    for sampler in GOAL_SAMPLERS:
        mine = sorted((r for r in rows if r["sampler"] == sampler and r["role"] == "ladder"),
                      key=lambda r: r["nfe"])
        out[sampler] = {s: first_within([r for r in mine if r["spacing"] == s], reference_fd,
                                        GOAL_RATIO)
                        for s in dict.fromkeys(r["spacing"] for r in mine)}
    return out


def student_goal(rows: list[dict]) -> dict | None:
    """The student at 4 steps against the teacher's best row (lowest FD of any ladder or
    reference row): both rows' setting, FD and seconds per image, the ratio and whether it
    meets 1.25; None without both."""
    student = next((r for r in rows if r["role"] == "student"
                    and r["steps"] == STUDENT_GOAL_STEPS), None)
    teacher = min((r for r in rows if r["role"] != "student"), key=lambda r: r["fd"],
                  default=None)
    if student is None or teacher is None:
        return None
    pick = ("sampler", "steps", "nfe", "spacing", "fd", "seconds_per_image")
    ratio = student["fd"] / teacher["fd"]
    return dict(student={k: student[k] for k in pick}, teacher_best={k: teacher[k] for k in pick},
                fd_ratio=ratio, goal_ratio=STUDENT_GOAL_RATIO, met=ratio <= STUDENT_GOAL_RATIO)


def summarize(result: dict) -> dict:
    """result with its reference, goals and student goal recomputed from its rows."""
    rows = result["rows"]
    reference = reference_of(rows)
    return dict(result, reference=reference, goal_ratio=GOAL_RATIO,
                goals=goals(rows, reference["fd"]) if reference else {},
                student_goal=student_goal(rows))


def goal_lines(result: dict) -> list[str]:
    """One line per goal sampler and spacing, one for the student."""
    ref = result["reference"]
    if ref is None:
        return ["goals: no reference row (add reference to --rows)"]
    name, lines = f"DDPM-{ref['steps']} FD {ref['fd']:.2f}", []
    for sampler, per_spacing in result["goals"].items():
        if not per_spacing:
            lines.append(f"goal {sampler}: not run (add it to --samplers)")
        for spacing, g in per_spacing.items():
            head = f"goal {sampler} {spacing}: "
            lines.append(head + (f"never within 10% of {name} (best FD ratio "
                                 f"{g['best_ratio']:.3f})" if g["nfe"] is None else
                                 f"within 10% of {name} from NFE {g['nfe']} (steps "
                                 f"{g['steps']}), FD ratio {g['fd_ratio']:.3f}, "
                                 f"{g['seconds_per_image']:.4f} s/image"))
    if s := result.get("student_goal"):
        best = s["teacher_best"]
        lines.append(f"goal student {s['student']['steps']} steps: FD {s['student']['fd']:.2f} "
                     f"= {s['fd_ratio']:.2f} x the teacher's best ({best['sampler']} "
                     f"{best['spacing']} NFE {best['nfe']}, FD {best['fd']:.2f}); target "
                     f"<= {s['goal_ratio']}: {'met' if s['met'] else 'not met'}")
    return lines


def table(rows: list[dict]) -> str:
    cells = [[r["role"] + " " + r["sampler"] if r["role"] != "ladder" else r["sampler"],
              *(f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k]) for k in COLUMNS[1:])]
             for r in rows]
    head = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS)
    return "\n".join([head, *("| " + " | ".join(c) + " |" for c in cells)])


def series_label(row: dict) -> str:
    return ("student " if row["role"] == "student" else "") + f"{row['sampler']} {row['spacing']}"


def plot_series(rows: list[dict]) -> dict:
    """What the plot draws. lines: {label: [(nfe, fd), ...] in NFE order} per sampler and
    spacing of the ladder and per student sampler ("student ..."), in order of first
    appearance; references: [(label, fd)] horizontal lines, most steps first."""
    lines = {series_label(r): [] for r in rows if r["role"] != "reference"}
    for r in sorted((r for r in rows if r["role"] != "reference"), key=lambda r: r["nfe"]):
        lines[series_label(r)].append((r["nfe"], r["fd"]))
    refs = sorted((r for r in rows if r["role"] == "reference"), key=lambda r: -r["steps"])
    return dict(lines=lines, references=[(f"DDPM ancestral {r['steps']} steps", r["fd"])
                                         for r in refs])


def pyplot_or_none(note=lambda m: print(m, file=sys.stderr)):
    """matplotlib.pyplot on the Agg back-end, or None (noting the extra that installs it)."""
    try:
        import matplotlib
    except ImportError:
        note(f"--plot skipped: matplotlib is not installed ({BENCH_EXTRA}, or pip install "
             f"matplotlib); the JSON is printed all the same")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


SPACING_STYLES = {"edm": "-", "karras": "--"}    # others (uniform, trailing_exact, ...): -.
FD_TICKS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def spaced_ticks(values, min_ratio: float = 1.1) -> list[int]:
    """Sorted distinct values, each kept only when >= min_ratio x the last kept (no label
    overlap on a log axis: 19 and 20 keep 19)."""
    kept = []
    for v in sorted(set(values)):
        if not kept or v >= min_ratio * kept[-1]:
            kept.append(v)
    return kept


def plot(plt, path, series: dict, title: str) -> None:
    """FD (log y) against NFE (log x): one line per sampler (colour) and spacing (line style),
    the student's points as large black stars, one grey horizontal line per reference."""
    fig, ax = plt.subplots(figsize=(9.5, 5))
    colors = {}
    for label, points in series["lines"].items():
        if label.startswith("student"):
            ax.plot(*zip(*points), label=label, marker="*", markersize=12, color="black",
                    linewidth=2)
            continue
        sampler, spacing = label.split(" ", 1)
        color = colors.setdefault(sampler, f"C{len(colors)}")
        ax.plot(*zip(*points), label=label, marker="o", markersize=4, color=color,
                linestyle=SPACING_STYLES.get(spacing, "-."))
    for (label, fd), style in zip(series["references"], ("--", ":", "-.")):
        ax.axhline(fd, color="dimgray", linestyle=style, label=f"{label}: FD {fd:.1f}")
    ticks = spaced_ticks(n for points in series["lines"].values() for n, _ in points)
    ax.set(xscale="log", yscale="log", xlabel="NFE (network evaluations)", ylabel=FD_LABEL,
           title=title)
    ax.set_xticks(ticks, labels=[str(t) for t in ticks])
    fds = [fd for points in series["lines"].values() for _, fd in points]
    fds += [fd for _, fd in series["references"]]
    y_ticks = [y for y in FD_TICKS if min(fds) / 2 <= y <= max(fds) * 2]
    ax.set_yticks(y_ticks, labels=[str(y) for y in y_ticks])
    ax.minorticks_off()
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
