"""Ego (first-person) or exo (third-person) viewpoint per clip, from measured cues.

The only thing that can show an ego view is the wearer's own hands and forearms; everything
else a camera sees of a person (a face, a whole figure) belongs to someone the camera looks
at. So the hand cues argue for ego and the person cues argue for exo:

  ego_hand_bottom_entry    fraction of hand observations whose forearm reaches in from the
                           bottom edge: the ray from the middle-finger knuckle through the wrist
                           (the forearm's direction) leaves the frame through the bottom edge, or
                           the lower half of a side edge, within `reach_palms` palm lengths. A
                           forearm is ~2.7 palm lengths (wrist to knuckle), so the elbow is then
                           outside the frame, as it is for a head-mounted camera. Overhead and
                           frontal views show forearms coming from the top or the sides, or
                           elbows inside the frame.
  ego_hand_side_consistency fraction of hands on their own side of the frame (left hand left of
                           centre): true for one's own hands, mirrored for a person facing the camera.
  exo_hands_far            hands too small to be at arm's length from the camera (palm length
                           below `near_palm_fraction` of the frame's short side).
  exo_face_visible         fraction of frames with a detected face: one cannot see one's own face.
  exo_full_body_visible    fraction of frames with shoulders, hips and knees in frame.
  exo_body_without_hands   fraction of frames with a body but no hand (a person, not the wearer).
  exo_camera_still         the camera hardly moves (median picture shift under `still_shift`
                           frame widths/s): a head never holds that still, a tripod does.

They are combined in a hand-set logistic model, `p(ego) = sigmoid(sum weight * cue)`, with the
hand cues centred (0.5 is no evidence) and scaled by how many hands were seen. Weights say how
much one full unit of a cue is worth in log-odds; the person cues weigh more than the hand
geometry because MediaPipe sees them with fewer false positives, and because one's own face or
whole body is impossible in an ego view while odd hand poses are not. The clip is `ego` when
p >= `decide_probability`, `exo` when p <= 1 - that, else `unknown`; with no hand, body or face
at all it is `unknown` with confidence 0.

Evidence is pooled over the clip's shot (up to `context_s` around the clip), not the clip alone:
a camera does not switch between head-mounted and tripod within one continuous shot, and a
5-second clip at 2 fps has too few frames for single false detections (MediaPipe Pose invents
bodies from forearms in ego views) to average out. Clips of one shot therefore share a label.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, Field

from humannet.annotate.camera_motion import CameraMotion, CameraMotionStage
from humannet.annotate.detectors import FrameDetections, HandPose
from humannet.engine.stage import Resources, Stage
from humannet.records import Clip, Status, Video

log = logging.getLogger(__name__)

WRIST, MIDDLE_KNUCKLE = 0, 9  # MediaPipe hand landmarks
SHOULDERS, HIPS, KNEES = (11, 12), (23, 24), (25, 26)  # MediaPipe pose landmarks
HUMANS_STAGE = "humans"  # frame results of the human detection stage


def human_detections(video: Video) -> list[FrameDetections] | None:
    """The humans stage's detections in time order: its result is either the list itself or an
    object carrying it as `.detections` (process/humans.py `HumanFrames`); None when it did not run."""
    result = video.frame_results.get(HUMANS_STAGE)
    return result if result is None or isinstance(result, list) else result.detections


class ViewpointConfig(BaseModel, extra="forbid"):
    context_s: float = Field(
        30.0,
        gt=0,
        description="Evidence is pooled over the clip's shot, at most this long a window centred on the clip (s).",
    )
    reach_palms: float = Field(
        4.0,
        gt=0,
        description=(
            "A forearm 'reaches in' when the frame edge is at most this many palm lengths from the wrist (palms)."
        ),
    )
    near_palm_fraction: float = Field(
        0.10,
        gt=0,
        le=1,
        description="Palm length (wrist to middle knuckle) at arm's length, as a fraction of the short side.",
    )
    still_shift: float = Field(
        0.02, gt=0, description="Median camera shift below which the camera counts as (partly) still (frame widths/s)."
    )
    full_hand_observations: int = Field(
        4, ge=1, description="Hand observations in a clip at which the hand cues count fully (count)."
    )
    body_visibility: float = Field(
        0.5, ge=0, le=1, description="Pose keypoints count as visible above this MediaPipe visibility (0-1)."
    )
    weight_bottom_entry: float = Field(
        2.5,
        ge=0,
        description="Log-odds for ego when every forearm reaches in from the bottom (against, when none does).",
    )
    weight_side_consistency: float = Field(
        1.0, ge=0, description="Log-odds for ego when every hand is on its own side (against, when all are mirrored)."
    )
    weight_hands_far: float = Field(
        1.5, ge=0, description="Log-odds against ego when every hand is far from the camera."
    )
    weight_face: float = Field(5.0, ge=0, description="Log-odds against ego when a face is seen in every frame.")
    weight_full_body: float = Field(
        3.0, ge=0, description="Log-odds against ego when a whole figure is seen in every frame."
    )
    weight_body_without_hands: float = Field(
        1.5, ge=0, description="Log-odds against ego when a body but no hand is seen in every frame."
    )
    weight_camera_still: float = Field(
        2.5, ge=0, description="Log-odds against ego for a camera that does not move at all."
    )
    decide_probability: float = Field(
        0.65, gt=0.5, lt=1, description="p(ego) needed to say ego (1 minus it for exo); between the two: unknown."
    )


@dataclass(frozen=True, slots=True)
class ViewpointCues:
    """Cue values of one clip (NaN where a cue had nothing to look at)."""

    hand_observations: int
    hand_bottom_entry: float
    hand_side_consistency: float
    hands_far: float
    face_visible: float
    full_body_visible: float
    body_without_hands: float
    camera_shift: float
    camera_still: float

    @property
    def has_evidence(self) -> bool:
        return (
            self.hand_observations > 0
            or self.face_visible > 0
            or self.full_body_visible > 0
            or self.body_without_hands > 0
        )


def forearm_reaches_bottom(hand: HandPose, width: int, height: int, reach_palms: float) -> bool:
    """Does the forearm (knuckle -> wrist, extended) leave the frame low, before the elbow would?"""
    size = np.array([width, height], dtype=np.float64)
    wrist = hand.image[WRIST, :2].astype(np.float64) * size
    direction = wrist - hand.image[MIDDLE_KNUCKLE, :2].astype(np.float64) * size
    palm = float(np.linalg.norm(direction))
    if palm < 1e-6:
        return False
    direction /= palm
    # Distance along the ray to each edge it heads for; the nearest is where it leaves.
    exits = []
    for axis in (0, 1):
        if direction[axis] > 1e-9:
            exits.append(((size[axis] - wrist[axis]) / direction[axis], axis, "high"))
        elif direction[axis] < -1e-9:
            exits.append((-wrist[axis] / direction[axis], axis, "low"))
    distance, axis, side = min(exits)
    exit_y = wrist[1] + max(distance, 0.0) * direction[1]
    leaves_low = (axis == 1 and side == "high") or (axis == 0 and exit_y > height / 2)
    return leaves_low and distance <= reach_palms * palm


def palm_fraction(hand: HandPose, width: int, height: int) -> float:
    """Palm length (wrist to middle knuckle) as a fraction of the frame's short side."""
    delta = (hand.image[WRIST, :2] - hand.image[MIDDLE_KNUCKLE, :2]) * np.array([width, height])
    return float(np.linalg.norm(delta)) / min(width, height)


def _keypoints_in_frame(image: np.ndarray, indices: tuple[int, ...], visibility: float) -> bool:
    points = image[list(indices)]
    return bool(
        (
            (points[:, 3] > visibility)
            & (points[:, 0] >= 0)
            & (points[:, 0] <= 1)
            & (points[:, 1] >= 0)
            & (points[:, 1] <= 1)
        ).all()
    )


def measure_cues(frames: list[FrameDetections], camera_shift: float, config: ViewpointConfig) -> ViewpointCues:
    """Cue values over the analysis frames of one clip."""
    bottom, own_side, palms = [], [], []
    faces = full_bodies = bodies_alone = 0
    for frame in frames:
        for hand in frame.hands:
            bottom.append(forearm_reaches_bottom(hand, frame.width, frame.height, config.reach_palms))
            own_side.append((hand.handedness == "left") == (float(hand.image[WRIST, 0]) < 0.5))
            palms.append(palm_fraction(hand, frame.width, frame.height))
        faces += bool(frame.faces)
        if frame.body is not None:
            image = frame.body.image
            full_bodies += all(
                _keypoints_in_frame(image, part, config.body_visibility) for part in (SHOULDERS, HIPS, KNEES)
            )
            bodies_alone += not frame.hands
    count = max(len(frames), 1)
    nan = math.nan
    median_palm = float(np.median(palms)) if palms else nan
    # Hands far: 1 at half the arm's-length palm size or smaller, 0 at that size or larger.
    far = (
        float(np.clip((config.near_palm_fraction - median_palm) / (config.near_palm_fraction / 2), 0, 1))
        if palms
        else nan
    )
    # Camera still: 1 at a tenth of `still_shift` or less, 0 at `still_shift` or more (log scale: shifts span decades).
    still = (
        float(np.clip(math.log10(config.still_shift / max(camera_shift, 1e-9)), 0, 1))
        if math.isfinite(camera_shift)
        else nan
    )
    return ViewpointCues(
        hand_observations=len(bottom),
        hand_bottom_entry=float(np.mean(bottom)) if bottom else nan,
        hand_side_consistency=float(np.mean(own_side)) if own_side else nan,
        hands_far=far,
        face_visible=faces / count,
        full_body_visible=full_bodies / count,
        body_without_hands=bodies_alone / count,
        camera_shift=camera_shift,
        camera_still=still,
    )


def ego_probability(cues: ViewpointCues, config: ViewpointConfig) -> float:
    """The hand-set logistic combination described in the module docstring."""

    def value(x: float) -> float:
        return 0.0 if math.isnan(x) else x

    hand_weight = min(1.0, cues.hand_observations / config.full_hand_observations)
    logit = hand_weight * (
        config.weight_bottom_entry * (2 * value(cues.hand_bottom_entry) - 1) * (cues.hand_observations > 0)
        + config.weight_side_consistency * (2 * value(cues.hand_side_consistency) - 1) * (cues.hand_observations > 0)
        - config.weight_hands_far * value(cues.hands_far)
    )
    logit -= config.weight_face * cues.face_visible
    logit -= config.weight_full_body * cues.full_body_visible
    logit -= config.weight_body_without_hands * cues.body_without_hands
    logit -= config.weight_camera_still * value(cues.camera_still)
    return 1.0 / (1.0 + math.exp(-logit))


def decide(cues: ViewpointCues, config: ViewpointConfig) -> tuple[str, float, float]:
    """(label, confidence, p_ego) for one clip."""
    if not cues.has_evidence:
        return "unknown", 0.0, 0.5
    p = ego_probability(cues, config)
    if p >= config.decide_probability:
        return "ego", p, p
    if p <= 1 - config.decide_probability:
        return "exo", 1 - p, p
    return "unknown", 1 - 2 * abs(p - 0.5), p  # how firmly it sits between the two


class ViewpointStage(Stage):
    """Labels every kept clip ego / exo / unknown; reads the humans and camera_motion frame results."""

    name: ClassVar[str] = "viewpoint"
    version: ClassVar[str] = "1"
    produces: ClassVar[tuple[str, ...]] = ("viewpoint", "viewpoint_*", "ego_*", "exo_*", "camera_shift")
    config_sections: ClassVar[tuple[str, ...]] = ("viewpoint", "camera_motion", "humans")
    reads: ClassVar[tuple[str, ...]] = ("clips", "scenes", "frame_results.humans")
    reads_if_present: ClassVar[tuple[str, ...]] = ("frame_results.camera_motion",)
    resources: ClassVar[Resources] = Resources(cpus=0.1, memory_gb=0.1)

    def __init__(self, config: ViewpointConfig | None = None) -> None:
        self.config = config or ViewpointConfig()

    def process(self, video: Video) -> Video:
        detections = human_detections(video)
        if detections is None:
            log.warning("%s: no human detections; viewpoint not labelled", video.uri)
            return video
        camera: CameraMotion | None = video.frame_results.get(CameraMotionStage.name)
        scenes = {scene.index: (scene.start_s, scene.end_s) for scene in video.scenes}
        for clip in video.clips:
            if clip.status is Status.KEPT:
                start_s, end_s = self.evidence_window(clip, scenes.get(clip.scene_index))
                self.label_clip(clip, detections, camera, start_s, end_s)
        return video

    def evidence_window(self, clip: Clip, scene: tuple[float, float] | None) -> tuple[float, float]:
        """The clip's shot, cut to `context_s` around the clip's middle; never less than the clip."""
        if scene is None:
            return clip.start_s, clip.end_s
        middle = (clip.start_s + clip.end_s) / 2
        start_s = max(scene[0], middle - self.config.context_s / 2)
        end_s = min(scene[1], middle + self.config.context_s / 2)
        return min(start_s, clip.start_s), max(end_s, clip.end_s)

    def label_clip(
        self, clip: Clip, detections: list[FrameDetections], camera: CameraMotion | None, start_s: float, end_s: float
    ) -> None:
        """Label `clip` from the detections and camera motion in [start_s, end_s)."""
        frames = [d for d in detections if start_s <= d.time_s < end_s]
        shift = camera.median_shift(start_s, end_s) if camera is not None else math.nan
        cues = measure_cues(frames, shift, self.config)
        label, confidence, p_ego = decide(cues, self.config)
        clip.labels["viewpoint"] = label
        clip.scores.update(
            {
                "viewpoint_confidence": round(confidence, 4),
                "viewpoint_ego_probability": round(p_ego, 4),
                "ego_hand_observations": float(cues.hand_observations),
                "ego_hand_bottom_entry": cues.hand_bottom_entry,
                "ego_hand_side_consistency": cues.hand_side_consistency,
                "exo_hands_far": cues.hands_far,
                "exo_face_visible": cues.face_visible,
                "exo_full_body_visible": cues.full_body_visible,
                "exo_body_without_hands": cues.body_without_hands,
                "exo_camera_still": cues.camera_still,
                "camera_shift": cues.camera_shift,
            }
        )
