"""Diffusion family: a denoiser (`model.arch`: U-Net or DiT) trained with the DDPM objective
(Ho et al. 2020), epsilon- or v-prediction, conditioned on nothing, a class (`model.num_classes`)
or a prompt (`config.text`: a byte-level text encoder, see families/text_cond.py), with
classifier-free guidance toward the condition; or on an image: the low-resolution one (`config.
sr`, families/diffusion_sr.py) or the masked one (`config.inpaint`, families/diffusion_inpaint.
py)."""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax

from jaxgen import config as config_lib
from jaxgen.diffusion import PREDICTIONS, SCHEDULES, diffusion_loss, make_schedule
from jaxgen.diffusion.likelihood import nll_bound
from jaxgen.families.conditioning import Conditioning
from jaxgen.families.diffusion_edit import make_edit
from jaxgen.families.diffusion_inpaint import build_inpaint_network, make_model_inpaint
from jaxgen.families.diffusion_sampling import GENERATE_OPTIONS, make_generate
from jaxgen.families.diffusion_sr import (build_sr_network, make_regression_generate,
                                          make_super_resolve, regression_loss, sr_settings)
from jaxgen.families.text_cond import build_text_network
from jaxgen.families.base import Family, example_keys, mean_over_batch, sampling_params
from jaxgen.models.registry import arch_of, denoiser_config, make_denoiser, tensor_rules
from jaxgen.optim import apply_gradients, ema_update, freeze_groups, global_norm, make_optimizer


@dataclasses.dataclass(frozen=True)
class DiffusionConfig:
    """`config.diffusion`: the noise schedule (T = num_steps training steps), what the network
    predicts ("eps" or "v"), and p_uncond, the probability that a label or prompt is replaced by
    the null class or the empty prompt in training (classifier-free guidance)."""
    schedule: str = "cosine"
    num_steps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    prediction: str = "eps"
    p_uncond: float = 0.1
    min_snr_gamma: float = 0.0    # > 0: Min-SNR-gamma loss weighting (Hang et al. 2023)

    def __post_init__(self):
        if self.schedule not in SCHEDULES or self.prediction not in PREDICTIONS:
            raise ValueError(f"config.diffusion: schedule={self.schedule!r} (one of "
                             f"{list(SCHEDULES)}), prediction={self.prediction!r} (one of "
                             f"{list(PREDICTIONS)})")
        if not 0.0 <= self.p_uncond <= 1.0:
            raise ValueError(f"config.diffusion.p_uncond={self.p_uncond} must be in [0, 1]")
        if self.min_snr_gamma < 0:
            raise ValueError(f"config.diffusion.min_snr_gamma={self.min_snr_gamma} must be >= 0 "
                             f"(0 turns the weighting off; Hang et al. 2023 use 5)")


def model_config(config, num_classes: int):
    """The denoiser's typed config (`config.model.arch`: UNetConfig, ...) from `config.model`;
    `model.num_classes` is a switch (0: no labels, else the dataset's class count is used) and
    the output channels follow the data."""
    return denoiser_config(config, num_classes=num_classes, out_channels=config.data.channels)


def _draw_t_noise(key, num_steps: int, shape):
    """Per-example timestep t ~ U{0..T-1} and noise eps ~ N(0, I)."""
    k_t, k_eps = jax.random.split(key)
    return jax.random.randint(k_t, (), 0, num_steps), jax.random.normal(k_eps, shape)


def train_forward(model, params, x_t, t, label, keys, *, dropout: bool):
    """The network in training mode. With dropout, each example is run with its own dropout key
    (vmap over the batch), derived from its global index like its noise, so a batch split over
    devices or processes draws the same masks as one device."""
    if not dropout:
        return model.apply({"params": params}, x_t, t, label, train=True)

    def one(x, t_, y, key):
        y = None if y is None else y[None]
        return model.apply({"params": params}, x[None], t_[None], y, train=True,
                           rngs={"dropout": jax.random.fold_in(key, 11)})[0]
    return jax.vmap(one)(x_t, t, label, keys)


def make_network(config, dataset):
    """(model, Conditioning, pretrained(params) -> params, frozen parameter groups): the
    denoiser of `config.model.arch`, behind a text encoder when the config has a `text`
    section; `model(x, t, cond_input, *, train)` either way."""
    num_classes = dataset.num_classes if config.model.num_classes else 0
    denoiser = make_denoiser(config, num_classes=num_classes, out_channels=config.data.channels)
    if "inpaint" in config:
        return build_inpaint_network(config, dataset, denoiser)
    if "sr" in config:
        return build_sr_network(config, dataset, denoiser)
    if "text" not in config:
        kind = "class" if num_classes else "none"
        return denoiser, Conditioning(kind, num_classes=num_classes), (lambda p: p), ()
    if num_classes:
        raise ValueError(f"config.model.num_classes={config.model.num_classes} and config.text "
                         f"are both set; a model is conditioned on a class or on a prompt: pass "
                         f"--config.model.num_classes=0")
    return build_text_network(config, dataset, denoiser)


def uses_dropout(config) -> bool:
    """Whether a training step draws dropout masks (denoiser, or a text encoder not frozen)."""
    text = config.get("text") or {}
    return bool(config.model.get("dropout", 0.0)
                or (text.get("dropout", 0.0) and not text.get("freeze", False)))


def param_groups(config, params) -> dict:
    """{"unet" | "dit": denoiser parameters[, "text": encoder parameters]}."""
    if "sr" in config or "inpaint" in config:
        return {arch_of(config.model): params["denoiser"]}
    if "text" not in config:
        return {arch_of(config.model): params}
    return {arch_of(config.model): params["denoiser"], "text": params["text"]}


def build(config, dataset) -> Family:
    model, cond, pretrained, frozen = make_network(config, dataset)
    dropout = uses_dropout(config)
    dcfg = config_lib.section(DiffusionConfig, config.diffusion, where="diffusion")
    schedule = make_schedule(dcfg.schedule, dcfg.num_steps, beta_start=dcfg.beta_start,
                             beta_end=dcfg.beta_end)
    tx, lr = make_optimizer(config.optim, config.train.steps)
    tx = freeze_groups(tx, frozen)
    shape = (config.data.image_size, config.data.image_size, config.data.channels)
    prediction, ema_decay = dcfg.prediction, config.optim.ema_decay
    sr = sr_settings(config)
    regression = sr is not None and sr.objective == "regression"

    def init(rng):
        x, t = jnp.zeros((1, *shape)), jnp.zeros((1,), jnp.int32)
        params = pretrained(model.init(rng, x, t, cond.null_input(1))["params"])
        ema = dict(ema_params=params) if ema_decay > 0 else {}
        return dict(params=params, opt_state=tx.init(params), **ema)

    def loss_fn(params, batch, rng, axis_name):
        keys = example_keys(rng, batch["index"])
        t, noise = jax.vmap(lambda k: _draw_t_noise(k, schedule.num_steps, shape))(keys)
        y = cond.train_input(batch, keys, dcfg.p_uncond)
        if regression:
            return mean_over_batch(regression_loss(model, params, batch["image"], y), axis_name)
        denoise = lambda x_t, t_: train_forward(model, params, x_t, t_, y, keys,  # noqa: E731
                                                dropout=dropout)
        per_example = diffusion_loss(denoise, schedule, batch["image"], t=t, noise=noise,
                                     prediction=prediction, min_snr_gamma=dcfg.min_snr_gamma)
        return mean_over_batch(per_example, axis_name)

    def train_step(state, batch, *, rng, axis_name=None):
        loss, grads = jax.value_and_grad(loss_fn)(state["params"], batch, rng, axis_name)
        params, opt_state = apply_gradients(tx, grads, state["opt_state"], state["params"])
        new = {**state, "params": params, "opt_state": opt_state}
        if ema_decay > 0:
            new["ema_params"] = ema_update(state["ema_params"], params, state["step"], ema_decay)
        metrics = dict(loss=loss, grad_norm=global_norm(grads), lr=lr(state["step"]))
        return new, metrics

    _generate, info = make_regression_generate(model, cond) if regression else make_generate(
        model, schedule, shape, cond=cond, prediction=prediction, defaults=config.sample)

    def generate(state, *, rng, num, use_ema=True, **options):
        """Samples `num` images (see `diffusion_sampling.make_generate` for the options)."""
        return _generate(sampling_params(state, use_ema), rng=rng, num=num, **options)

    @functools.partial(jax.jit, static_argnames=("num_timesteps",))
    def _evaluate(params, images, rng, *, num_timesteps):
        null = cond.null_input(images.shape[0])
        denoise = lambda x_t, t: model.apply({"params": params}, x_t, t, null)  # noqa: E731
        return nll_bound(denoise, schedule, images, rng=rng, num_timesteps=num_timesteps,
                         prediction=prediction)

    def evaluate(state, batch, *, rng, num_timesteps=None, use_ema=True):
        """Negative ELBO of batch["image"] (B, H, W, C), 8-bit values in [-1, 1], in bits/dim:
        {"bits_per_dim", "prior_bpd", "diffusion_bpd", "decoder_bpd"}, float32 (B,) each. The
        sum over steps is estimated on `num_timesteps` strata (default config.eval.bpd_timesteps,
        else 50; T - 1 is exact). Conditional models are scored with the null class or the
        empty prompt."""
        k = num_timesteps or config.eval.get("bpd_timesteps", 50)
        params = sampling_params(state, use_ema)
        return _evaluate(params, jnp.asarray(batch["image"]), rng,
                         num_timesteps=min(int(k), schedule.num_steps - 1))

    # a mask-conditioned model completes given images only (tasks["inpaint"])
    return Family(init=init, train_step=train_step, generate=None if cond.inpaint else generate,
                  param_groups=lambda state: param_groups(config, state["params"]),
                  sample_options=GENERATE_OPTIONS, sample_info=info, evaluate=evaluate,
                  inference_keys=("params", "ema_params"),
                  tensor_rules=tensor_rules(config, "denoiser/" if "text" in config else ""),
                  tasks=tasks(model, schedule, cond, _generate, info, prediction, config))


def tasks(model, schedule, cond, generate, info, prediction, config) -> dict:
    """A super-resolution model's {"super_resolve"}, a mask-conditioned model's {"inpaint"},
    else {"img2img", "inpaint"} (RePaint)."""
    if cond.inpaint:
        return {"inpaint": make_model_inpaint(generate, info, cond)}
    if cond.kind == "image":
        return {"super_resolve": make_super_resolve(generate, info, cond)}
    return make_edit(model, schedule, cond=cond, prediction=prediction, defaults=config.sample)
