"""GPipe pipeline parallelism (Huang et al. 2019) over the "stage" mesh axis.

A stack of L identical blocks with stacked parameters (leading axis L) splits into S stages of
L/S consecutive blocks: stage s holds blocks [s L/S, (s + 1) L/S) (its parameter leaves, their
optimiser moments and EMA are sharded P("stage") on the leading axis; rules.py). Each data
replica's batch is cut into M microbatches. At iteration i (0 <= i < M + S - 1) stage s runs
microbatch i - s and hands its output to stage s + 1 with `lax.ppermute`; the last stage's
outputs are summed over "stage" (the other stages add zeros), so every stage returns the whole
result. One `lax.scan` over the iterations with `jax.checkpoint` per iteration: the backward
pass is autodiff of it (a reversed scan; ppermute's transpose sends cotangents to stage s - 1).
Stages idle for a fraction (S - 1) / (M + S - 1) of the iterations (`bubble`).

The DiT's block stack calls `run` while a `Plan` is active: `Layout` sets one around the
tracing of the jit step. Elsewhere (init, sampling, one device) the same parameters run as a
plain nn.scan, so checkpoints do not depend on the stage count.
"""
from __future__ import annotations

import contextlib
import dataclasses
import re

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh, PartitionSpec as P

from jaxgen.parallel.mesh import BATCH_AXES, batch_axes_size

AXIS = "stage"
STACK = re.compile(r"(.*/)?blocks/.*")   # a stacked block leaf's path: "params/denoiser/blocks/..."
_ACTIVE: list["Plan"] = []


@dataclasses.dataclass(frozen=True)
class Plan:
    """How the traced step pipelines its block stack: over `mesh`'s "stage" axis, with each data
    replica's batch in `microbatches` parts."""
    mesh: Mesh
    microbatches: int

    @property
    def stages(self) -> int:
        return self.mesh.shape[AXIS]

    def describe(self) -> str:
        S, M = self.stages, self.microbatches
        return (f"pipeline: {S} stages x {M} microbatches, bubble (S-1)/(M+S-1) = "
                f"{bubble(S, M):.3f}")


def is_stacked(name: str) -> bool:
    """Whether the state leaf at path `name` belongs to a stacked block stack (leading axis L)."""
    return STACK.fullmatch(name) is not None


def bubble(stages: int, microbatches: int) -> float:
    """The idle fraction of a GPipe schedule: (S - 1) / (M + S - 1)."""
    return (stages - 1) / (microbatches + stages - 1)


@contextlib.contextmanager
def planned(plan: Plan):
    """Pipelines the block stacks traced inside the `with`."""
    _ACTIVE.append(plan)
    try:
        yield plan
    finally:
        _ACTIVE.pop()


def current() -> Plan | None:
    """The active Plan, or None (run the blocks sequentially)."""
    return _ACTIVE[-1] if _ACTIVE else None


def traced_in(plan: Plan, make_step):
    """`make_step` whose step is traced with `plan` active (for `steps.jit_step`)."""
    def make(axis_name):
        step = make_step(axis_name)

        def planned_step(state, batch):
            with planned(plan):
                return step(state, batch)
        return planned_step
    return make


def _at(tree, k):
    """Entry k (traced) of the leading axis of every leaf."""
    return jax.tree.map(lambda a: lax.dynamic_index_in_dim(a, k, keepdims=False), tree)


def schedule(stage_fn, params, xs, extras=None, *, axis: str = AXIS):
    """GPipe forward inside `shard_map`, as seen by one device of stage s = axis_index(axis).

    stage_fn(params, x, extras_m) -> x: this stage's blocks on one microbatch.
    params: this stage's parameters; xs: (M, b, ...) the microbatches (the same on every stage;
    stage 0 reads them); extras: a pytree of (M, b, ...) per-microbatch inputs every block sees
    (conditioning). Returns (M, b, ...): the last stage's outputs, on every stage.
    """
    S, M = lax.axis_size(axis), xs.shape[0]
    s = lax.axis_index(axis)
    feed = jnp.concatenate([xs, jnp.zeros((S - 1, *xs.shape[1:]), xs.dtype)])  # (M + S - 1, b, ...)
    send = [(k, (k + 1) % S) for k in range(S)]   # a cycle: stage 0 ignores what it receives

    def iteration(h, step):
        i, x_i = step
        h = jnp.where(s == 0, x_i, h)             # stage 0 takes microbatch i
        out = stage_fn(params, h, _at(extras, jnp.clip(i - s, 0, M - 1)))
        return lax.ppermute(out, axis, send), out

    # zeros that vary over the stages and the data axes like the carry they start (built from s
    # and xs, so the same code passes shard_map's type checks and runs under vmap(axis_name=...))
    h0 = jnp.where(s < 0, xs[0], jnp.zeros((), xs.dtype))
    _, outs = lax.scan(jax.checkpoint(iteration), h0, (jnp.arange(M + S - 1), feed))
    last = jnp.where(s == S - 1, outs[S - 1:], 0.0)   # (M, b, ...): microbatch m left at i = m + S - 1
    return lax.psum(last, axis)


def run(plan: Plan, stage_fn, stacked, x, extras=None):
    """The block stack on the whole batch, pipelined over `plan.mesh` (call inside jit).

    stacked: parameters with leading axis L (split P("stage")); x: (B, ...) activations and
    extras a pytree of (B, ...) per-example inputs, both split over the data axes. -> (B, ...)."""
    M = plan.microbatches

    def per_device(params, x, extras):
        split = lambda a: a.reshape(M, a.shape[0] // M, *a.shape[1:])  # noqa: E731 (b, ...) -> (M, b/M, ...)
        out = schedule(stage_fn, params, split(x), jax.tree.map(split, extras))
        return out.reshape(x.shape)

    batch = P(BATCH_AXES)
    # manual over the stage and batch axes; "tensor" stays automatic, so a tensor-parallel split
    # of the block parameters (jaxgen.models.dit.tensor_rules) carries on inside each stage
    mapped = jax.shard_map(per_device, mesh=plan.mesh, in_specs=(P(AXIS), batch, batch),
                           out_specs=batch, axis_names={AXIS, *BATCH_AXES}, check_vma=True)
    return mapped(stacked, x, extras)


def check(config, mesh: Mesh, microbatches: int) -> None:
    """Errors naming the numbers when `config` cannot be pipelined on `mesh`."""
    S = mesh.shape[AXIS]
    model = config.get("model") or {}
    if model.get("arch") != "dit" or not model.get("scan_blocks", False):
        raise ValueError(
            f"config.parallel.pipeline.stages={S} needs a stack of identical blocks, but "
            f"config.model is arch={model.get('arch', 'unet')!r}, scan_blocks="
            f"{model.get('scan_blocks', False)}; use a DiT with --config.model.scan_blocks=true "
            f"(e.g. configs/dit_compose.py), or stages=1")
    if model["depth"] % S:
        raise ValueError(f"config.parallel.pipeline.stages={S} does not divide config.model.depth="
                         f"{model['depth']} blocks; pick stages among the divisors of {model['depth']}")
    per_replica = config.train.batch_size // batch_axes_size(mesh)
    if microbatches < 1 or per_replica % microbatches:
        raise ValueError(
            f"config.parallel.pipeline.microbatches={microbatches} does not divide the "
            f"{per_replica} examples per data replica (train.batch_size={config.train.batch_size}"
            f" over {batch_axes_size(mesh)} data devices); pick a divisor of {per_replica}")
    _check_no_dropout(config, S)


def _check_no_dropout(config, stages: int) -> None:
    """Dropout runs the denoiser once per example (vmap, each with its own key), which a
    microbatched pipeline cannot split; refused rather than drawing split-dependent masks."""
    from jaxgen.families.diffusion import uses_dropout  # the family owns that rule
    if uses_dropout(config):
        raise ValueError(f"config.parallel.pipeline.stages={stages} with dropout (model.dropout="
                         f"{config.model.get('dropout', 0.0)}, text.dropout="
                         f"{config.get('text', {}).get('dropout', 0.0)}) is not supported: set "
                         f"the dropout rates to 0 or stages=1")
