"""float32 vs bf16 vs int8 (int8 arithmetic, and the dequantized fallback) on one trained
workdir of any family (diffusion, GAN, VAE): parameter bytes, sampling time per image (median of
--repeats timed calls after a warm-up), and FD of --num samples against as many test images.
Prints one JSON line per variant. --sampler / --steps apply to diffusion workdirs only.

  python benchmarks/compression.py --workdir runs/demo_v --num 200 --sampler ddim --steps 10
  python benchmarks/compression.py --workdir runs/vae_demo --num 200   # or a DCGAN workdir
  JAXGEN_CPU_FLAGS=0 python benchmarks/compression.py ...   # XLA:CPU's YNNPACK kernels on
  ... --variants fp32,int8,int8_static --calibrate 100   # int8 with calibrated static scales
  ... --grid docs/images/compression.png   # the same seeds' first 8 images, a row per variant
  ... --pruned runs/unet_c50   # plus an int8 row of each channel-pruned workdir (same protocol)
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

from jaxgen.utils import xla_flags

VARIANTS = {"fp32": ("fp32", False), "bf16": ("bf16", False), "int8": ("int8", False),
            "int8_dequantized": ("int8", True), "int8_static": ("int8", False)}


def static_int8(base, args, options: dict):
    """`base` in int8 with activation scales calibrated on --calibrate float samples."""
    from jaxgen.api import Generator
    from jaxgen.quant import int8_family, quantize_state
    from jaxgen.quant.calibrate import activation_ranges
    ranges = activation_ranges(base.family, base.state, num=args.calibrate,
                               batch=args.time_num, **options)
    state8 = quantize_state(base.family, base.state, act_ranges=ranges)
    return Generator(base.config, int8_family(base.family), state8, base.step, base.dataset,
                     base.workdir)


def seconds_per_image(g, num: int, repeats: int, options: dict) -> float:
    g.sample(num, seed=1, **options)                                  # compile
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        g.sample(num, seed=2 + i, **options)                          # blocks (uint8 on host)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / num


def measure(g, name: str, args, options: dict, real, rows: list) -> dict:
    from jaxgen.metrics.compare import compare_images
    from jaxgen.quant.family import param_keys
    from jaxgen.quant.params import nbytes
    key = param_keys(g.family, g.state)[-1]                           # the EMA when kept
    fake = g.sample(args.num, seed=args.seed, **options)
    rows.append(fake[:8])
    scores = compare_images(real, fake)
    return dict(variant=name, workdir=str(g.workdir), param_bytes=nbytes(g.state[key]),
                fd=round(scores["fd"], 3),
                s_per_image=round(seconds_per_image(g, args.time_num, args.repeats, options), 4),
                num=args.num, **options, cpu_flags=os.environ.get("JAXGEN_CPU_FLAGS", "1"),
                load=os.getloadavg()[0])


def main(argv):
    xla_flags.configure()
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--workdir", required=True)
    p.add_argument("--num", type=int, default=200, help="samples scored by FD")
    p.add_argument("--time_num", type=int, default=50, help="images per timed call")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sampler", default="ddim", help="diffusion workdirs")
    p.add_argument("--steps", type=int, default=10, help="diffusion workdirs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--grid", help="PNG: the first 8 scored samples of each variant (same "
                   "seeds), a row per variant in --variants order")
    p.add_argument("--calibrate", type=int, default=100,
                   help="float samples that calibrate int8_static's activation scales")
    p.add_argument("--pruned", default="", help="comma-separated channel-pruned workdirs "
                   "(config.prune.channels) of the same model: one 'int8+pruned' row each")
    args = p.parse_args(argv)
    from jaxgen import api, quant
    from jaxgen.metrics.sample_eval import subset
    base = api.load(args.workdir)
    real = subset(base.dataset, args.num)[0]
    options = {k: v for k, v in dict(sampler=args.sampler, steps=args.steps).items()
               if k in base.family.sample_options}                   # diffusion only
    rows = []
    for name in args.variants.split(","):
        precision, dequantize = VARIANTS[name]
        g = (static_int8(base, args, options) if name == "int8_static" else
             quant.with_precision(base, precision, dequantize=dequantize))
        print(json.dumps(measure(g, name, args, options, real, rows)), flush=True)
    for path in filter(None, args.pruned.split(",")):
        g = quant.with_precision(api.load(path), "int8")
        print(json.dumps(measure(g, "int8+pruned", args, options, real, rows)), flush=True)
    if args.grid:
        from jaxgen.utils.images import save_grid
        print(f"wrote {save_grid(args.grid, np.concatenate(rows), ncols=len(rows[0]), scale=2)}")


if __name__ == "__main__":
    main(sys.argv[1:])
