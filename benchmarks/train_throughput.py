"""Train-step throughput of each family's default config, printed as JSON.

  python benchmarks/train_throughput.py [--configs configs/ddpm_fmnist.py ...] [--steps 20]

Per config: parameter count, compile time, FLOPs per step from XLA's cost
analysis, median step time over timed steps after compile (block_until_ready),
images/s and achieved GFLOP/s. Batches come from the real data source.
"""
import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from jaxgen import config as config_lib  # noqa: E402
from jaxgen import data as data_lib  # noqa: E402
from jaxgen import families  # noqa: E402
from jaxgen.families.base import count_params  # noqa: E402
from jaxgen.families.base import init_fn, make_state, step_fn  # noqa: E402

DEFAULT_CONFIGS = ["configs/ddpm_fmnist.py", "configs/dcgan_seed.py", "configs/dcgan_fmnist.py",
                   "configs/vae_fmnist.py"]


def flops_of(compiled) -> float:
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return float(analysis.get("flops", 0.0))


def bench(spec: str, steps: int, overrides: dict) -> dict:
    config = config_lib.apply_overrides(config_lib.load_config(spec), overrides)
    dataset = data_lib.load_dataset(config.data)
    family = families.build(config, dataset)
    state = make_state(init_fn(family, config.seed))
    batch = data_lib.batch_at(dataset, 0, batch_size=config.train.batch_size, seed=0)
    t0 = time.perf_counter()
    compiled = jax.jit(step_fn(family), donate_argnums=0).lower(state, batch).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for i in range(steps + 2):
        batch = data_lib.batch_at(dataset, i, batch_size=config.train.batch_size, seed=0)
        t0 = time.perf_counter()
        state, metrics = compiled(state, batch)
        jax.block_until_ready((state, metrics))
        times.append(time.perf_counter() - t0)
    step_s = statistics.median(times[2:])  # the first calls warm caches
    flops = flops_of(compiled)
    groups = {k: count_params(v) for k, v in family.param_groups(state).items()}
    return dict(config=spec, family=config.family, batch_size=config.train.batch_size,
                params=groups, compile_s=round(compile_s, 2), step_ms=round(step_s * 1e3, 2),
                images_per_s=round(config.train.batch_size / step_s, 1),
                flops_per_step=flops, gflops_per_s=round(flops / step_s / 1e9, 1))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS)
    p.add_argument("--steps", type=int, default=20, help="timed steps per config")
    args, rest = p.parse_known_args(argv)
    _, overrides = config_lib.split_overrides(rest)
    results = [bench(spec, args.steps, overrides) for spec in args.configs]
    print(json.dumps(dict(benchmark="train_throughput", backend=jax.default_backend(),
                          devices=jax.device_count(), cpu=platform.processor() or platform.machine(),
                          jax=jax.__version__, results=results), indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
