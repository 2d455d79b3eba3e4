"""Sample a trained jaxgen model into a PNG grid and/or one PNG per image.

  python sample.py --workdir=runs/demo --num=64 --out=grid.png
  python sample.py --checkpoint=runs/demo/checkpoints/2000 --sampler=ddpm --steps=1000 --out_dir=pngs/
  python sample.py --workdir=runs/demo --eval --eval_num=2000    # metrics -> runs/demo/eval.json
  python sample.py --workdir=runs/demo --mode=img2img --image=x.png --strength=0.6 --out=e.png
  python sample.py --workdir=runs/demo --precision=int8 --out=int8.png     # quantized on the fly
  python sample.py --workdir=runs/demo/int8 --out=int8.png  # from python -m jaxgen.quant --out
  python sample.py --workdir=runs/demo --mode=inpaint --image=test.npz --mask=left_half --out=i.png
  python sample.py --workdir=runs/t2i_demo --eval --eval_num=200 --eval_guidance=0,4 \
      --no-eval_bpd   # text-to-image: prompt alignment by category vs guidance, per-cell FD
  python sample.py --workdir=runs/sr3_demo --mode=super_resolve --image=small.png --out=sr.png
  python sample.py --workdir=runs/sr3_demo --mode=super_resolve --ground_truth=test.npz --out=sr.png
  python sample.py --workdir=runs/t2i --prompt "a red bag" --prompt "two blue sandals" --num=8 \
      --guidance=3 --out=t2i.png    # text-to-image: one row of --num images per prompt

The family (diffusion, GAN, VAE) is read from the workdir's config.json; EMA
parameters are used when the family keeps them. Same --seed, same images.
"""
import argparse
import sys

from jaxgen import api
from jaxgen.sample_modes import (check_text_model, edit, evaluate, read_prompts, super_resolve,
                                 write_prompt_grid)
from jaxgen.checkpoint import CheckpointError, quiet_abandoned_reads
from jaxgen.quant.precision import PRECISIONS, with_precision
from jaxgen.utils import compile_cache, xla_flags
from jaxgen.utils.images import save_each, save_grid

from jaxgen.diffusion import SAMPLERS, SPACINGS, sampler_options

# every option some sampler of the registry takes, with its default there (a flag each)
SAMPLER_FLAGS = {k: v for s in SAMPLERS for k, v in sampler_options(s).items()}
OPTIONS = ("sampler", "steps", "spacing", "guidance", "guidance_interval", "labels",
           "lr_consistency", *sorted(SAMPLER_FLAGS))


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated class ids, e.g. 0,3,7; "
                                         f"got {text!r}") from None


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated guidance weights, e.g. "
                                         f"0,2,4; got {text!r}") from None


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in ("true", "1")


def _pair(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI (noise levels sigma), got {text!r}") from None
    return lo, hi


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", help="a training workdir: its latest checkpoint is used")
    p.add_argument("--checkpoint", help="WORKDIR/checkpoints/STEP: this checkpoint")
    p.add_argument("--num", type=int, default=64, help="number of images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", default="generate", help="generate, img2img or inpaint "
                   "(diffusion), super_resolve (an SR workdir), or a family's extra mode (VAE: "
                   "reconstruct, interpolate)")
    edit = p.add_argument_group("img2img / inpaint / super_resolve (diffusion)")
    edit.add_argument("--image", help="input: a .png/.jpg, a folder of them, or an .npz "
                      "(key 'images'); the first --num images are used")
    edit.add_argument("--ground_truth", help="super_resolve: full-size images (same forms as "
                      "--image) shown as the last grid row; without --image their box-averaged "
                      "low-resolution versions are upscaled")
    edit.add_argument("--strength", type=float, default=0.6, help="img2img: noise level in "
                      "[0, 1] to start from (0 returns the input, 1 ignores it)")
    edit.add_argument("--mask", default="box", help="inpaint: a PNG (white = fill, black = "
                      "keep) or box, left_half, random_strokes (drawn from --seed)")
    edit.add_argument("--lr_consistency", action="store_true", default=None,
                      help="super_resolve: project each x0 prediction onto the images whose "
                      "box average is the input (downsampled results match it)")
    edit.add_argument("--jump_length", type=int, help="inpaint: RePaint jump j (default 10; "
                      "not for a mask-conditioned workdir)")
    edit.add_argument("--resample", type=int, help="inpaint: RePaint resamplings U (default "
                      "10, 1 = none; not for a mask-conditioned workdir)")
    p.add_argument("--sampler", choices=SAMPLERS, help="diffusion sampler (default: the config's)")
    p.add_argument("--steps", type=int, help="diffusion sampling steps")
    p.add_argument("--spacing", choices=SPACINGS, help="timestep spacing (default: the config's)")
    for name, default in sorted(SAMPLER_FLAGS.items()):
        takers = [s for s in SAMPLERS if name in sampler_options(s)]
        kind = {bool: _bool, int: int, str: str}.get(type(default), float)   # unipc: order, ...
        p.add_argument(f"--{name}", type=kind, help=f"{'/'.join(takers)} option (default {default})")
    p.add_argument("--labels", type=_ints, help="class ids for a class-conditional model, e.g. "
                   "0,3,7 (repeated to --num)")
    p.add_argument("--prompt", action="append", help="a prompt for a text-to-image model "
                   "(repeat for more; one grid row of --num images each; \"\" is unconditional)")
    p.add_argument("--prompts_file", help="a text file of prompts, one per line (one row each)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance weight w: "
                   "eps_c + w (eps_c - eps_uncond); 0 = plain conditional")
    p.add_argument("--guidance_interval", type=_pair, help="LO,HI: guide only at noise levels "
                   "sigma in [LO, HI]")
    p.add_argument("--precision", choices=PRECISIONS, help="fp32, bf16 (compute dtype; "
                   "parameters stay float32) or int8 (int8 x int8 -> int32 convolutions and "
                   "matmuls; default: as stored)")
    p.add_argument("--dequantize", action="store_true", help="int8: float arithmetic on the "
                   "int8 weights, for back-ends where integer convolution is missing or slow")
    p.add_argument("--raw", action="store_true", help="use the raw parameters instead of the EMA")
    p.add_argument("--out", help="write a tiled grid PNG here")
    p.add_argument("--out_dir", help="write one PNG per image into this folder")
    p.add_argument("--scale", type=int, default=2, help="grid upscaling for viewing")
    p.add_argument("--eval", action="store_true", help="score --eval_num samples: FD / KID / "
                   "precision / recall vs the test split, the train-vs-test baseline, bits/dim")
    p.add_argument("--eval_num", type=int, default=10_000, help="samples (and test images) scored")
    p.add_argument("--eval_batch", type=int, default=500, help="samples generated per call")
    p.add_argument("--eval_out", help="JSON file for --eval (default WORKDIR/eval.json)")
    p.add_argument("--eval_bpd", action=argparse.BooleanOptionalAction, default=True,
                   help="with --eval, also bits/dim where the family has it (--no-eval_bpd: "
                   "sample quality only, much faster for diffusion)")
    p.add_argument("--eval_alignment", action=argparse.BooleanOptionalAction, default=None,
                   help="with --eval on a text-to-image model (the default there): prompt "
                   "alignment by category on test-split prompts, its ceiling, per-cell FD")
    p.add_argument("--eval_guidance", type=_floats, help="guidance weights of the alignment "
                   "sweep (default 0,1,2,4,8; the sampling guidance is added)")
    args = p.parse_args(argv)
    if not (args.out or args.out_dir or args.eval):
        p.error("give --out GRID.png and/or --out_dir DIR and/or --eval")
    return args


def main(argv):
    xla_flags.configure()
    quiet_abandoned_reads()
    compile_cache.enable()
    args = parse(argv)
    try:
        prompts = read_prompts(args)
        check_text_model(args, prompts)
        g = api.load(args.workdir, checkpoint=args.checkpoint)
        g = with_precision(g, args.precision, dequantize=args.dequantize)
    except (ValueError, FileNotFoundError, CheckpointError) as e:  # message, no traceback
        sys.exit(f"sample.py: error: {e}")
    options = {k: getattr(args, k) for k in OPTIONS if getattr(args, k) is not None}
    if args.raw:
        options["use_ema"] = False
    try:
        if args.mode == "super_resolve":
            return super_resolve(args, g, options)
        if args.mode in ("img2img", "inpaint"):   # a prompt (text models) guides the edit
            return edit(args, g, dict(options, prompts=prompts) if prompts else options)
        if prompts:
            options["prompts"] = [p for p in prompts for _ in range(args.num)]
        if args.mode == "generate" and g.info(**options):
            print("sampling: " + ", ".join(f"{k}={v}" for k, v in g.info(**options).items()))
        if args.eval:
            evaluate(args, g, options)
        if not (args.out or args.out_dir):
            return
        num = args.num * len(prompts or [None])
        images = g.sample(num, seed=args.seed, mode=args.mode, **options)
    except (ValueError, FileNotFoundError) as e:  # bad option or input: message, no traceback
        sys.exit(f"sample.py: error: {e}")
    if args.out and prompts:
        write_prompt_grid(args, images, prompts)
    elif args.out:
        print(f"wrote {save_grid(args.out, images, scale=args.scale)} "
              f"({args.num} images, {g.config.family}, step {g.step:,})")
    if args.out_dir:
        print(f"wrote {len(save_each(args.out_dir, images))} PNGs to {args.out_dir}")


if __name__ == "__main__":
    main(sys.argv[1:])
