"""Super-resolution inputs (SR3, Saharia et al. 2021, sec. 2.4): the low-resolution image,
upsampled to the target size, is concatenated to the denoiser's noisy input as extra channels.

    lr = downsample(hr, factor)           # (B, H/f, W/f, C): box average over f x f blocks
    x_lr = upsample(lr, factor)           # (B, H, W, C): bicubic, what the model sees

Downsampling is the area (box) filter: each low-resolution pixel is the mean of its f x f
block, the exact anti-aliased integral of the image over that pixel (PIL's BOX / OpenCV's
INTER_AREA for integer factors), so `downsample(upsample(...))` tests consistency without a
filter of its own. Upsampling is Keys' bicubic (a = -0.5, `jax.image.resize`), not clipped.

Data consistency at sampling time (optional, `lr_consistency=True`): the solver's x0 prediction
is projected onto the images whose box average is the input,

    x0 <- x0 - up_n(down(x0)) + up_n(lr)      # up_n: nearest, so down(x0) == lr afterwards

the orthogonal projection onto {x : down(x) = lr} (down = A is a block mean, A A^T = I / f^2,
so x - A^T (A A^T)^-1 (A x - lr) = x - up_n(A x - lr)); bicubic in its place would leave
down(up(.)) != identity. With the clip to [-1, 1] on, the projection is onto the consistent
images inside the range: per block clip(x0 + c), the scalar c found by bisection (the
Euclidean projection onto a box cut by a hyperplane); it equals the formula above where
nothing clips, and the clipped result stays consistent where the input is at the range's edge
(black background), which clipping after the plain projection would break.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgen.diffusion.samplers.grid import at_sigma, sigma_at
from jaxgen.diffusion.schedules import Schedule

BISECTIONS = 32   # halvings of the per-block shift's bracket: below float32 resolution


def check_factor(factor: int, size: int, where: str = "config.sr.factor") -> int:
    """`factor` as an int, checked: >= 2 and dividing the image side `size`."""
    if int(factor) != factor or factor < 2 or size % int(factor):
        divisors = [f for f in range(2, size + 1) if size % f == 0]
        raise ValueError(f"{where}={factor} must be an integer >= 2 dividing the image size "
                         f"{size}; choose one of {divisors}")
    return int(factor)


def downsample(hr: jax.Array, factor: int) -> jax.Array:
    """Box average over factor x factor blocks: (B, H, W, C) -> (B, H/f, W/f, C)."""
    b, h, w, c = hr.shape
    blocks = hr.reshape(b, h // factor, factor, w // factor, factor, c)
    return blocks.mean(axis=(2, 4))


def upsample(lr: jax.Array, factor: int, method: str = "bicubic") -> jax.Array:
    """(B, h, w, C) -> (B, h f, w f, C) by `method` ("bicubic", "nearest", "linear")."""
    b, h, w, c = lr.shape
    return jax.image.resize(lr, (b, h * factor, w * factor, c), method=method)


def lr_condition(hr: jax.Array, factor: int) -> jax.Array:
    """The model's conditioning image of a high-resolution batch: upsample(downsample(hr)),
    (B, H, W, C) -> (B, H, W, C)."""
    return upsample(downsample(hr, factor), factor)


def project_x0(x0: jax.Array, lr: jax.Array, factor: int, *, clip: bool = True) -> jax.Array:
    """x0 (B, H, W, C) projected onto {x : downsample(x) = lr} (lr (B, H/f, W/f, C)):
    x0 + up_n(lr - down(x0)); with `clip`, onto its intersection with [-1, 1]^n (each block:
    clip(x0 + c) with the scalar shift c, found by bisection, that makes its mean lr)."""
    if not clip:
        return x0 + upsample(lr - downsample(x0, factor), factor, "nearest")
    bound = 1.0 + jnp.max(jnp.abs(x0))          # c = -bound: all -1 (mean <= lr); +bound: all 1
    shifted = lambda c: jnp.clip(x0 + upsample(c, factor, "nearest"), -1.0, 1.0)  # noqa: E731

    def bisect(_, lo_hi):
        lo, hi = lo_hi
        mid = 0.5 * (lo + hi)
        low = downsample(shifted(mid), factor) < lr           # (B, h, w, C): mean still low
        return jnp.where(low, mid, lo), jnp.where(low, hi, mid)

    lo, hi = jax.lax.fori_loop(0, BISECTIONS, bisect, (jnp.full_like(lr, -bound),
                                                       jnp.full_like(lr, bound)))
    return shifted(0.5 * (lo + hi))


def consistent_denoiser(denoise_fn, schedule: Schedule, lr: jax.Array, factor: int, *,
                        prediction: str, clip: bool = True):
    """denoise_fn(x_t, t) -> eps or v whose implied x0 is `project_x0`-ed onto the input `lr`:
    x0 = alpha x_t - sigma v (v) or (x_t - sigma eps) / alpha (eps), projected, converted back,
    at the noise level of t (int or fractional, `grid.sigma_at`), so every sampler sees it."""
    def fn(x_t: jax.Array, t: jax.Array) -> jax.Array:
        out = denoise_fn(x_t, t).astype(jnp.float32)
        vp = at_sigma(sigma_at(schedule, t).reshape(-1, 1, 1, 1))     # (B, 1, 1, 1)
        a, s = vp.alpha, vp.sigma
        x0 = a * x_t - s * out if prediction == "v" else (x_t - s * out) / a
        x0 = project_x0(x0, lr, factor, clip=clip)
        return (a * x_t - x0) / s if prediction == "v" else (x_t - a * x0) / s
    return fn
