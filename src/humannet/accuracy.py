"""How a curated corpus agrees with hand labels: content filter, viewpoint and scene cuts.

Reads only the corpus files (videos.parquet, clips/*.parquet), so it scores any corpus, and
a labels file in the format of the developer set's labels.json: per file name `people`
(bool), `view` (ego | exo | none) and `cuts` ([{t, kind}]). Videos dropped as duplicates
are left out of the content and viewpoint tables: their fate says nothing about either.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from humannet.evaluation import load_cut_labels, match_events, precision_recall_f1

VIEW_TRUTH = ("ego", "exo", "none")
VIEW_PREDICTED = ("ego", "exo", "unknown", "no clip")


@dataclass
class AccuracyReport:
    content: Counter[tuple[bool, bool]] = field(default_factory=Counter)  # (people labelled, video kept)
    content_misses: list[str] = field(default_factory=list)
    viewpoint: Counter[tuple[str, str]] = field(default_factory=Counter)  # (labelled view, predicted view)
    viewpoint_misses: list[str] = field(default_factory=list)
    cuts: tuple[int, int, int] = (0, 0, 0)
    cut_misses: list[str] = field(default_factory=list)
    duplicates_left_out: list[str] = field(default_factory=list)
    has_viewpoint: bool = False

    def as_dict(self) -> dict[str, object]:
        precision, recall, f1 = precision_recall_f1(*self.cuts)
        return {
            "content": {f"people={p} kept={k}": n for (p, k), n in sorted(self.content.items())},
            "content_misses": self.content_misses,
            "viewpoint": {f"{t}->{p}": n for (t, p), n in sorted(self.viewpoint.items())}
            if self.has_viewpoint
            else None,
            "viewpoint_misses": self.viewpoint_misses,
            "cuts": {
                "tp": self.cuts[0],
                "fp": self.cuts[1],
                "fn": self.cuts[2],
                "precision": precision,
                "recall": recall,
                "f1": f1,
            },
            "cut_misses": self.cut_misses,
            "duplicates_left_out": self.duplicates_left_out,
        }


def majority_viewpoint(views: list[str]) -> str:
    """The clip viewpoint most clips of a video share; 'no clip' when none was kept."""
    if not views:
        return "no clip"
    counts = Counter(views).most_common()
    return counts[0][0] if len(counts) == 1 or counts[0][1] > counts[1][1] else "unknown"


def evaluate(corpus: Path, labels_path: Path, tolerance_s: float = 0.5) -> AccuracyReport:
    labels = json.loads(labels_path.read_text())["clips"]
    cut_labels = load_cut_labels(labels_path)
    videos = {Path(row["uri"]).name: row for row in pq.read_table(corpus / "videos.parquet").to_pylist()}
    clips = pq.read_table(corpus / "clips").to_pylist() if (corpus / "clips").is_dir() else []
    report = AccuracyReport(has_viewpoint=any("viewpoint" in clip for clip in clips))
    views_by_video: dict[str, list[str]] = {}
    for clip in clips:
        views_by_video.setdefault(clip["video_id"], []).append(clip.get("viewpoint") or "unknown")
    tp = fp = fn = 0
    for name, label in sorted(labels.items()):
        video = videos.get(name)
        if video is None or video["status"] == "failed":
            continue
        a, b, c = match_events(list(video["cut_times"] or []), cut_labels.get(name, []), tolerance_s)
        tp, fp, fn = tp + a, fp + b, fn + c
        if b or c:
            report.cut_misses.append(
                f"{name}: predicted {[round(t, 2) for t in video['cut_times'] or []]}, labelled {cut_labels.get(name, [])}"
            )
        if video["duplicate_of"]:
            report.duplicates_left_out.append(name)
            continue
        people, kept = bool(label["people"]), video["status"] == "kept"
        report.content[(people, kept)] += 1
        if people != kept:
            report.content_misses.append(f"{name}: people={people}, {video['status']} ({video['reason'] or ''})")
        if report.has_viewpoint:
            truth = label.get("view", "none")
            predicted = majority_viewpoint(views_by_video.get(video["video_id"], []))
            report.viewpoint[(truth, predicted)] += 1
            if predicted != truth and not (truth == "none" and predicted in ("unknown", "no clip")):
                report.viewpoint_misses.append(f"{name}: labelled {truth}, predicted {predicted}")
    report.cuts = (tp, fp, fn)
    return report


def format_accuracy(report: AccuracyReport) -> str:
    lines = ["Content filter (per video; kept = at least one clip kept)", "                   kept  dropped"]
    for people in (True, False):
        lines.append(
            f"  people={'yes' if people else 'no ':<3}      {report.content[(people, True)]:5d}  {report.content[(people, False)]:7d}"
        )
    lines += [f"  miss: {m}" for m in report.content_misses]
    if report.has_viewpoint:
        lines += [
            "",
            "Viewpoint (per video: the view most of its kept clips share)",
            "  labelled \\ predicted " + "".join(f"{p:>9}" for p in VIEW_PREDICTED),
        ]
        for truth in VIEW_TRUTH:
            lines.append(f"  {truth:<21}" + "".join(f"{report.viewpoint[(truth, p)]:9d}" for p in VIEW_PREDICTED))
        lines += [f"  miss: {m}" for m in report.viewpoint_misses]
    else:
        lines += ["", "Viewpoint: the corpus has no viewpoint column (the viewpoint stage did not run)"]
    precision, recall, f1 = precision_recall_f1(*report.cuts)
    tp, fp, fn = report.cuts
    lines += [
        "",
        f"Scene cuts (hard + dissolve, one-to-one within the tolerance): TP {tp}  FP {fp}  FN {fn}  "
        f"precision {precision:.2f}  recall {recall:.2f}  F1 {f1:.2f}",
    ]
    lines += [f"  miss: {m}" for m in report.cut_misses]
    if report.duplicates_left_out:
        lines += ["", "Left out of content and viewpoint as duplicates: " + ", ".join(report.duplicates_left_out)]
    return "\n".join(lines)
