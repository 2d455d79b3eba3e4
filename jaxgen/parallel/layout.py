"""`Layout`: everything the training loop needs from jaxgen.parallel, built from the config.

    layout = Layout(config, init)                  # mesh, state specs (from jax.eval_shape)
    state = layout.init_state()                    # born sharded: jit(init, out_shardings=...)
    restored = checkpointer.restore_latest(layout.abstract_state)   # any mesh -> this one
    train_step = layout.compile(make_step)         # make_step(axis_name) -> step(state, batch)
    index, count = layout.process_rows             # this process's share of each global batch
    batch = layout.global_batch(local_batch)       # -> global jax.Arrays split on the data axes
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxgen.families.base import make_state
from jaxgen.parallel import multihost, pipeline, steps
from jaxgen.parallel.mesh import BATCH_AXES, check_batch, make_mesh, parallel_config
from jaxgen.parallel.rules import compute_specs, named, state_specs, with_model_rules


class Layout:
    """The mesh and the shardings of one run. `init` is the pure () -> state of the loop;
    `param_groups` (the family's) names the parameters jit mode all-gathers for the step;
    `tensor_rules` (the family's) gives the model's split over the "tensor" axis."""

    def __init__(self, config, init, devices=None, param_groups=None, tensor_rules=None):
        self.cfg = parallel_config(config)
        self.mesh = make_mesh(self.cfg, devices)
        self.cfg = with_model_rules(self.cfg, self.mesh, tensor_rules)
        self.batch_size = config.train.batch_size
        check_batch(self.batch_size, self.mesh)
        self.plan = self._pipeline_plan(config)
        self.init = init
        abstract = jax.eval_shape(init)
        self.specs = state_specs(abstract, self.cfg, self.mesh)
        self.shardings = named(self.mesh, self.specs)
        self.compute_specs = compute_specs(abstract, self.specs, param_groups)
        self.abstract_state = jax.tree.map(
            lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, self.shardings)
        self.batch_sharding = NamedSharding(self.mesh, P(BATCH_AXES))
        self.process_rows = multihost.process_rows(self.batch_sharding, self.batch_size)

    def _pipeline_plan(self, config) -> pipeline.Plan | None:
        """The GPipe plan of `parallel.pipeline` (None for stages=1), after checking it fits."""
        if self.cfg.stages == 1:
            return None
        pipeline.check(config, self.mesh, self.cfg.microbatches)
        return pipeline.Plan(self.mesh, self.cfg.microbatches)

    def init_state(self, while_compiling=lambda: None):
        """The initial state, each leaf created directly in its sharding (`make_state`)."""
        return make_state(self.init, self.shardings, while_compiling)

    def compile(self, make_step):
        """The jitted, state-donating step of `parallel.mode`."""
        if self.cfg.mode == "jit":
            if self.plan is not None:
                make_step = pipeline.traced_in(self.plan, make_step)
            gathers = self.compute_specs != self.specs  # only when something is FSDP-split
            return steps.jit_step(make_step, self.mesh, self.shardings,
                                  named(self.mesh, self.compute_specs) if gathers else None)
        return steps.shard_map_step(make_step, self.mesh, self.specs,
                                    device_axis=self.cfg.mode == "pmap")

    def global_batch(self, local: dict) -> dict:
        """This process's rows (from `data.batch_at` with `process_rows`) -> global arrays; in
        pmap mode laid out (devices, per_device, ...)."""
        return {k: self._global(np.asarray(v)) for k, v in local.items()}

    def _global(self, x: np.ndarray) -> jax.Array:
        if self.cfg.mode != "pmap":
            return multihost.global_array(x, self.batch_sharding, self.batch_size)
        n_local, n = len(self.mesh.local_devices), self.mesh.devices.size
        x = x.reshape(n_local, x.shape[0] // n_local, *x.shape[1:])  # (devices, per_device, ...)
        return multihost.global_array(x, self.batch_sharding, n)

    def memory_per_device(self, state) -> dict:
        """Bytes of `state` held by each device: {device id: bytes}."""
        held: dict[int, int] = {}
        for leaf in jax.tree.leaves(state):
            for shard in leaf.addressable_shards:
                held[shard.device.id] = held.get(shard.device.id, 0) + shard.data.nbytes
        return held
