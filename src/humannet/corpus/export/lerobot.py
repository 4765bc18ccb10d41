"""Export robot-ready segments as a LeRobotDataset (v3.0 layout) that LeRobot's loaders read as is.

One episode is one stretch of a robot-ready clip where the retargeted pose is valid for at
least `min_seconds`. The robot state is the retargeted humanoid configuration from
`{clip_id}.retarget.npz` (root position, root orientation quaternion wxyz, joint positions),
resampled to the export frame rate; the action is the next frame's state (the last frame holds
its own), as in LeRobot datasets recorded by teleoperation where the action leads the state.
The clip's short caption is the task; without one, a phrase built from its labels.

The layout follows LeRobot's own constants (lerobot/datasets/utils.py, codebase v3.0):

    meta/info.json                                codebase_version, fps, features, totals, path templates, splits
    meta/stats.json                               min/max/mean/std/count/q01..q99 per feature
    meta/tasks.parquet                            task (index) -> task_index
    meta/episodes/chunk-000/file-000.parquet      one row per episode: length, tasks, frame range, video span, stats/...
    data/chunk-000/file-000.parquet               one row per frame: observation.state, action, timestamp, indices
    videos/observation.images.main/chunk-000/file-000.mp4   the episodes' frames, back to back
    meta/humannet.json                            (humannet's own) source clip and span of every episode

Files roll over to the next file index at LeRobot's default sizes (100 MB data, 200 MB video,
1000 files per chunk). The video is encoded as LeRobot's recorder encodes by default (AV1 with SVT-AV1).

LeRobot's merge (`aggregate_datasets`) takes only datasets whose features are equal, video info
included, and LeRobot releases write a few details differently: `LEROBOT_VERSIONS` holds them, and
the export writes those of one release (by default 0.4, the newest LeRobot for humannet's Python).
`benchmarks/lerobot_compat.py` checks each against the real package; tests/data/lerobot keeps what it wrote.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import tarfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from humannet import HumannetError
from humannet.corpus.loader import decode_frames, resample
from humannet.corpus.reader import Corpus
from humannet.storage import atomic_output

log = logging.getLogger(__name__)

CODEBASE_VERSION = "v3.0"
CHUNK_FILE_PATTERN = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE_PATTERN + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE_PATTERN + ".mp4"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE_PATTERN + ".parquet"
CHUNKS_SIZE = 1000
DATA_FILE_MB = 100
VIDEO_FILE_MB = 200
VIDEO_KEY = "observation.images.main"
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
INDEX_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}
RETARGET_ARRAYS = ("times", "root_pos", "root_quat", "joint_pos", "joint_names", "valid")
# LeRobot's default video encoding (video_utils.encode_video_frames): SVT-AV1, CRF 30, a keyframe every 2 frames
# (for fast random access), preset 12; `video.codec` in info.json is the stream's canonical name, "av1".
VIDEO_ENCODER = "libsvtav1"
VIDEO_OPTIONS = {"g": "2", "crf": "30", "preset": "12"}


@dataclass(frozen=True)
class LeRobotVersion:
    """What LeRobot releases writing the v3.0 layout write differently (each seen in a dataset the release wrote)."""

    depth_key: str  # the video info's depth-map flag
    encoder_info: dict[str, Any]  # encoder settings the release records in the video info
    integer_extrema: bool  # min and max of integer features kept as int64 in the episode stats (else float64)
    task_index_field: str  # meta/tasks.parquet's index column: pandas' name for an unnamed index, or "task"
    task_index_type: pa.DataType


LEROBOT_VERSIONS = {
    "0.4": LeRobotVersion("video.is_depth_map", {}, True, "__index_level_0__", pa.large_string()),
    "0.6": LeRobotVersion(
        "is_depth_map",
        {
            "video.g": 2,
            "video.crf": 30,
            "video.preset": 12,
            "video.fast_decode": 0,
            "video.video_backend": "pyav",
            "video.extra_options": {},
        },
        False,
        "task",
        pa.string(),
    ),
}
DEFAULT_LEROBOT_VERSION = "0.4"


class LeRobotExportError(HumannetError, ValueError):
    """Nothing can be exported (no robot-ready clip, bad predicate, output in the way); the message says why."""


@dataclass
class ExportResult:
    out: Path
    episodes: int = 0
    frames: int = 0
    tasks: int = 0
    fps: int = 0
    robot_type: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (clip_id, reason)

    def describe(self) -> str:
        lines = [
            f"wrote {self.episodes} episode(s), {self.frames} frames at {self.fps} fps, {self.tasks} task(s), robot "
            f"{self.robot_type!r} to {self.out}"
        ]
        lines += [f"skipped {clip_id}: {reason}" for clip_id, reason in self.skipped]
        return "\n".join(lines)


@dataclass
class Episode:
    clip_id: str
    video_id: str
    task: str
    start_s: float  # in clip time
    state: np.ndarray  # (T, D) float32
    frames: np.ndarray  # (T, H, W, 3) uint8


def export_lerobot(
    corpus: Corpus,
    out: Path,
    *,
    where: str | None = None,
    fps: int | None = None,
    size: tuple[int, int] | None = None,
    min_seconds: float = 1.0,
    lerobot_version: str = DEFAULT_LEROBOT_VERSION,
) -> ExportResult:
    """Write the robot-ready segments of `corpus` (optionally filtered by a DuckDB predicate) to `out`, as LeRobot
    `lerobot_version` (a key of LEROBOT_VERSIONS) writes them."""
    if lerobot_version not in LEROBOT_VERSIONS:
        raise LeRobotExportError(f"LeRobot version {lerobot_version!r}: choose one of {', '.join(LEROBOT_VERSIONS)}")
    rows = _robot_ready_rows(corpus, where)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LeRobotExportError(f"{out}: already exists and is not empty; choose a new folder")
    writer: _DatasetWriter | None = None
    result = ExportResult(out=out)
    with atomic_output(out) as partial:  # the folder appears whole, or not at all
        try:
            for row, files in _clip_files(corpus, rows, result):
                try:
                    retarget = _load_retarget(files.get("retarget.npz"))
                    rate = fps or _native_rate(retarget["times"])
                    if writer is None:
                        writer = _DatasetWriter(partial, rate, size, retarget, LEROBOT_VERSIONS[lerobot_version])
                    episodes = list(_episodes(row, files, retarget, writer, min_seconds))
                except Exception as exc:  # one bad clip is named in the result, never stops the export
                    result.skipped.append(
                        (row["clip_id"], str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}")
                    )
                    continue
                if not episodes:
                    result.skipped.append((row["clip_id"], f"no valid stretch of at least {min_seconds:g} s"))
                for episode in episodes:
                    writer.add(episode)
            if writer is None or writer.episode_index == 0:
                reasons = "; ".join(f"{c}: {r}" for c, r in result.skipped[:5])
                raise LeRobotExportError(
                    f"{corpus.root}: none of the {len(rows)} robot-ready clip(s) gave an episode ({reasons})"
                )
            writer.finish(corpus)
        except BaseException:
            if writer is not None:
                writer.close()
            raise
    result.episodes, result.frames, result.tasks = writer.episode_index, writer.frame_index, len(writer.tasks)
    result.fps, result.robot_type = writer.fps, writer.robot_type
    return result


def _robot_ready_rows(corpus: Corpus, where: str | None) -> list[dict[str, Any]]:
    import duckdb

    if "robot_ready" not in corpus.columns("clips"):
        raise LeRobotExportError(
            f"{corpus.root}: no clip is robot-ready: the index has no robot_ready column (curate with 3D annotation "
            "and retargeting on); nothing exported"
        )
    predicate = f" AND ({where})" if where and where.strip() else ""
    try:
        table = (
            corpus.connect()
            .sql(f"SELECT * FROM clips WHERE robot_ready AND shard IS NOT NULL{predicate} ORDER BY shard, clip_id")
            .to_arrow_table()
        )
    except duckdb.Error as exc:
        raise LeRobotExportError(f"--where {where!r}: {exc}") from None
    if table.num_rows == 0:
        why = (
            f"no robot-ready clip matches {where!r}"
            if predicate
            else "no clip is robot-ready (robot_ready is false or null on every clip)"
        )
        raise LeRobotExportError(f"{corpus.root}: {why}; nothing exported")
    return table.to_pylist()


def _clip_files(corpus: Corpus, rows: list[dict[str, Any]], result: ExportResult):
    """Each row with its files (mp4, json, retarget.npz) by suffix; clips whose shard or mp4 is missing are skipped."""
    for row in rows:
        shard, clip_id = row["shard"], row["clip_id"]
        try:
            corpus.shard_members(shard, strict=True)
        except (OSError, tarfile.TarError) as exc:
            result.skipped.append((clip_id, f"shard {shard} is unreadable ({exc})"))
            continue
        suffixes = ("mp4", "json", "retarget.npz")
        found = corpus.read_members(shard, [f"{clip_id}.{suffix}" for suffix in suffixes])
        files = {suffix: found[f"{clip_id}.{suffix}"] for suffix in suffixes if f"{clip_id}.{suffix}" in found}
        if "mp4" not in files:
            result.skipped.append((clip_id, f"{clip_id}.mp4 is not in {shard}"))
            continue
        yield row, files


def _load_retarget(data: bytes | None) -> dict[str, Any]:
    if data is None:
        raise ValueError("no retarget.npz in the shard")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        missing = [name for name in RETARGET_ARRAYS if name not in npz.files]
        if missing:
            raise ValueError(f"retarget.npz lacks {', '.join(missing)}")
        loaded = {name: npz[name] for name in npz.files}
    times = np.asarray(loaded["times"], dtype=np.float64)
    count = len(times)
    for name in ("root_pos", "root_quat", "joint_pos", "valid"):
        if len(loaded[name]) != count:
            raise ValueError(f"retarget.npz: {name} has {len(loaded[name])} rows, times has {count}")
    if count < 2 or np.any(np.diff(times) <= 0):
        raise ValueError("retarget.npz: fewer than two samples or times not increasing")
    loaded["times"] = times
    loaded["model"] = str(loaded.get("model", "humanoid"))
    loaded["joint_names"] = [str(n) for n in loaded["joint_names"]]
    return loaded


def _native_rate(times: np.ndarray) -> int:
    return max(1, round((len(times) - 1) / (times[-1] - times[0])))


def state_names(joint_names: list[str]) -> list[str]:
    return ["root_x", "root_y", "root_z", "root_qw", "root_qx", "root_qy", "root_qz", *joint_names]


def resample_state(retarget: dict[str, Any], at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (T, 7 + J) state at times `at` (linear; quaternions normalised after sign alignment) and where it is
    valid."""
    times = retarget["times"]
    quat = np.asarray(retarget["root_quat"], dtype=np.float64).copy()
    for k in range(1, len(quat)):  # q and -q are the same rotation; keep neighbours on one side before interpolating
        if np.dot(quat[k], quat[k - 1]) < 0:
            quat[k] = -quat[k]
    quat_at = resample(times, quat, at).astype(np.float64)
    quat_at /= np.linalg.norm(quat_at, axis=1, keepdims=True).clip(1e-9)
    state = np.concatenate(
        [
            resample(times, np.asarray(retarget["root_pos"], np.float64), at),
            quat_at,
            resample(times, np.asarray(retarget["joint_pos"], np.float64), at),
        ],
        axis=1,
    )
    valid = np.asarray(retarget["valid"], dtype=bool)
    right = np.clip(np.searchsorted(times, at, side="right"), 1, len(times) - 1)
    left = right - 1
    weight = (at - times[left]) / (times[right] - times[left])
    ok = np.where(weight <= 0, valid[left], np.where(weight >= 1, valid[right], valid[left] & valid[right]))
    ok &= np.isfinite(state).all(axis=1)
    return state.astype(np.float32), ok


def _episodes(
    row: dict[str, Any], files: dict[str, bytes], retarget: dict[str, Any], writer: _DatasetWriter, min_seconds: float
):
    if retarget["joint_names"] != writer.joint_names:
        raise ValueError(
            f"robot {retarget['model']!r} with {len(retarget['joint_names'])} joints differs from the dataset's "
            f"{writer.robot_type!r}"
        )
    times = retarget["times"]
    at = times[0] + np.arange(int(math.floor((times[-1] - times[0]) * writer.fps + 1e-6)) + 1) / writer.fps
    state, ok = resample_state(retarget, at)
    shortest = max(2, math.ceil(min_seconds * writer.fps))
    runs = _runs(ok, shortest)
    if not runs:
        return
    frames, _ = decode_frames(files["mp4"], writer.fps, writer.size or None)
    if writer.size is None:
        writer.size = (frames.shape[2], frames.shape[1])
    clip_json = json.loads(files.get("json") or b"{}")
    task = _task(row, clip_json)
    for start, stop in runs:
        index = np.clip(np.round(at[start:stop] * writer.fps).astype(int), 0, len(frames) - 1)
        yield Episode(row["clip_id"], row["video_id"], task, float(at[start]), state[start:stop], frames[index])


def _runs(ok: np.ndarray, shortest: int) -> list[tuple[int, int]]:
    """[start, stop) of each run of True at least `shortest` long."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= shortest]


def _task(row: dict[str, Any], clip_json: dict[str, Any]) -> str:
    """The caption, else a phrase from the labels: 'a person: manipulation (exo view)'."""
    caption = row.get("caption_short")
    stored = clip_json.get("caption")
    if not caption and isinstance(stored, dict):
        caption = stored.get("short")
    if caption:
        return str(caption)
    activity = row.get("activity_class")
    motions = row.get("motion_categories") or []
    what = activity.replace(":", " ") if activity else (" and ".join(motions) if motions else "moving")
    viewpoint = row.get("viewpoint")
    return f"a person: {what}" + (f" ({viewpoint} view)" if viewpoint and viewpoint != "unknown" else "")


class _DatasetWriter:
    """Appends episodes to the data Parquet and video files, keeping the episode metadata and stats."""

    def __init__(
        self, root: Path, fps: int, size: tuple[int, int] | None, first: dict[str, Any], version: LeRobotVersion
    ) -> None:
        self.root, self.fps, self.size, self.version = root, int(fps), size, version
        self.joint_names: list[str] = first["joint_names"]
        self.robot_type: str = first["model"]
        self.names = state_names(self.joint_names)
        self.tasks: dict[str, int] = {}
        self.episodes: list[dict[str, Any]] = []
        self.sources: list[dict[str, Any]] = []
        self.episode_index = 0
        self.frame_index = 0
        self.data = _RollingFiles(root, DATA_PATH, DATA_FILE_MB)
        self.video = _RollingFiles(root, VIDEO_PATH.replace("{video_key}", VIDEO_KEY), VIDEO_FILE_MB)
        self._rows: list[pa.Table] = []
        self._rows_bytes = 0
        self._encoder: _VideoFile | None = None
        self._all_state: list[np.ndarray] = []
        self._pixels: list[np.ndarray] = []

    def add(self, episode: Episode) -> None:
        length = len(episode.state)
        task_index = self.tasks.setdefault(episode.task, len(self.tasks))
        action = np.concatenate([episode.state[1:], episode.state[-1:]], axis=0)
        frame_index = np.arange(length, dtype=np.int64)
        columns = {
            "observation.state": episode.state,
            "action": action,
            "timestamp": (frame_index / self.fps).astype(np.float32),
            "frame_index": frame_index,
            "episode_index": np.full(length, self.episode_index, dtype=np.int64),
            "index": np.arange(self.frame_index, self.frame_index + length, dtype=np.int64),
            "task_index": np.full(length, task_index, dtype=np.int64),
        }
        if self._rows_bytes and self._rows_bytes + columns["observation.state"].nbytes * 2 > DATA_FILE_MB * 1024 * 1024:
            self._flush_data()
            self.data.next()
        data_file = self.data.current
        table = pa.table({name: _column(values) for name, values in columns.items()})
        self._rows.append(table)
        self._rows_bytes += table.nbytes
        video_span = self._write_video(episode.frames)
        stats = {name: _stats(values, self.version.integer_extrema) for name, values in columns.items()}
        sampled = _sample_pixels(episode.frames)
        stats[VIDEO_KEY] = _image_stats(sampled)
        self._pixels.append(sampled)
        self._all_state.append(np.concatenate([episode.state, action], axis=1))
        self.episodes.append(
            {
                "episode_index": self.episode_index,
                "tasks": [episode.task],
                "length": length,
                "data/chunk_index": data_file[0],
                "data/file_index": data_file[1],
                "dataset_from_index": self.frame_index,
                "dataset_to_index": self.frame_index + length,
                **video_span,
                "meta/episodes/chunk_index": 0,
                "meta/episodes/file_index": 0,
                **{
                    f"stats/{feature}/{name}": value
                    for feature, values in stats.items()
                    for name, value in values.items()
                },
            }
        )
        self.sources.append(
            {
                "episode_index": self.episode_index,
                "clip_id": episode.clip_id,
                "video_id": episode.video_id,
                "clip_start_s": episode.start_s,
                "length": length,
            }
        )
        self.episode_index += 1
        self.frame_index += length

    def _write_video(self, frames: np.ndarray) -> dict[str, Any]:
        if self._encoder is not None and self._encoder.bytes > VIDEO_FILE_MB * 1024 * 1024:
            self._encoder.close()
            self._encoder = None
            self.video.next()
        if self._encoder is None:
            self._encoder = _VideoFile(self.root / self.video.path, self.fps, frames.shape[2], frames.shape[1])
        start = self._encoder.frames / self.fps
        for frame in frames:
            self._encoder.write(frame)
        chunk, file = self.video.current
        prefix = f"videos/{VIDEO_KEY}"
        return {
            f"{prefix}/chunk_index": chunk,
            f"{prefix}/file_index": file,
            f"{prefix}/from_timestamp": start,
            f"{prefix}/to_timestamp": self._encoder.frames / self.fps,
        }

    def _flush_data(self) -> None:
        if self._rows:
            path = self.root / self.data.path
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.concat_tables(self._rows), path, compression="snappy")
        self._rows, self._rows_bytes = [], 0

    def close(self) -> None:
        if self._encoder is not None:
            self._encoder.close()
            self._encoder = None

    def finish(self, corpus: Corpus) -> None:
        self._flush_data()
        self.close()
        meta = self.root / "meta"
        episodes_path = self.root / EPISODES_PATH.format(chunk_index=0, file_index=0)
        episodes_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(self.episodes), episodes_path, compression="snappy")
        _write_tasks(meta / "tasks.parquet", self.tasks, self.version)
        (meta / "stats.json").write_text(json.dumps(self._global_stats(), indent=2))
        video_path = self.root / VIDEO_PATH.format(video_key=VIDEO_KEY, chunk_index=0, file_index=0)
        video_info = _video_info(video_path, self.version)
        width, height = video_info["video.width"], video_info["video.height"]
        state_feature = {"dtype": "float32", "shape": [len(self.names)], "names": self.names}
        info = {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": self.robot_type,
            "total_episodes": self.episode_index,
            "total_frames": self.frame_index,
            "total_tasks": len(self.tasks),
            "chunks_size": CHUNKS_SIZE,
            "data_files_size_in_mb": DATA_FILE_MB,
            "video_files_size_in_mb": VIDEO_FILE_MB,
            "fps": self.fps,
            "splits": {"train": f"0:{self.episode_index}"},
            "data_path": DATA_PATH,
            "video_path": VIDEO_PATH,
            "features": {
                "observation.state": state_feature,
                "action": dict(state_feature),
                VIDEO_KEY: {
                    "dtype": "video",
                    "shape": [height, width, 3],
                    "names": ["height", "width", "channels"],
                    "info": video_info,
                },
                **INDEX_FEATURES,
            },
        }
        (meta / "info.json").write_text(json.dumps(info, indent=4))
        provenance = {
            "source_corpus": str(corpus.root.resolve()),
            "state": (
                "root position (m), root orientation quaternion (w, x, y, z), joint positions (rad) of the retargeted "
                "humanoid"
            ),
            "action": "the next frame's state; the last frame of an episode holds its own state",
            "episodes": self.sources,
        }
        (meta / "humannet.json").write_text(json.dumps(provenance, indent=2))

    def _global_stats(self) -> dict[str, Any]:
        both = np.concatenate(self._all_state)
        dims = len(self.names)
        index_columns = {
            "timestamp": np.concatenate([np.arange(e["length"]) / self.fps for e in self.episodes]).astype(np.float32),
            "frame_index": np.concatenate([np.arange(e["length"]) for e in self.episodes]),
            "episode_index": np.concatenate([np.full(e["length"], e["episode_index"]) for e in self.episodes]),
            "index": np.arange(self.frame_index),
            "task_index": np.concatenate([np.full(e["length"], self.tasks[e["tasks"][0]]) for e in self.episodes]),
        }
        stats = {"observation.state": _stats(both[:, :dims]), "action": _stats(both[:, dims:])}
        integers = self.version.integer_extrema
        stats.update({name: _stats(values, integers) for name, values in index_columns.items()})
        stats[VIDEO_KEY] = _image_stats(np.concatenate(self._pixels))
        return stats


class _RollingFiles:
    """chunk-CCC/file-FFF numbering: the next file, and the next chunk after CHUNKS_SIZE files."""

    def __init__(self, root: Path, template: str, limit_mb: int) -> None:
        self.root, self.template, self.limit_mb = root, template, limit_mb
        self.current = (0, 0)

    @property
    def path(self) -> str:
        return self.template.format(chunk_index=self.current[0], file_index=self.current[1])

    def next(self) -> None:
        chunk, file = self.current
        self.current = (chunk + 1, 0) if file == CHUNKS_SIZE - 1 else (chunk, file + 1)


class _VideoFile:
    """MP4 written frame by frame at a constant rate, encoded with LeRobot's default settings."""

    def __init__(self, path: Path, fps: int, width: int, height: int) -> None:
        import av

        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its whole configuration to stderr unless told not to
        path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(path), "w", format="mp4")
        self.stream = self.container.add_stream(VIDEO_ENCODER, rate=Fraction(fps, 1), options=VIDEO_OPTIONS)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.stream.codec_context.time_base = Fraction(1, fps)
        self.fps = fps
        self.frames = 0
        self.bytes = 0

    def write(self, rgb: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames
        frame.time_base = Fraction(1, self.fps)
        for packet in self.stream.encode(frame):
            self.bytes += packet.size
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()


def _column(values: np.ndarray) -> pa.Array:
    """Vectors as fixed-size lists (what `datasets` writes for a feature of shape (n,)), scalars as plain columns."""
    if values.ndim == 2:
        return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1).astype(np.float32)), values.shape[1])
    return pa.array(values)


def _stats(values: np.ndarray, integer_extrema: bool = False) -> dict[str, Any]:
    """LeRobot's per-feature statistics (compute_stats.get_feature_stats): over frames, per dimension; with
    `integer_extrema`, min and max of an integer feature stay integers."""
    extrema = np.asarray(values)
    if not (integer_extrema and np.issubdtype(extrema.dtype, np.integer)):
        extrema = extrema.astype(np.float64)
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array, extrema = array[:, None], extrema[:, None]
    stats = {
        "min": extrema.min(axis=0).tolist(),
        "max": extrema.max(axis=0).tolist(),
        "mean": array.mean(axis=0).tolist(),
        "std": array.std(axis=0).tolist(),
        "count": [len(array)],
    }
    for q in QUANTILES:
        stats[f"q{round(q * 100):02d}"] = np.quantile(array, q, axis=0).tolist()
    return stats


def _sample_pixels(frames: np.ndarray, most_frames: int = 16, most_pixels: int = 4096) -> np.ndarray:
    """Up to `most_frames` frames evenly spread, each thinned to about `most_pixels` pixels, in [0, 1]: enough for
    per-channel statistics."""
    chosen = frames[np.linspace(0, len(frames) - 1, min(most_frames, len(frames))).round().astype(int)]
    stride = max(1, int(math.sqrt(chosen.shape[1] * chosen.shape[2] / most_pixels)))
    return chosen[:, ::stride, ::stride].astype(np.float32) / 255.0


def _image_stats(pixels: np.ndarray) -> dict[str, Any]:
    """Per-channel statistics shaped (3, 1, 1), as LeRobot stores them for video features."""
    flat = pixels.reshape(-1, 3)
    per_channel = _stats(flat)
    return {name: ([[[v]] for v in value] if name != "count" else [len(pixels)]) for name, value in per_channel.items()}


def _video_info(path: Path, version: LeRobotVersion) -> dict[str, Any]:
    """The feature's `info` as LeRobot's `get_video_info` builds it from the first video file, keys in its order."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        probed = {
            "video.height": stream.height,
            "video.width": stream.width,
            "video.codec": stream.codec.canonical_name,
            "video.pix_fmt": stream.pix_fmt,
        }
        rate = int(stream.base_rate or stream.average_rate)
    depth = {version.depth_key: False}
    if version.depth_key.startswith("video."):  # 0.4: the flag right after the pixel format
        return {**probed, **depth, "video.fps": rate, "video.channels": 3, "has_audio": False}
    return {**probed, "video.fps": rate, "video.channels": 3, "has_audio": False, **version.encoder_info, **depth}


def _write_tasks(path: Path, tasks: dict[str, int], version: LeRobotVersion) -> None:
    """meta/tasks.parquet as LeRobot writes it with pandas: `task_index` column, the task text as the index (named
    `task` from 0.5 on; 0.4 leaves it unnamed, so pandas stores it as `__index_level_0__`)."""
    names = list(tasks)
    index = version.task_index_field
    pandas_meta = {
        "index_columns": [index],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": None if index.startswith("__") else index,
                "field_name": index,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "attributes": {},
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.0",
    }
    table = pa.table(
        {"task_index": pa.array([tasks[n] for n in names], pa.int64()), index: pa.array(names, version.task_index_type)}
    )
    table = table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
