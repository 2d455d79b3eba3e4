"""Diffusion maths: noise schedules, denoising losses and samplers (pure functions)."""
from jaxgen.diffusion.losses import PREDICTIONS, diffusion_loss, predict_x0_eps, v_target
from jaxgen.diffusion.samplers import (SAMPLERS, SPACINGS, ddim_step, ddpm_step, denoise, nfe,
                                       sample, sample_loop, timesteps)
from jaxgen.diffusion.samplers import options as sampler_options
from jaxgen.diffusion.schedules import (SCHEDULES, Schedule, extract, make_schedule, q_sample,
                                        schedule_from_betas)

__all__ = [
    "PREDICTIONS", "SAMPLERS", "SCHEDULES", "SPACINGS", "Schedule", "ddim_step", "ddpm_step",
    "denoise", "diffusion_loss", "extract", "make_schedule", "nfe", "predict_x0_eps", "q_sample",
    "sample", "sample_loop", "sampler_options", "schedule_from_betas", "timesteps", "v_target",
]
