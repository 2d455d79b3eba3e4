"""oneDNN convolutions (jaxgen/kernels/onednn.py): the same values and gradients as XLA's
convolution, used exactly where they apply, and clear errors when the library is missing."""
import contextlib
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxgen.kernels import onednn

NHWC = onednn.NHWC


def test_the_library_is_built_and_loads():
    """`make test` builds it (`make onednn`); without it every other test here would only
    compare XLA with itself."""
    assert onednn.version() is not None and onednn.version().startswith("2."), (
        f"{onednn.LIBRARY} is missing or does not load; run `make onednn`")


def loss_and_grads(conv, x, w, strides, padding, target):
    def loss(x, w):
        return jnp.sum(conv(x, w, strides, padding, dimension_numbers=NHWC) * target)
    return jax.jit(jax.value_and_grad(loss, (0, 1)))(x, w)


CASES = [  # batch, size, c_in, c_out, kernel, stride, padding
    (64, 28, 16, 16, 3, 1, "SAME"),      # the demo U-Net's 28x28 convolutions
    (64, 28, 16, 16, 3, 2, "SAME"),      # its downsampling (pads (0, 1))
    (5, 9, 3, 7, 3, 2, ((1, 0), (2, 1))),  # odd batch (uneven split), asymmetric padding
    (7, 8, 4, 5, 4, 2, ((1, 1), (1, 1))),  # the DCGAN discriminator's k4 s2 p1
    (1, 6, 2, 3, 1, 1, "VALID"),         # batch 1 (no split), 1x1 kernel
]


@pytest.mark.parametrize("b,size,c_in,c_out,k,stride,padding", CASES)
def test_values_and_gradients_equal_xla(b, size, c_in, c_out, k, stride, padding):
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(keys[0], (b, size, size, c_in))
    w = jax.random.normal(keys[1], (k, k, c_in, c_out))
    strides = (stride, stride)
    y = lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=NHWC)
    target = jax.random.normal(keys[2], y.shape)
    got_y = jax.jit(lambda x, w: onednn.conv_general_dilated(
        x, w, strides, padding, dimension_numbers=NHWC))(x, w)
    np.testing.assert_allclose(got_y, y, rtol=1e-5, atol=1e-5 * float(jnp.abs(y).max()))
    want = loss_and_grads(lax.conv_general_dilated, x, w, strides, padding, target)
    got = loss_and_grads(onednn.conv_general_dilated, x, w, strides, padding, target)
    for a, g in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
        scale = float(jnp.abs(a).max())
        np.testing.assert_allclose(g, a, rtol=1e-5, atol=1e-5 * scale)


def custom_calls(fn, *args) -> int:
    return jax.jit(fn).lower(*args).as_text().count("jaxgen_onednn_conv")


def test_all_three_passes_run_on_onednn_on_cpu():
    x, w = jnp.ones((2, 8, 8, 3)), jnp.ones((3, 3, 3, 4))

    def loss(x, w):
        return jnp.sum(onednn.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=NHWC))
    assert custom_calls(loss, x, w) == 1
    assert custom_calls(jax.value_and_grad(loss, (0, 1)), x, w) == 3


@pytest.mark.parametrize("case", ["bfloat16", "groups", "dilation", "NCHW"])
def test_other_convolutions_are_xlas_own(case):
    """Only float32 NHWC / HWIO, ungrouped, undilated convolutions go to oneDNN; the rest are
    `lax.conv_general_dilated` itself, bit for bit."""
    x, w = jnp.ones((2, 8, 8, 4)) * 0.5, jnp.ones((3, 3, 4, 4)) * 0.25
    kw = dict(window_strides=(1, 1), padding="SAME", dimension_numbers=NHWC)
    if case == "bfloat16":
        x, w = x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
    elif case == "groups":
        w, kw["feature_group_count"] = w[:, :, :2], 2
    elif case == "dilation":
        kw["rhs_dilation"] = (2, 2)
    else:
        x, kw["dimension_numbers"] = x.transpose(0, 3, 1, 2), ("NCHW", "HWIO", "NCHW")

    def mine(x, w):
        return onednn.conv_general_dilated(x, w, **kw)
    assert custom_calls(jax.grad(lambda x, w: jnp.sum(mine(x, w)), (0, 1)), x, w) == 0
    np.testing.assert_array_equal(jax.jit(mine)(x, w), lax.conv_general_dilated(x, w, **kw))


def test_xla_only_traces_xlas_own_convolutions():
    x, w = jnp.ones((2, 8, 8, 3)), jnp.ones((3, 3, 3, 4))

    def loss(x, w):
        return jnp.sum(onednn.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=NHWC))
    with onednn.xla_only():
        assert custom_calls(jax.value_and_grad(loss, (0, 1)), x, w) == 0
    assert custom_calls(jax.value_and_grad(loss, (0, 1)), x, w) == 3


def test_vmap_of_the_gradient_equals_xla():
    keys = jax.random.split(jax.random.PRNGKey(1), 2)
    xs = jax.random.normal(keys[0], (3, 2, 6, 6, 2))
    w = jax.random.normal(keys[1], (3, 3, 2, 3))

    def grad_w(conv):
        return jax.jit(jax.vmap(jax.grad(lambda x, w: jnp.sum(conv(
            x, w, (1, 1), "SAME", dimension_numbers=NHWC) ** 2), 1), (0, None)))(xs, w)
    np.testing.assert_allclose(grad_w(onednn.conv_general_dilated),
                               grad_w(lax.conv_general_dilated), rtol=1e-5, atol=1e-4)


def dense_loss(dot_general, x, w, target):
    """A Dense over the channels of x with `dot_general`, as nn.Dense calls it."""
    def loss(x, w):
        y = dot_general(x, w, (((x.ndim - 1,), (0,)), ((), ())))
        return jnp.sum(y * target), y
    return loss


def test_pointwise_dense_equals_lax_dot_general_on_onednn():
    """A Dense over NHWC channels is a oneDNN 1x1 convolution, all three passes, with
    lax.dot_general's values and gradients (float rounding)."""
    keys = jax.random.split(jax.random.PRNGKey(2), 3)
    x, w = jax.random.normal(keys[0], (5, 7, 7, 24)), jax.random.normal(keys[1], (24, 12))
    target = jax.random.normal(keys[2], (5, 7, 7, 12))
    mine = dense_loss(onednn.pointwise_dot_general, x, w, target)
    want = jax.jit(jax.value_and_grad(dense_loss(lax.dot_general, x, w, target), (0, 1),
                                      has_aux=True))(x, w)
    got = jax.jit(jax.value_and_grad(mine, (0, 1), has_aux=True))(x, w)
    for a, g in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
        np.testing.assert_allclose(g, a, rtol=1e-5, atol=1e-5 * float(jnp.abs(a).max()))
    assert custom_calls(jax.value_and_grad(lambda x, w: mine(x, w)[0], (0, 1)), x, w) == 3


@pytest.mark.parametrize("case", ["bfloat16", "3-D", "xla_only"])
def test_other_dense_layers_are_lax_dot_general(case):
    x, w = jnp.ones((2, 4, 4, 6)) * 0.5, jnp.ones((6, 3)) * 0.25
    if case == "bfloat16":
        x, w = x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
    elif case == "3-D":
        x = x.reshape(2, 16, 6)
    loss = dense_loss(onednn.pointwise_dot_general, x, w, jnp.ones(x.shape[:-1] + (3,)))
    with onednn.xla_only() if case == "xla_only" else contextlib.nullcontext():
        assert custom_calls(jax.grad(lambda x, w: loss(x, w)[0], (0, 1)), x, w) == 0
        np.testing.assert_array_equal(jax.jit(loss)(x, w)[1],
                                      lax.dot_general(x, w, (((x.ndim - 1,), (0,)), ((), ()))))


def run_python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_other_back_ends_keep_xla_fallbacks(monkeypatch):
    """Where CPU is the only back-end, a pass traces its native call alone; where another runs
    too, both, behind lax.platform_dependent (each platform lowers its own)."""
    def trace(x):
        traced = []
        jax.jit(lambda x: onednn.on_cpu(x, cpu=lambda x: traced.append("cpu") or x,
                                        default=lambda x: traced.append("xla") or x)).lower(x)
        return sorted(traced)
    assert onednn.cpu_only() and trace(jnp.ones(2)) == ["cpu"]
    monkeypatch.setattr(onednn, "cpu_only", lambda: False)
    assert trace(jnp.ones(3)) == ["cpu", "xla"]


def test_turned_off_with_jaxgen_onednn_0():
    out = run_python(
        "import jax, jax.numpy as jnp\n"
        "from jaxgen.kernels import onednn\n"
        "f = lambda x: onednn.conv_general_dilated(x, jnp.ones((3, 3, 1, 1)), (1, 1), 'SAME',"
        " dimension_numbers=onednn.NHWC).sum()\n"
        "print(onednn.version(), jax.jit(jax.grad(f)).lower(jnp.ones((1, 4, 4, 1))).as_text()"
        ".count('jaxgen_onednn'))", {"JAXGEN_ONEDNN": "0"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "0"]


def test_a_missing_library_named_in_the_environment_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope.so"
    out = run_python("from jaxgen.kernels import onednn; onednn.version()",
                     {"JAXGEN_ONEDNN": str(missing)})
    assert out.returncode != 0
    assert f"JAXGEN_ONEDNN={missing}: no such file" in out.stderr
    assert "make onednn" in out.stderr and "JAXGEN_ONEDNN=0" in out.stderr
