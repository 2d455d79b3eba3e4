"""What sample.py does in each mode, given its parsed flags `args` and a loaded
`jaxgen.api.Generator` `g`: --eval, img2img / inpaint, super_resolve, and prompts (reading,
checking against the workdir, the captioned grid)."""
from __future__ import annotations

import json
from pathlib import Path

from jaxgen import config as config_lib
from jaxgen import sampling
from jaxgen.utils.images import save_captioned_grid, save_each, save_grid


def evaluate(args, g, options) -> dict:
    """--eval: the metrics as one JSON object, written to --eval_out and printed last."""
    if args.eval_alignment is not False and "text" in g.config:
        from jaxgen.metrics import alignment_eval
        result = alignment_eval.run(g.config, g.family, g.state, test=g.dataset, step=g.step,
                                    num=args.eval_num, seed=args.seed, options=dict(options),
                                    guidances=args.eval_guidance or alignment_eval.GUIDANCES,
                                    batch_size=args.eval_batch)
    else:
        from jaxgen.metrics import sample_eval
        result = sample_eval.run(g.config, g.family, g.state, test=g.dataset, step=g.step,
                                 num=args.eval_num, seed=args.seed, options=options,
                                 batch_size=args.eval_batch, likelihood=args.eval_bpd)
    result["workdir"] = str(g.workdir)
    out = Path(args.eval_out or g.workdir / "eval.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    print(json.dumps(result))
    return result


def edit(args, g, options) -> None:
    """--mode=img2img / inpaint: a grid of input / (masked input /) result rows and/or the
    results as PNGs."""
    from jaxgen import editing
    if not args.image:
        raise ValueError(f"--mode={args.mode} needs --image=PNG, a folder of images or an .npz")
    if args.eval:
        raise ValueError(f"--eval scores plain sampling; drop it with --mode={args.mode}")
    images = editing.inputs(args.image, g.config)[:args.num]
    if args.mode == "img2img":
        extra, fill = dict(strength=args.strength), None
    else:
        fill = editing.mask_for(args.mask, images, args.seed)
        extra = dict(mask=fill, **{k: getattr(args, k) for k in ("jump_length", "resample")
                                   if getattr(args, k) is not None})
    task = editing.task_of(g.family, args.mode)
    print(f"{args.mode}: " + ", ".join(f"{k}={v}" for k, v in
                                       task.info(**extra, **options).items()))
    results = editing.run_task(g.family, g.state, args.mode, images, seed=args.seed,
                               **extra, **options)
    if args.out:
        tiles, ncols = editing.task_tiles(images, results, fill)
        print(f"wrote {save_grid(args.out, tiles, ncols, scale=args.scale)} ({len(images)} images: "
              f"rows input{' / masked' if fill is not None else ''} / result)")
    if args.out_dir:
        print(f"wrote {len(save_each(args.out_dir, results))} PNGs to {args.out_dir}")


def super_resolve(args, g, options) -> None:
    """--mode=super_resolve: a grid of LR (nearest) / bicubic / SR (/ ground truth) rows and/or
    the SR results as PNGs."""
    from jaxgen import super_resolution as sr
    if args.eval:
        raise ValueError("--eval scores plain sampling; drop it with --mode=super_resolve")
    lr, truth = sr.inputs_and_truth(g.config, args.image, args.ground_truth, args.num)
    factor = sr.factor_of(g.config)
    info = g.family.tasks["super_resolve"].info(**options)
    print("super_resolve: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    results = sr.run(g.family, g.state, lr, seed=args.seed, **options)
    if args.out:
        tiles, ncols = sr.comparison_tiles(lr, results, factor, truth)
        print(f"wrote {save_grid(args.out, tiles, ncols, scale=args.scale)} ({len(lr)} images: "
              f"rows LR / bicubic / SR{' / ground truth' if truth is not None else ''})")
    if args.out_dir:
        print(f"wrote {len(save_each(args.out_dir, results))} PNGs to {args.out_dir}")


def read_prompts(args) -> list[str] | None:
    """--prompt values, then the lines of --prompts_file (blank lines skipped, a line "" is the
    empty prompt); None if neither."""
    prompts = list(args.prompt or [])
    if args.prompts_file:
        path = Path(args.prompts_file)
        if not path.is_file():
            raise ValueError(f"--prompts_file={path} not found; give a text file with one "
                             f"prompt per line")
        prompts += [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return [("" if p == '""' else p) for p in prompts] or None   # a line "" is the empty prompt


def check_text_model(args, prompts) -> None:
    """Prompts and the alignment eval need a text-to-image workdir (checked on its
    config.json, before loading)."""
    workdir = sampling.resolve(args.workdir, args.checkpoint)[0]
    is_text = "text" in config_lib.load_workdir_config(workdir)
    if (args.eval_alignment or args.eval_guidance) and not is_text:
        flag = "--eval_alignment" if args.eval_alignment else "--eval_guidance"
        raise ValueError(f"{flag} given, but {workdir} is not a text-to-image model (its "
                         f"config has no text section): prompt alignment needs a model "
                         f"conditioned on prompts; drop {flag} (plain --eval scores sample "
                         f"quality), or evaluate a workdir of configs/t2i_compose.py")
    if prompts is not None and not is_text:
        raise ValueError(f"--prompt / --prompts_file given, but {workdir} is not a "
                         f"text-to-image model (its config has no text section); sample it "
                         f"without prompts, or train one: python train.py "
                         f"--config=configs/t2i_compose.py:demo --workdir=runs/t2i_demo")
    for i, prompt in enumerate(prompts or []):
        if not prompt:
            print(f"row {i}: the empty prompt is the unconditional sample")


def write_prompt_grid(args, images, prompts) -> None:
    """The captioned grid (one row per prompt) and OUT.txt listing the row prompts."""
    out = save_captioned_grid(args.out, images, prompts, ncols=args.num, scale=args.scale)
    sidecar = out.with_suffix(".txt")
    shown = [p or '"" (unconditional)' for p in prompts]
    sidecar.write_text("".join(f"row {i}: {p}\n" for i, p in enumerate(shown)))
    print(f"wrote {out} ({len(prompts)} prompts x {args.num} images) and {sidecar}")
