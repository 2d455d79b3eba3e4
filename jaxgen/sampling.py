"""Load a trained state from a workdir or a checkpoint folder, and sample from it."""
from __future__ import annotations

from pathlib import Path

import jax

from jaxgen import config as config_lib
from jaxgen import data as data_lib
from jaxgen import families
from jaxgen.train.checkpoint import Checkpointer
from jaxgen.train.loop import init_fn


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


def load_config(workdir: Path):
    path = workdir / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {workdir} is not a jaxgen workdir "
                                f"(train.py writes config.json there)")
    return config_lib.from_json(path.read_text())


def load(workdir=None, checkpoint=None):
    """Returns (config, family, state, step, dataset) for the requested checkpoint."""
    workdir, step = resolve(workdir, checkpoint)
    config = load_config(workdir)
    dataset = data_lib.load_dataset(config.data, split="test")
    family = families.build(config, dataset)
    ckpt = Checkpointer(workdir / "checkpoints", max_to_keep=config.train.keep_checkpoints)
    abstract = jax.eval_shape(init_fn(family, config.seed))
    try:
        if step is None:
            restored = ckpt.restore_latest(abstract)
            if restored is None:
                raise FileNotFoundError(f"no checkpoint in {workdir / 'checkpoints'}; "
                                        f"train first: python train.py --workdir={workdir} ...")
        else:
            if step not in ckpt.steps():
                raise FileNotFoundError(f"no checkpoint for step {step} in {ckpt.directory}; "
                                        f"available steps: {ckpt.steps()}")
            restored = ckpt.restore(step, abstract)
    finally:
        ckpt.close()
    state, meta = restored
    return config, family, state, meta["step"], dataset


def generate(family, state, *, mode: str, seed: int, num: int, dataset, options: dict):
    """Runs `family.generate` (mode "generate") or one of `family.modes`."""
    rng = jax.random.PRNGKey(seed)
    if mode == "generate":
        unknown = sorted(set(options) - set(family.sample_options))
        if unknown:
            raise ValueError(f"options {unknown} do not apply to this family; it takes "
                             f"{list(family.sample_options)}")
        return family.generate(state, rng=rng, num=num, **options)
    if mode not in family.modes:
        raise ValueError(f"--mode={mode!r} is not known for this family; choose one of "
                         f"{['generate', *family.modes]}")
    return family.modes[mode](state, rng=rng, num=num, dataset=dataset)
