"""Diffusion samplers: a registry of solvers run on a grid of noise levels.

    SAMPLERS                        names in registry order: ddpm ddim euler heun dpmpp_2m ... unipc
    options("heun")                 {"s_churn": 0.0, "s_tmin": 0.0, "s_tmax": inf, "s_noise": 1.0}
    nfe("heun", 10)                 19 denoiser evaluations
    sample(fn, schedule, shape, rng=key, sampler="dpmpp_2m", steps=20, spacing="karras")

Modules: grid.py (schedule at continuous t / sigma, spacings, Grid), base.py (Sampler entry,
denoiser), ancestral.py (ddpm, ddim), karras.py (euler, heun), dpm_solver.py (dpmpp_2m[_sde]),
unipc.py (unipc), registry.py (REGISTRY, options, nfe), loop.py (sample, sample_loop).
"""
from jaxgen.diffusion.samplers.ancestral import ddim_step, ddpm_step
from jaxgen.diffusion.samplers.base import Sampler, denoise, denoise_at
from jaxgen.diffusion.samplers.grid import (SPACINGS, VP, Grid, at_sigma, at_t, karras_sigmas,
                                            make_grid, sigma_at, t_of_sigma, timesteps)
from jaxgen.diffusion.samplers.loop import sample, sample_loop
from jaxgen.diffusion.samplers.registry import REGISTRY, SAMPLERS, nfe, options

__all__ = [
    "REGISTRY", "SAMPLERS", "SPACINGS", "VP", "Grid", "Sampler", "at_sigma", "at_t",
    "ddim_step", "ddpm_step", "denoise", "denoise_at", "karras_sigmas", "make_grid", "nfe",
    "options", "sample", "sample_loop", "sigma_at", "t_of_sigma", "timesteps",
]
