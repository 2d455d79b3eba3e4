"""Text conditioning of the diffusion family (`config.text`): a TextEncoder in front of the
denoiser, optionally initialised from a masked-LM workdir (`text.checkpoint`, trained with
configs/text_mlm.py) and frozen (`text.freeze`) or fine-tuned with the denoiser.

config.text = dict(width, depth, heads, mlp_ratio, max_len, dropout, dtype  (TextConfig),
                   checkpoint="" (a text_mlm workdir or ""), freeze=False)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxgen import config as config_lib
from jaxgen.families.conditioning import Conditioning
from jaxgen.families.distill_teacher import differences
from jaxgen.models.conditioned import TextConditioned
from jaxgen.models.text import TextConfig, decode_text

OPTIONS = {"checkpoint": "", "freeze": False}
MATCH = ("width", "depth", "heads", "mlp_ratio", "max_len")   # what fixes the parameter shapes


def text_settings(config) -> tuple[TextConfig, dict]:
    """(TextConfig, {"checkpoint", "freeze"}) from `config.text`."""
    section = dict(config.text.items())
    options = {k: section.pop(k, v) for k, v in OPTIONS.items()}
    return config_lib.section(TextConfig, section, where="text"), options


def check_captions(dataset, cfg: TextConfig, who: str, where: str) -> int:
    """The dataset's token length L, checked: captions exist and fit `cfg.max_len`."""
    if getattr(dataset, "tokens", None) is None:
        raise ValueError(f"{who} needs captions but {dataset.name!r} has none; set "
                         f"--config.data.source=fashion_compose")
    length = dataset.tokens.shape[1]
    if length > cfg.max_len:
        raise ValueError(f"captions of {dataset.name!r} are {length} tokens but {where}.max_len="
                         f"{cfg.max_len}; set --config.{where}.max_len={length}")
    return length


def load_encoder(path: str, cfg: TextConfig) -> dict:
    """The encoder parameters of a text_mlm workdir (its newest checkpoint), checked to have
    `cfg`'s shapes; a path without a text_mlm run or checkpoint is a ValueError naming it."""
    from jaxgen import sampling
    from jaxgen.families.text_mlm import model_config
    workdir = Path(path)
    if not (workdir / "config.json").is_file():
        raise ValueError(f"config.text.checkpoint={path!r} is not a jaxgen workdir (no "
                         f"config.json); train one: python train.py "
                         f"--config=configs/text_mlm.py --workdir={path}")
    saved = config_lib.load_workdir_config(workdir)
    if saved.family != "text_mlm":
        raise ValueError(f"config.text.checkpoint={path!r} is a {saved.family!r} workdir; it "
                         f"must be a masked-LM text encoder (configs/text_mlm.py)")
    diffs = differences(cfg, model_config(saved), "text", MATCH)
    if diffs:
        raise ValueError(f"config.text does not match the encoder in {path}/config.json; pass "
                         f"{' '.join(diffs)}")
    try:
        _, _, state, _, _ = sampling.load(workdir, inference=True)
    except FileNotFoundError as e:
        raise ValueError(f"config.text.checkpoint={path!r}: {e}") from None
    return state["params"]


def build_text_network(config, dataset, denoiser):
    """(TextConditioned model, Conditioning, pretrained(params) -> params, frozen groups)."""
    cfg, options = text_settings(config)
    check_captions(dataset, cfg, "config.text (a text-to-image model)", "text")
    loaded = load_encoder(options["checkpoint"], cfg) if options["checkpoint"] else None

    def pretrained(params):
        """params with the text encoder's replaced by the checkpoint's (MLM head left out)."""
        if loaded is None:
            return params
        return {**params, "text": {k: loaded[k] for k in params["text"]}}

    prompts = tuple(decode_text(dataset.tokens[np.arange(min(8, len(dataset)))]))
    cond = Conditioning("text", max_len=cfg.max_len, default_prompts=prompts)
    model = TextConditioned(cfg, denoiser, freeze=bool(options["freeze"]))
    return model, cond, pretrained, ("text",) if options["freeze"] else ()
