"""Writes golden sampler trajectories from diffusers' (PyTorch) schedulers, for
tests/diffusion/test_sampler_fixtures.py. A development script: the tests never run it.

    python3 -m venv /work/devenv && /work/devenv/bin/pip install torch==2.13.0 diffusers numpy
    /work/devenv/bin/python benchmarks/sampler_fixtures.py     # (or pip install -e .[dev])
    -> tests/diffusion/fixtures/samplers.npz  (diffusers 0.42.1 wrote the committed one)

Schedule: linear betas 1e-4..0.02, T = 1000, alpha_bar computed as jaxgen does (float64 cumprod,
stored float32), written in float64 into each scheduler's `alphas_cumprod`: diffusers forms
sigma = sqrt((1 - alpha_bar) / alpha_bar) from it, and in float32 1 - alpha_bar[0] = 1e-4 keeps
only ~4 digits, where jaxgen's tables come from float64. Two eps-models, defined identically
here (numpy) and in the test (jax):
  gauss: the exact eps of per-pixel x0 ~ N(0.3, 0.5^2): sigma (x - alpha mu) / (alpha^2 s^2 +
         sigma^2), with sigma_vp(t) interpolated log-linearly between training steps;
  mlp:   a fixed 2-layer tanh MLP on the flattened 4x4 image and [t/T, cos, sin(pi t/T)],
         x0_net = tanh(MLP) given as eps = (x - alpha x0_net) / sigma (bounded x0, as a
         trained net's; a raw random eps-net drives x0 = (x - sigma eps) / alpha to O(100)).
x_T (2, 4, 4, 1) and any per-step noise are stored. Trajectories are stored in VP space
(x_t = alpha x_sigma for Euler/Heun), one entry per full step (Heun: per 2 evaluations).
Traps handled: DDIM's clip_sample=True default (set explicitly; clipping uses
use_clipped_model_output=True, as jaxgen recomputes eps from the clipped x0) and its
prev_timestep = t - T // N (so only N dividing T is compared); Euler/Heun's x in sigma space
(x_T * sqrt(1 + sigma_max^2) is passed, not init_noise_sigma, which is sigma_max for
linspace/trailing); Heun takes 2N - 1 calls; DPM-Solver's own linspace/leading take N + 1
points, so jaxgen's "uniform" grid is passed as custom timesteps. UniPC (bh2, predict_x0,
lower_order_final, final_sigmas_type="zero": its defaults) takes no custom timesteps: for
"uniform" its timesteps and sigmas are overwritten after set_timesteps.
"""
from __future__ import annotations

import pathlib

import numpy as np
import torch
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler,
                       HeunDiscreteScheduler, UniPCMultistepScheduler)

T, MU, S, SHAPE = 1000, 0.3, 0.5, (2, 4, 4, 1)
OUT = pathlib.Path(__file__).resolve().parents[1] / "tests/diffusion/fixtures/samplers.npz"
AB64 = np.cumprod(1.0 - np.linspace(1e-4, 0.02, T))                             # (T,)
AB = AB64.astype(np.float32)                                        # jaxgen's alpha_bar table
LOG_SIGMAS = np.log(np.sqrt((1.0 - AB64) / AB64))


def mlp_weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    shapes = dict(w1=(16, 32), wt=(3, 32), b1=(32,), w2=(32, 16), b2=(16,))
    return {k: (0.3 * rng.standard_normal(s)).astype(np.float32) for k, s in shapes.items()}


def vp_at(t: float) -> tuple[float, float]:
    s = np.exp(np.interp(t, np.arange(T), LOG_SIGMAS))
    return 1.0 / np.sqrt(1.0 + s**2), s / np.sqrt(1.0 + s**2)


def gauss(x: np.ndarray, t: float) -> np.ndarray:
    alpha, sigma = vp_at(t)
    return (sigma * (x - alpha * MU) / (alpha**2 * S**2 + sigma**2)).astype(np.float32)


def mlp(x: np.ndarray, t: float, w=mlp_weights()) -> np.ndarray:
    """x0_net = tanh(MLP(x, t)) in [-1, 1], returned as eps = (x - alpha x0_net) / sigma."""
    feat = np.array([t / T, np.cos(np.pi * t / T), np.sin(np.pi * t / T)], np.float32)
    h = np.tanh(x.reshape(x.shape[0], 16) @ w["w1"] + feat @ w["wt"] + w["b1"])
    x0 = np.tanh(h @ w["w2"] + w["b2"]).reshape(x.shape)
    alpha, sigma = vp_at(t)
    return ((x - alpha * x0) / sigma).astype(np.float32)


def model(data, x: torch.Tensor, t) -> torch.Tensor:
    return torch.from_numpy((gauss if data == "gauss" else mlp)(x.numpy(), float(t)))


def make(cls, spacing: str, **kw):
    config = dict(num_train_timesteps=T, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                  timestep_spacing=spacing, **kw)
    if cls is not DDIMScheduler:   # Karras sigmas span the linspace grid: [sigma(0), sigma(T-1)]
        config.update(timestep_spacing="linspace" if spacing in ("karras", "uniform") else spacing,
                      use_karras_sigmas=spacing == "karras")
    sched = cls(**config)
    sched.alphas_cumprod = torch.from_numpy(AB64)   # float64: sigma(0) without float32's
    return sched                                    # cancellation in 1 - alpha_bar ~ 1e-4


def run_ddim(data, spacing, n, x_T, clip=False, eta=0.0, noise=None):
    sched = make(DDIMScheduler, spacing, clip_sample=clip)
    sched.set_timesteps(n)
    x, traj = torch.from_numpy(x_T), []
    for i, t in enumerate(sched.timesteps):
        z = None if noise is None else torch.from_numpy(noise[i])
        x = sched.step(model(data, x, t), t, x, eta=eta, use_clipped_model_output=True,
                       variance_noise=z).prev_sample
        traj.append(x.numpy())
    return sched.timesteps.numpy(), np.stack(traj)


def run_karras_family(cls, data, spacing, n, x_T):
    sched = make(cls, spacing)
    sched.set_timesteps(n)
    x, traj = torch.from_numpy(x_T) * np.sqrt(1.0 + float(sched.sigmas[0]) ** 2), []
    for i, t in enumerate(sched.timesteps):
        x = sched.step(model(data, sched.scale_model_input(x, t), t), t, x).prev_sample
        if getattr(sched, "state_in_first_order", True) or i == len(sched.timesteps) - 1:
            traj.append((x / np.sqrt(1.0 + float(sched.sigmas[sched.step_index]) ** 2)).numpy())
    return sched.timesteps.numpy(), np.stack(traj), sched.sigmas.numpy()


def run_dpm(data, spacing, n, x_T, noise=None):
    algo = "dpmsolver++" if noise is None else "sde-dpmsolver++"
    sched = make(DPMSolverMultistepScheduler, spacing, algorithm_type=algo)
    if spacing == "uniform":   # jaxgen's default grid: round(linspace(T - 1, 0, N))
        sched.set_timesteps(timesteps=np.round(np.linspace(T - 1, 0, n)).astype(int).tolist())
    else:
        sched.set_timesteps(n)
    x, traj = torch.from_numpy(x_T), []
    for i, t in enumerate(sched.timesteps):
        z = None if noise is None else torch.from_numpy(noise[i])
        x = sched.step(model(data, x, t), t, x, variance_noise=z).prev_sample
        traj.append(x.numpy())
    return sched.timesteps.numpy(), np.stack(traj)


def run_unipc(data, spacing, n, x_T, **kw):
    sched = make(UniPCMultistepScheduler, spacing, **kw)
    sched.set_timesteps(n)
    if spacing == "uniform":   # jaxgen's default grid, as for DPM-Solver above
        ts = np.round(np.linspace(T - 1, 0, n)).astype(int)
        sched.timesteps = torch.from_numpy(ts)
        sched.sigmas = torch.from_numpy(np.append(np.exp(LOG_SIGMAS[ts]), 0.0).astype(np.float32))
    x, traj = torch.from_numpy(x_T), []
    # The last step (to sigma = 0, h = inf) fails in diffusers with lower_order_final=False (at
    # full order: a singular solve at order 3, inf at order 2) and with bh1 (B(h) = -inf times
    # a zero sum: nan); for those the first N - 1 steps are kept.
    whole = sched.config.lower_order_final and sched.config.solver_type == "bh2"
    steps = sched.timesteps if whole else sched.timesteps[:-1]
    for t in steps:
        x = sched.step(model(data, x, t), t, x).prev_sample
        traj.append(x.numpy())
    return sched.timesteps.numpy(), np.stack(traj)


def cases(x_T: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for data in ("gauss", "mlp"):
        for n in (8, 20):
            noise = rng.standard_normal((n,) + SHAPE).astype(np.float32)
            for spacing in ("trailing", "leading"):
                out[f"{data}/ddim/{spacing}/{n}"] = run_ddim(data, spacing, n, x_T)[1]
            out[f"{data}/ddim/trailing/{n}/clip"] = run_ddim(data, "trailing", n, x_T, True)[1]
            out[f"{data}/ddim/trailing/{n}/eta1"] = run_ddim(data, "trailing", n, x_T, eta=1.0,
                                                             noise=noise)[1]
            out[f"{data}/ddim/trailing/{n}/eta1/noise"] = noise
            for spacing in ("trailing", "leading", "karras"):
                out[f"{data}/euler/{spacing}/{n}"] = run_karras_family(
                    EulerDiscreteScheduler, data, spacing, n, x_T)[1]
            for spacing in ("trailing", "karras"):
                out[f"{data}/heun/{spacing}/{n}"] = run_karras_family(
                    HeunDiscreteScheduler, data, spacing, n, x_T)[1]
            for spacing in ("trailing", "uniform"):
                out[f"{data}/dpmpp_2m/{spacing}/{n}"] = run_dpm(data, spacing, n, x_T)[1]
            out[f"{data}/dpmpp_2m_sde/trailing/{n}"] = run_dpm(data, "trailing", n, x_T, noise)[1]
            out[f"{data}/dpmpp_2m_sde/trailing/{n}/noise"] = noise
            out[f"{data}/unipc/trailing/{n}"] = run_unipc(data, "trailing", n, x_T)[1]
            out[f"{data}/unipc/trailing/{n}/order3"] = run_unipc(data, "trailing", n, x_T,
                                                                 solver_order=3)[1]
        out[f"{data}/unipc/uniform/8"] = run_unipc(data, "uniform", 8, x_T)[1]
        out[f"{data}/unipc/trailing/8/bh1"] = run_unipc(data, "trailing", 8, x_T,
                                                        solver_type="bh1")[1]
        out[f"{data}/unipc/trailing/20/order3/no_lof"] = run_unipc(
            data, "trailing", 20, x_T, solver_order=3, lower_order_final=False)[1]
    return out


def spacings() -> dict[str, np.ndarray]:
    """diffusers' own timesteps (and Karras sigmas) for jaxgen's spacing definitions."""
    out = {}
    for n in (1, 7, 8, 20, 29, 50, 999):
        for spacing in ("linspace", "leading", "trailing"):
            out[f"spacing/ddim/{spacing}/{n}"] = _ddim_timesteps(spacing, n)
        out[f"spacing/dpm/trailing/{n}"] = _dpm_timesteps("trailing", n)
    for n in (8, 20):
        sched = make(EulerDiscreteScheduler, "karras")
        sched.set_timesteps(n)
        out[f"spacing/karras/{n}/t"] = sched.timesteps.numpy()
        out[f"spacing/karras/{n}/sigma"] = sched.sigmas.numpy()
    return out


def _ddim_timesteps(spacing, n):
    sched = make(DDIMScheduler, spacing)
    sched.set_timesteps(n)
    return sched.timesteps.numpy()


def _dpm_timesteps(spacing, n):
    sched = make(DPMSolverMultistepScheduler, spacing)
    sched.set_timesteps(n)
    return sched.timesteps.numpy()


def main() -> None:
    rng = np.random.default_rng(1)
    x_T = rng.standard_normal(SHAPE).astype(np.float32)
    arrays = dict(alpha_bar=AB, x_T=x_T, **mlp_weights(), **cases(x_T, rng), **spacings())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {len(arrays)} arrays, {OUT.stat().st_size / 1024:.0f} KiB to {OUT}")


if __name__ == "__main__":
    main()
