"""Slow (~3.7 min on 2 busy cores): a briefly trained smoke teacher distilled 16 -> 8 -> 4 steps;
from the same x_T, the
4-step student lands closer to the teacher's 64-step DDIM samples than the teacher's own
4-step DDIM does (on the same trailing_exact grid)."""
import jax
import jax.numpy as jnp
import pytest

import jaxgen
from jaxgen.train import run
from conftest import smoke_config

TEACHER = {"train.steps": 200, "train.batch_size": 32, "train.checkpoint_every": 200,
           "train.log_every": 100, "diffusion.prediction": "v", "optim.lr": 2e-3}
STUDENT = {"distill.start_steps": 16, "distill.final_steps": 4, "distill.steps_per_round": 60,
           "train.steps": 180, "train.batch_size": 32, "train.checkpoint_every": 180,
           "train.log_every": 60, "optim.warmup_steps": 5}


def ddim(g, x_T, steps):
    """float32 samples of generator `g` from x_T, DDIM on the trailing_exact grid."""
    return g.family.generate(g.state, rng=jax.random.key(0), num=x_T.shape[0], sampler="ddim",
                             steps=steps, spacing="trailing_exact", x_T=x_T)


@pytest.mark.slow
def test_distilled_four_steps_beat_the_teachers_four_steps(tmp_path):
    run(smoke_config(**TEACHER), tmp_path / "teacher")
    run(smoke_config("distill_fmnist", **{"distill.teacher": str(tmp_path / "teacher"),
                                          **STUDENT}), tmp_path / "student")
    teacher, student = jaxgen.load(tmp_path / "teacher"), jaxgen.load(tmp_path / "student")
    x_T = jax.random.normal(jax.random.key(7), (64, 28, 28, 1))
    reference = ddim(teacher, x_T, 64)
    mse = lambda x: float(jnp.mean(jnp.square(x - reference)))  # noqa: E731
    student_mse, teacher_mse = mse(ddim(student, x_T, 4)), mse(ddim(teacher, x_T, 4))
    print(f"MSE to the teacher's 64-step DDIM: student 4 steps {student_mse:.4f}, "
          f"teacher 4 steps {teacher_mse:.4f}")
    assert student_mse < 0.8 * teacher_mse, (student_mse, teacher_mse)
