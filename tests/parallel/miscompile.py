"""The smallest jit step we found that XLA:CPU (jax 0.10.2) partitions wrongly: on a 2 x 2 mesh,
a Dense kernel split on its output axis over "tensor" whose (1, 72) output is reshaped to a
(1, 6, 6, 2) image and convolved. The conv kernel's gradient comes out wrong (relative error 1.0)
while the forward value is right; replicating the Dense kernel (jaxgen's FSDP gather) or using
2 devices gives the right numbers. tests/parallel/test_tensor.py runs this with 4 simulated
devices and prints {"want", "split", "gathered"}: the gradient on one device, with the split
kernel, and with the kernel gathered before use.

  XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/parallel/miscompile.py
"""
import json

import jax
import jax.numpy as jnp
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P


def loss(w, conv_w, x):
    """x (1, 1) @ w (1, 72) -> (1, 6, 6, 2) -> 3x3 conv -> mean square."""
    h = (x @ w).reshape(1, 6, 6, 2)
    y = jax.lax.conv_general_dilated(h, conv_w, (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.mean(y ** 2)


def main():
    mesh = jax.make_mesh((2, 2), ("data", "tensor"), axis_types=(AxisType.Auto,) * 2)
    k_x, k_w, k_c = jax.random.split(jax.random.key(0), 3)
    x, w = jax.random.normal(k_x, (1, 1)), 0.3 * jax.random.normal(k_w, (1, 72))
    conv_w = 0.3 * jax.random.normal(k_c, (3, 3, 2, 2))
    grad = jax.jit(jax.grad(loss, argnums=1))
    replicated = NamedSharding(mesh, P())
    split = jax.device_put(w, NamedSharding(mesh, P(None, "tensor")))
    args = (jax.device_put(conv_w, replicated), jax.device_put(x, replicated))
    gathered = jax.jit(lambda w, *a: grad(jax.lax.with_sharding_constraint(w, replicated), *a))
    out = dict(want=grad(w, conv_w, x), split=grad(split, *args), gathered=gathered(split, *args))
    print(json.dumps({k: jax.device_get(v).tolist() for k, v in out.items()}))


if __name__ == "__main__":
    main()
