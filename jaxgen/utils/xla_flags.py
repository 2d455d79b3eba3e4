"""XLA flags jaxgen sets for its runs, in one place. They must be in XLA_FLAGS before JAX starts
its back-ends, so train.py and sample.py call `configure()` first thing; library users who want
the same behaviour call it before their first JAX operation.

GPU determinism: resume is bit-exact only when the back-end computes the same bits on a rerun.
CPU does by construction; on GPUs, scatter-adds, reductions and autotuned convolutions may not,
so `--xla_gpu_deterministic_ops=true` is added (at some speed cost). Set JAXGEN_DETERMINISTIC=0
to leave it out. A flag the user already put in XLA_FLAGS always wins.

CPU speed: XLA:CPU hands fusions around dots and convolutions to YNNPACK and XNNPACK by
default; on the x86 CPUs measured here both are slower for our models' training steps than
XLA's own Eigen-based kernels (the demo U-Net step 590 -> 440 ms, see README "Speed on CPU",
`benchmarks/torch_twin.py`), so both fusion types are emptied. GPU and TPU back-ends ignore
these flags. Set JAXGEN_CPU_FLAGS=0 to leave them out.

Host memory: XLA:CPU allocates each run's temporary buffer (all of a train step's activations,
~115 MB for the demo U-Net) with malloc and frees it after the run. glibc serves an allocation
that large with a fresh mmap, so every step page-faults all of it in again (29k faults and ~70
ms of kernel time per demo step). `configure` therefore has glibc keep freed memory for reuse:
one malloc arena (a thread arena maps anything over 64 MB afresh), no mmap'd chunks, no
trimming. The process keeps its peak heap, which is what the next step needs anyway. Set
JAXGEN_MALLOC=0 to leave glibc's defaults; other C libraries are left alone.
"""
from __future__ import annotations

import ctypes
import os

GPU_DETERMINISTIC = ("--xla_gpu_deterministic_ops", "true")
CPU_KERNELS = (("--xla_cpu_experimental_ynn_fusion_type", ""),
               ("--xla_cpu_experimental_xnn_fusion_type", ""))


def wanted_flags(environ=os.environ) -> list[tuple[str, str]]:
    """The (flag, value) pairs jaxgen adds under this environment."""
    flags = []
    if environ.get("JAXGEN_DETERMINISTIC", "1") != "0":
        flags.append(GPU_DETERMINISTIC)
    if environ.get("JAXGEN_CPU_FLAGS", "1") != "0":
        flags.extend(CPU_KERNELS)
    return flags


# glibc's mallopt parameters (malloc.h) and jaxgen's values: see the module docstring.
MALLOPT = ((-8, 1),              # M_ARENA_MAX
           (-4, 0),              # M_MMAP_MAX
           (-1, 2 ** 31 - 1))    # M_TRIM_THRESHOLD


def configure_malloc(environ=os.environ) -> bool:
    """Has glibc's malloc keep and reuse freed memory (module docstring); True if it was set.
    Takes full effect only before JAX starts its threads: `configure` calls it."""
    if environ.get("JAXGEN_MALLOC", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (glibc only)
    except (OSError, AttributeError):
        return False
    return all(libc.mallopt(param, value) == 1 for param, value in MALLOPT)


def configure(environ=os.environ) -> str:
    """Adds jaxgen's flags to environ["XLA_FLAGS"], keeping any the user set, and sets up malloc
    (`configure_malloc`); returns the flags."""
    configure_malloc(environ)
    current = environ.get("XLA_FLAGS", "").split()
    names = {f.split("=")[0] for f in current}
    added = [f"{name}={value}" for name, value in wanted_flags(environ) if name not in names]
    environ["XLA_FLAGS"] = " ".join(current + added)
    return environ["XLA_FLAGS"]
