"""The one training loop: every family, every parallel mode, exact resume."""
from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path

import jax

from jaxgen import config as config_lib
from jaxgen import data as data_lib
from jaxgen import families
from jaxgen.families.base import count_params, init_fn, step_fn
from jaxgen.parallel import Layout, multihost
from jaxgen.train import logging as log_lib
from jaxgen.checkpoint import Checkpointer, StateMismatchError
from jaxgen.utils import compile_cache
from jaxgen.utils.images import save_grid


def abstract(x: jax.Array) -> jax.ShapeDtypeStruct:
    """The shape, dtype and sharding of `x`, without its values."""
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)


def init_or_restore(layout: Layout, checkpointer: Checkpointer, console, warm_start=None,
                    while_init=lambda: None):
    """Restores the newest readable checkpoint onto this run's mesh (whatever mesh wrote it),
    or initialises from `config.seed` (then `warm_start`, the family's, if it has one), calling
    `while_init` once the init is lowered, before it compiles (`make_state`); either way the
    state is born sharded."""
    restored = checkpointer.restore_latest(layout.abstract_state)
    if restored is None:
        state = layout.init_state(while_compiling=while_init)
        return warm_start(state) if warm_start else state
    state, meta = restored
    console.print(f"resumed from step {meta['step']:,} ({meta['images_seen']:,} images seen)")
    return state


class WorkdirError(OSError):
    """The workdir cannot be created or written."""


class SetupError(ValueError):
    """The config cannot build a run (a bad value, a teacher that is no diffusion workdir, a
    dataset that does not fit the model); raised before any step, nothing written."""


@contextlib.contextmanager
def stop_on_signals():
    """SIGTERM / SIGINT set a flag the loop checks after each step (it then saves and exits)."""
    caught = []
    handler = lambda signum, frame: caught.append(signum)  # noqa: E731
    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield caught
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def agreed_signal(caught: list, done: int, every: int) -> int:
    """The signal every process stops for after step `done` (0: none). With several processes
    the flag is agreed through a collective every `every` steps, so they all stop at the same
    step and save one checkpoint together; one process alone reads its own flag every step."""
    mine = int(caught[0]) if caught else 0
    if jax.process_count() == 1:
        return mine
    return multihost.agree_max(mine) if done % every == 0 else 0


class Loop:
    """Holds what the loop needs between steps; `run` below is the entry point."""

    def __init__(self, config, workdir, console):
        self.config, self.workdir, self.console = config, Path(workdir), console
        self.dataset = data_lib.load_dataset(config.data, split="train")
        self.family = families.build(config, self.dataset)
        self.checkpointer = Checkpointer(self.workdir / "checkpoints",
                                         max_to_keep=config.train.keep_checkpoints)
        self.layout = Layout(config, init_fn(self.family, config.seed),
                             param_groups=self.family.param_groups,
                             tensor_rules=self.family.tensor_rules)
        self.train_step = self.layout.compile(lambda axis_name: step_fn(self.family, axis_name))
        self.compiling = None
        self.state = init_or_restore(self.layout, self.checkpointer, console,
                                     self.family.warm_start, while_init=self.compile_ahead)
        self.start = int(jax.device_get(self.state["step"]))
        if self.compiling is not None:
            self.compiling.join()
        self.writer = (log_lib.MetricsWriter(self.workdir / "metrics.jsonl", resume_step=self.start)
                       if multihost.is_main() else multihost.NullWriter())
        self.last_log = (self.start, time.perf_counter())
        self.last_good = self.start

    def compile_ahead(self) -> None:
        """Starts compiling the train step on a thread (joined before step 1): a fresh run
        compiles it while its state is initialised, which mostly waits in XLA too."""
        self.compiling = compile_cache.compile_ahead(
            self.train_step, self.layout.abstract_state, jax.tree.map(abstract, self.batch(0)))

    def batch(self, step: int):
        """Global batch `step`: this process reads only its rows, then they become global arrays."""
        index, count = self.layout.process_rows
        local = data_lib.batch_at(self.dataset, step, batch_size=self.config.train.batch_size,
                                  seed=self.config.seed, process_index=index, process_count=count)
        return self.layout.global_batch(local)

    def check(self, done: int, metrics) -> dict:
        """Reads metrics to host; a NaN/inf stops the run, keeping the last good checkpoint."""
        host = {k: float(v) for k, v in jax.device_get(metrics).items()}
        bad = sorted(log_lib.non_finite(host), key=lambda k: k != "loss")
        if bad:
            self.checkpointer.wait()
            raise FloatingPointError(
                f"non-finite {', '.join(f'{k}={host[k]}' for k in bad)} between step "
                f"{self.last_good} and step {done}; the checkpoints in "
                f"{self.checkpointer.directory} (latest step {max(self.checkpointer.steps(), default=0)}) "
                f"are from before it. Lower optim.lr or set optim.grad_clip, then rerun to resume.")
        self.last_good = done
        return host

    def log(self, done: int, host: dict) -> dict:
        s0, t0 = self.last_log
        now = time.perf_counter()
        bs = self.config.train.batch_size
        row = dict(step=done, images_seen=done * bs, **host,
                   images_per_s=(done - s0) * bs / max(now - t0, 1e-9))
        self.writer.write(row)
        self.last_log = (done, now)
        return row

    def save(self, done: int) -> None:
        meta = dict(step=done, images_seen=done * self.config.train.batch_size)
        self.checkpointer.save(done, self.state, meta)

    def evaluate(self, done: int) -> None:
        """Held-out metrics (sample quality, bits/dim) every `eval.every` steps, logged as a row
        {"step", "images_seen", "eval/<name>": value}."""
        from jaxgen.metrics.training import evaluate  # the metrics package is optional here
        results = evaluate(self.family, self.state, self.config, step=done)
        row = dict(step=done, images_seen=done * self.config.train.batch_size,
                   **{f"eval/{k}": v for k, v in results.items()})
        self.writer.write(row)
        self.console.print(log_lib.format_metrics(done, row))

    def sample_grid(self, done: int) -> None:
        """`train.num_samples` samples as samples/step_<done>.png (0: none)."""
        if self.family.generate is None or self.config.train.num_samples == 0:  # or no images
            return
        rng = jax.random.fold_in(jax.random.PRNGKey(self.config.seed + 1), done)
        images = self.family.generate(self.state, rng=rng, num=self.config.train.num_samples)
        images = multihost.to_host(images)  # every process takes part; process 0 writes
        if multihost.is_main():
            save_grid(self.workdir / "samples" / f"step_{done:08d}.png", images, scale=2)


def _every(done: int, n: int) -> bool:
    return n > 0 and done % n == 0


def train(loop: Loop, *, stop_after: int | None = None) -> str:
    """Runs steps until `train.steps`, `stop_after`, or a signal; returns why it stopped."""
    t, total = loop.config.train, loop.config.train.steps
    progress = log_lib.make_progress(loop.console)
    with stop_on_signals() as caught, progress:
        task = progress.add_task("train", total=total, completed=loop.start, info="")
        for step in range(loop.start, total):
            loop.state, metrics = loop.train_step(loop.state, loop.batch(step))
            done = step + 1
            signum = agreed_signal(caught, done, t.stop_check_every)
            stopping = bool(signum) or done == stop_after or done == total
            is_log = _every(done, t.log_every) or done == total
            if is_log or _every(done, t.checkpoint_every) or stopping:
                host = loop.check(done, metrics)
                if is_log:
                    row = loop.log(done, host)
                    progress.update(task, info=log_lib.format_metrics(done, row))
                    if not loop.console.is_terminal:
                        loop.console.print(log_lib.format_metrics(done, row))
            if _every(done, t.checkpoint_every) or stopping:
                loop.save(done)
            if _every(done, t.sample_every):
                loop.sample_grid(done)
            if _every(done, loop.config.eval.every):
                loop.evaluate(done)
            progress.update(task, completed=done)
            if stopping:
                return signal.Signals(signum).name if signum else (
                    "finished" if done == total else "stop_after")
    return "finished"


def prepare_workdir(workdir) -> Path:
    """Creates `workdir` and checks it is writable (a clear error, before any work starts)."""
    workdir = Path(workdir)
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        probe = workdir / f".write_test.{jax.process_index()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise WorkdirError(f"--workdir={workdir} cannot be written ({type(e).__name__}: "
                           f"{e.strerror or e}); choose a writable folder") from None
    return workdir


def save_config(config, workdir: Path) -> None:
    """config.json, written once the state fits it (a resume with a changed model config fails
    first, so the workdir keeps the config its checkpoints were trained with)."""
    if multihost.is_main():
        tmp = workdir / "config.json.tmp"
        tmp.write_text(config_lib.to_json(config))
        tmp.replace(workdir / "config.json")


def run(config, workdir, *, stop_after: int | None = None, console=None) -> Loop:
    """Trains `config` in `workdir` (resuming if it holds checkpoints); returns the Loop."""
    console = multihost.main_console(console or log_lib.default_console())
    workdir = prepare_workdir(workdir)
    try:
        loop = Loop(config, workdir, console)
    except StateMismatchError:
        raise
    except ValueError as e:  # the config's values: one line for train.py, nothing written
        raise SetupError(str(e)) from e
    save_config(config, workdir)
    log_lib.print_param_counts(console, {name: count_params(p) for name, p
                                         in loop.family.param_groups(loop.state).items()})
    if loop.layout.plan is not None:
        console.print(loop.layout.plan.describe())
    try:
        reason = train(loop, stop_after=stop_after)
    finally:
        loop.checkpointer.close()
    final_step = int(jax.device_get(loop.state["step"]))
    if reason == "finished":
        loop.sample_grid(final_step)
    console.print(f"{reason} at step {final_step:,}; workdir {workdir}")
    if reason in ("SIGTERM", "SIGINT"):
        raise SystemExit(128 + signal.Signals[reason].value)
    return loop
