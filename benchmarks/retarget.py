"""Retargeting error distribution, robot-ready share and speed of the 3D motion annotators.

python -m benchmarks retarget CORPUS [--json out.json]
python -m benchmarks retarget --videos /path/to/videos --out CORPUS   # curate (and materialise) first, then measure

The corpus must be materialised with pose tracks (the default). For every clip in the corpus's
shards that has keypoint tracks, `motion3d` and `retarget` are run again in this process, on one
core, and timed around their own work (the tracks are read from the shard first). Reported: ms
per keypoint frame and realtime factor per core (clip seconds / compute seconds) for each step,
the distribution of the retargeting error over the clips with valid frames, and the share of
robot-ready clips. The detector that produced the tracks is timed with materialisation in the
throughput benchmark, not here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from humannet.annotate.motion3d import Motion3DConfig, lift, load_npz
from humannet.annotate.retarget import RetargetConfig, Retargeter
from humannet.config import load_config


@dataclass
class ClipResult:
    clip_id: str
    source: str  # the source video's file name
    duration_s: float
    frames: int  # keypoint samples
    pose3d_frames: int
    hand3d_frames: int
    coverage: float
    error_mm: float
    robot_ready: bool
    motion3d_s: float  # wall time
    retarget_s: float
    motion3d_cpu_s: float  # CPU time of this process: what the step costs a core, however busy the machine is
    retarget_cpu_s: float
    notes: list[str] = field(default_factory=list)


@dataclass
class MotionBenchReport:
    corpus: str
    clips: list[ClipResult]
    summary: dict[str, object]


def _clip_sources(corpus: Path) -> dict[str, tuple[str, float, bool]]:
    """clip_id -> (source file name, duration, labelled ego)."""
    table = pq.read_table(corpus / "clips")
    columns = ["clip_id", "video_id", "duration_s"] + (["viewpoint"] if "viewpoint" in table.column_names else [])
    videos = {
        row["video_id"]: Path(row["uri"]).name
        for row in pq.read_table(corpus / "videos.parquet", columns=["video_id", "uri"]).to_pylist()
    }
    return {
        row["clip_id"]: (videos.get(row["video_id"], row["video_id"]), row["duration_s"], row.get("viewpoint") == "ego")
        for row in table.select(columns).to_pylist()
    }


def _pinned() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def measure(
    corpus: Path, motion: Motion3DConfig | None = None, retarget: RetargetConfig | None = None
) -> MotionBenchReport:
    """Run and time both annotators on every clip with keypoint tracks in `corpus`'s shards (pinned to one core)."""
    motion = motion or Motion3DConfig()
    retarget = retarget or RetargetConfig()
    sources = _clip_sources(corpus)
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    _pinned()
    try:
        retargeter = Retargeter(retarget)
        lift(load_npz(_first_pose(corpus)), motion) if _first_pose(
            corpus
        ) else None  # warm imports (scipy) outside the timings
        results = []
        frame_errors: list[np.ndarray] = []
        for shard in sorted((corpus / "shards").glob("*.tar")):
            with tarfile.open(shard) as tar:
                for member in tar.getmembers():
                    if not member.name.endswith(".pose.npz"):
                        continue
                    clip_id = member.name[: -len(".pose.npz")]
                    pose = load_npz(tar.extractfile(member).read())
                    source, duration, ego = sources.get(
                        clip_id, (clip_id, float(pose["times"][-1]) if len(pose["times"]) else 0.0, False)
                    )
                    started, started_cpu = time.perf_counter(), time.process_time()
                    motion3d = lift(pose, motion, ego=ego)
                    lifted, lifted_cpu = time.perf_counter(), time.process_time()
                    result = retargeter.retarget(motion3d.arrays)
                    done, done_cpu = time.perf_counter(), time.process_time()
                    frame_errors.append(result.arrays["error_mm"][result.arrays["valid"]])
                    ready = bool(result.error_mm < retarget.max_error_mm and result.coverage > retarget.min_coverage)
                    summary = motion3d.summary()
                    results.append(
                        ClipResult(
                            clip_id, source, duration, len(pose["times"]),
                            int(summary["pose3d_frames"]), int(summary["hand3d_frames"]),
                            result.coverage, result.error_mm, ready,
                            lifted - started, done - lifted, lifted_cpu - started_cpu, done_cpu - lifted_cpu,
                            motion3d.notes + result.notes,
                        )
                    )  # fmt: skip
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
    return MotionBenchReport(
        str(corpus), results, summarise(results, np.concatenate(frame_errors) if frame_errors else np.zeros(0))
    )


def _first_pose(corpus: Path) -> bytes | None:
    for shard in sorted((corpus / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".pose.npz"):
                    return tar.extractfile(member).read()
    return None


def summarise(results: list[ClipResult], frame_errors: np.ndarray) -> dict[str, object]:
    """Speed, the clip-level error distribution, the per-frame error distribution over valid frames, the robot-ready
    share."""
    frames = sum(r.frames for r in results)
    video_s = sum(r.duration_s for r in results)
    lift_s, retarget_s = sum(r.motion3d_s for r in results), sum(r.retarget_s for r in results)
    lift_cpu, retarget_cpu = sum(r.motion3d_cpu_s for r in results), sum(r.retarget_cpu_s for r in results)
    solved_frames = sum(r.pose3d_frames for r in results)
    errors = np.array([r.error_mm for r in results if np.isfinite(r.error_mm)])
    with_body = [r for r in results if r.pose3d_frames > 0]
    quantiles = (
        dict(
            zip(
                ("min", "p25", "median", "p75", "max"),
                np.percentile(errors, [0, 25, 50, 75, 100]).tolist(),
                strict=True,
            )
        )
        if errors.size
        else {}
    )
    return {
        "clips": len(results),
        "clips_with_body": len(with_body),
        "clips_with_error": int(errors.size),
        "video_s": video_s,
        "keypoint_frames": frames,
        "motion3d_ms_per_frame": 1000 * lift_s / max(frames, 1),
        "motion3d_realtime_per_core": video_s / lift_s if lift_s else float("inf"),
        "retarget_ms_per_frame": 1000 * retarget_s / max(frames, 1),
        "retarget_ms_per_solved_frame": 1000 * retarget_s / max(solved_frames, 1),
        "retarget_realtime_per_core": video_s / retarget_s if retarget_s else float("inf"),
        "motion3d_cpu_ms_per_frame": 1000 * lift_cpu / max(frames, 1),
        "retarget_cpu_ms_per_frame": 1000 * retarget_cpu / max(frames, 1),
        "realtime_per_core_cpu": video_s / (lift_cpu + retarget_cpu) if lift_cpu + retarget_cpu else float("inf"),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
        "error_mm_quantiles": quantiles,
        "error_mm_mean": float(errors.mean()) if errors.size else float("nan"),
        "valid_frames": int(frame_errors.size),
        "frame_error_mm_quantiles": dict(
            zip(("p50", "p90", "p99", "max"), np.percentile(frame_errors, [50, 90, 99, 100]).tolist(), strict=True)
        )
        if frame_errors.size
        else {},
        "robot_ready_clips": sum(r.robot_ready for r in results),
        "robot_ready_share_of_clips": sum(r.robot_ready for r in results) / max(len(results), 1),
        "robot_ready_share_of_clips_with_body": sum(r.robot_ready for r in with_body) / max(len(with_body), 1),
    }


def format_motion_report(report: MotionBenchReport) -> str:
    s = report.summary
    lines = [
        f"3D motion and retargeting on {report.corpus}: {s['clips']} clips, {s['video_s']:.1f} s, "
        f"{s['keypoint_frames']} keypoint frames (one core)",
        f"  {'clip':<34}{'source':<42}{'frames':>7}{'body':>6}{'hands':>6}{'cover':>7}{'err mm':>8}{'ready':>7}",
    ]
    for r in report.clips:
        lines.append(
            f"  {r.clip_id:<34}{r.source[:41]:<42}{r.frames:>7}{r.pose3d_frames:>6}{r.hand3d_frames:>6}"
            f"{r.coverage:>7.2f}{r.error_mm:>8.1f}{'yes' if r.robot_ready else 'no':>7}"
        )
    q = s["error_mm_quantiles"]
    lines += [
        "",
        f"  motion3d: {s['motion3d_ms_per_frame']:.2f} ms per keypoint frame, {s['motion3d_realtime_per_core']:.0f}x "
        "realtime per core",
        f"  retarget: {s['retarget_ms_per_frame']:.2f} ms per keypoint frame ({s['retarget_ms_per_solved_frame']:.2f} "
        f"per solved frame), {s['retarget_realtime_per_core']:.1f}x realtime per core",
        f"  CPU time (what a core pays, however busy the machine; load average {s['load_average_1min']:.1f}): "
        f"motion3d {s['motion3d_cpu_ms_per_frame']:.2f} ms, retarget {s['retarget_cpu_ms_per_frame']:.2f} ms per "
        f"keypoint frame; both {s['realtime_per_core_cpu']:.1f}x realtime per core",
        "  retargeting error over clips with full-body frames (mm): "
        + (", ".join(f"{k} {v:.1f}" for k, v in q.items()) + f" (n={s['clips_with_error']})" if q else "none"),
        "  per valid frame (mm): "
        + (
            ", ".join(f"{k} {v:.1f}" for k, v in s["frame_error_mm_quantiles"].items()) + f" (n={s['valid_frames']})"
            if s["valid_frames"]
            else "none"
        ),
        f"  robot-ready: {s['robot_ready_clips']} of {s['clips']} clips ({100 * s['robot_ready_share_of_clips']:.0f} "
        f"%), {100 * s['robot_ready_share_of_clips_with_body']:.0f} % of the {s['clips_with_body']} clips with a 3D "
        "body",
    ]
    return "\n".join(lines)


def report_dict(report: MotionBenchReport) -> dict[str, object]:
    return {"corpus": report.corpus, "summary": report.summary, "clips": [asdict(c) for c in report.clips]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks retarget", description=__doc__.splitlines()[0])
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
