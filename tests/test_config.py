import json

import pytest

from jaxgen import config as config_lib
from conftest import ROOT, smoke_config


def test_every_config_has_the_common_keys():
    for path in sorted((ROOT / "configs").glob("*.py")):
        for variant in (None, "smoke", "demo"):
            config = config_lib.load_config(f"{path}:{variant}" if variant else str(path))
            for key in ("seed", "train.steps", "train.batch_size", "train.log_every",
                        "train.checkpoint_every", "data.path", "family"):
                config_lib._lookup(config, key)  # raises if missing
            assert config.is_locked


def test_overrides_parse_by_type():
    c = smoke_config(**{"train.steps": 17, "optim.lr": "3e-4", "model.ch_mult": "(1,2,4)",
                        "data.path": "/x", "train.sample_every": 0})
    assert c.train.steps == 17 and isinstance(c.train.steps, int)
    assert c.optim.lr == pytest.approx(3e-4)
    assert c.model.ch_mult == (1, 2, 4)
    assert c.data.path == "/x"


def test_unknown_key_suggests_the_nearest():
    with pytest.raises(KeyError, match=r"train\.steps"):
        smoke_config(**{"train.stpes": 3})


def test_unknown_group_lists_keys():
    with pytest.raises(KeyError, match="unknown config key 'trian.steps'"):
        smoke_config(**{"trian.steps": 3})


def test_bad_value_names_key_and_type():
    with pytest.raises(ValueError, match=r"train\.steps=ten.*int"):
        smoke_config(**{"train.steps": "ten"})


def test_bool_parsing_rejects_garbage():
    c = smoke_config()
    with c.unlocked():
        c.flag = True
    config_lib.apply_overrides(c, {"flag": "false"})
    assert c.flag is False
    with pytest.raises(ValueError, match="true/false"):
        config_lib.apply_overrides(c, {"flag": "maybe"})


def test_split_overrides_both_spellings():
    rest, ov = config_lib.split_overrides(["--workdir=w", "--config.train.steps=5",
                                           "--config.seed", "3", "--config=x.py"])
    assert rest == ["--workdir=w", "--config=x.py"]
    assert ov == {"train.steps": "5", "seed": "3"}


def test_json_round_trip_keeps_tuples_and_lock():
    c = smoke_config()
    back = config_lib.from_json(config_lib.to_json(c))
    assert back.to_dict() == c.to_dict()
    assert isinstance(back.model.ch_mult, tuple) and back.is_locked
    assert json.loads(config_lib.to_json(c))["train"]["steps"] == c.train.steps


def test_missing_config_file_and_bad_variant():
    with pytest.raises(FileNotFoundError, match="not found"):
        config_lib.load_config("configs/nope.py")
    with pytest.raises(ValueError, match="unknown variant"):
        config_lib.load_config(str(ROOT / "configs/ddpm_fmnist.py:huge"))


def test_old_json_gains_new_default_keys():
    old = json.loads(config_lib.to_json(smoke_config()))
    del old["eval"]["bpd_timesteps"], old["parallel"]
    back = config_lib.from_json(json.dumps(old))
    assert back.eval.bpd_timesteps == config_lib.base_config().eval.bpd_timesteps
    assert back.parallel.mode == "jit" and back.model.ch == smoke_config().model.ch


@pytest.mark.parametrize("key,value", [("train.batch_size", "0"), ("train.batch_size", "-4"),
                                       ("train.steps", "0"), ("train.log_every", "-1"),
                                       ("optim.ema_decay", "1.5")])
def test_validate_names_key_and_fix(key, value):
    config = config_lib.apply_overrides(config_lib.base_config(), {key: value})
    with pytest.raises(ValueError, match=rf"config\.{key}={value}"):
        config_lib.validate(config)


def test_section_rejects_unknown_keys_and_keeps_defaults():
    import dataclasses
    import ml_collections

    @dataclasses.dataclass(frozen=True)
    class Cfg:
        width: int = 4
        mult: tuple = (1, 2)
        flag: bool = False

    built = config_lib.section(Cfg, ml_collections.ConfigDict(dict(width=8, mult=[1, 3])),
                               where="model", flag=True)
    assert built == Cfg(width=8, mult=(1, 3), flag=True)
    with pytest.raises(ValueError, match=r"config.model has keys \['widht'\].*'width'"):
        config_lib.section(Cfg, ml_collections.ConfigDict(dict(widht=8)), where="model")
