"""A closed-form denoiser for editing tests: data on two points, x_0 = +x* or -x*.

The exact posterior mean is E[x_0 | x_t] = tanh(alpha <x_t, x*> / sigma^2) x*, so a sampler
lands on one of the two points, and which one an edit or inpainting picks can be checked
against the input it was given.
"""
import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.diffusion import make_schedule

SCHEDULE = make_schedule("cosine", 100)
SIDE = 8
X_STAR = jnp.asarray(np.random.default_rng(0).choice([-0.8, 0.8], (1, SIDE, SIDE, 1)),
                     jnp.float32)


def two_point_eps(x_t, t):
    """eps_hat (B, 8, 8, 1) of the two-point data at integer timesteps t (B,)."""
    a = SCHEDULE.sqrt_alpha_bar[t][:, None, None, None]
    s = SCHEDULE.sqrt_one_minus_alpha_bar[t][:, None, None, None]
    x0 = jnp.tanh(a * jnp.sum(x_t * X_STAR, axis=(1, 2, 3), keepdims=True) / s**2) * X_STAR
    return (x_t - a * x0) / s


def signed_inputs(num: int) -> tuple[jax.Array, jax.Array]:
    """(x_0 (num, 8, 8, 1) alternating +x*, -x*; their signs (num,))."""
    sign = jnp.where(jnp.arange(num) % 2 == 0, 1.0, -1.0)
    return sign[:, None, None, None] * X_STAR, sign


def picked_sign(x, region=None) -> jax.Array:
    """Which point each image (B, 8, 8, 1) lies nearest to, over `region` (bool) if given."""
    w = X_STAR if region is None else X_STAR * region
    return jnp.sign(jnp.sum(x * w, axis=(1, 2, 3)))
