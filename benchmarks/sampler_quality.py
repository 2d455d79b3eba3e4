"""Sample quality against network evaluations (NFE): FD and wall time of every registry sampler
at a ladder of NFE, beside DDPM at 1,000 steps as the reference, printed and written as JSON.

  python benchmarks/sampler_quality.py --workdir=runs/demo --num=1000 \\
      --out=docs/bench_sampler_quality.json --plot=docs/images/sampler_quality.png \\
      --grid=docs/images/sampler_grid.png [--student=runs/student]

Per setting: FD ("FD (jaxgen Fashion-MNIST features)", jaxgen.metrics) of --num samples
against --num test images, the sampling wall time (block_until_ready; the compile is timed
apart, ahead of time, and is a cold one: no persistent cache) and seconds per image (over the
images made: --batch should divide --num). Steps per sampler are chosen so that the NFE is
the target's (heun: steps = (NFE + 1) // 2, so NFE 2 steps - 1 is one less); a target no
step count reaches within 1 is skipped. Spacing: edm for euler / heun / dpmpp* / unipc, the
workdir's config default for ddpm / ddim; `--spacing karras` sets all, `--spacing ddim=karras`
one. All samplers draw x_T the same way from the seed (diffusion.sample), so rows share their
starting noise; the grid passes one x_T explicitly all the same. --student WORKDIR adds a
(distilled) diffusion workdir at 1, 2, 4 and 8 steps of its config's sampler. The goal lines
name the smallest NFE at which dpmpp_2m and heun come within 10% of the reference's FD.
stdout: a Markdown table, the goal lines, then one JSON line. Progress goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from jaxgen import api  # noqa: E402
from jaxgen.checkpoint import CheckpointError  # noqa: E402
from jaxgen.diffusion import SAMPLERS, SPACINGS, nfe  # noqa: E402
from jaxgen.metrics.compare import FD_LABEL, features_id  # noqa: E402
from jaxgen.metrics.feature_net import extract  # noqa: E402
from jaxgen.metrics.frechet import frechet_distance_features  # noqa: E402
from jaxgen.metrics.images import to_feature_input  # noqa: E402
from jaxgen.metrics.sample_eval import hardware  # noqa: E402
from jaxgen.metrics.training import subset  # noqa: E402
from jaxgen.utils import xla_flags  # noqa: E402
from jaxgen.utils.images import make_grid, save_png, to_uint8  # noqa: E402

NFE_LADDER = (4, 6, 8, 10, 15, 20, 50, 100)
STUDENT_STEPS = (1, 2, 4, 8)
GOAL_SAMPLERS, GOAL_RATIO = ("dpmpp_2m", "heun"), 1.10   # FD <= 1.1 x the reference's
COLUMNS = ("sampler", "steps", "nfe", "spacing", "fd", "seconds_per_image", "compile_s", "num")
BENCH_EXTRA = "pip install -e '.[bench]'"


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def spacing_for(g, sampler: str, overrides: dict) -> str:
    """--spacing for this sampler, else for all, else edm (Karras sigmas up to 80: a cosine
    schedule's karras range starts at 2e4) for the sigma-space and multistep solvers and the
    workdir's config default (uniform) for ddpm / ddim."""
    if sampler in overrides or "*" in overrides:
        return overrides.get(sampler, overrides.get("*"))
    if sampler in ("euler", "heun", "unipc") or sampler.startswith("dpmpp"):
        return "edm"
    return g.info(sampler=sampler, steps=1)["spacing"]


def parse_spacing(entries: list[str]) -> dict[str, str]:
    """["karras"] -> {"*": "karras"}; ["ddim=karras", ...] -> {"ddim": "karras", ...}."""
    out = {}
    for entry in entries:
        name, _, spacing = entry.rpartition("=")
        if spacing not in SPACINGS or (name and name not in SAMPLERS):
            raise SystemExit(f"--spacing {entry!r}: give SPACING or SAMPLER=SPACING with SPACING "
                             f"in {list(SPACINGS)} and SAMPLER in {list(SAMPLERS)}")
        out[name or "*"] = spacing
    return out


def steps_for(sampler: str, target: int, max_steps: int, *, slack: int | None = 1) -> int | None:
    """The step count whose NFE is nearest `target` (ties: the cheaper), or None when it is
    off by more than `slack` (None: any) or would need more than max_steps steps."""
    candidates = range(1, min(target + 1, max_steps) + 1)
    if not candidates:
        return None
    steps = min(candidates, key=lambda s: (abs(nfe(sampler, s) - target), nfe(sampler, s)))
    off = abs(nfe(sampler, steps) - target)
    return steps if slack is None or off <= slack else None


def ladder(g, samplers, targets, spacings: dict, *, slack: int | None = 1) -> list[dict]:
    """The (sampler, steps, spacing) settings, one per distinct step count; notes the skips."""
    settings, max_steps = [], g.config.diffusion.num_steps
    for sampler in samplers:
        spacing, seen = spacing_for(g, sampler, spacings), set()
        for target in targets:
            steps = steps_for(sampler, target, max_steps, slack=slack)
            if steps is None:
                _note(f"skip {sampler} at NFE {target}: no step count within 1 (or > T)")
            elif steps not in seen:
                seen.add(steps)
                settings.append(dict(sampler=sampler, steps=steps, spacing=spacing))
    return settings


def timed_samples(g, *, num: int, batch: int, seed: int, **options):
    """(uint8 (num, H, W, C), compile_s, sampling seconds, images made). Batch i draws from
    fold_in(PRNGKey(seed), i) as `sample.py --eval` does; the program is compiled ahead of
    time once, so the timed calls are pure sampling, each waited on."""
    size, rng = min(batch, num), jax.random.PRNGKey(seed)
    fn = jax.jit(lambda state, key: g.family.generate(state, rng=key, num=size, **options))
    t0 = time.perf_counter()
    compiled = fn.lower(g.state, rng).compile()
    compile_s, seconds, out = time.perf_counter() - t0, 0.0, []
    for i in range(-(-num // size)):
        key = jax.random.fold_in(rng, i)
        t0 = time.perf_counter()
        images = jax.block_until_ready(compiled(g.state, key))
        seconds += time.perf_counter() - t0
        out.append(to_uint8(jax.device_get(images)))
    return np.concatenate(out)[:num], compile_s, seconds, size * len(out)


def measure(g, real_features, *, sampler, steps, spacing, num, batch, seed, role) -> dict:
    """One JSON row: FD of `num` samples of this setting and its timings."""
    images, compile_s, seconds, made = timed_samples(g, num=num, batch=batch, seed=seed,
                                                     sampler=sampler, steps=steps,
                                                     spacing=spacing)
    fake, _ = extract(to_feature_input(images, "samples", _note), what="samples")
    row = dict(sampler=sampler, steps=steps, nfe=nfe(sampler, steps), spacing=spacing,
               fd=frechet_distance_features(real_features, fake), seconds_total=seconds,
               seconds_per_image=seconds / made, compile_s=compile_s, num=num, role=role)
    _note(f"{role} {sampler} steps={steps} nfe={row['nfe']} {spacing}: FD {row['fd']:.2f}, "
          f"{row['seconds_per_image'] * 1e3:.2f} ms/image, compile {compile_s:.1f} s")
    return row


def goals(rows: list[dict], reference_fd: float) -> dict:
    """Per goal sampler: the smallest NFE with FD <= 1.1 x the reference's FD and that ratio
    (None when no NFE run reached it), plus the best ratio seen."""
    out = {}
    for sampler in GOAL_SAMPLERS:
        mine = sorted((r for r in rows if r["sampler"] == sampler and r["role"] == "ladder"),
                      key=lambda r: r["nfe"])
        ratios = [r["fd"] / reference_fd for r in mine]
        hit = next((i for i, q in enumerate(ratios) if q <= GOAL_RATIO), None)
        out[sampler] = dict(nfe=None if hit is None else mine[hit]["nfe"],
                            steps=None if hit is None else mine[hit]["steps"],
                            fd_ratio=None if hit is None else ratios[hit],
                            best_ratio=min(ratios, default=None), ran=bool(mine))
    return out


def goal_lines(goal: dict, reference: dict) -> list[str]:
    ref = f"DDPM-{reference['steps']} FD {reference['fd']:.2f}"
    lines = []
    for sampler, g in goal.items():
        if not g["ran"]:
            lines.append(f"goal {sampler}: not run (add it to --samplers)")
        elif g["nfe"] is None:
            lines.append(f"goal {sampler}: never within 10% of {ref} (best FD ratio "
                         f"{g['best_ratio']:.3f})")
        else:
            lines.append(f"goal {sampler}: within 10% of {ref} from NFE {g['nfe']} "
                         f"(steps {g['steps']}), FD ratio {g['fd_ratio']:.3f}")
    return lines


def require_pyplot():
    """matplotlib.pyplot on the Agg back-end, or exit naming the extra that installs it."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit(f"--plot needs matplotlib, which is not installed: {BENCH_EXTRA} "
                         f"(or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot(plt, path, rows: list[dict], reference: dict, title: str) -> None:
    """FD against NFE (log x), one line per sampler (and the student), the reference dashed."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = dict.fromkeys(("student " if r["role"] == "student" else "") + r["sampler"]
                          for r in rows if r["role"] != "reference")
    for name in names:
        mine = sorted((r for r in rows if r["role"] != "reference" and name ==
                       ("student " if r["role"] == "student" else "") + r["sampler"]),
                      key=lambda r: r["nfe"])
        ax.plot([r["nfe"] for r in mine], [r["fd"] for r in mine], marker="o", label=name)
    ax.axhline(reference["fd"], color="black", linestyle="--",
               label=f"ddpm {reference['steps']} steps")
    ticks = sorted({r["nfe"] for r in rows})
    ax.set(xscale="log", xlabel="NFE (network evaluations)", ylabel=FD_LABEL, title=title)
    ax.set_xticks(ticks, labels=[str(t) for t in ticks])
    ax.minorticks_off()
    ax.legend(fontsize="small")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def sampler_grid(g, path, settings: list[dict], *, num: int, seed: int, scale: int = 2):
    """One row of `num` images per setting, every row from the same x_T (passed explicitly)."""
    c = g.config.data
    x_T = jax.random.normal(jax.random.PRNGKey(seed), (num, c.image_size, c.image_size,
                                                      c.channels))
    rows = [to_uint8(jax.device_get(g.family.generate(g.state, rng=jax.random.PRNGKey(seed),
                                                      num=num, x_T=x_T, **s)))
            for s in settings]
    grid = make_grid(np.concatenate(rows), ncols=num)                  # (rows, cols) tiles
    save_png(path, grid.repeat(scale, axis=0).repeat(scale, axis=1))
    _note(f"wrote {path}: rows " + ", ".join(f"{s['sampler']}/{s['steps']}" for s in settings))


def table(rows: list[dict]) -> str:
    cells = [[r["role"] + " " + r["sampler"] if r["role"] != "ladder" else r["sampler"],
              *(f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k]) for k in COLUMNS[1:])]
             for r in rows]
    head = "| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS)
    return "\n".join([head, *("| " + " | ".join(c) + " |" for c in cells)])


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", required=True, help="a trained diffusion workdir")
    p.add_argument("--num", type=int, default=1000, help="samples (and test images) per setting")
    p.add_argument("--samplers", nargs="+", choices=SAMPLERS, default=list(SAMPLERS))
    p.add_argument("--nfe", nargs="+", type=int, default=list(NFE_LADDER), help="target NFEs")
    p.add_argument("--spacing", nargs="+", default=[], metavar="[SAMPLER=]SPACING",
                   help="override the per-sampler default spacing, for all or one sampler")
    p.add_argument("--reference_steps", type=int, default=1000, help="DDPM reference steps")
    p.add_argument("--student", help="a distilled student's workdir, sampled at 1, 2, 4, 8 steps")
    p.add_argument("--student_sampler", help="the student's sampler (default: its config's)")
    p.add_argument("--batch", type=int, default=250, help="samples per call (one compile each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the JSON here too")
    p.add_argument("--plot", help="FD vs NFE PNG (needs matplotlib: the 'bench' extra)")
    p.add_argument("--grid", help="PNG: one row per sampler at --grid_nfe, same x_T per column")
    p.add_argument("--grid_nfe", type=int, default=10)
    p.add_argument("--grid_num", type=int, default=8, help="images per grid row")
    args = p.parse_args(argv)
    if min(args.num, args.batch, *args.nfe, args.reference_steps) < 1:
        p.error("--num, --batch, --nfe and --reference_steps must be >= 1")
    return args


def load_diffusion(path: str, what: str):
    g = api.load(path)
    if g.config.family not in ("diffusion", "distill"):  # a distilled student samples the same way
        raise SystemExit(f"{what}={path} is a {g.config.family} workdir; give a diffusion one")
    return g


def run_student(args, real_features) -> list[dict]:
    s = load_diffusion(args.student, "--student")
    sampler = args.student_sampler or s.info()["sampler"]
    spacing = spacing_for(s, sampler, parse_spacing(args.spacing))
    return [measure(s, real_features, sampler=sampler, steps=n, spacing=spacing, num=args.num,
                    batch=args.batch, seed=args.seed, role="student") for n in STUDENT_STEPS]


def bench(args, spacings: dict):
    """(workdir's Generator, n_real, the reference row, the ladder and student rows)."""
    g = load_diffusion(args.workdir, "--workdir")
    if args.reference_steps > g.config.diffusion.num_steps:
        raise SystemExit(f"--reference_steps={args.reference_steps} exceeds the schedule's "
                         f"{g.config.diffusion.num_steps} steps; pass at most that")
    real, _ = subset(g.dataset, args.num)
    real_features, _ = extract(to_feature_input(real, "test images", _note), what="test images")
    run = dict(num=args.num, batch=args.batch, seed=args.seed)
    reference = measure(g, real_features, role="reference", **reference_setting(g, args, spacings),
                        **run)
    rows = [measure(g, real_features, role="ladder", **s, **run)
            for s in ladder(g, args.samplers, args.nfe, spacings)]
    rows += run_student(args, real_features) if args.student else []
    return g, len(real), reference, rows


def reference_setting(g, args, spacings: dict) -> dict:
    return dict(sampler="ddpm", steps=args.reference_steps,
                spacing=spacing_for(g, "ddpm", spacings))


def main(argv) -> dict:
    """Runs the benchmark; prints the table, the goal lines and the JSON line; returns the dict."""
    xla_flags.configure()   # no persistent compile cache: compile_s is a cold compile
    args = parse(argv)
    plt = require_pyplot() if args.plot else None          # fail before any sampling
    spacings = parse_spacing(args.spacing)
    g, n_real, reference, rows = bench(args, spacings)
    if args.grid:
        nearest = ladder(g, args.samplers, [args.grid_nfe], spacings, slack=None)
        sampler_grid(g, args.grid, [*nearest, reference_setting(g, args, spacings)],
                     num=args.grid_num, seed=args.seed)
    if plt is not None:
        plot(plt, args.plot, [reference, *rows], reference,
             f"{g.workdir} step {g.step:,}, {args.num} samples")
    goal = goals(rows, reference["fd"])
    result = dict(benchmark="sampler_quality", workdir=str(g.workdir), step=g.step,
                  student=args.student, fd_label=FD_LABEL, features=features_id(),
                  test_images=g.dataset.name, n_real=n_real, reference=reference,
                  rows=[reference, *rows], goals=goal, goal_ratio=GOAL_RATIO, num=args.num,
                  batch=args.batch, seed=args.seed, backend=jax.default_backend(),
                  jax=jax.__version__, hardware=hardware())
    print(table(result["rows"]) + "\n" + "\n".join(goal_lines(goal, reference)))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (ValueError, FileNotFoundError, CheckpointError) as e:   # message, no traceback
        sys.exit(f"sampler_quality.py: error: {e}")
