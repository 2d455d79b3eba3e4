"""int8 checkpoints and --precision: round trip through orbax, and the errors for bad input."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ml_collections import ConfigDict

import jaxgen
from jaxgen import config as config_lib
from jaxgen import families, quant
from jaxgen.api import Generator
from jaxgen.families.base import Family
from jaxgen.quant import store


@pytest.fixture(scope="module")
def int8_workdir(diffusion_workdir, tmp_path_factory):
    out = tmp_path_factory.mktemp("q") / "int8"
    return out, store.write(diffusion_workdir, out)


@pytest.mark.slow  # trains the smoke workdir, samples twice (~45 s)
def test_quantized_checkpoint_round_trip(diffusion_workdir, int8_workdir):
    out, report = int8_workdir
    assert report["ratio"] >= 3.4 and report["param_keys"] == ["params", "ema_params"]
    g8 = jaxgen.load(out)
    layer = g8.state["ema_params"]["conv_in"]
    assert layer["kernel_q"].dtype == jnp.int8 and layer["kernel_scale"].dtype == jnp.float32
    on_the_fly = quant.with_precision(jaxgen.load(diffusion_workdir), "int8")
    for a, b in zip(jax.tree.leaves(g8.state), jax.tree.leaves(on_the_fly.state)):
        np.testing.assert_array_equal(a, b)
    images = g8.sample(2, steps=2, seed=3)
    assert images.shape == (2, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, on_the_fly.sample(2, steps=2, seed=3))


def _generator(params, config=None) -> Generator:
    family = Family(init=None, train_step=None, generate=lambda *a, **k: None,
                    param_groups=None, inference_keys=("params",))
    config = config or ConfigDict(dict(family="toy", model=dict(ch=8)))
    return Generator(config, family, {"params": params}, 0, None, "w")


def test_precision_errors():
    g = _generator({"conv": {"kernel": jnp.ones((3, 3, 1, 2))}})
    g8 = _generator(quant.quantize_params(g.state["params"]))
    with pytest.raises(ValueError, match="w holds int8 weights.*--precision int8.*--dequantize"):
        quant.with_precision(g8, "fp32")
    with pytest.raises(ValueError, match=r"precision='fp16' is not known.*'bf16', 'int8'"):
        quant.with_precision(g8, "fp16")
    with pytest.raises(ValueError, match="--dequantize applies to int8"):
        quant.with_precision(g, "bf16", dequantize=True)
    assert quant.with_precision(g, "fp32") is g


@dataclasses.dataclass(frozen=True)
class PlainConfig:
    """The typed config of a model without a compute dtype."""
    ch: int = 8


def test_family_without_compute_dtype_is_named(monkeypatch):
    def build(config, dataset):
        return config_lib.section(PlainConfig, config.model, where="model")
    monkeypatch.setattr(families, "build", build)
    g = _generator({}, ConfigDict(dict(family="plain", model=dict(ch=8))))
    assert quant.with_precision(g, "fp32") is g
    with pytest.raises(ValueError, match="bf16: the 'plain' family has no compute-dtype setting"
                       r" \(its config.model takes no dtype\).*--precision fp32 or int8"):
        quant.with_precision(g, "bf16")


@pytest.mark.slow  # needs the trained smoke workdir
def test_checkpoint_errors(diffusion_workdir, int8_workdir):
    with pytest.raises(ValueError, match="already holds an int8 checkpoint"):
        store.write(int8_workdir[0], int8_workdir[0].parent / "again")
    with pytest.raises(FileExistsError, match="pick another --out"):
        store.write(diffusion_workdir, int8_workdir[0])


@pytest.mark.slow  # needs the trained smoke workdir
def test_dequantized_fallback_is_float(int8_workdir):
    g = quant.with_precision(jaxgen.load(int8_workdir[0]), "int8", dequantize=True)
    kernel = g.state["ema_params"]["conv_in"]["kernel"]
    assert kernel.dtype == jnp.float32 and len(np.unique(np.asarray(kernel[..., 0]))) <= 255


def test_family_without_images_is_named():
    family = Family(init=None, train_step=None, generate=None, param_groups=None)
    with pytest.raises(ValueError, match="family 'text_mlm' makes no images.*diffusion, gan, vae"):
        quant.quantize_state(family, {"params": {}}, family_name="family 'text_mlm'")


def test_sample_flag_choices(capsys):
    import sample
    with pytest.raises(SystemExit):
        sample.parse(["--workdir", "w", "--out", "g.png", "--precision", "fp16"])
    assert "invalid choice: 'fp16' (choose from 'fp32', 'bf16', 'int8')" in capsys.readouterr().err
