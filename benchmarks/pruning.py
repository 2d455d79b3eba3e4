"""Pruned models against their unpruned source, in one process: for each workdir, the fraction
of zero weights among the pruned kernels, the parameter count (nonzero and all), dense and
sparse bytes, sampling time per image (median over --repeats rounds that time every workdir in
turn, so load changes hit all alike) and FD of --num samples against as many test images.
Prints one JSON line per workdir; the first is the baseline the others are compared with.

  python benchmarks/pruning.py --workdirs runs/demo_v,runs/prune_v50 --num 200 --sampler ddim --steps 10
  python benchmarks/pruning.py --workdirs runs/dcgan_fmnist,runs/dcgan_c50 --sampler "" --time_num 500
"""
import argparse
import json
import os
import re
import statistics
import sys
import time

import numpy as np

from jaxgen.utils import xla_flags


def kernel_stats(g) -> dict:
    """Zero fraction of the sampled parameters' kernels (`prune.include`), parameter counts,
    dense bytes and sparse bytes (kernels as nonzero float32 values plus a 1-bit mask)."""
    from flax import traverse_util
    from jaxgen.quant.family import param_keys
    key = param_keys(g.family, g.state)[-1]                              # the EMA when kept
    flat = traverse_util.flatten_dict(g.state[key])
    include = g.config.prune.include.split("/", 1)[1]                   # below the group
    n = zeros = dense = sparse = 0
    for path, x in flat.items():
        x = np.asarray(x)
        dense += x.nbytes
        if re.fullmatch(include, "/".join(map(str, path))):
            n, zeros = n + x.size, zeros + int((x == 0).sum())
            sparse += int((x != 0).sum()) * x.itemsize + (x.size + 7) // 8
        else:
            sparse += x.nbytes
    total = sum(np.asarray(x).size for x in flat.values())
    return dict(kernel_sparsity=round(zeros / n, 4), params=total, nonzero=total - zeros,
                param_bytes=dense, sparse_bytes=sparse)


def timings(gens, num: int, repeats: int, options: dict) -> list[float]:
    """Median seconds per image of each generator, timed round-robin after a warm-up."""
    for g in gens:
        g.sample(num, seed=1, **options)                                 # compile
    times = [[] for _ in gens]
    for r in range(repeats):
        for i, g in enumerate(gens):
            t0 = time.perf_counter()
            g.sample(num, seed=2 + r, **options)                         # blocks (uint8 on host)
            times[i].append(time.perf_counter() - t0)
    return [statistics.median(t) / num for t in times]


def main(argv):
    xla_flags.configure()
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--workdirs", required=True, help="comma-separated; the first is the baseline")
    p.add_argument("--num", type=int, default=200, help="samples scored by FD")
    p.add_argument("--time_num", type=int, default=50, help="images per timed call")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--sampler", default="ddim", help='"" for a family without samplers (GAN)')
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from jaxgen import api
    from jaxgen.metrics.compare import compare_images
    from jaxgen.metrics.sample_eval import subset
    gens = [api.load(w) for w in args.workdirs.split(",")]
    real = subset(gens[0].dataset, args.num)[0]
    options = dict(sampler=args.sampler, steps=args.steps) if args.sampler else {}
    seconds = timings(gens, args.time_num, args.repeats, options)
    for g, s in zip(gens, seconds):
        fd = compare_images(real, g.sample(args.num, seed=args.seed, **options))["fd"]
        print(json.dumps(dict(workdir=str(g.workdir), step=g.step, **kernel_stats(g),
                              s_per_image=round(s, 5), speedup=round(seconds[0] / s, 3),
                              fd=round(fd, 3), num=args.num, **options,
                              load=os.getloadavg()[0])), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
