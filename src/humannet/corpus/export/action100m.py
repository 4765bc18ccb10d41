"""Action100M-format Parquet: export a corpus's caption trees, and read Action100M files.

The layout is the one `facebook/action100m-preview` ships (one row per video):
`video_uid` string (the YouTube id); `metadata` struct (title, description, view_count,
like_count, duration (whole seconds), upload_date (`YYYYMMDD`), transcript: list<struct<time:
string, text: string>>); `nodes` list<struct<node_id (a UUID), parent_id (null on the root,
the whole video), level int16, start float, end float, plm_action, plm_caption, llama3_caption,
gpt: struct<summary: struct<brief, detailed>, action: struct<brief, detailed, actor>>>>`. In
the published sample `gpt` is null on every leaf and on short inner nodes, every node has a
`plm_action`, only leaves a `llama3_caption`, and some `gpt.action.brief` are the string `N/A`.

Export maps a humannet tree node onto that: `gpt.summary.brief/detailed` = the caption's short
and detailed text, `gpt.action.brief` = the canonical verb phrase (or "N/A" like Action100M
when there is none), `gpt.action.detailed` = the narration or action text, `gpt.action.actor`;
the PLM and Llama fields are null (humannet does not run those models). `video_uid` is the
humannet `video_id` (a content hash, not a YouTube id), so two columns follow the published
three: `uri`, the file the corpus was curated from, and `source_url`, the page it came from.

Import (`action100m_meta`) turns a row of either into `Video.meta` fields.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from humannet import HumannetError
from humannet.captions.narrations import SPEECH_SOURCES

NA = "N/A"
YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
YOUTUBE_WATCH = "https://www.youtube.com/watch?v={}"
TRANSCRIPT = pa.list_(pa.struct([("time", pa.string()), ("text", pa.string())]))
METADATA = pa.struct(
    [
        ("title", pa.string()),
        ("description", pa.string()),
        ("view_count", pa.int64()),
        ("like_count", pa.int64()),
        ("duration", pa.int64()),
        ("upload_date", pa.string()),
        ("transcript", TRANSCRIPT),
    ]
)
GPT = pa.struct(
    [
        ("summary", pa.struct([("brief", pa.string()), ("detailed", pa.string())])),
        ("action", pa.struct([("brief", pa.string()), ("detailed", pa.string()), ("actor", pa.string())])),
    ]
)
NODE = pa.struct(
    [
        ("node_id", pa.string()),
        ("parent_id", pa.string()),
        ("level", pa.int16()),
        ("start", pa.float32()),
        ("end", pa.float32()),
        ("plm_action", pa.string()),
        ("plm_caption", pa.string()),
        ("llama3_caption", pa.string()),
        ("gpt", GPT),
    ]
)
ACTION100M_SCHEMA = pa.schema([("video_uid", pa.string()), ("metadata", METADATA), ("nodes", pa.list_(NODE))])
SOURCE_COLUMNS = ("uri", "source_url")
EXPORT_SCHEMA = pa.schema([*ACTION100M_SCHEMA, *(pa.field(name, pa.string()) for name in SOURCE_COLUMNS)])


class Action100MError(HumannetError, ValueError):
    """A file that is not Action100M-shaped; the message names the file and what is missing."""


def read_action100m(path: str | Path) -> list[dict[str, Any]]:
    """Rows of an Action100M Parquet file as dicts (`video_uid`, `metadata`, `nodes`, and `uri`,
    `source_url` when the file is a humannet export)."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise Action100MError(f"{path}: not a readable Parquet file: {exc}") from exc
    missing = [name for name in ("video_uid", "metadata", "nodes") if name not in table.column_names]
    if missing:
        raise Action100MError(f"{path}: not Action100M-shaped, missing columns {missing} (has {table.column_names})")
    return table.select(
        ["video_uid", "metadata", "nodes", *(c for c in SOURCE_COLUMNS if c in table.column_names)]
    ).to_pylist()


def write_action100m(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write rows in the Action100M layout plus the source columns (missing fields become null)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=EXPORT_SCHEMA), path, compression="zstd")


def source_page(row: dict[str, Any]) -> str | None:
    """The page a row's video came from: a humannet export's `source_url`; for a published row
    (no source columns) the YouTube page of its `video_uid`, when that is a YouTube id. Never a
    URL made from a humannet content id."""
    if any(column in row for column in SOURCE_COLUMNS):
        return row.get("source_url") or None
    uid = str(row.get("video_uid") or "")
    return YOUTUBE_WATCH.format(uid) if YOUTUBE_ID.fullmatch(uid) else None


def video_location(row: dict[str, Any]) -> str | None:
    """Where a row's video is: the file a humannet export was curated from, else its source page."""
    return row.get("uri") or source_page(row)


def _text(value: Any) -> str | None:
    """A usable text: not empty and not Action100M's `N/A`."""
    if not isinstance(value, str) or not value.strip() or value.strip().upper() == NA:
        return None
    return value.strip()


def leaf_action(node: dict[str, Any]) -> tuple[str, str] | None:
    """(field, text) of a leaf's action: `gpt.action.brief` when the node has one, else `plm_action`."""
    gpt_action = ((node.get("gpt") or {}).get("action") or {}).get("brief")
    for field, value in (("gpt.action.brief", gpt_action), ("plm_action", node.get("plm_action"))):
        if text := _text(value):
            return field, text
    return None


def _transcript_narrations(transcript: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Transcript lines as `subtitles` narrations, each lasting until the next line starts."""
    narrations = []
    for number, line in enumerate(transcript):
        start = _seconds(line.get("time"))
        text = " ".join(str(line.get("text") or "").split())
        if start is None or not text:
            continue
        following = _seconds(transcript[number + 1].get("time")) if number + 1 < len(transcript) else None
        end = following if following is not None and following >= start else start
        narrations.append({"start_s": start, "end_s": end, "text": text, "source": "subtitles"})
    return narrations


def _seconds(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _iso_date(value: Any) -> str | None:
    """`YYYY-MM-DD` (the sidecar's form) from Action100M's `YYYYMMDD`."""
    text = str(value or "")
    return f"{text[:4]}-{text[4:6]}-{text[6:]}" if len(text) == 8 and text.isdigit() else (text or None)


def action100m_meta(row: dict[str, Any]) -> dict[str, Any]:
    """A `Video.meta` dict from one Action100M row: the metadata (title, description, duration_s,
    upload_date as `YYYY-MM-DD`, view and like counts, the source page), the transcript as
    `subtitles` narrations, each leaf node's action as an `action100m` narration (with the
    node's id and the field it came from; `N/A` skipped), and the whole tree of nodes as
    published under `action100m_nodes` (levels, spans, each model's text under its field)."""
    metadata = row.get("metadata") or {}
    meta: dict[str, Any] = {"source": "action100m"}
    if page := source_page(row):
        meta["url"] = page
    for key in ("title", "description"):
        if metadata.get(key):
            meta[key] = metadata[key]
    if upload_date := _iso_date(metadata.get("upload_date")):
        meta["upload_date"] = upload_date
    if metadata.get("duration") is not None:
        meta["duration_s"] = float(metadata["duration"])
    for key in ("view_count", "like_count"):
        if metadata.get(key) is not None:
            meta[key] = int(metadata[key])
    nodes = row.get("nodes") or []
    parents = {node.get("parent_id") for node in nodes}
    narrations = _transcript_narrations(metadata.get("transcript") or [])
    for node in nodes:
        if node.get("node_id") in parents or (action := leaf_action(node)) is None:
            continue
        field, text = action
        narrations.append(
            {
                "start_s": float(node["start"]),
                "end_s": float(node["end"]),
                "text": text,
                "source": "action100m",
                "field": field,
                "node_id": node.get("node_id"),
            }
        )
    meta["narrations"] = sorted(narrations, key=lambda n: (n["start_s"], n["source"]))
    if nodes:
        meta["action100m_nodes"] = nodes
    return meta


def _transcript(meta: dict[str, Any]) -> list[dict[str, str]]:
    lines = []
    for item in meta.get("narrations") or []:
        if (
            isinstance(item, dict)
            and str(item.get("source", "")).lower() in SPEECH_SOURCES
            and item.get("start_s") is not None
        ):
            lines.append({"time": f"{float(item['start_s']):g}", "text": str(item.get("text", ""))})
    return lines


def tree_rows_to_action100m(
    nodes: list[dict[str, Any]], sources: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Group `captions/trees.parquet` rows by video into Action100M rows; `sources` maps a
    `video_id` to its `uri` and `source_url` (the columns of `videos.parquet`)."""
    by_video: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        by_video.setdefault(node["video_id"], []).append(node)
    rows = []
    for video_id, members in sorted(by_video.items()):
        root = next((n for n in members if n["level"] == 0), None)
        meta = json.loads(root["metadata"]) if root and root.get("metadata") else {}
        duration = meta.get("duration_s")
        metadata = {
            "title": meta.get("title"),
            "description": meta.get("description"),
            "view_count": meta.get("view_count"),
            "like_count": meta.get("like_count"),
            "duration": int(round(float(duration)))
            if duration is not None
            else (int(round(root["end"])) if root else None),
            "upload_date": str(meta["upload_date"]).replace("-", "") if meta.get("upload_date") else None,
            "transcript": _transcript(meta),
        }
        out_nodes = []
        for node in sorted(members, key=lambda n: (n["level"], n["start"], n["node_id"])):
            has_action = bool(node.get("action_brief"))
            out_nodes.append(
                {
                    "node_id": node["node_id"],
                    "parent_id": node.get("parent_id"),
                    "level": node["level"],
                    "start": node["start"],
                    "end": node["end"],
                    "plm_action": None,
                    "plm_caption": None,
                    "llama3_caption": None,
                    "gpt": {
                        "summary": {
                            "brief": node.get("caption_short") or NA,
                            "detailed": node.get("caption_detailed") or node.get("caption_short") or NA,
                        },
                        "action": {
                            "brief": node["action_brief"] if has_action else NA,
                            "detailed": (
                                node.get("caption_short") if node["kind"] == "sub_action" else node.get("action_brief")
                            )
                            or NA
                            if has_action
                            else NA,
                            "actor": node.get("action_actor") or NA if has_action else NA,
                        },
                    },
                }
            )
        source = (sources or {}).get(video_id, {})
        rows.append(
            {
                "video_uid": video_id,
                "metadata": metadata,
                "nodes": out_nodes,
                "uri": source.get("uri"),
                "source_url": source.get("source_url") or meta.get("url"),
            }
        )
    return rows


def video_sources(corpus_dir: Path) -> dict[str, dict[str, Any]]:
    """`video_id` -> `uri` and `source_url` from the corpus's `videos.parquet` ({} without one); of
    two inputs with the same content, the kept one."""
    videos = corpus_dir / "videos.parquet"
    if not videos.exists():
        return {}
    found: dict[str, dict[str, Any]] = {}
    inputs = pq.read_table(videos, columns=["video_id", "uri", "source_url", "status"]).to_pylist()
    for row in sorted(inputs, key=lambda row: row["status"] != "kept"):
        if row["video_id"]:
            found.setdefault(row["video_id"], row)
    return found


def export_corpus(corpus_dir: str | Path, out: str | Path) -> int:
    """Write a corpus's caption trees as Action100M Parquet; returns the number of videos."""
    trees = Path(corpus_dir) / "captions" / "trees.parquet"
    if not trees.exists():
        raise Action100MError(
            f"{corpus_dir}: no captions/trees.parquet (curate with captions.enabled and materialisation on)"
        )
    rows = tree_rows_to_action100m(pq.read_table(trees).to_pylist(), video_sources(Path(corpus_dir)))
    write_action100m(out, rows)
    return len(rows)
