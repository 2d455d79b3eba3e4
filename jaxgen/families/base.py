"""The contract between a model family and the shared training loop."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

State = dict[str, Any]  # always holds "step" (int32 scalar) and "rng" (uint32[2] root key)


@dataclasses.dataclass(frozen=True)
class Family:
    """Pure functions the loop composes; none holds state of its own.

    init(rng) -> state                       jittable; a dict with "step", "rng" and the family's
                                             params / optimiser states / EMA
    train_step(state, batch, *, rng, axis_name=None) -> (state, metrics)
                                             one update; must not touch "step" (the loop does);
                                             `axis_name` is set when the step runs per shard
                                             (shard_map / pmap): batch means go through
                                             `mean_over_batch` so gradients are global
    generate(state, *, rng, num, **options) -> float32 (num, H, W, C) in [-1, 1]; None for a
                                             family that makes no images (e.g. text_mlm) or
                                             only completes given ones (mask-conditioned
                                             inpainting: tasks["inpaint"])
    param_groups(state) -> {name: params}    printed with their sizes at start
    sample_options: the option names `generate` accepts (sample.py flags)
    modes: extra sample.py modes, {name: fn(state, *, rng, num, dataset) -> images}
           (e.g. the VAE's "reconstruct" and "interpolate"); "generate" is always there
    evaluate: optional held-out metrics, fn(state, batch, *, rng) -> {name: per-example (B,)},
              e.g. {"bits_per_dim": ...}; the loop and sample.py --eval average them
    sample_info: optional fn(**options) -> dict describing what `generate(**options)` runs,
                 e.g. {"sampler": "heun", "steps": 10, "nfe": 19}; sample.py prints it
    inference_keys: the top-level state entries generate / modes / evaluate read; a
                    sampling-only load (`jaxgen.load`) restores just these (None: all)
    tasks: image-to-image tasks, {name: Task} (diffusion: "img2img", "inpaint"; a
           super-resolution diffusion model: "super_resolve")
    tensor_rules: optional fn(tensor size) -> `parallel.rules` entries ((regex, spec), ...)
                  that split the family's model over the "tensor" mesh axis (the DiT's
                  Megatron split); None: no built-in tensor parallelism
    warm_start: optional state -> state applied once to a freshly initialised state (never
                to a resumed one), e.g. to start from a trained workdir's parameters
    """
    init: Callable[..., State]
    train_step: Callable[..., tuple[State, dict]]
    generate: Callable[..., jax.Array] | None
    param_groups: Callable[[State], dict]
    sample_options: tuple[str, ...] = ()
    modes: dict[str, Callable[..., jax.Array]] = dataclasses.field(default_factory=dict)
    evaluate: Callable[..., dict] | None = None
    sample_info: Callable[..., dict] | None = None
    inference_keys: tuple[str, ...] | None = None
    tasks: dict[str, "Task"] = dataclasses.field(default_factory=dict)
    tensor_rules: Callable[[int], tuple] | None = None
    warm_start: Callable[[State], State] | None = None


class Task(NamedTuple):
    """An image-to-image task of a family.

    run(state, images, *, rng, **options) -> float32 (N, H, W, C) in [-1, 1]; images float32
        (N, H, W, C) in [-1, 1] at the model's size (super_resolve: its low resolution)
    info(**options) -> dict describing what `run(**options)` does, e.g. {"nfe": 410}
    """
    run: Callable[..., jax.Array]
    info: Callable[..., dict]


def root_keys(seed: int):
    """(init key, training key) from the one root key `config.seed`."""
    k_init, k_train = jax.random.split(jax.random.PRNGKey(seed))
    return k_init, k_train


def init_fn(family: Family, seed: int):
    """A pure () -> state: the family's init plus the loop's "step" and "rng". The root keys
    are split inside it, so building the state runs no eager op (each would be a small compile
    of its own at start-up)."""
    def init():
        k_init, k_train = root_keys(seed)
        return dict(family.init(k_init), step=jnp.int32(0), rng=k_train)
    return init


# XLA options for compiling the initialisation on CPU: it runs once, and its compile (a
# threefry kernel per parameter) dominated a cold start (demo U-Net: 25 -> 8 CPU-seconds at
# optimisation level 0; XLA's older fusion emitters then take 6.5 -> 4.3, with the same bits).
# The values equal an optimised compile's up to float rounding.
INIT_COMPILE_OPTIONS = {"xla_backend_optimization_level": 0,
                        "xla_llvm_disable_expensive_passes": True,
                        "xla_cpu_use_fusion_emitters": False}


def make_state(init: Callable[[], State], out_shardings=None,
               while_compiling: Callable[[], None] = lambda: None) -> State:
    """Runs the pure () -> state `init` under jit (each leaf born in `out_shardings`), compiled
    with INIT_COMPILE_OPTIONS on CPU. `while_compiling` is called once the init is traced and
    lowered, just before its compile (or compile-cache load), which releases the GIL: work
    started there on a thread (the loop's `compile_ahead`) traces meanwhile."""
    lowered = jax.jit(init, out_shardings=out_shardings).lower()
    while_compiling()
    options = INIT_COMPILE_OPTIONS if jax.default_backend() == "cpu" else {}
    return lowered.compile(compiler_options=options)()


def step_fn(family: Family, axis_name=None):
    """(state, batch) -> (state, metrics): rng_t = fold_in(rng, step); step += 1. `axis_name`:
    the mesh axes the batch is split over when the step runs per device (shard_map / pmap)."""
    def step(state, batch):
        rng = jax.random.fold_in(state["rng"], state["step"])
        new_state, metrics = family.train_step(state, batch, rng=rng, axis_name=axis_name)
        return dict(new_state, step=state["step"] + 1), metrics
    return step


def example_keys(rng: jax.Array, index: jax.Array) -> jax.Array:
    """One key per example from its global position, so the noise an example gets does
    not depend on how the batch is split across devices or processes. index: uint32 (B,)."""
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(rng, index)


def mean_over_batch(x: jax.Array, axis_name=None) -> jax.Array:
    """Mean over the leading (batch) axis, and over the data-parallel axis when sharded."""
    m = jnp.mean(x, axis=0)
    return jax.lax.pmean(m, axis_name) if axis_name is not None else m


def sampling_params(state: State, use_ema: bool = True):
    """The parameters to sample with: the EMA (`ema_params`) when the family keeps one and
    `use_ema`, else the raw `params` (the EMA convention of `jaxgen.optim`)."""
    return state["ema_params"] if use_ema and "ema_params" in state else state["params"]


def count_params(tree) -> int:
    return sum(int(x.size) for x in jax.tree.leaves(tree))
