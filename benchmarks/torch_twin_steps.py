"""The train steps of jaxgen's diffusion and GAN families in PyTorch eager, for
benchmarks/torch_twin.py. Each does the work of its jaxgen twin (jaxgen/families/diffusion.py,
gan.py and jaxgen/optim.py): the same loss, global-norm clipping when `optim.grad_clip` > 0,
AdamW (fused where this PyTorch has it) with the learning rate of jaxgen's schedule, the
warmed-up EMA of every (generator) parameter, and the metrics jaxgen logs, left as tensors
(no host sync inside a step, as in jaxgen).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def adamw(params, optim, lr: float) -> torch.optim.Optimizer:
    """optax.adamw's update (eps 1e-8, decoupled weight decay), fused when available."""
    kwargs = dict(lr=lr, betas=(optim.b1, optim.b2), eps=1e-8, weight_decay=optim.weight_decay)
    try:
        return torch.optim.AdamW(params, fused=True, **kwargs)
    except (RuntimeError, ValueError):  # a build without the fused CPU kernel
        return torch.optim.AdamW(params, foreach=True, **kwargs)


class Update:
    """Gradient norm (and clipping), one AdamW step at lrs[step], then the EMA, as
    jaxgen.optim: ema <- d ema + (1 - d) params, d = min(decay, (1 + step) / (10 + step))."""

    def __init__(self, params, optim, lrs, ema_decay: float):
        self.params, self.lrs, self.clip = list(params), list(lrs), float(optim.grad_clip)
        self.opt = adamw(self.params, optim, self.lrs[0])
        self.ema_decay, self.step = ema_decay, 0
        self.ema = [p.detach().clone() for p in self.params] if ema_decay > 0 else None

    def __call__(self, loss: torch.Tensor) -> torch.Tensor:
        """Backward from `loss`, update; returns the gradient's global norm before clipping."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for p in self.params]
        norm = (torch.nn.utils.clip_grad_norm_(self.params, self.clip, foreach=True)
                if self.clip > 0 else torch.nn.utils.get_total_norm(grads, foreach=True))
        self.opt.param_groups[0]["lr"] = self.lrs[min(self.step, len(self.lrs) - 1)]
        self.opt.step()
        if self.ema is not None:
            d = min(self.ema_decay, (1.0 + self.step) / (10.0 + self.step))
            with torch.no_grad():
                torch._foreach_lerp_(self.ema, self.params, 1.0 - d)
        self.step += 1
        return norm


class DiffusionStep:
    """Per-example t ~ U{0..T-1} and eps ~ N(0, I), x_t = sqrt(alpha_bar_t) x_0 +
    sqrt(1 - alpha_bar_t) eps, mean squared error on eps (or v), mean over the batch
    (Ho et al. 2020 eq. 14); labels dropped to the null class with probability p_uncond."""

    def __init__(self, model, *, sqrt_alpha_bar, sqrt_one_minus_alpha_bar, prediction: str,
                 num_classes: int, p_uncond: float, optim, lrs, ema_decay: float):
        self.model = model.train()
        self.a_bar = torch.as_tensor(sqrt_alpha_bar, dtype=torch.float32)
        self.s_bar = torch.as_tensor(sqrt_one_minus_alpha_bar, dtype=torch.float32)
        self.prediction, self.num_classes, self.p_uncond = prediction, num_classes, p_uncond
        self.update = Update(model.parameters(), optim, lrs, ema_decay)

    def __call__(self, x0: torch.Tensor, label: torch.Tensor) -> dict:
        """x0: (B, C, H, W) in [-1, 1]; label: int64 (B,)."""
        b = x0.shape[0]
        t = torch.randint(0, self.a_bar.shape[0], (b,))
        noise = torch.randn_like(x0)
        a, s = self.a_bar[t].view(b, 1, 1, 1), self.s_bar[t].view(b, 1, 1, 1)
        target = noise if self.prediction == "eps" else a * noise - s * x0
        if self.num_classes:
            label = torch.where(torch.rand(b) < self.p_uncond, self.num_classes, label)
        out = self.model(a * x0 + s * noise, t, label if self.num_classes else None)
        loss = (out - target).square().mean(dim=(1, 2, 3)).mean()
        return dict(loss=loss.detach(), grad_norm=self.update(loss))


class GANStep:
    """D on [x; G(z)] (G in train mode, no gradient), then G against the updated D with a new
    z (D's parameters take no gradient there), then the EMA of G (jaxgen/families/gan.py)."""

    def __init__(self, gen, disc, *, z_dim: int, loss: str, optim, lrs, ema_decay: float):
        self.gen, self.disc, self.z_dim, self.loss = gen.train(), disc.train(), z_dim, loss
        self.update_d = Update(disc.parameters(), optim, lrs, 0.0)
        self.update_g = Update(gen.parameters(), optim, lrs, ema_decay)

    def d_loss(self, l_real, l_fake):
        if self.loss == "hinge":
            return F.relu(1.0 - l_real) + F.relu(1.0 + l_fake)
        return F.softplus(-l_real) + F.softplus(l_fake)

    def g_loss(self, l_fake):
        return -l_fake if self.loss == "hinge" else F.softplus(-l_fake)

    def __call__(self, real: torch.Tensor, label: torch.Tensor | None = None) -> dict:
        """real: (B, C, H, W) in [-1, 1]; label unused."""
        b = real.shape[0]
        with torch.no_grad():
            fake = self.gen(torch.randn(b, self.z_dim))
        l_real, l_fake = self.disc(torch.cat([real, fake])).chunk(2)
        d_loss = self.d_loss(l_real, l_fake).mean()
        d_norm = self.update_d(d_loss)
        self.disc.requires_grad_(False)
        g_loss = self.g_loss(self.disc(self.gen(torch.randn(b, self.z_dim)))).mean()
        g_norm = self.update_g(g_loss)
        self.disc.requires_grad_(True)
        return dict(loss=g_loss.detach(), d_loss=d_loss.detach(), g_loss=g_loss.detach(),
                    d_real=torch.sigmoid(l_real.detach()).mean(),
                    d_fake=torch.sigmoid(l_fake.detach()).mean(),
                    d_grad_norm=d_norm, g_grad_norm=g_norm)
