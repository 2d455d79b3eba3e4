"""Denoiser architectures by name: `config.model.arch` -> (typed config, Flax module).

    model = make_denoiser(config, num_classes=10, out_channels=1)   # UNet or DiT

Every denoiser takes `(x (B, H, W, C), t (B,), label=None, *, train)` and returns
(B, H, W, out_channels), so the samplers, guidance and losses never ask which one it is. A new
architecture is one entry here (plus its module); the families need no edit.
"""
from __future__ import annotations

import flax.linen as nn

from jaxgen import config as config_lib
from jaxgen.models import dit
from jaxgen.models.dit import DiT, DiTConfig
from jaxgen.models.unet import UNet, UNetConfig

ARCHS: dict[str, tuple[type, type[nn.Module]]] = {"unet": (UNetConfig, UNet),
                                                   "dit": (DiTConfig, DiT)}
# arch -> (typed config, tensor size) -> parallel.rules of its Megatron split; an arch missing
# here has no built-in tensor parallelism (parallel.rules can still split it by hand)
TENSOR_RULES = {"dit": dit.tensor_rules}
DEFAULT_ARCH = "unet"  # a config.json written before `model.arch` existed was a U-Net


def arch_of(model_section) -> str:
    """The architecture name of a `config.model` section (default "unet"), checked."""
    arch = model_section.get("arch", DEFAULT_ARCH)
    if arch not in ARCHS:
        raise ValueError(f"config.model.arch={arch!r} is not a known denoiser; choose one of "
                         f"{sorted(ARCHS)}, e.g. --config.model.arch={DEFAULT_ARCH}")
    return arch


def denoiser_config(config, **derived):
    """The typed config of `config.model`'s architecture; `derived` fields (num_classes,
    out_channels, ...) come from other sections and take precedence."""
    cls = ARCHS[arch_of(config.model)][0]
    values = {k: v for k, v in config.model.items() if k != "arch"}
    return config_lib.section(cls, values, where="model", **derived)


def make_denoiser(config, **derived) -> nn.Module:
    """The Flax denoiser `config.model.arch` names, built from `config.model` + `derived`."""
    return ARCHS[arch_of(config.model)][1](denoiser_config(config, **derived))


def tensor_rules(config, scope: str = ""):
    """tensor size -> `parallel.rules` for `config.model`'s architecture (raising for a size the
    model does not divide), or None when the architecture has no built-in tensor parallelism.
    `scope`: the denoiser's path prefix inside the parameters ("denoiser/" under a text encoder,
    which stays replicated)."""
    rules = TENSOR_RULES.get(arch_of(config.model))
    if rules is None:
        return None
    typed = denoiser_config(config)  # the split depends on widths and heads only
    return lambda tensor: rules(typed, tensor, scope)
