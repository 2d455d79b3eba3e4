"""jaxgen's train step side by side with a PyTorch eager twin of it, in one process, as JSON.

  python benchmarks/torch_twin.py [--models demo,default,dcgan] [--steps 10] [--batch demo=32]

Models: demo, demo_v and default are the U-Nets of configs/ddpm_fmnist.py (:demo, :demo_v
the earlier 0.69M-parameter demo, and the full config), dcgan the textbook DCGAN of
configs/dcgan_seed.py, dcgan_bn the batch-norm + EMA DCGAN of configs/dcgan_fmnist.py. The
twin (torch_twin_models.py, torch_twin_steps.py, paired with jaxgen in torch_twin_pair.py)
starts from jaxgen's initial parameters and does the same step: loss, clipping, AdamW, EMA.
Before timing, the script asserts that both have the same parameter count and compute the
same outputs (on randomly perturbed parameters, so every weight and bias counts).

jaxgen's step is `jax.jit(step_fn(family), donate_argnums=0)`, as in train_throughput.py,
under the XLA flags train.py sets (jaxgen.utils.xla_flags; the user's XLA_FLAGS win), timed
with block_until_ready. After --warmup steps of each, rounds of --chunk jaxgen steps then
--chunk PyTorch steps run until each has --steps timed steps. PyTorch uses all CPU threads
(--torch_threads). On a loaded machine PyTorch's OpenMP threads wait on each other at every
op (a descheduled thread stalls each barrier): on 2 cores at a load average of 7, its demo
U-Net step took 8.4 s with 2 threads and 0.85 s with 1, against 0.35 s on an idle machine.
Compare only runs made at a low load average (the JSON records it at start and end).

Per model: params, batch, jax_ms and torch_ms (medians), ratio = torch_ms / jax_ms (jaxgen's
speed relative to PyTorch: > 1 means jaxgen is faster), jaxgen GFLOP/s = the twin's FLOPs
per step (PyTorch's FlopCounterMode; the same network) / jax_ms (XLA's cost analysis,
xla_cost_flops_per_step, does not see jaxgen's native kernels); also versions, XLA_FLAGS, CPU
count and load averages at start and end.
Needs PyTorch: `pip install -e '.[twin]'` (or `make bench-twin`); jaxgen never imports it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = {"demo": "configs/ddpm_fmnist.py:demo", "demo_v": "configs/ddpm_fmnist.py:demo_v",
          "default": "configs/ddpm_fmnist.py",
          "dcgan": "configs/dcgan_seed.py", "dcgan_bn": "configs/dcgan_fmnist.py"}
CHECK_TOLERANCE = 1e-3  # max |jax - torch| relative to max |jax|, float32 rounding


def per_model(text: str, models: list[str], flag: str) -> dict[str, int]:
    """"N" (every model) or "demo=N,dcgan=M" -> {model: N}; unnamed models are left out."""
    if not text:
        return {}
    if "=" not in text:
        return {m: int(text) for m in models}
    pairs = dict(item.split("=", 1) for item in text.split(","))
    unknown = sorted(set(pairs) - set(models))
    if unknown:
        raise SystemExit(f"torch_twin.py: {flag} names {unknown}, not among --models {models}")
    return {m: int(v) for m, v in pairs.items()}


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="demo,default,dcgan",
                   help=f"comma-separated, from {sorted(MODELS)} (default: %(default)s)")
    p.add_argument("--steps", default="10", help="timed steps per side: N or demo=N,... "
                   "(default: %(default)s)")
    p.add_argument("--batch", default="",
                   help="batch size: N or demo=N,... (default: the config's)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per side after compile")
    p.add_argument("--chunk", type=int, default=2, help="steps per side per interleaved round")
    p.add_argument("--torch_threads", type=int, default=os.cpu_count(),
                   help="torch.set_num_threads (default: os.cpu_count() = %(default)s)")
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        p.error(f"--models: unknown {unknown}; choose from {sorted(MODELS)}")
    args.steps = {**dict.fromkeys(args.models, 10), **per_model(args.steps, args.models, "--steps")}
    args.batch = per_model(args.batch, args.models, "--batch")
    return args


def require_torch():
    try:
        import torch
    except ImportError:
        raise SystemExit("torch_twin.py: PyTorch is not installed; pip install -e '.[twin]' "
                         "(or make bench-twin)") from None
    return torch


def interleave(steppers: dict, steps: int, chunk: int, warmup: int) -> dict[str, list[float]]:
    """Warms each stepper, then alternates chunks of timed steps; seconds per step."""
    for step in steppers.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in steppers}
    while min(map(len, times.values())) < steps:
        for name, step in steppers.items():
            for _ in range(min(chunk, steps - len(times[name]))):
                t0 = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - t0)
    return times


def cycling(fn, batches):
    """A no-argument stepper calling fn(batch) on batches[0], [1], ... in turn."""
    count = [0]

    def step():
        fn(batches[count[0] % len(batches)])
        count[0] += 1
    return step


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def check_twin(name: str, side, twin) -> None:
    """The twin is the same network: equal parameter counts, equal outputs (also under -O)."""
    if twin.params != side.params:
        raise AssertionError(f"{name}: the PyTorch twin has {twin.params:,} parameters, "
                             f"jaxgen's model {side.params:,}")
    if not twin.max_rel_diff <= CHECK_TOLERANCE:
        raise AssertionError(f"{name}: the outputs differ, max relative difference "
                             f"{twin.max_rel_diff:.2e} > {CHECK_TOLERANCE}")


def bench(name: str, args, pair) -> dict:
    """One model: build both sides, check them against each other, time them interleaved."""
    print(f"torch_twin.py: {name} ({MODELS[name]})", file=sys.stderr, flush=True)
    side = pair.JaxSide(MODELS[name], args.batch.get(name), num_batches=4)
    twin = pair.build_twin(side)
    check_twin(name, side, twin)
    torch_flops = twin.count_flops()
    steppers = {"jax": cycling(side.step, side.batches), "torch": cycling(twin.step, twin.batches)}
    load_start = load_avg()
    times = interleave(steppers, args.steps[name], args.chunk, args.warmup)
    jax_s, torch_s = (statistics.median(times[k]) for k in ("jax", "torch"))
    return dict(model=name, config=MODELS[name], family=side.config.family,
                params=side.params, batch=side.batch_size, steps=args.steps[name],
                jax_ms=round(jax_s * 1e3, 1), torch_ms=round(torch_s * 1e3, 1),
                ratio=round(torch_s / jax_s, 3),
                jax_gflops_per_s=round(torch_flops / jax_s / 1e9, 1),
                torch_counted_flops_per_step=torch_flops, xla_cost_flops_per_step=side.flops,
                jax_compile_s=round(side.compile_s, 1),
                max_rel_output_diff=float(f"{twin.max_rel_diff:.2e}"),
                jax_ms_all=[round(t * 1e3, 1) for t in times["jax"]],
                torch_ms_all=[round(t * 1e3, 1) for t in times["torch"]],
                load_avg_start=load_start, load_avg_end=load_avg())


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv):
    args = parse(argv)
    sys.path[:0] = [str(HERE.parent), str(HERE)]
    from jaxgen.utils import xla_flags
    xla_flags.configure()  # before JAX (or PyTorch) starts its threads, as train.py does
    torch = require_torch()
    import jax
    import torch_twin_pair as pair  # imports jax, jaxgen and torch
    torch.set_num_threads(args.torch_threads)
    start = load_avg()
    results = [bench(name, args, pair) for name in args.models]
    import flax
    report = dict(benchmark="torch_twin", cpu=cpu_name(), cpu_count=os.cpu_count(),
                  jax=jax.__version__, flax=flax.__version__, torch=torch.__version__,
                  torch_threads=torch.get_num_threads(),
                  xla_flags=os.environ.get("XLA_FLAGS", ""),
                  load_avg_start=start, load_avg_end=load_avg(), results=results)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
