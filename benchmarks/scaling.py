"""Throughput of the local runner against Ray on one machine, and of one Ray node against two.

python -m benchmarks scaling VIDEOS [--workers 2] [--copies 4] [--nodes] [--set SECTION.KEY=VALUE ...]

Every measurement is a fresh `humannet curate --no-materialize` in its own folder (wall time of
the whole command), then the same command again on the finished corpus, which resumes and
analyses nothing: the difference ("net") is the analysis plus, for Ray, the start-up of Ray and
its actors. Each runner runs two workloads, the videos once and `--copies` times (symlinks
under other names, so every copy is analysed); the extra video seconds over the extra net time
is the runner's steady-state ("marginal") throughput, free of fixed start-up costs, and the
fixed cost is what is left. `--nodes` then starts loopback Ray clusters of one and two nodes
(one CPU each, `benchmarks/loopback_cluster.py`) and runs the copied workload on each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.throughput import list_files


def curate(videos: Path, out: Path, runner: list[str], overrides: list[str]) -> float:
    command = [
        sys.executable,
        "-m",
        "humannet.cli",
        "curate",
        str(videos),
        "--out",
        str(out),
        "--no-materialize",
        *runner,
    ]
    for override in overrides:
        command += ["--set", override]
    started = time.perf_counter()
    subprocess.run(
        command,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RAY_AUTH_MODE": "token"},
    )
    return time.perf_counter() - started


def net_s(videos: Path, scratch: Path, runner: list[str], overrides: list[str]) -> float:
    """Fresh run minus resumed run: the work, without interpreter and index start-up."""
    out = scratch / f"out-{time.monotonic_ns()}"
    fresh = curate(videos, out, runner, overrides)
    resumed = curate(videos, out, runner, overrides)
    shutil.rmtree(out)
    return fresh - resumed


def copied(videos: list[Path], copies: int, folder: Path) -> Path:
    folder.mkdir()
    for copy in range(copies):
        for video in videos:
            (folder / f"copy{copy}-{video.name}").symlink_to(video)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks scaling", description=__doc__.splitlines()[0])
    parser.add_argument("videos", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--copies", type=int, default=4, help="size of the larger workload, in copies of VIDEOS")
    parser.add_argument("--nodes", action="store_true", help="also compare loopback Ray clusters of one and two nodes")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args(argv)
    files = list_files(args.videos.resolve())
    video_s = sum(f.duration_s for f in files)
    paths = [Path(f.path) for f in files]
    with tempfile.TemporaryDirectory(prefix="humannet-scaling-") as name:
        scratch = Path(name)
        small = copied(paths, 1, scratch / "x1")
        large = copied(paths, args.copies, scratch / f"x{args.copies}")
        extra_s = video_s * (args.copies - 1)
        print(
            f"{video_s:.1f} s of video x1 and x{args.copies}, {args.workers} workers, overrides "
            f"{args.overrides or 'none'}"
        )
        print(f"{'runner':<8}{'net x1 s':>10}{f'net x{args.copies} s':>11}{'fixed s':>9}{'marginal RT/core':>18}")
        marginal = {}
        for runner in ("local", "ray"):
            flags = ["--runner", runner, "--workers", str(args.workers)]
            one, many = net_s(small, scratch, flags, args.overrides), net_s(large, scratch, flags, args.overrides)
            per_s = (many - one) / extra_s  # wall seconds per video second in steady state
            marginal[runner] = 1 / per_s
            print(
                f"{runner:<8}{one:>10.2f}{many:>11.2f}{one - video_s * per_s:>9.2f}"
                f"{marginal[runner] / args.workers:>17.1f}x"
            )
        print(
            f"Ray / local steady-state throughput at {args.workers} workers: "
            f"{marginal['ray'] / marginal['local']:.2f} (target >= 0.85)"
        )
        if args.nodes:
            from benchmarks.loopback_cluster import loopback_cluster

            throughput = {}
            for nodes in (1, 2):
                with loopback_cluster(nodes=nodes, cpus_per_node=1) as cluster:
                    net = net_s(large, scratch, ["--runner", "ray", "--ray-address", cluster.address], args.overrides)
                throughput[nodes] = video_s * args.copies / net
                print(
                    f"loopback Ray, {nodes} node(s) x 1 CPU: net {net:.2f} s for x{args.copies}, "
                    f"{throughput[nodes]:.1f}x realtime"
                )
            print(
                f"two nodes / one node: {throughput[2] / throughput[1]:.2f} (ideal 2.00; both nodes share this "
                f"machine's {os.cpu_count()} cores)"
            )
    return 0
