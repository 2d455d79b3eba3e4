"""Is an SR3 network's x0 prediction consistent with its low-resolution input? Prints, per
noise level t, the consistency (dB, as in benchmarks/super_resolution_rows.py but in float) and
the PSNR to the truth of the one-shot x0 prediction from x_t ~ q(x_t | x0) of the first --num
test images (noise from key t), beside bicubic's consistency; one JSON line.

  python benchmarks/sr_x0_consistency.py --workdir=runs/sr3_demo --num=200

A diagnostic for samples that do not average back to their input: a network that is
consistent on q(x_t | x0) but whose samples are not drifts along its own trajectory.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from jaxgen import api  # noqa: E402
from jaxgen.data import from_uint8  # noqa: E402
from jaxgen.diffusion import make_schedule  # noqa: E402
from jaxgen.diffusion.samplers.base import denoise  # noqa: E402
from jaxgen.diffusion.sr import downsample, upsample  # noqa: E402
from jaxgen.families.base import sampling_params  # noqa: E402
from jaxgen.families.diffusion import make_network  # noqa: E402

TIMESTEPS = (5, 50, 200, 500, 800, 990)


def psnr_db(a: jax.Array, b: jax.Array) -> float:
    """Mean over images of the PSNR (dB) of float images in [-1, 1] (peak-to-peak 2)."""
    return float(jnp.mean(10 * jnp.log10(4.0 / jnp.mean(jnp.square(a - b), axis=(1, 2, 3)))))


def main(argv) -> dict:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", required=True, help="an SR3 (diffusion) workdir")
    p.add_argument("--num", type=int, default=200)
    args = p.parse_args(argv)
    g = api.load(args.workdir)
    c, f = g.config, int(g.config.sr.factor)
    model, _, _, _ = make_network(c, g.dataset)
    params, d = sampling_params(g.state), c.diffusion
    schedule = make_schedule(d.schedule, d.num_steps, beta_start=d.beta_start,
                             beta_end=d.beta_end)
    hr = jnp.asarray(from_uint8(np.asarray(g.dataset.images[:args.num])), jnp.float32)
    lr = downsample(hr, f)                                       # (N, H/f, W/f, C)
    x_lr = upsample(lr, f)                                       # the model's condition
    fn = lambda x, t: model.apply({"params": params}, x, t, x_lr)  # noqa: E731
    rows = []
    for t in TIMESTEPS:
        t_b = jnp.full((len(hr),), t, jnp.int32)
        x_t = (schedule.sqrt_alpha_bar[t] * hr + schedule.sqrt_one_minus_alpha_bar[t]
               * jax.random.normal(jax.random.key(t), hr.shape))
        x0, _ = denoise(fn, schedule, x_t, t_b, prediction=d.prediction, clip_x0=True)
        rows.append(dict(t=t, consistency=psnr_db(downsample(x0, f), lr),
                         psnr=psnr_db(x0, hr)))
        print(f"t={t}: consistency {rows[-1]['consistency']:.2f} dB, "
              f"PSNR to truth {rows[-1]['psnr']:.2f} dB")
    result = dict(workdir=args.workdir, step=g.step, num=len(hr),
                  bicubic_consistency=psnr_db(downsample(x_lr, f), lr), rows=rows)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
