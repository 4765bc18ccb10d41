"""The content filter: keep clips with people in action.

`PeopleFilterStage` runs after clipping: per clip it stores how often a body, a hand, a face
or any of them was seen and how much the people move (`human_motion_score`), and drops
clips with too few people (`no_person`) or people who do not move (`person_static`).
"""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np

from humannet.annotate.detectors import FrameDetections
from humannet.engine.stage import Stage
from humannet.process.humans import HumanConfig, HumanFrames, HumanStage
from humannet.records import Clip, Status, Video

log = logging.getLogger(__name__)


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
