"""XLA's persistent compilation cache: a second run of the same program skips compiling."""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import jax

DEFAULT_DIR = Path.home() / ".cache" / "jaxgen" / "xla"


def enable(directory: str | os.PathLike | None = None) -> str | None:
    """Turns the cache on at `directory`, else $JAXGEN_COMPILE_CACHE, else ~/.cache/jaxgen/xla.

    Setting JAXGEN_COMPILE_CACHE to an empty string turns it off. Returns the folder used.
    """
    directory = directory or os.environ.get("JAXGEN_COMPILE_CACHE", str(DEFAULT_DIR))
    if not directory:
        return None
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return str(directory)


def compile_ahead(jitted, *args) -> threading.Thread:
    """Starts tracing, lowering and compiling `jitted` for `args` (arrays or
    `jax.ShapeDtypeStruct`s carrying the shardings of the real call) on a thread; join it
    before the first call, which then reuses that executable. XLA compiles (and cache reads)
    release the GIL, so this overlaps with other start-up work such as building the state.
    An error is dropped here: the first call traces again and raises it where it belongs.
    jax's thread-local config contexts (`with jax.numpy_dtype_promotion(...)`) do not reach the
    thread; a call made under one traces and compiles anew (same results, no time saved).
    Not a daemon thread: Python waits for it at exit instead of killing it inside XLA (abort)."""
    def run():
        with contextlib.suppress(Exception):
            jitted.lower(*args).compile()
    thread = threading.Thread(target=run, name="compile_ahead")
    thread.start()
    return thread
