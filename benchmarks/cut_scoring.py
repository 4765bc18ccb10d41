"""Scoring detected events (cuts) against hand labels: one-to-one matching within a tolerance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

CUT_KINDS = ("hard", "dissolve")


def match_events(
    predicted_times: list[float], true_times: list[float], tolerance_s: float = 0.5
) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) with each label matched at most once.

    An optimal assignment: the most pairs within the tolerance, and among those the closest.
    (Matching the closest pairs first is not optimal: it can take the one label a second
    prediction needed.)
    """
    if not predicted_times or not true_times:
        return 0, len(predicted_times), len(true_times)
    distance = np.abs(np.subtract.outer(np.asarray(predicted_times, float), np.asarray(true_times, float)))
    allowed = distance <= tolerance_s
    # Any pair outside the tolerance costs more than all allowed pairs together, so the
    # cheapest assignment first has the most allowed pairs.
    cost = np.where(allowed, distance, tolerance_s * (distance.size + 1) + 1.0)
    rows, cols = linear_sum_assignment(cost)
    tp = int(allowed[rows, cols].sum())
    return tp, len(predicted_times) - tp, len(true_times) - tp


def precision_recall_f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1; an empty prediction of an empty truth scores 1.0 throughout."""
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def load_cut_labels(labels_json_path: str | Path) -> dict[str, list[float]]:
    """File name -> labelled cut times (hard cuts and dissolves; fades are events, not cuts)."""
    clips = json.loads(Path(labels_json_path).read_text())["clips"]
    return {
        name: sorted(float(c["t"]) for c in clip.get("cuts", []) if c.get("kind") in CUT_KINDS)
        for name, clip in clips.items()
    }
