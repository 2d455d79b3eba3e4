"""Step time and per-device state memory by parallel mode and device count, printed as JSON.

  python benchmarks/scaling.py [--config configs/ddpm_fmnist.py] [--batch_size 16] \
      [--devices 1 2 4 8] [--modes jit fsdp shard_map shard_map_fsdp pmap tensor] [--steps 5]
  python benchmarks/scaling.py --config configs/t2i_compose.py:dit_demo --modes jit fsdp tensor

Modes: jit (data parallel), fsdp (jit, parameters and optimiser state split over all the
devices), shard_map, shard_map_fsdp, pmap, tensor (jit, the model's built-in tensor-parallel
split over all the devices: a DiT's heads and MLP units). Per (mode, devices): compile time,
median step time (block_until_ready, after two warm-up steps), the train state's bytes on the
fullest device (parameters + optimiser moments + EMA) against the whole state, the parameters +
optimiser state alone on the fullest device, and XLA's scratch memory
per device during a step (where gathered parameters and activations live). On a machine without an
accelerator it runs on `--cpu_devices` simulated CPU devices sharing the host's cores: that
shows the overhead and the memory per device, not a speed-up. On GPUs/TPUs it runs unchanged
over subsets of the real devices.
"""
import argparse
import json
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
from jaxgen.parallel import Layout  # noqa: E402
from jaxgen.families.base import init_fn, step_fn  # noqa: E402

MODES = {"jit": dict(mode="jit"), "fsdp": dict(mode="jit", data=1, fsdp=-1),
         "shard_map": dict(mode="shard_map"), "pmap": dict(mode="pmap"),
         "shard_map_fsdp": dict(mode="shard_map", data=1, fsdp=-1),
         "tensor": dict(mode="jit", data=1, tensor=-1)}


def configure(spec: str, batch_size: int, mode: str, overrides: dict):
    config = config_lib.apply_overrides(config_lib.load_config(spec), overrides)
    with config.unlocked():
        config.train.batch_size = batch_size
        config.parallel.update({**dict(data=-1, fsdp=1, tensor=1), **MODES[mode]})
    return config


def time_steps(step, state, batches) -> tuple[float, float, int, object]:
    """(compile seconds, median step seconds, XLA's per-device scratch bytes, final state)."""
    t0 = time.perf_counter()
    compiled = step.lower(state, batches[0]).compile()
    compile_s = time.perf_counter() - t0
    memory = compiled.memory_analysis()
    times = []
    for batch in batches:
        t0 = time.perf_counter()
        state, metrics = compiled(state, batch)
        jax.block_until_ready((state, metrics))
        times.append(time.perf_counter() - t0)
    return compile_s, statistics.median(times[2:]), getattr(memory, "temp_size_in_bytes", -1), state


def bench(config, dataset, devices, steps: int) -> dict:
    family = families.build(config, dataset)
    layout = Layout(config, init_fn(family, config.seed), devices=devices,
                    param_groups=family.param_groups, tensor_rules=family.tensor_rules)
    state = layout.init_state()
    held = layout.memory_per_device(state)
    trained = layout.memory_per_device({k: v for k, v in state.items()
                                        if k not in ("ema_params", "step", "rng")})
    batches = [layout.global_batch(data_lib.batch_at(dataset, i, batch_size=config.train.batch_size,
                                                     seed=0)) for i in range(steps + 2)]
    step = layout.compile(lambda axis_name: step_fn(family, axis_name))
    compile_s, step_s, temp, state = time_steps(step, state, batches)
    total = sum(x.nbytes for x in jax.tree.leaves(state))
    return dict(devices=len(devices), mesh=dict(layout.mesh.shape), compile_s=round(compile_s, 2),
                step_ms=round(step_s * 1e3, 2),
                images_per_s=round(config.train.batch_size / step_s, 1),
                state_bytes_total=total, state_bytes_per_device=max(held.values()),
                per_device_fraction=round(max(held.values()) / total, 4),
                params_opt_bytes_per_device=max(trained.values()),
                step_scratch_bytes_per_device=temp,
                params=sum(count_params(p) for p in family.param_groups(state).values()))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/ddpm_fmnist.py")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    p.add_argument("--steps", type=int, default=5, help="timed steps per point")
    p.add_argument("--cpu_devices", type=int, default=8, help="simulated devices without an accelerator")
    args, rest = p.parse_known_args(argv)
    _, overrides = config_lib.split_overrides(rest)
    jax.config.update("jax_num_cpu_devices", args.cpu_devices)  # only the CPU platform reads it
    dataset = data_lib.load_dataset(config_lib.load_config(args.config).data)
    results = []
    for n in [n for n in args.devices if n <= jax.device_count()]:
        for mode in args.modes:
            config = configure(args.config, args.batch_size, mode, overrides)
            results.append(dict(mode=mode, **bench(config, dataset, jax.devices()[:n], args.steps)))
            print(json.dumps(results[-1]), file=sys.stderr)
    print(json.dumps(dict(benchmark="scaling", backend=jax.default_backend(),
                          device_kind=jax.devices()[0].device_kind, config=args.config,
                          batch_size=args.batch_size, jax=jax.__version__, results=results), indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
