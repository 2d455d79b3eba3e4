"""Pytree helpers shared by the checkpointing and the sharding rules."""
from __future__ import annotations


def key_name(key) -> str:
    """The name of one key-path entry: a dict key, a sequence index or a namedtuple field."""
    for attr in ("key", "idx", "name"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def path_name(path) -> str:
    """"params/conv_in/kernel" from a key path (`jax.tree_util.tree_flatten_with_path`)."""
    return "/".join(key_name(k) for k in path)
