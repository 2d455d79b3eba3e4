"""Classifier-free guidance wrapper: one batched call equals two separate ones; interval."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion import make_schedule
from jaxgen.diffusion.guidance import guided
from jaxgen.diffusion.samplers import sigma_at

NULL = 10


def cond_eps(x_t, t, labels):
    """A toy conditional model whose output depends on x, t and the label."""
    scale = (labels.astype(jnp.float32) + 1.0) / (NULL + 1.0)
    return jnp.tanh(x_t) * scale[:, None, None, None] + jnp.cos(t / 300.0)[:, None, None, None]


@pytest.fixture
def inputs():
    x = jax.random.normal(jax.random.key(0), (3, 4, 4, 1))
    return x, jnp.array([999.0, 400.0, 3.0]), jnp.array([0, 4, 9])


def test_batched_guidance_equals_two_calls(inputs):
    x, t, labels = inputs
    w = 2.5
    cond, uncond = cond_eps(x, t, labels), cond_eps(x, t, jnp.full_like(labels, NULL))
    got = guided(cond_eps, labels, weight=w, null_label=NULL)(x, t)
    np.testing.assert_allclose(got, cond + w * (cond - uncond), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(guided(cond_eps, labels, weight=0.0, null_label=NULL)(x, t), cond,
                               rtol=1e-6)


def test_guidance_interval_applies_only_inside(inputs):
    x, t, labels = inputs
    schedule = make_schedule("linear", 1000)
    sig = sigma_at(schedule, t)                              # descending: 157, ~1, 0.02
    lo, hi = float(sig[1]) * 0.5, float(sig[1]) * 2.0        # only the middle example inside
    got = guided(cond_eps, labels, weight=3.0, null_label=NULL, interval=(lo, hi),
                 schedule=schedule)(x, t)
    full = guided(cond_eps, labels, weight=3.0, null_label=NULL)(x, t)
    cond = cond_eps(x, t, labels)
    np.testing.assert_allclose(got[1], full[1], rtol=1e-6)
    np.testing.assert_allclose(got[::2], cond[::2], rtol=1e-6)
    with pytest.raises(ValueError, match="schedule"):
        guided(cond_eps, labels, weight=1.0, null_label=NULL, interval=(lo, hi))
