"""The content filter: keep clips with people in action.

`PeopleFilterStage` runs after clipping: per clip it stores how often a body, a hand, a face
or any of them was seen, how often two of them agree, how much the people move
(`human_motion_score`), and drops clips without people (`no_person`) or with people who do
not move (`person_static`).

No single detector's hit is a person: MediaPipe's pose model reports bodies on robot arms,
animals and cartoons, its face detector fires on prints and screen icons. So the cues are
combined by a logistic model fitted on the development split (`annotate/fitted_model.py`,
`python -m benchmarks fit`) into `person_probability`, and the clip is kept when it reaches
`humans.min_person_probability`. The cues it weighs: bodies, hands and faces alone; a face
on a body's head and a hand at a body's wrist (two detections that corroborate each other);
and, when the unsafe-content review ran, how often NudeNet's independent body-part detector
(a different model, trained on different data) saw a covered or bare body part.
"""

from __future__ import annotations

import logging
from typing import ClassVar, Protocol

import numpy as np

from humannet.annotate.detectors import FrameDetections
from humannet.annotate.fitted_model import load_models
from humannet.engine.stage import Stage
from humannet.process.humans import HumanConfig, HumanFrames, HumanStage
from humannet.records import Clip, Status, Video

log = logging.getLogger(__name__)


_BODY_MOTION_POINTS = np.array([0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28])
NOSE, BODY_WRISTS = 0, (15, 16)  # MediaPipe pose landmarks
PART_SCORE = 0.3  # NudeNet class score at which a body part counts as seen
UNSAFE_STAGE = "unsafe"  # frame results of the unsafe-content review (per-sample NudeNet class scores)


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


def face_on_body(frame: FrameDetections) -> bool:
    """A face box (widened by a quarter of its size) holding the body's nose: face and body agree."""
    if frame.body is None or not frame.faces:
        return False
    nose_x, nose_y = frame.body.image[NOSE, :2]
    for face in frame.faces:
        x, y, w, h = face.box
        if x - w / 4 <= nose_x <= x + 5 * w / 4 and y - h / 4 <= nose_y <= y + 5 * h / 4:
            return True
    return False


def hand_on_body(frame: FrameDetections) -> bool:
    """A hand whose wrist lies within two palm lengths of one of the body's wrists: hand and body agree."""
    if frame.body is None or not frame.hands:
        return False
    for hand in frame.hands:
        wrist = hand.image[0, :2]
        palm = float(np.linalg.norm(hand.image[9, :2] - wrist))
        for index in BODY_WRISTS:
            if float(np.linalg.norm(frame.body.image[index, :2] - wrist)) <= max(2 * palm, 0.02):
                return True
    return False


class PartSamples(Protocol):
    """What the unsafe review keeps per sampled frame (review/unsafe.py `UnsafeSamples`)."""

    times: np.ndarray  # (N,) s
    scores: np.ndarray  # (N, classes) highest score per NudeNet class
    labels: list[str]


def body_part_fraction(parts: PartSamples | None, start_s: float, end_s: float) -> float:
    """Share of the unsafe review's samples in [start_s, end_s) where NudeNet saw a body part (not a face);
    NaN when that review did not run or sampled nothing there."""
    if parts is None:
        return float("nan")
    times = parts.times
    inside = (times >= start_s) & (times < end_s)
    if not inside.any():
        return float("nan")
    columns = [i for i, label in enumerate(parts.labels) if not label.startswith("FACE")]
    return float((parts.scores[inside][:, columns].max(axis=1) >= PART_SCORE).mean())


def people_scores(
    frames: HumanFrames, start_s: float, end_s: float, config: HumanConfig, parts: PartSamples | None = None
) -> dict[str, float]:
    """Per-clip people cues from the samples inside [start_s, end_s) (NaN fractions when none).
    `parts`: the unsafe review's samples, if it ran."""
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
        "face_on_body_fraction": fraction(sum(face_on_body(d) for d in inside)),
        "hand_on_body_fraction": fraction(sum(hand_on_body(d) for d in inside)),
        "body_part_fraction": body_part_fraction(parts, start_s, end_s),
        "human_motion_score": float(np.median(motions)) if motions else float("nan"),
        "pose_frames": float(bodies),
    }


def person_probability(scores: dict[str, float]) -> float:
    """The fitted people model on a clip's cues; NaN when no sample of the clip could be checked."""
    if not np.isfinite(scores["any_person_fraction"]):
        return float("nan")
    return round(load_models("people")["person"].probability(scores), 4)


def people_verdict(scores: dict[str, float], config: HumanConfig) -> str | None:
    """`no_person` or `person_static` with the score and threshold, or None when the clip passes."""
    probability = scores["person_probability"]
    if not np.isfinite(probability):
        return "no_person: no frame of the clip could be checked for people"
    if probability < config.min_person_probability:
        return (
            f"no_person: person_probability={probability:.3f} < {config.min_person_probability:g} "
            f"(any_person_fraction={scores['any_person_fraction']:.3f})"
        )
    motion = scores["human_motion_score"]
    # No pair of samples a lag apart shows the same person: stillness is not shown, so the clip is kept.
    if np.isfinite(motion) and motion < config.min_human_motion:
        return f"person_static: human_motion_score={motion:.3f} < {config.min_human_motion:g}"
    return None


class PeopleFilterStage(Stage):
    """Scores people per clip and drops clips without people or with people who do not move."""

    name: ClassVar[str] = "people"
    version: ClassVar[str] = "2"  # bump with every refit of assets/models/people.json
    produces: ClassVar[tuple[str, ...]] = (
        "person_fraction",
        "hand_fraction",
        "face_fraction",
        "any_person_fraction",
        "face_on_body_fraction",
        "hand_on_body_fraction",
        "body_part_fraction",
        "person_probability",
        "human_motion_score",
        "pose_frames",
    )
    config_sections: ClassVar[tuple[str, ...]] = ("humans",)
    reads: ClassVar[tuple[str, ...]] = ("clips", "frame_results.humans")
    reads_if_present: ClassVar[tuple[str, ...]] = (f"frame_results.{UNSAFE_STAGE}",)

    def __init__(self, config: HumanConfig | None = None) -> None:
        self.config = config or HumanConfig()

    def process(self, video: Video) -> Video:
        frames: HumanFrames | None = video.frame_results.get(HumanStage.name)
        if frames is None:
            log.warning("%s: no people detections; clips left unfiltered", video.uri)
            return video
        parts = video.frame_results.get(UNSAFE_STAGE)
        for clip in video.clips:
            self.score_clip(clip, frames, parts)
        return video

    def score_clip(self, clip: Clip, frames: HumanFrames, parts: PartSamples | None = None) -> None:
        """Fill the people scores and drop the clip when it fails; clips already dropped are left alone."""
        if clip.status is not Status.KEPT:
            return
        clip.scores.update(people_scores(frames, clip.start_s, clip.end_s, self.config, parts))
        clip.scores["person_probability"] = person_probability(clip.scores)
        reason = people_verdict(clip.scores, self.config) if self.config.filter_enabled else None
        if reason:
            clip.status = Status.DROPPED
            clip.reason = reason
