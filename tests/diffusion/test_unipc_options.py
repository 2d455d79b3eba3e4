"""UniPC's non-float options (order, solver_type, lower_order_final) keep their types from
sample.py's flags through the family's option resolution to the sampler."""
import ml_collections
import pytest

from conftest import load_script
from jaxgen.families.diffusion_sampling import resolve


@pytest.fixture(scope="module")
def sample_script():
    return load_script("sample.py")


def test_resolve_keeps_option_types():
    defaults = ml_collections.ConfigDict(dict(sampler="ddim", steps=10, eta=0.0))
    got = resolve(defaults, sampler="unipc", order=3, solver_type="bh1", lower_order_final=False)
    assert got["options"] == (("lower_order_final", False), ("order", 3), ("solver_type", "bh1"))
    assert resolve(defaults, sampler="heun", s_churn=1)["options"] == (("s_churn", 1.0),)


def test_sample_flags_parse_by_default_type(sample_script):
    args = sample_script.parse(["--out", "x.png", "--sampler", "unipc", "--order", "3",
                                "--solver_type", "bh1", "--lower_order_final", "false",
                                "--s_churn", "2"])
    assert (args.order, args.solver_type, args.lower_order_final, args.s_churn) == (
        3, "bh1", False, 2.0)
    with pytest.raises(SystemExit):
        sample_script.parse(["--out", "x.png", "--lower_order_final", "maybe"])
