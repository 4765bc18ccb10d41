"""Per-clip quality scores and filters, computed from the single decode pass.

The accumulator keeps a few numbers per frame, never frames: exposure, motion and
freezes on every small frame (full rate helps there), and sharpness, occlusion and
"synthetic picture" measures on the analysis frames (~2 fps). `QualityStage.process`
then aggregates those numbers over each clip's span into `clip.scores` and drops the
clips that fail a filter, naming the filter, the score and the threshold in the reason.

Filters, in the order their reasons are reported (a clip's reason lists every filter it fails):
  screen     screen recordings and slides: most pixels in a few exactly equal colours
             (camera pictures carry noise and shading, so large areas are rarely one exact colour),
             or much of the frame covered by text (measured by the on-screen text review, review/pii.py);
  dark       black or nearly black frames (ffmpeg blackdetect's definition);
  bright     blown-out frames (the mirror of dark);
  occlusion  the lens is covered: a dark, detail-free region (a quarter of the frame or more) in a soft frame;
  static     nothing moves: few pixels change beyond the noise level over a short lag;
  corruption frozen frames inside moving footage (decoder stalls and error concealment);
  blur       soft frames: Crete et al.'s no-reference blur metric, as 1 - blur.
"""

from __future__ import annotations

import logging
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import cv2
import numpy as np
from pydantic import BaseModel, Field

from humannet.engine.stage import FrameStage
from humannet.records import Clip, Frame, Status, Video

log = logging.getLogger(__name__)

# Fixed working size for sharpness and occlusion, so scores do not depend on source resolution.
_SHARPNESS_SIDE = 320
# Occlusion is judged on a coarse grid of cells over the frame (columns, rows).
_OCCLUSION_GRID = (16, 9)
# Crete et al. (2007) measure blur against a re-blurred copy made with a 9-tap box filter.
_CRETE_TAPS = 9
# A frame "has content" when this fraction of its pixels sits on a sharp edge (see `_edge_fraction`).
_MIN_EDGE_FRACTION = 0.002
_EDGE_LEVEL = 64  # grey-level range over a 3x3 neighbourhood that counts as a sharp edge
# Every n-th pixel is enough to estimate the global brightness shift between two frames.
_SHIFT_SUBSAMPLE = 4


class QualityConfig(BaseModel, extra="forbid"):
    """Thresholds of the quality filters. A clip fails a filter on a clip-level aggregate that is
    either a median/percentile of a per-frame score or the fraction of its frames judged bad."""

    max_bad_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Drop a clip when more than this fraction of its frames are dark, bright, occluded or stalled.",
    )
    screen_enabled: bool = Field(True, description="Drop screen recordings, slides and other non-camera pictures.")
    max_screen_score: float = Field(
        0.5,
        ge=0,
        le=1,
        description=(
            "Drop when the clip's median fraction of pixels in the few most frequent exact colours exceeds this."
        ),
    )
    screen_top_colours: int = Field(
        4, ge=1, le=64, description="How many most frequent exact colours make up the screen score (count)."
    )
    max_text_area_fraction: float = Field(
        0.3,
        ge=0,
        le=1,
        description=(
            "Also drop as screen when the clip's median share of the frame covered by text (review.pii's OCR, when "
            "on) exceeds this."
        ),
    )
    dark_enabled: bool = Field(True, description="Drop clips that are mostly black or nearly black frames.")
    dark_level: int = Field(
        26,
        ge=0,
        le=255,
        description="Pixels at or below this grey level count as black (0-255; ffmpeg blackdetect's 0.10).",
    )
    bright_enabled: bool = Field(True, description="Drop clips that are mostly blown-out frames.")
    bright_level: int = Field(
        245, ge=0, le=255, description="Pixels at or above this grey level count as blown out (0-255)."
    )
    black_pixel_fraction: float = Field(
        0.98,
        gt=0,
        le=1,
        description="A frame is dark (or blown out) when at least this fraction of its pixels is (blackdetect's 0.98).",
    )
    occlusion_enabled: bool = Field(True, description="Drop clips where something covers most of the lens.")
    occlusion_cell_fraction: float = Field(
        0.25,
        gt=0,
        le=1,
        description="A frame is occluded when at least this fraction of its grid cells is dark and detail-free.",
    )
    occlusion_dark_level: float = Field(
        64.0, ge=0, le=255, description="A cell is dark below this mean grey level (0-255)."
    )
    occlusion_detail_level: float = Field(
        24.0,
        ge=0,
        description="A cell is detail-free below this mean Sobel magnitude (|gx|+|gy|, grey levels at 320 px).",
    )
    occlusion_max_sharpness: float = Field(
        0.55,
        ge=0,
        le=1,
        description="Only frames softer than this sharpness count as occluded (a covering object is out of focus).",
    )
    static_enabled: bool = Field(True, description="Drop clips in which nothing moves.")
    min_motion_score: float = Field(
        0.01,
        ge=0,
        le=1,
        description=(
            "Drop when the clip's motion score (fraction of pixels that change, see motion_percentile) is below this."
        ),
    )
    motion_percentile: float = Field(
        90.0,
        ge=0,
        le=100,
        description="Percentile of the per-frame changed fraction taken as the clip's motion score (%).",
    )
    motion_lag_s: float = Field(
        0.2,
        gt=0,
        le=2,
        description=(
            "Frames this far apart are compared for motion (s), so the score does not depend on the frame rate."
        ),
    )
    motion_pixel_level: int = Field(
        15,
        ge=1,
        le=255,
        description="A pixel has changed above this many grey levels of difference (global brightness shift removed).",
    )
    corruption_enabled: bool = Field(
        True, description="Drop clips whose moving footage is interrupted by frozen (stalled or concealed) frames."
    )
    freeze_level: float = Field(
        0.25,
        ge=0,
        le=255,
        description="Frozen frame: mean absolute difference to the previous frame under this (grey levels; -60 dB).",
    )
    stall_motion: float = Field(
        0.5,
        ge=0,
        le=1,
        description=(
            "A frozen run is a stall when the median changed fraction in the stall_context_s before it is at least "
            "this."
        ),
    )
    stall_context_s: float = Field(
        0.5,
        gt=0,
        le=5,
        description="How much footage before a frozen run is looked at to tell a stall from a still scene (s).",
    )
    min_unusable_s: float = Field(
        0.3,
        ge=0,
        le=10,
        description=(
            "Runs of dark, blown-out, occluded or stalled frames at least this long are cut out of scenes before "
            "clipping (s)."
        ),
    )
    corruption_guard_s: float = Field(
        0.2,
        ge=0,
        le=5,
        description=(
            "Corruption runs are widened by this much on each side before clipping (s): the first garbled frames "
            "still change from frame to frame, so they come before the frozen run the detector finds."
        ),
    )
    blur_enabled: bool = Field(True, description="Drop soft clips.")
    min_blur_score: float = Field(
        0.4, ge=0, le=1, description="Drop when the clip's median sharpness (1 - Crete blur, at 320 px) is below this."
    )


@dataclass(slots=True)
class QualityFrames:
    """Compact per-frame measurements of one video: what `QualityAccumulator.finish` returns."""

    small_times: np.ndarray  # seconds, every frame
    dark: np.ndarray  # fraction of pixels at or below dark_level
    bright: np.ndarray  # fraction of pixels at or above bright_level
    motion: np.ndarray  # fraction of pixels changed over motion_lag_s (NaN until the lag is reached)
    frame_change: np.ndarray  # mean absolute difference to the previous frame (grey levels; NaN on the first)
    stalled: np.ndarray  # bool: frozen frame in a run that began while most of the picture was moving
    analysis_times: np.ndarray  # seconds, analysis frames only
    sharpness: np.ndarray  # 1 - Crete blur, 0..1, higher = sharper
    occlusion: np.ndarray  # fraction of grid cells that are dark and detail-free
    screen: np.ndarray  # fraction of pixels in the few most frequent exact colours (0 on frames without content)


def crete_sharpness(grey: np.ndarray) -> float:
    """1 - the blur metric of Crete et al. (2007): how much gradient a further blur would remove.

    Contrast-independent and in 0..1. A frame with no gradient at all (a flat colour) scores 0.
    """
    g = grey.astype(np.float32)
    worst_blur = 0.0
    # axis 0: vertical differences against a vertical re-blur; axis 1: horizontal (cv2 ksize is (w, h)).
    for axis, kernel in ((0, (1, _CRETE_TAPS)), (1, (_CRETE_TAPS, 1))):
        reblurred = cv2.blur(g, kernel)
        d_orig = np.abs(np.diff(g, axis=axis))
        d_blur = np.abs(np.diff(reblurred, axis=axis))
        total = float(d_orig.sum())
        if total < 1e-3:
            return 0.0
        lost = float(np.maximum(0.0, d_orig - d_blur).sum())
        worst_blur = max(worst_blur, (total - lost) / total)
    return 1.0 - worst_blur


def _edge_fraction(grey: np.ndarray) -> float:
    """Fraction of pixels on a sharp edge (3x3 grey range of at least _EDGE_LEVEL)."""
    gradient = cv2.morphologyEx(grey, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    return float(np.count_nonzero(gradient >= _EDGE_LEVEL)) / gradient.size


def top_colour_fraction(bgr: np.ndarray, top: int) -> float:
    """Fraction of pixels that have one of the `top` most frequent exact BGR colours."""
    packed = (bgr[..., 0].astype(np.int32) << 16) | (bgr[..., 1].astype(np.int32) << 8) | bgr[..., 2]
    _, counts = np.unique(packed, return_counts=True)
    return float(np.sort(counts)[-top:].sum()) / packed.size


class QualityAccumulator:
    """Collects the per-frame measurements of one video (see `QualityFrames`)."""

    def __init__(self, config: QualityConfig) -> None:
        self.config = config
        # Flat float arrays (8 bytes a value), not lists of tuples: hours of video stay a few MB.
        self._small = array("d")  # time, dark, bright, motion, change per frame
        self._analysis = array("d")  # time, sharpness, occlusion, screen per analysis frame
        self._recent: deque[tuple[float, np.ndarray]] = deque()
        self._previous: np.ndarray | None = None

    def add(self, frame: Frame) -> None:
        grey = cv2.cvtColor(frame.small, cv2.COLOR_BGR2GRAY)
        self._add_small(frame.time_s, grey)
        if frame.analysis is not None:
            self._add_analysis(frame, grey)

    def _add_small(self, t: float, grey: np.ndarray) -> None:
        c = self.config
        n = grey.size
        dark = np.count_nonzero(grey <= c.dark_level) / n
        bright = np.count_nonzero(grey >= c.bright_level) / n
        smooth = cv2.blur(grey, (3, 3)).astype(np.int16)  # 3x3 mean: sensor noise and compression grain
        change = float(np.abs(smooth - self._previous).mean()) if self._previous is not None else np.nan
        self._previous = smooth
        # Compare with the newest frame at least motion_lag_s old; keep only what may still be needed.
        while len(self._recent) > 1 and self._recent[1][0] <= t - c.motion_lag_s:
            self._recent.popleft()
        motion = np.nan
        if self._recent and self._recent[0][0] <= t - c.motion_lag_s + 1e-6:
            diff = smooth - self._recent[0][1]
            shift = np.median(diff[::_SHIFT_SUBSAMPLE, ::_SHIFT_SUBSAMPLE])  # exposure drift is not motion
            motion = np.count_nonzero(np.abs(diff - shift) > c.motion_pixel_level) / n
        self._recent.append((t, smooth))
        self._small.extend((t, dark, bright, motion, change))

    def _add_analysis(self, frame: Frame, small_grey: np.ndarray) -> None:
        c = self.config
        image = frame.analysis
        h, w = image.shape[:2]
        scale = _SHARPNESS_SIDE / max(h, w)
        grey = cv2.resize(
            cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
        )
        sharpness = crete_sharpness(grey)
        gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
        gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
        detail = cv2.resize(np.abs(gx) + np.abs(gy), _OCCLUSION_GRID, interpolation=cv2.INTER_AREA)
        brightness = cv2.resize(grey.astype(np.float32), _OCCLUSION_GRID, interpolation=cv2.INTER_AREA)
        occlusion = float(np.mean((detail < c.occlusion_detail_level) & (brightness < c.occlusion_dark_level)))
        # A blank frame is one flat colour too; that is the exposure filter's case, not a screen.
        has_content = _edge_fraction(small_grey) >= _MIN_EDGE_FRACTION
        screen = top_colour_fraction(frame.small, c.screen_top_colours) if has_content else 0.0
        self._analysis.extend((frame.time_s, sharpness, occlusion, screen))

    def finish(self) -> QualityFrames:
        small = np.frombuffer(self._small, dtype=np.float64).reshape(-1, 5).copy()
        analysis = np.frombuffer(self._analysis, dtype=np.float64).reshape(-1, 4).copy()
        return QualityFrames(
            small_times=small[:, 0],
            dark=small[:, 1],
            bright=small[:, 2],
            motion=small[:, 3],
            frame_change=small[:, 4],
            stalled=self._stalled(small[:, 0], small[:, 3], small[:, 4]),
            analysis_times=analysis[:, 0],
            sharpness=analysis[:, 1],
            occlusion=analysis[:, 2],
            screen=analysis[:, 3],
        )

    def _stalled(self, times: np.ndarray, motion: np.ndarray, change: np.ndarray) -> np.ndarray:
        """Frozen runs that start while the picture was moving widely: the decoder stalled or concealed
        lost data (a still scene freezes too, but gradually and without motion just before)."""
        c = self.config
        frozen = change < c.freeze_level  # NaN compares False
        stalled = np.zeros(len(times), dtype=bool)
        edges = np.flatnonzero(np.diff(np.concatenate(([0], frozen.astype(np.int8), [0]))))
        for start, end in zip(edges[::2], edges[1::2], strict=True):
            before = motion[(times >= times[start] - c.stall_context_s) & (times < times[start])]
            before = before[np.isfinite(before)]
            if before.size and np.median(before) >= c.stall_motion:
                stalled[start:end] = True
        return stalled


@dataclass(slots=True)
class _Check:
    """One filter test on a clip score: fails when `score op threshold` holds."""

    filter: str
    score: str
    op: str
    threshold: float
    enabled: bool

    def fails(self, value: float) -> bool:
        if not self.enabled or not np.isfinite(value):
            return False
        return value > self.threshold if self.op == ">" else value < self.threshold


@dataclass(slots=True)
class ClipScorer:
    """Aggregates `QualityFrames` over a clip's span into named scores and a verdict."""

    config: QualityConfig
    checks: list[_Check] = field(init=False)

    def __post_init__(self) -> None:
        c = self.config
        self.checks = [
            _Check("screen", "screen_score", ">", c.max_screen_score, c.screen_enabled),
            _Check(
                "screen", "text_area_fraction", ">", c.max_text_area_fraction, c.screen_enabled
            ),  # set by the pii stage before this one
            _Check("dark", "dark_fraction", ">", c.max_bad_fraction, c.dark_enabled),
            _Check("bright", "bright_fraction", ">", c.max_bad_fraction, c.bright_enabled),
            _Check("occlusion", "occlusion_fraction", ">", c.max_bad_fraction, c.occlusion_enabled),
            _Check("static", "motion_score", "<", c.min_motion_score, c.static_enabled),
            _Check("corruption", "frozen_fraction", ">", c.max_bad_fraction, c.corruption_enabled),
            _Check("blur", "blur_score", "<", c.min_blur_score, c.blur_enabled),
        ]

    def scores(self, frames: QualityFrames, start_s: float, end_s: float) -> dict[str, float]:
        c = self.config
        small = _span(frames.small_times, start_s, end_s)
        analysis = _span(frames.analysis_times, start_s, end_s)
        dark = frames.dark[small] >= c.black_pixel_fraction
        bright = frames.bright[small] >= c.black_pixel_fraction
        sharpness = frames.sharpness[analysis]
        occluded = (frames.occlusion[analysis] >= c.occlusion_cell_fraction) & (sharpness < c.occlusion_max_sharpness)
        motion = frames.motion[small]
        motion = motion[np.isfinite(motion)]
        motion_score = float(np.percentile(motion, c.motion_percentile)) if motion.size else float("nan")
        return {
            "blur_score": _stat(np.median, sharpness),
            "motion_score": motion_score,
            "dark_fraction": _stat(np.mean, dark),
            "bright_fraction": _stat(np.mean, bright),
            "occlusion_fraction": _stat(np.mean, occluded),
            "screen_score": _stat(np.median, frames.screen[analysis]),
            "frozen_fraction": _stat(np.mean, frames.stalled[small]),
        }

    def verdict(self, scores: dict[str, float]) -> str | None:
        """Every failing filter as `filter: score=value op threshold`, joined by "; " in check order
        (the first names the primary reason), or None when the clip passes them all."""
        failures = [
            f"{check.filter}: {check.score}={scores[check.score]:.3f} {check.op} {check.threshold:g}"
            for check in self.checks
            if check.fails(scores.get(check.score, float("nan")))
        ]
        return "; ".join(failures) or None


@dataclass(frozen=True, slots=True)
class UnusableSpan:
    """A run of frames no clip should contain, and why: `start_s` inclusive, `end_s` exclusive."""

    start_s: float
    end_s: float
    reason: str


def unusable_spans(frames: QualityFrames, config: QualityConfig) -> list[UnusableSpan]:
    """Runs of dark, blown-out, occluded, screen-like or stalled frames lasting at least `min_unusable_s`,
    stalled runs widened by `corruption_guard_s`.

    These are frame-level failures: a clip that merely contains one is not bad as a whole, so
    they are cut out before clipping rather than voted on per clip (a tutorial that cuts between
    a camera and a screen capture keeps its camera parts). A dark frame that looks like a slide
    (sharp text on black) counts as screen, not dark.
    """
    c = config
    times = frames.small_times
    if times.size == 0:
        return []
    nearest = _nearest(frames.analysis_times, times)
    screen_like = frames.screen[nearest] > c.max_screen_score if nearest.size else np.zeros(times.size, dtype=bool)
    occluded_at = _in_pairs(
        (frames.occlusion >= c.occlusion_cell_fraction) & (frames.sharpness < c.occlusion_max_sharpness)
    )
    occluded = occluded_at[nearest] if nearest.size else np.zeros(times.size, dtype=bool)
    screen_at = _in_pairs(frames.screen > c.max_screen_score)
    screen = screen_at[nearest] if nearest.size else np.zeros(times.size, dtype=bool)
    labels = np.full(times.size, "", dtype=object)
    # Later assignments win: the most specific cause of a bad frame is named.
    for name, enabled, mask in (
        ("occlusion", c.occlusion_enabled, occluded),
        ("bright", c.bright_enabled, frames.bright >= c.black_pixel_fraction),
        ("dark", c.dark_enabled, (frames.dark >= c.black_pixel_fraction) & ~screen_like),
        ("screen", c.screen_enabled, screen),
        ("corruption", c.corruption_enabled, frames.stalled),
    ):
        if enabled:
            labels[mask] = name
    step = float(np.median(np.diff(times))) if times.size > 1 else 0.0
    spans = []
    start = 0
    for index in range(1, times.size + 1):
        if index < times.size and labels[index] == labels[start]:
            continue
        end_s = float(times[index]) if index < times.size else float(times[-1]) + step
        if labels[start] and end_s - float(times[start]) >= c.min_unusable_s:
            spans.append(UnusableSpan(float(times[start]), end_s, str(labels[start])))
        start = index
    return _guard_corruption(spans, c.corruption_guard_s, float(times[0]))


def _guard_corruption(spans: list[UnusableSpan], guard_s: float, video_start_s: float) -> list[UnusableSpan]:
    """Corruption spans widened by `guard_s` on each side, never into a neighbouring span nor before the video.

    A stall is found by its frozen frames, but the garbled picture it freezes on appears a frame or
    two earlier, while it still differs from its predecessor (the shared arm-wrestling clip: two
    garbled frames before the detected run, none after).
    """
    guarded: list[UnusableSpan] = []
    for index, span in enumerate(spans):
        floor = guarded[-1].end_s if guarded else video_start_s
        ceiling = spans[index + 1].start_s if index + 1 < len(spans) else float("inf")
        start_s, end_s = span.start_s, span.end_s
        if span.reason == "corruption":
            start_s, end_s = start_s - guard_s, min(end_s + guard_s, ceiling)
        guarded.append(UnusableSpan(max(start_s, floor), end_s, span.reason))
    return guarded


def _in_pairs(flags: np.ndarray) -> np.ndarray:
    """Flags at the analysis rate, kept only where a neighbour agrees: one sample is a glimpse, two in a row a run."""
    neighbour = np.zeros_like(flags)
    neighbour[1:] |= flags[:-1]
    neighbour[:-1] |= flags[1:]
    return flags & neighbour


def _nearest(sample_times: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Index of the sample nearest to each time (empty when there are no samples)."""
    if sample_times.size == 0:
        return np.array([], dtype=np.int64)
    right = np.clip(np.searchsorted(sample_times, times), 1, sample_times.size - 1) if sample_times.size > 1 else None
    if right is None:
        return np.zeros(times.size, dtype=np.int64)
    left = right - 1
    return np.where(np.abs(times - sample_times[left]) <= np.abs(sample_times[right] - times), left, right)


def _span(times: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    """Indices of the frames in [start_s, end_s); the nearest frame when none falls inside (short clips)."""
    inside = np.flatnonzero((times >= start_s) & (times < end_s))
    if inside.size or times.size == 0:
        return inside
    middle = (start_s + end_s) / 2
    return np.array([int(np.argmin(np.abs(times - middle)))])


def _stat(reduce: Callable[[np.ndarray], float], values: np.ndarray) -> float:
    return float(reduce(values)) if values.size else float("nan")


class QualityStage(FrameStage):
    """Scores every clip and drops the unusable ones with a reason; never drops the video itself."""

    name = "quality"
    version = "1"
    produces: ClassVar[tuple[str, ...]] = (
        "blur_score",
        "motion_score",
        "dark_fraction",
        "bright_fraction",
        "occlusion_fraction",
        "screen_score",
        "frozen_fraction",
    )
    config_sections: ClassVar[tuple[str, ...]] = ("quality", "decode")
    reads: ClassVar[tuple[str, ...]] = ("clips",)
    reads_if_present: ClassVar[tuple[str, ...]] = ("text_area_fraction",)  # the screen filter's text cue (review.pii)
    wants_analysis_frames = True

    def __init__(self, config: QualityConfig | None = None) -> None:
        self.config = config or QualityConfig()
        self.scorer = ClipScorer(self.config)

    def accumulator(self, video: Video) -> QualityAccumulator:
        return QualityAccumulator(self.config)

    def process(self, video: Video) -> Video:
        frames = video.frame_results.get(self.name)
        if frames is None:
            log.warning("%s: no quality measurements; clips left unscored", video.uri)
            return video
        for clip in video.clips:
            self.score_clip(clip, frames)
        return video

    def score_clip(self, clip: Clip, frames: QualityFrames) -> None:
        """Fill `clip.scores` and drop the clip when a filter fails; clips already dropped are left alone."""
        if clip.status is not Status.KEPT:
            return
        clip.scores.update(self.scorer.scores(frames, clip.start_s, clip.end_s))
        reason = self.scorer.verdict(clip.scores)
        if reason:
            clip.status = Status.DROPPED
            clip.reason = reason
