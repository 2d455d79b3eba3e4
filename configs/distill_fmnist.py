"""Progressive distillation (Salimans & Ho 2022) of a DDPM Fashion-MNIST teacher to 4 steps.

The student has its teacher's architecture, data and noise schedule: variant V here distils a
teacher trained with `configs/ddpm_fmnist.py:V` (eps- or v-prediction), and copies that
variant's model / data / diffusion sections (the family checks they equal the teacher's
config.json), so the student's workdir alone rebuilds it for `sample.py` / `jaxgen.load`.
It samples with DDIM on the nested "trailing_exact" grid it was trained on.

  python train.py --config=configs/ddpm_fmnist.py:demo --config.diffusion.prediction=v \
      --workdir=runs/ddpm_v
  python train.py --config=configs/distill_fmnist.py:demo --config.distill.teacher=runs/ddpm_v \
      --workdir=runs/distill
  python sample.py --workdir=runs/distill --out=distill.png           # 4 DDIM steps

Variants (`--config=configs/distill_fmnist.py:VARIANT`):
  (none)  64 -> 4 steps, 5 rounds of 4000 steps, for a ddpm_fmnist.py teacher
  demo    64 -> 4 steps, 5 rounds of 200 steps, for a ddpm_fmnist.py:demo teacher
          (~1.4 s per step on 2 CPU cores busy with other jobs: 1000 steps in ~23 min)
  smoke   8 -> 2 steps, 3 rounds of 3 steps; used by the tests
"""
from pathlib import Path

from jaxgen.config import base_config, load_config

TEACHER_SECTIONS = ("model", "data", "diffusion")


def teacher_sections(arg):
    """The model / data / diffusion sections of the matching ddpm_fmnist variant."""
    spec = str(Path(__file__).with_name("ddpm_fmnist.py")) + (f":{arg}" if arg else "")
    teacher = load_config(spec)
    return {k: teacher[k].to_dict() for k in TEACHER_SECTIONS}


def rounds(start_steps: int, final_steps: int) -> int:
    return (start_steps // final_steps).bit_length()   # 64 -> 4: 64 32 16 8 4, 5 rounds


def get_config(arg=None):
    if arg not in (None, "demo", "smoke"):
        raise ValueError(f"unknown variant {arg!r} of distill_fmnist; choose demo, smoke or none")
    c = base_config()
    c.family = "distill"
    for name, section in teacher_sections(arg).items():
        c[name] = section
    c.diffusion.prediction = "v"   # the student's; the teacher may predict eps
    c.distill = dict(teacher="", start_steps=64, final_steps=4, steps_per_round=4000,
                     clip_x0=True)
    c.optim.update(lr=1e-4, warmup_steps=100, decay="cosine", ema_decay=0.0)  # per round
    c.train.update(batch_size=128, log_every=100, checkpoint_every=2000, sample_every=0)
    if arg == "demo":
        c.distill.steps_per_round = 200
        c.optim.update(lr=2e-4, warmup_steps=20)
        c.train.update(batch_size=64, log_every=50, checkpoint_every=200)
    elif arg == "smoke":
        c.distill.update(start_steps=8, final_steps=2, steps_per_round=3)
        c.optim.update(lr=1e-3, warmup_steps=1)
        c.train.update(batch_size=8, log_every=1, checkpoint_every=3, num_samples=4)
    d = c.distill
    c.train.steps = rounds(d.start_steps, d.final_steps) * d.steps_per_round
    c.sample = dict(sampler="ddim", steps=d.final_steps, eta=0.0, spacing="trailing_exact")
    return c
