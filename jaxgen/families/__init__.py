"""Model families: each module here exposes `build(config, dataset) -> Family`.

A new family is one module in this package plus its model in `jaxgen.models`
and a config; the loop, checkpointing and parallel wrappers need no edit.
"""
from __future__ import annotations

import importlib

from jaxgen.families.base import Family, example_keys, mean_over_batch

FAMILIES = {
    "diffusion": "jaxgen.families.diffusion",
    "distill": "jaxgen.families.distill",
    "gan": "jaxgen.families.gan",
    "text_mlm": "jaxgen.families.text_mlm",
    "vae": "jaxgen.families.vae",
}


def get_family(name: str):
    """Returns the family module named by `config.family`."""
    if name not in FAMILIES:
        raise ValueError(f"config.family={name!r} is not known; choose one of {sorted(FAMILIES)}")
    return importlib.import_module(FAMILIES[name])


def build(config, dataset) -> Family:
    """The family of `config.family`, pruned as `config.prune` asks (jaxgen/quant/prune.py)."""
    from jaxgen.quant import prune
    from jaxgen.quant.channels import shrunk_config
    family = get_family(config.family).build(shrunk_config(config), dataset)
    return prune.wrap(family, config)


__all__ = ["Family", "FAMILIES", "build", "example_keys", "get_family", "mean_over_batch"]
