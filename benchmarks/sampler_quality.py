"""Sample quality against network evaluations (NFE): FD and wall time of every registry sampler
at a ladder of NFE, beside DDPM at 1,000 steps as the reference, printed and written as JSON.

  python benchmarks/sampler_quality.py --workdir=runs/demo --num=1000 \\
      --out=docs/bench_sampler_quality.json --plot=docs/images/sampler_quality.png \\
      --grid=docs/images/sampler_grid.png [--student=runs/student]

Per setting: FD ("FD (jaxgen Fashion-MNIST features)", jaxgen.metrics) of --num samples
against --num test images, the sampling wall time (block_until_ready; the compile is timed
apart, ahead of time, and is a cold one: no persistent cache), seconds per image (over the
images made: --batch should divide --num) and the load average when it ended. Steps per sampler
are chosen so that the NFE is the target's (heun: steps = (NFE + 1) // 2, so NFE 2 steps - 1 is
one less); a target no step count reaches within 1 is skipped. Spacing: edm for euler / heun /
dpmpp* / unipc, the workdir's config default for ddpm / ddim; `--spacing karras` sets all,
`--spacing ddim=karras` one. All samplers draw x_T the same way from the seed
(diffusion.sample), so rows share their starting noise; the grid passes one x_T explicitly all
the same. --student WORKDIR adds a (distilled) diffusion workdir at 1, 2, 4 and 8 steps of its
config's sampler.

Runs in parts: --rows picks the rows to measure (reference, ladder, student), --merge JSON
merges them into an earlier run's JSON (same --num, --batch, --seed and test images; a row of
the same role, sampler, steps and spacing is replaced), and --from JSON... reads rows instead
of sampling, e.g. to redraw the plot:

  python benchmarks/sampler_quality.py --workdir=runs/demo_v --num=500 --rows reference \\
      --merge=docs/bench_sampler_quality_small.json --out=docs/bench_sampler_quality_small.json
  python benchmarks/sampler_quality.py --from docs/bench_sampler_quality_small.json \\
      --plot docs/images/sampler_quality_small.png

The reference is the reference row with the most steps. The goal lines name, per spacing, the
smallest NFE at which dpmpp_2m and heun come within 10% of its FD, and the 4-step student's FD
against the teacher's best row (goal: within 25%). The plot (matplotlib, the 'bench' extra;
skipped with a note when missing): FD against NFE, both log scale, one line per sampler and
spacing, the student's points as stars, the references as horizontal lines.
stdout: a Markdown table, the goal lines, then one JSON line. Progress goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import sampler_quality_report as report  # noqa: E402
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
ROLES = ("reference", "ladder", "student")


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
        _note(f"  batch {i + 1}/{-(-num // size)}: {seconds:.0f} s sampling so far")
    return np.concatenate(out)[:num], compile_s, seconds, size * len(out)


def measure(g, real_features, *, sampler, steps, spacing, num, batch, seed, role) -> dict:
    """One JSON row: FD of `num` samples of this setting and its timings."""
    images, compile_s, seconds, made = timed_samples(g, num=num, batch=batch, seed=seed,
                                                     sampler=sampler, steps=steps,
                                                     spacing=spacing)
    fake, _ = extract(to_feature_input(images, "samples", _note), what="samples")
    row = dict(sampler=sampler, steps=steps, nfe=nfe(sampler, steps), spacing=spacing,
               fd=frechet_distance_features(real_features, fake), seconds_total=seconds,
               seconds_per_image=seconds / made, compile_s=compile_s, num=num, role=role,
               load_average=os.getloadavg()[0])   # timings are comparable only at like loads
    _note(f"{role} {sampler} steps={steps} nfe={row['nfe']} {spacing}: FD {row['fd']:.2f}, "
          f"{row['seconds_per_image'] * 1e3:.2f} ms/image, compile {compile_s:.1f} s")
    return row


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


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", help="a trained diffusion workdir (not with --from)")
    p.add_argument("--from", dest="sources", nargs="+", metavar="JSON",
                   help="read the rows from these JSONs (merged in order) instead of sampling")
    p.add_argument("--rows", nargs="+", choices=ROLES, default=list(ROLES),
                   help="which rows to measure (or take from --from): reference, ladder, student")
    p.add_argument("--merge", metavar="JSON", help="merge the rows into this JSON's rows (same "
                   "role, sampler, steps and spacing: replaced) and recompute the goals")
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
    p.add_argument("--out", help="write the JSON here too (may be the --merge JSON)")
    p.add_argument("--plot", help="FD vs NFE PNG (needs matplotlib: the 'bench' extra)")
    p.add_argument("--grid", help="PNG: one row per sampler at --grid_nfe, same x_T per column")
    p.add_argument("--grid_nfe", type=int, default=10)
    p.add_argument("--grid_num", type=int, default=8, help="images per grid row")
    args = p.parse_args(argv)
    if (args.workdir is None) == (args.sources is None):
        p.error("give --workdir (to sample) or --from JSON... (to read rows), not both")
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


def bench(args, g, spacings: dict) -> tuple[int, list[dict]]:
    """(n_real, the rows of --rows: reference, ladder, student when --student)."""
    if args.reference_steps > g.config.diffusion.num_steps:
        raise SystemExit(f"--reference_steps={args.reference_steps} exceeds the schedule's "
                         f"{g.config.diffusion.num_steps} steps; pass at most that")
    real, _ = subset(g.dataset, args.num)
    real_features, _ = extract(to_feature_input(real, "test images", _note), what="test images")
    run, rows = dict(num=args.num, batch=args.batch, seed=args.seed), []
    if "reference" in args.rows:
        rows.append(measure(g, real_features, role="reference",
                            **reference_setting(g, args, spacings), **run))
    if "ladder" in args.rows:
        rows += [measure(g, real_features, role="ladder", **s, **run)
                 for s in ladder(g, args.samplers, args.nfe, spacings)]
    rows += run_student(args, real_features) if args.student and "student" in args.rows else []
    return len(real), rows


def reference_setting(g, args, spacings: dict) -> dict:
    return dict(sampler="ddpm", steps=args.reference_steps,
                spacing=spacing_for(g, "ddpm", spacings))


def sample(args, command: str) -> dict:
    """The JSON of a sampling run (its rows, no goals yet); draws --grid too."""
    spacings = parse_spacing(args.spacing)
    g = load_diffusion(args.workdir, "--workdir")
    n_real, rows = bench(args, g, spacings)
    if args.grid:
        nearest = ladder(g, args.samplers, [args.grid_nfe], spacings, slack=None)
        sampler_grid(g, args.grid, [*nearest, reference_setting(g, args, spacings)],
                     num=args.grid_num, seed=args.seed)
    result = dict(benchmark="sampler_quality", workdir=str(g.workdir), step=g.step,
                  student=args.student, fd_label=FD_LABEL, features=features_id(),
                  test_images=g.dataset.name, n_real=n_real, rows=rows, num=args.num,
                  batch=args.batch, seed=args.seed, backend=jax.default_backend(),
                  jax=jax.__version__, hardware=hardware(), runs=[command])
    return result


def main(argv) -> dict:
    """Samples (or reads --from), merges (--merge); prints the table, the goal lines and the
    JSON line; writes --out and --plot; returns the dict."""
    xla_flags.configure()   # no persistent compile cache: compile_s is a cold compile
    args = parse(argv)
    plt = report.pyplot_or_none(_note) if args.plot else None    # noted before any sampling
    command = "python benchmarks/sampler_quality.py " + shlex.join(argv)
    run = (report.from_json(args.sources, args.rows) if args.sources
           else sample(args, command))
    result = report.summarize(report.merged(run, args.merge))
    print(report.table(result["rows"]) + "\n" + "\n".join(report.goal_lines(result)))
    if plt is not None:
        report.plot(plt, args.plot, report.plot_series(result["rows"]),
                    f"{result['workdir']} step {result['step']:,}, {result['num']} samples")
        _note(f"wrote {args.plot}")
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
