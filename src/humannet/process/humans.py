"""People, hands and faces on the analysis frames: the detection pass the people stages share.

`HumanStage` (a `FrameStage`) runs the configured `HumanDetector` on analysis frames at
`detect_fps` and keeps the detections (a few KB a sample). Frames that cannot show anyone
usefully (black, blown out, flat) are recorded as skipped, not as "nobody there", and cost
no model time. Two stages read its detections: `PersonSpanStage` (`person_spans.py`) before
clipping and `PeopleFilterStage` (`people.py`) after it; all three read the `[humans]` settings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import ClassVar

import cv2
import numpy as np
from pydantic import BaseModel, Field

from humannet.annotate.detectors import FrameDetections, HumanDetector, MediaPipeDetector
from humannet.engine.stage import FrameStage, Resources
from humannet.records import Frame, Video

log = logging.getLogger(__name__)


class HumanConfig(BaseModel, extra="forbid"):
    """Detection rate and the thresholds of the content filter (config section `humans`)."""

    enabled: bool = Field(
        True,
        description=(
            "Detect people, hands and faces; false skips every human-centric stage (content filter, viewpoint, motion)."
        ),
    )
    detect_fps: float = Field(
        2.0,
        gt=0,
        le=60,
        description=(
            "Rate at which analysis frames are run through the detector (frames/s); capped by decode.analysis_fps."
        ),
    )
    min_confidence: float = Field(
        0.5, ge=0, le=1, description="Detector confidence needed to report a body, hand or face (0-1)."
    )
    max_hands: int = Field(2, ge=1, le=8, description="Most hands reported per frame (count).")
    min_body_presence: float = Field(
        0.9,
        ge=0,
        le=1,
        description=(
            "Pose landmark model's person-presence score needed to report a body (0-1); lower values admit bodies "
            "seen in clutter."
        ),
    )
    blank_level: int = Field(
        26,
        ge=0,
        le=255,
        description=(
            "A frame is blank when blank_fraction of its pixels are at or below this grey level, or at or above 255 "
            "minus it (0-255)."
        ),
    )
    blank_fraction: float = Field(
        0.98,
        gt=0,
        le=1,
        description="Fraction of black or blown-out pixels that makes a frame blank (ffmpeg blackdetect's 0.98).",
    )
    min_detail: float = Field(
        3.0,
        ge=0,
        description="A frame whose grey-level standard deviation is below this is flat and skipped (grey levels).",
    )
    spans_enabled: bool = Field(True, description="Cut runs with nobody in them out of scenes before clipping.")
    min_absent_s: float = Field(
        2.0,
        gt=0,
        description=(
            "Shortest run with no body, hand or face that is cut out (s); at 2 fps, 4 samples in a row: a missed "
            "detection or two cuts nothing."
        ),
    )
    filter_enabled: bool = Field(True, description="Drop clips without people, or with people who do not move.")
    min_person_probability: float = Field(
        0.5,
        ge=0,
        le=1,
        description=(
            "Drop a clip whose person_probability (the fitted people model's, process/people.py) is below this (0-1)."
        ),
    )
    min_human_motion: float = Field(
        0.035,
        ge=0,
        description=(
            "Drop a clip whose human_motion_score (median keypoint speed, in body, hand or face sizes per second) is "
            "below this."
        ),
    )
    motion_lag_s: float = Field(
        1.0,
        gt=0,
        le=5,
        description=(
            "Samples this far apart are compared for human motion (s): keypoint jitter does not grow with the lag, "
            "steady movement does."
        ),
    )
    min_keypoint_visibility: float = Field(
        0.5, ge=0, le=1, description="Body keypoints below this visibility are ignored for motion (0-1)."
    )


@dataclass(slots=True)
class HumanFrames:
    """What `HumanStage`'s accumulator returns: detections of sampled frames, in time order, and
    the times of sampled frames skipped as blank (nothing can be said about people there)."""

    detections: list[FrameDetections] = field(default_factory=list)
    skipped_times: list[float] = field(default_factory=list)
    detect_interval_s: float = 0.5  # time between samples the detector was asked to look at (s)


def is_blank(small_bgr: np.ndarray, config: HumanConfig) -> bool:
    """Black, blown-out or flat frames: no detector can find a person in them."""
    grey = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2GRAY)
    n = grey.size
    if np.count_nonzero(grey <= config.blank_level) >= config.blank_fraction * n:
        return True
    if np.count_nonzero(grey >= 255 - config.blank_level) >= config.blank_fraction * n:
        return True
    return float(grey.std()) < config.min_detail


class HumanAccumulator:
    """Runs the detector on analysis frames at the detection rate; skips blank ones."""

    def __init__(self, detector: HumanDetector, config: HumanConfig) -> None:
        self.detector = detector
        self.config = config
        self.result = HumanFrames(detect_interval_s=1.0 / config.detect_fps)
        self._next_s = 0.0

    def add(self, frame: Frame) -> None:
        if frame.analysis is None:
            return
        period = self.result.detect_interval_s
        # Half an analysis interval of slack, so detect_fps equal to the analysis rate takes every analysis frame.
        if frame.time_s + 0.25 * period < self._next_s:
            return
        while self._next_s <= frame.time_s + 0.25 * period:
            self._next_s += period
        if is_blank(frame.small, self.config):
            self.result.skipped_times.append(frame.time_s)
            return
        self.result.detections.append(self.detector.detect(frame.analysis, frame.time_s))

    def finish(self) -> HumanFrames:
        return self.result


class HumanStage(FrameStage):
    """Detects bodies, hands and faces on the analysis frames; results in `video.frame_results["humans"]`."""

    name: ClassVar[str] = "humans"
    version: ClassVar[str] = "1"
    config_sections: ClassVar[tuple[str, ...]] = ("humans",)
    wants_analysis_frames: ClassVar[bool] = True
    resources: ClassVar[Resources] = Resources(cpus=1.0, memory_gb=1.5)  # three neural models per worker

    def __init__(self, config: HumanConfig | None = None, detector: HumanDetector | None = None) -> None:
        self.config = config or HumanConfig()
        self.detector = detector or MediaPipeDetector(
            min_confidence=self.config.min_confidence,
            max_hands=self.config.max_hands,
            min_body_presence=self.config.min_body_presence,
        )
        self._ready = False

    def setup(self) -> None:
        if not self._ready:
            self.detector.setup()
            self._ready = True

    def accumulator(self, video: Video) -> HumanAccumulator:
        self.setup()
        self.detector.reset()  # tracking state must not leak from one video into the next
        return HumanAccumulator(self.detector, self.config)

    def process(self, video: Video) -> Video:
        frames = video.frame_results.get(self.name)
        if frames is not None:
            log.debug(
                "%s: %d frames detected, %d skipped as blank",
                video.uri,
                len(frames.detections),
                len(frames.skipped_times),
            )
        return video
