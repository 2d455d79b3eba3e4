"""Pruning a trained Fashion-MNIST model, fine-tuned on the shared loop (jaxgen/quant/prune.py).

Variants (`--config=configs/prune_fmnist.py:VARIANT`):
  demo_v     (also the default, and `demo`) global magnitude pruning of the v-prediction demo U-Net (runs/demo_v, trained with
             configs/ddpm_fmnist.py:demo_v) to 50% zeros on Zhu & Gupta's cubic schedule over
             150 steps, then 50 steps at the final sparsity:
             python train.py --config=configs/prune_fmnist.py:demo_v --workdir=runs/prune_v50
             other sparsities: --config.prune.sparsity=0.75 (README "Pruning")
  unet_c50   structured: runs/demo_v's U-Net with half the inner channels of every ResBlock
             (conv1's filters by L1 norm, Li et al. 2017), fine-tuned 500 steps from its EMA:
             python train.py --config=configs/prune_fmnist.py:unet_c50 --workdir=runs/unet_c50
             other fractions: --config.prune.channels=0.25 / 0.75; the unpruned control,
             fine-tuned the same way: --config.prune.channels=0. Reached FD (200, DDIM 10)
             264.3 vs the control's 245.0 (+7.9%; 0.75: +19.5%) with 0.61x the parameters
             and 1.5x fewer FLOPs per call (README "Pruning")
  dcgan      structured: the DCGAN generator (runs/dcgan_fmnist, configs/dcgan_fmnist.py, 5,000
             steps) rebuilt with half its channels (L1 norm of the filters), fine-tuned 500 steps
             (D, G's EMA and BN statistics warm-started too; fresh Adam, EMA decay 0.99):
             python train.py --config=configs/prune_fmnist.py:dcgan --workdir=runs/dcgan_c50
             other fractions: --config.prune.channels=0.25 / 0.75; the control:
             --config.prune.channels=0; unstructured (G's kernels only, D stays dense):
             --config.prune.channels=0 --config.prune.sparsity=0.5 --config.prune.end_step=300
             (cubic schedule, masks every 10 steps, then 200 steps at the final sparsity).
             FD (2,000) vs the control's 49.5: channels 0.25 +10%, 0.5 +57%; sparsity 0.6 +8%,
             0.75 +18% (README "Pruning")
  smoke      seconds; used by the tests (starts from the seed's initialisation)
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dcgan_fmnist  # noqa: E402
import ddpm_fmnist  # noqa: E402


def get_config(arg=None):
    arg = "demo_v" if arg in (None, "demo") else arg
    if arg in ("demo_v", "unet_c50", "smoke"):
        c = ddpm_fmnist.get_config("smoke" if arg == "smoke" else "demo_v")
    elif arg == "dcgan":
        c = dcgan_fmnist.get_config(None)
    else:
        raise ValueError(f"unknown variant {arg!r} of prune_fmnist; choose demo_v, unet_c50, "
                         f"dcgan or smoke")
    if arg == "demo_v":
        c.prune.update(init_from="runs/demo_v", sparsity=0.5, start_step=0, end_step=70,
                       every=5)
        c.optim.update(lr=2e-4, warmup_steps=5, decay="constant")
        c.optim.ema_decay = 0.95
        c.train.update(steps=100, batch_size=32, log_every=25, checkpoint_every=50)
    elif arg == "unet_c50":
        c.prune.update(init_from="runs/demo_v", channels=0.5)
        c.optim.update(lr=2e-4, warmup_steps=5, decay="constant", ema_decay=0.99)
        c.train.update(steps=500, batch_size=32, log_every=50, checkpoint_every=250)
    elif arg == "dcgan":
        c.prune.update(init_from="runs/dcgan_fmnist", channels=0.5)
        c.optim.ema_decay = 0.99
        c.train.update(steps=500, log_every=50, checkpoint_every=250, sample_every=0)
    else:
        c.prune.update(sparsity=0.5, start_step=0, end_step=6, every=2)
    return c
