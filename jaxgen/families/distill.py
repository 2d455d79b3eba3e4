"""Progressive distillation (Salimans & Ho 2022, Algorithm 2) of a trained diffusion teacher.

The student has the teacher's U-Net, starts from the teacher's (EMA) parameters and predicts v.
Training runs R rounds of `distill.steps_per_round` steps; in round r the student takes
N_r = start_steps / 2^r DDIM steps and learns to match two DDIM steps of the round's teacher:
the original teacher in round 0, then the student as it was at the end of round r - 1. That
teacher lives in the state (`teacher_params`) and is refreshed inside the jitted step at every
round boundary, together with a fresh optimiser (its warm-up and decay run per round), so the
state is a pure function of the step and a run resumes exactly, across rounds too.

Config: `distill.teacher` (a diffusion workdir or WORKDIR/checkpoints/STEP), `start_steps`,
`final_steps`, `steps_per_round`, `clip_x0`; `model`, `data` and the `diffusion` schedule must
equal the teacher's (checked: the student's config.json alone rebuilds it for sampling) and
`diffusion.prediction` is "v". There is no EMA: sampling uses the final round's parameters.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from jaxgen import config as config_lib
from jaxgen.diffusion import make_schedule
from jaxgen.diffusion.distillation import distill_loss, draw_points, round_grids, round_steps
from jaxgen.families.base import Family, example_keys, mean_over_batch
from jaxgen.families.diffusion import DiffusionConfig, model_config, train_forward
from jaxgen.families.conditioning import Conditioning
from jaxgen.families.diffusion_sampling import GENERATE_OPTIONS, make_generate
from jaxgen.families.distill_teacher import check_same_model, load_teacher
from jaxgen.models.registry import arch_of, make_denoiser
from jaxgen.optim import apply_gradients, global_norm, make_optimizer


@dataclasses.dataclass(frozen=True)
class DistillConfig:
    """`config.distill`. teacher: a trained diffusion workdir (or WORKDIR/checkpoints/STEP);
    start_steps: the student's steps in round 0 (its teacher takes 2x); final_steps: in the last
    round (start_steps / 2^k); steps_per_round: training steps per round; clip_x0: clip the
    teacher's x0_hat to [-1, 1] in its DDIM steps, as its sampler does."""
    teacher: str = ""
    start_steps: int = 64
    final_steps: int = 4
    steps_per_round: int = 1000
    clip_x0: bool = True


def check_config(config, dcfg: DistillConfig, rounds: int) -> None:
    """train.steps = rounds * steps_per_round, v-prediction, no EMA; else a ValueError."""
    want = rounds * dcfg.steps_per_round
    if config.train.steps != want:
        raise ValueError(f"config.train.steps={config.train.steps} must equal rounds * "
                         f"distill.steps_per_round = {rounds} * {dcfg.steps_per_round} = {want} "
                         f"(start_steps {dcfg.start_steps} -> final_steps {dcfg.final_steps}); "
                         f"pass --config.train.steps={want}")
    if config.diffusion.prediction != "v":
        raise ValueError(f"config.diffusion.prediction={config.diffusion.prediction!r}: the "
                         f"distilled student predicts v (Salimans & Ho 2022 sec. 4); pass "
                         f"--config.diffusion.prediction=v")
    if config.optim.ema_decay:
        raise ValueError(f"config.optim.ema_decay={config.optim.ema_decay}: distillation keeps "
                         f"no EMA (each round's student is the next teacher); pass "
                         f"--config.optim.ema_decay=0")


def tree_where(cond: jax.Array, on_true, on_false):
    """Leafwise jnp.where(cond, a, b) of two trees of one structure (cond a scalar bool)."""
    return jax.tree.map(lambda a, b: jnp.where(cond, a, b), on_true, on_false)


def _teacher_parts(config, teacher_config) -> tuple[dict, dict]:
    parts = lambda c: dict(model=model_config(c, 0), data=c.data,  # noqa: E731
                           diffusion=config_lib.section(DiffusionConfig, c.diffusion,
                                                        where="diffusion"))
    return parts(config), parts(teacher_config)


def build(config, dataset) -> Family:
    dcfg = config_lib.section(DistillConfig, config.distill, where="distill")
    steps = round_steps(dcfg.start_steps, dcfg.final_steps)
    check_config(config, dcfg, len(steps))
    teacher_config, teacher, teacher_dir = load_teacher(dcfg.teacher)
    check_same_model(*_teacher_parts(config, teacher_config), str(teacher_dir))
    model = make_denoiser(config, num_classes=0, out_channels=config.data.channels)
    diff = config_lib.section(DiffusionConfig, config.diffusion, where="diffusion")
    schedule = make_schedule(diff.schedule, diff.num_steps, beta_start=diff.beta_start,
                             beta_end=diff.beta_end)
    grids = round_grids(schedule, dcfg.start_steps, dcfg.final_steps)
    tx, lr = make_optimizer(config.optim, dcfg.steps_per_round)   # per round (fresh each)
    shape = (config.data.image_size, config.data.image_size, config.data.channels)
    per_round, last = dcfg.steps_per_round, len(steps) - 1
    teacher_prediction = teacher_config.diffusion.prediction

    def init(rng):
        """Algorithm 2: the student starts from the teacher, which is round 0's teacher."""
        del rng
        return dict(params=teacher, opt_state=tx.init(teacher), teacher_params=teacher)

    def draw(key, r):
        k_i, k_eps = jax.random.split(key)
        return (*draw_points(grids, r, k_i), jax.random.normal(k_eps, shape))

    def loss_fn(params, teacher_params, batch, rng, r, axis_name):
        keys = example_keys(rng, batch["index"])
        ts, alpha, sigma, eps = jax.vmap(draw, in_axes=(0, None))(keys, r)   # (B,) each
        bcast = lambda xs: tuple(v[:, None, None, None] for v in xs)  # noqa: E731
        student = lambda z, t: train_forward(model, params, z, t, None, keys,  # noqa: E731
                                             dropout=bool(config.model.get("dropout", 0.0)))
        teach = lambda z, t: model.apply({"params": teacher_params}, z, t)  # noqa: E731
        per_example = distill_loss(student, teach, batch["image"], eps, ts, bcast(alpha),
                                   bcast(sigma), teacher_prediction=teacher_prediction,
                                   clip_x0=dcfg.clip_x0)
        return mean_over_batch(per_example, axis_name)

    def train_step(state, batch, *, rng, axis_name=None):
        step = state["step"]
        new_round = step % per_round == 0   # eta <- theta; a fresh optimiser for the round
        teacher_params = tree_where(new_round, state["params"], state["teacher_params"])
        opt_state = tree_where(new_round, tx.init(state["params"]), state["opt_state"])
        r = jnp.minimum(step // per_round, last)
        loss, grads = jax.value_and_grad(loss_fn)(state["params"], teacher_params, batch, rng,
                                                  r, axis_name)
        params, opt_state = apply_gradients(tx, grads, opt_state, state["params"])
        new = {**state, "params": params, "opt_state": opt_state,
               "teacher_params": teacher_params}
        metrics = dict(loss=loss, grad_norm=global_norm(grads), lr=lr(step % per_round),
                       student_steps=grids.steps[r].astype(jnp.float32))
        return new, metrics

    _generate, info = make_generate(model, schedule, shape, cond=Conditioning(), prediction="v",
                                    defaults=config.sample)

    def generate(state, *, rng, num, use_ema=True, **options):
        """Samples `num` images with the student (no EMA; `use_ema` is accepted and ignored)."""
        del use_ema
        return _generate(state["params"], rng=rng, num=num, **options)

    return Family(init=init, train_step=train_step, generate=generate,
                  param_groups=lambda state: {arch_of(config.model): state["params"]},
                  sample_options=GENERATE_OPTIONS, sample_info=info, inference_keys=("params",))
