"""Runs several short trainings in one process (on whatever devices it has) and writes a JSON
summary; the parallel tests start it with simulated CPU devices.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/parallel/driver.py OUT.json \
      WORKDIR CONFIG_NAME [--config.a.b=v ...] [--stop_after=N] [--restore_only] [-- WORKDIR ...]

Each run trains `configs/<CONFIG_NAME>.py:smoke` (or CONFIG_NAME:VARIANT) with the overrides in WORKDIR (resuming if it
holds checkpoints), or with --restore_only just builds the loop (restoring). It then writes
WORKDIR/<state.npz | restored.npz> (every leaf, gathered, by path) and reports its mesh,
total and per-device state bytes (and those of the stacked block leaves a pipeline splits), how
many leaves are sharded, and the fraction of each split leaf one device holds.
"""
import json
import sys
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from jaxgen import config as config_lib  # noqa: E402
from jaxgen.parallel import pipeline, to_host  # noqa: E402
from jaxgen.utils.trees import path_name  # noqa: E402
from jaxgen.train import loop as loop_lib  # noqa: E402
from jaxgen.train.logging import default_console  # noqa: E402
from jaxgen.utils import compile_cache  # noqa: E402


def dump(state, path: Path) -> None:
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    arrays = {path_name(p): to_host(x) for p, x in leaves}
    if jax.process_index() == 0:
        np.savez(path, **arrays)


def one_run(workdir: str, name: str, *args: str) -> dict:
    flags, overrides = config_lib.split_overrides(list(args))
    file, _, variant = name.partition(":")   # CONFIG_NAME or CONFIG_NAME:VARIANT
    config = config_lib.load_config(str(ROOT / "configs" / f"{file}.py:{variant or 'smoke'}"))
    config_lib.apply_overrides(config, overrides)
    stop_after = [int(f.split("=")[1]) for f in flags if f.startswith("--stop_after=")]
    if "--restore_only" in flags:
        loop = loop_lib.Loop(config, loop_lib.prepare_workdir(workdir), default_console())
        loop.checkpointer.close()
        dump(loop.state, Path(workdir) / "restored.npz")
    else:
        loop = loop_lib.run(config, workdir, stop_after=stop_after[0] if stop_after else None)
        dump(loop.state, Path(workdir) / "state.npz")
    held = loop.layout.memory_per_device(loop.state)
    leaves = jax.tree_util.tree_flatten_with_path(loop.state)[0]
    blocks = [x for p, x in leaves if pipeline.is_stacked(path_name(p))]  # stacked block leaves
    specs = jax.tree.leaves(loop.layout.specs, is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec))
    return dict(workdir=workdir, mesh=dict(loop.layout.mesh.shape),
                total_bytes=sum(x.nbytes for x in jax.tree.leaves(loop.state)),
                bytes_per_device=sorted(held.values()),
                blocks_bytes=sum(x.nbytes for x in blocks),
                blocks_bytes_per_device=sorted(loop.layout.memory_per_device(blocks).values()),
                sharded_leaves=sum(s != jax.sharding.PartitionSpec() for s in specs),
                leaves=len(specs), split_fractions=split_fractions(loop.state))


def split_fractions(state) -> dict:
    """{path: bytes of the largest shard / bytes of the leaf} for the leaves split over devices."""
    out = {}
    for p, x in jax.tree_util.tree_flatten_with_path(state)[0]:
        fraction = max(s.data.nbytes for s in x.addressable_shards) / max(x.nbytes, 1)
        if fraction < 1:
            out[path_name(p)] = fraction
    return out


def main(argv):
    compile_cache.enable()
    out, groups, current = argv[0], [], []
    for arg in argv[1:] + ["--"]:
        if arg != "--":
            current.append(arg)
        elif current:
            groups.append(current)
            current = []
    results = [one_run(*g) for g in groups]
    Path(out).write_text(json.dumps(dict(devices=jax.device_count(), runs=results)))


if __name__ == "__main__":
    main(sys.argv[1:])
