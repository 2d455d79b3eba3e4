"""The native GroupNorm (+ SiLU) kernel (jaxgen/kernels/normalization.py): values against a
float64 formula, gradients against flax's GroupNorm, used exactly where it applies."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen import kernels
from jaxgen.kernels import onednn
from jaxgen.kernels import normalization as norm
from jaxgen.models import layers
from tests.kernels.test_onednn import run_python


def float64_group_norm(x, scale, bias, groups, silu, eps=1e-6):
    x = np.asarray(x, np.float64)
    xg = x.reshape(x.shape[0], -1, groups, x.shape[-1] // groups)
    mean = xg.mean(axis=(1, 3), keepdims=True)
    var = ((xg - mean) ** 2).mean(axis=(1, 3), keepdims=True)
    z = ((xg - mean) / np.sqrt(var + eps)).reshape(x.shape) * scale + bias
    return z / (1 + np.exp(-z)) if silu else z


def inputs(shape, seed=0):
    keys = jax.random.split(jax.random.PRNGKey(seed), 4)
    c = shape[-1]
    return (3 * jax.random.normal(keys[0], shape) + 1, jax.random.normal(keys[1], (c,)) + 1,
            jax.random.normal(keys[2], (c,)), jax.random.normal(keys[3], shape))


CASES = [  # shape, groups, silu
    ((64, 28, 28, 32), 8, True),   # the demo U-Net's 28x28 ResBlocks
    ((5, 7, 9, 12), 3, False),     # odd batch (uneven split), no activation (attention's norm)
    ((3, 10, 16), 16, True),       # (B, L, C), one channel per group
    ((1, 4, 4, 6), 1, True),       # batch 1, one group (LayerNorm over H, W, C)
]


@pytest.mark.parametrize("shape,groups,silu", CASES)
def test_values_and_gradients(shape, groups, silu):
    assert onednn.version() is not None, "the kernel library is not built; run `make onednn`"
    x, scale, bias, dy = inputs(shape)

    def loss(f):
        return lambda x, s, b: jnp.sum(f(x, s, b, groups, silu=silu) * dy)

    y = jax.jit(lambda x, s, b: kernels.group_norm(x, s, b, groups, silu=silu))(x, scale, bias)
    want = float64_group_norm(x, np.float64(scale), np.float64(bias), groups, silu)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    got = jax.jit(jax.grad(loss(kernels.group_norm), (0, 1, 2)))(x, scale, bias)
    ref = jax.jit(jax.grad(loss(norm.reference), (0, 1, 2)))(x, scale, bias)
    for name, a, r in zip(("dx", "dscale", "dbias"), got, ref):
        scale_of = float(np.max(np.abs(r)))
        np.testing.assert_allclose(a, r, rtol=0, atol=2e-5 * scale_of, err_msg=name)


def custom_calls(f, *args):
    return jax.jit(f).lower(*args).compile().as_text().count("jaxgen_group_norm")


def test_the_kernel_runs_for_float32_on_cpu_and_flax_otherwise():
    x, scale, bias, _ = inputs((2, 4, 4, 8))
    train = jax.grad(lambda x, s, b: jnp.sum(kernels.group_norm(x, s, b, 4, silu=True)), (0, 1, 2))
    assert custom_calls(train, x, scale, bias) == 2            # forward and backward
    bf16 = x.astype(jnp.bfloat16)
    f = lambda x, s, b: kernels.group_norm(x, s, b, 4)  # noqa: E731
    assert custom_calls(f, bf16, scale, bias) == 0
    np.testing.assert_array_equal(f(bf16, scale, bias), norm.reference(bf16, scale, bias, 4))
    with onednn.xla_only():
        assert custom_calls(f, x, scale, bias) == 0


def test_nan_propagates():
    """A NaN in one example's activations makes that example's output NaN (so a NaN loss is
    seen and stops the run), and leaves the other examples alone."""
    x, scale, bias, _ = inputs((4, 3, 3, 8))
    x = x.at[1, 0, 0, 0].set(jnp.nan)
    y = np.asarray(jax.jit(lambda x: kernels.group_norm(x, scale, bias, 2, silu=True))(x))
    assert np.isnan(y[1, ..., :4]).all() and np.isfinite(np.delete(y, 1, axis=0)).all()


def test_layer_has_flax_parameters_and_output():
    """layers.GroupNorm is a drop-in for nn.GroupNorm: the same parameter tree (checkpoints
    load) and the same output."""
    x, _, _, _ = inputs((2, 5, 5, 8))
    ours, flax_gn = layers.GroupNorm(num_groups=4), nn.GroupNorm(num_groups=4)
    params = ours.init(jax.random.PRNGKey(0), x)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(
        jnp.shape, flax_gn.init(jax.random.PRNGKey(0), x))
    params = jax.tree.map(lambda p: p + 0.5 * jnp.arange(p.size, dtype=p.dtype), params)
    np.testing.assert_allclose(jax.jit(ours.apply)(params, x), flax_gn.apply(params, x),
                               rtol=1e-5, atol=1e-5)


SHARDED = """
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, PartitionSpec as P
from jaxgen import kernels
from jaxgen.kernels import normalization as norm
from tests.kernels.test_group_norm import inputs
x, s, b, _ = inputs((6, 5, 5, 8))
grad = lambda f: jax.grad(lambda x, s, b: jnp.sum(jnp.sin(f(x, s, b, 4, silu=True))), (0, 1, 2))
mesh = Mesh(np.array(jax.devices()), ("data",))
sharded = jax.jit(jax.shard_map(grad(kernels.group_norm), mesh=mesh,
                                in_specs=(P("data"), P(), P()), out_specs=(P("data"), P(), P())))
assert "jaxgen_group_norm" in sharded.lower(x, s, b).as_text()
for a, r in zip(sharded(x, s, b), grad(norm.reference)(x, s, b)):
    np.testing.assert_allclose(a, r, rtol=0, atol=1e-5 * float(np.max(np.abs(r))))
print("ok")
"""


def test_gradients_under_shard_map_are_summed_over_the_batch_split():
    out = run_python(SHARDED, {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert out.stdout.strip().endswith("ok"), out.stdout + out.stderr
