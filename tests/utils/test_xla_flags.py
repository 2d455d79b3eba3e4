"""jaxgen's XLA flags: added once, the user's own XLA_FLAGS win, and they take effect."""
import subprocess
import sys

from jaxgen.utils import xla_flags

from tests.conftest import ROOT, script_env


def test_configure_adds_cpu_and_gpu_flags_keeping_the_users():
    env = {"XLA_FLAGS": "--xla_cpu_experimental_xnn_fusion_type=dot --foo=1"}
    flags = xla_flags.configure(env).split()
    assert "--xla_cpu_experimental_xnn_fusion_type=dot" in flags      # the user's value wins
    assert "--xla_cpu_experimental_xnn_fusion_type=" not in flags
    assert "--xla_cpu_experimental_ynn_fusion_type=" in flags
    assert "--xla_gpu_deterministic_ops=true" in flags and "--foo=1" in flags
    assert xla_flags.configure(env).split() == flags                   # idempotent


def test_switches_leave_flags_out():
    env = {"JAXGEN_CPU_FLAGS": "0", "JAXGEN_DETERMINISTIC": "0"}
    assert xla_flags.configure(env) == ""


PROBE = """
from jaxgen.utils import xla_flags
xla_flags.configure()
import jax, jax.numpy as jnp
f = jax.jit(lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC")).sum())
x, w = jnp.ones((8, 14, 14, 32)), jnp.ones((3, 3, 32, 32))
print(jax.jit(jax.grad(f, 1)).lower(x, w).compile().as_text())
"""


def test_cpu_flags_take_effect_in_the_compiled_program():
    """With the flags, no convolution is handed to YNNPACK / XNNPACK; without them (the
    control) this jax version does hand this one over."""
    def compiled(env):
        return subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout
    ours = compiled(script_env())
    assert "convolution" in ours and "ynn_fusion" not in ours and "xnn_fusion" not in ours
    assert "ynn_fusion" in compiled(dict(script_env(), JAXGEN_CPU_FLAGS="0"))


FAULTS = """
import resource
from jaxgen.utils import xla_flags
xla_flags.configure()
import jax, jax.numpy as jnp
f = jax.jit(lambda x: jnp.sort(jnp.sin(x) * 2.0, axis=0)[::2] @ jnp.cos(x))  # ~64 MB of temps
x = jnp.ones((2048, 2048))
faults = []
for _ in range(12):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    f(x).block_until_ready()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(min(faults[4:]))  # once the heap has its steady layout (a few runs, timing-dependent)
"""


def test_malloc_keeps_the_step_buffers():
    """With configure()'s malloc settings reruns of a program with ~64 MB of temporaries
    page-fault almost nothing; with glibc's defaults (the control) every run faults them in."""
    def faults(env):
        return float(subprocess.run([sys.executable, "-c", FAULTS], env=env, cwd=ROOT, check=True,
                                    capture_output=True, text=True).stdout)
    ours, control = faults(script_env()), faults(dict(script_env(), JAXGEN_MALLOC="0"))
    assert control > 8000, control          # 4 KiB pages: > 32 MB faulted in per run
    assert ours < control / 20, (ours, control)
