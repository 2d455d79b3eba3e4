"""Image-to-image tasks of a diffusion family: img2img (SDEdit, `jaxgen.diffusion.img2img`) and
RePaint inpainting (`jaxgen.diffusion.inpaint`), with the samplers, spacings, class labels and
classifier-free guidance of plain sampling (`diffusion_sampling`)."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.diffusion import nfe
from jaxgen.diffusion.img2img import check_strength, sdedit, start_step
from jaxgen.diffusion.inpaint import check_repaint, repaint, repaint_nfe
from jaxgen.families.base import Task, sampling_params
from jaxgen.families.conditioning import Conditioning
from jaxgen.families.diffusion_sampling import conditioning, denoiser, resolve

REPAINT_DEFAULTS = {"jump_length": 10, "resample": 10}   # Lugmayr et al. 2022, sec. 5
_STATIC = ("sampler", "steps", "spacing", "options", "interval", "clip_x0")


def _split(kwargs: dict) -> tuple[dict, dict]:
    """(conditioning keywords, sampler keywords) of one call."""
    cond = {k: kwargs.pop(k, None) for k in ("labels", "prompts", "guidance",
                                             "guidance_interval")}
    return cond, kwargs


def make_edit(model, schedule, *, cond: Conditioning, prediction: str, defaults) -> dict:
    """{"img2img": Task, "inpaint": Task}: run(state, images float32 (N, H, W, C) in [-1, 1],
    *, rng, ...) -> float32 (N, H, W, C), and info(...) -> what it runs."""
    def fn(params, labels, weight, interval):
        return denoiser(model, params, labels, weight, cond=cond, interval=interval,
                        schedule=schedule)

    @functools.partial(jax.jit, static_argnames=("strength", *_STATIC))
    def _img2img(params, rng, x0, labels, weight, *, strength, sampler, steps, spacing,
                 options, interval, clip_x0):
        options = dict(options)
        return sdedit(fn(params, labels, weight, interval), schedule, x0, rng=rng,
                      strength=strength, sampler=sampler, steps=steps, spacing=spacing,
                      prediction=prediction, clip_x0=clip_x0, eta=options.pop("eta", 0.0),
                      **options)

    @functools.partial(jax.jit, static_argnames=("jump_length", "resample", *_STATIC))
    def _inpaint(params, rng, x0, fill, labels, weight, *, jump_length, resample, sampler,
                 steps, spacing, options, interval, clip_x0):
        options = dict(options)
        return repaint(fn(params, labels, weight, interval), schedule, x0, fill, rng=rng,
                       jump_length=jump_length, resample=resample, sampler=sampler,
                       steps=steps, spacing=spacing, prediction=prediction, clip_x0=clip_x0,
                       eta=options.pop("eta", 0.0), **options)

    def prepare(state, images, use_ema, clip_x0, kwargs):
        """(params, x0, labels, weight, static keywords) of one call."""
        given, kwargs = _split(kwargs)
        labels, weight, interval = conditioning(len(images), cond=cond, defaults=defaults,
                                                **given)
        static = dict(interval=interval, clip_x0=bool(clip_x0), **resolve(defaults, **kwargs))
        params = sampling_params(state, use_ema)
        return params, jnp.asarray(images, jnp.float32), labels, weight, static

    def img2img(state, images, *, rng, strength, use_ema=True, clip_x0=True, **kwargs):
        """SDEdit of `images` at `strength` in [0, 1] (0: the input, 1: plain sampling)."""
        params, x0, labels, weight, static = prepare(state, images, use_ema, clip_x0, kwargs)
        return _img2img(params, rng, x0, labels, weight, strength=check_strength(strength),
                        **static)

    def inpaint(state, images, *, rng, mask, use_ema=True, clip_x0=True,
                jump_length=REPAINT_DEFAULTS["jump_length"],
                resample=REPAINT_DEFAULTS["resample"], **kwargs):
        """RePaint of `images` where `mask` (bool (N or 1, H, W, 1)) is True."""
        params, x0, labels, weight, static = prepare(state, images, use_ema, clip_x0, kwargs)
        check_repaint(static["sampler"], jump_length, resample)
        fill = jnp.asarray(np.asarray(mask, bool))
        return _inpaint(params, rng, x0, fill, labels, weight, jump_length=int(jump_length),
                        resample=int(resample), **static)

    return {"img2img": Task(img2img, functools.partial(img2img_info, schedule, defaults)),
            "inpaint": Task(inpaint, functools.partial(inpaint_info, defaults))}


def _sampling(defaults, kwargs) -> dict:
    """The resolved sampler settings of a call's keywords (conditioning keywords set aside)."""
    return resolve(defaults, **{k: v for k, v in kwargs.items()
                                if k not in ("labels", "prompts", "guidance",
                                             "guidance_interval", "use_ema", "clip_x0")})


def img2img_info(schedule, defaults, *, strength, **kwargs) -> dict:
    """{"sampler", "steps", "spacing", "t_start", "nfe"}: the grid step SDEdit starts at."""
    r = _sampling(defaults, kwargs)
    k, t_start = start_step(schedule, strength, r["steps"], r["spacing"])
    return dict(sampler=r["sampler"], steps=r["steps"], spacing=r["spacing"], t_start=t_start,
                nfe=0 if t_start is None else nfe(r["sampler"], r["steps"] - k))


def inpaint_info(defaults, *, jump_length=REPAINT_DEFAULTS["jump_length"],
                 resample=REPAINT_DEFAULTS["resample"], mask=None, **kwargs) -> dict:
    """{"sampler", "steps", "spacing", "jump_length", "resample", "nfe"}."""
    r = _sampling(defaults, kwargs)
    check_repaint(r["sampler"], jump_length, resample)
    return dict(sampler=r["sampler"], steps=r["steps"], spacing=r["spacing"],
                jump_length=jump_length, resample=resample,
                nfe=repaint_nfe(r["sampler"], r["steps"], jump_length, resample))
