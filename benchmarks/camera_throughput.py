"""Speed of the camera-trajectory annotator on the ego clips of a materialised corpus.

Every clip the index labels `viewpoint == "ego"` is taken from its shard (the mp4 and its
pose.npz, for the hand masks) and the visual odometry is run again in this process, pinned to
one core when the platform allows it, timed from opening the mp4 to the finished trajectory
(decoding included). Reported: ms per tracked frame and realtime factor per core (clip seconds
/ compute seconds / cores), by wall time and by the process's CPU time (robust to other jobs on
the core), and the share of valid frames. Accuracy is measured separately on
rendered videos with a known path (benchmarks/camera_trajectory.py).
"""

from __future__ import annotations

import os
import tarfile
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq

from humannet.annotate.camera_trajectory import CameraTrajectoryConfig, run_odometry


def _ego_clips(corpus: Path) -> dict[str, float]:
    """clip_id -> duration of the clips labelled ego."""
    table = pq.read_table(corpus / "clips")
    if "viewpoint" not in table.column_names:
        return {}
    return {
        row["clip_id"]: row["duration_s"]
        for row in table.select(["clip_id", "duration_s", "viewpoint"]).to_pylist()
        if row["viewpoint"] == "ego"
    }


def measure_camera_throughput(corpus: Path, config: CameraTrajectoryConfig) -> dict[str, object]:
    clips = _ego_clips(corpus)
    frames, compute_s, cpu_s, clip_s, valid, failed = 0, 0.0, 0.0, 0.0, [], []
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cores = 1 if allowed else os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="humannet-camera-") as scratch:
        for shard in sorted((corpus / "shards").glob("*.tar")):
            with tarfile.open(shard) as tar:
                members = {member.name: member for member in tar.getmembers()}
                for clip_id, duration in clips.items():
                    if f"{clip_id}.mp4" not in members:
                        continue
                    mp4 = Path(scratch) / f"{clip_id}.mp4"
                    mp4.write_bytes(tar.extractfile(members[f"{clip_id}.mp4"]).read())
                    pose_member = members.get(f"{clip_id}.pose.npz")
                    pose = tar.extractfile(pose_member).read() if pose_member else None
                    if allowed:
                        os.sched_setaffinity(0, {allowed[0]})
                    try:
                        started, started_cpu = time.perf_counter(), time.process_time()
                        trajectory, _ = run_odometry(mp4, config, pose=pose)
                        compute_s += time.perf_counter() - started
                        cpu_s += time.process_time() - started_cpu
                    except (ValueError, av.error.FFmpegError) as exc:  # an unreadable clip is reported, not fatal
                        failed.append(f"{clip_id}: {exc}")
                        continue
                    finally:
                        if allowed:
                            os.sched_setaffinity(0, set(allowed))
                    frames += len(trajectory.times)
                    clip_s += duration
                    valid.append(float(trajectory.valid.mean()) if len(trajectory.times) else 0.0)
    return {
        "clips": len(valid),
        "clip_s": clip_s,
        "frames": frames,
        "tracked_fps": config.fps,
        "width": config.width,
        "ms_per_frame": 1000 * compute_s / frames if frames else None,
        "realtime_per_core": clip_s / compute_s / cores if compute_s else None,
        "cpu_ms_per_frame": 1000 * cpu_s / frames if frames else None,
        "cpu_realtime_per_core": clip_s / cpu_s if cpu_s else None,
        "valid_fraction_median": float(np.median(valid)) if valid else None,
        "failed": failed,
        "method": "ego clips from the shards, VO re-run in the benchmark process on one core, decode included",
    }
