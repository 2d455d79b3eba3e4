"""The teacher of progressive distillation: a trained diffusion workdir, read for inference, and
the checks that the student's config describes the same model, data and noise schedule."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from jaxgen import config as config_lib
from jaxgen import sampling
from jaxgen.families.base import sampling_params

TRAIN_HINT = ("train one first, e.g. python train.py --config=configs/ddpm_fmnist.py:demo "
              "--config.diffusion.prediction=v --workdir=runs/ddpm_v")


def teacher_workdir(path: str) -> tuple[Path, str | None]:
    """(workdir, checkpoint folder or None) of `distill.teacher`: a workdir (its newest
    checkpoint) or WORKDIR/checkpoints/STEP. A path that is no diffusion workdir is an error."""
    if not path:
        raise ValueError(f"config.distill.teacher is empty; pass --config.distill.teacher="
                         f"WORKDIR of a trained diffusion model ({TRAIN_HINT})")
    p = Path(path)
    is_ckpt = p.name.isdigit() and p.parent.name == "checkpoints"
    workdir = p.parent.parent if is_ckpt else p
    if not (workdir / "config.json").is_file():
        raise ValueError(f"config.distill.teacher={path!r} is not a jaxgen workdir (no "
                         f"{workdir / 'config.json'}); point it at a diffusion workdir or "
                         f"{TRAIN_HINT}")
    family = config_lib.load_workdir_config(workdir).family
    if family != "diffusion":
        raise ValueError(f"config.distill.teacher={path!r} is a {family!r} workdir; progressive "
                         f"distillation needs a diffusion teacher (family 'diffusion'): "
                         f"{TRAIN_HINT}")
    return workdir, (str(p) if is_ckpt else None)


def load_teacher(path: str):
    """(teacher config, teacher parameters: its EMA if it keeps one, workdir), read for
    inference only (no optimiser moments)."""
    workdir, checkpoint = teacher_workdir(path)
    args = (None, checkpoint) if checkpoint else (workdir, None)
    config, _, state, _, _ = sampling.load(*args, inference=True)
    if config.model.num_classes:
        raise ValueError(f"config.distill.teacher={path!r} is class-conditional "
                         f"(model.num_classes={config.model.num_classes}); distillation here "
                         f"takes an unconditional teacher (model.num_classes=0)")
    return config, sampling_params(state), workdir


SCHEDULE_KEYS = ("schedule", "num_steps", "beta_start", "beta_end")


def differences(student, teacher, where: str, keys=None, ignore=()) -> list[str]:
    """`--config.WHERE.KEY=TEACHER_VALUE (is STUDENT_VALUE)` for each key that differs
    (`keys`: those compared, None: all but `ignore`)."""
    s, t = _plain(student), _plain(teacher)
    keys = sorted((set(s) | set(t)) - set(ignore)) if keys is None else keys
    return [f"--config.{where}.{k}={t.get(k)} (is {s.get(k)})" for k in keys
            if s.get(k) != t.get(k)]


def _plain(section) -> dict:
    """A config section (ConfigDict or dataclass) as a plain dict, lists as tuples."""
    if dataclasses.is_dataclass(section):
        d = dataclasses.asdict(section)
    else:
        d = section if isinstance(section, dict) else section.to_dict()
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def check_same_model(student_parts: dict, teacher_parts: dict, path: str) -> None:
    """student_parts / teacher_parts: {"model": UNetConfig, "data": section, "diffusion":
    section}; model and data must be equal, the diffusion schedule too (not the prediction);
    the compute dtype may differ (a bf16 student of a float32 teacher, or sampled in bf16)."""
    diffs = (differences(student_parts["model"], teacher_parts["model"], "model",
                         ignore=("dtype",))
             + differences(student_parts["data"], teacher_parts["data"], "data")
             + differences(student_parts["diffusion"], teacher_parts["diffusion"], "diffusion",
                           SCHEDULE_KEYS))
    if diffs:
        raise ValueError(f"the student's config differs from the teacher's ({path}/config.json)"
                         f": the student has the teacher's architecture, data and schedule; pass "
                         f"{' '.join(diffs)}, or use the distill_fmnist variant that matches the "
                         f"teacher's ddpm_fmnist variant")
