"""RePaint: the jump schedule, the known-pixel guarantee, and that resampling harmonises."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.diffusion.inpaint import repaint, repaint_nfe, repaint_schedule
from edit_oracle import SCHEDULE, SIDE, picked_sign, signed_inputs, two_point_eps

FILL = jnp.zeros((1, SIDE, SIDE, 1), bool).at[:, :, :SIDE - 2].set(True)   # keep 2 columns


def inpaint(x0, sampler, jump_length, resample, steps=10, seed=0):
    run = jax.jit(lambda x, key: repaint(two_point_eps, SCHEDULE, x, FILL, rng=key,
                                         sampler=sampler, steps=steps,
                                         jump_length=jump_length, resample=resample))
    return run(x0, jax.random.key(seed))


def test_schedule_walks_down_with_jumps_back():
    ops = repaint_schedule(10, 3, 2).tolist()
    # jump points r = 3, 6 levels before the end (n = 7, 4), each jumped back once
    assert ops == [[0, 1], [1, 2], [2, 3], [3, 4], [4, 1], [1, 2], [2, 3], [3, 4], [4, 5],
                   [5, 6], [6, 7], [7, 4], [4, 5], [5, 6], [6, 7], [7, 8], [8, 9], [9, 10]]
    np.testing.assert_array_equal(repaint_schedule(5, 2, 1), [[i, i + 1] for i in range(5)])
    assert repaint_nfe("ddpm", 50, 10, 10) == 50 + 9 * 10 * 4     # r = 10, 20, 30, 40
    assert repaint_nfe("ddpm", 20, 1, 3) == 20 + 2 * 19            # Algorithm 1: every step
    assert repaint_nfe("heun", 10, 3, 2) == 2 * 16 - 1


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "euler", "heun"])
def test_known_pixels_are_kept_exactly(sampler):
    x0, _ = signed_inputs(4)
    x0 = x0 * jnp.linspace(0.3, 1.0, SIDE)[None, :, None, None]       # not just +-0.8
    out = inpaint(x0, sampler, jump_length=2, resample=2)
    keep = ~jnp.broadcast_to(FILL, x0.shape)
    np.testing.assert_array_equal(out[keep], x0[keep])
    assert float(jnp.abs(out - x0)[~keep].mean()) > 1e-3 and np.isfinite(out).all()


def test_resampling_harmonises_the_fill_with_the_known_region():
    """With 2 known columns of 8 the fill must take their sign; plain replacement often
    commits to the wrong point early, RePaint's resampling (Algorithm 1, U = 10) rarely."""
    x0, sign = signed_inputs(128)
    wrong = {u: float(jnp.mean(picked_sign(inpaint(x0, "ddpm", 1, u, steps=20), FILL) != sign))
             for u in (1, 10)}
    assert wrong[1] > 0.1 and wrong[10] < wrong[1] / 2, wrong


def test_unsupported_sampler_and_bad_jumps_are_clear():
    x0, _ = signed_inputs(2)
    with pytest.raises(ValueError, match=r"inpainting runs with sampler \['ddpm'.*not 'dpmpp_2m'"):
        repaint(two_point_eps, SCHEDULE, x0, FILL, rng=jax.random.key(0), sampler="dpmpp_2m")
    with pytest.raises(ValueError, match="jump_length=0 must be an integer >= 1"):
        repaint(two_point_eps, SCHEDULE, x0, FILL, rng=jax.random.key(0), jump_length=0)
