"""VAE family: a convolutional VAE (Kingma & Welling 2014) trained on the beta-weighted ELBO
(Higgins et al. 2017; beta = 1 is the true ELBO).

Likelihood: a per-pixel discretised logistic p(x|z) on the 256 levels of 8-bit data (Salimans
et al. 2017, PixelCNN++ eq. 2, one component): each level gets the logistic mass of its bin,
the edge bins reaching to -inf / +inf, so the masses sum to 1 and -ELBO / (D ln 2) is a true
upper bound on the data's bits/dim, comparable with any other model of the same 8-bit data.
(A Bernoulli needs binarised data, i.e. other data; a 256-way categorical costs 256 output
channels per pixel.) Samples and reconstructions show the decoder mean, not a noisy draw.
The prior is N(0, I) or a learned N(m, L L^T) (`model.learned_prior`, see jaxgen.models.vae).
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgen.data import batch_at, from_uint8
from jaxgen.families.base import Family, example_keys, mean_over_batch, sampling_params
from jaxgen.models.vae import VAE, VAEConfig
from jaxgen import config as config_lib
from jaxgen.optim import apply_gradients, ema_update, global_norm, make_optimizer

HALF_BIN = 1.0 / 255.0  # half the width 2/255 of one 8-bit level on the [-1, 1] scale
MIN_LOG_SCALE = -7.0    # as PixelCNN++: keeps 1/s finite early in training


def model_config(config) -> VAEConfig:
    return config_lib.section(VAEConfig, config.model, where="model",
                              image_size=config.data.image_size, channels=config.data.channels)


def discretized_logistic_logp(x, mean, log_scale):
    """log P(x) of x on the 8-bit grid {-1, -1 + 2/255, ..., 1} under a logistic(mean, s)
    discretised into bins [x - 1/255, x + 1/255]; the bin of -1 (of +1) reaches to -inf (+inf).
    Uses sigma(a) - sigma(b) = sigma(a) sigma(-b) (1 - e^-(a-b)), stable for any a > b.
    All arguments broadcast; returns the elementwise log-probability in nats."""
    inv_s = jnp.exp(-jnp.maximum(log_scale, MIN_LOG_SCALE))
    a, b = inv_s * (x - mean + HALF_BIN), inv_s * (x - mean - HALF_BIN)   # bin edges, a > b
    log_cdf_a = -jax.nn.softplus(-a)                                      # log sigma(a)
    log_sf_b = -jax.nn.softplus(b)                                        # log(1 - sigma(b))
    log_mass = log_cdf_a + log_sf_b + jnp.log(-jnp.expm1(b - a))
    return jnp.where(x < -1 + HALF_BIN, log_cdf_a, jnp.where(x > 1 - HALF_BIN, log_sf_b, log_mass))


def gaussian_kl(mu, log_var, m, tril):
    """KL(N(mu, diag sigma^2) || N(m, S)), S = L L^T, sigma^2 = e^log_var, in nats:
    1/2 [tr(S^-1 diag sigma^2) + (mu - m)^T S^-1 (mu - m) - d + log|S| - sum log sigma^2];
    for m = 0, L = I it is 1/2 sum(mu^2 + sigma^2 - 1 - log sigma^2) (Kingma & Welling 2014,
    appendix B). mu, log_var: (B, d); m: (d,); tril: L (d, d) -> (B,)."""
    d = mu.shape[-1]
    l_inv = jax.scipy.linalg.solve_triangular(tril, jnp.eye(d), lower=True)  # (d, d)
    trace = jnp.exp(log_var) @ jnp.sum(l_inv**2, axis=0)      # (S^-1)_jj = sum_i (L^-1)_ij^2
    w = (mu - m) @ l_inv.T                                    # L^-1 (mu - m): (B, d)
    log_det = 2.0 * jnp.sum(jnp.log(jnp.diag(tril)))
    return 0.5 * (trace + jnp.sum(w**2, axis=-1) - d + log_det - jnp.sum(log_var, axis=-1))


def bits_per_dim(nll_nats, num_dims: int):
    """nats per example -> bits per dimension: nll / (D ln 2)."""
    return nll_nats / (num_dims * math.log(2.0))


def elbo_terms(model, params, x, eps):
    """Per-example single-sample ELBO terms, (B,) each, in nats:
    recon = log p(x|z), z = mu + sigma * eps (reparameterisation); kl = KL(q(z|x) || p(z));
    elbo = recon - kl."""
    mu, log_var = model.apply({"params": params}, x, method="encode")      # (B, d) each
    z = mu + jnp.exp(0.5 * log_var) * eps                                   # (B, d)
    mean, log_scale = model.apply({"params": params}, z, method="decode")  # (B, H, W, C) each
    recon = jnp.sum(discretized_logistic_logp(x, mean, log_scale), axis=(1, 2, 3))
    kl = gaussian_kl(mu, log_var, *model.apply({"params": params}, method="prior"))
    return dict(recon=recon, kl=kl, elbo=recon - kl)


def noise(rng, index, latent_dim: int):
    """eps ~ N(0, I), one draw per example from its global index: (B,) -> (B, latent_dim)."""
    return jax.vmap(lambda k: jax.random.normal(k, (latent_dim,)))(example_keys(rng, index))


def build(config, dataset) -> Family:
    cfg = model_config(config)
    model = VAE(cfg)
    tx, lr = make_optimizer(config.optim, config.train.steps)
    beta, dims = float(config.vae.beta), cfg.image_size**2 * cfg.channels
    ema_decay = config.optim.ema_decay

    def init(rng):
        x = jnp.zeros((1, cfg.image_size, cfg.image_size, cfg.channels))
        params = model.init(rng, x, jnp.zeros((1, cfg.latent_dim)))["params"]
        ema = dict(ema_params=params) if ema_decay > 0 else {}
        return dict(params=params, opt_state=tx.init(params), **ema)

    def loss_fn(params, batch, rng, axis_name):
        eps = noise(rng, batch["index"], cfg.latent_dim)
        terms = elbo_terms(model, params, batch["image"], eps)
        loss = bits_per_dim(-terms["recon"] + beta * terms["kl"], dims)   # beta-ELBO, bits/dim
        return mean_over_batch(loss, axis_name), {k: mean_over_batch(v, axis_name)
                                                 for k, v in terms.items()}

    def train_step(state, batch, *, rng, axis_name=None):
        (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state["params"], batch, rng, axis_name)
        params, opt_state = apply_gradients(tx, grads, state["opt_state"], state["params"])
        new = {**state, "params": params, "opt_state": opt_state}
        if ema_decay > 0:
            new["ema_params"] = ema_update(state["ema_params"], params, state["step"], ema_decay)
        metrics = dict(loss=loss, **terms, bits_per_dim=bits_per_dim(-terms["elbo"], dims),
                       grad_norm=global_norm(grads), lr=lr(state["step"]))
        return new, metrics

    @jax.jit
    def evaluate(state, batch, *, rng):
        """Held-out per-example (B,) metrics: bits_per_dim = -elbo / (D ln 2), elbo, recon, kl."""
        terms = elbo_terms(model, sampling_params(state), batch["image"],
                           noise(rng, batch["index"], cfg.latent_dim))
        return dict(bits_per_dim=bits_per_dim(-terms["elbo"], dims), **terms)

    gen = make_generation(model, cfg)
    return Family(init=init, train_step=train_step, generate=gen["generate"],
                  param_groups=lambda state: {"vae": state["params"]},
                  modes={"reconstruct": gen["reconstruct"], "interpolate": gen["interpolate"]},
                  sample_options=("use_ema",), inference_keys=("params", "ema_params"),
                  evaluate=evaluate)


def make_generation(model, cfg: VAEConfig) -> dict:
    """generate (prior samples), reconstruct and interpolate; all show decoder means."""
    @jax.jit
    def encode(params, x):
        return model.apply({"params": params}, x, method="encode")[0]     # posterior mean (B, d)

    @jax.jit
    def decode(params, z):
        return jnp.clip(model.apply({"params": params}, z, method="decode")[0], -1.0, 1.0)

    @jax.jit
    def prior_sample(params, eps):
        m, tril = model.apply({"params": params}, method="prior")
        return m + eps @ tril.T                                             # z ~ N(m, L L^T)

    def generate(state, *, rng, num, use_ema=True):
        """x = mean of p(x|z), z ~ p(z): (num, H, W, C) in [-1, 1]."""
        params = sampling_params(state, use_ema)
        eps = jax.random.normal(rng, (num, cfg.latent_dim))
        return decode(params, prior_sample(params, eps))

    def reconstruct(state, *, rng, num, dataset):
        """Grid rows alternate: a row of held-out images, then their reconstructions
        (decoder mean at the posterior mean); rows are as wide as sample.py's grid."""
        cols = math.ceil(math.sqrt(num))
        x = pick_images(dataset, rng, cols * math.ceil(num / (2 * cols)))   # (R * cols, H, W, C)
        params = sampling_params(state)
        x_hat = decode(params, encode(params, x))
        rows = jnp.stack([x.reshape(-1, cols, *x.shape[1:]),
                          x_hat.reshape(-1, cols, *x.shape[1:])], axis=1)  # (R, 2, cols, H, W, C)
        return rows.reshape(-1, *x.shape[1:])[:num]

    def interpolate(state, *, rng, num, dataset):
        """Each grid row decodes z_a + t (z_b - z_a), t = 0..1, between the posterior means of
        two held-out images (the first and last images of the row are their reconstructions)."""
        cols = math.ceil(math.sqrt(num))
        rows = math.ceil(num / cols)
        params = sampling_params(state)
        z = encode(params, pick_images(dataset, rng, 2 * rows))
        t = jnp.linspace(0.0, 1.0, cols)[None, :, None]                   # (1, cols, 1)
        z_a, z_b = z[:rows, None], z[rows:, None]                         # (rows, 1, d) each
        path = (z_a + t * (z_b - z_a)).reshape(rows * cols, -1)          # (rows * cols, d)
        return decode(params, path)[:num]

    return dict(generate=generate, reconstruct=reconstruct, interpolate=interpolate)


def pick_images(dataset, rng, n: int):
    """n distinct images of `dataset` chosen by `rng`: float32 (n, H, W, C) in [-1, 1]."""
    if n > len(dataset):
        raise ValueError(f"asked for {n} images but {dataset.name!r} holds {len(dataset)}; "
                         f"lower --num")
    ids = np.sort(np.asarray(jax.random.permutation(rng, len(dataset))[:n]))
    return jnp.asarray(from_uint8(dataset.images[ids]))


def evaluate_split(family: Family, state, dataset, *, batch_size: int = 500, seed: int = 0) -> dict:
    """Averages `family.evaluate` over every example of `dataset` (e.g. the test split)."""
    totals, n = {}, len(dataset)
    for step in range(-(-n // batch_size)):
        batch = batch_at(dataset, step, batch_size=batch_size, seed=seed)
        keep = min(batch_size, n - step * batch_size)   # the last batch wraps into a new epoch
        out = family.evaluate(state, batch, rng=jax.random.PRNGKey(seed))
        for k, v in out.items():
            totals[k] = totals.get(k, 0.0) + float(jnp.sum(v[:keep]))
    return {k: v / n for k, v in totals.items()}
