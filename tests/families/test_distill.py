"""Progressive distillation: the target formula, a smoke run (8 -> 2 steps, 3 rounds of 3
steps), the round's teacher in the state, exact resume across rounds, sampling on the trained
grid, and the errors for a bad teacher or config."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgen
from jaxgen import config as config_lib
from jaxgen import families
from jaxgen.diffusion import make_schedule
from jaxgen.diffusion.distillation import (distill_loss, distill_target, round_grids,
                                           round_steps)
from jaxgen.diffusion.samplers import at_t, make_grid
from jaxgen.families.distill_teacher import load_teacher
from jaxgen.train import run
from jaxgen.train.logging import read_metrics
from conftest import load_script, smoke_config

PER_ROUND, STEPS = 3, 9   # distill_fmnist.py:smoke: 8 -> 4 -> 2 student steps


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    path = tmp_path_factory.mktemp("teacher")
    run(smoke_config(**{"train.steps": 4, "diffusion.prediction": "v"}), path)
    return path


def distill_config(teacher, **overrides):
    return smoke_config("distill_fmnist", **{"distill.teacher": str(teacher), **overrides})


@pytest.fixture(scope="module")
def student(teacher, tmp_path_factory):
    """(workdir, Loop) of an uninterrupted smoke distillation."""
    path = tmp_path_factory.mktemp("student")
    return path, run(distill_config(teacher), path)


def replay(loop) -> dict:
    """{step: state after it} for every step, re-run with the loop's own compiled step."""
    state, states = loop.layout.init_state(), {0: None}
    states[0] = jax.device_get(state)
    for step in range(STEPS):
        state, _ = loop.train_step(state, loop.batch(step))
        states[step + 1] = jax.device_get(state)
    return states


def same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def rows(workdir):
    return [{k: v for k, v in r.items() if k != "images_per_s"}
            for r in read_metrics(workdir / "metrics.jsonl")]


# --- the target (Salimans & Ho 2022 Algorithm 2) ------------------------------------------

@pytest.mark.parametrize("prediction, atol", [("v", 2e-4), ("eps", 2e-3)])
def test_target_is_the_data_point_for_the_ideal_teacher(prediction, atol):
    """Single-point data x*: the ideal denoiser has x0_hat = x* exactly, DDIM is exact, so two
    teacher steps land on alpha_t'' x* + sigma_t'' eps and x~ = x*, and the ideal v-student's
    loss is 0; at every point of every round's grid, t'' = x_0 included. (eps: x0_hat =
    (z - sigma eps) / alpha carries float32 rounding times 1 / alpha_t, large at t = T - 1.)"""
    schedule = make_schedule("cosine", 1000)
    x_star = jax.random.uniform(jax.random.key(0), (1, 6, 6, 1), minval=-1.0, maxval=1.0)

    def ideal(z, t, prediction=prediction):   # eps or v of the ideal denoiser of x*
        vp = at_t(schedule, t)
        a, s = vp.alpha[:, None, None, None], vp.sigma[:, None, None, None]
        eps = (z - a * x_star) / s
        return eps if prediction == "eps" else a * eps - s * x_star

    grids = round_grids(schedule, 16, 2)
    r = np.concatenate([np.full(n, i) for i, n in enumerate(round_steps(16, 2))])   # (B,)
    k = np.concatenate([2 * np.arange(n) for n in round_steps(16, 2)])   # every student point
    b = lambda v: v[:, None, None, None]  # noqa: E731
    alpha = tuple(b(grids.alpha[r, k + d]) for d in range(3))
    sigma = tuple(b(grids.sigma[r, k + d]) for d in range(3))
    ts = grids.t[r, k], grids.t[r, k + 1]
    eps = jax.random.normal(jax.random.key(1), (len(r), 6, 6, 1))

    @jax.jit
    def target_and_loss(eps):
        z_t = alpha[0] * x_star + sigma[0] * eps
        target = distill_target(ideal, z_t, *ts, alpha, sigma, prediction=prediction)
        loss = distill_loss(lambda z, t: ideal(z, t, "v"), ideal,
                            jnp.broadcast_to(x_star, z_t.shape), eps, ts, alpha, sigma,
                            teacher_prediction=prediction)
        return target, loss

    target, loss = target_and_loss(eps)
    np.testing.assert_allclose(target, jnp.broadcast_to(x_star, target.shape), atol=atol)
    assert float(loss.max()) < atol**2 * 10, loss


def test_student_grid_is_what_sample_py_uses():
    """The trained timesteps are sample.py's bit for bit; the coefficients are the same
    function of them (`at_t`), here computed eagerly, there inside the sampler's jit."""
    schedule = make_schedule("cosine", 100)
    grids = round_grids(schedule, 8, 2)
    for r, n in enumerate([8, 4, 2]):
        g = jax.jit(lambda: make_grid(schedule, n, "trailing_exact"))()
        np.testing.assert_array_equal(grids.t[r, : 2 * n : 2], g.t)
        np.testing.assert_allclose(grids.alpha[r, : 2 * n + 1 : 2], g.alpha, rtol=1e-6)
        np.testing.assert_allclose(grids.sigma[r, : 2 * n + 1 : 2], g.sigma, rtol=1e-6)
        assert float(grids.sigma[r, 2 * n]) == 0.0 and float(grids.alpha[r, 2 * n]) == 1.0


# --- a smoke distillation ----------------------------------------------------------------

@pytest.mark.slow  # trains a teacher and a student (about a minute)
def test_loss_is_finite_and_rounds_halve_the_steps(student):
    got = rows(student[0])
    assert [r["step"] for r in got] == list(range(1, STEPS + 1))
    assert all(np.isfinite(r["loss"]) and np.isfinite(r["grad_norm"]) for r in got)
    assert [r["student_steps"] for r in got] == [8.0] * 3 + [4.0] * 3 + [2.0] * 3
    saved = json.loads((student[0] / "config.json").read_text())
    assert saved["family"] == "distill" and saved["diffusion"]["prediction"] == "v"


@pytest.mark.slow  # trains a teacher and a student (about a minute)
def test_teacher_params_change_exactly_at_round_boundaries(teacher, student):
    states = replay(student[1])
    assert same(states[STEPS], jax.device_get(student[1].state))   # the replay is the run
    _, original, _ = load_teacher(str(teacher))
    assert same(states[0]["params"], original) and same(states[0]["teacher_params"], original)
    for s in range(1, STEPS + 1):
        first = (s - 1) % PER_ROUND == 0                  # step s - 1 began a round
        prev, now = states[s - 1], states[s]
        assert same(now["teacher_params"], prev["teacher_params"]) == (not first or s == 1), s
        if first:                                         # eta <- theta of the round before
            assert same(now["teacher_params"], prev["params"]), s
        # a round's first step has lr 0 (its warm-up restarts); every other step trains
        assert same(now["params"], prev["params"]) == first, s


@pytest.mark.slow  # three partial runs
def test_resume_at_and_inside_rounds_is_bit_identical(teacher, student, tmp_path):
    """Stops at a round boundary (step 6: the next step refreshes the teacher) and in the middle
    of round 2 (step 7); the resumed run matches the uninterrupted one bit for bit."""
    config = distill_config(teacher)
    run(config, tmp_path, stop_after=6)
    run(config, tmp_path, stop_after=7)
    loop = run(config, tmp_path)
    assert rows(tmp_path) == rows(student[0])
    assert same(jax.device_get(loop.state), jax.device_get(student[1].state))


@pytest.mark.slow  # trains a teacher and a student (about a minute)
def test_load_and_sample_on_the_trained_grid(student, tmp_path, capsys, monkeypatch):
    g = jaxgen.load(student[0])
    assert sorted(g.state) == ["params"] and g.step == STEPS
    images = g.sample(4, steps=2)
    assert images.shape == (4, 28, 28, 1) and images.dtype == np.uint8
    assert g.info() == dict(sampler="ddim", steps=2, spacing="trailing_exact", nfe=2)
    monkeypatch.setenv("XLA_FLAGS", "")   # sample.main sets it; restored after the test
    script = load_script("sample.py")
    script.main([f"--workdir={student[0]}", "--steps=2", "--num=4",
                 f"--out={tmp_path / 'g.png'}"])
    out = capsys.readouterr().out
    assert "sampler=ddim, steps=2, spacing=trailing_exact, nfe=2" in out, out
    assert (tmp_path / "g.png").is_file()


# --- errors ------------------------------------------------------------------------------

def fake_workdir(path, name):
    path.mkdir()
    (path / "config.json").write_text(config_lib.to_json(smoke_config(name)))
    return path


@pytest.mark.parametrize("kind, match", [
    ("empty", r"config.distill.teacher is empty; pass --config.distill.teacher=WORKDIR"),
    ("missing", r"is not a jaxgen workdir \(no .*config.json\); point it at a diffusion"),
    ("gan", r"is a 'gan' workdir; progressive distillation needs a diffusion teacher"),
    ("vae", r"is a 'vae' workdir; progressive distillation needs a diffusion teacher"),
])
def test_bad_teacher_is_a_one_line_error(kind, match, tmp_path):
    path = {"empty": "", "missing": tmp_path / "nope",
            "gan": fake_workdir(tmp_path / "gan", "dcgan_fmnist") if kind == "gan" else None,
            "vae": fake_workdir(tmp_path / "vae", "vae_fmnist") if kind == "vae" else None}[kind]
    with pytest.raises(ValueError, match=match) as e:
        families.build(distill_config(path or ""), None)
    assert "\n" not in str(e.value)


@pytest.mark.slow  # trains a teacher
@pytest.mark.parametrize("overrides, match", [
    ({"train.steps": 10}, r"train.steps=10 must equal rounds \* distill.steps_per_round = "
                          r"3 \* 3 = 9 .*--config.train.steps=9"),
    ({"distill.final_steps": 3}, r"start_steps=8 does not halve to distill.final_steps=3"),
    ({"diffusion.prediction": "eps"}, r"student predicts v .*--config.diffusion.prediction=v"),
    ({"optim.ema_decay": 0.9}, r"keeps no EMA.*--config.optim.ema_decay=0"),
    ({"model.ch": 16}, r"differs from the teacher's .*--config.model.ch=8 \(is 16\)"),
    ({"diffusion.num_steps": 50}, r"--config.diffusion.num_steps=100 \(is 50\)"),
])
def test_bad_config_is_a_one_line_error(teacher, overrides, match):
    with pytest.raises(ValueError, match=match) as e:
        families.build(distill_config(teacher, **overrides), None)
    assert "\n" not in str(e.value)


def test_compute_dtype_is_no_model_difference():
    """A bf16 student of a float32 teacher (or a student sampled in bf16) is the same model."""
    from jaxgen.families.distill_teacher import check_same_model
    from jaxgen.models import UNetConfig
    parts = lambda ch=8, **model: dict(model=UNetConfig(ch=ch, **model),  # noqa: E731
                                       data={"image_size": 28}, diffusion={"num_steps": 8})
    check_same_model(parts(dtype="bfloat16"), parts(), "teacher")
    with pytest.raises(ValueError, match=r"--config.model.ch=8 \(is 16\)") as e:
        check_same_model(parts(ch=16, dtype="bfloat16"), parts(), "teacher")
    assert "dtype" not in str(e.value)
