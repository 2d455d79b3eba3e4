"""Sharding as data: a PartitionSpec for every leaf of an abstract state, from the config.

For each leaf, in order: the first `parallel.rules` regex that fully matches its path
("params/conv_in/kernel", "opt_state/1/0/mu/conv_in/kernel") gives its spec; else, under FSDP
(`parallel.fsdp` > 1), a leaf of at least `min_fsdp_size` elements is split along its largest
dimension that the fsdp size divides; else it is replicated. Optimiser moments mirror their
parameters' shapes, so they get the same specs as the parameters. With pipeline stages, a
stacked block leaf (".../blocks/...", leading axis = depth) is first split over "stage" along
that axis (then under FSDP along one of its other dimensions).
"""
from __future__ import annotations

import dataclasses
import math
import re

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jaxgen.parallel import pipeline
from jaxgen.parallel.mesh import AXES, ParallelConfig
from jaxgen.utils.trees import path_name


def _axes(entry) -> tuple[str, ...]:
    return () if entry is None else (entry,) if isinstance(entry, str) else tuple(entry)


def check_spec(name: str, shape, spec: tuple, mesh: Mesh) -> P:
    """The rule's spec as a P, after checking it names mesh axes and divides the shape."""
    if len(spec) > len(shape):
        raise ValueError(f"parallel.rules: spec {spec} for {name} {tuple(shape)} has more "
                         f"entries than the leaf has dimensions")
    for dim, entry in enumerate(spec):
        unknown = [a for a in _axes(entry) if a not in AXES]
        if unknown:
            raise ValueError(f"parallel.rules: spec {spec} for {name} names {unknown}; mesh "
                             f"axes are {AXES}")
        n = math.prod(mesh.shape[a] for a in _axes(entry))
        if shape[dim] % n:
            raise ValueError(f"parallel.rules: {name} dimension {dim} has size {shape[dim]}, "
                             f"which the {n} devices of {entry!r} do not divide")
    return P(*spec)


def fsdp_spec(shape, n: int, min_size: int) -> P:
    """Split the largest dimension that `n` divides (the later one on ties), or replicate."""
    dims = [d for d, size in enumerate(shape) if size % n == 0]
    if n == 1 or not dims or math.prod(shape) < max(min_size, 1):
        return P()
    dim = max(dims, key=lambda d: (shape[d], d))
    return P(*([None] * dim), "fsdp")


def leaf_spec(name: str, shape, cfg: ParallelConfig, mesh: Mesh) -> P:
    staged = mesh.shape.get(pipeline.AXIS, 1) > 1 and pipeline.is_stacked(name)
    for pattern, spec in cfg.rules:
        if re.fullmatch(pattern, name):
            if staged and (not spec or spec[0] is None):   # a rule inside the stage (tensor)
                spec = (pipeline.AXIS, *spec[1:])
            return check_spec(name, shape, spec, mesh)
    if staged:
        return P(pipeline.AXIS, *fsdp_spec(shape[1:], mesh.shape["fsdp"], cfg.min_fsdp_size))
    return fsdp_spec(shape, mesh.shape["fsdp"], cfg.min_fsdp_size)


def state_specs(abstract_state, cfg: ParallelConfig, mesh: Mesh):
    """A PartitionSpec for every leaf of `abstract_state` (same tree structure)."""
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: leaf_spec(path_name(path), leaf.shape, cfg, mesh), abstract_state)


def without_fsdp(spec: P) -> P:
    """`spec` with the "fsdp" axis dropped: the whole array along those dimensions."""
    def drop(entry):
        kept = tuple(a for a in _axes(entry) if a != "fsdp")
        return None if not kept else kept[0] if len(kept) == 1 else kept
    entries = [drop(entry) for entry in spec]
    while entries and entries[-1] is None:
        entries.pop()
    return P(*entries)


def compute_specs(abstract_state, specs, param_groups=None):
    """Specs for the state as the jit step uses it: the parameters (leaves of
    `param_groups(state)`, else every leaf) all-gathered along "fsdp", the rest as stored.

    Why: left to itself, XLA's SPMD partitioner (jax 0.10.2, GSPMD and Shardy alike) lets an
    FSDP-split Dense kernel split the activations along features, and miscompiles a following
    reshape + conv (wrong losses, not just slow). Gathered parameters keep the activations split
    along the batch only, which is what FSDP means; optimiser moments and EMA stay split."""
    wanted = (None if param_groups is None else
              {id(leaf) for leaf in jax.tree.leaves(param_groups(abstract_state))})
    return jax.tree.map(lambda leaf, spec: without_fsdp(spec) if wanted is None or id(leaf) in wanted
                        else spec, abstract_state, specs)


def named(mesh: Mesh, specs):
    """PartitionSpecs -> NamedShardings on `mesh` (same tree structure)."""
    return jax.tree.map(lambda spec: NamedSharding(mesh, spec), specs,
                        is_leaf=lambda x: isinstance(x, P))


def with_model_rules(cfg: ParallelConfig, mesh: Mesh, model_rules=None) -> ParallelConfig:
    """`cfg` with the model's built-in tensor-parallel rules (`model_rules(tensor size)`, the
    family's `tensor_rules`) after the user's `parallel.rules`, which come first and so win.
    A "tensor" axis with neither is an error: its devices would only hold copies."""
    tensor = mesh.shape["tensor"]
    if tensor == 1:
        return cfg
    if model_rules is not None:
        return dataclasses.replace(cfg, rules=cfg.rules + tuple(model_rules(tensor)))
    if any("tensor" in _axes(entry) for _, spec in cfg.rules for entry in spec):
        return cfg
    raise ValueError(f"parallel.tensor={tensor}, but this model has no built-in tensor-parallel "
                     f"split and no parallel.rules entry names 'tensor'; use a DiT "
                     f"(model.arch='dit'), give rules such as (('.*/kernel', (None, 'tensor')),), "
                     f"or set parallel.tensor=1")
