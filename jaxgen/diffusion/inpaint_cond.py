"""Mask-conditioned inpainting (Palette, Saharia et al. 2022; Stable Diffusion's inpainting
model, Rombach et al. 2022): the denoiser sees the known pixels and the mask as C + 1 extra
input channels (`models.conditioned.ImageConditioned`),

    c = concat(where(m, fill_value, x0), m)   # (B, H, W, C + 1); m = 1 where to fill

with fill_value 0 (mid grey in [-1, 1]; the mask channel tells a grey pixel from a hole).

Training masks are drawn in JAX from each example's key, so a mask is a pure function of
(step, example index) and exact resume holds. The mixture (`probs` over TRAIN_MASKS):
  box     a rectangle of sides U{S/4..3S/4}, uniformly placed (covers the built-in centre box)
  half    the left, right, top or bottom half, each with probability 1/4 (built-in left_half)
  strokes 2-4 polylines of 2-4 segments, width round(S/7) (as the built-in random_strokes,
          but drawn in JAX: a pixel is filled when its centre lies within width/2 of a segment)
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

TRAIN_MASKS = ("box", "half", "strokes")
MAX_LINES, MAX_POINTS = 4, 5


def inpaint_condition(x0: jax.Array, fill: jax.Array, fill_value: float = 0.0) -> jax.Array:
    """The model's condition: x0 float (B, H, W, C), fill bool (B or 1, H, W, 1) ->
    float32 (B, H, W, C + 1), the unknown pixels set to fill_value, then the mask (1 = fill)."""
    m = jnp.broadcast_to(jnp.asarray(fill, bool), (*x0.shape[:3], 1))
    known = jnp.where(m, jnp.float32(fill_value), x0.astype(jnp.float32))
    return jnp.concatenate([known, m.astype(jnp.float32)], axis=-1)


def paste(out: jax.Array, x0: jax.Array, fill: jax.Array) -> jax.Array:
    """The generated pixels where `fill`, x0 exactly elsewhere: (B, H, W, C)."""
    return jnp.where(jnp.asarray(fill, bool), out, x0)


def _grid(size: int):
    rows, cols = jnp.meshgrid(jnp.arange(size), jnp.arange(size), indexing="ij")
    return rows, cols                                          # (S, S) each


def box_mask(key: jax.Array, size: int) -> jax.Array:
    """A rectangle of sides U{S/4..3S/4}, uniformly placed: bool (S, S)."""
    k_h, k_w, k_top, k_left = jax.random.split(key, 4)
    h = jax.random.randint(k_h, (), size // 4, 3 * size // 4 + 1)
    w = jax.random.randint(k_w, (), size // 4, 3 * size // 4 + 1)
    top = jax.random.randint(k_top, (), 0, size - h + 1)
    left = jax.random.randint(k_left, (), 0, size - w + 1)
    rows, cols = _grid(size)
    return (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)


def half_mask(key: jax.Array, size: int) -> jax.Array:
    """The left, right, top or bottom half, uniformly: bool (S, S)."""
    side = jax.random.randint(key, (), 0, 4)
    rows, cols = _grid(size)
    halves = jnp.stack([cols < size // 2, cols >= size // 2,
                        rows < size // 2, rows >= size // 2])  # (4, S, S)
    return halves[side]


def _segment_distance(p: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    """Distance of points p (..., 2) to the segment a-b (2,)."""
    ab = b - a
    s = jnp.clip(jnp.sum((p - a) * ab, -1) / jnp.maximum(jnp.sum(ab * ab), 1e-9), 0.0, 1.0)
    return jnp.linalg.norm(p - (a + s[..., None] * ab), axis=-1)


def strokes_mask(key: jax.Array, size: int) -> jax.Array:
    """2-4 polylines of 3-5 points uniform in [0, S-1]^2, width max(1, round(S/7)): bool (S, S)."""
    k_n, k_m, k_p = jax.random.split(key, 3)
    n_lines = jax.random.randint(k_n, (), 2, MAX_LINES + 1)
    n_points = jax.random.randint(k_m, (MAX_LINES,), 3, MAX_POINTS + 1)
    points = jax.random.uniform(k_p, (MAX_LINES, MAX_POINTS, 2), maxval=size - 1.0)
    rows, cols = _grid(size)
    pixels = jnp.stack([cols, rows], -1).astype(jnp.float32)  # (S, S, 2), (x, y) as PIL
    a, b = points[:, :-1], points[:, 1:]                       # (L, P-1, 2) segments
    dist = jax.vmap(jax.vmap(lambda a_, b_: _segment_distance(pixels, a_, b_)))(a, b)
    line, seg = jnp.arange(MAX_LINES)[:, None], jnp.arange(MAX_POINTS - 1)[None, :]
    valid = (line < n_lines) & (seg < n_points[:, None] - 1)   # (L, P-1)
    width = max(1, round(size / 7))
    return jnp.any(valid[..., None, None] & (dist <= width / 2), axis=(0, 1))


def train_mask(key: jax.Array, size: int, probs) -> jax.Array:
    """One training mask from the mixture `probs` over TRAIN_MASKS: bool (S, S, 1)."""
    k_kind, k_mask = jax.random.split(key)
    kind = jax.random.choice(k_kind, len(TRAIN_MASKS), p=jnp.asarray(probs, jnp.float32))
    masks = jnp.stack([box_mask(k_mask, size), half_mask(k_mask, size),
                       strokes_mask(k_mask, size)])             # (3, S, S)
    return masks[kind][..., None]


def train_condition(x0: jax.Array, keys: jax.Array, probs, fill_value: float = 0.0):
    """The condition of a training batch x0 (B, H, W, C), one mask per example key (B,):
    float32 (B, H, W, C + 1). The mask key is fold_in(key, 17), apart from the key's other
    uses (timestep, noise, dropout)."""
    fill = jax.vmap(lambda k: train_mask(jax.random.fold_in(k, 17), x0.shape[1], probs))(keys)
    return inpaint_condition(x0, fill, fill_value)
