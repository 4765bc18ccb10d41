"""Throughput, memory and cut-accuracy benchmark (a thin wrapper around `humannet.bench`; same as `humannet bench`).

python benchmarks/throughput.py /path/to/videos [--labels labels.json] [--long-video] [--json out.json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from humannet.bench import BenchError, BenchOptions, format_report, run_benchmark


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", type=Path, help="folder of videos (labels.json inside is used for cut accuracy)")
    parser.add_argument(
        "--labels", type=Path, default=None, help="cut labels JSON (default: VIDEOS/labels.json if present)"
    )
    parser.add_argument("--long-video", action="store_true", help="also measure a generated 10-min 1080p video")
    parser.add_argument("--json", dest="json_path", type=Path, default=None, help="write the full report as JSON here")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep the corpora written by the benchmark in this folder"
    )
    parser.add_argument("--repeat", type=int, default=1, help="run each timed measurement N times and keep the fastest")
    parser.add_argument(
        "--config", dest="config_path", type=Path, default=None, help="humannet TOML config passed to curate"
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each step")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("humannet").setLevel(logging.INFO if args.verbose else logging.WARNING)
    options = BenchOptions(
        videos=args.videos,
        labels=args.labels,
        long_video=args.long_video,
        keep=args.keep,
        repeat=args.repeat,
        config_path=args.config_path,
        overrides=tuple(args.overrides),
    )
    try:
        report = run_benchmark(options)
    except BenchError as exc:
        logging.error("%s", exc)
        return 1
    sys.stdout.write(format_report(report) + "\n")
    if args.json_path:
        args.json_path.write_text(report.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
