"""Device meshes, sharding rules, the jit / shard_map / pmap step wrappers and multi-host helpers.

The loop uses one object, `Layout(config, init)`; see layout.py. Families need nothing from
here: they take `axis_name` and average batch terms with `mean_over_batch`.
"""
from jaxgen.parallel.layout import Layout
from jaxgen.parallel.mesh import AXES, BATCH_AXES, MODES, ParallelConfig, make_mesh, parallel_config
from jaxgen.parallel.multihost import initialize, is_main, to_host
from jaxgen.parallel.rules import state_specs

__all__ = ["AXES", "BATCH_AXES", "Layout", "MODES", "ParallelConfig", "initialize", "is_main",
           "make_mesh", "parallel_config", "state_specs", "to_host"]
