"""The optimiser's native calls (jaxgen/kernels/optimizer.py): the global norm and the EMA
against float64 formulas, used exactly where they apply; the AdamW step against optax is in
tests/test_optim.py."""
import jax
import jax.numpy as jnp
import numpy as np

from jaxgen import optim
from jaxgen.kernels import onednn
from jaxgen.kernels import optimizer as native
from tests.kernels.test_onednn import run_python
from tests.test_optim import _cfg, _trees

# Arrays of many sizes; "big" is over the size at which the work is split over threads.
SHAPES = {"kernel": (3, 3, 16, 32), "bias": (7,), "scalar": (), "big": (300_001,)}


def tree(seed, scale=1.0):
    return _trees(seed, scale, SHAPES)


def adamw_cfg():
    return _cfg(warmup_steps=0, decay="constant", weight_decay=0.01)


def float64(t):
    return {k: np.asarray(v, np.float64) for k, v in t.items()}


def test_global_norm_is_the_float64_norm():
    assert onednn.version() is not None, "the kernel library is not built; run `make onednn`"
    x = tree(0, scale=3.0)
    want = np.sqrt(sum(np.sum(v ** 2) for v in float64(x).values()))
    got = jax.jit(optim.global_norm)(x)
    assert got.dtype == jnp.float32 and got.shape == ()
    np.testing.assert_allclose(got, want, rtol=2e-7)
    assert "jaxgen_global_norm" in jax.jit(optim.global_norm).lower(x).as_text()


def test_ema_is_the_float64_formula():
    ema, params = tree(1), tree(2)
    got = jax.jit(lambda e, p: optim.ema_update(e, p, 5, 0.999))(ema, params)
    d = min(0.999, 6 / 15)
    for k, e in float64(ema).items():
        np.testing.assert_allclose(got[k], d * e + (1 - d) * float64(params)[k], rtol=1e-6,
                                   atol=1e-6)  # float32 rounding of the two terms


def test_native_only_for_float32_on_the_kernels():
    x = tree(0)
    assert native.native(x)
    assert not native.native({"w": jnp.ones(3, jnp.bfloat16)})
    assert not native.native({"w": jnp.ones(3), "v": jnp.ones(3, jnp.bfloat16)})
    assert not native.native({})
    with onednn.xla_only():
        assert not native.native(x)
        text = jax.jit(lambda t: optim.global_norm(t)).lower(x).as_text()  # a fresh trace
        assert "jaxgen" not in text


def test_nan_gradient_reaches_the_parameters():
    """A NaN gradient makes the clipped step NaN everywhere, as optax's does, so the run's NaN
    check stops it on the next loss."""
    tx, _ = optim.make_optimizer(adamw_cfg(), 10)
    params = tree(0)
    grads = dict(tree(1), bias=jnp.full(7, jnp.nan))
    new, _ = jax.jit(lambda g, s, p: optim.apply_gradients(tx, g, s, p))(
        grads, tx.init(params), params)
    assert all(np.isnan(np.asarray(v)).all() for v in new.values())


SHARDED = """
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, PartitionSpec as P
from jaxgen import optim
from jaxgen.kernels import onednn
from tests.kernels.test_optimizer import tree, adamw_cfg
tx, _ = optim.make_optimizer(adamw_cfg(), 10)
step = lambda g, s, p: optim.apply_gradients(tx, g, s, p)
mesh = Mesh(np.array(jax.devices()), ("data",))
# replicated: each device updates its own copy, as one device does
params, grads = tree(0), tree(1)
copies = jax.jit(jax.shard_map(step, mesh=mesh, in_specs=P(), out_specs=P()))
assert "jaxgen_adamw" in copies.lower(grads, tx.init(params), params).as_text()
for a, r in zip(jax.tree.leaves(copies(grads, tx.init(params), params)),
                jax.tree.leaves(step(grads, tx.init(params), params))):
    np.testing.assert_array_equal(a, r)
# split over "data" (varying): each device updates its part, as optax's update does there
params = {"a": jnp.arange(24.0).reshape(4, 6), "b": jnp.linspace(-1, 1, 8)}
grads = jax.tree.map(jnp.cos, params)

def update(g, p):  # the new parameters and first moments
    new, state = step(g, tx.init(p), p)
    return new, state[-1][0].mu
split = lambda: jax.jit(jax.shard_map(update, mesh=mesh, in_specs=P("data"),
                                      out_specs=P("data")))
assert "jaxgen_adamw" in split().lower(grads, params).as_text()
ours = split()(grads, params)
with onednn.xla_only():
    assert "jaxgen_adamw" not in split().lower(grads, params).as_text()
    theirs = split()(grads, params)
for a, r in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
    np.testing.assert_allclose(a, r, rtol=1e-6)
print("ok")
"""


def test_under_shard_map():
    out = run_python(SHARDED, {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert out.stdout.strip().endswith("ok"), out.stdout + out.stderr
