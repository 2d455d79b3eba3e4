"""The three step modes. Each wraps the same `step(state, batch)` (built by `make_step(axis_name)`)
and returns a jitted (state, batch) -> (state, metrics) with the state donated.

jit        GSPMD: the step sees the global batch and whole arrays; XLA inserts the collectives
           implied by the state's and batch's NamedShardings (data parallel, FSDP, tensor rules).
           FSDP-split parameters are all-gathered as the step starts (rules.compute_specs says
           why); optimiser moments and EMA stay split, so their update runs on each shard.
shard_map  the step runs per device on its slice of the batch with `axis_name=("data", "fsdp")`,
           so batch means are `pmean`s. Sharded state leaves are all-gathered first (as
           *invariant* values) and sliced back after. check_vma stays on: a replicated
           parameter's gradient is then summed over the shards by autodiff, which is exactly
           right for a loss already averaged with `pmean` (with check_vma on, a further
           `pmean` of those gradients would give N times the true gradient on N devices;
           tests/parallel/test_equivalence.py holds every mode to one device's numbers).
pmap       jax.pmap's model: data parallel only, one program per device, the batch laid out
           as (devices, per_device, ...) and mapped over its first axis, the state unmapped
           (replicated). Built the way jax.pmap itself is built (jit of shard_map over the
           devices) but with check_vma on: `jax.pmap` hard-codes check_vma=False, under which a
           loss averaged with `pmean` gives each device its own local gradient.
"""
from __future__ import annotations

import math

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxgen.parallel.mesh import BATCH_AXES
from jaxgen.parallel.rules import named


def _entries(spec: P):
    """(dimension, mesh axes) for each sharded dimension of `spec`."""
    for dim, entry in enumerate(spec):
        if entry is not None:
            yield dim, (entry,) if isinstance(entry, str) else tuple(entry)


def gather(x, spec: P):
    """This device's block -> the whole array, the same on every device (invariant)."""
    for dim, axes in _entries(spec):
        x = jax.lax.all_gather(x, axes, axis=dim, tiled=True, to="invarying")
    return x


def scatter(x, spec: P, mesh: Mesh):
    """The whole array -> this device's block (the inverse of `gather`)."""
    for dim, axes in _entries(spec):
        size = x.shape[dim] // math.prod(mesh.shape[a] for a in axes)
        x = jax.lax.dynamic_slice_in_dim(x, jax.lax.axis_index(axes) * size, size, dim)
    return x


def jit_step(make_step, mesh: Mesh, state_shardings, compute_shardings=None):
    """GSPMD over `mesh`: the batch split along ("data", "fsdp"), metrics replicated. With
    `compute_shardings` the state is constrained to them as the step starts (FSDP parameters
    all-gathered, rules.compute_specs); the outputs go back to `state_shardings`."""
    step = make_step(None)
    if compute_shardings is not None:
        per_example = step
        step = lambda state, batch: per_example(  # noqa: E731
            jax.lax.with_sharding_constraint(state, compute_shardings), batch)
    batch = NamedSharding(mesh, P(BATCH_AXES))
    return jax.jit(step, in_shardings=(state_shardings, batch),
                   out_shardings=(state_shardings, NamedSharding(mesh, P())), donate_argnums=0)


def shard_map_step(make_step, mesh: Mesh, specs, *, device_axis: bool = False):
    """One program per device; `device_axis`: the batch carries a leading (devices,) axis."""
    step = make_step(BATCH_AXES)

    def per_shard(state, batch):
        if device_axis:
            batch = jax.tree.map(lambda x: x[0], batch)  # (1, b, ...) -> (b, ...)
        new_state, metrics = step(jax.tree.map(gather, state, specs), batch)
        return jax.tree.map(lambda x, s: scatter(x, s, mesh), new_state, specs), metrics

    mapped = jax.shard_map(per_shard, mesh=mesh, in_specs=(specs, P(BATCH_AXES)),
                           out_specs=(specs, P()), check_vma=True)
    shardings = named(mesh, specs)
    return jax.jit(mapped, in_shardings=(shardings, NamedSharding(mesh, P(BATCH_AXES))),
                   out_shardings=(shardings, NamedSharding(mesh, P())), donate_argnums=0)
