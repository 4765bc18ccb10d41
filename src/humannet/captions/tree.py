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
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pyarrow as pa

from humannet.records import Clip, Scene, Status, Video
from humannet.storage import atomic_write_bytes, write_parquet

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


@dataclass
class TreeNode:
    """One node of a video's tree, with the columns of TREE_SCHEMA; what a kind of node does not have stays None."""

    video_id: str
    node_id: str
    parent_id: str | None
    level: int
    start: float
    end: float
    kind: str
    clip_id: str | None = None
    caption_short: str | None = None
    caption_detailed: str | None = None
    action_brief: str | None = None
    action_actor: str | None = None
    activity_class: str | None = None
    hands: str | None = None
    provenance: str | None = None
    metadata: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        """The parquet row: times rounded to 0.1 ms, metadata as sorted JSON, so the same work gives the same file."""
        row = {column.name: getattr(self, column.name) for column in fields(self)}
        row["start"], row["end"] = round(float(self.start), 4), round(float(self.end), 4)
        row["metadata"] = json.dumps(self.metadata, sort_keys=True, default=str) if self.metadata is not None else None
        return row


def video_nodes(video: Video, captions: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The nodes of one video's tree (only clips with a caption, and the scenes holding them)."""
    video_id = video.video_id or ""
    clips = [c for c in video.kept_clips if c.clip_id in captions]
    if not clips:
        return []
    scenes = {scene.index: scene for scene in video.scenes}
    by_scene: dict[int, list[Clip]] = {}
    for clip in sorted(clips, key=lambda c: c.start_s):
        by_scene.setdefault(clip.scene_index, []).append(clip)
    nodes = [_video_node(video, clips, len(by_scene), captions)]
    for index, scene_clips in sorted(by_scene.items()):
        scene_node = _scene_node(video_id, index, scenes.get(index), scene_clips, captions)
        nodes.append(scene_node)
        for clip in scene_clips:
            nodes.append(_clip_node(video_id, scene_node.node_id, clip, captions[clip.clip_id]))
            nodes += _sub_action_nodes(video_id, clip, captions[clip.clip_id].get("actions") or [])
    return [node.row() for node in nodes]


def _video_node(video: Video, clips: list[Clip], scene_count: int, captions: dict[str, dict[str, Any]]) -> TreeNode:
    """Level 0: titled by the source's title when it has one, else by a count of its clips and their activities."""
    video_id = video.video_id or ""
    classes = Counter(
        captions[c.clip_id].get("activity_class") for c in clips if captions[c.clip_id].get("activity_class")
    )
    summary = f"{len(clips)} captioned clip(s) in {scene_count} scene(s)"
    if classes:
        summary += "; activities: " + ", ".join(name for name, _ in classes.most_common(5))
    title = video.meta.get("title") if isinstance(video.meta.get("title"), str) else None
    return TreeNode(
        video_id,
        video_id,
        None,
        0,
        0.0,
        video.duration_s,
        "video",
        caption_short=title or summary,
        caption_detailed=summary + ".",
        provenance="template",
        metadata=_plain_metadata(video.meta),
    )


def _plain_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """The source metadata values JSON can hold; anything else (paths, objects) is left out of the node."""
    return {
        key: value
        for key, value in meta.items()
        if isinstance(value, str | int | float | list | dict | bool) or value is None
    }


def _scene_node(
    video_id: str, index: int, scene: Scene | None, clips: list[Clip], captions: dict[str, dict[str, Any]]
) -> TreeNode:
    """Level 1: the scene's span (its clips' when the scene is unknown), its clips' short captions in time order."""
    start = scene.start_s if scene else clips[0].start_s
    end = scene.end_s if scene else clips[-1].end_s
    lines = [f"{c.start_s:.1f}-{c.end_s:.1f} s: {captions[c.clip_id].get('short', '')}" for c in clips]
    return TreeNode(
        video_id,
        f"{video_id}/scene{index:04d}",
        video_id,
        1,
        start,
        end,
        "scene",
        caption_short=captions[clips[0].clip_id].get("short"),
        caption_detailed=" ".join(lines),
        provenance="template",
    )


def _clip_node(video_id: str, scene_id: str, clip: Clip, caption: dict[str, Any]) -> TreeNode:
    """Level 2: the clip's own caption; its actor is the first sub-action's, its brief read from the activity class."""
    actions = caption.get("actions") or []
    activity = caption.get("activity_class")
    return TreeNode(
        video_id,
        clip.clip_id,
        scene_id,
        2,
        clip.start_s,
        clip.end_s,
        "clip",
        clip_id=clip.clip_id,
        caption_short=caption.get("short"),
        caption_detailed=caption.get("detailed"),
        action_brief=_verb_phrase(*(activity.split(":", 1) if activity and ":" in activity else (activity, None))),
        action_actor=actions[0].get("actor") if actions else None,
        activity_class=activity,
        provenance=caption.get("provenance", {}).get("short", caption.get("backend", "template")),
    )


def _sub_action_nodes(video_id: str, clip: Clip, actions: list[dict[str, Any]]) -> list[TreeNode]:
    """Level 3: one node per action of the caption, its clip-relative times made absolute and kept in the clip."""
    nodes = []
    for number, action in enumerate(actions):
        start_s = clip.start_s + float(action.get("start_s", 0.0))
        end_s = min(clip.end_s, clip.start_s + float(action.get("end_s", 0.0)))
        phrase = _verb_phrase(action.get("verb"), action.get("object"))
        nodes.append(
            TreeNode(
                video_id,
                f"{clip.clip_id}/action{number:03d}",
                clip.clip_id,
                3,
                start_s,
                max(start_s, end_s),
                "sub_action",
                clip_id=clip.clip_id,
                caption_short=action.get("text") or phrase,
                action_brief=phrase,
                action_actor=action.get("actor"),
                activity_class=f"{action.get('verb')}:{action.get('object')}"
                if action.get("object")
                else action.get("verb"),
                hands=action.get("hands"),
                provenance=action.get("provenance"),
            )
        )
    return nodes


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
