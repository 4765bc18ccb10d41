"""The contract of every unit of work, and the three kinds of unit the pipeline runs.

Every unit (`PipelineUnit`) declares the same things, so the catalogue (`humannet/stages.py`)
can check and fingerprint any pipeline without knowing what the units do:

* `name` and `version` (bump `version` when the output changes);
* `config_sections`: the dotted settings it reads (`"humans"`, `"review.pii"`); its `stamp`
  hashes them with the version, and every invalidation key is built from stamps;
* `reads` / `reads_if_present` / `writes`: the keys of the record it consumes and fills (record
  fields such as `clips`, `frame_results.<key>` entries, staged clip files such as `pose.npz`),
  checked by `check_dataflow` when a pipeline is built (like NeMo Curator's `inputs()` /
  `outputs()`);
* `produces` / `produces_video`: the index columns it fills (fnmatch patterns), for provenance.

The kinds:

* `Stage.process(video)` works on the record alone (probe, clipping, filters on scores).
* `FrameStage` also watches the video's frames: it hands the pipeline a fresh `FrameAccumulator`
  per video; the pipeline decodes the video once, feeds every accumulator in the same pass and
  stores each result in `video.frame_results[stage.name]` before calling `process`.
* `EncodeHook` sees every frame of a clip as it is written (keypoints, face hiding).
* `ClipAnnotator` (`annotate/clip_annotator.py`) works on a finished, staged clip.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, ClassVar, Protocol

import numpy as np

from humannet import HumannetError
from humannet.records import Clip, Frame, Video, declared_settings, fingerprint


@dataclass(frozen=True)
class Resources:
    """What one instance of a stage needs; runners use it to size pools and actors."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory_gb: float = 1.0


class DataflowError(HumannetError):
    """A pipeline whose units read something no earlier unit writes."""


class PipelineUnit(ABC):
    """What every stage, encode hook and clip annotator declares (see the module docstring)."""

    name: ClassVar[str]
    version: ClassVar[str]
    resources: ClassVar[Resources] = Resources()
    config_sections: ClassVar[tuple[str, ...]] = ()
    reads: ClassVar[tuple[str, ...]] = ()
    reads_if_present: ClassVar[tuple[str, ...]] = ()  # used when some unit writes them, which must then come earlier
    writes: ClassVar[tuple[str, ...]] = ()
    produces: ClassVar[tuple[str, ...]] = ()  # clip index columns (fnmatch patterns)
    produces_video: ClassVar[tuple[str, ...]] = ()  # videos.parquet columns
    # True for stages `humannet review` can rerun alone over an existing corpus; they stay out of the
    # analysis fingerprint and stamp each video they fill instead (`Video.stamps`).
    rerunnable: ClassVar[bool] = False

    def setup(self) -> None:  # noqa: B027 - an optional hook, not an abstract one
        """Load models or other expensive state once per worker."""

    def stamp(self, config: Any) -> str:
        """`version:hash` of the declared settings: what finished work by this unit is valid for."""
        settings = declared_settings(config, self.config_sections)
        return f"{self.version}:{fingerprint(settings) if settings else ''}"

    def outputs(self) -> tuple[str, ...]:
        """Every key this unit makes available to later units: record keys and index columns."""
        return (*self.writes, *self.produces, *self.produces_video)


class Stage(PipelineUnit):
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

    def outputs(self) -> tuple[str, ...]:
        return (f"frame_results.{self.name}", *super().outputs())


TimedImage = tuple[float, np.ndarray]


class EncodeHook(PipelineUnit):
    """Sees (and may change) every written frame of a clip; the encoder's `FrameHook` (media/cut.py).

    `step` names the hook's share of the write time in the timings.
    """

    step: ClassVar[str]

    @abstractmethod
    def begin_clip(self, clip: Clip, width: int, height: int) -> None: ...

    @abstractmethod
    def process(self, time_s: float, image: np.ndarray) -> list[TimedImage]: ...

    @abstractmethod
    def flush(self) -> list[TimedImage]: ...

    @abstractmethod
    def end_clip(self) -> Any: ...


# Keys every record has before the first unit runs, and those the decode pass adds before the first frame stage.
INPUT_KEYS = ("uri", "meta")
DECODE_KEYS = ("frame_times", "end_time", "decode", "frames_decoded", "decode_errors")


def check_dataflow(units: Sequence[PipelineUnit], available: Sequence[str] = INPUT_KEYS) -> None:
    """Raise `DataflowError` naming the first unit that reads a key no earlier unit writes.

    Frame stages' results (and the decode pass's own keys) all exist from the first frame stage
    on, because one decode pass feeds them all before any of them runs `process`.
    """
    written: dict[str, str] = {key: "input" for key in available}
    frame_stages = [unit for unit in units if isinstance(unit, FrameStage)]
    decoded = False
    for position, unit in enumerate(units):
        if isinstance(unit, FrameStage) and not decoded:
            decoded = True
            written.update({key: "decode" for key in DECODE_KEYS})
            written.update({f"frame_results.{stage.name}": stage.name for stage in frame_stages})
        for key in unit.reads:
            if not _written(key, written):
                later = _writer(key, units[position + 1 :])
                where = f"only {later.name} writes it, after it" if later else "no unit writes it"
                raise DataflowError(f"pipeline order: {unit.name} reads '{key}', but {where}")
        for key in unit.reads_if_present:
            later = _writer(key, units[position + 1 :])
            if later is not None and not _written(key, written):
                raise DataflowError(f"pipeline order: {unit.name} reads '{key}', but {later.name} writes it after it")
        written.update({key: unit.name for key in unit.outputs()})


def _written(key: str, written: dict[str, str]) -> bool:
    return key in written or any(fnmatchcase(key, pattern) for pattern in written if "*" in pattern)


def _writer(key: str, units: Sequence[PipelineUnit]) -> PipelineUnit | None:
    return next((unit for unit in units if _written(key, dict.fromkeys(unit.outputs(), unit.name))), None)
