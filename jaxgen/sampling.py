"""Load a trained state from a workdir or a checkpoint folder, and sample from it."""
from __future__ import annotations

from pathlib import Path

import jax

from jaxgen import config as config_lib
from jaxgen import data as data_lib
from jaxgen import families
from jaxgen.checkpoint import Checkpointer, CheckpointError, is_unreadable
from jaxgen.families.base import init_fn
from jaxgen.quant import store as quant_store


def resolve(workdir=None, checkpoint=None) -> tuple[Path, int | None]:
    """(workdir, step or None for the latest) from --workdir or --checkpoint DIR/checkpoints/STEP."""
    if checkpoint:
        path = Path(checkpoint)
        if not path.name.isdigit() or path.parent.name != "checkpoints":
            raise ValueError(f"--checkpoint={checkpoint}: expected WORKDIR/checkpoints/STEP "
                             f"(a step-numbered folder), e.g. runs/demo/checkpoints/2000")
        return path.parent.parent, int(path.name)
    if not workdir:
        raise ValueError("pass --workdir=DIR (latest checkpoint) or --checkpoint=DIR/checkpoints/STEP")
    return Path(workdir), None


def load(workdir=None, checkpoint=None, *, inference: bool = False, keys=None):
    """Returns (config, family, state, step, dataset) for the requested checkpoint; with
    `inference`, the state holds only what sampling reads (`family.inference_keys`: no
    optimiser moments); else `keys`, the top-level entries to restore (None: all)."""
    workdir, step = resolve(workdir, checkpoint)
    config = config_lib.load_workdir_config(workdir)
    dataset = data_lib.load_dataset(config.data, split="test")
    family = families.build(config, dataset)
    if not (workdir / "checkpoints").is_dir():
        raise FileNotFoundError(f"no checkpoint in {workdir / 'checkpoints'}; "
                                f"train first: python train.py --workdir={workdir} ...")
    # A reader never moves files: an unreadable checkpoint is skipped with a warning.
    ckpt = Checkpointer(workdir / "checkpoints", max_to_keep=config.train.keep_checkpoints,
                        quarantine=False)
    abstract = jax.eval_shape(init_fn(family, config.seed))
    if quant_store.is_quantized_workdir(workdir):  # int8 weights (python -m jaxgen.quant)
        family, abstract = quant_store.open_quantized(family, abstract,
                                                     f"family {config.family!r}", workdir)
    try:
        only = family.inference_keys if inference else keys
        state, meta = _restore(ckpt, step, abstract, only)
    finally:
        ckpt.close()
    return config, family, state, meta["step"], dataset


def _restore(ckpt: Checkpointer, step: int | None, abstract, only=None):
    """(state, meta) of `step`, or of the newest readable checkpoint when `step` is None."""
    if step is None:
        restored = ckpt.restore_latest(abstract, only=only)
        if restored is None:
            raise FileNotFoundError(f"no checkpoint in {ckpt.directory}; train first: "
                                    f"python train.py --workdir={ckpt.directory.parent} ...")
        return restored
    if step not in ckpt.steps():
        raise FileNotFoundError(f"no finished checkpoint for step {step} in {ckpt.directory} "
                                f"(a half-written one is not listed); available steps: "
                                f"{ckpt.steps()}")
    try:
        return ckpt.restore(step, abstract, only=only)
    except Exception as e:  # noqa: BLE001 - only unreadable files become a one-line error
        if not is_unreadable(e):
            raise
        raise CheckpointError(f"checkpoint {ckpt.directory / str(step)} cannot be read "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); pick "
                              f"another of {ckpt.steps()} or use --workdir for the newest "
                              f"readable one") from None


def generate(family, state, *, mode: str, seed: int, num: int, dataset, options: dict):
    """Runs `family.generate` (mode "generate") or one of `family.modes`."""
    rng = jax.random.PRNGKey(seed)
    if mode == "generate":
        if family.generate is None:
            raise ValueError("this workdir's model does not generate images from nothing (a "
                             "text_mlm encoder, or a mask-conditioned inpainting model: use "
                             "--mode=inpaint --image=X.png --mask=left_half); sample from an "
                             "image model's workdir")
        unknown = sorted(set(options) - set(family.sample_options))
        if unknown:
            raise ValueError(f"options {unknown} do not apply to this family; it takes "
                             f"{list(family.sample_options)}")
        return family.generate(state, rng=rng, num=num, **options)
    if mode not in family.modes:
        raise ValueError(f"--mode={mode!r} is not known for this family; choose one of "
                         f"{['generate', *family.modes]}")
    return family.modes[mode](state, rng=rng, num=num, dataset=dataset)
