"""Cut each scene into clips of a fixed granularity.

A scene is split into equal pieces as close to `target_s` as possible and never longer than
`max_s`; a scene shorter than `min_s` yields one clip that is dropped as `too_short`, so the
funnel still shows it. Equal pieces avoid a useless short remainder at the end of every scene.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, Field, model_validator

from humannet.engine.stage import Stage
from humannet.records import Clip, Status, Video


class ClipConfig(BaseModel, extra="forbid"):
    min_s: float = Field(2.0, gt=0, description="Shortest clip kept (s); shorter scenes are dropped as too_short.")
    target_s: float = Field(5.0, gt=0, description="Preferred clip length (s); scenes are split into equal pieces near this length.")
    max_s: float = Field(10.0, gt=0, description="Longest clip (s).")

    @model_validator(mode="after")
    def _ordered(self) -> ClipConfig:
        if not self.min_s <= self.target_s <= self.max_s:
            raise ValueError(f"need min_s <= target_s <= max_s (got {self.min_s}, {self.target_s}, {self.max_s})")
        return self


def piece_count(length_s: float, config: ClipConfig) -> int:
    """How many equal pieces a span of `length_s` seconds is cut into."""
    count = max(1, round(length_s / config.target_s))
    if length_s / count > config.max_s:
        count = math.ceil(length_s / config.max_s)
    while count > 1 and length_s / count < config.min_s:
        count -= 1
    return count


class ClipStage(Stage):
    """Turns `video.scenes` into `video.clips` (spans only; nothing is encoded here)."""

    name: ClassVar[str] = "clips"
    version: ClassVar[str] = "1"

    def __init__(self, config: ClipConfig) -> None:
        self.config = config

    def process(self, video: Video) -> Video:
        times: np.ndarray = video.frame_results["frame_times"]
        end_time = video.frame_results["end_time"]
        assert video.video_id is not None
        clips = []
        for scene in video.scenes:
            length = scene.end_s - scene.start_s
            count = piece_count(length, self.config)
            bounds = np.linspace(scene.start_s, scene.end_s, count + 1)
            # Snap each boundary to the first frame at or after it, so pieces share no frame.
            frames = np.searchsorted(times, bounds[1:-1] - 1e-6)
            edges = [scene.start_frame, *frames.tolist(), scene.end_frame]
            for start, end in zip(edges[:-1], edges[1:], strict=True):
                if end <= start:
                    continue
                start_s = float(times[start])
                end_s = float(times[end]) if end < len(times) else end_time
                clip = Clip(
                    clip_id=Clip.make_id(video.video_id, start, end),
                    video_id=video.video_id,
                    start_s=start_s,
                    end_s=end_s,
                    start_frame=start,
                    end_frame=end,
                    scene_index=scene.index,
                )
                if end_s - start_s < self.config.min_s - 1e-6:
                    clip.status = Status.DROPPED
                    clip.reason = f"too_short: {end_s - start_s:.2f} s < {self.config.min_s} s"
                clips.append(clip)
        video.clips = clips
        return video
