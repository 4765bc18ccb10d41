"""Hiding flagged on-screen text in written clips: a materialisation `FrameHook` fed by the analysis findings.

The PII stage records, per clip, each finding's box (normalised to the frame) and the source
time of the sample it was read on. OCR runs sparsely, so a box is hidden for `blur_hold_s`
before and after that time: overlaid text (captions, name cards, contact slides) usually stays
on screen for seconds. Text that appears and disappears between two samples is not seen and so
not hidden; moving text (a plate on a passing car) is hidden only where it was read. No model
runs here: the hook costs a blur per box per frame.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from humannet.annotate.privacy import hide_regions
from humannet.engine.stage import EncodeHook
from humannet.media.cut import ClipExtras, TimedImage
from humannet.records import Clip
from humannet.review.pii import PiiConfig, PiiStage


class TextBlurHook(EncodeHook):
    """Hides each finding's box on the written frames within `blur_hold_s` of the time it was read."""

    name: ClassVar[str] = "text_blur"
    version: ClassVar[str] = "1"
    step: ClassVar[str] = "text_hiding"
    # all of the text review's settings: its detection settings decide which boxes are hidden
    config_sections: ClassVar[tuple[str, ...]] = ("review.pii",)
    writes: ClassVar[tuple[str, ...]] = ("metadata.pii_hidden",)

    def __init__(self, config: PiiConfig) -> None:
        self.config = config

    def setup(self) -> None:
        """Nothing to load: the boxes come with the clip."""

    def begin_clip(self, clip: Clip, width: int, height: int) -> None:
        findings = clip.details.get(PiiStage.name, {}).get("findings", [])
        size = np.array([width, height, width, height], dtype=np.float64)
        self.regions: list[tuple[float, float, np.ndarray]] = []
        for finding in findings:
            box = np.asarray(finding["box"], dtype=np.float64) * size
            grow = self.config.blur_margin * (box[3] - box[1])
            box += [-grow, -grow, grow, grow]
            at = float(finding["time_s"]) - clip.start_s  # the hook sees clip time
            self.regions.append((at - self.config.blur_hold_s, at + self.config.blur_hold_s, box))
        self.frames_hidden = 0

    def process(self, time_s: float, image: np.ndarray) -> list[TimedImage]:
        boxes = [box for start, end, box in self.regions if start - 1e-6 <= time_s <= end + 1e-6]
        if boxes:
            hide_regions(image, boxes, self.config.blur)
            self.frames_hidden += 1
        return [(time_s, image)]

    def flush(self) -> list[TimedImage]:
        return []

    def end_clip(self) -> ClipExtras:
        if not self.regions:
            return ClipExtras()
        return ClipExtras(
            metadata={
                "pii_hidden": {"method": self.config.blur, "regions": len(self.regions), "frames": self.frames_hidden}
            }
        )
