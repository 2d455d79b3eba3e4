"""GAN family: a DCGAN (Radford et al. 2015) trained by alternating updates in one jitted step,
D first, then G against the updated D (Goodfellow et al. 2014, Algorithm 1 with k = 1).

State: g_params, d_params, their two optimiser states, g_stats / d_stats (BatchNorm running
statistics of G, spectral-norm power-iteration vectors of D; present only when used) and
g_ema_params (present when optim.ema_decay > 0). Samples come from the EMA generator when
there is one; with batch norm its statistics are "standing statistics" (Brock et al. 2019,
BigGAN sec. 3.1 / appendix C): the batch statistics of one large batch of EMA-G outputs.

Logged: loss (= g_loss), d_loss, g_loss, d_real and d_fake (the batch means of sigmoid(D(x))
and sigmoid(D(G(z))), i.e. D's probability of "real", also under the hinge loss), the two
gradient norms, lr.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax

from jaxgen.families.base import Family, example_keys, mean_over_batch
from jaxgen.models.dcgan import DCGANConfig, Discriminator, Generator
from jaxgen import config as config_lib
from jaxgen.optim import apply_gradients, ema_update, global_norm, make_optimizer

LOSSES = ("non_saturating", "hinge")
STANDING_BATCH = 1024  # latents whose batch statistics become the EMA generator's BN statistics


def model_config(config) -> DCGANConfig:
    return config_lib.section(DCGANConfig, config.model, where="model",
                              image_size=config.data.image_size, channels=config.data.channels)


def d_loss(kind: str, logit_real, logit_fake):
    """Per-example discriminator loss (B,) from logits. Non-saturating BCE:
    -log D(x) - log(1 - D(G(z))) = softplus(-l_real) + softplus(l_fake); hinge (Lim & Ye 2017):
    relu(1 - l_real) + relu(1 + l_fake)."""
    if kind == "hinge":
        return jax.nn.relu(1.0 - logit_real) + jax.nn.relu(1.0 + logit_fake)
    return jax.nn.softplus(-logit_real) + jax.nn.softplus(logit_fake)


def g_loss(kind: str, logit_fake):
    """Per-example generator loss (B,): non-saturating -log D(G(z)) = softplus(-l); hinge: -l."""
    return -logit_fake if kind == "hinge" else jax.nn.softplus(-logit_fake)


def latents(key, index, z_dim: int):
    """z ~ N(0, I), one draw per example from its global index: (B,) -> (B, z_dim)."""
    return jax.vmap(lambda k: jax.random.normal(k, (z_dim,)))(example_keys(key, index))


def variables(state, prefix: str, params=None) -> dict:
    """Flax variables of "g" or "d": params (or `params`) plus batch_stats when kept."""
    out = {"params": state[f"{prefix}_params"] if params is None else params}
    if f"{prefix}_stats" in state:
        out["batch_stats"] = state[f"{prefix}_stats"]
    return out


def apply(model, variables_, *args, **kwargs):
    """model.apply that also returns the updated "batch_stats" (or None when there are none)."""
    if "batch_stats" not in variables_:
        return model.apply(variables_, *args, **kwargs), None
    out, new = model.apply(variables_, *args, mutable=["batch_stats"], **kwargs)
    return out, new["batch_stats"]


def with_stats(state, prefix: str, stats) -> dict:
    return {**state, f"{prefix}_stats": stats} if stats is not None else state


def check_config(config) -> None:
    if config.gan.loss not in LOSSES:
        raise ValueError(f"config.gan.loss={config.gan.loss!r} is not known; "
                         f"choose one of {LOSSES}")


@dataclasses.dataclass(frozen=True)
class Parts:
    """What the pure step functions below close over: the two nets and their optimisers."""
    cfg: DCGANConfig
    gen: Generator
    disc: Discriminator
    tx_g: optax.GradientTransformation
    tx_d: optax.GradientTransformation
    loss: str
    ema_decay: float


def init_state(p: Parts, rng) -> dict:
    k_g, k_d = jax.random.split(rng)
    g_vars = p.gen.init(k_g, jnp.zeros((1, p.cfg.z_dim)))
    d_vars = p.disc.init(k_d, jnp.zeros((1, p.cfg.image_size, p.cfg.image_size, p.cfg.channels)))
    state = dict(g_params=g_vars["params"], d_params=d_vars["params"],
                 g_opt_state=p.tx_g.init(g_vars["params"]),
                 d_opt_state=p.tx_d.init(d_vars["params"]))
    state = with_stats(with_stats(state, "g", g_vars.get("batch_stats")),
                       "d", d_vars.get("batch_stats"))
    return {**state, "g_ema_params": g_vars["params"]} if p.ema_decay > 0 else state


def d_update(p: Parts, state, batch, key, axis_name):
    """One D step on real x and G(z), z from `key` (G in train mode: its BN statistics move on)."""
    z = latents(key, batch["index"], p.cfg.z_dim)
    fake, g_stats = apply(p.gen.clone(axis_name=axis_name), variables(state, "g"), z, train=True)
    both = jnp.concatenate([batch["image"], jax.lax.stop_gradient(fake)])    # (2B, H, W, C)

    def loss_fn(d_params):
        logits, d_stats = apply(p.disc, variables(state, "d", d_params), both, update_stats=True)
        logit_real, logit_fake = jnp.split(logits, 2)                        # (B,), (B,)
        loss = mean_over_batch(d_loss(p.loss, logit_real, logit_fake), axis_name)
        return loss, (d_stats, logit_real, logit_fake)
    (loss, (d_stats, l_real, l_fake)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state["d_params"])
    params, opt_state = apply_gradients(p.tx_d, grads, state["d_opt_state"], state["d_params"])
    state = with_stats(with_stats(dict(state, d_params=params, d_opt_state=opt_state),
                                  "g", g_stats), "d", d_stats)
    return state, dict(d_loss=loss, d_real=mean_over_batch(jax.nn.sigmoid(l_real), axis_name),
                       d_fake=mean_over_batch(jax.nn.sigmoid(l_fake), axis_name),
                       d_grad_norm=global_norm(grads))


def g_update(p: Parts, state, batch, key, axis_name):
    """One G step against the updated D (D's spectral-norm state is read, not advanced),
    then the EMA of G's weights."""
    z = latents(key, batch["index"], p.cfg.z_dim)

    def loss_fn(g_params):
        g = p.gen.clone(axis_name=axis_name)
        fake, g_stats = apply(g, variables(state, "g", g_params), z, train=True)
        logit = p.disc.apply(variables(state, "d"), fake, update_stats=False)   # (B,)
        return mean_over_batch(g_loss(p.loss, logit), axis_name), g_stats
    (loss, g_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["g_params"])
    params, opt_state = apply_gradients(p.tx_g, grads, state["g_opt_state"], state["g_params"])
    state = with_stats(dict(state, g_params=params, g_opt_state=opt_state), "g", g_stats)
    if p.ema_decay > 0:
        state["g_ema_params"] = ema_update(state["g_ema_params"], params, state["step"],
                                           p.ema_decay)
    return state, dict(g_loss=loss, g_grad_norm=global_norm(grads))


def build(config, dataset) -> Family:
    check_config(config)
    cfg = model_config(config)
    tx_g, lr = make_optimizer(config.optim, config.train.steps)
    tx_d, _ = make_optimizer(config.optim, config.train.steps)
    p = Parts(cfg, Generator(cfg), Discriminator(cfg), tx_g, tx_d, config.gan.loss,
              config.optim.ema_decay)

    def train_step(state, batch, *, rng, axis_name=None):
        """D first, then G, each with its own key; logs loss = g_loss."""
        k_d, k_g = jax.random.split(rng)
        state, d_metrics = d_update(p, state, batch, k_d, axis_name)
        state, g_metrics = g_update(p, state, batch, k_g, axis_name)
        return state, dict(loss=g_metrics["g_loss"], **d_metrics, **g_metrics,
                           lr=lr(state["step"]))

    generate = make_generate(p.gen, cfg, use_stats=cfg.batch_norm, has_ema=p.ema_decay > 0)
    return Family(init=functools.partial(init_state, p), train_step=train_step,
                  generate=generate,
                  param_groups=lambda state: {"generator": state["g_params"],
                                              "discriminator": state["d_params"]},
                  sample_options=("use_ema",),
                  inference_keys=("g_params", "g_ema_params", "g_stats"))


def standing_stats(gen: Generator, params, stats, z_dim: int):
    """BN statistics for the EMA generator: one train-mode pass over STANDING_BATCH fixed
    latents with momentum 0, so the stored running statistics are that batch's own."""
    z = jax.random.normal(jax.random.PRNGKey(0), (STANDING_BATCH, z_dim))
    _, new = gen.clone(bn_momentum=0.0).apply({"params": params, "batch_stats": stats}, z,
                                              train=True, mutable=["batch_stats"])
    return new["batch_stats"]


def make_generate(gen, cfg: DCGANConfig, *, use_stats: bool, has_ema: bool):
    """generate(state, *, rng, num, use_ema=True) -> (num, H, W, C) in [-1, 1]. The EMA
    generator's standing statistics are computed once per state (`reuse_last`): chunked
    sampling of one state (FD over thousands of samples) pays for them once, not per chunk."""
    @functools.partial(jax.jit, static_argnames=("num",))
    def _generate(variables, rng, *, num):
        return gen.apply(variables, jax.random.normal(rng, (num, cfg.z_dim)), train=False)

    ema_stats = reuse_last(jax.jit(functools.partial(standing_stats, gen, z_dim=cfg.z_dim)))

    def generate(state, *, rng, num, use_ema=True):
        """Samples G(z), z ~ N(0, I); from the EMA generator when kept and `use_ema`."""
        ema = bool(use_ema and has_ema)
        variables = {"params": state["g_ema_params"] if ema else state["g_params"]}
        if use_stats:
            variables["batch_stats"] = (ema_stats(variables["params"], state["g_stats"])
                                        if ema else state["g_stats"])
        return _generate(variables, rng, num=num)
    return generate


def reuse_last(fn):
    """fn(*args) that returns its previous result when called again with the very same
    jax.Array objects (they are immutable, so the same objects mean the same values); any
    other argument, e.g. a NumPy array that could have changed in place, always recomputes."""
    last = {}

    def call(*args):
        leaves = jax.tree.leaves(args)
        if not all(isinstance(x, jax.Array) for x in leaves):
            return fn(*args)
        same = "leaves" in last and len(leaves) == len(last["leaves"]) and all(
            a is b for a, b in zip(leaves, last["leaves"]))
        if not same:
            last.update(leaves=leaves, out=fn(*args))
        return last["out"]
    return call
