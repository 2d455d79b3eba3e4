"""Text-guided editing (SDEdit toward a new prompt) on a text-to-image workdir, scored by the
prompt checker: each test canvas is edited toward its own prompt with every colour word
replaced by the next colour of the palette ("a red bag" -> "a green bag"), and the colour
constraints of the new and of the old prompt are read off the results. Prints JSON.

  python benchmarks/t2i_edit.py --workdir runs/t2i_demo --num 96 --strengths 0.4,0.6,0.8 \
      --guidance 3 --out docs/bench_t2i_edit.json --grid docs/images/t2i_edit.png
"""
import argparse
import json
import re
import sys

import numpy as np

from jaxgen.utils import xla_flags

COLOUR_WORD = None  # compiled on first use (after the library import)


def recolour(prompt: str) -> str:
    """`prompt` with each palette colour word replaced by the next one of COLOURS."""
    from jaxgen.data.prompts import COLOURS
    global COLOUR_WORD
    COLOUR_WORD = COLOUR_WORD or re.compile(r"\b(" + "|".join(COLOURS) + r")\b")
    return COLOUR_WORD.sub(lambda m: COLOURS[(COLOURS.index(m[1]) + 1) % len(COLOURS)], prompt)


def colour_met(prompts, canvases) -> float:
    """Fraction of `canvases` meeting the colour constraints of their `prompts`."""
    from jaxgen.metrics.prompts import score
    return score(prompts, canvases)["constraints"]["colour"]


def main(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", required=True)
    p.add_argument("--num", type=int, default=96)
    p.add_argument("--strengths", default="0.4,0.6,0.8")
    p.add_argument("--guidance", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the JSON here too")
    p.add_argument("--grid", help="PNG: inputs, then one row per strength (new prompts)")
    args = p.parse_args(argv)
    xla_flags.configure()
    import jaxgen
    from jaxgen.editing import row_tiles
    from jaxgen.metrics.prompts import real_examples
    from jaxgen.utils.images import save_grid

    g = jaxgen.load(args.workdir)
    old, images = real_examples(g.dataset, args.num, seed=args.seed)
    new = [recolour(q) for q in old]
    rows = [dict(strength=0.0, new_prompt_colour=colour_met(new, images),
                 old_prompt_colour=colour_met(old, images))]
    edits = []
    for s in (float(v) for v in args.strengths.split(",")):
        out = g.img2img(images, strength=s, prompts=new, guidance=args.guidance, seed=args.seed)
        same = g.img2img(images, strength=s, prompts=old, guidance=args.guidance,
                         seed=args.seed)
        rows.append(dict(strength=s, new_prompt_colour=colour_met(new, out),
                         old_prompt_colour=colour_met(old, out),
                         same_prompt_old_colour=colour_met(old, same)))
        edits.append(out)
    result = dict(benchmark="t2i_edit", workdir=args.workdir, step=g.step, num=len(old),
                  guidance=args.guidance, seed=args.seed, sample_options=g.info(), rows=rows,
                  examples=[dict(old=o, new=n) for o, n in zip(old[:8], new[:8])])
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        open(args.out, "w").write(text + "\n")
    if args.grid:
        tiles, ncols = row_tiles([images[:8]] + [e[:8] for e in edits], ncols=8)
        save_grid(args.grid, tiles, ncols=ncols, scale=2)


if __name__ == "__main__":
    main(sys.argv[1:])
