"""Super-resolution in the diffusion family (`config.sr`): SR3 (Saharia et al. 2021), a
denoiser that also sees the upsampled low-resolution image (`models.conditioned.
ImageConditioned`), or, with `sr.objective="regression"`, the same network trained with a plain
L2 loss to predict the high-resolution image in one pass (the paper's regression baseline).

config.sr = dict(factor=4,            # low resolution = image_size / factor (box average)
                 noise_aug=0.0,       # training noise on the condition, std ~ U[0, noise_aug]
                 objective="diffusion" | "regression")

The regression network gets x_t = 0 and t = 0 and predicts the residual over the bicubic
upsampling: x_hat = x_lr + f(0, 0, x_lr), so it starts (zero-initialised output layer) at
bicubic.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen import config as config_lib
from jaxgen.data import from_uint8
from jaxgen.diffusion.sr import check_factor
from jaxgen.families.base import Task, sampling_params
from jaxgen.families.conditioning import Conditioning
from jaxgen.models.conditioned import ImageConditioned

OBJECTIVES = ("diffusion", "regression")
NUM_DEFAULT_IMAGES = 8   # training images whose low-resolution versions `generate` upsamples


@dataclasses.dataclass(frozen=True)
class SRConfig:
    """`config.sr`: the upsampling factor, the condition's noise augmentation and the
    objective ("diffusion": SR3; "regression": L2 to the high-resolution image)."""
    factor: int = 4
    noise_aug: float = 0.0
    objective: str = "diffusion"

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ValueError(f"config.sr.objective={self.objective!r}; choose one of "
                             f"{list(OBJECTIVES)}")
        if self.noise_aug < 0:
            raise ValueError(f"config.sr.noise_aug={self.noise_aug} must be >= 0 (0: none)")


def sr_settings(config) -> SRConfig | None:
    """The checked `config.sr` section, or None for a model without one."""
    if "sr" not in config:
        return None
    cfg = config_lib.section(SRConfig, config.sr, where="sr")
    check_factor(cfg.factor, config.data.image_size)
    return cfg


def build_sr_network(config, dataset, denoiser):
    """(ImageConditioned model, image Conditioning, pretrained(params) -> params, frozen)."""
    cfg = sr_settings(config)
    if config.model.get("num_classes", 0) or "text" in config:
        raise ValueError("config.sr is set together with model.num_classes or config.text; a "
                         "super-resolution model is conditioned on the low-resolution image "
                         "only: pass --config.model.num_classes=0")
    n = min(NUM_DEFAULT_IMAGES, len(dataset))
    images = np.asarray(from_uint8(np.asarray(dataset.images[np.arange(n)])), np.float32)
    cond = Conditioning("image", factor=cfg.factor, noise_aug=cfg.noise_aug,
                        default_images=images)
    return ImageConditioned(denoiser), cond, (lambda p: p), ()


def regression_forward(model, params, x_lr: jax.Array, *, train: bool) -> jax.Array:
    """x_hat = x_lr + f(0, 0, x_lr): (B, H, W, C) -> (B, H, W, C)."""
    zeros, t = jnp.zeros_like(x_lr), jnp.zeros(x_lr.shape[:1], jnp.int32)
    return x_lr + model.apply({"params": params}, zeros, t, x_lr, train=train)


def regression_loss(model, params, hr: jax.Array, x_lr: jax.Array) -> jax.Array:
    """Per-example mean squared error of the regression prediction, float32 (B,)."""
    err = regression_forward(model, params, x_lr, train=True) - hr
    return jnp.mean(jnp.square(err), axis=(1, 2, 3))


def make_regression_generate(model, cond: Conditioning):
    """(generate(params, *, rng, num, images=None, **ignored), info): one network pass."""
    @jax.jit
    def _run(params, x_lr):
        return jnp.clip(regression_forward(model, params, x_lr, train=False), -1.0, 1.0)

    def generate(params, *, rng, num, images=None, **options):
        """float32 (num, H, W, C): the regression estimates of `images`' (else the default
        images') high-resolution versions; sampler options do not apply and are ignored."""
        del rng, options
        return _run(params, cond.sample_input(num, images=images))

    return generate, lambda **options: dict(sampler="regression", steps=1, nfe=1)


def make_super_resolve(generate, info, cond: Conditioning) -> Task:
    """The "super_resolve" Task: run(state, images float32 (N, H/f, W/f, C) in [-1, 1], *,
    rng, use_ema=True, **sampler options) -> float32 (N, H, W, C)."""
    def run(state, images, *, rng, use_ema=True, **options):
        return generate(sampling_params(state, use_ema), rng=rng, num=len(images),
                        images=images, **options)

    def task_info(*, lr_consistency=False, **options) -> dict:
        extra = dict(lr_consistency=True) if lr_consistency else {}
        return dict(info(**options), factor=cond.factor, **extra)

    return Task(run, task_info)
