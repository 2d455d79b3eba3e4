"""q_sample, the eps / v losses and the parametrisation conversions."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion import diffusion_loss, make_schedule, predict_x0_eps, q_sample, v_target

B, SHAPE = 6, (6, 4, 4, 2)


@pytest.fixture(scope="module")
def data():
    k0, k1, k2 = jax.random.split(jax.random.key(0), 3)
    schedule = make_schedule("cosine", 200)
    x0 = jax.random.uniform(k0, SHAPE, minval=-1, maxval=1)
    noise = jax.random.normal(k1, SHAPE)
    t = jax.random.randint(k2, (B,), 0, 200).at[0].set(0).at[1].set(199)
    return schedule, x0, noise, t


def test_q_sample_closed_form(data):
    schedule, x0, noise, t = data
    x_t = q_sample(schedule, x0, t, noise)
    for b in range(B):
        ab = float(schedule.alpha_bar[t[b]])
        np.testing.assert_allclose(x_t[b], np.sqrt(ab) * x0[b] + np.sqrt(1 - ab) * noise[b],
                                   rtol=1e-5, atol=1e-6)


def test_q_sample_statistics():
    """x_t | x0 ~ N(sqrt(ab) x0, (1 - ab) I): check mean and variance over many noises."""
    schedule = make_schedule("linear", 1000)
    x0 = jnp.full((20_000, 1, 1, 1), 0.5)
    t = jnp.full((20_000,), 300, jnp.int32)
    x_t = q_sample(schedule, x0, t, jax.random.normal(jax.random.key(1), x0.shape))
    ab = float(schedule.alpha_bar[300])
    assert float(x_t.mean()) == pytest.approx(0.5 * np.sqrt(ab), abs=0.02)
    assert float(x_t.var()) == pytest.approx(1 - ab, rel=0.03)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_loss_is_zero_for_the_true_target(data, prediction):
    schedule, x0, noise, t = data
    target = noise if prediction == "eps" else v_target(schedule, x0, t, noise)
    loss = diffusion_loss(lambda x_t, tt: target, schedule, x0, t=t, noise=noise,
                          prediction=prediction)
    assert loss.shape == (B,) and loss.dtype == jnp.float32
    np.testing.assert_allclose(loss, 0.0, atol=1e-12)


def test_loss_is_per_example_mse(data):
    schedule, x0, noise, t = data
    loss = diffusion_loss(lambda x_t, tt: jnp.zeros_like(x_t), schedule, x0, t=t, noise=noise,
                          prediction="eps")
    np.testing.assert_allclose(loss, jnp.mean(noise ** 2, axis=(1, 2, 3)), rtol=1e-6)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_min_snr_loss_is_min_snr_times_x0_error(data, prediction):
    """Hang et al. 2023 define Min-SNR-gamma in x0 space: min(SNR_t, gamma) ||x0_hat - x0||^2.
    The loss on an eps / v output must equal that, with x0_hat recomputed here in float64."""
    schedule, x0, noise, t = data
    out = jax.random.normal(jax.random.key(5), SHAPE)
    loss = diffusion_loss(lambda x_t, tt: out, schedule, x0, t=t, noise=noise,
                          prediction=prediction, min_snr_gamma=5.0)
    x0_, noise_, out_ = (np.asarray(v, np.float64) for v in (x0, noise, out))
    ab = np.asarray(schedule.alpha_bar, np.float64)[np.asarray(t)][:, None, None, None]
    a, s = np.sqrt(ab), np.sqrt(1 - ab)
    x_t = a * x0_ + s * noise_
    x0_hat = (x_t - s * out_) / a if prediction == "eps" else a * x_t - s * out_
    snr = (ab / (1 - ab)).reshape(B)
    expected = np.minimum(snr, 5.0) * np.mean((x0_hat - x0_) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(loss, expected, rtol=2e-4)
    plain = diffusion_loss(lambda x_t, tt: out, schedule, x0, t=t, noise=noise,
                           prediction=prediction)
    assert not np.allclose(loss, plain)   # the weighting is on


def test_v_target_closed_form(data):
    schedule, x0, noise, t = data
    a = schedule.sqrt_alpha_bar[t][:, None, None, None]
    s = schedule.sqrt_one_minus_alpha_bar[t][:, None, None, None]
    np.testing.assert_allclose(v_target(schedule, x0, t, noise), a * noise - s * x0, rtol=1e-6)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_predict_x0_eps_recovers_truth(data, prediction):
    schedule, x0, noise, t = data
    x_t = q_sample(schedule, x0, t, noise)
    out = noise if prediction == "eps" else v_target(schedule, x0, t, noise)
    x0_hat, eps_hat = predict_x0_eps(schedule, x_t, t, out, prediction)
    assert x0_hat.shape == SHAPE and eps_hat.shape == SHAPE
    # eps-prediction divides by sqrt(alpha_bar) (tiny at t = T-1): check x0 where it is stable.
    stable = np.asarray(schedule.alpha_bar[t] > 1e-3) if prediction == "eps" else np.ones(B, bool)
    np.testing.assert_allclose(x0_hat[stable], x0[stable], atol=1e-5)
    np.testing.assert_allclose(eps_hat, noise, atol=1e-5)


def test_unknown_prediction_raises(data):
    schedule, x0, noise, t = data
    with pytest.raises(ValueError, match=r"'x0'.*eps.*v"):
        diffusion_loss(lambda x_t, tt: x_t, schedule, x0, t=t, noise=noise, prediction="x0")
    with pytest.raises(ValueError, match="prediction"):
        predict_x0_eps(schedule, x0, t, x0, "score")


def test_negative_min_snr_gamma_is_a_config_error():
    from jaxgen.families.diffusion import DiffusionConfig
    with pytest.raises(ValueError, match=r"min_snr_gamma=-1.0 must be >= 0"):
        DiffusionConfig(min_snr_gamma=-1.0)
