"""Sampling a diffusion family: any sampler of the registry, any spacing, classifier-free
guidance through one batched denoiser call (`jaxgen.diffusion.guidance.guided`)."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxgen.diffusion import SAMPLERS, nfe, sample, sampler_options
from jaxgen.diffusion.guidance import guided
from jaxgen.diffusion.sr import consistent_denoiser
from jaxgen.families.conditioning import Conditioning

# every option some sampler of the registry takes (eta, s_churn, ...), for sample.py flags
SAMPLER_OPTIONS = tuple(sorted({k for s in SAMPLERS for k in sampler_options(s)}))
GENERATE_OPTIONS = ("sampler", "steps", "spacing", "guidance", "guidance_interval", "labels",
                    "prompts", "use_ema", "clip_x0", "x_T", "lr_consistency", *SAMPLER_OPTIONS)


def resolve(defaults, *, sampler=None, steps=None, spacing=None, **options) -> dict:
    """The sampler, steps, spacing and sampler options of one call: given values, else the
    config's `sample` section (its eta only where the sampler takes one)."""
    sampler = sampler or defaults.sampler
    takes = sampler_options(sampler)
    if "eta" in takes and options.get("eta") is None:
        options["eta"] = float(defaults.get("eta", 0.0))
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - set(takes))
    if unknown:
        raise ValueError(f"sampler {sampler!r} takes no option {unknown[0]!r}; its options: "
                         f"{sorted(takes) or 'none'}")
    return dict(sampler=sampler, steps=int(steps or defaults.steps),
                spacing=spacing or defaults.get("spacing", "uniform"),
                options=tuple(sorted((k, float(v) if isinstance(takes[k], float) else v)
                                     for k, v in options.items())))


def conditioning(num: int, *, cond: Conditioning, labels=None, prompts=None, guidance=None,
                 guidance_interval=None, defaults, images=None) -> tuple:
    """(inputs, guidance weight, interval) of one call: `cond`'s input for `num` samples
    (class ids or prompt tokens from `labels` / `prompts`, else the classes / default prompts in
    turn; upsampled low-resolution `images` for a super-resolution model; None for an
    unconditional model), the weight w (`guidance`, default config.sample.guidance) and the
    sigma interval it applies in. Guidance for an unconditional or image-conditioned model is an
    error."""
    if cond.kind in ("none", "image") and (guidance is not None or
                                           guidance_interval is not None):
        raise ValueError(f"guidance={guidance} given, but this model is "
                         f"{'unconditional' if cond.kind == 'none' else 'image-conditioned'} "
                         f"(no class labels, no config.text): there is nothing to guide toward")
    inputs = cond.sample_input(num, labels=labels, prompts=prompts, images=images)
    weight = defaults.get("guidance", 1.0) if guidance is None else guidance
    interval = None if guidance_interval is None else tuple(map(float, guidance_interval))
    return None if inputs is None else jnp.asarray(inputs), jnp.float32(weight), interval


def denoiser(model, params, inputs, weight, *, cond: Conditioning, interval, schedule):
    """The samplers' denoise_fn(x_t, t) of a denoiser `model`, guided toward `inputs` with
    `weight` when the model is conditioned on a class or prompt; an image condition (super-
    resolution) is passed as it is."""
    apply = lambda x, t, y=None: model.apply({"params": params}, x, t, y)  # noqa: E731
    if cond.kind == "image":
        return functools.partial(apply, y=inputs)
    return apply if inputs is None else guided(apply, inputs, weight=weight,
                                               null_label=cond.null, interval=interval,
                                               schedule=schedule)


def consistency_input(cond: Conditioning, num: int, images) -> jax.Array:
    """The low-resolution images (num, h, w, C) that `lr_consistency=True` projects onto; an
    error for a model that is not super-resolution."""
    if cond.kind != "image":
        raise ValueError("lr_consistency=True given, but this model has no low-resolution "
                         "input (no config.sr); use it with a super-resolution workdir")
    return cond.low_res(num, images)


def make_generate(model, schedule, shape, *, cond: Conditioning, prediction: str, defaults):
    """(generate(params, ..., **options), info(**options)) for a denoiser `model` whose third
    argument is `cond`'s input (class ids, prompt tokens, or None)."""
    @functools.partial(jax.jit, static_argnames=("num", "sampler", "steps", "spacing",
                                                 "options", "interval", "clip_x0"))
    def _generate(params, rng, inputs, weight, x_T, lr, *, num, sampler, steps, spacing,
                  options, interval, clip_x0):
        fn = denoiser(model, params, inputs, weight, cond=cond, interval=interval,
                      schedule=schedule)
        if lr is not None:   # data consistency with the low-resolution input (jaxgen.diffusion.sr)
            fn = consistent_denoiser(fn, schedule, lr, cond.factor, prediction=prediction,
                                     clip=clip_x0)
        options = dict(options)
        return sample(fn, schedule, (num, *shape), rng=rng, sampler=sampler, steps=steps,
                      spacing=spacing, x_T=x_T, prediction=prediction, clip_x0=clip_x0,
                      eta=options.pop("eta", 0.0), **options)

    def generate(params, *, rng, num, guidance=None, guidance_interval=None, labels=None,
                 prompts=None, clip_x0=True, x_T=None, images=None, lr_consistency=False,
                 **options):
        """float32 (num, H, W, C) in [-1, 1]. Class-conditional models cycle through the
        classes (or `labels`, repeated to num), text models through `prompts` (repeated to
        num; "" is the unconditional sample), with guidance weight w (`guidance`, default
        config.sample.guidance; eps~ = eps_c + w (eps_c - eps_null)); `guidance_interval`
        (lo, hi) in sigma_vp limits it to those noise levels. A super-resolution model
        upsamples `images` (float32 (n, H/f, W/f, C), repeated to num; default: the low-
        resolution versions of a few training images); `lr_consistency` projects every x0
        prediction onto the images whose box average is the input (`sr.project_x0`)."""
        inputs, weight, interval = conditioning(
            num, cond=cond, labels=labels, prompts=prompts, guidance=guidance,
            guidance_interval=guidance_interval, defaults=defaults, images=images)
        lr = consistency_input(cond, num, images) if lr_consistency else None
        return _generate(params, rng, inputs, weight, x_T, lr, num=num, interval=interval,
                         clip_x0=bool(clip_x0), **resolve(defaults, **options))

    def info(**options) -> dict:
        """{"sampler", "steps", "spacing", "nfe"} that `generate(**options)` would use."""
        r = resolve(defaults, **{k: v for k, v in options.items() if k in
                                 ("sampler", "steps", "spacing", *SAMPLER_OPTIONS)})
        # guidance runs the conditional and unconditional passes as one call of a doubled batch
        return dict(sampler=r["sampler"], steps=r["steps"], spacing=r["spacing"],
                    nfe=nfe(r["sampler"], r["steps"]))

    return generate, info
