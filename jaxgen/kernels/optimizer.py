"""The optimiser's per-parameter work as native calls for the CPU back-end (optimizer.cc).

XLA:CPU compiles an optax update as about six fusions per parameter array: the demo U-Net's
AdamW + EMA update alone is 981 fusions, half of its train step's compile time and of the code
loaded from the compile cache at every start. Here each of the global norm, the AdamW step
(`jaxgen.optim`'s clip + adamw + apply) and the EMA is one FFI call over every array at once,
with the same float32 operations in the same order as optax's (the norm is summed in double, so
it and what it scales may differ from optax's by float rounding). The results are aliased to
the state they replace, so a donated state is updated in place.

`native(...)` says whether these calls apply: the library loads (`make onednn`), CPU is the only
back-end JAX started (`onednn.cpu_only`), outside `onednn.xla_only()`, every array float32 and,
inside shard_map, varying over the same mesh axes. `jaxgen.optim` checks it and otherwise runs
optax's own update.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxgen.kernels import onednn

# The order of the AdamW call's scalars (optimizer.cc's `Scalar`).
ADAMW_SCALARS = ("grad_norm", "max_norm", "one_minus_b1", "b1", "one_minus_b2", "b2",
                 "correction1", "correction2", "eps_root", "eps", "weight_decay", "step_size")


def native(*trees) -> bool:
    """Whether the native calls take these trees' arrays (module docstring)."""
    leaves = [x for tree in trees for x in jax.tree.leaves(tree)]
    return (bool(leaves) and onednn.enabled() and onednn.cpu_only()
            and all(x.dtype == jnp.float32 for x in leaves)
            and len({onednn.varying_axes(x) for x in leaves}) == 1)


def global_norm(tree) -> jax.Array:
    """The L2 norm of all of `tree`'s arrays together (`optax.tree.norm`), float32 ()."""
    leaves = jax.tree.leaves(tree)
    call = jax.ffi.ffi_call("jaxgen_global_norm", onednn.result_like(leaves[0], ()),
                            vmap_method="sequential")
    return call(*leaves)


def adamw(grads, mu, nu, params, scalars: dict, *, clip: bool):
    """One AdamW step with `scalars` (ADAMW_SCALARS, each a float or a float32 scalar array):
    (new mu, new nu, new params), each with its operand's tree structure."""
    trees = (grads, mu, nu, params)
    packed = jnp.stack([jnp.asarray(scalars[k], jnp.float32) for k in ADAMW_SCALARS])
    out = _in_place("jaxgen_adamw", packed, trees, updated=slice(1, 4), clip=clip)
    return tuple(out)


def ema(ema_params, params, decay):
    """decay * ema_params + (1 - decay) * params, with `decay` a float32 scalar."""
    decay = jnp.asarray(decay, jnp.float32)
    packed = jnp.stack([decay, 1.0 - decay])
    return _in_place("jaxgen_ema", packed, (ema_params, params), updated=slice(0, 1))[0]


def _in_place(target, scalars, trees, updated: slice, **attrs):
    """FFI call `target`(scalars, every leaf of `trees` in order) -> new values of the trees
    `trees[updated]`, each leaf aliased to the operand it replaces."""
    groups = [jax.tree.leaves(t) for t in trees]
    operands = [x for group in groups for x in group]
    first = sum(len(group) for group in groups[:updated.start])
    replaced = [x for group in groups[updated] for x in group]
    call = jax.ffi.ffi_call(target, [onednn.result_like(x, x.shape) for x in replaced],
                            vmap_method="sequential",
                            input_output_aliases={1 + first + i: i for i in range(len(replaced))})
    out = iter(call(_vary_like(scalars, operands[0]), *operands, **attrs))
    return [jax.tree.unflatten(jax.tree.structure(t), [next(out) for _ in group])
            for t, group in zip(trees[updated], groups[updated])]


def _vary_like(x, like):
    """x, made to vary over the shard_map mesh axes `like` varies over (no-op outside)."""
    axes = tuple(onednn.varying_axes(like) - onednn.varying_axes(x))
    return lax.pcast(x, axes, to="varying") if axes else x
