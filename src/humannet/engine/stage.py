"""The stage contract: a small unit of work on one `Video` that never knows its runner.

Two kinds of stage exist:

* `Stage.process(video)` works on the record alone (probe, clipping, filters on scores).
* `FrameStage` additionally watches the video's frames. It hands the pipeline a fresh
  `FrameAccumulator` per video; the pipeline decodes the video once and feeds every
  accumulator in the same pass, then stores each accumulator's result in
  `video.frame_results[stage.name]` before calling `process`. That is how decoding
  happens once however many stages look at the pixels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from humannet.records import Frame, Video


@dataclass(frozen=True)
class Resources:
    """What one instance of a stage needs; runners use it to size pools and actors."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory_gb: float = 1.0


class Stage(ABC):
    name: ClassVar[str]
    version: ClassVar[str]  # bump when the stage's output changes
    resources: ClassVar[Resources] = Resources()
    # Provenance (see review/provenance.py): the index columns this stage fills (fnmatch patterns)
    # in the clip index and in videos.parquet, and the config sections its output depends on.
    produces: ClassVar[tuple[str, ...]] = ()
    produces_video: ClassVar[tuple[str, ...]] = ()
    config_sections: ClassVar[tuple[str, ...]] = ()
    # True for stages `humannet review` can rerun alone over an existing corpus; they stay out of the
    # analysis fingerprint and stamp each video they fill instead (`Video.stamps`).
    rerunnable: ClassVar[bool] = False

    def setup(self) -> None:  # noqa: B027 - an optional hook, not an abstract one
        """Load models or other expensive state once per worker."""

    @abstractmethod
    def process(self, video: Video) -> Video | None:
        """Return the video (possibly marked dropped), or None to drop it without a reason."""


class FrameAccumulator(Protocol):
    """Collects what a stage needs from the frames of one video, in decode order."""

    def add(self, frame: Frame) -> None: ...

    def finish(self) -> Any: ...


class FrameStage(Stage):
    """A stage that watches the single decode pass (see module docstring)."""

    wants_analysis_frames: ClassVar[bool] = False  # needs the larger frames at the analysis rate

    @abstractmethod
    def accumulator(self, video: Video) -> FrameAccumulator:
        """A fresh accumulator for this video."""
