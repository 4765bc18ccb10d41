"""Scoring detected events (cuts) against hand labels: one-to-one matching within a tolerance."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

CUT_KINDS = ("hard", "dissolve")  # what `load_cut_labels` returns: shot changes without a blank between them
CUT_TYPES = ("hard", "dissolve", "fade")  # every labelled transition type the accuracy benchmark scores


@dataclass(frozen=True)
class CutLabel:
    """A labelled shot boundary: `t` is the first frame of the new shot; gradual ones span [start, end]."""

    t: float
    type: str
    span: tuple[float, float] | None = None

    @property
    def window(self) -> tuple[float, float]:
        """Where a detected cut may fall to match it (before the tolerance): the span, or the instant."""
        return self.span if self.span is not None else (self.t, self.t)


def match_spans(
    predicted_times: list[float], true_windows: list[tuple[float, float]], tolerance_s: float = 0.5
) -> list[tuple[int, int]]:
    """(predicted index, true index) pairs, each side matched at most once.

    A prediction reaches a true window when it lies within `tolerance_s` of it (inside the window is
    distance 0). The assignment is optimal: the most pairs within the tolerance, and among those the
    closest. (Matching the closest pairs first is not optimal: it can take the one label a second
    prediction needed.)
    """
    if not predicted_times or not true_windows:
        return []
    predicted = np.asarray(predicted_times, float)[:, None]
    starts = np.asarray([w[0] for w in true_windows], float)[None, :]
    ends = np.asarray([w[1] for w in true_windows], float)[None, :]
    distance = np.maximum(np.maximum(starts - predicted, predicted - ends), 0.0)
    allowed = distance <= tolerance_s
    # Any pair outside the tolerance costs more than all allowed pairs together, so the
    # cheapest assignment first has the most allowed pairs.
    cost = np.where(allowed, distance, tolerance_s * (distance.size + 1) + 1.0)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]


def match_events(
    predicted_times: list[float], true_times: list[float], tolerance_s: float = 0.5
) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of instants, each label matched at most once."""
    tp = len(match_spans(predicted_times, [(t, t) for t in true_times], tolerance_s))
    return tp, len(predicted_times) - tp, len(true_times) - tp


def precision_recall_f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1; an empty prediction of an empty truth scores 1.0 throughout."""
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def cut_type(cut: dict) -> str | None:
    """A label's transition type: `type` in the newer label files, `kind` in the developer set's."""
    return cut.get("type", cut.get("kind"))


def cut_labels_of(clip: dict) -> list[CutLabel]:
    """One labelled clip's cuts of the scored types, in time order."""
    cuts = []
    for cut in clip.get("cuts", []):
        if cut_type(cut) in CUT_TYPES:
            span = cut.get("span")
            cuts.append(CutLabel(float(cut["t"]), cut_type(cut), (float(span[0]), float(span[1])) if span else None))
    return sorted(cuts, key=lambda c: c.t)


def load_cut_labels(labels_json_path: str | Path) -> dict[str, list[float]]:
    """File name -> labelled cut times (hard cuts and dissolves; fades are events, not cuts)."""
    clips = json.loads(Path(labels_json_path).read_text())["clips"]
    return {name: sorted(c.t for c in cut_labels_of(clip) if c.type in CUT_KINDS) for name, clip in clips.items()}
