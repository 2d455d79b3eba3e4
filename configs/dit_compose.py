"""Text-to-image DiT on fashion_compose, as configs/t2i_compose.py's DiT variants but with the
blocks as one stacked nn.scan (model.scan_blocks=True), so the stack can be split into pipeline
stages (config.parallel.pipeline; README "Training on many devices").

Variants (`--config=configs/dit_compose.py:VARIANT`):
  (none)  t2i_compose.py:dit  (DiT-S/2-like, depth 8), sized for an accelerator
  demo    t2i_compose.py:dit_demo  (patch 4, width 128, depth 4)
  smoke   t2i_compose.py:dit_smoke with depth 4 (so 1, 2 or 4 stages fit); seconds, for tests

  python train.py --config=configs/dit_compose.py --workdir=runs/dit_t2i \\
      --config.parallel.pipeline.stages=4 --config.parallel.pipeline.microbatches=8
  XLA_FLAGS=--xla_force_host_platform_device_count=4 python train.py \\
      --config=configs/dit_compose.py:smoke --workdir=/tmp/pipe --config.parallel.pipeline.stages=4
"""
from pathlib import Path

from jaxgen.config import load_config

VARIANTS = {None: ("dit", {}), "demo": ("dit_demo", {}), "smoke": ("dit_smoke", dict(depth=4))}


def get_config(arg=None):
    if arg not in VARIANTS:
        raise ValueError(f"unknown variant {arg!r} of dit_compose; choose demo, smoke or none")
    variant, changes = VARIANTS[arg]
    c = load_config(f"{Path(__file__).with_name('t2i_compose.py')}:{variant}")
    c.unlock()
    c.model.update(scan_blocks=True, **changes)
    return c
