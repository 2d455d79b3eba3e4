"""Inpainting and img2img on held-out images of a trained diffusion workdir: PSNR / SSIM to the
ground truth (inpainting) or to the input (img2img), and FD, printed as a Markdown table and
one JSON line, and written to --out.

  python benchmarks/image_to_image.py --workdir=runs/demo_v --num=200 \\
      --out=docs/bench_image_to_image.json --grid_dir=docs/images

Inputs: the first --num images of the workdir's test split. Inpainting, per mask (--masks):
RePaint (--sampler, --steps, --jump_length, --resample), the same sampler without resampling
(resample=1: the known region replaced at every step, nothing more), and the mean training
image pasted into the hole. PSNR / SSIM (jaxgen.metrics) are over the whole image (the known
pixels are equal in all methods, so only the hole differs). img2img: SDEdit at --strengths,
PSNR / SSIM to the input. FD ("FD (jaxgen Fashion-MNIST features)") of each set of --num
images against --fd_ref held-out test images that are not among the inputs; beside them, the
FD of the --num ground-truth images (the floor at this N) and of --num plain samples of the
same sampler and steps. One grid per mask and one for img2img go to --grid_dir.

Mask-conditioned inpainting (`--inpaint_workdir`, benchmarks/inpaint_rows.py): a workdir of
configs/inpaint_fmnist.py completes the same images with the same masks, one more row per mask
(its config's sampler unless --inpaint_sampler / --inpaint_steps); every inpainting row also has
the seam (boundary error: mean |x_p - x_q| over 4-neighbour pairs across the mask boundary) and
the ground truth's; `fd_ratio` is its FD over that of plain samples of --workdir. `--tasks=
inpaint` skips img2img, `--methods` picks the --workdir rows to run:

  python benchmarks/image_to_image.py --workdir=runs/demo_v --tasks=inpaint \
      --inpaint_workdir=runs/inpaint_demo --methods="mean image" --grid_suffix=_model \
      --out=docs/bench_inpaint_model.json

Super-resolution (`--tasks=sr`, benchmarks/super_resolution_rows.py): the inputs box-averaged
by the SR workdir's factor, upscaled by bicubic, the regression twin and SR3; PSNR / SSIM / FD
as above plus consistency (PSNR of the result box-averaged down vs the input); grid rows LR
(nearest) / bicubic / regression / SR3 (/ SR3 + lr consistency) / ground truth.

  python benchmarks/image_to_image.py --tasks=sr --sr_workdir=runs/sr3_demo \
      --sr_regression=runs/sr3_demo_regression --out=docs/bench_super_resolution.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from jaxgen import api, editing  # noqa: E402
from jaxgen.data import load_dataset  # noqa: E402
from jaxgen.metrics import psnr, ssim  # noqa: E402
from jaxgen.metrics.compare import FD_LABEL, features_id  # noqa: E402
from jaxgen.metrics.feature_net import extract  # noqa: E402
from jaxgen.metrics.frechet import frechet_distance_features  # noqa: E402
from jaxgen.utils import compile_cache, xla_flags  # noqa: E402
from jaxgen.utils.images import save_grid  # noqa: E402
from benchmarks.inpaint_rows import inpaint_rows  # noqa: E402
from benchmarks.super_resolution_rows import sr_rows  # noqa: E402


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def scores(images, truth, ref_features, seconds=None, **info) -> dict:
    """PSNR / SSIM means against `truth`, FD against the reference features."""
    feats, _ = extract(images, what="results")
    row = dict(info, psnr=float(np.mean(psnr(images, truth))),
               ssim=float(np.mean(ssim(images, truth))),
               fd=frechet_distance_features(ref_features, feats))
    return row if seconds is None else dict(row, seconds=round(seconds, 1))


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def img2img_rows(g, args, truth, ref) -> list[dict]:
    rows, grids = [], []
    for strength in args.strengths:
        _note(f"img2img strength {strength}")
        out, s = timed(lambda: g.img2img(truth, strength, sampler=args.sampler,
                                         steps=args.steps, seed=args.seed))
        info = g.family.tasks["img2img"].info(strength=strength, sampler=args.sampler,
                                              steps=args.steps)
        rows.append(scores(out, truth, ref, s, task="img2img", strength=strength,
                           t_start=info["t_start"], nfe=info["nfe"]))
        grids.append(out[:8])
    save_grid(Path(args.grid_dir) / "img2img.png", np.concatenate([truth[:8], *grids]), 8,
              scale=2)
    return rows


def baselines(g, args, truth, ref) -> list[dict]:
    rows = [dict(task="reference", method="ground truth", fd=frechet_distance_features(
        ref, extract(truth, what="truth")[0]))]
    if "plain samples" not in args.methods:
        return rows
    _note("plain samples")
    samples, s = timed(lambda: g.sample(len(truth), sampler=args.sampler, steps=args.steps,
                                        seed=args.seed))
    return rows + [dict(task="reference", method="plain samples", seconds=round(s, 1),
                        fd=frechet_distance_features(ref, extract(samples, what="samples")[0]))]


def fd_ratios(rows: list[dict]) -> dict:
    """{mask: FD of the mask-conditioned completions / FD of plain samples of --workdir}."""
    plain = [r["fd"] for r in rows if r.get("method") == "plain samples"]
    return {r["mask"]: r["fd"] / plain[0] for r in rows
            if plain and r.get("method") == "mask-conditioned"}


def table(rows: list[dict]) -> str:
    cols = ("task", "mask", "method", "strength", "nfe", "psnr", "ssim", "fd", "seam",
            "seam_truth", "consistency", "seconds")
    cols = tuple(c for c in cols if any(c in r for r in rows))
    def fmt(v) -> str:
        return f"{v:.3f}" if isinstance(v, float) else ("" if v is None else str(v))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return "\n".join(lines + ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |"
                              for r in rows])


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=lambda s: s.split(","), default=["edit"],
                   help="edit (inpaint + img2img of --workdir), inpaint (inpainting only) "
                   "and/or sr (--sr_workdir)")
    p.add_argument("--workdir", help="a diffusion workdir (--tasks=edit / inpaint)")
    p.add_argument("--inpaint_workdir", help="a mask-conditioned inpainting workdir "
                   "(configs/inpaint_fmnist.py): its completions as one more inpainting row")
    p.add_argument("--inpaint_sampler", help="its sampler (default: its config's)")
    p.add_argument("--inpaint_steps", type=int, help="its sampling steps")
    p.add_argument("--methods", type=lambda s: s.split(","),
                   default=["plain samples", "repaint", "replace only", "mean image"],
                   help="methods of --workdir to run (comma-separated; plain samples: the "
                   "reference FD of unmasked samples)")
    p.add_argument("--grid_suffix", default="", help="inpainting grids: inpaint_MASK"
                   "SUFFIX.png")
    p.add_argument("--sr_workdir", help="an SR3 workdir (--tasks=sr)")
    p.add_argument("--sr_regression", help="its regression twin's workdir (optional)")
    p.add_argument("--sr_sampler", help="SR3 sampler (default: the SR workdir's config)")
    p.add_argument("--sr_steps", type=int, help="SR3 sampling steps")
    p.add_argument("--sr_lr_consistency", action="store_true", help="add a row of SR3 with "
                   "the data-consistency projection onto the input (lr_consistency=True)")
    p.add_argument("--num", type=int, default=200)
    p.add_argument("--fd_ref", type=int, default=2000)
    p.add_argument("--sampler", default="ddpm")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--jump_length", type=int, default=10)
    p.add_argument("--resample", type=int, default=10)
    p.add_argument("--masks", type=lambda s: s.split(","), default=["left_half", "box"])
    p.add_argument("--strengths", type=lambda s: [float(v) for v in s.split(",")],
                   default=[0.3, 0.6, 0.9])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="docs/bench_image_to_image.json")
    p.add_argument("--grid_dir", default="docs/images")
    return p.parse_args(argv)


def main(argv) -> dict:
    xla_flags.configure()
    compile_cache.enable()
    args = parse(argv)
    g = api.load(args.workdir or args.sr_workdir)
    test = np.asarray(g.dataset.images[:args.num + args.fd_ref])
    truth, ref_images = test[:args.num], test[args.num:]
    ref, _ = extract(ref_images, what="reference test images")
    rows = []
    if {"edit", "inpaint"} & set(args.tasks):
        train = load_dataset(g.config.data, split="train").images
        mean_image = np.rint(np.mean(train, axis=0)).astype(np.uint8)
        rows += baselines(g, args, truth, ref) + inpaint_rows(g, args, truth, mean_image, ref,
                                                              scores, timed, _note)
    if "edit" in args.tasks:
        rows += img2img_rows(g, args, truth, ref)
    if "sr" in args.tasks:
        rows += sr_rows(args, truth, ref, scores, timed, _note)
    result = dict(workdir=args.workdir, sr_workdir=args.sr_workdir,
                  sr_regression=args.sr_regression, sr_sampler=args.sr_sampler,
                  sr_steps=args.sr_steps, sr_lr_consistency=args.sr_lr_consistency,
                  step=g.step, num=args.num,
                  fd_ref=len(ref_images),
                  sampler=args.sampler, steps=args.steps, jump_length=args.jump_length,
                  resample=args.resample, seed=args.seed, fd_label=FD_LABEL,
                  features=features_id(), inpaint_workdir=args.inpaint_workdir,
                  fd_ratio=fd_ratios(rows), rows=rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(table(rows))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
