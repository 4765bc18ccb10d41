"""Retargeting error distribution, robot-ready share and speed of the 3D motion annotators.

python benchmarks/retarget.py CORPUS [--json out.json]
python benchmarks/retarget.py --videos /path/to/videos --out CORPUS   # curate (and materialise) first, then measure

The corpus must be materialised with pose tracks (the default). Each clip's keypoint tracks are
read from its shard and `motion3d` and `retarget` are run again in this process on one core;
see `humannet.bench_motion` for what is timed and reported.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

from humannet.bench_motion import format_motion_report, measure, report_dict
from humannet.config import load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "corpus", type=Path, nargs="?", help="a materialised humannet corpus (or the --out of --videos)"
    )
    parser.add_argument(
        "--videos", type=Path, default=None, help="curate this folder into CORPUS first (resumes if CORPUS exists)"
    )
    parser.add_argument("--out", type=Path, default=None, help="corpus folder for --videos")
    parser.add_argument(
        "--config",
        dest="config_path",
        type=Path,
        default=None,
        help="humannet TOML config (motion3d and retarget settings)",
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument(
        "--json", dest="json_path", type=Path, default=None, help="write the per-clip results and summary as JSON here"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    corpus = args.out if args.videos else args.corpus
    if corpus is None:
        parser.error("give CORPUS, or --videos with --out")
    if args.videos:
        command = [
            sys.executable,
            "-m",
            "humannet.cli",
            "curate",
            str(args.videos),
            "--out",
            str(corpus),
            "--workers",
            "1",
        ]
        command += ["--config", str(args.config_path)] if args.config_path else []
        for override in args.overrides:
            command += ["--set", override]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    config = load_config(args.config_path, args.overrides)
    report = measure(corpus, config.motion3d, config.retarget)
    sys.stdout.write(format_motion_report(report) + "\n")
    if args.json_path:
        args.json_path.write_text(json.dumps(report_dict(report), indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
