"""jaxgen's compiled train step and its PyTorch twin, built from one config and checked against
each other, for benchmarks/torch_twin.py. Imports jax, jaxgen and torch."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import torch_twin_models as tm
import torch_twin_steps as ts
from jaxgen import config as config_lib
from jaxgen import data as data_lib
from jaxgen import families
from jaxgen.diffusion import make_schedule
from jaxgen.families import diffusion as diffusion_family
from jaxgen.families import gan as gan_family
from jaxgen.families.base import count_params, init_fn, step_fn
from jaxgen.models import UNet
from jaxgen.models.dcgan import Discriminator, Generator
from jaxgen.optim import make_optimizer

NUM_CHECK = 4  # examples in the output check


def load_config(spec: str, batch_size: int | None):
    config = config_lib.load_config(spec)
    if batch_size:
        config = config_lib.apply_overrides(config, {"train.batch_size": str(batch_size)})
    return config


def flops_of(compiled) -> float:
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return float(analysis.get("flops", 0.0))


class JaxSide:
    """The family of `spec` (batch size overridden when given), its initial state and a host
    copy of it, `num_batches` real data batches, and the compiled, state-donating step."""

    def __init__(self, spec: str, batch_size: int | None = None, num_batches: int = 4):
        self.config = config = load_config(spec, batch_size)
        self.batch_size = config.train.batch_size
        self.dataset = data_lib.load_dataset(config.data)
        self.family = families.build(config, self.dataset)
        self.state = jax.jit(init_fn(self.family, config.seed))()
        self.host = jax.tree.map(np.array, self.state)          # copies, before any donation
        self.params = sum(map(count_params, self.family.param_groups(self.state).values()))
        self.batches = [data_lib.batch_at(self.dataset, i, batch_size=self.batch_size, seed=0)
                        for i in range(num_batches)]
        t0 = time.perf_counter()
        self.compiled = jax.jit(step_fn(self.family), donate_argnums=0).lower(
            self.state, self.batches[0]).compile()
        self.compile_s = time.perf_counter() - t0
        self.flops = flops_of(self.compiled)

    def step(self, batch) -> None:
        self.state, metrics = self.compiled(self.state, batch)
        jax.block_until_ready((self.state, metrics))


@dataclasses.dataclass
class Twin:
    """The PyTorch side: `step(batch)` on `batches` (x (B, C, H, W), label (B,)), its
    parameter count and the output check's max relative difference."""
    step: Callable
    batches: list
    params: int
    max_rel_diff: float

    def count_flops(self) -> int:
        """FLOPs of one step as PyTorch's FlopCounterMode counts them (convolutions, matmuls
        and attention only); runs one extra step."""
        with FlopCounterMode(display=False) as counter:
            self.step(self.batches[0])
        return int(counter.get_total_flops())


def to_torch(batch) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.array(batch["image"])).permute(0, 3, 1, 2).contiguous()
    return x, torch.from_numpy(np.array(batch["label"])).long()


def nchw(x) -> torch.Tensor:
    return torch.from_numpy(np.array(x)).permute(0, 3, 1, 2).contiguous()


def perturbed(params, seed: int = 0):
    """params * (1 + 0.1 n) + 0.02 n': no weight, bias or scale left at its special init."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda p: (p * (1 + 0.1 * rng.standard_normal(p.shape))
                                   + 0.02 * rng.standard_normal(p.shape)).astype(np.float32),
                        params)


def rel_diff(expected, got: torch.Tensor) -> float:
    expected = np.asarray(expected)
    return float(np.max(np.abs(expected - got.numpy())) / max(np.max(np.abs(expected)), 1e-12))


def count(*modules) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def learning_rates(config, n: int = 4096) -> list[float]:
    """jaxgen's learning rate at steps 0 .. n-1."""
    _, schedule = make_optimizer(config.optim, config.train.steps)
    return [float(x) for x in jax.jit(jax.vmap(schedule))(jnp.arange(n))]


def check_unet(net, model: UNet, params, batch, num_classes: int) -> float:
    """Loads perturbed params into `net`; relative difference of the two outputs."""
    params = perturbed(params)
    tm.load_flax(net, params)
    x = np.array(batch["image"][:NUM_CHECK])
    t = np.linspace(0, 999, len(x)).astype(np.int32) % 1000
    label = np.array(batch["label"][:len(x)]) if num_classes else None
    expected = jax.jit(lambda p, x, t, y: model.apply({"params": p}, x, t, y))(params, x, t, label)
    with torch.no_grad():
        got = net(nchw(x), torch.from_numpy(t).long(),
                  None if label is None else torch.from_numpy(label).long())
    return rel_diff(expected, got.permute(0, 2, 3, 1))


def diffusion_twin(side: JaxSide) -> Twin:
    config = side.config
    num_classes = side.dataset.num_classes if config.model.num_classes else 0
    ucfg = diffusion_family.model_config(config, num_classes)
    net = tm.UNet(**dataclasses.asdict(ucfg), image_size=config.data.image_size,
                  in_channels=config.data.channels)
    diff = check_unet(net, UNet(ucfg), side.host["params"], side.batches[0], num_classes)
    tm.load_flax(net, side.host["params"])
    dcfg = config_lib.section(diffusion_family.DiffusionConfig, config.diffusion, where="diffusion")
    sched = make_schedule(dcfg.schedule, dcfg.num_steps, beta_start=dcfg.beta_start,
                          beta_end=dcfg.beta_end)
    step = ts.DiffusionStep(net, sqrt_alpha_bar=np.array(sched.sqrt_alpha_bar),
                            sqrt_one_minus_alpha_bar=np.array(sched.sqrt_one_minus_alpha_bar),
                            prediction=dcfg.prediction, num_classes=num_classes,
                            p_uncond=dcfg.p_uncond, optim=config.optim,
                            lrs=learning_rates(config), ema_decay=config.optim.ema_decay)
    return Twin(lambda b: step(*b), [to_torch(b) for b in side.batches], count(net), diff)


def check_gan(gen, disc, gcfg, host, batch) -> float:
    """Loads perturbed params into both nets; the larger relative difference of G(z) (train
    mode) and D(x). Resets the twin's BatchNorm statistics afterwards."""
    g_params, d_params = perturbed(host["g_params"]), perturbed(host["d_params"], seed=1)
    tm.load_flax(gen, g_params)
    tm.load_flax(disc, d_params)
    z = np.random.default_rng(2).standard_normal((NUM_CHECK, gcfg.z_dim)).astype(np.float32)
    x = np.array(batch["image"][:NUM_CHECK])
    g_vars = {"params": g_params, **({"batch_stats": host["g_stats"]} if "g_stats" in host else {})}
    fake = Generator(gcfg).apply(g_vars, z, train=True, mutable=["batch_stats"])[0]
    logit = Discriminator(gcfg).apply({"params": d_params}, x)
    with torch.no_grad():
        diffs = (rel_diff(fake, gen(torch.from_numpy(z)).permute(0, 2, 3, 1)),
                 rel_diff(logit, disc(nchw(x))))
    for m in gen.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
    return max(diffs)


def gan_twin(side: JaxSide) -> Twin:
    config = side.config
    gcfg = gan_family.model_config(config)
    fields = dataclasses.asdict(gcfg)
    gen, disc = tm.Generator(**fields).train(), tm.Discriminator(**fields)
    diff = check_gan(gen, disc, gcfg, side.host, side.batches[0])
    tm.load_flax(gen, side.host["g_params"])
    tm.load_flax(disc, side.host["d_params"])
    step = ts.GANStep(gen, disc, z_dim=gcfg.z_dim, loss=config.gan.loss, optim=config.optim,
                      lrs=learning_rates(config), ema_decay=config.optim.ema_decay)
    return Twin(lambda b: step(*b), [to_torch(b) for b in side.batches], count(gen, disc), diff)


TWINS = {"diffusion": diffusion_twin, "gan": gan_twin}


def build_twin(side: JaxSide) -> Twin:
    if side.config.family not in TWINS:
        raise SystemExit(f"torch_twin.py: no PyTorch twin for family {side.config.family!r}; "
                         f"twins exist for {sorted(TWINS)}")
    return TWINS[side.config.family](side)
