"""Inpainting rows of benchmarks/image_to_image.py: RePaint on the unconditional --workdir (with
resampling, and without: the known region replaced at every step), the mean training image
pasted into the hole, and (--inpaint_workdir) a mask-conditioned model's completions.

Besides PSNR / SSIM / FD (`scores`), each row has the seam, the boundary error: for every pair
of 4-neighbour pixels (p, q) with p filled and q kept, |x_p - x_q| on the 0..1 scale, averaged
over the pairs of all images. The ground truth has a seam of its own (edges of the garment
cross the mask boundary), printed as `seam_truth`; a completion that does not continue the
known pixels shows a seam above it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxgen import api, editing
from jaxgen.utils.images import save_grid


def seam(images: np.ndarray, fill: np.ndarray) -> float:
    """Mean |x_p - x_q| / 255 over 4-neighbour pairs (p filled, q kept): images uint8 (N, H, W,
    C), fill bool (N, H, W, 1)."""
    x, m = images.astype(np.float64) / 255.0, np.broadcast_to(fill, images.shape)
    diffs = []
    for axis in (1, 2):                       # vertical, then horizontal neighbours
        a, b = [np.take(v, range(v.shape[axis] - 1), axis) for v in (x, m)]
        a2, b2 = [np.take(v, range(1, v.shape[axis]), axis) for v in (x, m)]
        crossing = b != b2                    # one of the pair filled, the other kept
        diffs.append(np.abs(a - a2)[crossing])
    return float(np.mean(np.concatenate(diffs)))


def inpaint_rows(g, args, truth, mean_image, ref, scores, timed, note) -> list[dict]:
    """One row per (mask, method); a grid per mask (RePaint, and the model's when given)."""
    model = api.load(args.inpaint_workdir) if args.inpaint_workdir else None
    rows = []
    for name in args.masks:
        fill = editing.mask_for(name, truth, args.seed)
        row = lambda out, **info: dict(scores(out, truth, ref, **info),  # noqa: E731
                                       seam=seam(out, fill), seam_truth=seam(truth, fill))
        grid = [truth[:8], editing.masked(truth[:8], fill[:8])]
        for method, resample in (("repaint", args.resample), ("replace only", 1)):
            if method not in args.methods:
                continue
            note(f"inpaint {name}: {method}")
            options = dict(jump_length=args.jump_length, resample=resample,
                           sampler=args.sampler, steps=args.steps)
            out, s = timed(lambda: g.inpaint(truth, fill, seed=args.seed, **options))
            nfe = g.family.tasks["inpaint"].info(**options)["nfe"]
            rows.append(row(out, seconds=s, task="inpaint", mask=name, method=method, nfe=nfe))
            grid += [out[:8]] if method == "repaint" else []
        if model is not None:
            grid.append(_model_row(model, args, truth, fill, name, row, rows, timed, note))
        if "mean image" in args.methods:
            rows.append(row(np.where(fill, mean_image, truth), task="inpaint", mask=name,
                            method="mean image", nfe=0))
        save_grid(Path(args.grid_dir) / f"inpaint_{name}{args.grid_suffix}.png",
                  *editing.row_tiles(grid), scale=2)
    return rows


def _model_row(model, args, truth, fill, name, row, rows, timed, note) -> np.ndarray:
    """Appends the mask-conditioned model's row; returns its first 8 completions."""
    note(f"inpaint {name}: mask-conditioned")
    options = {k: v for k, v in (("sampler", args.inpaint_sampler),
                                 ("steps", args.inpaint_steps)) if v is not None}
    out, s = timed(lambda: model.inpaint(truth, fill, seed=args.seed, **options))
    info = model.family.tasks["inpaint"].info(mask=fill, **options)
    rows.append(row(out, seconds=s, task="inpaint", mask=name, method="mask-conditioned",
                    nfe=info["nfe"], sampler=info["sampler"], steps=info["steps"]))
    return out[:8]
