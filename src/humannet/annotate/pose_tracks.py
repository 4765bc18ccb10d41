"""Keypoint tracks for kept clips: body and hand keypoints over time, stored as `{clip_id}.pose.npz`.

They are measured during materialisation, on the written frames (upright, at the output
size, before faces are hidden), at `pose_fps`: a higher rate than the analysis pass
samples, because policy learning needs the motion, not just the presence of a person.
The detector restarts its tracking at each clip. Arrays and units are in docs/format.md.
"""

from __future__ import annotations

import io
import logging
import zipfile
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, Field

from humannet.annotate.detectors import (
    BODY_KEYPOINTS,
    HAND_KEYPOINTS,
    FrameDetections,
    HumanDetector,
    MediaPipeDetector,
)
from humannet.corpus.writer import TRACK_COUNT_COLUMNS
from humannet.engine.stage import EncodeHook
from humannet.media.cut import ClipExtras, TimedImage
from humannet.records import Clip

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
HAND_SLOTS = {"left": 0, "right": 1}  # the person's own hands


class PoseTrackConfig(BaseModel, extra="forbid"):
    enabled: bool = Field(True, description="Write {clip_id}.pose.npz keypoint tracks for each materialised clip.")
    pose_fps: float = Field(
        10.0,
        gt=0,
        le=120,
        description="Rate of pose and hand estimation on written frames (frames/s); capped by the clip's rate.",
    )
    min_confidence: float = Field(
        0.5, ge=0.05, le=1.0, description="Detection confidence for a body or hand to count (0-1)."
    )


def tracks_to_arrays(detections: list[FrameDetections], width: int, height: int) -> dict[str, np.ndarray]:
    """The pose.npz arrays for one clip; absent bodies and hands are NaN (scores 0)."""
    count = len(detections)
    arrays = {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int32),
        "frame_size": np.array([width, height], dtype=np.int32),
        "times": np.array([d.time_s for d in detections], dtype=np.float64),
        "body_image": np.full((count, BODY_KEYPOINTS, 4), np.nan, dtype=np.float32),
        "body_world": np.full((count, BODY_KEYPOINTS, 4), np.nan, dtype=np.float32),
        "hand_image": np.full((count, 2, HAND_KEYPOINTS, 3), np.nan, dtype=np.float32),
        "hand_world": np.full((count, 2, HAND_KEYPOINTS, 3), np.nan, dtype=np.float32),
        "hand_score": np.zeros((count, 2), dtype=np.float32),
    }
    for row, found in enumerate(detections):
        if found.body is not None:
            arrays["body_image"][row] = found.body.image
            arrays["body_world"][row] = found.body.world
        for hand in found.hands:
            slot = HAND_SLOTS.get(hand.handedness)
            if slot is None or hand.score <= arrays["hand_score"][row, slot]:
                continue  # two hands labelled the same side: keep the surer one
            arrays["hand_image"][row, slot] = hand.image
            arrays["hand_world"][row, slot] = hand.world
            arrays["hand_score"][row, slot] = hand.score
    return arrays


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A compressed .npz (what `np.load` reads) with fixed member dates, so the same arrays give the same bytes (and
    shards)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as handle:
                np.lib.format.write_array(handle, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def pose_summary(arrays: dict[str, np.ndarray]) -> dict[str, int]:
    """Frame counts for the clip index: sampled frames, frames with a body, with any hand, with both hands."""
    body = ~np.isnan(arrays["body_image"][:, 0, 0])
    hands = arrays["hand_score"] > 0
    return {
        "pose_frames": int(len(arrays["times"])),
        "body_frames": int(body.sum()),
        "hand_frames": int(hands.any(axis=1).sum()),
        "two_hand_frames": int(hands.all(axis=1).sum()),
    }


class PoseTrackHook(EncodeHook):
    """An encode hook that samples keypoints; it passes every frame on unchanged."""

    name: ClassVar[str] = "pose_tracks"
    version: ClassVar[str] = "1"
    step: ClassVar[str] = "keypoints"
    config_sections: ClassVar[tuple[str, ...]] = ("pose_tracks",)
    writes: ClassVar[tuple[str, ...]] = ("pose.npz", "metadata.pose")
    produces: ClassVar[tuple[str, ...]] = tuple(TRACK_COUNT_COLUMNS.values())  # `pose` counts, copied by curate

    def __init__(self, config: PoseTrackConfig, detector: HumanDetector | None = None) -> None:
        self.config = config
        self.detector = detector or MediaPipeDetector(min_confidence=config.min_confidence, faces=False)
        self.period = 1.0 / config.pose_fps

    def setup(self) -> None:
        self.detector.setup()

    def begin_clip(self, clip: Clip, width: int, height: int) -> None:
        self.detector.reset()
        self.size = (width, height)
        self.found: list[FrameDetections] = []
        self.next_sample = 0.0

    def process(self, time_s: float, image: np.ndarray) -> list[TimedImage]:
        if time_s + 1e-6 >= self.next_sample:
            self.found.append(self.detector.detect(image, time_s))
            while self.next_sample <= time_s + 1e-6:
                self.next_sample += self.period
        return [(time_s, image)]

    def flush(self) -> list[TimedImage]:
        return []

    def end_clip(self) -> ClipExtras:
        arrays = tracks_to_arrays(self.found, *self.size)
        return ClipExtras(files={"pose.npz": npz_bytes(arrays)}, metadata={"pose": pose_summary(arrays)})
