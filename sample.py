"""Sample a trained jaxgen model into a PNG grid and/or one PNG per image.

  python sample.py --workdir=runs/demo --num=64 --out=grid.png
  python sample.py --checkpoint=runs/demo/checkpoints/2000 --sampler=ddpm --steps=1000 --out_dir=pngs/
  python sample.py --workdir=runs/demo --eval --eval_num=2000    # metrics -> runs/demo/eval.json

The family (diffusion, GAN, VAE) is read from the workdir's config.json; EMA
parameters are used when the family keeps them. Same --seed, same images.
"""
import argparse
import json
import sys
from pathlib import Path

from jaxgen import sampling
from jaxgen.checkpoint import CheckpointError
from jaxgen.utils import compile_cache, xla_flags
from jaxgen.utils.images import save_each, save_grid

OPTIONS = ("sampler", "steps", "eta", "guidance")


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", help="a training workdir: its latest checkpoint is used")
    p.add_argument("--checkpoint", help="WORKDIR/checkpoints/STEP: this checkpoint")
    p.add_argument("--num", type=int, default=64, help="number of images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", default="generate", help="generate, or a family's extra mode "
                   "(VAE: reconstruct, interpolate)")
    p.add_argument("--sampler", choices=("ddpm", "ddim"), help="diffusion sampler")
    p.add_argument("--steps", type=int, help="diffusion sampling steps")
    p.add_argument("--eta", type=float, help="DDIM eta (0 = deterministic)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance weight")
    p.add_argument("--raw", action="store_true", help="use the raw parameters instead of the EMA")
    p.add_argument("--out", help="write a tiled grid PNG here")
    p.add_argument("--out_dir", help="write one PNG per image into this folder")
    p.add_argument("--scale", type=int, default=2, help="grid upscaling for viewing")
    p.add_argument("--eval", action="store_true", help="score --eval_num samples: FD / KID / "
                   "precision / recall vs the test split, the train-vs-test baseline, bits/dim")
    p.add_argument("--eval_num", type=int, default=10_000, help="samples (and test images) scored")
    p.add_argument("--eval_batch", type=int, default=500, help="samples generated per call")
    p.add_argument("--eval_out", help="JSON file for --eval (default WORKDIR/eval.json)")
    args = p.parse_args(argv)
    if not (args.out or args.out_dir or args.eval):
        p.error("give --out GRID.png and/or --out_dir DIR and/or --eval")
    return args


def evaluate(args, config, family, state, step, dataset, options) -> dict:
    """--eval: the metrics as one JSON object, written to --eval_out and printed last."""
    from jaxgen.metrics import sample_eval
    result = sample_eval.run(config, family, state, test=dataset, step=step, num=args.eval_num,
                             seed=args.seed, options=options, batch_size=args.eval_batch)
    workdir = sampling.resolve(args.workdir, args.checkpoint)[0]
    result["workdir"] = str(workdir)
    out = Path(args.eval_out or workdir / "eval.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    print(json.dumps(result))
    return result


def main(argv):
    xla_flags.configure()
    compile_cache.enable()
    args = parse(argv)
    try:
        config, family, state, step, dataset = sampling.load(args.workdir, args.checkpoint)
    except (ValueError, FileNotFoundError, CheckpointError) as e:  # message, no traceback
        sys.exit(f"sample.py: error: {e}")
    options = {k: getattr(args, k) for k in OPTIONS if getattr(args, k) is not None}
    if args.raw:
        options["use_ema"] = False
    if args.eval:
        evaluate(args, config, family, state, step, dataset, options)
    if not (args.out or args.out_dir):
        return
    images = sampling.generate(family, state, mode=args.mode, seed=args.seed, num=args.num,
                               dataset=dataset, options=options)
    if args.out:
        print(f"wrote {save_grid(args.out, images, scale=args.scale)} "
              f"({args.num} images, {config.family}, step {step:,})")
    if args.out_dir:
        print(f"wrote {len(save_each(args.out_dir, images))} PNGs to {args.out_dir}")


if __name__ == "__main__":
    main(sys.argv[1:])
