"""Local process pool against Ray on one machine, at equal worker counts, over the same videos.

python benchmarks/scaling.py VIDEOS [--workers 2] [--repeat 2] [--set SECTION.KEY=VALUE ...]

Each measurement is a fresh `humannet curate VIDEOS --no-materialize` in its own folder (wall
time of the whole command, start-up included), then the same command again on the finished
corpus, which resumes and analyses nothing: the difference ("net") is the analysis, plus, for
Ray, starting and stopping a private local Ray (a resumed run has nothing to do and starts none).
That start-up is timed on its own and reported, and subtracted for the "net of Ray start-up"
ratio. Two-node figures need a cluster: see docs/scaling.md.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from humannet.bench import list_files


def curate(videos: Path, out: Path, runner: str, workers: int, overrides: list[str]) -> float:
    command = [
        sys.executable,
        "-m",
        "humannet.cli",
        "curate",
        str(videos),
        "--out",
        str(out),
        "--no-materialize",
        "--runner",
        runner,
        "--workers",
        str(workers),
    ]
    for override in overrides:
        command += ["--set", override]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def ray_startup_s(workers: int) -> float:
    """Wall time to start and stop a private local Ray, as RayRunner does for a run without --ray-address."""
    code = f"import ray, time; t = time.perf_counter(); ray.init(address='local', num_cpus={workers}); ray.shutdown(); print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", type=Path)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2, help="fresh runs per runner; the fastest is kept")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args(argv)
    video_s = sum(f.duration_s for f in list_files(args.videos.resolve()))
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="humannet-scaling-") as scratch:
        for runner in ("local", "ray"):
            best = None
            for attempt in range(args.repeat):
                out = Path(scratch) / f"{runner}{attempt}"
                fresh = curate(args.videos, out, runner, args.workers, args.overrides)
                resumed = curate(args.videos, out, runner, args.workers, args.overrides)
                shutil.rmtree(out)
                if best is None or fresh < best[0]:
                    best = (fresh, resumed)
            results[runner] = best
    print(f"{video_s:.1f} s of video in {args.videos}, {args.workers} workers, overrides {args.overrides or 'none'}")
    print(f"{'runner':<8}{'fresh run s':>13}{'resumed run s':>15}{'net s':>8}{'RT/core (net)':>15}")
    for runner, (fresh, resumed) in results.items():
        net = fresh - resumed
        print(f"{runner:<8}{fresh:>13.2f}{resumed:>15.2f}{net:>8.2f}{video_s / net / args.workers:>14.1f}x")
    local_net = results["local"][0] - results["local"][1]
    ray_net = results["ray"][0] - results["ray"][1]
    startup = ray_startup_s(args.workers)
    print(f"starting and stopping a private local Ray: {startup:.2f} s")
    print(
        f"Ray / local throughput: {local_net / (ray_net - startup):.2f} net of Ray start-up, {local_net / ray_net:.2f} net, "
        f"{results['local'][0] / results['ray'][0]:.2f} whole command (target >= 0.85)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
