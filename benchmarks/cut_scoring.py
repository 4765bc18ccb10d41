"""Scoring detected events (cuts) against hand labels: one-to-one matching within a tolerance."""

from __future__ import annotations

import json
from pathlib import Path

CUT_KINDS = ("hard", "dissolve")


def match_events(
    predicted_times: list[float], true_times: list[float], tolerance_s: float = 0.5
) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) with each label matched at most once.

    Pairs are matched greedily from the closest pair up, which is optimal for points on a
    line when every pair within the tolerance is allowed.
    """
    pairs = sorted(
        (abs(p - t), i, j)
        for i, p in enumerate(predicted_times)
        for j, t in enumerate(true_times)
        if abs(p - t) <= tolerance_s
    )
    used_pred: set[int] = set()
    used_true: set[int] = set()
    for _, i, j in pairs:
        if i not in used_pred and j not in used_true:
            used_pred.add(i)
            used_true.add(j)
    tp = len(used_pred)
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
