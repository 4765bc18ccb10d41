"""Cut each scene into clips of a fixed granularity.

Unusable runs of frames (see `process/unusable.py`) are cut out of each scene first and
recorded as dropped spans with their reason. What remains is split into equal pieces as
close to `target_s` as possible and never longer than `max_s`; a piece shorter than `min_s`
is kept as a dropped `too_short` span, so the funnel still shows it. Equal pieces avoid a
useless short remainder at the end of every scene.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, Field, model_validator

from humannet.engine.stage import Stage
from humannet.process.quality import UnusableSpan
from humannet.process.unusable import UnusableSpanStage
from humannet.records import TOO_SHORT, Clip, Status, Video


class ClipConfig(BaseModel, extra="forbid"):
    min_s: float = Field(2.0, gt=0, description="Shortest clip kept (s); shorter scenes are dropped as too_short.")
    target_s: float = Field(
        5.0, gt=0, description="Preferred clip length (s); scenes are split into equal pieces near this length."
    )
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
    produces: ClassVar[tuple[str, ...]] = (
        "clip_id",
        "video_id",
        "start_s",
        "end_s",
        "duration_s",
        "start_frame",
        "end_frame",
        "scene_index",
    )
    # quality: the unusable runs cut out before clipping
    config_sections: ClassVar[tuple[str, ...]] = (
        "clips",
        "quality",
    )
    reads: ClassVar[tuple[str, ...]] = ("video_id", "scenes", "frame_times", "end_time")
    reads_if_present: ClassVar[tuple[str, ...]] = ("frame_results.unusable",)
    writes: ClassVar[tuple[str, ...]] = ("clips",)

    def __init__(self, config: ClipConfig) -> None:
        self.config = config

    def process(self, video: Video) -> Video:
        times: np.ndarray = video.frame_results["frame_times"]
        end_time: float = video.frame_results["end_time"]
        unusable: list[UnusableSpan] = video.frame_results.get(UnusableSpanStage.name, [])
        # Unusable spans as frame ranges: first frame at or after the start, up to the first at or after the end.
        excluded = [
            (
                int(np.searchsorted(times, span.start_s - 1e-6)),
                int(np.searchsorted(times, span.end_s - 1e-6)),
                span.reason,
            )
            for span in unusable
        ]
        assert video.video_id is not None

        def span(start: int, end: int, scene_index: int) -> Clip:
            start_s = float(times[start])
            end_s = float(times[end]) if end < len(times) else end_time
            return Clip(
                Clip.make_id(video.video_id, start, end), video.video_id, start_s, end_s, start, end, scene_index
            )

        clips = []
        for scene in video.scenes:
            cursor = scene.start_frame
            for bad_start, bad_end, reason in excluded:
                bad_start, bad_end = max(bad_start, scene.start_frame), min(bad_end, scene.end_frame)
                if bad_end <= bad_start:
                    continue
                clips += self._pieces(cursor, bad_start, scene.index, times, span)
                bad = span(bad_start, bad_end, scene.index)
                bad.status = Status.DROPPED
                bad.reason = f"{reason}: frames {bad.start_s:.2f}-{bad.end_s:.2f} s"
                clips.append(bad)
                cursor = bad_end
            clips += self._pieces(cursor, scene.end_frame, scene.index, times, span)
        video.clips = clips
        return video

    def _pieces(self, first: int, last: int, scene_index: int, times: np.ndarray, span) -> list[Clip]:
        """Equal pieces of frames [first, last), each snapped to frame boundaries."""
        if last <= first:
            return []
        start_s = float(times[first])
        end_s = span(first, last, scene_index).end_s
        count = piece_count(end_s - start_s, self.config)
        bounds = np.linspace(start_s, end_s, count + 1)
        # Snap each boundary to the first frame at or after it, so pieces share no frame.
        edges = [first, *np.searchsorted(times, bounds[1:-1] - 1e-6).tolist(), last]
        pieces = []
        for start, end in zip(edges[:-1], edges[1:], strict=True):
            if end <= start:
                continue
            clip = span(start, end, scene_index)
            if clip.duration_s < self.config.min_s - 1e-6:
                clip.status = Status.DROPPED
                clip.reason = f"{TOO_SHORT}: {clip.duration_s:.2f} s < {self.config.min_s} s"
            pieces.append(clip)
        return pieces
