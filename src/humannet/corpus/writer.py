"""Write the corpus: Parquet index files and WebDataset tar shards.

The index is rewritten whole from the ledger at the end of each run, sorted, so the same
finished work always gives byte-for-byte the same rows. Every file appears by rename, so a
reader never sees a partial Parquet file or tar.

This is the one shard writer: `curate` packs staged clips, `export subset` and `release` copy
clips out of another corpus, all through `pack_shards` (rollover by clip count and size) and
`write_shard` (member order, tar headers, atomic rename).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

from humannet.corpus.card import write_card
from humannet.records import Clip, Status, Video
from humannet.storage import atomic_output, write_parquet

T = TypeVar("T")

VIDEO_SCHEMA = pa.schema(
    [
        ("video_id", pa.string()),
        ("uri", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("duration_s", pa.float64()),
        ("fps", pa.float64()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("codec", pa.string()),
        ("duplicate_of", pa.string()),
        ("sha256", pa.string()),
        ("container", pa.string()),
        ("audio_codec", pa.string()),
        ("fps_variable", pa.bool_()),
        ("rotation", pa.int32()),
        ("size_bytes", pa.int64()),
        ("bit_rate", pa.int64()),
        ("frames_decoded", pa.int64()),
        ("decode_errors", pa.int64()),
        ("cut_times", pa.list_(pa.float64())),
        ("cut_kinds", pa.list_(pa.string())),  # per cut: hard, dissolve or fade
        ("cut_spans", pa.list_(pa.struct([("start_s", pa.float64()), ("end_s", pa.float64())]))),
        ("scenes", pa.int32()),
        ("clips_kept", pa.int32()),
        ("clips_dropped", pa.int32()),
        ("license", pa.string()),
        ("title", pa.string()),
        ("source", pa.string()),
        ("license_spdx", pa.string()),
        ("source_url", pa.string()),  # collection sidecar (docs/collection.md): the page the video came from
        ("channel", pa.string()),
        ("upload_date", pa.string()),
        ("language", pa.string()),
        # the review stages that ran on the video, each with its `version:settings-hash` (`Video.stamps`)
        ("review_stamps", pa.list_(pa.struct([("stage", pa.string()), ("stamp", pa.string())]))),
    ]
)

CLIP_BASE_FIELDS = [
    ("clip_id", pa.string()),
    ("video_id", pa.string()),
    ("start_s", pa.float64()),
    ("end_s", pa.float64()),
    ("duration_s", pa.float64()),
    ("start_frame", pa.int64()),
    ("end_frame", pa.int64()),
    ("scene_index", pa.int32()),
    ("shard", pa.string()),
]

# the keypoint-track counts in a clip's JSON `pose` (annotate/pose_tracks.py) -> the index columns that carry them,
# so statistics need not read every clip's JSON out of the shards
TRACK_COUNT_COLUMNS = {
    "pose_frames": "track_frames",
    "body_frames": "track_body_frames",
    "hand_frames": "track_hand_frames",
    "two_hand_frames": "track_two_hand_frames",
}

ERROR_SCHEMA = pa.schema(
    [
        ("uri", pa.string()),
        ("video_id", pa.string()),
        ("stage", pa.string()),
        ("type", pa.string()),
        ("message", pa.string()),
    ]
)


def video_row(video: Video) -> dict[str, Any]:
    probe = video.probe
    return {
        "video_id": video.video_id,
        "uri": video.uri,
        "status": video.status.value,
        "reason": video.reason,
        "duration_s": probe.duration_s if probe else None,
        "fps": probe.fps if probe else None,
        "width": probe.display_size[0] if probe else None,
        "height": probe.display_size[1] if probe else None,
        "codec": probe.video_codec if probe else None,
        "duplicate_of": video.duplicate_of,
        "sha256": video.sha256,
        "container": probe.container if probe else None,
        "audio_codec": probe.audio_codec if probe else None,
        "fps_variable": probe.fps_variable if probe else None,
        "rotation": probe.rotation if probe else None,
        "size_bytes": probe.size_bytes if probe else None,
        "bit_rate": probe.bit_rate if probe else None,
        "frames_decoded": video.frames_decoded,
        "decode_errors": video.decode_errors,
        "cut_times": [cut.time_s for cut in video.cuts],
        "cut_kinds": [cut.kind for cut in video.cuts],
        "cut_spans": [{"start_s": cut.start_s, "end_s": cut.end_s} for cut in video.cuts],
        "scenes": len(video.scenes),
        "clips_kept": len(video.kept_clips) if video.status is Status.KEPT else 0,
        "clips_dropped": sum(1 for c in video.clips if c.status is not Status.KEPT),
        "license": _as_text(video.meta.get("license")),
        "title": _as_text(video.meta.get("title")),
        "source": _as_text(video.meta.get("source")),
        "license_spdx": video.meta.get("license_spdx"),
        "source_url": _as_text(video.meta.get("url")),
        "channel": _as_text(video.meta.get("channel")),
        "upload_date": _as_text(video.meta.get("upload_date")),
        "language": _as_text(video.meta.get("language")),
        "review_stamps": [{"stage": stage, "stamp": stamp} for stage, stamp in sorted(video.stamps.items())],
    }


def _as_text(value: Any) -> str | None:
    """Sidecar metadata can hold any JSON value where text is expected; keep it, as JSON, rather than fail the index."""
    return value if value is None or isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def clip_table(clips: list[Clip], with_reason: bool) -> pa.Table:
    score_names = sorted({name for clip in clips for name in clip.scores})
    label_types = {}
    for clip in clips:
        for name, value in clip.labels.items():
            label_types.setdefault(
                name,
                pa.list_(pa.string())
                if isinstance(value, list)
                else pa.bool_()
                if isinstance(value, bool)
                else pa.string(),
            )
    fields = list(CLIP_BASE_FIELDS) + [(name, pa.float64()) for name in score_names]
    fields += [(name, label_types[name]) for name in sorted(label_types)]
    if with_reason:
        fields.append(("reason", pa.string()))
    rows = []
    for clip in sorted(clips, key=lambda c: c.clip_id):
        row: dict[str, Any] = {
            "clip_id": clip.clip_id,
            "video_id": clip.video_id,
            "start_s": clip.start_s,
            "end_s": clip.end_s,
            "duration_s": clip.duration_s,
            "start_frame": clip.start_frame,
            "end_frame": clip.end_frame,
            "scene_index": clip.scene_index,
            "shard": clip.shard,
        }
        row.update({name: clip.scores.get(name) for name in score_names})
        row.update({name: clip.labels.get(name) for name in label_types})
        if with_reason:
            row["reason"] = clip.reason
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


def write_index(corpus_dir: Path, videos: list[Video]) -> None:
    """videos.parquet, clips/part-00000.parquet, dropped_clips.parquet, errors.parquet, and the dataset card."""
    ordered = sorted(videos, key=lambda v: v.uri)
    write_parquet(
        corpus_dir / "videos.parquet", pa.Table.from_pylist([video_row(v) for v in ordered], schema=VIDEO_SCHEMA)
    )
    kept = [c for v in ordered if v.status is Status.KEPT for c in v.kept_clips]
    dropped = [c for v in ordered for c in v.clips if c.status is not Status.KEPT or v.status is not Status.KEPT]
    write_parquet(corpus_dir / "clips" / "part-00000.parquet", clip_table(kept, with_reason=False))
    write_parquet(corpus_dir / "dropped_clips.parquet", clip_table(dropped, with_reason=True))
    errors = [
        {"uri": v.uri, "video_id": v.video_id, "stage": e.stage, "type": e.type, "message": e.message}
        for v in ordered
        for e in v.errors
    ]
    write_parquet(corpus_dir / "errors.parquet", pa.Table.from_pylist(errors, schema=ERROR_SCHEMA))
    write_card(corpus_dir)


def track_count_scores(clip_json: dict[str, Any]) -> dict[str, float]:
    """A clip's keypoint-track counts (its JSON `pose`) as index scores; {} for a clip without tracks."""
    pose = clip_json.get("pose")
    if not isinstance(pose, dict):
        return {}
    return {column: float(pose.get(key) or 0) for key, column in TRACK_COUNT_COLUMNS.items()}


def clip_metadata(clip: Clip, video: Video) -> dict[str, Any]:
    """The `{clip_id}.json` stored next to each clip in a shard: enough to train without the index."""
    return {
        "clip_id": clip.clip_id,
        "video_id": clip.video_id,
        "source_uri": video.uri,
        "start_s": clip.start_s,
        "end_s": clip.end_s,
        "start_frame": clip.start_frame,
        "end_frame": clip.end_frame,
        "scene_index": clip.scene_index,
        "scores": dict(sorted(clip.scores.items())),
        "labels": dict(sorted(clip.labels.items())),
        # always text, "" when unknown: every clip's JSON has one schema (WebDataset readers infer it from a few clips)
        **{key: _as_text(video.meta.get(key)) or "" for key in ("license", "title", "source", "license_spdx")},
        **clip.details,  # review findings: kinds, boxes and times, never the matched text
    }


def shard_name(number: int) -> str:
    """Where shard `number` lies in a corpus."""
    return f"shards/shard-{number:06d}.tar"


def pack_shards(clips: Sequence[T], size: Callable[[T], float], max_clips: int, max_bytes: float) -> list[list[T]]:
    """The clips, in their order, cut into shards of at most `max_clips`; a shard is closed once its clips'
    `size` reaches `max_bytes` (checked before each clip, so the clip that crosses the limit stays in)."""
    groups: list[list[T]] = []
    total = 0.0
    for clip in clips:
        if not groups or len(groups[-1]) >= max_clips or total >= max_bytes:
            groups.append([])
            total = 0.0
        groups[-1].append(clip)
        total += size(clip)
    return groups


def write_shard(path: Path, clips: Iterable[tuple[str, dict[str, bytes]]]) -> None:
    """A WebDataset tar of `(clip_id, {member name: bytes})` in the order given: per clip `{clip_id}.mp4`,
    `{clip_id}.json`, then its other files in name order.

    Every member gets a fixed owner, mode and mtime, so the same clips give the same bytes on every run;
    the tar appears by rename once it is whole and on disk. `clips` may be a generator: each clip's
    files are read only when it is written.
    """
    with atomic_output(path) as temp, tarfile.open(temp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for clip_id, files in clips:
            first = [name for name in (f"{clip_id}.mp4", f"{clip_id}.json") if name in files]
            for name in first + sorted(set(files) - set(first)):
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(files[name]), 0, 0o644
                tar.addfile(info, io.BytesIO(files[name]))


def staged_clip_files(clip: Clip, video: Video, media: Path) -> dict[str, bytes]:
    """The shard members of a clip staged by materialisation: its mp4, its JSON (`clip_metadata` with the
    staged `{clip_id}.meta.json` of what materialisation and annotators measured merged in), and its side
    files (`{clip_id}.pose.npz`, annotators' files)."""
    metadata = clip_metadata(clip, video)
    staged_meta = media.with_name(f"{clip.clip_id}.meta.json")
    if staged_meta.exists():
        extra = json.loads(staged_meta.read_text())
        extra.pop("index", None)  # already in the clip's scores and labels
        metadata.update(extra)
    files = {
        f"{clip.clip_id}.mp4": media.read_bytes(),
        f"{clip.clip_id}.json": json.dumps(metadata, sort_keys=True).encode(),
    }
    for staged in media.parent.glob(f"{clip.clip_id}.*"):
        if staged.name not in (media.name, staged_meta.name) and not staged.name.startswith("."):
            files[staged.name] = staged.read_bytes()
    return files
