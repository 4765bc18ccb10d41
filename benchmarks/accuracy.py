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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", type=Path)
    parser.add_argument("--labels", type=Path, default=None, help="labels JSON (default: VIDEOS/labels.json)")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus folder to write or resume (default: temporary)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0 = one per core)")
    parser.add_argument("--config", dest="config_path", type=Path, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--json", dest="json_path", type=Path, default=None, help="also write the report as JSON here")
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
    print(format_accuracy(report))
    if args.json_path:
        args.json_path.write_text(json.dumps(report.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
