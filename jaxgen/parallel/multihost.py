"""Several processes, one program: `jax.distributed` start-up, each process's share of a global
batch, reading results back to the host, and "only process 0 writes files".

Every process runs the same jitted computations in the same order (SPMD); orbax checkpoints are
written by all of them together; logs, sample grids and config.json by process 0 only.
"""
from __future__ import annotations

import os

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from rich.console import Console

ENV = {"coordinator": "JAXGEN_COORDINATOR", "num_processes": "JAXGEN_NUM_PROCESSES",
       "process_id": "JAXGEN_PROCESS_ID"}  # set by `python -m jaxgen.launch`


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> bool:
    """`jax.distributed.initialize` from the arguments, else the JAXGEN_* environment; returns
    False (and does nothing) for a single process. coordinator="auto" lets JAX detect the
    cluster (Cloud TPU pod slices, SLURM, Open MPI)."""
    coordinator = coordinator or os.environ.get(ENV["coordinator"])
    num_processes = num_processes or _env_int("num_processes")
    process_id = _env_int("process_id") if process_id is None else process_id
    if coordinator == "auto":
        jax.distributed.initialize()
        return True
    if coordinator is None and num_processes in (None, 1):
        return False
    if coordinator is None or num_processes is None or process_id is None:
        raise ValueError(f"multi-process training needs --coordinator=HOST:PORT, --num_processes "
                         f"and --process_id (or {', '.join(ENV.values())}); got coordinator="
                         f"{coordinator!r}, num_processes={num_processes}, process_id={process_id}")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)
    return True


def _env_int(name: str) -> int | None:
    value = os.environ.get(ENV[name], "")
    return int(value) if value else None


def is_main() -> bool:
    return jax.process_index() == 0


def process_rows(sharding: NamedSharding, batch_size: int) -> tuple[int, int]:
    """(index, count) such that this process's devices hold rows [index * b, (index + 1) * b),
    b = batch_size / count, of a (batch_size, ...) array with `sharding`: the arguments of
    `data.batch_at(..., process_index=index, process_count=count)`."""
    slices = sharding.addressable_devices_indices_map((batch_size,)).values()
    lo = min(s[0].indices(batch_size)[0] for s in slices)
    hi = max(s[0].indices(batch_size)[1] for s in slices)
    rows = hi - lo
    if batch_size % rows or lo % rows:
        raise ValueError(f"process {jax.process_index()} holds batch rows [{lo}, {hi}), not an "
                         f"aligned 1/k share of train.batch_size={batch_size}; choose mesh sizes "
                         f"that give each process an equal block of the data axes")
    return lo // rows, batch_size // rows


def global_array(local: np.ndarray, sharding: NamedSharding, rows: int) -> jax.Array:
    """This process's rows of a global (rows, ...) array -> the global jax.Array."""
    return jax.make_array_from_process_local_data(sharding, local, (rows, *local.shape[1:]))


def to_host(x) -> np.ndarray:
    """A jax.Array as numpy on every process (gathers shards held by other processes)."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def agree_max(value: int) -> int:
    """The largest `value` over all processes (every process must call this at the same point;
    one small collective). Single process: `value` itself."""
    if jax.process_count() == 1:
        return int(value)
    return int(np.max(multihost_utils.process_allgather(np.int32(value))))


def main_console(console: Console) -> Console:
    """`console` on process 0, a silent one elsewhere (one copy of every message)."""
    return console if is_main() else Console(quiet=True)


class NullWriter:
    """Stands in for the metrics writer on processes other than 0."""

    def write(self, row: dict) -> None:
        del row
