"""Shot-boundary detection on the single decode pass: hard cuts, cross-dissolves and fades.

Every frame is reduced to two small descriptors: a 32x18 grey thumbnail, compared by
normalised cross-correlation (so a global brightness or contrast change is not a change
of *structure*), and a 64-bin colour histogram. The change between two frames is the
geometric mean of the structural and the colour distance: a cut changes both, a lighting
jump or flare mostly the colour, a pan or a blur mostly the structure.

A hard cut at frame c must pass four tests, each answering one way detectors are fooled:

1. the change c-1 -> c is large (absolute floor) and a local peak;
2. it stands out from the local level of change (adaptive ratio), so steady fast motion
   does not cut;
3. it persists: the median content of a short window after c still differs from the
   window before c, so flashes and one-frame glitches do not cut;
4. it does not revert: the content after c is not what was on screen shortly before,
   so an interruption (corrupted burst, occlusion, pop-up) that ends with a return to the
   same shot does not cut, at either end.

A dissolve at frame c (at a few window scales w) needs the content w frames before and
after c to differ like a cut, no hard step in between, and the frames in between to be
linear blends of the two ends (fitted blend weight rising steadily, small residual). Its
span is where the fitted weight goes from 0 to 1, and the cut is reported at the middle of
the span.

A fade is a gradual transition through a blank (uniform, e.g. black or white) frame: the
contrast falls steadily into the blank run and rises steadily out of it, and the content
before differs from the content after (out of a shot and back into it is not a cut). Its
span runs from where the contrast starts falling to where it stops rising; the cut is
reported at the middle. A hard step into or out of the blank run leaves the boundary to the
hard-cut test: a hard cut to or from black is a hard cut.

Only the features of a sliding window of a few seconds are kept (see `SceneAccumulator`):
memory does not grow with the video's length, apart from the list of cuts.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
from pydantic import BaseModel, Field

from humannet.engine.stage import FrameStage, Resources
from humannet.records import Cut, Frame, Scene, Video

log = logging.getLogger(__name__)

THUMB_SIZE = (32, 18)  # width, height of the grey thumbnail
COLOUR_LEVELS = 4  # levels per BGR channel in the colour histogram (4**3 = 64 bins)
FADE_CONTRAST_RATIO = 0.8  # a fade shows a frame of contrast at most this fraction of the shot's next to its blank run
REPEAT_STEP = 0.005  # change score under which a frame repeats the previous one (frame-rate conversion, a still)


class SceneConfig(BaseModel, extra="forbid"):
    hard_threshold: float = Field(
        0.25,
        ge=0,
        le=1,
        description=(
            "Change score (0-1) between consecutive frames needed for a hard cut, and between the windows around it."
        ),
    )
    adaptive_ratio: float = Field(
        3.0, ge=1, description="A hard cut's change must exceed this multiple of the mean change around it (ratio)."
    )
    adaptive_window_s: float = Field(
        0.5, gt=0, description="Half-width of the window giving the local level of change (s)."
    )
    persistence_window_s: float = Field(
        0.3, gt=0, description="Length of the windows before and after a boundary whose median content is compared (s)."
    )
    persistence_ratio: float = Field(
        2.0,
        ge=1,
        description=(
            "Change across a cut must exceed this multiple of the change between windows on its steadier side (ratio)."
        ),
    )
    revert_horizon_s: float = Field(
        2.0,
        ge=0,
        description="A change back to content seen within this time before is an interruption, not a cut (s).",
    )
    revert_ratio: float = Field(
        0.5,
        ge=0,
        le=1,
        description=(
            "Content counts as 'seen before' when closer to an earlier frame than this fraction of the change (ratio)."
        ),
    )
    dissolve_half_windows_s: list[float] = Field(
        [0.25, 0.5, 1.0],
        description=(
            "Half-lengths of the windows tested for cross-dissolves; covers dissolves up to twice the largest (s)."
        ),
    )
    dissolve_threshold: float = Field(
        0.3, ge=0, le=1, description="Change score (0-1) between the two ends of a dissolve."
    )
    blend_residual_max: float = Field(
        0.2,
        ge=0,
        description=(
            "Largest mean residual of dissolve frames fitted as blends of its ends (fraction of the end-to-end change)."
        ),
    )
    blend_progress_min: float = Field(
        0.9,
        ge=-1,
        le=1,
        description=(
            "Smallest correlation between time and the fitted blend weight inside a dissolve (steady progress)."
        ),
    )
    blank_std: float = Field(
        4.0,
        ge=0,
        description="Grey-level standard deviation (0-255) under which a frame counts as blank (uniform, e.g. black).",
    )
    min_scene_s: float = Field(0.5, ge=0, description="Cuts closer than this keep only the strongest (s).")


@dataclass(slots=True)
class FrameFeatures:
    """What one frame (or the median of a window of frames) looks like, for comparisons."""

    grey: np.ndarray  # grey thumbnail, float32, 0-255
    shape: np.ndarray  # the thumbnail made zero-mean and unit-norm (zeros when blank): brightness-invariant structure
    hist: np.ndarray  # colour histogram, sums to 1
    blank: bool

    @classmethod
    def from_parts(cls, grey: np.ndarray, hist: np.ndarray, blank_std: float) -> FrameFeatures:
        centred = (grey - grey.mean()).ravel()
        norm = float(np.linalg.norm(centred))
        blank = norm < blank_std * np.sqrt(centred.size)
        shape = np.zeros_like(centred) if blank else centred / norm
        return cls(grey=grey, shape=shape, hist=hist, blank=blank)

    @classmethod
    def of_frame(cls, small: np.ndarray, blank_std: float) -> FrameFeatures:
        tiny = cv2.resize(small, THUMB_SIZE, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(tiny, cv2.COLOR_BGR2GRAY).astype(np.float32)
        levels = (tiny // (256 // COLOUR_LEVELS)).astype(np.int32)
        code = (levels[..., 0] * COLOUR_LEVELS + levels[..., 1]) * COLOUR_LEVELS + levels[..., 2]
        hist = np.bincount(code.ravel(), minlength=COLOUR_LEVELS**3).astype(np.float32) / code.size
        return cls.from_parts(grey, hist, blank_std)

    @classmethod
    def median_of(cls, frames: list[FrameFeatures], blank_std: float) -> FrameFeatures:
        """The median frame of a window: transients shorter than half the window vanish."""
        if len(frames) == 1:
            return frames[0]
        grey = np.median(np.stack([f.grey for f in frames]), axis=0)
        hist = np.median(np.stack([f.hist for f in frames]), axis=0)
        return cls.from_parts(grey, hist / max(float(hist.sum()), 1e-9), blank_std)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (clipped highlights tie), as used by Spearman's correlation."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ordered)) + 1]
    stops = np.r_[starts[1:], values.size]
    ranks = np.empty(values.size, dtype=np.float32)
    ranks[order] = np.repeat((starts + stops - 1) / 2.0, stops - starts)
    return ranks


def _unit(values: np.ndarray) -> np.ndarray:
    centred = values - values.mean()
    return centred / max(float(np.linalg.norm(centred)), 1e-9)


def change_score(a: FrameFeatures, b: FrameFeatures, tone_invariant: bool = False) -> float:
    """0 (same) .. 1 (unrelated): geometric mean of structural and colour distance.

    Structure is 1 - correlation of the thumbnails (clipped to 0..1); a blank frame has no
    structure, so blank vs blank is 0 and blank vs content is 1. With `tone_invariant` the
    correlation is of ranks (Spearman), so any monotone tone change (exposure, gamma,
    clipped highlights) leaves structure unchanged. Colour is half the L1 distance of the
    histograms.
    """
    if a.blank or b.blank:
        structure = 0.0 if a.blank and b.blank else 1.0
    else:
        similarity = (
            float(_unit(_ranks(a.grey.ravel())) @ _unit(_ranks(b.grey.ravel())))
            if tone_invariant
            else float(a.shape @ b.shape)
        )
        structure = min(1.0, max(0.0, 1.0 - similarity))
    colour = 0.5 * float(np.abs(a.hist - b.hist).sum())
    return float(np.sqrt(structure * colour))


@dataclass(slots=True)
class SceneDetection:
    """What the accumulator hands to `SceneStage.process`."""

    cuts: list[Cut]
    frame_count: int
    end_s: float  # time just after the last frame


class SceneAccumulator:
    """Streams frames through the cut tests with a fixed delay, keeping a sliding window of features.

    Frame c is judged once frame c + lookahead has arrived (or at `finish`), with the
    features of frames back to c - lookback still in memory.
    """

    def __init__(self, config: SceneConfig, fps: float):
        self.config = config
        fps = fps if fps and fps > 0 else 25.0
        self.persist = max(3, round(config.persistence_window_s * fps))
        self.adaptive = max(2, round(config.adaptive_window_s * fps))
        self.revert = round(config.revert_horizon_s * fps)
        self.scales = sorted({max(2, round(w * fps)) for w in config.dissolve_half_windows_s})
        widest = max(self.scales, default=0)
        self.lookahead = max(self.adaptive, 2 * self.persist, widest + self.persist, widest + (widest + 1) // 2)
        lookback = max(self.adaptive, self.revert + self.persist, 2 * self.persist, widest + self.persist)
        size = lookback + self.lookahead + 1
        self.first = 0  # absolute index of the oldest frame kept
        self.features: deque[FrameFeatures] = deque(maxlen=size)
        self.times: deque[float] = deque(maxlen=size)
        self.steps: deque[float] = deque(maxlen=size)  # change score from the previous frame
        self.spans: dict[int, deque[float]] = {
            w: deque(maxlen=size) for w in self.scales
        }  # change across 2w frames, by centre
        self.candidates: list[Cut] = []
        self.count = 0
        self.next_judged = 1  # frame 0 cannot start a cut
        self.frame_period = 1.0 / fps

    # ---- sliding-window access by absolute frame index
    def _f(self, i: int) -> FrameFeatures:
        return self.features[i - self.first]

    def _window(self, start: int, stop: int) -> list[FrameFeatures]:
        start, stop = max(start, self.first), min(stop, self.count)
        return [self.features[i - self.first] for i in range(start, stop)]

    def _steps(self, start: int, stop: int) -> np.ndarray:
        start, stop = max(start, self.first, 1), min(stop, self.count)
        return np.array([self.steps[i - self.first] for i in range(start, stop)], dtype=np.float32)

    def add(self, frame: Frame) -> None:
        features = FrameFeatures.of_frame(frame.small, self.config.blank_std)
        if len(self.features) == self.features.maxlen:
            self.first += 1
        self.features.append(features)
        self.times.append(frame.time_s)
        n = self.count
        self.count += 1
        if n and frame.time_s > self.times[-2]:
            self.frame_period = frame.time_s - self.times[-2]
        self.steps.append(change_score(self._f(n - 1), features) if n else 0.0)
        for w, spans in self.spans.items():  # change across the 2w frames ending at this frame
            spans.append(change_score(self._f(n - 2 * w), self._f(n)) if n - 2 * w >= self.first else 0.0)
        while self.next_judged + self.lookahead < self.count:
            self._judge(self.next_judged)
            self.next_judged += 1

    def finish(self) -> SceneDetection:
        while self.next_judged < self.count:
            self._judge(self.next_judged)
            self.next_judged += 1
        end_s = self.times[-1] + self.frame_period if self.times else 0.0
        return SceneDetection(cuts=self._suppress(self.candidates), frame_count=self.count, end_s=end_s)

    def _time(self, i: int) -> float:
        return self.times[i - self.first]

    def _judge(self, c: int) -> None:
        found = self._hard_cut(c) or self._fade(c)
        for w in self.scales:
            if found is not None:
                break
            found = self._dissolve(c, w)
        if found is None:
            return
        if found.kind == "fade":  # a step into or out of its blank run is part of the fade, not a cut of its own
            self.candidates = [
                cut
                for cut in self.candidates
                if not (cut.kind == "hard" and found.start_s <= cut.time_s <= found.end_s)
            ]
        self.candidates.append(found)

    def _hard_cut(self, c: int) -> Cut | None:
        cfg = self.config
        step = self.steps[c - self.first]
        if step < cfg.hard_threshold:
            return None
        near = self._steps(c - 1, c + 2)
        if step < near.max():
            return None
        around = np.concatenate([self._steps(c - self.adaptive, c - 1), self._steps(c + 2, c + self.adaptive + 1)])
        around = around[around >= REPEAT_STEP]  # a repeated frame shows no change: it must not dilute the motion level
        if around.size and step < cfg.adaptive_ratio * float(around.mean()):
            return None
        before, after = self._median(c - self.persist, c), self._median(c, c + self.persist)
        lasting = change_score(before, after, tone_invariant=True)
        if lasting < cfg.hard_threshold:
            return None
        drift = min(  # a cut joins two shots: it must stand out against the steadier of them
            change_score(self._median(c - 2 * self.persist, c - self.persist), before, tone_invariant=True),
            change_score(after, self._median(c + self.persist, c + 2 * self.persist), tone_invariant=True),
        )
        if lasting < cfg.persistence_ratio * drift:
            return None  # the shot itself changes this much in the same time: motion, not a cut
        if self._reverts(after, c, lasting):
            return None
        t = self._time(c)
        return Cut(frame=c, time_s=t, kind="hard", score=round(min(step, lasting), 4), start_s=t, end_s=t)

    def _median(self, start: int, stop: int) -> FrameFeatures:
        window = self._window(start, stop)
        return (
            FrameFeatures.median_of(window, self.config.blank_std)
            if window
            else self._f(min(max(start, self.first), self.count - 1))
        )

    def _reverts(self, after: FrameFeatures, c: int, change: float) -> bool:
        """True when the content after c was already on screen within the revert horizon before c."""
        earlier = self._window(c - self.persist - self.revert, c - self.persist)
        return any(change_score(f, after) < self.config.revert_ratio * change for f in earlier)

    def _dissolve(self, c: int, w: int) -> Cut | None:
        cfg = self.config
        if c - w - self.persist + 1 < self.first or c + w + self.persist > self.count:
            return None  # both ends must be seen whole
        spans = self.spans[w]
        span = spans[c + w - self.first]  # spans is indexed by the frame that completed it
        if span < cfg.dissolve_threshold:
            return None
        neighbourhood = [
            spans[i - self.first] for i in range(c + w - (w + 1) // 2, min(c + w + (w + 1) // 2 + 1, self.count))
        ]
        if span < max(neighbourhood):
            return None
        if self._steps(c - w + 1, c + w + 1).max() >= cfg.hard_threshold:
            return None  # a hard step inside: not gradual
        window = self._window(c - w - self.persist + 1, c + w + self.persist)
        if any(f.blank for f in window):
            return None  # passes through a blank frame: a fade
        start = self._median(c - w - self.persist + 1, c - w + 1)
        end = self._median(c + w, c + w + self.persist)
        score = change_score(start, end, tone_invariant=True)
        if score < cfg.dissolve_threshold or not self._is_blend(start, end, self._window(c - w, c + w + 1)):
            return None
        first, last = c - w - self.persist + 1, min(c + w + self.persist, self.count) - 1
        weights = self._blend_weights(start, end, self._window(first, last + 1))
        times = np.array([self._time(i) for i in range(first, last + 1)])
        inside = (weights > 0.1) & (weights < 0.9)  # the ends of the ramp are flattened by the median windows
        if inside.sum() >= 2:
            slope, offset = np.polyfit(times[inside], weights[inside], 1)
            span = (-offset / slope, (1 - offset) / slope) if slope > 0 else (times[0], times[-1])
        else:  # too few frames in the ramp to fit it: the step from one end to the other
            step = int(np.argmax(np.diff(weights)))
            span = (times[step], times[step + 1])
        start_s, end_s = max(float(span[0]), times[0]), min(float(span[1]), times[-1])
        middle = first + int(np.argmin(np.abs(times - (start_s + end_s) / 2)))
        return Cut(
            frame=middle,
            time_s=self._time(middle),
            kind="dissolve",
            score=round(score, 4),
            start_s=round(start_s, 4),
            end_s=round(end_s, 4),
        )

    @staticmethod
    def _blend_weights(start: FrameFeatures, end: FrameFeatures, frames: list[FrameFeatures]) -> np.ndarray:
        """The weight a of each frame fitted as (1 - a) * start + a * end (least squares on the thumbnails)."""
        a, b = start.grey.ravel(), end.grey.ravel()
        direction = b - a
        norm2 = max(float(direction @ direction), 1e-6)
        return (np.stack([f.grey.ravel() for f in frames]) - a) @ direction / norm2

    def _is_blend(self, start: FrameFeatures, end: FrameFeatures, middle: list[FrameFeatures]) -> bool:
        """Are the middle frames (1 - a) * start + a * end with a rising steadily?"""
        a, b = start.grey.ravel(), end.grey.ravel()
        direction = b - a
        norm2 = float(direction @ direction)
        if norm2 < 1e-6:
            return False
        frames = np.stack([f.grey.ravel() for f in middle]) - a
        weights = self._blend_weights(start, end, middle)
        residual = np.linalg.norm(frames - np.outer(weights, direction), axis=1) / np.sqrt(norm2)
        progress = float(np.corrcoef(np.arange(len(weights)), weights)[0, 1]) if np.ptp(weights) > 0 else 0.0
        return float(residual.mean()) <= self.config.blend_residual_max and progress >= self.config.blend_progress_min

    def _fade(self, c: int) -> Cut | None:
        """A fade through a blank run, judged at the first frame after the run."""
        cfg = self.config
        if c < 2 or self._f(c).blank or not self._f(c - 1).blank:
            return None
        run_start = c - 1
        while run_start - 1 >= self.first and self._f(run_start - 1).blank:
            run_start -= 1
        if run_start - 1 < self.first:
            return None  # nothing before the run in memory
        first, last = self._ramp_end(run_start - 1, -1), self._ramp_end(c, 1)
        for outer, inner in ((first, run_start - 1), (last, c)):  # a hard step into or out of the run: not a fade
            if self._f(inner).grey.std() > FADE_CONTRAST_RATIO * self._f(outer).grey.std():
                return None
        before = self._median(first - self.persist + 1, first + 1)
        after = self._median(last, last + self.persist)
        if before.blank or after.blank:
            return None
        score = change_score(before, after, tone_invariant=True)
        if score < cfg.dissolve_threshold:
            return None  # out of a shot and back into it
        start_s, end_s = self._time(first), self._time(last)
        middle = min(range(first, last + 1), key=lambda i: abs(self._time(i) - (start_s + end_s) / 2))
        return Cut(
            frame=middle, time_s=self._time(middle), kind="fade", score=round(score, 4), start_s=start_s, end_s=end_s
        )

    def _ramp_end(self, i: int, direction: int) -> int:
        """From frame i, step away from a blank run while the contrast keeps rising (one stalled frame allowed)."""

        def contrast(k: int) -> float:
            return float(self._f(k).grey.std())

        def rises(k: int) -> bool:
            return self.first <= k < self.count and contrast(k) > 1.01 * contrast(i) + 0.2

        while True:
            if rises(i + direction):
                i += direction
            elif rises(i + 2 * direction):  # a repeated frame (frame-rate conversion) stalls the ramp for one frame
                i += 2 * direction
            else:
                return i

    def _suppress(self, found: list[Cut]) -> list[Cut]:
        """Of transitions that overlap or leave less than the minimum scene length between them, keep the strongest."""
        kept: list[Cut] = []
        for cut in sorted(found, key=lambda t: t.frame):
            if kept and cut.start_s - kept[-1].end_s < self.config.min_scene_s:
                if cut.score > kept[-1].score:
                    kept[-1] = cut
                continue
            kept.append(cut)
        return kept


def scenes_between(cuts: list[Cut], frame_count: int, end_s: float) -> list[Scene]:
    """The shots between cuts: [0, first cut), ..., [last cut, frame_count). None for an empty video."""
    if frame_count <= 0:
        return []
    bounds = [(c.frame, c.time_s) for c in cuts if 0 < c.frame < frame_count]
    starts = [(0, 0.0), *bounds]
    stops = [*bounds, (frame_count, end_s)]
    return [
        Scene(index=i, start_frame=s_frame, end_frame=e_frame, start_s=s_time, end_s=e_time)
        for i, ((s_frame, s_time), (e_frame, e_time)) in enumerate(zip(starts, stops, strict=True))
    ]


class SceneStage(FrameStage):
    """Finds cuts in the shared decode pass and splits the video into scenes."""

    name = "scenes"
    version = "2"
    produces_video: ClassVar[tuple[str, ...]] = ("cut_times", "cut_kinds", "cut_spans", "scenes")
    config_sections: ClassVar[tuple[str, ...]] = ("scenes", "decode")
    reads: ClassVar[tuple[str, ...]] = ("probe",)
    writes: ClassVar[tuple[str, ...]] = ("cuts", "scenes")
    resources = Resources(cpus=1.0, memory_gb=0.2)

    def __init__(self, config: SceneConfig | None = None):
        self.config = config or SceneConfig()

    def accumulator(self, video: Video) -> SceneAccumulator:
        fps = video.probe.fps if video.probe else 0.0
        return SceneAccumulator(self.config, fps)

    def process(self, video: Video) -> Video:
        detection: SceneDetection | None = video.frame_results.get(self.name)
        if detection is None:
            raise RuntimeError("scenes: no frame results (the video was not decoded)")
        video.cuts = detection.cuts
        video.scenes = scenes_between(detection.cuts, detection.frame_count, detection.end_s)
        log.debug("%s: %d cuts, %d scenes", video.uri, len(video.cuts), len(video.scenes))
        return video
