"""Super-resolution rows of benchmarks/image_to_image.py (`--tasks=sr`): held-out test images,
box-averaged by the model's factor, upscaled by bicubic, by the regression twin and by SR3
(with `--sr_lr_consistency` also SR3 with the data-consistency projection, same seed);
PSNR / SSIM to the ground truth, FD against held-out test images, and consistency, the PSNR of
the result box-averaged back down against the low-resolution input (float, per image, mean;
Saharia et al. 2021 report it as "consistency" MSE, sec. 4.1)."""
from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from jaxgen import api
from jaxgen import super_resolution as sr
from jaxgen.data import from_uint8
from jaxgen.diffusion.sr import downsample, upsample
from jaxgen.utils.images import save_grid, to_uint8


def consistency(images: np.ndarray, lr: np.ndarray, factor: int) -> float:
    """Mean over images of 10 log10(255^2 / MSE(downsample(image), lr)), pixel values on the
    0..255 scale, the downsampling done in float (no rounding)."""
    down = np.asarray(downsample(jnp.asarray(from_uint8(images)), factor), np.float64)
    mse = np.mean(np.square((down - from_uint8(lr)) * 127.5), axis=(1, 2, 3))
    return float(np.mean(10 * np.log10(255.0 ** 2 / np.maximum(mse, 1e-10))))


def sr_rows(args, truth, ref, scores, timed, note) -> list[dict]:
    """One row per method: bicubic, regression (--sr_regression), SR3 (--sr_workdir)."""
    g = api.load(args.sr_workdir)
    factor = sr.factor_of(g.config)
    lr = sr.downsample_uint8(truth, factor)
    bicubic = to_uint8(upsample(jnp.asarray(from_uint8(lr)), factor))
    results = [("bicubic", bicubic, None, 0)]
    if args.sr_regression:
        reg = api.load(args.sr_regression)
        note("super-resolution: regression")
        out, s = timed(lambda: reg.super_resolve(lr, seed=args.seed))
        results.append(("regression", out, s, 1))
    options = dict(sampler=args.sr_sampler, steps=args.sr_steps)
    nfe = g.family.tasks["super_resolve"].info(**options)["nfe"]
    methods = [("sr3", False)] + ([("sr3 + lr consistency", True)]
                                  if args.sr_lr_consistency else [])
    for method, held in methods:
        note(f"super-resolution: {method}")
        out, s = timed(lambda: g.super_resolve(lr, seed=args.seed, lr_consistency=held,
                                               **options))
        results.append((method, out, s, nfe))
    save_grid(Path(args.grid_dir) / f"super_resolution_x{factor}.png",
              np.concatenate([to_uint8(upsample(jnp.asarray(from_uint8(lr[:8])), factor,
                                                "nearest"))]
                             + [images[:8] for _, images, _, _ in results] + [truth[:8]]),
              8, scale=2)
    return [dict(scores(images, truth, ref, s, task=f"sr x{factor}", method=method, nfe=nfe),
                 consistency=consistency(images, lr, factor))
            for method, images, s, nfe in results]
