"""The sampler registry: names in order, each sampler's options, NFE, and option checking.

A new sampler is one `Sampler` entry (base.py) added to `REGISTRY` below, plus its test.
"""
from __future__ import annotations

from typing import Any, Mapping

from jaxgen.diffusion.samplers.ancestral import DDIM, DDPM
from jaxgen.diffusion.samplers.base import Sampler
from jaxgen.diffusion.samplers.dpm_solver import DPMPP_2M, DPMPP_2M_SDE
from jaxgen.diffusion.samplers.karras import EULER, HEUN
from jaxgen.diffusion.samplers.unipc import UNIPC

REGISTRY: dict[str, Sampler] = {s.name: s for s in (DDPM, DDIM, EULER, HEUN, DPMPP_2M,
                                                     DPMPP_2M_SDE, UNIPC)}
SAMPLERS = tuple(REGISTRY)


def get(sampler: str) -> Sampler:
    """The registry entry of `sampler`; a ValueError listing the choices if unknown."""
    if sampler not in REGISTRY:
        raise ValueError(f"unknown sampler={sampler!r}; choose one of {list(SAMPLERS)}")
    return REGISTRY[sampler]



def options(sampler: str) -> dict[str, Any]:
    """The option names `sampler` takes, with their defaults, e.g. {"eta": 0.0} for "ddim"."""
    return dict(get(sampler).options)


def nfe(sampler: str, steps: int) -> int:
    """Denoiser evaluations of `steps` steps of `sampler` (heun: 2 steps - 1, else steps)."""
    return get(sampler).nfe(steps)


def resolve_options(sampler: str, eta: Any, given: Mapping[str, Any],
                    steps: int | None = None) -> dict[str, Any]:
    """The sampler's options: its defaults, updated with `given`, plus `eta` where it takes one.
    eta other than 0.0 for a sampler without it, an option it does not take, or a value (or,
    given `steps`, a step count) its `check` refuses is an error."""
    entry = get(sampler)
    unknown = sorted(set(given) - set(entry.options))
    if unknown:
        raise ValueError(f"sampler {sampler!r} takes no option {unknown[0]!r}; its options: "
                         f"{sorted(entry.options) or 'none'}")
    resolved = {**entry.options, **given}
    if "eta" in entry.options:
        resolved["eta"] = eta
    elif not (isinstance(eta, (int, float)) and eta == 0.0):
        takers = [n for n, s in REGISTRY.items() if "eta" in s.options]
        raise ValueError(f"eta={eta} applies to sampler {takers} only; for sampler {sampler!r} "
                         f"drop eta (its options: {sorted(entry.options) or 'none'})")
    entry.check(resolved, steps)
    return resolved
