"""Configs: load `configs/<name>.py[:arg]`, apply `--config.a.b=value` overrides, save/load JSON.

Every config is an `ml_collections.ConfigDict`, locked, so a typo in an override
is an error that names the key and suggests the nearest existing one.
"""
from __future__ import annotations

import ast
import dataclasses
import difflib
import importlib.util
import json
from pathlib import Path

import ml_collections


def base_config() -> ml_collections.ConfigDict:
    """The keys every experiment has; a config file fills in and extends them."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.family = ""
    # folder / npz sources: test_path, a separate test set; else the fixed fraction
    # test_fraction of path is held out as "test" (0: test on the training images).
    c.data = dict(source="fashion_mnist", path="", test_path="", test_fraction=0.1,
                  image_size=28, channels=1, on_corrupt="error", num_synthetic=512,
                  num_classes=10)
    # stop_check_every: how often (steps) the processes of a multi-process run agree on
    # whether any caught SIGTERM / SIGINT (one small collective per check).
    c.train = dict(steps=1000, batch_size=64, log_every=50, checkpoint_every=500,
                   keep_checkpoints=3, sample_every=0, num_samples=64, stop_check_every=1)
    c.optim = dict(lr=2e-4, warmup_steps=100, decay="cosine", min_lr_ratio=0.0,
                   b1=0.9, b2=0.999, weight_decay=0.0, grad_clip=1.0, ema_decay=0.0)
    c.eval = dict(every=0, num_samples=1000, bpd_timesteps=50)
    # Device mesh and step mode (jaxgen/parallel): mode "jit" | "shard_map" | "pmap"; mesh axis
    # sizes (-1: all remaining devices); rules: ((regex over "params/.../kernel", spec), ...),
    # spec a tuple of mesh-axis names / None per dimension; leaves below min_fsdp_size elements
    # stay replicated under FSDP. pipeline: GPipe over a "stage" axis of `stages` devices,
    # each data replica's batch in `microbatches` parts (DiT with scan_blocks only).
    c.parallel = dict(mode="jit", data=-1, fsdp=1, tensor=1, rules=(), min_fsdp_size=2**14,
                      pipeline=dict(stages=1, microbatches=4))
    # Pruning (jaxgen/quant/prune.py): sparsity 0, channels 0 and no init_from change nothing.
    c.prune = dict(sparsity=0.0, initial_sparsity=0.0, start_step=0, end_step=0, every=10,
                   power=3.0, include=r"(params|g_params)/.*kernel", init_from="", channels=0.0)
    return c


def fmnist_diffusion(prediction: str, p_uncond: float) -> ml_collections.ConfigDict:
    """base_config() with the Fashion-MNIST diffusion U-Net (6.5M parameters; attention at
    7x7) and the cosine 1,000-step schedule that configs/ddpm_fmnist.py, sr3_fmnist.py and
    inpaint_fmnist.py share; each config then sets its own sampling, training and task keys."""
    c = base_config()
    c.family = "diffusion"
    c.model = dict(arch="unet", ch=64, ch_mult=(1, 2, 2), num_res_blocks=2,
                   attn_resolutions=(7,), dropout=0.0, num_classes=0, num_groups=8, num_heads=1,
                   patch=1, dtype="float32")
    c.diffusion = dict(schedule="cosine", num_steps=1000, beta_start=1e-4, beta_end=0.02,
                       prediction=prediction, p_uncond=p_uncond, min_snr_gamma=0.0)
    return c


def fmnist_smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`c` (from fmnist_diffusion) cut to a seconds-long smoke run, as the tests use it: an
    8-channel two-level U-Net, 100 diffusion steps, 8 training steps of batch 8."""
    c.model.update(ch=8, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(14,), num_groups=4)
    c.diffusion.num_steps = 100
    c.sample.steps = 5
    c.optim.update(lr=1e-3, warmup_steps=2, ema_decay=0.9)
    c.train.update(steps=8, batch_size=8, log_every=2, checkpoint_every=4, sample_every=0,
                   num_samples=4)
    return c


def load_config(spec: str) -> ml_collections.ConfigDict:
    """Loads `path/to/config.py[:arg]` by calling its `get_config(arg)`; returns it locked."""
    path, _, arg = spec.partition(":")
    if not Path(path).is_file():
        raise FileNotFoundError(f"config file {path!r} not found; pass e.g. "
                                f"--config=configs/ddpm_fmnist.py:smoke")
    module_spec = importlib.util.spec_from_file_location(f"_jaxgen_config_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    config = module.get_config(arg or None)
    config.lock()
    return config


def load_workdir_config(workdir) -> ml_collections.ConfigDict:
    """The config a workdir was trained with (its config.json), locked."""
    path = Path(workdir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {workdir} is not a jaxgen workdir "
                                f"(train.py writes config.json there)")
    return from_json(path.read_text())


def validate(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Checks the values every run relies on; a bad one is a ValueError naming key and fix."""
    t = config.train
    for key in ("steps", "batch_size", "keep_checkpoints", "stop_check_every"):
        if int(t[key]) < 1:
            raise ValueError(f"config.train.{key}={t[key]} must be >= 1; pass e.g. "
                             f"--config.train.{key}={base_config().train[key]}")
    for key in ("log_every", "checkpoint_every", "sample_every", "num_samples"):
        if int(t[key]) < 0:
            raise ValueError(f"config.train.{key}={t[key]} must be >= 0 (0 turns it off)")
    if not 0.0 <= float(config.optim.ema_decay) < 1.0:
        raise ValueError(f"config.optim.ema_decay={config.optim.ema_decay} must be in [0, 1) "
                         f"(0: no EMA)")
    return config


class UnknownKeys(ValueError):
    """A config section has keys its typed dataclass lacks: `where` ("model"), `keys`."""

    def __init__(self, message: str, where: str, keys: list[str]):
        super().__init__(message)
        self.where, self.keys = where, keys


def section(cls, values, *, where: str, **derived):
    """Builds the frozen dataclass `cls` from a config section (e.g. `config.model`), so a
    model's hyperparameters are typed at its boundary. Keys the section has that `cls` lacks
    are an error naming them; `derived` fields (from other sections, e.g. the data's channel
    count) take precedence; lists become tuples; fields missing from the section keep their
    defaults (configs saved before a field existed still load)."""
    names = {f.name for f in dataclasses.fields(cls)}
    given = dict(values.items()) if values is not None else {}
    unknown = sorted(set(given) - names)
    if unknown:
        raise UnknownKeys(f"config.{where} has keys {unknown} that {cls.__name__} does not "
                          f"take; valid keys: {sorted(names - set(derived))}", where, unknown)
    given.update(derived)
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})


def _parse_value(text: str, current):
    """Parses `text` into the type of the field's current value."""
    if isinstance(current, bool):
        lowered = text.lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError(f"expected true/false, got {text!r}")
        return lowered in ("true", "1")
    if isinstance(current, (int, float)):
        return type(current)(ast.literal_eval(text)) if isinstance(current, float) else int(text)
    if isinstance(current, (tuple, list)):
        value = ast.literal_eval(text if text.strip() else "()")
        return tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return text


def _lookup(config, dotted: str):
    """Returns (parent ConfigDict, leaf name) for `a.b.c`, with a did-you-mean error."""
    node, parts = config, dotted.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
            keys = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
            prefix = ".".join(parts[:i])
            near = difflib.get_close_matches(part, keys, n=1)
            hint = f"did you mean {'.'.join(filter(None, [prefix, near[0]]))!r}? " if near else ""
            raise KeyError(f"unknown config key {dotted!r}: {hint}"
                           f"keys under {prefix or 'config'!r} are {keys}")
        if i < len(parts) - 1:
            node = node[part]
    return node, parts[-1]


def apply_overrides(config: ml_collections.ConfigDict, overrides: dict[str, str]):
    """Applies {'train.steps': '100', ...} to a locked config, parsing by the field's type."""
    for key, text in overrides.items():
        parent, leaf = _lookup(config, key)
        current = parent[leaf]
        if isinstance(current, ml_collections.ConfigDict):
            raise KeyError(f"config key {key!r} is a group, not a value; set one of "
                           f"{sorted(current.keys())}")
        try:
            value = _parse_value(text, current)
        except (ValueError, SyntaxError) as e:
            raise ValueError(f"--config.{key}={text}: cannot parse as "
                             f"{type(current).__name__} ({e}); current value is {current!r}") from None
        with config.unlocked():
            parent[leaf] = value
    return config


def split_overrides(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """Separates `--config.a.b=v` (or `--config.a.b v`) overrides from the other arguments."""
    rest, overrides, i = [], {}, 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--config."):
            key, eq, value = arg[len("--config."):].partition("=")
            if not eq:
                if i + 1 >= len(argv):
                    raise ValueError(f"{arg} needs a value: write {arg}=VALUE")
                i, value = i + 1, argv[i + 1]
            overrides[key] = value
        else:
            rest.append(arg)
        i += 1
    return rest, overrides


def to_json(config: ml_collections.ConfigDict) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True)


def _tuplify(value):
    if isinstance(value, dict):
        return {k: _tuplify(v) for k, v in value.items()}
    return tuple(_tuplify(v) for v in value) if isinstance(value, list) else value


# Keys whose default would change what an older run does: a config.json written before the key
# existed gets the value that reproduces that run (its folder / npz data had no held-out split).
LEGACY = {("data", "test_fraction"): 0.0}


def from_json(text: str) -> ml_collections.ConfigDict:
    """Inverse of `to_json` (lists come back as tuples); returns it locked. Keys that
    `base_config` has gained since the JSON was written take their defaults (or their LEGACY
    value), so an old workdir resumes as it ran."""
    config = base_config()
    values = _tuplify(json.loads(text))
    for (group, key), value in LEGACY.items():
        if key not in values.get(group, {key: None}):
            config[group][key] = value
    _merge(config, values)
    config.lock()
    return config


def _merge(config: ml_collections.ConfigDict, values: dict) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(config.get(key), ml_collections.ConfigDict):
            _merge(config[key], value)
        else:
            config[key] = value
