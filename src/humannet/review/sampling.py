"""What the review stages share: sparse sampling of the analysis frames, and per-clip review issues."""

from __future__ import annotations

import numpy as np

from humannet.records import Clip, Frame

ISSUES_LABEL = "review_issues"


class SampleClock:
    """Takes a frame whenever `1 / fps` seconds have passed since the last one taken (analysis frames come at ~2
    fps)."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self.next_s = -np.inf

    def take(self, time_s: float) -> bool:
        if time_s + 1e-6 < self.next_s:
            return False
        self.next_s = (time_s if np.isinf(self.next_s) else self.next_s) + self.period
        while self.next_s <= time_s + 1e-6:
            self.next_s += self.period
        return True


class NoFrames:
    """The accumulator of a review stage whose model could not be loaded: it takes no frames, and the stage
    records why."""

    def add(self, frame: Frame) -> None:
        pass

    def finish(self) -> None:
        return None


def samples_for_clip(times: np.ndarray, start_s: float, end_s: float, fps: float) -> np.ndarray:
    """Indices of the samples that stand for a clip: those inside it, else those whose sampling period
    (half a period either side) overlaps it, so a clip shorter than the period still gets its nearest sample."""
    inside = np.flatnonzero((times >= start_s) & (times < end_s))
    if inside.size:
        return inside
    half = 0.5 / fps
    return np.flatnonzero((times + half > start_s) & (times - half < end_s))


def set_review_issue(clip: Clip, stage: str, message: str | None) -> None:
    """Replace this stage's entry in the clip's `review_issues` (a rerun must not keep a stale one)."""
    issues = [text for text in clip.labels.get(ISSUES_LABEL, []) if not text.startswith(f"{stage}:")]
    if message:
        issues.append(f"{stage}: {message}")
    if issues:
        clip.labels[ISSUES_LABEL] = sorted(issues)
    else:
        clip.labels.pop(ISSUES_LABEL, None)
