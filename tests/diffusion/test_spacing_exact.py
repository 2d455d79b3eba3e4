"""The "trailing_exact" spacing: unrounded t_i = T i / N - 1, nested N-in-2N grids."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion import make_schedule, sample, timesteps
from jaxgen.diffusion.samplers import SPACINGS, make_grid
from jaxgen.diffusion.samplers.grid import exact_timesteps


def test_values_are_trailing_unrounded():
    np.testing.assert_array_equal(exact_timesteps(1000, 4), [999, 749, 499, 249])
    np.testing.assert_array_equal(exact_timesteps(1000, 64)[-2:], [30.25, 14.625])
    np.testing.assert_array_equal(timesteps(1000, 4, "trailing"), [999, 749, 499, 249])
    assert "trailing_exact" in SPACINGS


@pytest.mark.parametrize("T", [100, 1000])
def test_n_grid_is_every_other_point_of_the_2n_grid(T):
    schedule = make_schedule("cosine", T)
    for n in (1, 2, 4, 8, 16, 32):
        coarse, fine = make_grid(schedule, n, "trailing_exact"), make_grid(schedule, 2 * n,
                                                                           "trailing_exact")
        assert coarse.t.dtype == jnp.float32
        np.testing.assert_array_equal(coarse.t, fine.t[::2])
        for name in ("alpha", "sigma", "alpha_bar"):
            np.testing.assert_array_equal(getattr(coarse, name), getattr(fine, name)[::2],
                                          err_msg=f"{name} T={T} n={n}")
    assert float(make_grid(schedule, 4, "trailing_exact").sigma[-1]) == 0.0   # lands on x_0


def test_uniform_does_not_nest():
    """Why the new spacing: round(linspace(T-1, 0, N)) is not a subset of its 2N grid."""
    assert not set(timesteps(1000, 4, "uniform")) <= set(timesteps(1000, 8, "uniform"))


def test_sampling_on_it_and_no_integer_timesteps():
    schedule = make_schedule("cosine", 100)
    eps_fn = lambda x, t: 0.1 * x * jnp.cos(t / 50.0)[:, None, None, None]  # noqa: E731
    x = sample(eps_fn, schedule, (2, 4, 4, 1), rng=jax.random.key(0), steps=4,
               spacing="trailing_exact")
    assert x.shape == (2, 4, 4, 1) and bool(jnp.all(jnp.isfinite(x)))
    with pytest.raises(ValueError, match="no integer timesteps.*'linspace'"):
        timesteps(100, 4, "trailing_exact")
