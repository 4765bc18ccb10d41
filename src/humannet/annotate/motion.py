"""Motion categories per clip (multi-label, with scores) from keypoint kinematics.

The label set lives in `assets/motion_categories.yaml`; this module measures a few
scale-free speeds over the clip's analysis frames and maps them to one score per label.

Speeds are normalised by the person's own size so they do not depend on distance to the
camera or resolution: body speeds in torso lengths per second (shoulder centre to hip centre,
or shoulder width if larger: ~0.5 m on an adult), hand speeds in palm lengths per second
(wrist to middle knuckle, ~0.1 m). Pairs of consecutive analysis frames further apart than
`max_gap_s` are skipped; pose keypoints count only when MediaPipe calls them visible and they lie
inside the frame.

  hip_speed      hip centre travelling in the image: locomotion;
  leg_motion     knees/ankles moving relative to the hips (and the hips bouncing vertically):
                 jumping, kicking, dancing;
  arm_motion     elbows/wrists moving relative to the shoulders;
  hand_speed     wrists of detected hands (matched by handedness between frames);
  hands_high     fraction of visible wrists at chest height or above (between hips and shoulders,
                 nearer the shoulders): where gestures and signs happen; manipulation happens
                 lower, at table height, or with no body in view at all (ego).

Leg, arm and hand motion use the upper quartile over frame pairs, not the median: kicks, jumps
and strokes are bursts that a 2 fps sample catches in only some pairs.

Scores are soft ramps between two speeds (0 below the first, 1 above the second), so every
threshold is a physical speed that says what motion it means (see `MotionConfig`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from importlib import resources
from typing import ClassVar

import numpy as np
import yaml
from pydantic import BaseModel, Field

from humannet.annotate.detectors import FrameDetections
from humannet.annotate.viewpoint import human_detections
from humannet.engine.stage import Resources, Stage
from humannet.records import Clip, Status, Video

log = logging.getLogger(__name__)

SHOULDERS, HIPS = (11, 12), (23, 24)
LEGS = (25, 26, 27, 28)  # knees, ankles
ARMS = (13, 14, 15, 16)  # elbows, wrists
WRISTS = (15, 16)
HAND_WRIST, HAND_MIDDLE_KNUCKLE = 0, 9


def load_categories() -> dict:
    """The label set: `{"version", "groups", "labels": {name: {"group", "description"}}}`."""
    text = resources.files("humannet.assets").joinpath("motion_categories.yaml").read_text()
    return yaml.safe_load(text)


class MotionConfig(BaseModel, extra="forbid"):
    label_threshold: float = Field(
        0.5, ge=0, le=1, description="A clip carries every label scoring at least this (0-1)."
    )
    max_gap_s: float = Field(1.0, gt=0, description="Frame pairs further apart than this are not used for speeds (s).")
    visibility: float = Field(
        0.5, ge=0, le=1, description="Pose keypoints count as seen above this MediaPipe visibility (0-1)."
    )
    walk_speed: tuple[float, float] = Field(
        (0.4, 1.2),
        description=(
            "Hip travel ramp for locomotion (torso lengths/s): a slow step seen obliquely to a normal walk (~2.5 "
            "side-on)."
        ),
    )
    body_motion: tuple[float, float] = Field(
        (0.4, 1.0),
        description=(
            "Leg/hip-bounce motion ramp for whole_body (torso lengths/s): standing jitter (~0.2) to a kick or jump (a "
            "torso length in 1 s)."
        ),
    )
    arm_motion: tuple[float, float] = Field(
        (0.3, 1.0), description="Arm motion ramp for gesture (torso lengths/s) relative to the shoulders."
    )
    hand_motion: tuple[float, float] = Field(
        (0.25, 1.0),
        description="Hand speed ramp (palm lengths/s): detector jitter at 2 fps to deliberate motion (~10 cm/s).",
    )
    still_motion: tuple[float, float] = Field(
        (0.15, 0.5),
        description=(
            "Body speed ramp (torso lengths/s) above which a clip is not static (hands: `hand_motion`); the lower "
            "bound is jitter."
        ),
    )
    min_pairs: int = Field(
        3, ge=1, description="Frame pairs needed before a body speed counts; fewer leaves it unmeasured (count)."
    )
    min_frames: int = Field(2, ge=2, description="Frames with a person needed to score a clip at all (count).")


@dataclass(frozen=True, slots=True)
class Kinematics:
    """Scale-free speeds of one clip (NaN where nothing was seen)."""

    person_fraction: float
    hand_fraction: float
    face_fraction: float
    hip_speed: float
    leg_motion: float
    arm_motion: float
    hand_speed: float
    hands_high: float


def _median(values: list[float], min_count: int = 1) -> float:
    return float(np.median(values)) if len(values) >= min_count else math.nan


def _upper_quartile(values: list[float], min_count: int = 1) -> float:
    """For bursty motion (kicks, jumps, strokes) that a 2 fps median would miss half the time."""
    return float(np.percentile(values, 75)) if len(values) >= min_count else math.nan


def _pixels(image: np.ndarray, frame: FrameDetections) -> np.ndarray:
    """Normalised x, y -> units of the frame's short side (so both axes share a scale)."""
    return image[..., :2].astype(np.float64) * np.array([frame.width, frame.height]) / min(frame.width, frame.height)


def _body_speeds(a: FrameDetections, b: FrameDetections, visibility: float) -> tuple[float, float, float]:
    """(hip travel, leg motion, arm motion) between two frames in torso lengths/s."""
    dt = b.time_s - a.time_s
    pa, pb = _pixels(a.body.image, a), _pixels(b.body.image, b)
    seen = _seen(a, visibility) & _seen(b, visibility)
    hips_a, hips_b = pa[list(HIPS)].mean(0), pb[list(HIPS)].mean(0)
    shoulders_a, shoulders_b = pa[list(SHOULDERS)].mean(0), pb[list(SHOULDERS)].mean(0)
    scale = max(np.linalg.norm(shoulders_a - hips_a), np.linalg.norm(pa[SHOULDERS[0]] - pa[SHOULDERS[1]]), 1e-3)
    # Travel and bounce only count with hips and knees in view: a figure cut off above the hips
    # (or a body MediaPipe invents from a pair of forearms) has no gait to measure.
    legs_in_view = all(seen[i] for i in (*HIPS, 25, 26))
    hip = np.linalg.norm(hips_b - hips_a) / scale / dt if legs_in_view else math.nan

    def relative(indices: tuple[int, ...], anchor_a: np.ndarray, anchor_b: np.ndarray) -> float:
        chosen = [i for i in indices if seen[i]]
        if not chosen:
            return math.nan
        moves = np.linalg.norm((pb[chosen] - anchor_b) - (pa[chosen] - anchor_a), axis=1)
        return float(moves.mean()) / scale / dt

    if not legs_in_view:
        return hip, math.nan, relative(ARMS, shoulders_a, shoulders_b)
    bounce = abs(hips_b[1] - hips_a[1]) / scale / dt
    return hip, max(bounce, relative(LEGS, hips_a, hips_b)), relative(ARMS, shoulders_a, shoulders_b)


def _seen(frame: FrameDetections, visibility: float) -> np.ndarray:
    """Pose keypoints MediaPipe calls visible and that lie inside the frame."""
    image = frame.body.image
    return (
        (image[:, 3] > visibility) & (image[:, 0] >= 0) & (image[:, 0] <= 1) & (image[:, 1] >= 0) & (image[:, 1] <= 1)
    )


def _hand_speeds(a: FrameDetections, b: FrameDetections) -> list[float]:
    """Wrist speeds (palm lengths/s) of hands seen in both frames with the same handedness."""
    speeds = []
    dt = b.time_s - a.time_s
    for hand in b.hands:
        before = next((h for h in a.hands if h.handedness == hand.handedness), None)
        if before is None:
            continue
        pa, pb = _pixels(before.image, a), _pixels(hand.image, b)
        palm = max(np.linalg.norm(pb[HAND_WRIST] - pb[HAND_MIDDLE_KNUCKLE]), 1e-3)
        speeds.append(float(np.linalg.norm(pb[HAND_WRIST] - pa[HAND_WRIST])) / palm / dt)
    return speeds


def _wrists_high(frame: FrameDetections, visibility: float) -> list[bool]:
    """For each seen wrist: is it nearer shoulder height than hip height?"""
    image = frame.body.image
    shoulder_y, hip_y = image[list(SHOULDERS), 1].mean(), image[list(HIPS), 1].mean()
    if hip_y - shoulder_y <= 1e-3:  # not upright: height on the torso means nothing
        return []
    return [bool((hip_y - image[w, 1]) / (hip_y - shoulder_y) >= 0.5) for w in WRISTS if image[w, 3] > visibility]


def measure_kinematics(frames: list[FrameDetections], config: MotionConfig) -> Kinematics:
    frames = sorted(frames, key=lambda f: f.time_s)
    hips, legs, arms, hands, high = [], [], [], [], []
    for a, b in zip(frames[:-1], frames[1:], strict=True):
        if not 0 < b.time_s - a.time_s <= config.max_gap_s:
            continue
        if a.body is not None and b.body is not None:
            for values, speed in zip((hips, legs, arms), _body_speeds(a, b, config.visibility), strict=True):
                if not math.isnan(speed):
                    values.append(speed)
        hands += _hand_speeds(a, b)
    for frame in frames:
        if frame.body is not None:
            high += _wrists_high(frame, config.visibility)
    count = max(len(frames), 1)
    return Kinematics(
        person_fraction=sum(f.has_person for f in frames) / count,
        hand_fraction=sum(bool(f.hands) for f in frames) / count,
        face_fraction=sum(bool(f.faces) for f in frames) / count,
        hip_speed=_median(hips, config.min_pairs),
        leg_motion=_upper_quartile(legs, config.min_pairs),
        arm_motion=_upper_quartile(arms, config.min_pairs),
        hand_speed=_upper_quartile(hands),
        hands_high=float(np.mean(high)) if high else math.nan,
    )


def _ramp(value: float, bounds: tuple[float, float]) -> float:
    if math.isnan(value):
        return 0.0
    low, high = bounds
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def category_scores(k: Kinematics, config: MotionConfig) -> dict[str, float]:
    """One 0-1 score per label; see the module docstring and MotionConfig for each ramp."""
    locomotion = _ramp(k.hip_speed, config.walk_speed)
    whole_body = _ramp(k.leg_motion, config.body_motion)
    moving_body = max(locomotion, whole_body)
    high = 0.0 if math.isnan(k.hands_high) else k.hands_high
    # Gesture: arms (or hands) moving at chest height or above, body in place, a face to talk with.
    arm = max(_ramp(k.arm_motion, config.arm_motion), _ramp(k.hand_speed, config.hand_motion))
    gesture = arm * high * min(1.0, 2 * k.face_fraction) * (1 - moving_body)
    # Manipulation: hands in view below the chest (or no body seen: ego), body in place. Holding and
    # pouring move the hands little, so hands at working height alone reach the label threshold
    # (0.5) and motion raises the score towards 1.
    low = 1.0 if math.isnan(k.hands_high) else 1 - k.hands_high
    manipulation = (
        min(1.0, 2 * k.hand_fraction) * (0.5 + 0.5 * _ramp(k.hand_speed, config.hand_motion)) * low * (1 - moving_body)
    )
    measured = [x for x in (k.hip_speed, k.leg_motion, k.arm_motion, k.hand_speed) if not math.isnan(x)]
    body = max((x for x in (k.hip_speed, k.leg_motion, k.arm_motion) if not math.isnan(x)), default=math.nan)
    moving = max(_ramp(body, config.still_motion), _ramp(k.hand_speed, config.hand_motion))
    static = 1 - moving if measured else 0.0
    return {
        "locomotion": locomotion,
        "whole_body": whole_body,
        "manipulation": manipulation,
        "gesture": gesture,
        "static": static,
    }


class MotionCategoryStage(Stage):
    """Scores every kept clip on the motion categories; reads the humans frame results."""

    name: ClassVar[str] = "motion"
    version: ClassVar[str] = "1"
    produces: ClassVar[tuple[str, ...]] = ("motion_categories", "motion_*")
    config_sections: ClassVar[tuple[str, ...]] = ("motion", "humans")
    reads: ClassVar[tuple[str, ...]] = ("clips", "frame_results.humans")
    resources: ClassVar[Resources] = Resources(cpus=0.1, memory_gb=0.1)

    def __init__(self, config: MotionConfig | None = None) -> None:
        self.config = config or MotionConfig()
        self.categories = load_categories()
        known = set(category_scores(measure_kinematics([], self.config), self.config))
        self.labels = [name for name in self.categories["labels"] if name in known]
        unscored = sorted(set(self.categories["labels"]) - known)
        if unscored:
            log.info("motion categories without a scorer yet (skipped): %s", ", ".join(unscored))

    def process(self, video: Video) -> Video:
        detections = human_detections(video)
        if detections is None:
            log.warning("%s: no human detections; motion categories not scored", video.uri)
            return video
        for clip in video.clips:
            if clip.status is Status.KEPT:
                self.label_clip(clip, [d for d in detections if clip.start_s <= d.time_s < clip.end_s])
        return video

    def label_clip(self, clip: Clip, frames: list[FrameDetections]) -> None:
        with_person = [f for f in frames if f.has_person]
        if len(with_person) < self.config.min_frames:
            scores = dict.fromkeys(self.labels, 0.0)
        else:
            all_scores = category_scores(measure_kinematics(frames, self.config), self.config)
            scores = {name: round(all_scores[name], 4) for name in self.labels}
        clip.scores.update({f"motion_{name}": value for name, value in scores.items()})
        chosen = sorted(
            (name for name, value in scores.items() if value >= self.config.label_threshold), key=lambda n: -scores[n]
        )
        clip.labels["motion_categories"] = chosen
