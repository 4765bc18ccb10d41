"""Find the runs of frames no clip should contain, before clips are cut.

Dark, blown-out, occluded and stalled (corrupted) frames fail frame by frame: a five-second
clip with one bad second is not bad as a whole, and voting per clip would either keep the
bad second or throw away four good ones. So these runs are cut out of the scenes first; the
clip stage records each as a dropped span with its reason.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from humannet.engine.stage import Stage
from humannet.process.quality import QualityConfig, QualityStage, unusable_spans
from humannet.records import Video

log = logging.getLogger(__name__)


class UnusableSpanStage(Stage):
    """Reads the quality measurements of the decode pass; stores spans for the clip stage."""

    name: ClassVar[str] = "unusable"
    version: ClassVar[str] = "2"  # 2: corruption runs widened by quality.corruption_guard_s
    config_sections: ClassVar[tuple[str, ...]] = ("quality",)
    reads: ClassVar[tuple[str, ...]] = ("frame_results.quality",)
    writes: ClassVar[tuple[str, ...]] = ("frame_results.unusable",)

    def __init__(self, config: QualityConfig) -> None:
        self.config = config

    def process(self, video: Video) -> Video:
        frames = video.frame_results.get(QualityStage.name)
        if frames is None:
            log.warning("%s: no quality measurements; no frames excluded", video.uri)
            spans = []
        else:
            spans = unusable_spans(frames, self.config)
        video.frame_results[self.name] = spans
        return video
