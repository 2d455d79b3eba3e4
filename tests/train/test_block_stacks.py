"""A checkpoint written with one `model.scan_blocks` restores into the other, bit for bit."""
import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.checkpoint import Checkpointer, StateMismatchError
from jaxgen.utils import block_stacks

Moments = collections.namedtuple("Moments", "mu nu")   # as optax's states: namedtuple fields
L = 3


def model(stacked: bool, rng):
    """Parameters of a 3-block model, blocks stacked (L, ...) or one per block, plus a text
    encoder whose own "block0" must stay as it is."""
    w = jax.random.normal(rng, (L, 4, 2))
    blocks = ({"blocks": {"mlp": {"kernel": w}}} if stacked else
              {f"block{i}": {"mlp": {"kernel": w[i]}} for i in range(L)})
    return {"denoiser": {"patch_embed": {"kernel": jnp.ones((2, 4))}, **blocks},
            "text": {"block0": {"kernel": jnp.full((2, 2), 3.0)}}}


def state(stacked: bool):
    params = model(stacked, jax.random.PRNGKey(0))
    moments = Moments(mu=jax.tree.map(lambda x: x * 2, params), nu=jax.tree.map(jnp.square, params))
    return {"params": params, "opt_state": (moments,), "step": jnp.int32(5)}


@pytest.mark.parametrize("saved_stacked", [False, True])
def test_restore_converts_between_stacked_and_single_blocks(tmp_path, saved_stacked):
    ckpt = Checkpointer(tmp_path / "ckpt")
    ckpt.save(5, state(saved_stacked), {"step": 5})
    ckpt.wait()
    want = state(not saved_stacked)
    restored, meta = ckpt.restore(5, jax.eval_shape(lambda: want))
    ckpt.close()
    assert meta == {"step": 5}
    assert jax.tree.structure(restored) == jax.tree.structure(want)
    for got, expected in zip(jax.tree.leaves(restored), jax.tree.leaves(want)):
        np.testing.assert_array_equal(got, expected)


def test_blocks_of_another_depth_are_no_conversion():
    wanted = {"p/blocks/w": (4, 2), "p/head": (2,)}
    assert block_stacks.sources(wanted, {"p/block0/w": (2,), "p/block1/w": (2,), "p/head": (2,)}) is None
    assert block_stacks.sources(wanted, dict(wanted)) is None     # same layout: nothing to do


def test_a_real_mismatch_is_still_an_error(tmp_path):
    ckpt = Checkpointer(tmp_path / "ckpt")
    ckpt.save(1, {"params": {"blocks": {"w": jnp.ones((3, 2))}}}, {"step": 1})
    ckpt.wait()
    with pytest.raises(StateMismatchError, match="does not fit"):
        ckpt.restore(1, {"params": {"blocks": {"w": jax.ShapeDtypeStruct((4, 2), jnp.float32)}}})
    ckpt.close()
