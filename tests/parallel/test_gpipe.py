"""The GPipe schedule against a plain sequential scan, and the pipeline's bad-input errors.

In-process and small: S stages are simulated with `jax.vmap(axis_name="stage")`, under which
`axis_index`, `ppermute` and `psum` act as on S devices. The training runs on simulated devices
are in test_pipeline_runs.py (slow).
"""
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.sharding import PartitionSpec as P

from jaxgen.parallel import mesh as mesh_lib
from jaxgen.parallel import pipeline, rules
from conftest import smoke_config

L, D = 8, 4   # blocks, width


def block(h, w, c):
    """A toy block: (b, D) -> (b, D), with a per-example conditioning input c (b, D)."""
    return jnp.tanh(h @ w + c)


def sequential(W, x, c):
    return lax.scan(lambda h, w: (block(h, w, c), None), x, W)[0]


def pipelined(W, x, c, S, M):
    """W (L, D, D) as S stages of L/S blocks, x and c (B, D) as M microbatches -> (S, B, D):
    the result as each stage returns it."""
    stage_fn = lambda p, h, c_m: lax.scan(lambda h, w: (block(h, w, c_m), None), h, p)[0]  # noqa: E731
    mb = lambda a: a.reshape(M, -1, D)  # noqa: E731
    run = lambda p: pipeline.schedule(stage_fn, p, mb(x), mb(c)).reshape(x.shape)  # noqa: E731
    return jax.vmap(run, axis_name="stage")(W.reshape(S, L // S, D, D))


@pytest.mark.parametrize("S, M", [(4, 3)])   # M not a multiple of S: every edge of the schedule
def test_schedule_matches_a_sequential_scan_values_and_gradients(S, M):
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    W = jax.random.normal(k[0], (L, D, D)) / 2
    x, c = jax.random.normal(k[1], (M * 2, D)), jax.random.normal(k[2], (M * 2, D))
    out = pipelined(W, x, c, S, M)
    for s in range(S):   # every stage holds the last stage's result
        np.testing.assert_allclose(out[s], sequential(W, x, c), rtol=1e-6, atol=1e-6)
    loss_seq = lambda *a: jnp.sum(sequential(*a) ** 2)  # noqa: E731
    loss_pipe = lambda *a: jnp.sum(pipelined(*a, S, M)[0] ** 2)  # noqa: E731
    for want, got in zip(jax.grad(loss_seq, (0, 1, 2))(W, x, c),
                         jax.grad(loss_pipe, (0, 1, 2))(W, x, c)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_bubble_fraction():
    assert pipeline.bubble(1, 8) == 0.0
    assert pipeline.bubble(4, 4) == pytest.approx(3 / 7)
    assert pipeline.bubble(4, 8) == pytest.approx(3 / 11)


def fake_mesh(stage=4, data=1, fsdp=1, tensor=1):
    return types.SimpleNamespace(shape=dict(data=data, fsdp=fsdp, tensor=tensor, stage=stage))


def test_stacked_block_leaves_split_over_stage_with_their_moments():
    cfg = mesh_lib.ParallelConfig(fsdp=2, min_fsdp_size=0, stages=4)
    mesh = fake_mesh(fsdp=2)
    assert rules.leaf_spec("params/denoiser/blocks/mlp_in/kernel", (8, 32, 64), cfg, mesh) == \
        P("stage", None, "fsdp")
    assert rules.leaf_spec("opt_state/1/0/mu/blocks/attn/qkv/bias", (8, 3), cfg, mesh) == P("stage")
    assert rules.leaf_spec("params/patch_embed/kernel", (16, 32), cfg, mesh) == P(None, "fsdp")


def test_a_tensor_rule_on_a_stacked_leaf_keeps_the_stage_split():
    cfg = mesh_lib.ParallelConfig(stages=2, tensor=2,
                                  rules=(("(.*/)?blocks/mlp_in/kernel", (None, None, "tensor")),))
    mesh = fake_mesh(stage=2, tensor=2)
    assert rules.leaf_spec("params/denoiser/blocks/mlp_in/kernel", (4, 32, 64), cfg, mesh) == \
        P("stage", None, "tensor")


DIT = "dit_compose"


@pytest.mark.parametrize("overrides, message", [
    ({"parallel.pipeline.stages": "3"}, r"stages=3 does not divide config.model.depth=4"),
    ({"parallel.pipeline.microbatches": "3"}, r"microbatches=3 does not divide the 8 examples"),
    ({"model.scan_blocks": "False"}, r"scan_blocks=False; use a DiT with --config.model.scan_blocks=true"),
    ({"model.dropout": "0.1"}, r"dropout .*model.dropout=0.1"),
])
def test_bad_pipeline_configs_name_the_numbers(overrides, message):
    config = smoke_config(DIT, **overrides)
    S = config.parallel.pipeline.stages if "parallel.pipeline.stages" in overrides else 4
    with pytest.raises(ValueError, match=message):
        pipeline.check(config, fake_mesh(stage=S), config.parallel.pipeline.microbatches)


def test_pipeline_needs_a_block_stack_a_divisible_mesh_and_jit_mode():
    with pytest.raises(ValueError, match=r"arch='unet'"):
        pipeline.check(smoke_config("ddpm_fmnist"), fake_mesh(), 4)
    pipeline.check(smoke_config(DIT), fake_mesh(stage=2, tensor=2), 4)   # composes with tensor
    with pytest.raises(ValueError, match=r"stages=4 does not divide the 6 devices"):
        mesh_lib.make_mesh(mesh_lib.ParallelConfig(stages=4), devices=list(range(6)))
    with pytest.raises(ValueError, match=r"stages=2 runs in mode='jit' only"):
        mesh_lib.ParallelConfig(mode="shard_map", stages=2)
    cfg = mesh_lib.parallel_config(smoke_config(DIT, **{"parallel.pipeline.stages": "2",
                                                        "parallel.pipeline.microbatches": "8"}))
    assert (cfg.stages, cfg.microbatches) == (2, 8)
