"""Sampling a diffusion family: any sampler of the registry, any spacing, classifier-free
guidance through one batched denoiser call (`jaxgen.diffusion.guidance.guided`)."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgen.diffusion import SAMPLERS, nfe, sample, sampler_options
from jaxgen.diffusion.guidance import guided

# every option some sampler of the registry takes (eta, s_churn, ...), for sample.py flags
SAMPLER_OPTIONS = tuple(sorted({k for s in SAMPLERS for k in sampler_options(s)}))
GENERATE_OPTIONS = ("sampler", "steps", "spacing", "guidance", "guidance_interval", "labels",
                    "use_ema", "clip_x0", "x_T", *SAMPLER_OPTIONS)


def check_labels(labels, num: int, num_classes: int) -> np.ndarray:
    """`labels` (any length >= 1) repeated to `num`, as int32; each in [0, num_classes)."""
    labels = np.asarray(labels).reshape(-1)
    if not num_classes:
        raise ValueError(f"labels={labels.tolist()} given, but this model is unconditional "
                         f"(model.num_classes=0); sample it without labels")
    if labels.size == 0 or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels={labels.tolist()}: each must be a class id in "
                         f"[0, {num_classes - 1}]")
    return np.resize(labels, num).astype(np.int32)


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
                options=tuple(sorted((k, float(v)) for k, v in options.items())))


def conditioning(num: int, labels, guidance, guidance_interval, *, num_classes: int,
                 defaults) -> tuple[jax.Array, jax.Array, tuple[float, float] | None]:
    """(labels int32 (num,), guidance weight, interval) of one call: class-conditional models
    cycle through the classes (or `labels`, repeated to num) with weight w (`guidance`, default
    config.sample.guidance); guidance for an unconditional model is an error."""
    if not num_classes and (guidance is not None or guidance_interval is not None):
        raise ValueError(f"guidance={guidance} given, but this model is unconditional "
                         f"(model.num_classes=0): there is no class to guide toward")
    labels = (np.arange(num) % max(num_classes, 1) if labels is None
              else check_labels(labels, num, num_classes))
    weight = defaults.get("guidance", 1.0) if guidance is None else guidance
    interval = None if guidance_interval is None else tuple(map(float, guidance_interval))
    return jnp.asarray(labels, jnp.int32), jnp.float32(weight), interval


def denoiser(model, params, labels, weight, *, num_classes: int, interval, schedule):
    """The samplers' denoise_fn(x_t, t) of a U-Net-like `model`, guided toward `labels` with
    `weight` when the model is class-conditional."""
    apply = lambda x, t, y=None: model.apply({"params": params}, x, t, y)  # noqa: E731
    return (guided(apply, labels, weight=weight, null_label=num_classes, interval=interval,
                   schedule=schedule) if num_classes else apply)


def make_generate(model, schedule, shape, *, num_classes: int, prediction: str, defaults):
    """(generate(state-params ..., **options), info(**options)) for a U-Net-like `model`."""
    @functools.partial(jax.jit, static_argnames=("num", "sampler", "steps", "spacing",
                                                 "options", "interval", "clip_x0"))
    def _generate(params, rng, labels, weight, x_T, *, num, sampler, steps, spacing, options,
                  interval, clip_x0):
        fn = denoiser(model, params, labels, weight, num_classes=num_classes,
                      interval=interval, schedule=schedule)
        options = dict(options)
        return sample(fn, schedule, (num, *shape), rng=rng, sampler=sampler, steps=steps,
                      spacing=spacing, x_T=x_T, prediction=prediction, clip_x0=clip_x0,
                      eta=options.pop("eta", 0.0), **options)

    def generate(params, *, rng, num, guidance=None, guidance_interval=None, labels=None,
                 clip_x0=True, x_T=None, **options):
        """float32 (num, H, W, C) in [-1, 1]. Class-conditional models cycle through the
        classes (or `labels`, repeated to num) with guidance weight w (`guidance`, default
        config.sample.guidance; eps~ = eps_c + w (eps_c - eps_null)); `guidance_interval`
        (lo, hi) in sigma_vp limits it to those noise levels."""
        labels, weight, interval = conditioning(num, labels, guidance, guidance_interval,
                                                num_classes=num_classes, defaults=defaults)
        return _generate(params, rng, labels, weight, x_T, num=num, interval=interval,
                         clip_x0=bool(clip_x0), **resolve(defaults, **options))

    def info(**options) -> dict:
        """{"sampler", "steps", "spacing", "nfe"} that `generate(**options)` would use."""
        r = resolve(defaults, **{k: v for k, v in options.items() if k in
                                 ("sampler", "steps", "spacing", *SAMPLER_OPTIONS)})
        # guidance runs the conditional and unconditional passes as one call of a doubled batch
        return dict(sampler=r["sampler"], steps=r["steps"], spacing=r["spacing"],
                    nfe=nfe(r["sampler"], r["steps"]))

    return generate, info
