"""Identifying information on screen: text found by OCR on sparse samples, matched against PII patterns.

RapidOCR (PP-OCRv4 text detection and recognition, ONNX, bundled in its wheel) costs about
0.1 s per 640x360 frame for detection plus about 0.03 s per text line recognised, so it
samples sparsely (`sample_fps`, 0.5 by default), recognises only what detection found, and at
most `max_lines` lines a frame, tallest first (a screen recording shows hundreds of small lines;
the screen filter drops such footage anyway, and the unread count is recorded).
Per clip:
  pii_flags           the kinds found (`email`, `phone`, `url`, `plate`), an empty list for none;
  pii_findings        how many (sample, text line, kind) findings there were;
  text_area_fraction  median share of the frame covered by text boxes over the clip's samples:
                      large overlaid text (slides, title cards), which the quality stage's
                      `screen` filter uses beside its own colour measure (`quality.max_text_area_fraction`).
The clip JSON gets `pii.findings`: kind, frame time and the box (normalised to the frame), never
the text; `review/text_blur.py` hides those boxes in the written clips.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field

from humannet.engine.stage import FrameStage
from humannet.records import Clip, Frame, ItemError, Video
from humannet.review.pii_patterns import KINDS, find_pii
from humannet.review.sampling import NoFrames, SampleClock, samples_for_clip, set_review_issue

log = logging.getLogger(__name__)

MODEL_FILES = {
    "det": "ch_PP-OCRv4_det_infer.onnx",
    "rec": "ch_PP-OCRv4_rec_infer.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
}


class PiiConfig(BaseModel, extra="forbid"):
    enabled: bool = Field(
        True,
        description=(
            "Read on-screen text (RapidOCR, bundled, offline) on sparse samples; flag e-mail, phone, URL and "
            "plate-like text."
        ),
    )
    sample_fps: float = Field(
        0.5,
        gt=0,
        le=60,
        description="Frames per second read (taken from the analysis frames); OCR costs ~0.1-0.3 s a frame.",
    )
    kinds: list[Literal["email", "phone", "url", "plate"]] = Field(
        default_factory=lambda: list(KINDS), description="Kinds of identifying text to flag."
    )
    min_text_confidence: float = Field(
        0.5, ge=0, le=1, description="Recognised lines below this OCR confidence are ignored (0-1)."
    )
    max_lines: int = Field(
        30,
        ge=1,
        le=1000,
        description="Most text lines recognised per frame, tallest first (a screen recording shows hundreds).",
    )
    det_max_side: int = Field(
        640,
        ge=160,
        le=2048,
        description="Text detection works at this longest side (px); larger finds smaller text, slower.",
    )
    blur: Literal["blur", "pixelate", "box", "off"] = Field(
        "blur",
        description=(
            "How flagged text regions are hidden in written clips ('off' = flag only); see review.pii.blur_hold_s."
        ),
    )
    blur_margin: float = Field(
        0.15, ge=0, le=2, description="Growth of each flagged text box on each side, as a fraction of its height."
    )
    blur_hold_s: float = Field(
        2.0,
        ge=0,
        le=30,
        description=(
            "A flagged box is hidden from this long before to this long after the sample it was read on (s); >= "
            "1/sample_fps."
        ),
    )
    model_dir: str | None = Field(
        None, description=f"Folder with the OCR models ({', '.join(MODEL_FILES.values())}); unset = rapidocr's own."
    )


@dataclass(slots=True)
class TextSample:
    time_s: float
    text_area: float  # share of the frame inside text boxes (0-1)
    lines: int
    lines_unread: int = 0  # detected beyond max_lines, not recognised
    findings: list[tuple[str, list[float]]] = field(default_factory=list)  # (kind, [x0, y0, x1, y1] normalised)


class ScreenTextReader:
    """RapidOCR on one frame: every text line's box (normalised) and the PII kinds in it."""

    def __init__(self, config: PiiConfig) -> None:
        self.config = config
        self._ocr = None

    def setup(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        paths = {}
        if self.config.model_dir is not None:
            for part, name in MODEL_FILES.items():
                path = Path(self.config.model_dir) / name
                if not path.is_file():
                    raise FileNotFoundError(f"OCR model not found: {path}")
                paths[f"{part}_model_path"] = str(path)
        self._ocr = RapidOCR(
            intra_op_num_threads=1,
            inter_op_num_threads=1,
            det_limit_side_len=self.config.det_max_side,
            det_limit_type="max",
            print_verbose=False,
            **paths,
        )

    def read(self, bgr: np.ndarray, time_s: float) -> TextSample:
        """Detect text lines, then recognise at most `max_lines` of them, tallest first (recognition costs per line)."""
        assert self._ocr is not None, "call setup() first"
        height, width = bgr.shape[:2]
        boxes, _ = self._ocr(bgr, use_cls=False, use_rec=False)
        sample = TextSample(time_s=time_s, text_area=0.0, lines=0)
        if not boxes:
            return sample
        covered = np.zeros((height, width), dtype=bool)
        extents = []
        for points in boxes:
            quad = np.asarray(points, dtype=np.float64)
            x0, y0 = np.clip(np.floor(quad.min(axis=0)), 0, [width, height]).astype(int)
            x1, y1 = np.clip(np.ceil(quad.max(axis=0)), 0, [width, height]).astype(int)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            covered[y0:y1, x0:x1] = True
            extents.append((x0, y0, x1, y1))
        sample.lines = len(extents)
        sample.text_area = float(covered.mean())
        chosen = sorted(extents, key=lambda e: e[3] - e[1], reverse=True)[: self.config.max_lines]
        sample.lines_unread = len(extents) - len(chosen)
        if not chosen:
            return sample
        recognised, _ = self._ocr.text_rec([bgr[y0:y1, x0:x1] for x0, y0, x1, y1 in chosen], False)
        for (x0, y0, x1, y1), (text, confidence) in zip(chosen, recognised, strict=True):
            if float(confidence) < self.config.min_text_confidence:
                continue
            box = [round(x0 / width, 4), round(y0 / height, 4), round(x1 / width, 4), round(y1 / height, 4)]
            sample.findings += [(kind, box) for kind in find_pii(str(text), self.config.kinds)]
        return sample


class TextAccumulator:
    def __init__(self, reader: ScreenTextReader, sample_fps: float) -> None:
        self.reader = reader
        self.clock = SampleClock(sample_fps)
        self.samples: list[TextSample] = []
        self.seconds = 0.0

    def add(self, frame: Frame) -> None:
        if frame.analysis is None or not self.clock.take(frame.time_s):
            return
        started = time.perf_counter()
        self.samples.append(self.reader.read(frame.analysis, frame.time_s))
        self.seconds += time.perf_counter() - started

    def finish(self) -> tuple[list[TextSample], float]:
        return self.samples, self.seconds


class PiiStage(FrameStage):
    """Flags clips showing e-mail addresses, phone numbers, URLs or plate-like text; never drops them (the release
    policy decides)."""

    name: ClassVar[str] = "pii"
    version: ClassVar[str] = "1"
    wants_analysis_frames: ClassVar[bool] = True
    produces: ClassVar[tuple[str, ...]] = ("pii_flags", "pii_findings", "text_area_fraction", "review_issues")
    produces_video: ClassVar[tuple[str, ...]] = ("review_stamps",)  # its stamp, put there by the pipeline
    config_sections: ClassVar[tuple[str, ...]] = ("review.pii",)
    reads: ClassVar[tuple[str, ...]] = ("clips",)
    rerunnable: ClassVar[bool] = True

    def __init__(self, config: PiiConfig) -> None:
        self.config = config
        self.reader = ScreenTextReader(config)
        self.unavailable: str | None = None

    def setup(self) -> None:
        try:
            self.reader.setup()
        except Exception as exc:  # a missing or unreadable model is recorded per clip, never fatal
            self.unavailable = f"{type(exc).__name__}: {exc}"
            log.warning("on-screen text review unavailable: %s", self.unavailable)

    def accumulator(self, video: Video) -> TextAccumulator | NoFrames:
        if self.unavailable is not None:
            return NoFrames()
        return TextAccumulator(self.reader, self.config.sample_fps)

    def process(self, video: Video) -> Video:
        result = video.frame_results.get(self.name)
        if result is None:
            message = self.unavailable or "no frames were sampled"
            video.errors.append(ItemError(stage=self.name, type="ReviewUnavailable", message=message))
            for clip in video.kept_clips:
                _clear(clip)
                set_review_issue(clip, self.name, f"not reviewed: {message}")
            return video
        samples, seconds = result
        video.timings["pii.ocr"] = seconds
        times = np.array([s.time_s for s in samples], dtype=np.float64)
        for clip in video.kept_clips:
            self.score_clip(clip, samples, times)
        return video

    def score_clip(self, clip: Clip, samples: list[TextSample], times: np.ndarray) -> None:
        _clear(clip)
        chosen = [samples[i] for i in samples_for_clip(times, clip.start_s, clip.end_s, self.config.sample_fps)]
        if not chosen:
            set_review_issue(clip, self.name, "not reviewed: no sampled frame in the clip")
            return
        set_review_issue(clip, self.name, None)
        findings = [
            {"kind": kind, "time_s": round(s.time_s, 3), "box": box} for s in chosen for kind, box in s.findings
        ]
        clip.labels["pii_flags"] = sorted({f["kind"] for f in findings})
        clip.scores["pii_findings"] = float(len(findings))
        clip.scores["text_area_fraction"] = round(float(np.median([s.text_area for s in chosen])), 4)
        clip.details[self.name] = {
            "findings": findings,
            "samples": len(chosen),
            "text_lines": sum(s.lines for s in chosen),
            "text_lines_unread": sum(s.lines_unread for s in chosen),
        }


def _clear(clip: Clip) -> None:
    clip.labels.pop("pii_flags", None)
    clip.scores.pop("pii_findings", None)
    clip.scores.pop("text_area_fraction", None)
    clip.details.pop(PiiStage.name, None)
