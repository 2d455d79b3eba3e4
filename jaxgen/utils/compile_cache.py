"""XLA's persistent compilation cache: a second run of the same program skips compiling."""
from __future__ import annotations

import os
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
