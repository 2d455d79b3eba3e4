"""Mesh sizes, sharding rules, bad-input errors and the launcher, without simulated devices."""
import types

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from jaxgen import launch
from jaxgen.parallel import mesh as mesh_lib
from jaxgen.parallel import multihost, rules
from jaxgen.parallel.mesh import ParallelConfig, mesh_shape
from conftest import smoke_config

FAKE_MESH = types.SimpleNamespace(shape={"data": 2, "fsdp": 4, "tensor": 1})


def test_mesh_sizes_fill_in_the_remaining_devices():
    assert mesh_shape(ParallelConfig(), 8) == (8, 1, 1)
    assert mesh_shape(ParallelConfig(fsdp=4), 8) == (2, 4, 1)
    assert mesh_shape(ParallelConfig(data=2, fsdp=-1), 8) == (2, 4, 1)
    assert mesh_shape(ParallelConfig(data=2, fsdp=2, tensor=2), 8) == (2, 2, 2)


@pytest.mark.parametrize("cfg, devices, numbers", [
    (ParallelConfig(fsdp=3), 8, ("3", "8")),               # fixed axes do not divide
    (ParallelConfig(data=2, fsdp=2), 8, ("4", "8")),       # no -1 and the product is off
])
def test_a_mesh_that_does_not_fit_names_both_numbers(cfg, devices, numbers):
    with pytest.raises(ValueError) as e:
        mesh_shape(cfg, devices)
    assert all(n in str(e.value) for n in numbers), e.value


def test_a_batch_that_does_not_divide_the_data_axes_names_both_numbers():
    with pytest.raises(ValueError, match=r"batch_size=12 .* = 8 devices"):
        mesh_lib.check_batch(12, FAKE_MESH)
    mesh_lib.check_batch(16, FAKE_MESH)


def test_bad_modes_and_rules_are_errors():
    with pytest.raises(ValueError, match="parallel.mode='pipeline'"):
        ParallelConfig(mode="pipeline")
    with pytest.raises(ValueError, match="data parallel only"):
        ParallelConfig(mode="pmap", fsdp=2)
    with pytest.raises(ValueError, match="names \\['model'\\]"):
        rules.check_spec("params/w", (8, 8), (None, "model"), FAKE_MESH)
    with pytest.raises(ValueError, match="size 6, which the 4 devices"):
        rules.check_spec("params/w", (8, 6), (None, "fsdp"), FAKE_MESH)


def test_config_parallel_reaches_the_typed_config():
    config = smoke_config(**{"parallel.mode": "shard_map", "parallel.fsdp": "2",
                             "parallel.rules": "(('.*kernel', (None, 'fsdp')),)"})
    cfg = mesh_lib.parallel_config(config)
    assert (cfg.mode, cfg.fsdp, cfg.rules) == ("shard_map", 2, ((".*kernel", (None, "fsdp")),))


def test_fsdp_splits_the_largest_divisible_dimension_of_big_leaves():
    assert rules.fsdp_spec((3, 3, 64, 128), 4, 0) == P(None, None, None, "fsdp")
    assert rules.fsdp_spec((3, 3, 64, 2), 4, 0) == P(None, None, "fsdp")
    assert rules.fsdp_spec((6, 2), 4, 0) == P()                 # nothing divides
    assert rules.fsdp_spec((64, 64), 4, 10_000) == P()          # below min_fsdp_size
    assert rules.fsdp_spec((64, 64), 1, 0) == P()               # no fsdp axis


def test_rules_first_match_wins_and_moments_follow_their_parameters():
    cfg = ParallelConfig(fsdp=4, min_fsdp_size=0, rules=((".*/bias", ()), ))
    state = {"params": {"w": jax.ShapeDtypeStruct((16, 8), np.float32),
                        "bias": jax.ShapeDtypeStruct((8,), np.float32)},
             "opt_state": {"mu": {"w": jax.ShapeDtypeStruct((16, 8), np.float32)}},
             "step": jax.ShapeDtypeStruct((), np.int32)}
    specs = rules.state_specs(state, cfg, FAKE_MESH)
    assert specs["params"] == {"w": P("fsdp"), "bias": P()}
    assert specs["opt_state"]["mu"]["w"] == specs["params"]["w"]
    assert specs["step"] == P()
    gathered = rules.compute_specs(state, specs, lambda s: {"model": s["params"]})
    assert gathered["params"]["w"] == P() and gathered["opt_state"]["mu"]["w"] == P("fsdp")


def test_process_rows_of_one_process_is_the_whole_batch():
    mesh = jax.make_mesh((1,) * len(mesh_lib.AXES), mesh_lib.AXES)
    sharding = jax.sharding.NamedSharding(mesh, P(mesh_lib.BATCH_AXES))
    assert multihost.process_rows(sharding, 8) == (0, 1)


def test_initialize_is_a_no_op_for_one_process(monkeypatch):
    for name in multihost.ENV.values():
        monkeypatch.delenv(name, raising=False)
    assert multihost.initialize() is False
    with pytest.raises(ValueError, match="--process_id"):
        multihost.initialize("127.0.0.1:1234", 2, None)


def test_launcher_environment_per_process():
    env = launch.child_env(1, 2, 5555, devices_per_process=4)
    assert env["JAXGEN_COORDINATOR"] == "127.0.0.1:5555"
    assert (env["JAXGEN_NUM_PROCESSES"], env["JAXGEN_PROCESS_ID"]) == ("2", "1")
    assert env["CUDA_VISIBLE_DEVICES"] == "4,5,6,7"
    assert "--xla_force_host_platform_device_count=4" in env["XLA_FLAGS"]


def test_launcher_stops_the_others_when_one_fails(tmp_path, capfd, monkeypatch):
    script = tmp_path / "job.py"
    script.write_text("import os, sys, time\n"
                      "print('hello from', os.environ['JAXGEN_PROCESS_ID'], flush=True)\n"
                      "if os.environ['JAXGEN_PROCESS_ID'] == '1': sys.exit(3)\n"
                      "time.sleep(120)\n")
    monkeypatch.setattr(launch, "GRACE_S", 2.0)
    assert launch.main(["--num_processes=2", str(script)]) == 3
    out = capfd.readouterr().out
    assert "[0] hello from 0" in out and "[1] hello from 1" in out
