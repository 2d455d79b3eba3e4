"""orbax checkpoints: async saves, keep the last K, restore the newest readable one.

A checkpoint holds the whole train state (params, optimiser states, EMA, step, RNG)
plus JSON metadata; the data position is the step itself (batches are a pure
function of the step), so a restore resumes exactly.
"""
from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint._src.metadata import array_metadata_store  # orbax's own default, pinned


def write_small_arrays_whole(min_slice_bytes: int = 2**20) -> None:
    """orbax splits the write of a replicated array across its replicas by slicing every shard
    on device: one small XLA compile per distinct shape, ~10 s at the first save of a 580-leaf
    state on 8 CPU devices. Arrays whose slices would be under `min_slice_bytes` are written
    whole by one replica instead (orbax's default handler otherwise)."""
    absl_logger = logging.getLogger("absl")  # silences orbax's "overriding jax.Array" warning
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        ocp.type_handlers.register_type_handler(jax.Array, ocp.type_handlers.ArrayHandler(
            array_metadata_store=array_metadata_store.Store(),
            min_slice_bytes_for_replica_parallel=min_slice_bytes), override=True)
    finally:
        absl_logger.setLevel(level)


write_small_arrays_whole()


class Checkpointer:
    """Wraps `ocp.CheckpointManager` over `directory` (step-numbered subfolders)."""

    def __init__(self, directory, *, max_to_keep: int = 3):
        self.directory = Path(directory).resolve()
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
            item_handlers=dict(state=ocp.StandardCheckpointHandler(),
                               meta=ocp.JsonCheckpointHandler()))

    def save(self, step: int, state, meta: dict) -> None:
        """Starts an async save of `state` at `step` (returns before the write ends)."""
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)

    def steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def restore(self, step: int, abstract_state):
        """Restores `step` into the structure, dtypes and shardings of `abstract_state`, whatever
        mesh wrote it; leaves without a sharding (plain `jax.eval_shape`) land on one device."""
        out = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(_with_shardings(abstract_state)),
            meta=ocp.args.JsonRestore()))
        return out["state"], out["meta"]

    def restore_latest(self, abstract_state):
        """Returns (state, meta) of the newest checkpoint that reads back, or None if none.

        An unreadable checkpoint (truncated, corrupt) is moved aside to
        `<dir>_corrupt/<step>` with a warning, and the previous one is tried. A readable
        one that holds another structure (the config changed) is an error; nothing moves.
        """
        for step in reversed(self.steps()):
            try:
                stored = self.manager.item_metadata(step)["state"]
            except Exception as e:  # orbax/tensorstore raise many types for bad files
                self._quarantine(step, e)
                continue
            self._check_fits(step, stored, abstract_state)
            try:
                return self.restore(step, abstract_state)
            except Exception as e:
                self._quarantine(step, e)
        return None

    def _check_fits(self, step: int, stored, abstract_state) -> None:
        want, have = _shapes(abstract_state), _shapes(getattr(stored, "tree", stored))
        if want == have:
            return
        diff = sorted(set(want.items()) ^ set(have.items()))[:4]
        raise ValueError(
            f"checkpoint {self.directory / str(step)} does not fit the state this config "
            f"builds (first differences, (path, shape): {diff}). Was the model or optimiser "
            f"config changed since it was written? Resume with the workdir's own config.json "
            f"(omit --config) or use a new --workdir.")

    def _quarantine(self, step: int, error: Exception) -> None:
        target = self.directory.parent / f"{self.directory.name}_corrupt" / str(step)
        warnings.warn(f"checkpoint {self.directory / str(step)} could not be read "
                      f"({type(error).__name__}: {str(error)[:300]}); moved it to {target} "
                      f"and falling back to the previous checkpoint", stacklevel=3)
        if jax.process_index() == 0:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(self.directory / str(step)), str(target))
        self.manager.reload()

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()



def _with_shardings(abstract_state):
    """Without a target sharding orbax would reuse the writer's, which names devices this
    process may not have (a checkpoint saved on 8 devices, read on 1)."""
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree.map(lambda a: a if getattr(a, "sharding", None) is not None else
                        jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), abstract_state)


def _key_name(key) -> str:
    for attr in ("key", "idx", "name"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def _shapes(tree) -> dict:
    """{path: shape} with dict keys, sequence indices and namedtuple fields alike."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(_key_name(k) for k in path): tuple(leaf.shape) for path, leaf in leaves}
