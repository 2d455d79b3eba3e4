"""orbax checkpoints: async saves, keep the last K, restore the newest readable one.

A checkpoint holds the whole train state (params, optimiser states, EMA, step, RNG)
plus JSON metadata; the data position is the step itself (batches are a pure
function of the step), so a restore resumes exactly.

Restores never lose a run. Only an error that means "this checkpoint's bytes are unreadable"
(`is_unreadable`) lets the trainer move a checkpoint aside and try the previous one; any other
error (out of memory, a bug, a device or sharding error, an interrupted read) is raised with the
checkpoint's path and nothing moves. A workdir whose checkpoints all fail to read is an error,
never a fresh start.
"""
from __future__ import annotations

import functools
import json
import logging
import shutil
import sys
import warnings
from pathlib import Path

import jax
import numpy as np
from jax.experimental import multihost_utils

from jaxgen.utils import block_stacks
from jaxgen.utils.trees import path_name

# tensorstore reports unreadable bytes as these status codes (seen for missing, truncated,
# emptied and garbled files under orbax 0.12.8, tests/train/test_checkpoint.py).
UNREADABLE_STATUS = ("NOT_FOUND:", "DATA_LOSS:", "OUT_OF_RANGE:")
UNREADABLE_TYPES = (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError, EOFError)
# Never corruption, whatever else the chain says: memory, cancellation, a transient back-end.
TRANSIENT_STATUS = ("RESOURCE_EXHAUSTED", "CANCELLED", "UNAVAILABLE", "DEADLINE_EXCEEDED",
                    "ABORTED")


class CheckpointError(RuntimeError):
    """A workdir's checkpoints cannot be restored; nothing was moved or overwritten."""


class StateMismatchError(ValueError):
    """A readable checkpoint holds another state structure than the config builds."""


def _chain(error: BaseException):
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


def is_unreadable(error: BaseException) -> bool:
    """True when `error` (raised reading a checkpoint) means its files are missing, truncated or
    undecodable; False for anything that could succeed on another try or another machine."""
    chain = _chain(error)
    if any(isinstance(e, MemoryError) or any(s in str(e) for s in TRANSIENT_STATUS)
           for e in chain):
        return False
    for e in chain:
        if isinstance(e, UNREADABLE_TYPES):
            return True
        if isinstance(e, ValueError) and str(e).startswith(UNREADABLE_STATUS):
            return True
        if isinstance(e, KeyError) and ("not found in the checkpoint" in str(e)
                                        or "Unknown key" in str(e)):
            return True  # an item folder ("state", "meta") is missing
    return False


def _ocp():
    """orbax.checkpoint, imported on first use: a fresh run needs it only for its first save,
    after step 1 (the import is ~0.2 CPU-s of start-up)."""
    import orbax.checkpoint as ocp
    return ocp


def write_small_arrays_whole(min_slice_bytes: int = 2**20) -> None:
    """orbax 0.12.8's default jax.Array handler (min_slice_bytes_for_replica_parallel=None)
    splits the write of a replicated array across its replicas by slicing every shard on
    device: one small XLA compile per distinct shape, ~10 s at the first save of a 580-leaf
    state on 8 CPU devices. Arrays whose slices would be under `min_slice_bytes` are written
    whole by one replica instead. The replacement keeps the default handler's metadata store;
    tests/train/test_checkpoint.py fails if orbax's default changes, so this can go then."""
    ocp = _ocp()
    default = ocp.type_handlers.get_type_handler(jax.Array)
    if getattr(default, "_min_slice_bytes_for_replica_parallel", None) == min_slice_bytes:
        return
    absl_logger = logging.getLogger("absl")  # silences orbax's "overriding jax.Array" warning
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        ocp.type_handlers.register_type_handler(jax.Array, ocp.type_handlers.ArrayHandler(
            array_metadata_store=default._array_metadata_store,
            min_slice_bytes_for_replica_parallel=min_slice_bytes), override=True)
    finally:
        absl_logger.setLevel(level)


def quiet_abandoned_reads() -> None:
    """When one array of a checkpoint fails to read, orbax abandons the other reads, and Python
    later prints each abandoned coroutine's error with a traceback ("Exception ignored in ...
    _read_array_index_and_device_put"), pages that bury the one-line error the user needs.
    The entry scripts drop those (the failure itself is raised and reported)."""
    previous = sys.unraisablehook

    def hook(unraisable):
        if "_read_array_index_and_device_put" not in repr(unraisable.object):
            previous(unraisable)
    sys.unraisablehook = hook


class Checkpointer:
    """Wraps `ocp.CheckpointManager` over `directory` (step-numbered subfolders).

    quarantine: whether `restore_latest` may move an unreadable checkpoint to
    `<dir>_corrupt/<step>` (the trainer); readers such as sample.py pass False and only skip it.
    """

    def __init__(self, directory, *, max_to_keep: int = 3, quarantine: bool = True):
        self.directory = Path(directory).resolve()
        self.quarantine = quarantine
        self.max_to_keep = max_to_keep

    @functools.cached_property
    def manager(self):
        """The orbax manager, made on first use (creating `directory` when `quarantine`)."""
        write_small_arrays_whole()
        ocp = _ocp()
        return ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=self.max_to_keep,
                                                 create=self.quarantine),
            item_handlers=dict(state=ocp.PyTreeCheckpointHandler(),
                               meta=ocp.JsonCheckpointHandler()))

    def save(self, step: int, state, meta: dict) -> None:
        """Starts an async save of `state` at `step` (returns before the write ends)."""
        ocp = _ocp()
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.PyTreeSave(state), meta=ocp.args.JsonSave(meta)), force=True)

    def steps(self) -> list[int]:
        """The saved steps, oldest first; a missing or empty folder has none (no orbax needed)."""
        if not self.directory.is_dir() or not any(self.directory.iterdir()):
            return []
        return sorted(self.manager.all_steps())

    def restore(self, step: int, abstract_state, *, only=None):
        """Restores `step` into the structure, dtypes and shardings of `abstract_state`, whatever
        mesh wrote it; leaves without a sharding (plain `jax.eval_shape`) land on one device.
        A stored structure that differs from `abstract_state` is a StateMismatchError.
        only: top-level state keys to read (e.g. the parameters for sampling); the rest, such
        as optimiser moments, is not read at all."""
        if only is not None:
            abstract_state = {k: v for k, v in abstract_state.items() if k in only}
        stored = self.manager.item_metadata(step)["state"]
        stored = getattr(stored, "tree", stored)
        if only is not None:
            stored = {k: v for k, v in stored.items() if k in only}
        converted = block_stacks.sources(_shapes(abstract_state), _shapes(stored))
        if converted is not None:
            return self._restore_restacked(step, stored, abstract_state, converted)
        self._check_fits(step, stored, abstract_state)
        target = _with_shardings(abstract_state)
        ocp = _ocp()
        out = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.PyTreeRestore(
                item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target),
                partial_restore=only is not None),
            meta=ocp.args.JsonRestore()))
        return out["state"], out["meta"]

    def _restore_restacked(self, step: int, stored, abstract_state, sources: dict):
        """A checkpoint written with the other `model.scan_blocks`: read as stored (on one
        device), block leaves stacked or split (utils/block_stacks.py), then placed in
        `abstract_state`'s shardings."""
        target = _with_shardings(jax.tree.map(
            lambda m: jax.ShapeDtypeStruct(tuple(m.shape), m.dtype), stored))
        ocp = _ocp()
        out = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.PyTreeRestore(
                item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target),
                partial_restore=True),
            meta=ocp.args.JsonRestore()))
        arrays = {path_name(p): np.asarray(x)
                  for p, x in jax.tree_util.tree_flatten_with_path(out["state"])[0]}
        paths, treedef = jax.tree_util.tree_flatten_with_path(abstract_state)
        leaves = [_placed(block_stacks.assemble(sources[path_name(p)], arrays), a)
                  for p, a in paths]
        return jax.tree_util.tree_unflatten(treedef, leaves), out["meta"]

    def restore_latest(self, abstract_state, *, only=None):
        """Returns (state, meta) of the newest checkpoint that reads back; None when there are
        no checkpoints at all.

        Unreadable ones (`is_unreadable`) newer than it are skipped with a warning and, when
        `quarantine`, moved aside once an older one has been restored. Any other error is
        raised with the checkpoint's path. If checkpoints exist and none reads back, raises
        CheckpointError listing them; nothing is moved then, so a rerun fails the same way
        instead of starting over.
        """
        unreadable = []
        for step in reversed(self.steps()):
            try:
                restored = self.restore(step, abstract_state, only=only)
            except Exception as e:  # noqa: BLE001 - classified just below
                if not is_unreadable(e):
                    e.add_note(f"while reading checkpoint {self.directory / str(step)} "
                               f"(not a sign of corrupt files: nothing was moved)")
                    raise
                unreadable.append((step, e))
                continue
            for bad, error in unreadable:
                self._set_aside(bad, error)
            return restored
        if unreadable:
            lines = [f"{self.directory / str(step)}: {type(e).__name__}: "
                     f"{str(e).splitlines()[0][:200]}" for step, e in unreadable]
            raise CheckpointError(
                f"none of the {len(lines)} checkpoints in {self.directory} can be read, so the "
                f"run cannot resume (nothing was moved, restarted or overwritten):\n  "
                + "\n  ".join(lines) + "\nRestore them from a backup, or use a new --workdir.")
        return None

    def _check_fits(self, step: int, stored, abstract_state) -> None:
        want, have = _shapes(abstract_state), _shapes(stored)
        if want == have:
            return
        diff = sorted(set(want.items()) ^ set(have.items()))[:4]
        raise StateMismatchError(
            f"checkpoint {self.directory / str(step)} does not fit the state this config "
            f"builds (first differences, (path, shape): {diff}). Was the model or optimiser "
            f"config changed since it was written? Resume with the workdir's own config.json "
            f"(omit --config) or use a new --workdir.")

    def _set_aside(self, step: int, error: Exception) -> None:
        source = self.directory / str(step)
        target = _free_path(self.directory.parent / f"{self.directory.name}_corrupt" / str(step))
        action = f"moved it to {target}" if self.quarantine else "left it in place"
        warnings.warn(f"checkpoint {source} could not be read ({type(error).__name__}: "
                      f"{str(error)[:300]}); {action} and resumed from an older checkpoint",
                      stacklevel=3)
        if self.quarantine:
            if jax.process_index() == 0:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(source), str(target))
            if jax.process_count() > 1:  # every process sees the move before it reloads
                multihost_utils.sync_global_devices(f"jaxgen_set_aside_{step}")
            self.manager.reload()

    def wait(self) -> None:
        if "manager" in self.__dict__:  # else nothing was saved
            self.manager.wait_until_finished()

    def close(self) -> None:
        if "manager" in self.__dict__:
            self.manager.wait_until_finished()
            self.manager.close()


def _free_path(path: Path) -> Path:
    """`path`, or `path.1`, `path.2`, ... if it is taken (the same step set aside twice)."""
    candidate, i = path, 0
    while candidate.exists():
        i += 1
        candidate = path.with_name(f"{path.name}.{i}")
    return candidate


def _with_shardings(abstract_state):
    """Without a target sharding orbax would reuse the writer's, which names devices this
    process may not have (a checkpoint saved on 8 devices, read on 1)."""
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree.map(lambda a: a if getattr(a, "sharding", None) is not None else
                        jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), abstract_state)


def _placed(x: np.ndarray, abstract):
    """The host array `x` (the same on every process) as a jax.Array in `abstract`'s sharding."""
    sharding = getattr(abstract, "sharding", None) or jax.sharding.SingleDeviceSharding(
        jax.local_devices()[0])
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def _shapes(tree) -> dict:
    """{path: shape} with dict keys, sequence indices and namedtuple fields alike."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {path_name(path): tuple(leaf.shape) for path, leaf in leaves}
