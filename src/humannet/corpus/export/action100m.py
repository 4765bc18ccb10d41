"""Action100M-format Parquet: export a corpus's caption trees, and read Action100M files.

The layout is the one `facebook/action100m-preview` ships (one row per video):
`video_uid` string; `metadata` struct (title, description, view_count, like_count, duration,
upload_date, transcript: list<struct<time: string, text: string>>); `nodes` list<struct<node_id,
parent_id, level int16, start float, end float, plm_action, plm_caption, llama3_caption,
gpt: struct<summary: struct<brief, detailed>, action: struct<brief, detailed, actor>>>>`.

Export maps a humannet tree node onto that: `gpt.summary.brief/detailed` = the caption's short
and detailed text, `gpt.action.brief` = the canonical verb phrase (or "N/A" like Action100M
when there is none), `gpt.action.detailed` = the narration or action text, `gpt.action.actor`;
the PLM and Llama fields are null (humannet does not run those models). `video_uid` is the
humannet `video_id` (a content hash: the source URL, when known, is in the metadata).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from humannet import HumannetError
from humannet.captions.narrations import SPEECH_SOURCES

NA = "N/A"
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


class Action100MError(HumannetError, ValueError):
    """A file that is not Action100M-shaped; the message names the file and what is missing."""


def read_action100m(path: str | Path) -> list[dict[str, Any]]:
    """Rows of an Action100M Parquet file as dicts (`video_uid`, `metadata`, `nodes`)."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise Action100MError(f"{path}: not a readable Parquet file: {exc}") from exc
    missing = [name for name in ("video_uid", "metadata", "nodes") if name not in table.column_names]
    if missing:
        raise Action100MError(f"{path}: not Action100M-shaped, missing columns {missing} (has {table.column_names})")
    return table.select(["video_uid", "metadata", "nodes"]).to_pylist()


def write_action100m(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write rows in the Action100M layout (missing fields become null)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=ACTION100M_SCHEMA), path, compression="zstd")


def action100m_meta(row: dict[str, Any]) -> dict[str, Any]:
    """A `Video.meta` dict (the sidecar's normalised fields) from one Action100M row: title,
    description, upload date, duration, the transcript as `subtitles` narrations and each leaf
    node's `gpt.action.brief` as a `action100m` narration (N/A ones skipped)."""
    metadata = row.get("metadata") or {}
    meta: dict[str, Any] = {"source": "action100m", "url": f"https://www.youtube.com/watch?v={row['video_uid']}"}
    for key in ("title", "description", "upload_date"):
        if metadata.get(key):
            meta[key] = metadata[key]
    if metadata.get("duration") is not None:
        meta["duration_s"] = float(metadata["duration"])
    narrations: list[dict[str, Any]] = []
    transcript = metadata.get("transcript") or []
    for number, line in enumerate(transcript):
        try:
            start = float(line["time"])
        except (TypeError, ValueError, KeyError):
            continue
        following = transcript[number + 1]["time"] if number + 1 < len(transcript) else None
        try:
            end = float(following) if following is not None else start
        except (TypeError, ValueError):
            end = start
        narrations.append(
            {
                "start_s": start,
                "end_s": max(start, end),
                "text": " ".join(str(line.get("text", "")).split()),
                "source": "subtitles",
            }
        )
    nodes = row.get("nodes") or []
    parents = {node.get("parent_id") for node in nodes}
    for node in nodes:
        brief = ((node.get("gpt") or {}).get("action") or {}).get("brief")
        if node.get("node_id") in parents or not brief or brief.strip().upper() == NA:
            continue
        narrations.append(
            {"start_s": float(node["start"]), "end_s": float(node["end"]), "text": brief, "source": "action100m"}
        )
    meta["narrations"] = sorted(narrations, key=lambda n: (n["start_s"], n["source"]))
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


def tree_rows_to_action100m(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group `captions/trees.parquet` rows by video into Action100M rows."""
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
            "upload_date": meta.get("upload_date"),
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
        rows.append({"video_uid": video_id, "metadata": metadata, "nodes": out_nodes})
    return rows


def export_corpus(corpus_dir: str | Path, out: str | Path) -> int:
    """Write a corpus's caption trees as Action100M Parquet; returns the number of videos."""
    trees = Path(corpus_dir) / "captions" / "trees.parquet"
    if not trees.exists():
        raise Action100MError(
            f"{corpus_dir}: no captions/trees.parquet (curate with captions.enabled and materialisation on)"
        )
    rows = tree_rows_to_action100m(pq.read_table(trees).to_pylist())
    write_action100m(out, rows)
    return len(rows)
