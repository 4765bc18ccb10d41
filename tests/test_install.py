"""`make install` takes torch from the PyTorch CPU wheel index unless told otherwise: PyPI's torch for Linux is the
CUDA build (several GB), and the CPU build must not depend on a wheel that happens to lie on the machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def torch_pin() -> str:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in dependencies if d.startswith("torch==")]
    return pin


def pip_installs(venv: Path, *settings: str) -> list[list[str]]:
    """The arguments of each `pip install` that `make install` would run into a fresh `venv`, in order (make -n
    prints, runs nothing)."""
    env = {key: value for key, value in os.environ.items() if key != "TORCH_INDEX"}
    printed = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "install", f"VENV={venv}", *settings],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return [
        line.split("/bin/pip install ", 1)[1].split() for line in printed.splitlines() if "/bin/pip install " in line
    ]


def test_torch_comes_from_the_cpu_index_before_everything_else(tmp_path):
    installs = pip_installs(tmp_path / "venv")
    torch = installs.index(["-q", "--no-deps", "--index-url", CPU_INDEX, f"'{torch_pin()}'"])
    assert torch < installs.index(["-q", "-e", "'.[test]'"])


def test_a_gpu_machine_names_its_index_or_none(tmp_path):
    cuda = "https://download.pytorch.org/whl/cu128"
    pin = f"'{torch_pin()}'"
    assert ["-q", "--no-deps", "--index-url", cuda, pin] in pip_installs(tmp_path / "venv", f"TORCH_INDEX={cuda}")
    assert [args for args in pip_installs(tmp_path / "venv", "TORCH_INDEX=") if pin in args] == [
        ["-q", "--no-deps", pin]
    ]
