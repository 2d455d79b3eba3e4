"""Quantized checkpoints: a folder laid out like a workdir (config.json, checkpoints/STEP,
orbax) whose sampling parameters are int8 arrays plus float32 scales, and quant.json saying
so. `jaxgen.sampling.load`, sample.py and `jaxgen.load` read it like any workdir."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax

from jaxgen.checkpoint import Checkpointer
from jaxgen.quant.family import int8_family, param_keys, quantize_state
from jaxgen.quant.params import nbytes

MARKER = "quant.json"


def is_quantized_workdir(workdir) -> bool:
    return (Path(workdir) / MARKER).is_file()


def abstract_for(family, abstract: dict, family_name: str, calibrated: bool = False) -> dict:
    """The shapes / dtypes an int8 checkpoint of `family` holds, from the float `abstract`
    (with an act_scale per int8 layer when `calibrated`)."""
    keep = family.inference_keys or tuple(abstract)
    floats = {k: v for k, v in abstract.items() if k in keep}
    return jax.eval_shape(lambda s: quantize_state(family, s, family_name=family_name,
                                                   act_ranges={} if calibrated else None),
                          floats)


def open_quantized(family, abstract: dict, family_name: str, workdir=None):
    """(int8 family, abstract int8 state) for restoring the int8 checkpoint in `workdir`."""
    calibrated = bool(workdir and json.loads((Path(workdir) / MARKER).read_text())
                      .get("calibration"))
    return int8_family(family), abstract_for(family, abstract, family_name, calibrated)


def write(workdir, out, *, checkpoint=None, calibrate: int = 0, calibrate_batch: int = 50) -> dict:
    """Quantizes the sampling parameters of `workdir` (latest, or `checkpoint`) into the
    folder `out`; returns the report written to out/quant.json. `calibrate` > 0: static
    activation scales from that many float samples (`jaxgen.quant.calibrate`)."""
    from jaxgen import sampling
    config, family, state, step, _ = sampling.load(workdir, checkpoint, inference=True)
    if is_quantized_workdir(sampling.resolve(workdir, checkpoint)[0]):
        raise ValueError(f"{workdir} already holds an int8 checkpoint; quantize the float "
                         f"workdir it came from")
    ranges = None
    if calibrate:
        from jaxgen.quant.calibrate import activation_ranges
        ranges = activation_ranges(family, state, num=calibrate, batch=calibrate_batch)
    state8 = quantize_state(family, state, family_name=f"family {config.family!r}",
                            act_ranges=ranges)
    out = Path(out)
    if (out / "checkpoints").exists():
        raise FileExistsError(f"{out / 'checkpoints'} exists; pick another --out or delete it")
    ckpt = Checkpointer(out / "checkpoints", max_to_keep=1)
    ckpt.save(step, state8, {"step": int(step)})
    ckpt.close()
    shutil.copy(Path(sampling.resolve(workdir, checkpoint)[0]) / "config.json", out)
    keys = param_keys(family, state)
    report = dict(source=str(workdir), step=int(step), param_keys=keys,
                  float32_bytes=sum(nbytes(state[k]) for k in keys),
                  int8_bytes=sum(nbytes(state8[k]) for k in keys))
    report["ratio"] = round(report["float32_bytes"] / report["int8_bytes"], 3)
    if calibrate:
        report["calibration"] = dict(images=calibrate, batch=calibrate_batch,
                                     layers=len(ranges))
    (out / MARKER).write_text(json.dumps(report, indent=2) + "\n")
    return report
