"""Camera ego-motion from the small full-rate frames: how fast the whole picture moves.

A head-mounted camera turns and sways with the head all the time; a tripod does not, and a
hand-held camera sits in between. That is one of the viewpoint cues (see `viewpoint.py`).

Method: every `1/sample_fps` seconds, corners found on the previous sampled grey frame are
tracked into the current one with pyramidal Lucas-Kanade, and a similarity transform
(shift, rotation, scale) is fitted with RANSAC. RANSAC keeps the motion most points agree
on, which is the background as long as the background covers most of the picture, so hands
or a person moving in front of a still camera do not count as camera motion. The result per
sample is the picture's shift in frame widths per second (plus rotation and zoom); samples
with too few tracked points (dark, blank, blurred frames) are NaN and ignored downstream.
Cost: ~1 ms per sample at 160 px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import cv2
import numpy as np
from pydantic import BaseModel, Field

from humannet.engine.stage import FrameStage, Resources
from humannet.records import Frame, Video


class CameraMotionConfig(BaseModel, extra="forbid"):
    sample_fps: float = Field(
        10.0, gt=0, le=60, description="Rate at which frame pairs are compared (pairs/s); enough to resolve head turns."
    )
    max_corners: int = Field(120, ge=8, le=1000, description="Corners tracked per sampled frame (count).")
    min_tracked: int = Field(
        12, ge=4, description="Fewer tracked points than this leaves the sample unmeasured (count)."
    )
    ransac_px: float = Field(1.0, gt=0, description="RANSAC inlier distance on the small frame (px at ~160 px width).")


@dataclass(slots=True)
class CameraMotion:
    """Per-sample camera motion of one video; arrays share one index, NaN where unmeasured."""

    times: np.ndarray  # (n,) s, time of the later frame of each pair
    shift: np.ndarray  # (n,) frame widths per second
    rotation: np.ndarray  # (n,) degrees per second (absolute)
    zoom: np.ndarray  # (n,) |log scale| per second

    def median_shift(self, start_s: float, end_s: float) -> float:
        """Median picture shift over [start_s, end_s) in frame widths/s; NaN when nothing was measured."""
        inside = (self.times >= start_s) & (self.times < end_s) & np.isfinite(self.shift)
        return float(np.median(self.shift[inside])) if inside.any() else math.nan


@dataclass
class CameraMotionAccumulator:
    config: CameraMotionConfig
    _previous: np.ndarray | None = None
    _previous_time: float = -math.inf
    _rows: list[tuple[float, float, float, float]] = field(default_factory=list)

    def add(self, frame: Frame) -> None:
        if frame.time_s - self._previous_time + 1e-6 < 1.0 / self.config.sample_fps:
            return
        grey = cv2.cvtColor(frame.small, cv2.COLOR_BGR2GRAY) if frame.small.ndim == 3 else frame.small
        if self._previous is not None and self._previous.shape == grey.shape:
            self._rows.append((frame.time_s, *self._measure(self._previous, grey, frame.time_s - self._previous_time)))
        self._previous, self._previous_time = grey, frame.time_s

    def _measure(self, before: np.ndarray, after: np.ndarray, dt: float) -> tuple[float, float, float]:
        nan = (math.nan, math.nan, math.nan)
        corners = cv2.goodFeaturesToTrack(before, maxCorners=self.config.max_corners, qualityLevel=0.01, minDistance=5)
        if corners is None or len(corners) < self.config.min_tracked or dt <= 0:
            return nan
        moved, status, _ = cv2.calcOpticalFlowPyrLK(before, after, corners, None, winSize=(15, 15), maxLevel=2)
        ok = status.ravel() == 1
        if ok.sum() < self.config.min_tracked:
            return nan
        matrix, inliers = cv2.estimateAffinePartial2D(
            corners[ok], moved[ok], method=cv2.RANSAC, ransacReprojThreshold=self.config.ransac_px
        )
        if matrix is None or inliers is None or inliers.sum() < self.config.min_tracked:
            return nan
        width = before.shape[1]
        scale = math.hypot(matrix[0, 0], matrix[1, 0])
        angle = math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))
        # Shift of the frame centre (not of the origin), so a pure rotation or zoom is not read as a shift.
        centre = np.array([before.shape[1] / 2, before.shape[0] / 2])
        shift_px = np.linalg.norm(matrix[:, :2] @ centre + matrix[:, 2] - centre)
        return shift_px / width / dt, abs(angle) / dt, abs(math.log(max(scale, 1e-6))) / dt

    def finish(self) -> CameraMotion:
        rows = np.array(self._rows, dtype=np.float64).reshape(-1, 4)
        return CameraMotion(times=rows[:, 0], shift=rows[:, 1], rotation=rows[:, 2], zoom=rows[:, 3])


class CameraMotionStage(FrameStage):
    """Measures camera motion on the decode pass; `process` leaves the record unchanged."""

    name = "camera_motion"
    version = "1"
    config_sections: ClassVar[tuple[str, ...]] = ("camera_motion",)
    resources = Resources(cpus=0.1, memory_gb=0.1)

    def __init__(self, config: CameraMotionConfig | None = None) -> None:
        self.config = config or CameraMotionConfig()

    def accumulator(self, video: Video) -> CameraMotionAccumulator:
        return CameraMotionAccumulator(self.config)

    def process(self, video: Video) -> Video:
        return video
