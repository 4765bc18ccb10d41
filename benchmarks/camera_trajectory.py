"""Accuracy and speed of the camera-trajectory VO on rendered videos with a known camera path.

python -m benchmarks camera_trajectory [--seconds 6] [--json out.json] [--set key=value ...]

Each case is rendered once (benchmarks/synthetic_scene.py: a textured room, ray-cast in numpy,
320x240, 30 fps, H.264 like a written clip), then tracked with the default settings of
`[camera_trajectory]` (override with --set, e.g. --set fps=15). Reported per case:

- ATE: RMS position error after Sim(3) (Umeyama) alignment to the true path, as a share of
  the true path length, over frames whose translation is valid;
- rotation error: RMS angle between estimated and true orientations (first frames aligned);
- valid / translation-valid share of frames, keyframes, the reasons the annotator would record;
- ms per tracked frame and realtime factor (video s / compute s), on one core, decode included;
  wall time and CPU time of the process (the latter is what counts when other jobs share the core).

The pure-rotation and textureless cases must be *detected* (reasons `rotation_only`,
`no_texture`); the translation ATE does not apply to them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.synthetic_scene import SyntheticVideo, render_video
from benchmarks.trajectory_error import ate_relative, rotation_error_deg
from humannet.annotate.camera_trajectory import CameraTrajectoryConfig, failure_reasons, motion_summary, run_odometry
from humannet.annotate.vo import Trajectory

CASES = {  # name -> (path kind, render options, use the occluder's box as a mask)
    "walk": ("walk", {}, False),
    "walk, motion blur": ("walk", {"blur_samples": 4}, False),
    "walk, hand occluder masked": ("walk", {"hand": True}, True),
    "walk, hand occluder not masked": ("walk", {"hand": True}, False),
    "walk, true FOV 70 (assumed 90)": ("walk", {"hfov_deg": 70.0}, False),
    "sideways walk": ("sideways", {}, False),
    "pure rotation": ("rotation", {}, False),
    "textureless": ("flat", {}, False),
}


def run_case(video: SyntheticVideo, config: CameraTrajectoryConfig, masked: bool) -> dict[str, object]:
    boxes = (
        [(float(t), box) for t, box in zip(video.times, video.hand_boxes, strict=True) if box is not None]
        if masked
        else None
    )
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if allowed:
        os.sched_setaffinity(0, {allowed[0]})
    try:
        started, started_cpu = time.perf_counter(), time.process_time()
        trajectory, _ = run_odometry(video.path, config, boxes=boxes)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    finally:
        if allowed:
            os.sched_setaffinity(0, set(allowed))
    truth = np.clip(np.round(trajectory.times * video.fps).astype(int), 0, len(video.times) - 1)
    known, valid = trajectory.translation_known, trajectory.valid
    moving = video.path_length > 0
    result: dict[str, object] = {
        "frames": len(trajectory.times),
        "keyframes": len(trajectory.keyframes),
        "valid": float(valid.mean()),
        "translation_valid": float(known.mean()),
        "ate_relative": ate_relative(trajectory.positions[known], video.positions[truth][known])
        if moving and known.sum() >= 3
        else None,
        "rotation_error_deg": rotation_error_deg(trajectory.rotations[valid], video.rotations[truth][valid])
        if valid.sum() >= 2
        else None,
        "ms_per_frame": 1000 * elapsed / max(len(trajectory.times), 1),
        "realtime": float(video.times[-1] + 1 / video.fps) / elapsed,
        "cpu_ms_per_frame": 1000 * cpu / max(len(trajectory.times), 1),
        "cpu_realtime": float(video.times[-1] + 1 / video.fps) / max(cpu, 1e-9),
        "reasons": failure_reasons(trajectory),
        "summary": motion_summary(trajectory),
        "true_summary": motion_summary(_truth(trajectory, video, truth)) if len(truth) >= 3 else None,
    }
    return result


def _truth(trajectory: Trajectory, video: SyntheticVideo, rows: np.ndarray) -> Trajectory:
    count = len(rows)
    rotations = np.einsum("ij,njk->nik", video.rotations[rows[0]].T, video.rotations[rows])
    everything = np.ones(count, bool)
    return Trajectory(trajectory.times, rotations, video.positions[rows], everything, everything, ["ok"] * count, [], 1)


def format_table(results: dict[str, dict[str, object]], seconds: float) -> str:
    lines = [
        f"camera trajectory VO on rendered {seconds:g} s clips (320x240, 30 fps, H.264); one core",
        f"  {'case':<34}{'ATE/path':>9}{'rot err':>9}{'valid':>7}{'t-valid':>8}"
        f"{'KF':>5}{'ms/fr':>7}{'RT':>7}{'cpu ms':>8}{'cpu RT':>7}  reasons",
    ]
    for name, r in results.items():
        ate = f"{100 * r['ate_relative']:.2f}%" if r["ate_relative"] is not None else "-"
        rot = f"{r['rotation_error_deg']:.2f}°" if r["rotation_error_deg"] is not None else "-"
        reasons = "; ".join(reason.split(":")[0] for reason in r["reasons"]) or "-"
        counts = f"{r['valid']:>7.2f}{r['translation_valid']:>8.2f}{r['keyframes']:>5}"
        times = (
            f"{r['ms_per_frame']:>7.1f}{r['realtime']:>6.1f}x{r['cpu_ms_per_frame']:>8.1f}{r['cpu_realtime']:>6.1f}x"
        )
        lines.append(f"  {name:<34}{ate:>9}{rot:>9}{counts}{times}  {reasons}")
    lines.append(
        "  shakiness (deg/s), estimated vs true: "
        + ", ".join(_shake(name, r) for name, r in results.items() if r["true_summary"])
    )
    return "\n".join(lines)


def _shake(name: str, result: dict[str, object]) -> str:
    estimated, true = result["summary"]["camera_shakiness"], result["true_summary"]["camera_shakiness"]
    return f"{name} {estimated:.1f} vs {true:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks camera_trajectory", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each rendered clip (s)")
    parser.add_argument("--json", dest="json_path", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a [camera_trajectory] setting",
    )
    parser.add_argument("--cases", nargs="*", default=None, help="only these cases (names as printed)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.overrides)}
    config = CameraTrajectoryConfig(**settings)
    results = {}
    with tempfile.TemporaryDirectory(prefix="humannet-vo-bench-") as scratch:
        for index, (name, (kind, options, masked)) in enumerate(CASES.items()):
            if args.cases and name not in args.cases:
                continue
            video = render_video(Path(scratch) / f"case{index}.mp4", kind, seconds=args.seconds, **options)
            results[name] = run_case(video, config, masked)
    sys.stdout.write(format_table(results, args.seconds) + "\n")
    if args.json_path:
        args.json_path.write_text(
            json.dumps(
                {"seconds": args.seconds, "config": config.model_dump(), "cases": results}, indent=2, default=float
            )
        )
    return 0
