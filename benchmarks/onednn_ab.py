"""jaxgen's train step with its native CPU kernels (oneDNN convolutions, GroupNorm) against the
same step with XLA's own, in one process, interleaved, as JSON.

  python benchmarks/onednn_ab.py [--configs configs/ddpm_fmnist.py:demo ...] [--steps 20]

Per config: both compiled steps (`jax.jit(step_fn(family), donate_argnums=0)`; the XLA one
traced under `jaxgen.kernels.onednn.xla_only()`), the number of custom calls of each kind in
each, the largest relative difference between the states after one step from the same state
(float rounding only), then --steps timed steps of each in alternating order: medians and speed-up =
XLA time / oneDNN time. Needs the library (`make onednn`).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from jaxgen import config as config_lib  # noqa: E402
from jaxgen import data as data_lib  # noqa: E402
from jaxgen import families  # noqa: E402
from jaxgen.families.base import init_fn, make_state, step_fn  # noqa: E402
from jaxgen.kernels import onednn  # noqa: E402
from jaxgen.utils import xla_flags  # noqa: E402

DEFAULT_CONFIGS = ["configs/ddpm_fmnist.py:demo", "configs/ddpm_fmnist.py:demo_v",
                   "configs/dcgan_seed.py", "configs/vae_fmnist.py"]


def max_rel_diff(a, b) -> float:
    return max(float(np.max(np.abs(x - y)) / (np.max(np.abs(y)) + 1e-12))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)) if np.size(y))


def bench(spec: str, steps: int) -> dict:
    config = config_lib.load_config(spec)
    dataset = data_lib.load_dataset(config.data)
    family = families.build(config, dataset)
    host = jax.tree.map(np.asarray, make_state(init_fn(family, config.seed)))
    batches = [data_lib.batch_at(dataset, i, batch_size=config.train.batch_size, seed=0)
               for i in range(4)]
    lowered = {"onednn": jax.jit(step_fn(family), donate_argnums=0).lower(host, batches[0])}
    with onednn.xla_only():
        lowered["xla"] = jax.jit(step_fn(family), donate_argnums=0).lower(host, batches[0])
    texts = {k: v.as_text() for k, v in lowered.items()}
    calls = {k: {kind: text.count(f"jaxgen_{kind}") for kind in ("onednn_conv", "group_norm")}
             for k, text in texts.items()}
    compiled = {k: v.compile() for k, v in lowered.items()}
    after = {k: jax.tree.map(np.asarray, f(host, batches[0])[0]) for k, f in compiled.items()}
    states = {k: jax.tree.map(jax.numpy.array, host) for k in compiled}
    times = {k: [] for k in compiled}
    for i in range(steps + 2):
        for k in (("onednn", "xla") if i % 2 else ("xla", "onednn")):
            t0 = time.perf_counter()
            states[k], metrics = compiled[k](states[k], batches[i % 4])
            jax.block_until_ready((states[k], metrics))
            if i >= 2:  # warm-up
                times[k].append(time.perf_counter() - t0)
    onednn_ms, xla_ms = (statistics.median(times[k]) * 1e3 for k in ("onednn", "xla"))
    diff = max_rel_diff(after["onednn"], after["xla"])
    return dict(config=spec, batch=config.train.batch_size, custom_calls=calls,
                onednn_ms=round(onednn_ms, 1), xla_ms=round(xla_ms, 1),
                speedup=round(xla_ms / onednn_ms, 3),
                max_rel_state_diff_after_one_step=float(f"{diff:.2e}"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS)
    p.add_argument("--steps", type=int, default=20, help="timed steps of each")
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args(argv)
    if onednn.version() is None:
        sys.exit(f"onednn_ab.py: the oneDNN library is not built ({onednn.LIBRARY}); "
                 f"run `make onednn`")
    load_start = [round(x, 2) for x in os.getloadavg()]
    results = [bench(spec, args.steps) for spec in args.configs]
    out = dict(onednn=onednn.version(), jax=jax.__version__, cpus=os.cpu_count(),
               xla_flags=os.environ.get("XLA_FLAGS", ""), load_avg_start=load_start,
               load_avg_end=[round(x, 2) for x in os.getloadavg()], results=results)
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    xla_flags.configure()
    main()
