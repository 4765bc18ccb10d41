"""Cut the runs with nobody in them out of the scenes, before clips are cut.

`PersonSpanStage` runs before clipping: runs of samples with nobody in them lasting at least
`min_absent_s` are cut out of the scenes, like dark or stalled runs (`process/unusable.py`),
so a clip never carries seconds of empty scene, and one missed detection cuts nothing.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from humannet.annotate.detectors import FrameDetections
from humannet.engine.stage import Stage
from humannet.process.humans import HumanConfig, HumanFrames, HumanStage
from humannet.process.quality import UnusableSpan
from humannet.process.unusable import UnusableSpanStage
from humannet.records import Video


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
