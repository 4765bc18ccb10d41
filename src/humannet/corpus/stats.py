"""`humannet stats`: what a corpus holds, how it is spread over labels, and where input was lost.

Everything is computed from the index with DuckDB, so a corpus on object storage is counted
without reading its shards. Only a corpus indexed before the keypoint-track columns existed
(`track_frames`, ...) has its track counts read from the clip JSONs in the shards; a shard that
cannot be read then stops the count with an error rather than lowering it. Annotation columns
arrive with later stages (3D pose, retargeting, captions, taxonomy); a corpus without them is
reported with those sections listed under `absent`, never an error.
"""

from __future__ import annotations

import json
import math
import tarfile
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from humannet.corpus.reader import Corpus, CorpusReadError
from humannet.corpus.writer import TRACK_COUNT_COLUMNS

# label columns reported when present, besides taxonomy_*
LABEL_COLUMNS = (
    "viewpoint",
    "motion_categories",
    "activity_class",
)
TAXONOMY_PREFIX = "taxonomy_"
ENVIRONMENT_AXIS = "environment"  # the taxonomy axis that says where a clip was filmed
INDEX_FRAME_COLUMNS = {
    "pose_frames": "body detector samples at the analysis rate (index column pose_frames)",
    "hand_frames": "frames with a hand (index column hand_frames)",
    "pose3d_frames": "frames with a 3D body pose (index column pose3d_frames)",
    "hand3d_frames": "frames with 3D hands (index column hand3d_frames)",
}
TRACK_WHAT = {  # the `pose` counts of the clip JSON (keypoint tracks), reported as `tracks.<key>`
    "pose_frames": "frames sampled by keypoint tracking",
    "body_frames": "tracked frames with a body pose",
    "hand_frames": "tracked frames with at least one hand",
    "two_hand_frames": "tracked frames with both hands",
}
NO_LABEL = "(none)"


@dataclass
class CorpusStats:
    corpus: str
    format_version: int
    videos: dict[str, int]  # inputs, kept, dropped, failed
    hours_in: float  # every input's duration
    hours_out: float  # kept clips
    clips: int
    clips_dropped: int
    scenes: dict[str, int]  # detected (all analysed videos), with_clips (scenes holding a kept clip)
    annotated_frames: dict[str, dict[str, Any]]  # name -> {frames, clips, what}
    robot_ready: dict[str, Any] | None  # segments, hours; None without a robot_ready column
    labels: dict[str, dict[str, dict[str, float]]]  # column -> label -> {clips, hours, fraction}
    environment: dict[str, Any] | None  # axis, leaf categories covered/total, normalised entropy
    funnel: dict[str, Any]
    absent: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def compute_stats(corpus: Corpus) -> CorpusStats:
    con = corpus.connect()
    clip_columns = set(corpus.columns("clips"))
    absent: list[str] = []

    videos = dict(con.sql("SELECT status, count(*) FROM videos GROUP BY 1").fetchall())
    video_counts = {
        "inputs": sum(videos.values()),
        **{status: videos.get(status, 0) for status in ("kept", "dropped", "failed")},
    }
    hours_in = _scalar(con, "SELECT coalesce(sum(duration_s), 0) / 3600 FROM videos")
    clips, hours_out = con.sql("SELECT count(*), coalesce(sum(duration_s), 0) / 3600 FROM clips").fetchall()[0]
    clips_dropped = int(_scalar(con, "SELECT count(*) FROM dropped_clips")) if "dropped_clips" in corpus.tables else 0
    scenes = {
        "detected": int(_scalar(con, "SELECT coalesce(sum(scenes), 0) FROM videos")),
        "with_clips": int(_scalar(con, "SELECT count(*) FROM (SELECT DISTINCT video_id, scene_index FROM clips)")),
    }

    annotated = {}
    for column, what in INDEX_FRAME_COLUMNS.items():
        if column in clip_columns:
            frames, with_any = con.sql(
                f'SELECT coalesce(sum("{column}"), 0), count(*) FILTER (WHERE "{column}" > 0) FROM clips'
            ).fetchall()[0]
            annotated[f"index.{column}"] = {"frames": int(frames), "clips": int(with_any), "what": what}
        else:
            absent.append(f"clips.{column}")
    tracks = _keypoint_track_counts(corpus, con, clip_columns)
    if tracks:
        annotated.update(tracks)
    else:
        absent.append("keypoint tracks (clip JSON `pose`)")

    robot_ready = None
    if "robot_ready" in clip_columns:
        segments, hours = con.sql(
            "SELECT count(*), coalesce(sum(duration_s), 0) / 3600 FROM clips WHERE robot_ready"
        ).fetchall()[0]
        robot_ready = {"segments": int(segments), "hours": hours}
    else:
        absent.append("clips.robot_ready")

    labels = {}
    list_columns = _list_columns(corpus)
    for column in [c for c in LABEL_COLUMNS if c in clip_columns] + sorted(
        c for c in clip_columns if c.startswith(TAXONOMY_PREFIX)
    ):
        labels[column] = _distribution(con, column, column in list_columns, int(clips))
    absent += [f"clips.{c}" for c in LABEL_COLUMNS if c not in clip_columns]
    if not any(c.startswith(TAXONOMY_PREFIX) for c in clip_columns):
        absent.append("clips.taxonomy_<axis>")

    environment = environment_diversity(con, clip_columns)
    if environment is None:
        absent.append("environment axis (clips.taxonomy_environment)")

    return CorpusStats(
        corpus=corpus.location,
        format_version=corpus.format_version,
        videos=video_counts,
        hours_in=hours_in,
        hours_out=hours_out,
        clips=int(clips),
        clips_dropped=clips_dropped,
        scenes=scenes,
        annotated_frames=annotated,
        robot_ready=robot_ready,
        labels=labels,
        environment=environment,
        funnel=funnel(corpus, con),
        absent=absent,
    )


def funnel(corpus: Corpus, con) -> dict[str, Any]:
    """Where input was lost, per stage: whole videos (failed, dropped), then spans inside kept videos.

    A reason's key is the text before its first ':' (`screen`, `near_duplicate`, `blur`, `probe`, ...);
    a span that failed several filters counts under the first one (the primary reason).
    """
    hours = "coalesce(sum(duration_s), 0) / 3600"
    video_steps = {"inputs": _count_hours(con, f"SELECT count(*), {hours} FROM videos")}
    for status in ("failed", "dropped"):
        rows = con.sql(
            f"SELECT {_reason_key('reason')} AS key, count(*), {hours} FROM videos WHERE status = '{status}' GROUP BY "
            "1 ORDER BY 2 DESC, 1"
        ).fetchall()
        video_steps[status] = {key: {"count": int(n), "hours": h} for key, n, h in rows}
    video_steps["kept"] = _count_hours(con, f"SELECT count(*), {hours} FROM videos WHERE status = 'kept'")

    kept_videos = "video_id IN (SELECT video_id FROM videos WHERE status = 'kept')"
    dropped_rows: list[tuple] = []
    in_dropped_videos = {"count": 0, "hours": 0.0}
    if "dropped_clips" in corpus.tables:
        dropped_rows = con.sql(
            f"SELECT {_reason_key('reason')} AS key, count(*), {hours} FROM dropped_clips WHERE {kept_videos} GROUP "
            "BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        in_dropped_videos = _count_hours(
            con, f"SELECT count(*), {hours} FROM dropped_clips WHERE NOT {kept_videos} OR video_id IS NULL"
        )
    kept = _count_hours(con, f"SELECT count(*), {hours} FROM clips")
    dropped = {key: {"count": int(n), "hours": h} for key, n, h in dropped_rows}
    candidates = {
        "count": kept["count"] + sum(d["count"] for d in dropped.values()),
        "hours": kept["hours"] + sum(d["hours"] for d in dropped.values()),
    }
    return {
        "videos": video_steps,
        "clips": {
            "candidates_in_kept_videos": candidates,
            "dropped": dropped,
            "kept": kept,
            "spans_of_dropped_videos": in_dropped_videos,
        },
    }


def _reason_key(column: str) -> str:
    return f"coalesce(nullif(trim(split_part({column}, ':', 1)), ''), 'unknown')"


def _count_hours(con, sql: str) -> dict[str, Any]:
    count, hours = con.sql(sql).fetchall()[0]
    return {"count": int(count), "hours": hours}


def _scalar(con, sql: str) -> Any:
    return con.sql(sql).fetchall()[0][0]


def _list_columns(corpus: Corpus) -> set[str]:
    import pyarrow as pa

    schema = corpus.schema("clips")
    return {f.name for f in schema if pa.types.is_list(f.type) or pa.types.is_large_list(f.type)}


def _distribution(con, column: str, is_list: bool, total_clips: int) -> dict[str, dict[str, float]]:
    """Clips and hours per label; a clip with several labels counts under each, one with none under `(none)`."""
    if is_list:
        sql = (
            f"""
            SELECT coalesce(label, '{NO_LABEL}'), count(*), coalesce(sum(duration_s), 0) / 3600 FROM (
                SELECT unnest(CASE WHEN len(coalesce("{column}", [])) = 0 THEN [NULL] ELSE "{column}" END) """
            """AS label, duration_s FROM clips
            ) GROUP BY 1 ORDER BY 2 DESC, 1"""
        )
    else:
        sql = (
            f"""SELECT coalesce(nullif(CAST("{column}" AS VARCHAR), ''), '{NO_LABEL}'), count(*), """
            """coalesce(sum(duration_s), 0) / 3600
                  FROM clips GROUP BY 1 ORDER BY 2 DESC, 1"""
        )
    return {
        label: {"clips": int(n), "hours": h, "fraction": n / total_clips if total_clips else 0.0}
        for label, n, h in con.sql(sql).fetchall()
    }


def environment_diversity(con, clip_columns: set[str]) -> dict[str, Any] | None:
    """Leaf categories covered on the environment axis, and how evenly clips spread over them.

    A clip's `taxonomy_environment` holds its label and every ancestor (`indoor`, `home`,
    `kitchen`); only its most specific labels count, split evenly when there are several.
    Normalised entropy is the Shannon entropy of that spread divided by log(number of leaf
    categories in the taxonomy): 1 means clips spread evenly over every environment the
    taxonomy knows, 0 means one environment only. Without the taxonomy the divisor is the
    number of categories in use.
    """
    column = f"{TAXONOMY_PREFIX}{ENVIRONMENT_AXIS}"
    if column not in clip_columns:
        return None
    parents = taxonomy_parents(ENVIRONMENT_AXIS)
    leaves = {label for label in parents if label not in set(parents.values())}
    weights, labelled = most_specific_shares(con, column, parents)
    total = sum(weights.values())
    entropy = -sum(w / total * math.log(w / total) for w in weights.values() if w) if total else 0.0
    categories = len(leaves) if leaves else len(weights)
    return {
        "axis": column,
        "clips_labelled": labelled,
        "leaf_categories_covered": len([label for label in weights if label in leaves]) if leaves else len(weights),
        "leaf_categories_total": len(leaves) if leaves else None,
        "categories_in_use": len(weights),
        "entropy_nats": entropy,
        "normalised_entropy": entropy / math.log(categories) if categories > 1 else 0.0,
    }


def most_specific_shares(con, column: str, parents: dict[str, str | None]) -> tuple[dict[str, float], int]:
    """Clips per most specific label of a taxonomy column (ancestors removed, a clip split evenly over several), and how
    many clips had one."""
    weights: dict[str, float] = {}
    labelled = 0
    for (labels,) in con.sql(f'SELECT "{column}" FROM clips').fetchall():
        labels = [labels] if isinstance(labels, str) else list(labels or [])
        ancestors = {parents.get(label) for label in labels}
        specific = [label for label in labels if label not in ancestors]
        labelled += bool(specific)
        for label in specific:
            weights[label] = weights.get(label, 0.0) + 1 / len(specific)
    return weights, labelled


def taxonomy_parents(axis: str) -> dict[str, str | None]:
    """Label -> parent on one axis of the shipped taxonomy; empty when the taxonomy is not available."""
    try:
        from humannet.captions.taxonomy import TaxonomyError, load_taxonomy
    except ImportError:
        return {}
    try:
        taxonomy = load_taxonomy()
    except (TaxonomyError, OSError):
        return {}
    if axis not in taxonomy.axes:
        return {}
    return {name: label.parent for name, label in taxonomy.axis(axis).labels.items()}


def _keypoint_track_counts(corpus: Corpus, con, clip_columns: set[str]) -> dict[str, dict[str, Any]]:
    """Sums of the keypoint-track counts over the indexed clips, and how many clips have each; {} without tracks."""
    if set(TRACK_COUNT_COLUMNS.values()) <= clip_columns:
        sums = ", ".join(
            f'coalesce(sum("{c}"), 0), count(*) FILTER (WHERE "{c}" > 0)' for c in TRACK_COUNT_COLUMNS.values()
        )
        tracked, *values = con.sql(
            f'SELECT count("{TRACK_COUNT_COLUMNS["pose_frames"]}"), {sums} FROM clips'
        ).fetchall()[0]
        counts = {key: (int(values[2 * i]), int(values[2 * i + 1])) for i, key in enumerate(TRACK_COUNT_COLUMNS)}
    else:
        tracked, counts = _track_counts_from_shards(corpus, con)
    if not tracked:
        return {}
    return {
        f"tracks.{key}": {"frames": frames, "clips": clips, "what": TRACK_WHAT[key]}
        for key, (frames, clips) in counts.items()
    }


def _track_counts_from_shards(corpus: Corpus, con) -> tuple[int, dict[str, tuple[int, int]]]:
    """For a corpus indexed before the track columns: the `pose` counts read from each indexed clip's JSON."""
    wanted = dict(con.sql("SELECT clip_id, shard FROM clips WHERE shard IS NOT NULL").fetchall())
    totals = dict.fromkeys(TRACK_COUNT_COLUMNS, 0)
    with_any = dict.fromkeys(TRACK_COUNT_COLUMNS, 0)
    tracked = 0
    for clip_id, shard in sorted(wanted.items(), key=lambda item: (item[1], item[0])):
        try:
            data = corpus.read_member(shard, f"{clip_id}.json")
            pose = json.loads(data).get("pose") if data else None
        except (OSError, tarfile.TarError, json.JSONDecodeError) as exc:
            raise CorpusReadError(
                f"{corpus.location}/{shard}: cannot read {clip_id}.json for the keypoint-track counts "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        if not isinstance(pose, dict):
            continue
        tracked += 1
        for key in TRACK_COUNT_COLUMNS:
            value = int(pose.get(key) or 0)
            totals[key] += value
            with_any[key] += value > 0
    return tracked, {key: (totals[key], with_any[key]) for key in TRACK_COUNT_COLUMNS}


def render_stats(stats: CorpusStats, console: Console) -> None:
    """The statistics as a few rich tables."""
    overview = Table(title=f"corpus {stats.corpus}", show_header=False)
    videos = stats.videos
    overview.add_row(
        "source videos",
        f"{videos['inputs']} ({videos['kept']} kept, {videos['dropped']} dropped, {videos['failed']} failed)",
    )
    overview.add_row("hours in / out", f"{stats.hours_in:.3f} / {stats.hours_out:.3f}")
    overview.add_row("clips", f"{stats.clips} kept, {stats.clips_dropped} dropped spans")
    overview.add_row("scenes", f"{stats.scenes['detected']} detected, {stats.scenes['with_clips']} with kept clips")
    for name, row in stats.annotated_frames.items():
        overview.add_row(name, f"{row['frames']} frames in {row['clips']} clips ({row['what']})")
    if stats.robot_ready is not None:
        overview.add_row("robot-ready", f"{stats.robot_ready['segments']} segments, {stats.robot_ready['hours']:.3f} h")
    if stats.environment is not None:
        env = stats.environment
        covered = f"{env['leaf_categories_covered']}" + (
            f"/{env['leaf_categories_total']}" if env["leaf_categories_total"] else ""
        )
        overview.add_row(
            "environment diversity",
            f"{covered} categories on {env['axis']}, normalised entropy {env['normalised_entropy']:.3f}",
        )
    overview.add_row("format version", str(stats.format_version))
    console.print(overview)

    for column, distribution in stats.labels.items():
        table = Table(title=column)
        for name in ("label", "clips", "share", "hours"):
            table.add_column(name, justify="left" if name == "label" else "right")
        for label, row in distribution.items():
            table.add_row(label, str(row["clips"]), f"{row['fraction']:.1%}", f"{row['hours']:.3f}")
        console.print(table)

    table = Table(title="funnel")
    for name in ("stage", "step", "count", "hours"):
        table.add_column(name, justify="right" if name in ("count", "hours") else "left")
    videos, clips = stats.funnel["videos"], stats.funnel["clips"]
    table.add_row("videos", "inputs", str(videos["inputs"]["count"]), f"{videos['inputs']['hours']:.3f}")
    for status in ("failed", "dropped"):
        for key, row in videos[status].items():
            table.add_row("videos", f"{status}: {key}", f"-{row['count']}", f"-{row['hours']:.3f}")
    table.add_row("videos", "kept", str(videos["kept"]["count"]), f"{videos['kept']['hours']:.3f}")
    table.add_row(
        "clips",
        "candidate spans",
        str(clips["candidates_in_kept_videos"]["count"]),
        f"{clips['candidates_in_kept_videos']['hours']:.3f}",
    )
    for key, row in clips["dropped"].items():
        table.add_row("clips", f"dropped: {key}", f"-{row['count']}", f"-{row['hours']:.3f}")
    table.add_row("clips", "kept", str(clips["kept"]["count"]), f"{clips['kept']['hours']:.3f}")
    console.print(table)
    if stats.absent:
        console.print(f"[dim]absent in this corpus: {', '.join(stats.absent)}[/dim]")
