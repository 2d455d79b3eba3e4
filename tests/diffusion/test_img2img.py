"""SDEdit: the start step, the strength endpoints, and what a strength keeps of the input."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion import sample, timesteps
from jaxgen.diffusion.img2img import grid_timesteps, sdedit, start_index, start_step
from edit_oracle import SCHEDULE, picked_sign, signed_inputs, two_point_eps


def test_start_index_is_the_nearest_grid_step():
    ts = timesteps(1000, 50)                                 # 999, 979, ..., 0
    assert start_index(ts, 0.0, 1000) == 50                  # no step: the input
    assert start_index(ts, 1.0, 1000) == 0                   # the whole grid
    k = start_index(ts, 0.5, 1000)
    assert abs(ts[k] - 500) == np.min(np.abs(ts - 500)) and ts[k] in (489, 510)
    k, t_k = start_step(SCHEDULE, 0.3, 10, "karras")          # fractional timesteps
    t = grid_timesteps(SCHEDULE, 10, "karras")
    assert k == np.argmin(np.abs(t - 30)) and 0 < k < 9 and t_k == t[k] != round(t_k)
    assert start_step(SCHEDULE, 0.0, 10) == (10, None)


def toy_eps(x_t, t):
    """A fixed nonlinear stand-in for a trained eps-model."""
    return 0.5 * jnp.tanh(x_t) * jnp.cos(t.astype(jnp.float32) / 30.0)[:, None, None, None]


def edit(eps_fn, x0, strength, sampler, seed=0, steps=10):
    run = jax.jit(lambda x, key: sdedit(eps_fn, SCHEDULE, x, rng=key, strength=strength,
                                        sampler=sampler, steps=steps))
    return run(x0, jax.random.key(seed))


def test_strength_endpoints():
    x0, _ = signed_inputs(4)
    np.testing.assert_array_equal(edit(toy_eps, x0, 0.0, "ddpm"), x0)
    plain = jax.jit(lambda key: sample(toy_eps, SCHEDULE, x0.shape, rng=key, sampler="ddpm",
                                       steps=10))(jax.random.key(0))
    np.testing.assert_array_equal(edit(toy_eps, x0, 1.0, "ddpm"), plain)   # plain sampling
    half = edit(toy_eps, x0, 0.5, "ddpm")
    assert np.abs(half - x0).mean() > 0.05 and np.abs(half - plain).mean() > 0.05


def test_low_strength_keeps_the_input_and_full_strength_forgets_it():
    x0, sign = signed_inputs(64)
    for strength, lo, hi in ((0.3, 1.0, 1.0), (1.0, 0.25, 0.75)):
        kept = float(jnp.mean(picked_sign(edit(two_point_eps, x0, strength, "ddim")) == sign))
        assert lo <= kept <= hi, (strength, kept)


@pytest.mark.parametrize("strength", [-0.1, 1.5, "0.5", float("nan")])
def test_bad_strength_names_the_value(strength):
    x0, _ = signed_inputs(2)
    with pytest.raises(ValueError, match=r"strength=.* must be a number in \[0, 1\]"):
        sdedit(two_point_eps, SCHEDULE, x0, rng=jax.random.key(0), strength=strength)
