"""`python -m benchmarks NAME`: every listed name is a benchmark with a `main`, anything else is a usage error."""

from __future__ import annotations

import importlib

import pytest

from benchmarks.__main__ import BENCHMARKS, main


@pytest.mark.parametrize("name", BENCHMARKS)
def test_each_benchmark_has_a_main(name: str) -> None:
    assert callable(importlib.import_module(f"benchmarks.{name}").main)


def test_unknown_benchmark_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nope"]) == 2
    assert "throughput" in capsys.readouterr().err


def test_help_prints_the_names_and_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    with pytest.raises(SystemExit) as exit_info:
        main(["throughput", "--help"])
    assert exit_info.value.code == 0
    assert "python -m benchmarks throughput" in capsys.readouterr().out
