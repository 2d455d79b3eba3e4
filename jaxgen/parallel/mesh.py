"""The device mesh from `config.parallel`: axes ("data", "fsdp", "tensor"), sizes -1 = the rest,
and "stage" (`parallel.pipeline.stages`, pipeline.py).

The batch is split over ("data", "fsdp") together; parameters are split over "fsdp" (and
"tensor" where a rule says so); "tensor" and "stage" devices see the same examples.
"""
from __future__ import annotations

import dataclasses
import math

import jax
from jax.sharding import AxisType, Mesh

AXES = ("data", "fsdp", "tensor", "stage")
BATCH_AXES = ("data", "fsdp")
MODES = ("jit", "shard_map", "pmap")


@dataclasses.dataclass(frozen=True)
class ParallelConfig:
    """Typed `config.parallel`. rules: ((regex, spec), ...), matched in order against a state
    leaf's path ("params/Conv_0/kernel", "opt_state/1/0/mu/Conv_0/kernel"), spec one mesh-axis
    name, tuple of names, or None per dimension; min_fsdp_size: elements below which a leaf
    stays replicated under FSDP."""
    mode: str = "jit"
    data: int = -1
    fsdp: int = 1
    tensor: int = 1
    rules: tuple = ()
    min_fsdp_size: int = 2**14
    stages: int = 1           # parallel.pipeline.stages: the "stage" axis
    microbatches: int = 4     # parallel.pipeline.microbatches, per data replica

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"config.parallel.mode={self.mode!r} is not known; choose one of {MODES}")
        if self.mode == "pmap" and (self.fsdp != 1 or self.tensor != 1 or self.rules):
            raise ValueError(f"config.parallel.mode='pmap' is data parallel only, but fsdp="
                             f"{self.fsdp}, tensor={self.tensor}, rules={self.rules!r}; use mode="
                             f"'jit' or 'shard_map' to shard parameters")
        if self.stages != 1 and self.mode != "jit":
            raise ValueError(f"config.parallel.pipeline.stages={self.stages} runs in mode='jit' "
                             f"only (mode={self.mode!r} gathers every parameter on every device); "
                             f"use --config.parallel.mode=jit")
        for pattern, spec in self.rules:
            if not isinstance(pattern, str) or not isinstance(spec, (tuple, list)):
                raise ValueError(f"config.parallel.rules entry ({pattern!r}, {spec!r}) must be "
                                 f"(regex, (axis or None per dimension, ...))")


def parallel_config(config) -> ParallelConfig:
    """`config.parallel` as a ParallelConfig; configs saved before it existed get the defaults."""
    group = config.get("parallel")
    values = dict(group.items()) if group is not None else {}
    rules = tuple((pattern, tuple(spec)) for pattern, spec in values.pop("rules", ()))
    pipeline = dict(values.pop("pipeline", {}))
    return ParallelConfig(**values, rules=rules, stages=pipeline.get("stages", 1),
                          microbatches=pipeline.get("microbatches", 4))


def mesh_shape(cfg: ParallelConfig, num_devices: int) -> tuple[int, int, int]:
    """(data, fsdp, tensor) for `num_devices`; one size may be -1 (whatever is left)."""
    sizes = [cfg.data, cfg.fsdp, cfg.tensor]
    named = ", ".join(f"parallel.{a}={s}" for a, s in zip(AXES, sizes))
    if sizes.count(-1) > 1 or any(s == 0 or s < -1 for s in sizes):
        raise ValueError(f"{named}: sizes must be >= 1, and at most one may be -1")
    fixed = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if num_devices % fixed:
            raise ValueError(f"{named}: the fixed axes hold {fixed} devices, which does not "
                             f"divide the {num_devices} devices; pick sizes whose product divides "
                             f"{num_devices}")
        sizes[sizes.index(-1)] = num_devices // fixed
    if math.prod(sizes) != num_devices:
        raise ValueError(f"{named}: the mesh holds {math.prod(sizes)} devices but there are "
                         f"{num_devices}; make the product equal {num_devices} or set one size to -1")
    return tuple(sizes)


def make_mesh(cfg: ParallelConfig, devices=None) -> Mesh:
    """A mesh over all (global) devices; Auto axes, so jit's GSPMD propagates shardings."""
    devices = list(jax.devices() if devices is None else devices)
    shape = (*mesh_shape(cfg, _per_stage(cfg.stages, len(devices))), cfg.stages)
    return jax.make_mesh(shape, AXES, axis_types=(AxisType.Auto,) * len(AXES), devices=devices)


def _per_stage(stages: int, num_devices: int) -> int:
    """Devices left for (data, fsdp, tensor) once the "stage" axis takes `stages`."""
    if stages < 1 or num_devices % stages:
        raise ValueError(f"config.parallel.pipeline.stages={stages} does not divide the "
                         f"{num_devices} devices; pick stages dividing {num_devices}")
    return num_devices // stages


def batch_axes_size(mesh: Mesh) -> int:
    return math.prod(mesh.shape[a] for a in BATCH_AXES)


def check_batch(batch_size: int, mesh: Mesh) -> None:
    n = batch_axes_size(mesh)
    if batch_size % n:
        raise ValueError(f"train.batch_size={batch_size} does not divide over the data axes: "
                         f"parallel.data x parallel.fsdp = {mesh.shape['data']} x "
                         f"{mesh.shape['fsdp']} = {n} devices; use a multiple of {n}")
