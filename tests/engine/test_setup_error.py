"""A stage that cannot set up in a worker stops the run with one error naming it, not a worker death per video."""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import pytest

from humannet import HumannetError
from humannet.collect.inputs import resolve_inputs
from humannet.config import Config
from humannet.engine.local import LocalRunner
from humannet.engine.pipeline import SetupError
from humannet.engine.stage import Stage
from humannet.records import Video
from humannet.stages import analysis_pipeline, analysis_stages
from tests.conftest import EXAMPLES


class MissingModelStage(Stage):
    name: ClassVar[str] = "needs_model"
    version: ClassVar[str] = "1"

    def setup(self) -> None:
        raise FileNotFoundError("model.onnx not found")

    def process(self, video: Video) -> Video:
        return video


def with_missing_model(config: Config) -> list[Stage]:
    return [*analysis_stages(config), MissingModelStage()]


def test_a_setup_failure_in_the_workers_stops_the_run_with_the_stage_and_exception():
    config = Config()
    spec = dataclasses.replace(analysis_pipeline(config), build=functools.partial(with_missing_model, config))
    videos = resolve_inputs(
        str(EXAMPLES / "exo_intel_asl_sign_again.mkv"), str(EXAMPLES / "exo_sam2_coffee_pouring.mp4")
    )
    with pytest.raises(SetupError) as caught:
        list(LocalRunner(workers=1).map(spec, videos))
    assert str(caught.value) == "stage needs_model could not set up: FileNotFoundError: model.onnx not found"
    assert isinstance(caught.value, HumannetError)  # the command line prints it as one line and exits 2
