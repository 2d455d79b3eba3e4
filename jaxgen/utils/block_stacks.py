"""Checkpoints across `model.scan_blocks`: block parameters stored one per block
(".../block3/attn/kernel", scan_blocks=False) or stacked (".../blocks/attn/kernel", leading axis
= depth, scan_blocks=True), their optimiser moments and EMA alike, rebuilt in the layout a run
builds. Paths as `jaxgen.utils.trees.path_name`; exact (stacking and indexing copy bytes).
"""
from __future__ import annotations

import re

import numpy as np

STACKED = re.compile(r"(.*/)?blocks/(.*)")     # prefix, rest
SINGLE = re.compile(r"(.*/)?block(\d+)/(.*)")  # prefix, index, rest


def _stacked_source(name: str, stored: dict) -> tuple | None:
    """(".../block0/r", ".../block1/r", ...) for a wanted ".../blocks/r", if stored holds them."""
    m = STACKED.fullmatch(name)
    if not m:
        return None
    parts, i = [], 0
    while f"{m.group(1) or ''}block{i}/{m.group(2)}" in stored:
        parts.append(f"{m.group(1) or ''}block{i}/{m.group(2)}")
        i += 1
    return tuple(parts) or None


def _single_source(name: str, stored: dict) -> tuple | None:
    """(".../blocks/r", i) for a wanted ".../block{i}/r", if stored holds the stack."""
    m = SINGLE.fullmatch(name)
    source = m and f"{m.group(1) or ''}blocks/{m.group(3)}"
    return (source, int(m.group(2))) if source in stored else None


def sources(wanted: dict, stored: dict) -> dict | None:
    """{wanted path: source} from {path: shape} of what the run builds and of what is stored:
    a source is a stored path, a tuple of paths (stack them) or (stacked path, index). None when
    nothing needs converting, or some wanted leaf cannot be built (shapes included)."""
    out = {}
    for name, shape in wanted.items():
        source = (name if name in stored else _stacked_source(name, stored)
                  or _single_source(name, stored))
        if source is None or tuple(shape) != _shape(source, stored):
            return None
        out[name] = source
    return None if all(isinstance(s, str) for s in out.values()) else out


def _shape(source, stored: dict) -> tuple:
    if isinstance(source, str):
        return tuple(stored[source])
    if isinstance(source[1], int):
        return tuple(stored[source[0]])[1:]
    return (len(source), *stored[source[0]])


def assemble(source, arrays: dict) -> np.ndarray:
    """The wanted leaf from the stored `arrays` {path: numpy array}."""
    if isinstance(source, str):
        return arrays[source]
    if isinstance(source[1], int):
        return arrays[source[0]][source[1]]
    return np.stack([arrays[s] for s in source])
