"""People, hands and faces on the analysis frames, and the content filter built on them.

Three stages share one detection pass:

* `HumanStage` (a `FrameStage`) runs the configured `HumanDetector` on analysis frames at
  `detect_fps` and keeps the detections (a few KB a sample). Frames that cannot show anyone
  usefully (black, blown out, flat) are recorded as skipped, not as "nobody there", and cost
  no model time.
* `PersonSpanStage` runs before clipping: runs of samples with nobody in them lasting at least
  `min_absent_s` are cut out of the scenes, like dark or stalled runs (`process/unusable.py`),
  so a clip never carries seconds of empty scene, and one missed detection cuts nothing.
* `PeopleFilterStage` runs after clipping: per clip it stores how often a body, a hand, a face
  or any of them was seen and how much the people move (`human_motion_score`), and drops
  clips with too few people (`no_person`) or people who do not move (`person_static`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import ClassVar

import cv2
import numpy as np
from pydantic import BaseModel, Field

from humannet.annotate.detectors import FrameDetections, HumanDetector, MediaPipeDetector
from humannet.engine.stage import FrameStage, Resources, Stage
from humannet.process.quality import UnusableSpan
from humannet.process.unusable import UnusableSpanStage
from humannet.records import Clip, Frame, Status, Video

log = logging.getLogger(__name__)


class HumanConfig(BaseModel, extra="forbid"):
    """Detection rate and the thresholds of the content filter (config section `humans`)."""

    enabled: bool = Field(
        True,
        description="Detect people, hands and faces; false skips every human-centric stage (content filter, viewpoint, motion).",
    )
    detect_fps: float = Field(
        2.0,
        gt=0,
        le=60,
        description="Rate at which analysis frames are run through the detector (frames/s); capped by decode.analysis_fps.",
    )
    min_confidence: float = Field(
        0.5, ge=0, le=1, description="Detector confidence needed to report a body, hand or face (0-1)."
    )
    max_hands: int = Field(2, ge=1, le=8, description="Most hands reported per frame (count).")
    min_body_presence: float = Field(
        0.9,
        ge=0,
        le=1,
        description="Pose landmark model's person-presence score needed to report a body (0-1); lower values admit bodies seen in clutter.",
    )
    blank_level: int = Field(
        26,
        ge=0,
        le=255,
        description="A frame is blank when blank_fraction of its pixels are at or below this grey level, or at or above 255 minus it (0-255).",
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
        description="Shortest run with no body, hand or face that is cut out (s); at 2 fps, 4 samples in a row: a missed detection or two cuts nothing.",
    )
    filter_enabled: bool = Field(True, description="Drop clips without people, or with people who do not move.")
    min_any_person_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Drop a clip when fewer of its samples than this show a body, a hand or a face (fraction).",
    )
    min_human_motion: float = Field(
        0.035,
        ge=0,
        description="Drop a clip whose human_motion_score (median keypoint speed, in body, hand or face sizes per second) is below this.",
    )
    motion_lag_s: float = Field(
        1.0,
        gt=0,
        le=5,
        description="Samples this far apart are compared for human motion (s): keypoint jitter does not grow with the lag, steady movement does.",
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


def absent_spans(detections: list[FrameDetections], frame_times: np.ndarray, config: HumanConfig) -> list[UnusableSpan]:
    """Runs of samples with no body, hand or face lasting at least `min_absent_s`, as spans to cut.

    Each sample stands for the time halfway to its neighbours, so a run reaches from midway
    after the last sample with someone in it to midway before the next one (or the video's
    ends). A run's length is its number of samples times the sampling interval.
    """
    if not detections or frame_times.size == 0:
        return []
    times = np.array([d.time_s for d in detections])
    present = np.array([d.has_person for d in detections])
    step = float(np.median(np.diff(frame_times))) if frame_times.size > 1 else 0.0
    video_start, video_end = float(frame_times[0]), float(frame_times[-1]) + step
    interval = float(np.median(np.diff(times))) if times.size > 1 else video_end - video_start
    spans = []
    edges = np.flatnonzero(np.diff(np.concatenate(([0], (~present).astype(np.int8), [0]))))
    for first, stop in zip(edges[::2], edges[1::2], strict=True):
        if (stop - first) * interval < config.min_absent_s - 1e-6:
            continue
        start_s = video_start if first == 0 else (times[first - 1] + times[first]) / 2
        end_s = video_end if stop == times.size else (times[stop - 1] + times[stop]) / 2
        spans.append(UnusableSpan(float(start_s), float(end_s), "no_person"))
    return spans


def merge_spans(existing: list[UnusableSpan], added: list[UnusableSpan]) -> list[UnusableSpan]:
    """`existing` plus the parts of `added` they do not cover: sorted, non-overlapping; earlier reasons win."""
    merged = sorted(existing, key=lambda s: s.start_s)
    for span in added:
        pieces = [(span.start_s, span.end_s)]
        for other in merged:
            pieces = [
                part
                for a, b in pieces
                for part in ((a, min(b, other.start_s)), (max(a, other.end_s), b))
                if part[1] - part[0] > 1e-6
            ]
        merged += [UnusableSpan(a, b, span.reason) for a, b in pieces]
        merged.sort(key=lambda s: s.start_s)
    return merged


class PersonSpanStage(Stage):
    """Adds runs with nobody in them to the spans the clip stage cuts out (after `UnusableSpanStage`)."""

    name: ClassVar[str] = "person_spans"
    version: ClassVar[str] = "1"
    config_sections: ClassVar[tuple[str, ...]] = ("humans",)
    reads: ClassVar[tuple[str, ...]] = ("frame_results.humans", "frame_times")
    reads_if_present: ClassVar[tuple[str, ...]] = ("frame_results.unusable",)  # adds to those spans
    writes: ClassVar[tuple[str, ...]] = ("frame_results.unusable",)

    def __init__(self, config: HumanConfig | None = None) -> None:
        self.config = config or HumanConfig()

    def process(self, video: Video) -> Video:
        frames: HumanFrames | None = video.frame_results.get(HumanStage.name)
        if not self.config.spans_enabled or frames is None:
            return video
        spans = absent_spans(frames.detections, video.frame_results["frame_times"], self.config)
        video.frame_results[UnusableSpanStage.name] = merge_spans(
            video.frame_results.get(UnusableSpanStage.name, []), spans
        )
        return video


# Body keypoints that carry the action (MediaPipe Pose indices): nose, shoulders, elbows, wrists, hips, knees, ankles.
_BODY_MOTION_POINTS = np.array([0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28])


def _pixels(points: np.ndarray, width: int, height: int) -> np.ndarray:
    return points[:, :2] * np.array([width, height], dtype=np.float32)


def _extent(points: np.ndarray) -> float:
    """Diagonal of the points' bounding box (px): the size movement is measured against."""
    if len(points) < 2:
        return 0.0
    return float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))


def _speed(before: np.ndarray, after: np.ndarray, dt: float, scale: float | None = None) -> float | None:
    """Median keypoint displacement per second, in units of `scale` (default: the keypoints' own extent)."""
    if scale is None:
        scale = (_extent(before) + _extent(after)) / 2
    if scale < 1.0 or dt <= 0:
        return None
    return float(np.median(np.linalg.norm(after - before, axis=1))) / scale / dt


def pair_motion(a: FrameDetections, b: FrameDetections, min_visibility: float) -> float | None:
    """How fast the people move between two samples: the fastest of the body, each hand and the face
    (a signer's hands move while the torso stays still). None when nothing is seen in both."""
    dt = b.time_s - a.time_s
    speeds = []
    if a.body is not None and b.body is not None:
        visible = _BODY_MOTION_POINTS[
            (a.body.image[_BODY_MOTION_POINTS, 3] >= min_visibility)
            & (b.body.image[_BODY_MOTION_POINTS, 3] >= min_visibility)
        ]
        if len(visible) >= 3:
            # Measured against the whole body the model infers (parts beyond the border included): a few visible
            # keypoints close together (feet at the top of a frame) would make their jitter look like motion.
            scale = (
                _extent(_pixels(a.body.image, a.width, a.height)) + _extent(_pixels(b.body.image, b.width, b.height))
            ) / 2
            speeds.append(
                _speed(
                    _pixels(a.body.image[visible], a.width, a.height),
                    _pixels(b.body.image[visible], b.width, b.height),
                    dt,
                    scale,
                )
            )
    for hand in b.hands:
        candidates = [h for h in a.hands if h.handedness == hand.handedness] or a.hands
        if candidates:
            wrist = hand.image[0, :2]
            match = min(candidates, key=lambda h: float(np.linalg.norm(h.image[0, :2] - wrist)))
            speeds.append(_speed(_pixels(match.image, a.width, a.height), _pixels(hand.image, b.width, b.height), dt))
    if a.faces and b.faces:
        speeds.append(_face_speed(a, b, dt))
    speeds = [s for s in speeds if s is not None]
    return max(speeds) if speeds else None


def _face_speed(a: FrameDetections, b: FrameDetections, dt: float) -> float | None:
    """Movement of the most confident face's box corners, in face sizes per second."""
    boxes = []
    for d in (a, b):
        x, y, w, h = max(d.faces, key=lambda f: f.score).box
        boxes.append(np.array([[x * d.width, y * d.height], [(x + w) * d.width, (y + h) * d.height]], dtype=np.float32))
    return _speed(boxes[0], boxes[1], dt)


def people_scores(frames: HumanFrames, start_s: float, end_s: float, config: HumanConfig) -> dict[str, float]:
    """Per-clip people scores from the samples inside [start_s, end_s) (NaN fractions when none)."""
    inside = [d for d in frames.detections if start_s <= d.time_s < end_s]
    n = len(inside)

    def fraction(count: int) -> float:
        return count / n if n else float("nan")

    motions = []
    times = np.array([d.time_s for d in inside])
    lag = max(config.motion_lag_s, frames.detect_interval_s)
    for a in inside:
        # The first sample at least `lag` later, unless a gap (skipped frames) makes it much later.
        j = int(np.searchsorted(times, a.time_s + lag - 0.25 * frames.detect_interval_s))
        if j < len(inside) and times[j] - a.time_s <= lag + 0.5 * frames.detect_interval_s:
            motion = pair_motion(a, inside[j], config.min_keypoint_visibility)
            if motion is not None:
                motions.append(motion)
    bodies = sum(d.body is not None for d in inside)
    return {
        "person_fraction": fraction(bodies),
        "hand_fraction": fraction(sum(bool(d.hands) for d in inside)),
        "face_fraction": fraction(sum(bool(d.faces) for d in inside)),
        "any_person_fraction": fraction(sum(d.has_person for d in inside)),
        "human_motion_score": float(np.median(motions)) if motions else float("nan"),
        "pose_frames": float(bodies),
    }


def people_verdict(scores: dict[str, float], config: HumanConfig) -> str | None:
    """`no_person` or `person_static` with the score and threshold, or None when the clip passes."""
    anyone = scores["any_person_fraction"]
    if not np.isfinite(anyone):
        return "no_person: no frame of the clip could be checked for people"
    if anyone < config.min_any_person_fraction:
        return f"no_person: any_person_fraction={anyone:.3f} < {config.min_any_person_fraction:g}"
    motion = scores["human_motion_score"]
    # No pair of samples a lag apart shows the same person: stillness is not shown, so the clip is kept.
    if np.isfinite(motion) and motion < config.min_human_motion:
        return f"person_static: human_motion_score={motion:.3f} < {config.min_human_motion:g}"
    return None


class PeopleFilterStage(Stage):
    """Scores people per clip and drops clips without people or with people who do not move."""

    name: ClassVar[str] = "people"
    version: ClassVar[str] = "1"
    produces: ClassVar[tuple[str, ...]] = (
        "person_fraction",
        "hand_fraction",
        "face_fraction",
        "any_person_fraction",
        "human_motion_score",
        "pose_frames",
    )
    config_sections: ClassVar[tuple[str, ...]] = ("humans",)
    reads: ClassVar[tuple[str, ...]] = ("clips", "frame_results.humans")

    def __init__(self, config: HumanConfig | None = None) -> None:
        self.config = config or HumanConfig()

    def process(self, video: Video) -> Video:
        frames: HumanFrames | None = video.frame_results.get(HumanStage.name)
        if frames is None:
            log.warning("%s: no people detections; clips left unfiltered", video.uri)
            return video
        for clip in video.clips:
            self.score_clip(clip, frames)
        return video

    def score_clip(self, clip: Clip, frames: HumanFrames) -> None:
        """Fill the people scores and drop the clip when it fails; clips already dropped are left alone."""
        if clip.status is not Status.KEPT:
            return
        clip.scores.update(people_scores(frames, clip.start_s, clip.end_s, self.config))
        reason = people_verdict(clip.scores, self.config) if self.config.filter_enabled else None
        if reason:
            clip.status = Status.DROPPED
            clip.reason = reason
