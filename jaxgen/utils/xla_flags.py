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
"""
from __future__ import annotations

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


def configure(environ=os.environ) -> str:
    """Adds jaxgen's flags to environ["XLA_FLAGS"], keeping any the user set; returns it."""
    current = environ.get("XLA_FLAGS", "").split()
    names = {f.split("=")[0] for f in current}
    added = [f"{name}={value}" for name, value in wanted_flags(environ) if name not in names]
    environ["XLA_FLAGS"] = " ".join(current + added)
    return environ["XLA_FLAGS"]
