"""benchmarks/torch_twin.py without PyTorch: --help, the lazy import, the missing-extra message.
(The twin's checks against jaxgen, equal parameter counts and outputs, run inside the
benchmark itself, which needs PyTorch.)"""
import importlib.util
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "torch_twin.py"
# `import torch` raises ImportError in the child, as on a clone without the twin extra.
NO_TORCH = ("import sys, runpy; sys.modules['torch'] = None; sys.argv = {argv!r}; "
            "runpy.run_path({script!r}, run_name='__main__')")


def run_without_torch(*args) -> subprocess.CompletedProcess:
    code = NO_TORCH.format(argv=[str(SCRIPT), *args], script=str(SCRIPT))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def twin():
    spec = importlib.util.spec_from_file_location("torch_twin", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_help_works_without_torch():
    proc = run_without_torch("--help")
    assert proc.returncode == 0, proc.stderr
    assert "--models" in proc.stdout and "torch_ms / jax_ms" in proc.stdout


def test_missing_torch_names_the_extra():
    proc = run_without_torch("--models", "demo")
    assert proc.returncode != 0
    assert "pip install -e '.[twin]'" in proc.stderr and "Traceback" not in proc.stderr


def test_import_loads_neither_torch_nor_jax():
    code = (f"import sys; sys.path.insert(0, {str(SCRIPT.parent)!r}); import torch_twin; "
            "print(sorted({'torch', 'jax', 'jaxgen'} & set(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr


def test_per_model_options(twin):
    args = twin.parse(["--models", "demo,dcgan", "--steps", "demo=3", "--batch", "16"])
    assert args.models == ["demo", "dcgan"]
    assert args.steps == {"demo": 3, "dcgan": 10} and args.batch == {"demo": 16, "dcgan": 16}
    with pytest.raises(SystemExit, match="not among --models"):
        twin.parse(["--models", "demo", "--batch", "default=64"])
    with pytest.raises(SystemExit):
        twin.parse(["--models", "demo,unet9"])
