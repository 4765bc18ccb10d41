"""The tree of captions per source video, in Action100M's node schema:
video (level 0) > scenes (1) > clips (2) > sub-actions (3).

Clip captions are made in the materialisation workers; when a clip is packed into a shard its
caption is kept in the ledger (`state/captions/{clip_id}.json`), and at index time the trees of
every video are rebuilt whole from the ledger into `captions/trees.parquet`, one row per node,
sorted, so the same finished work gives the same file. Scene and video nodes summarise their
children (provenance `template`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa

from humannet.corpus.writer import write_parquet
from humannet.records import Status, Video
from humannet.storage import atomic_write_bytes

TREES_FILE = "captions/trees.parquet"
STATE_FOLDER = "state/captions"

TREE_SCHEMA = pa.schema(
    [
        ("video_id", pa.string()),
        ("node_id", pa.string()),
        ("parent_id", pa.string()),
        ("level", pa.int16()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("kind", pa.string()),  # video | scene | clip | sub_action
        ("clip_id", pa.string()),
        ("caption_short", pa.string()),
        ("caption_detailed", pa.string()),
        ("action_brief", pa.string()),
        ("action_actor", pa.string()),
        ("activity_class", pa.string()),
        ("hands", pa.string()),
        ("provenance", pa.string()),
        ("metadata", pa.string()),  # JSON of the video's source metadata, on the video node only
    ]
)


def remember_caption(corpus_dir: Path, clip_id: str, staged_meta: dict[str, Any]) -> str | None:
    """Keep a packed clip's caption for the tree; returns the written path relative to the corpus."""
    caption = staged_meta.get("caption")
    if not isinstance(caption, dict):
        return None
    relative = f"{STATE_FOLDER}/{clip_id}.json"
    atomic_write_bytes(corpus_dir / relative, json.dumps({"caption": caption}, sort_keys=True).encode())
    return relative


def _load_caption(corpus_dir: Path, clip_id: str) -> dict[str, Any] | None:
    path = corpus_dir / STATE_FOLDER / f"{clip_id}.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())["caption"]
    except (OSError, ValueError, KeyError):
        return None


def _verb_phrase(verb: str | None, obj: str | None) -> str | None:
    if not verb:
        return None
    return f"{verb.replace('_', ' ')} {obj.replace('_', ' ')}" if obj else verb.replace("_", " ")


def video_nodes(video: Video, captions: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The nodes of one video's tree (only clips with a caption, and the scenes holding them)."""
    video_id = video.video_id or ""
    clips = [c for c in video.kept_clips if c.clip_id in captions]
    if not clips:
        return []
    scenes = {scene.index: scene for scene in video.scenes}
    nodes: list[dict[str, Any]] = []
    by_scene: dict[int, list] = {}
    for clip in sorted(clips, key=lambda c: c.start_s):
        by_scene.setdefault(clip.scene_index, []).append(clip)
    classes = Counter(
        captions[c.clip_id].get("activity_class") for c in clips if captions[c.clip_id].get("activity_class")
    )
    title = video.meta.get("title") if isinstance(video.meta.get("title"), str) else None
    summary = f"{len(clips)} captioned clip(s) in {len(by_scene)} scene(s)"
    if classes:
        summary += "; activities: " + ", ".join(name for name, _ in classes.most_common(5))
    meta = {
        key: value
        for key, value in video.meta.items()
        if isinstance(value, str | int | float | list | dict | bool) or value is None
    }
    nodes.append(
        _node(
            video_id,
            video_id,
            None,
            0,
            0.0,
            video.duration_s,
            "video",
            None,
            title or summary,
            summary + ".",
            None,
            None,
            None,
            None,
            "template",
            meta,
        )
    )
    for index, scene_clips in sorted(by_scene.items()):
        scene = scenes.get(index)
        start = scene.start_s if scene else scene_clips[0].start_s
        end = scene.end_s if scene else scene_clips[-1].end_s
        scene_id = f"{video_id}/scene{index:04d}"
        lines = [f"{c.start_s:.1f}-{c.end_s:.1f} s: {captions[c.clip_id].get('short', '')}" for c in scene_clips]
        nodes.append(
            _node(
                video_id,
                scene_id,
                video_id,
                1,
                start,
                end,
                "scene",
                None,
                captions[scene_clips[0].clip_id].get("short"),
                " ".join(lines),
                None,
                None,
                None,
                None,
                "template",
                None,
            )
        )
        for clip in scene_clips:
            caption = captions[clip.clip_id]
            actions = caption.get("actions") or []
            actor = actions[0].get("actor") if actions else None
            activity = caption.get("activity_class")
            brief = _verb_phrase(*(activity.split(":", 1) if activity and ":" in activity else (activity, None)))
            provenance = caption.get("provenance", {}).get("short", caption.get("backend", "template"))
            nodes.append(
                _node(
                    video_id,
                    clip.clip_id,
                    scene_id,
                    2,
                    clip.start_s,
                    clip.end_s,
                    "clip",
                    clip.clip_id,
                    caption.get("short"),
                    caption.get("detailed"),
                    brief,
                    actor,
                    activity,
                    None,
                    provenance,
                    None,
                )
            )
            for number, action in enumerate(actions):
                start_s = clip.start_s + float(action.get("start_s", 0.0))
                end_s = min(clip.end_s, clip.start_s + float(action.get("end_s", 0.0)))
                phrase = _verb_phrase(action.get("verb"), action.get("object"))
                activity_class = (
                    f"{action.get('verb')}:{action.get('object')}" if action.get("object") else action.get("verb")
                )
                nodes.append(
                    _node(
                        video_id,
                        f"{clip.clip_id}/action{number:03d}",
                        clip.clip_id,
                        3,
                        start_s,
                        max(start_s, end_s),
                        "sub_action",
                        clip.clip_id,
                        action.get("text") or phrase,
                        None,
                        phrase,
                        action.get("actor"),
                        activity_class,
                        action.get("hands"),
                        action.get("provenance"),
                        None,
                    )
                )
    return nodes


def _node(
    video_id,
    node_id,
    parent_id,
    level,
    start,
    end,
    kind,
    clip_id,
    short,
    detailed,
    brief,
    actor,
    activity,
    hands,
    provenance,
    meta,
) -> dict[str, Any]:
    return {
        "video_id": video_id,
        "node_id": node_id,
        "parent_id": parent_id,
        "level": level,
        "start": round(float(start), 4),
        "end": round(float(end), 4),
        "kind": kind,
        "clip_id": clip_id,
        "caption_short": short,
        "caption_detailed": detailed,
        "action_brief": brief,
        "action_actor": actor,
        "activity_class": activity,
        "hands": hands,
        "provenance": provenance,
        "metadata": json.dumps(meta, sort_keys=True, default=str) if meta is not None else None,
    }


def write_caption_trees(corpus_dir: Path, videos: list[Video]) -> bool:
    """Rewrite `captions/trees.parquet` from the ledger; False (nothing written) when no clip has a caption."""
    rows: list[dict[str, Any]] = []
    for video in sorted(videos, key=lambda v: v.video_id or ""):
        if video.status is not Status.KEPT:
            continue
        captions = {
            c.clip_id: cap for c in video.kept_clips if (cap := _load_caption(corpus_dir, c.clip_id)) is not None
        }
        rows += video_nodes(video, captions)
    if not rows:
        return False
    write_parquet(corpus_dir / TREES_FILE, pa.Table.from_pylist(rows, schema=TREE_SCHEMA))
    return True
