"""Step time and per-device state memory by parallel mode and device count, printed as JSON.

  python benchmarks/scaling.py [--config configs/ddpm_fmnist.py] [--batch_size 16] \
      [--devices 1 2 4 8] [--modes jit fsdp shard_map shard_map_fsdp pmap tensor] [--steps 5]
  python benchmarks/scaling.py --config configs/t2i_compose.py:dit_demo --modes jit fsdp tensor

Modes: jit (data parallel), fsdp (jit, parameters and optimiser state split over all the
devices), shard_map, shard_map_fsdp, pmap, tensor (jit, the model's built-in tensor-parallel
split over all the devices: a DiT's heads and MLP units), pipeline (jit, every device one GPipe
stage of the DiT's block stack, `--microbatches` M; needs a config with a stacked block stack,
e.g. configs/dit_compose.py:smoke, and a device count dividing its depth). Per (mode, devices):
compile time, median step time (block_until_ready, after two warm-up steps), the train state's
bytes on the fullest device (parameters + optimiser moments + EMA) against the whole state, the
parameters + optimiser state alone on the fullest device, and XLA's scratch memory
per device during a step (where gathered parameters and activations live). On a machine without an
accelerator it runs on `--cpu_devices` simulated CPU devices sharing the host's cores: that
shows the overhead and the memory per device, not a speed-up. On GPUs/TPUs it runs unchanged
over subsets of the real devices.

Pipeline points also time the block stack alone (forward + backward, `stack_cost`), pipelined
and as the same microbatches run one after another on one device, and report the measured
bubble next to the theoretical (S-1)/(M+S-1): the share of the pipelined work that is not the
sequential work. Simulated CPU devices share the host's cores, so there it is
1 - CPU_seconds(sequential) / CPU_seconds(pipeline) (the work the idle iterations and the
transfers add; run with XLA_FLAGS=--xla_cpu_multi_thread_eigen=false so that each device is
one thread); on accelerators, where stages run at once, 1 - wall(sequential) / (S x wall(pipeline)).
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec as P  # noqa: E402
from jaxgen import config as config_lib  # noqa: E402
from jaxgen import data as data_lib  # noqa: E402
from jaxgen import families  # noqa: E402
from jaxgen.families.base import count_params  # noqa: E402
from jaxgen.parallel import Layout  # noqa: E402
from jaxgen.families.base import init_fn, step_fn  # noqa: E402
from jaxgen.models.dit import ScannedBlock, stage_fn  # noqa: E402
from jaxgen.models.registry import denoiser_config  # noqa: E402
from jaxgen.parallel import pipeline  # noqa: E402
from jaxgen.parallel.mesh import ParallelConfig, make_mesh  # noqa: E402

MODES = {"jit": dict(mode="jit"), "fsdp": dict(mode="jit", data=1, fsdp=-1),
         "shard_map": dict(mode="shard_map"), "pmap": dict(mode="pmap"),
         "shard_map_fsdp": dict(mode="shard_map", data=1, fsdp=-1),
         "tensor": dict(mode="jit", data=1, tensor=-1),
         "pipeline": dict(mode="jit", data=1)}


def configure(spec: str, batch_size: int, mode: str, overrides: dict, devices: int = 1,
              microbatches: int = 4):
    config = config_lib.apply_overrides(config_lib.load_config(spec), overrides)
    with config.unlocked():
        config.train.batch_size = batch_size
        config.parallel.update({**dict(data=-1, fsdp=1, tensor=1), **MODES[mode]})
        config.parallel.pipeline.update(stages=devices if mode == "pipeline" else 1,
                                        microbatches=microbatches)
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


def stack_cost(config, devices, stages: int, steps: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds), medians per forward + backward of the DiT block stack alone
    on the training batch (zero conditioning, no prompt) in `config.parallel.pipeline.microbatches`
    microbatches: pipelined over `stages` devices, or with stages=1 the plain scan over them one
    after another on one device."""
    cfg = denoiser_config(config, out_channels=config.data.channels)
    tokens = (config.data.image_size // cfg.patch_size) ** 2
    x = jnp.ones((config.train.batch_size, tokens, cfg.width))                  # (B, N, D)
    c = jnp.zeros((config.train.batch_size, cfg.width))                         # (B, D)
    init = lambda k: ScannedBlock(cfg).init(k, x[:1], c[:1])["params"]  # noqa: E731
    stacked = jax.vmap(init)(jax.random.split(jax.random.PRNGKey(0), cfg.depth))  # (L, ...)
    M = config.parallel.pipeline.microbatches
    mb = lambda a: a.reshape(M, a.shape[0] // M, *a.shape[1:])  # noqa: E731 (B, ...) -> (M, B/M, ...)
    # the same microbatches one after another: the work the pipeline does without its bubble
    run = lambda p: jax.lax.map(lambda xc: stage_fn(cfg, False)(p, xc[0], (xc[1], None)),  # noqa: E731
                                (mb(x), mb(c)))
    if stages > 1:
        mesh = make_mesh(ParallelConfig(data=1, stages=stages), devices[:stages])
        plan = pipeline.Plan(mesh, M)
        stacked = jax.device_put(stacked, NamedSharding(mesh, P(pipeline.AXIS)))
        run = lambda p: pipeline.run(plan, stage_fn(cfg, False), p, x, (c, None))  # noqa: E731
    grad = jax.jit(jax.grad(lambda p: jnp.sum(run(p) ** 2)))
    jax.block_until_ready(grad(stacked))
    cpu, wall = [], []
    for _ in range(steps):
        c0, w0 = time.process_time(), time.perf_counter()
        jax.block_until_ready(grad(stacked))
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def pipeline_bubble(config, devices, steps: int) -> dict:
    """Measured vs theoretical bubble of the pipeline mode on `devices` (module docstring)."""
    S, M = len(devices), config.parallel.pipeline.microbatches
    (cpu_1, wall_1), (cpu_s, wall_s) = (stack_cost(config, devices, n, steps) for n in (1, S))
    on_cpu = jax.default_backend() == "cpu"
    measured = 1 - cpu_1 / cpu_s if on_cpu else 1 - wall_1 / (S * wall_s)
    return dict(stages=S, microbatches=M, bubble_theory=round(pipeline.bubble(S, M), 4),
                bubble_measured=round(measured, 4), stack_ms_scan=round(wall_1 * 1e3, 2),
                stack_ms_pipeline=round(wall_s * 1e3, 2))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/ddpm_fmnist.py")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    p.add_argument("--steps", type=int, default=5, help="timed steps per point")
    p.add_argument("--microbatches", type=int, default=4, help="M of the pipeline mode")
    p.add_argument("--cpu_devices", type=int, default=8, help="simulated devices without an accelerator")
    args, rest = p.parse_known_args(argv)
    _, overrides = config_lib.split_overrides(rest)
    jax.config.update("jax_num_cpu_devices", args.cpu_devices)  # only the CPU platform reads it
    dataset = data_lib.load_dataset(config_lib.load_config(args.config).data)
    results = []
    for n in [n for n in args.devices if n <= jax.device_count()]:
        for mode in args.modes:
            config = configure(args.config, args.batch_size, mode, overrides, n, args.microbatches)
            devices = jax.devices()[:n]
            results.append(dict(mode=mode, **bench(config, dataset, devices, args.steps)))
            if mode == "pipeline" and n > 1:
                results[-1].update(pipeline_bubble(config, devices, args.steps))
            print(json.dumps(results[-1]), file=sys.stderr)
    print(json.dumps(dict(benchmark="scaling", backend=jax.default_backend(),
                          device_kind=jax.devices()[0].device_kind, config=args.config,
                          batch_size=args.batch_size, jax=jax.__version__, results=results), indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
