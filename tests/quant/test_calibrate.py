"""Static int8 calibration: recorded input ranges per layer, the stored scales, static int8
arithmetic against float, and the error for a calibration set smaller than a batch."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgen.families.base import Family
from jaxgen.quant import calibrate, int8_family, quantize_state


class Net(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(3, name="b")(3 * jnp.tanh(nn.Dense(8, name="a")(x)))


def _family():
    net = Net()
    inputs = lambda rng, num: 2 * jax.random.normal(rng, (num, 5))  # noqa: E731
    apply = jax.jit(lambda p, x: net.apply({"params": p}, x))
    generate = lambda state, *, rng, num: apply(state["params"], inputs(rng, num))  # noqa: E731
    params = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 5)))["params"]
    return Family(init=None, train_step=None, generate=generate, param_groups=None,
                  inference_keys=("params",)), {"params": params}, inputs


def test_calibration_records_input_ranges_and_static_int8_is_close():
    family, state, inputs = _family()
    ranges = calibrate.activation_ranges(family, state, num=12, batch=4)
    x = np.concatenate([np.asarray(inputs(jax.random.PRNGKey(i), 4), np.float64)
                        for i in range(3)])                               # (12, 5)
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), state["params"])
    h = 3 * np.tanh(x @ p["a"]["kernel"] + p["a"]["bias"])                # (12, 8)
    assert ranges[("a",)] == pytest.approx(np.abs(x).max(), rel=1e-6)
    assert ranges[("b",)] == pytest.approx(np.abs(h).max(), rel=1e-6)
    state8 = quantize_state(family, state, act_ranges=ranges)
    assert float(state8["params"]["b"]["act_scale"]) == pytest.approx(ranges[("b",)] / 127)
    rng = jax.random.PRNGKey(0)
    y = np.asarray(family.generate(state, rng=rng, num=4))
    y8 = np.asarray(int8_family(family).generate(state8, rng=rng, num=4))
    assert np.abs(y8 - y).max() < 0.05 * np.abs(y).max()


def test_calibration_set_smaller_than_a_batch_names_both_sizes():
    family, state, _ = _family()
    with pytest.raises(ValueError, match="calibration set of 3 images is smaller than one "
                                         "calibration batch of 4"):
        calibrate.activation_ranges(family, state, num=3, batch=4)
