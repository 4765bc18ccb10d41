"""Camera trajectory of egocentric clips: `{clip_id}.camera.npz` and a camera-motion summary for the index.

A head-mounted camera's path is the wearer's head motion: the context a robot needs to turn
hand motion seen in the picture into motion in the room. It runs on clips the viewpoint stage
labelled `ego` (others are skipped, nothing written), decodes the written clip at `fps` and
`width` (grey), hides the wearer's hands and any detected body (boxes around the keypoints in
`{clip_id}.pose.npz`, which move on their own) and runs the visual odometry of `vo.py`.

The focal length is not known for web video: it is set from an assumed horizontal field of
view (`hfov_deg`, default 90 degrees, typical of head-mounted action cameras). A wrong FOV
bends the trajectory's shape a little but not its validity flags. Units and columns: docs/camera.md.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import ClassVar

import av
import numpy as np
from pydantic import BaseModel, Field
from scipy.ndimage import uniform_filter1d
from scipy.spatial.transform import Rotation

from humannet.annotate.clip_annotator import ClipAnnotation, ClipAnnotator, StagedClip
from humannet.annotate.pose_tracks import npz_bytes
from humannet.annotate.vo import (
    FRAME_STATES,
    LOST,
    NO_TEXTURE,
    ROTATION_ONLY,
    OdometrySettings,
    Trajectory,
    VisualOdometry,
    intrinsics,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MIN_FRAMES = 3
SHAKE_WINDOW_S = 0.5  # rotation slower than this is head motion, faster is shake


class CameraTrajectoryConfig(BaseModel, extra="forbid"):
    """The `[camera_trajectory]` section: which clips are tracked and how, and the odometry's thresholds."""

    enabled: bool = Field(
        True, description="Estimate the camera trajectory of ego clips and write {clip_id}.camera.npz."
    )
    fps: float = Field(
        10.0,
        gt=0,
        le=60,
        description="Rate at which frames of the written clip are tracked (frames/s); capped by the clip's rate.",
    )
    width: int = Field(
        320,
        ge=64,
        le=1920,
        description="Width frames are scaled to for tracking (px); thresholds in px below are at this width.",
    )
    hfov_deg: float = Field(
        90.0,
        gt=10,
        lt=170,
        description="Assumed horizontal field of view (degrees): sets the focal length. "
        "Head-mounted cameras are ~80-110.",
    )
    max_features: int = Field(300, ge=20, le=5000, description="Most points tracked at once (count).")
    min_corner_strength: float = Field(
        3e-4,
        ge=0,
        description="Weakest corner tracked: OpenCV cornerMinEigenVal (block 3, Sobel 3) of the 8-bit grey frame; "
        "flat colour gives 0, texture 1e-3 and up.",
    )
    min_tracks: int = Field(
        30, ge=8, description="Fewest points a frame must share with its keyframe to be related to it (count)."
    )
    min_inliers: int = Field(
        25, ge=8, description="Fewest essential-matrix inliers for a keyframe pose to be valid (count)."
    )
    keyframe_parallax_px: float = Field(
        4.0,
        gt=0,
        description="A new keyframe is taken when the tracked points moved this much beyond what rotation explains "
        "(median px).",
    )
    rotation_only_px: float = Field(
        1.0,
        gt=0,
        description="Below this rotation-compensated parallax (median px) a pair is rotation-only: "
        "translation unknown.",
    )
    keyframe_track_ratio: float = Field(
        0.6,
        gt=0,
        lt=1,
        description="A keyframe is forced when fewer than this share of its points are still tracked (0-1).",
    )
    ransac_px: float = Field(1.0, gt=0, description="Inlier threshold of the essential-matrix fit (px).")
    window_keyframes: int = Field(
        5, ge=0, le=30, description="Keyframes refined by each windowed bundle adjustment; 0 switches it off (count)."
    )
    bundle_iterations: int = Field(
        8, ge=1, le=100, description="Most solver iterations of one windowed bundle adjustment (count)."
    )
    mask_people: bool = Field(
        True, description="Ignore points on detected hands and bodies (from pose.npz): they move on their own."
    )
    mask_margin: float = Field(
        0.15, ge=0, le=1, description="Masked boxes are grown by this share of their size on every side (fraction)."
    )

    def odometry(self) -> OdometrySettings:
        """The part of this section the visual odometry reads."""
        return OdometrySettings(**self.model_dump(include={item.name for item in fields(OdometrySettings)}))


def decode_grey(path: Path, fps: float, width: int) -> Iterator[tuple[float, np.ndarray]]:
    """Grey frames of a video at about `fps`, scaled to `width` (aspect kept), with their times from the start."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        period = 1.0 / fps
        next_time = 0.0
        first = None
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            stamp = float(frame.pts * stream.time_base)
            first = stamp if first is None else first
            stamp -= first
            if stamp + 1e-6 < next_time:
                continue
            while next_time <= stamp + 1e-6:
                next_time += period
            height = max(2, int(round(frame.height * width / frame.width / 2)) * 2)
            yield stamp, frame.reformat(width=width, height=height, format="gray", threads=1).to_ndarray()


Box = tuple[float, float, float, float]  # x0, y0, x1, y1, normalised to the frame


def people_boxes(pose: bytes | None, margin: float) -> list[tuple[float, list[Box]]]:
    """Per pose sample of a pose.npz: (time, boxes around each hand and the body), grown by `margin` of their longer
    side."""
    if not pose:
        return []
    arrays = np.load(io.BytesIO(pose))
    samples = []
    for row, stamp in enumerate(arrays["times"]):
        body = arrays["body_image"][row]
        groups = [arrays["hand_image"][row, slot, :, :2] for slot in range(2)]
        groups.append(body[body[:, 3] > 0.5, :2] if not np.isnan(body[0, 0]) else np.zeros((0, 2)))
        boxes = []
        for points in groups:
            points = points[~np.isnan(points).any(axis=1)]
            if len(points) < 2:
                continue
            low, high = points.min(axis=0), points.max(axis=0)
            grow = float((high - low).max()) * margin  # by the longer side: a hand seen edge-on is still a hand's width
            boxes.append((float(low[0] - grow), float(low[1] - grow), float(high[0] + grow), float(high[1] + grow)))
        samples.append((float(stamp), boxes))
    return samples


def boxes_mask(boxes: list[Box], size: tuple[int, int]) -> np.ndarray:
    """uint8 mask of a frame, 0 inside the boxes."""
    width, height = size
    mask = np.full((height, width), 255, np.uint8)
    for x0, y0, x1, y1 in boxes:
        top, bottom = max(int(y0 * height), 0), max(int(math.ceil(y1 * height)), 0)
        left, right = max(int(x0 * width), 0), max(int(math.ceil(x1 * width)), 0)
        mask[top:bottom, left:right] = 0
    return mask


def run_odometry(
    path: Path, config: CameraTrajectoryConfig, pose: bytes | None = None, boxes: list[tuple[float, Box]] | None = None
) -> tuple[Trajectory, np.ndarray]:
    """Track a video file; masks come from a pose.npz and/or explicit normalised boxes `(time, (x0, y0, x1, y1))`."""
    vo: VisualOdometry | None = None
    camera = np.eye(3)
    samples = people_boxes(pose, config.mask_margin) if config.mask_people else []
    samples += [(t, [box]) for t, box in boxes or []]
    for stamp, grey in decode_grey(path, config.fps, config.width):
        if vo is None:
            height, width = grey.shape
            camera = intrinsics(width, height, config.hfov_deg)
            vo = VisualOdometry(config.odometry(), camera)
        nearby = _boxes_at(samples, stamp)
        vo.add(stamp, grey, boxes_mask(nearby, (grey.shape[1], grey.shape[0])) if nearby else None)
    if vo is None:
        raise ValueError(f"{path}: no decodable video frames")
    return vo.finish(), camera


def _boxes_at(samples: list[tuple[float, list[Box]]], stamp: float) -> list[Box]:
    """The boxes of the pose sample nearest in time (pose runs at its own, lower rate)."""
    if not samples:
        return []
    nearest = min(samples, key=lambda item: abs(item[0] - stamp))
    return nearest[1] if abs(nearest[0] - stamp) <= 0.25 else []


def motion_summary(trajectory: Trajectory) -> dict[str, float]:
    """Index columns: translation and rotation speed over valid frames, shake, and the valid share.

    translation speed: path length per second over frames whose position is known (units of
    the median scene depth per second); rotation speed: summed angle between consecutive valid
    frames per second (deg/s); shakiness: RMS of the angular velocity's part faster than
    SHAKE_WINDOW_S (its deviation from a moving average over that window, deg/s).
    """
    times, valid, known = trajectory.times, trajectory.valid, trajectory.translation_known
    nan = float("nan")
    summary = {
        "camera_valid_fraction": float(valid.mean()) if len(valid) else 0.0,
        "camera_translation_speed": nan,
        "camera_rotation_speed_deg_s": nan,
        "camera_shakiness": nan,
    }
    both = valid[1:] & valid[:-1]
    steps = np.diff(times)
    if both.any() and steps[both].sum() > 0:
        relative = Rotation.from_matrix(np.einsum("nji,njk->nik", trajectory.rotations[:-1], trajectory.rotations[1:]))
        angular = relative.as_rotvec() / np.maximum(steps, 1e-9)[:, None]  # rad/s in the camera frame
        summary["camera_rotation_speed_deg_s"] = float(
            np.degrees(np.linalg.norm(angular[both], axis=1) * steps[both]).sum() / steps[both].sum()
        )
        rate = np.degrees(angular[both])
        if len(rate) >= 3:
            window = max(3, int(round(SHAKE_WINDOW_S / float(np.median(steps[both])))))
            smooth = uniform_filter1d(rate, size=window, axis=0, mode="nearest")
            summary["camera_shakiness"] = float(np.sqrt(((rate - smooth) ** 2).sum(axis=1).mean()))
    moved = known[1:] & known[:-1]
    if moved.any() and steps[moved].sum() > 0:
        length = np.linalg.norm(np.diff(trajectory.positions, axis=0), axis=1)[moved].sum()
        summary["camera_translation_speed"] = float(length / steps[moved].sum())
    return summary


def failure_reasons(trajectory: Trajectory) -> list[str]:
    """Why (part of) the clip has no trajectory: the states that cover most of the invalid frames, and rotation-only
    motion."""
    count = len(trajectory.times)
    reasons = []
    if count < MIN_FRAMES:
        return [f"too_few_frames: {count} tracked frames, need {MIN_FRAMES}"]
    invalid = ~trajectory.valid
    if invalid.mean() > 0.5:
        states = [state for state, bad in zip(trajectory.states, invalid, strict=True) if bad]
        main = max(set(states), key=states.count)
        detail = {
            NO_TEXTURE: "too few trackable corners (flat, dark or motion-blurred picture)",
            LOST: "tracking lost (blur, fast motion, occlusion or a cut)",
        }.get(main, "not enough points")
        reasons.append(f"{main}: {invalid.sum()} of {count} frames without a pose, {detail}")
    elif trajectory.valid.any() and not trajectory.translation_known[trajectory.valid].mean() > 0.5:
        reasons.append(f"{ROTATION_ONLY}: the camera only turns (no parallax), rotation valid, translation unknown")
    return reasons


def trajectory_arrays(
    trajectory: Trajectory, camera: np.ndarray, size: tuple[int, int], config: CameraTrajectoryConfig
) -> dict[str, np.ndarray]:
    quaternions = (
        Rotation.from_matrix(trajectory.rotations).as_quat(scalar_first=True)
        if len(trajectory.times)
        else np.zeros((0, 4))
    )
    positions = np.where(trajectory.translation_known[:, None], trajectory.positions, np.nan)
    return {
        "format_version": np.array(FORMAT_VERSION, dtype=np.int32),
        "times": trajectory.times.astype(np.float64),
        "positions": positions.astype(np.float32),
        "quaternions": np.where(trajectory.valid[:, None], quaternions, np.nan).astype(np.float32),
        "valid": trajectory.valid,
        "translation_valid": trajectory.translation_known,
        "state": np.array([FRAME_STATES.index(s) for s in trajectory.states], dtype=np.int8),
        "state_names": np.array(FRAME_STATES),
        "keyframes": np.array(trajectory.keyframes, dtype=np.int32),
        "intrinsics": camera.astype(np.float32),
        "frame_size": np.array(size, dtype=np.int32),
        "hfov_deg": np.array(config.hfov_deg, dtype=np.float32),
    }


class CameraTrajectoryAnnotator(ClipAnnotator):
    name: ClassVar[str] = "camera_trajectory"
    produces: ClassVar[tuple[str, ...]] = (
        "camera_translation_speed",
        "camera_rotation_speed_deg_s",
        "camera_shakiness",
        "camera_valid_fraction",
    )
    config_sections: ClassVar[tuple[str, ...]] = ("camera_trajectory",)
    reads_if_present: ClassVar[tuple[str, ...]] = ("pose.npz",)  # masks the person's own motion
    writes: ClassVar[tuple[str, ...]] = ("camera.npz", "metadata.camera_trajectory")
    version: ClassVar[str] = "1"

    def __init__(self, config: CameraTrajectoryConfig) -> None:
        self.config = config

    def annotate(self, staged: StagedClip) -> ClipAnnotation:
        if staged.clip.labels.get("viewpoint") != "ego":
            return ClipAnnotation()
        started = time.perf_counter()
        try:
            trajectory, camera = run_odometry(staged.mp4, self.config, pose=staged.files.get("pose.npz"))
        except (av.error.FFmpegError, ValueError) as exc:
            return ClipAnnotation(errors=[f"decode: {exc}"])
        size = (self.config.width, int(round(camera[1, 2] * 2)))
        summary = motion_summary(trajectory)
        reasons = failure_reasons(trajectory)
        elapsed = time.perf_counter() - started
        metadata = {
            "camera_trajectory": {
                **{key: (None if math.isnan(value) else round(value, 4)) for key, value in summary.items()},
                "frames": len(trajectory.times),
                "keyframes": len(trajectory.keyframes),
                "segments": trajectory.segments,
                "translation_valid_fraction": round(float(trajectory.translation_known.mean()), 4)
                if len(trajectory.times)
                else 0.0,
                "hfov_deg": self.config.hfov_deg,
                "units": "median scene depth",
                "reasons": reasons,
                "ms_per_frame": round(1000 * elapsed / max(len(trajectory.times), 1), 2),
            }
        }
        files = (
            {"camera.npz": npz_bytes(trajectory_arrays(trajectory, camera, size, self.config))}
            if len(trajectory.times)
            else {}
        )
        return ClipAnnotation(files=files, metadata=metadata, scores=summary, errors=reasons)
