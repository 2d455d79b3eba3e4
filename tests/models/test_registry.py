"""The denoiser registry: `model.arch` picks the module; old workdirs load as U-Nets."""
import json

import pytest

from jaxgen import config as config_lib
from jaxgen.models import UNet
from jaxgen.models.registry import ARCHS, make_denoiser
from conftest import smoke_config


def test_a_config_json_without_arch_builds_a_unet():
    saved = json.loads(config_lib.to_json(smoke_config()))
    del saved["model"]["arch"]                        # as written before the key existed
    config = config_lib.from_json(json.dumps(saved))
    model = make_denoiser(config, num_classes=0, out_channels=1)
    assert isinstance(model, UNet) and model.config.ch == config.model.ch


def test_an_unknown_arch_names_the_value_and_the_choices():
    config = smoke_config(**{"model.arch": "vit"})
    with pytest.raises(ValueError, match=r"model.arch='vit'.*" + str(sorted(ARCHS)).replace("[", r"\[")):
        make_denoiser(config, num_classes=0, out_channels=1)


def test_a_key_the_arch_does_not_take_names_its_config_class():
    config = smoke_config()
    with config.unlocked():
        config.model.widht = 3
    with pytest.raises(ValueError, match=r"\['widht'\] that UNetConfig does not take"):
        make_denoiser(config, num_classes=0, out_channels=1)
